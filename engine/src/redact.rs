//! Removal of secrets from provider replies that error messages quote.
//!
//! Providers often echo the request in an error body. A quoted body may
//! therefore contain the client secret, the authorization code or a
//! password the end user entered, either as sent or encoded as in a JSON
//! or form body.

use std::borrow::Cow;

/// The text that replaces each secret.
pub(crate) const REDACTED: &str = "[redacted]";

/// Replaces every occurrence of each non-empty value of `secrets` in `text`
/// with [`REDACTED`], in one left-to-right pass. At each position the
/// longest matching form wins, so a secret that is a prefix of another
/// cannot leave the other's tail, and the inserted markers are never
/// searched again. Each secret is matched as written and in the encoded
/// forms that [`encoded_forms`] lists, such as JSON-escaped, form-encoded
/// (`application/x-www-form-urlencoded`) and percent-encoded.
pub(crate) fn redact<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    let mut forms: Vec<String> = Vec::new();
    for secret in secrets {
        if secret.is_empty() {
            continue;
        }
        for form in encoded_forms(secret) {
            if !form.is_empty() && !forms.contains(&form) {
                forms.push(form);
            }
        }
    }
    if forms.is_empty() {
        return text.to_owned();
    }
    forms.sort_by_key(|form| std::cmp::Reverse(form.len()));

    let mut output = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(first) = rest.chars().next() {
        match forms.iter().find(|form| rest.starts_with(form.as_str())) {
            Some(form) => {
                output.push_str(REDACTED);
                rest = &rest[form.len()..];
            }
            None => {
                output.push(first);
                rest = &rest[first.len_utf8()..];
            }
        }
    }
    output
}

/// Redacts `secrets` from `excerpt`, the start of a longer text cut after
/// some characters. A secret that the cut split leaves its first part at the
/// end of the excerpt, which [`redact`] cannot match, so that part is
/// replaced too.
pub(crate) fn redact_excerpt<'a>(
    excerpt: &str,
    secrets: impl IntoIterator<Item = &'a str> + Clone,
) -> String {
    let mut text = redact(excerpt, secrets.clone());
    for secret in secrets {
        for form in encoded_forms(secret) {
            let cut = form
                .char_indices()
                .map(|(index, _)| index)
                .filter(|&index| index > 0 && text.ends_with(&form[..index]))
                .max();
            if let Some(cut) = cut {
                text.truncate(text.len() - cut);
                text.push_str(REDACTED);
            }
        }
    }
    text
}

/// Returns `secret` as written, JSON-escaped, form-encoded,
/// percent-encoded (with upper- or lowercase hex digits), HTML-escaped (a
/// login page that shows the form again escapes it so) and XML-escaped,
/// which may repeat. The XML forms are
/// those of an XML login body (`&apos;` and `&quot;` too), of XML text
/// that escapes only `&`, `<` and `>`, and of decimal and hexadecimal
/// character references, as an XML gateway may echo any of them. The JSON
/// forms also include `\u` escapes, which some encoders write for
/// HTML-significant or non-ASCII characters.
///
/// NOTE: each form encodes the whole secret one way, so an echo that mixes
/// two encodings within one secret is not matched.
fn encoded_forms(secret: &str) -> Vec<String> {
    let json_escaped = json_escape(secret);
    let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let percent: Cow<'_, str> =
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC).into();
    let xml_text = secret
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let html = xml_text.replace('"', "&quot;").replace('\'', "&#39;");
    let xml = xml_text.replace('"', "&quot;").replace('\'', "&apos;");
    // Some encoders write the hex digits of `%XX` in lowercase.
    let lowercase_form = lowercase_percent_escapes(&form);
    let lowercase_percent = lowercase_percent_escapes(&percent);
    let mut forms = vec![
        secret.to_owned(),
        json_escaped,
        form,
        lowercase_form,
        percent.into_owned(),
        lowercase_percent,
        html,
        xml,
        xml_text,
    ];
    forms.extend(character_reference_forms(secret));
    forms.extend(json_unicode_escape_forms(secret));
    forms
}

/// Returns `encoded` with the two hex digits after each `%` in lowercase.
fn lowercase_percent_escapes(encoded: &str) -> String {
    let mut result = String::with_capacity(encoded.len());
    let mut digits_left = 0;
    for c in encoded.chars() {
        if digits_left > 0 {
            result.push(c.to_ascii_lowercase());
            digits_left -= 1;
        } else {
            result.push(c);
            if c == '%' {
                digits_left = 2;
            }
        }
    }
    result
}

/// The characters that XML escaping replaces.
const XML_SIGNIFICANT: [char; 5] = ['&', '<', '>', '"', '\''];

/// Returns `secret` with each XML-significant character written as a
/// decimal (`&#60;`), a zero-padded decimal (`&#060;`), an uppercase
/// hexadecimal (`&#x3C;`) and a lowercase hexadecimal (`&#x3c;`) character
/// reference.
fn character_reference_forms(secret: &str) -> [String; 4] {
    let reference = |format: fn(u32) -> String| -> String {
        secret
            .chars()
            .map(|c| {
                if XML_SIGNIFICANT.contains(&c) {
                    format(u32::from(c))
                } else {
                    c.to_string()
                }
            })
            .collect()
    };
    [
        reference(|code| format!("&#{code};")),
        reference(|code| format!("&#{code:03};")),
        reference(|code| format!("&#x{code:X};")),
        reference(|code| format!("&#x{code:x};")),
    ]
}

/// Returns `secret` JSON-escaped, with `\uXXXX` escapes for one of three
/// sets of characters. The first set is `<`, `>`, `&`, U+2028 and U+2029,
/// which Go's `encoding/json` escapes. The second is every non-ASCII
/// character, which Python's `json.dumps` escapes by default. Both write
/// lowercase hexadecimal. The third set is both sets with `'` and `"`, in
/// lowercase and in uppercase hexadecimal.
fn json_unicode_escape_forms(secret: &str) -> [String; 4] {
    let html = |c: char| matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}');
    let non_ascii = |c: char| !c.is_ascii();
    let both = |c: char| html(c) || non_ascii(c) || matches!(c, '\'' | '"');
    [
        json_with_unicode_escapes(secret, html, false),
        json_with_unicode_escapes(secret, non_ascii, false),
        json_with_unicode_escapes(secret, both, false),
        json_with_unicode_escapes(secret, both, true),
    ]
}

/// JSON-escapes `secret` (without the quotes) and writes each character
/// for which `escaped` returns true as `\uXXXX`, a character outside the
/// Basic Multilingual Plane as its UTF-16 surrogate pair.
fn json_with_unicode_escapes(
    secret: &str,
    escaped: impl Fn(char) -> bool,
    uppercase: bool,
) -> String {
    let mut output = String::with_capacity(secret.len());
    let mut units = [0u16; 2];
    for c in secret.chars() {
        if !escaped(c) {
            output.push_str(&json_escape(c.encode_utf8(&mut [0; 4])));
            continue;
        }
        for unit in c.encode_utf16(&mut units) {
            let escape = if uppercase {
                format!("\\u{unit:04X}")
            } else {
                format!("\\u{unit:04x}")
            };
            output.push_str(&escape);
        }
    }
    output
}

/// Returns `text` as a JSON string literal writes it, without the quotes.
fn json_escape(text: &str) -> String {
    let json = serde_json::to_string(text).unwrap_or_default();
    json.strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(text)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_cases() {
        // (case, text, secrets, expected)
        #[rustfmt::skip]
        let cases: &[(&str, &str, &[&str], &str)] = &[
            ("plain value", "bad password pw1 for ada", &["pw1"], "bad password [redacted] for ada"),
            ("prefix of another value", r#"{"user":"correct","password":"correct-horse-battery"}"#,
                &["correct", "correct-horse-battery"], r#"{"user":"[redacted]","password":"[redacted]"}"#),
            ("JSON-escaped value", r#"{"echo":{"password":"My\"Pa$$word\\1"}}"#,
                &[r#"My"Pa$$word\1"#], r#"{"echo":{"password":"[redacted]"}}"#),
            ("form-encoded value", "client_secret=c%24e+cret&code=abc", &["c$e cret"], "client_secret=[redacted]&code=abc"),
            ("percent-encoded value", "redirect?secret=c%24e%20cret", &["c$e cret"], "redirect?secret=[redacted]"),
            ("lowercase percent escapes", "redirect?secret=Hunter2%3cx%3e&a=b+c%3cd", &["Hunter2<x>", "b c<d"], "redirect?secret=[redacted]&a=[redacted]"),
            ("HTML-escaped value", r#"<input value="Pa&amp;ss&lt;w&gt;&quot;rd">"#, &[r#"Pa&ss<w>"rd"#], r#"<input value="[redacted]">"#),
            ("XML-escaped value", "<password>P&apos;a&amp;ss&lt;w&gt;&quot;d</password>", &[r#"P'a&ss<w>"d"#], "<password>[redacted]</password>"),
            ("XML text escaping", r#"<error>P'a&amp;ss&lt;w&gt;"d</error>"#, &[r#"P'a&ss<w>"d"#], "<error>[redacted]</error>"),
            ("short value not inside marker", "bad login", &["a", "d"], "b[redacted][redacted] login"),
            ("marker text as a value", "value red", &["red", "redacted"], "value [redacted]"),
            ("empty value ignored", "nothing here", &[""], "nothing here"),
            ("multibyte text kept", "überschrift ü-key", &["ü-key"], "überschrift [redacted]"),
            ("decimal references", "bad Hunter2&#60;x&#62;&#38;&#34;&#39;", &[r#"Hunter2<x>&"'"#], "bad [redacted]"),
            ("zero-padded references", "bad Hunter2&#060;x&#062;&#038;", &["Hunter2<x>&"], "bad [redacted]"),
            ("uppercase hex references", "bad Hunter2&#x3C;x&#x3E;&#x26;", &["Hunter2<x>&"], "bad [redacted]"),
            ("lowercase hex references", "bad Hunter2&#x3c;x&#x3e;", &["Hunter2<x>"], "bad [redacted]"),
            ("JSON HTML-safe escapes", r#"{"echo":"Hunter2\u003cx\u003e\u0026"}"#, &["Hunter2<x>&"], r#"{"echo":"[redacted]"}"#),
            ("JSON uppercase escapes", r#"{"echo":"Hunter2\u003Cx\u003E\u0027\u0022\u00FC"}"#, &[r#"Hunter2<x>'"ü"#], r#"{"echo":"[redacted]"}"#),
            ("JSON non-ASCII escapes", r#"{"echo":"\u00fc-key\ud83d\ude00"}"#, &["ü-key😀"], r#"{"echo":"[redacted]"}"#),
            ("JSON escapes beside quote escape", r#"{"echo":"a\"b\u003c"}"#, &[r#"a"b<"#], r#"{"echo":"[redacted]"}"#),
        ];
        for (case, text, secrets, expected) in cases {
            assert_eq!(redact(text, secrets.iter().copied()), *expected, "{case}");
        }
    }

    #[test]
    fn excerpt_cut_inside_secret_redacted() {
        let secrets = ["Hunter2-SECRET"];
        let cases = [
            ("cut inside", "AAAA Hunter2-SE", "AAAA [redacted]"),
            ("whole secret", "x Hunter2-SECRET y", "x [redacted] y"),
            ("no secret", "plain reply", "plain reply"),
            ("cut after first char", "AAAA H", "AAAA [redacted]"),
        ];
        for (case, excerpt, expected) in cases {
            assert_eq!(redact_excerpt(excerpt, secrets), expected, "{case}");
        }

        let secrets = ["Hunter2<x>"];
        let cases = [
            (
                "cut inside decimal reference",
                "AAAA Hunter2&#6",
                "AAAA [redacted]",
            ),
            (
                "cut inside JSON escape",
                "AAAA Hunter2\\u00",
                "AAAA [redacted]",
            ),
        ];
        for (case, excerpt, expected) in cases {
            assert_eq!(redact_excerpt(excerpt, secrets), expected, "{case}");
        }
    }
}
