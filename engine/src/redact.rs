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
/// searched again. Each secret is matched as written, JSON-escaped,
/// form-encoded (`application/x-www-form-urlencoded`) and percent-encoded.
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
/// percent-encoded, HTML-escaped (a login page that shows the form again
/// escapes it so) and XML-escaped, which may repeat. The XML forms are
/// those of an XML login body (`&apos;` and `&quot;` too) and of XML text
/// that escapes only `&`, `<` and `>`, as an XML gateway may echo either.
fn encoded_forms(secret: &str) -> [String; 7] {
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json_escaped = json
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(secret)
        .to_owned();
    let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let percent: Cow<'_, str> =
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC).into();
    let xml_text = secret
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let html = xml_text.replace('"', "&quot;").replace('\'', "&#39;");
    let xml = xml_text.replace('"', "&quot;").replace('\'', "&apos;");
    [
        secret.to_owned(),
        json_escaped,
        form,
        percent.into_owned(),
        html,
        xml,
        xml_text,
    ]
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
            ("HTML-escaped value", r#"<input value="Pa&amp;ss&lt;w&gt;&quot;rd">"#, &[r#"Pa&ss<w>"rd"#], r#"<input value="[redacted]">"#),
            ("XML-escaped value", "<password>P&apos;a&amp;ss&lt;w&gt;&quot;d</password>", &[r#"P'a&ss<w>"d"#], "<password>[redacted]</password>"),
            ("XML text escaping", r#"<error>P'a&amp;ss&lt;w&gt;"d</error>"#, &[r#"P'a&ss<w>"d"#], "<error>[redacted]</error>"),
            ("short value not inside marker", "bad login", &["a", "d"], "b[redacted][redacted] login"),
            ("marker text as a value", "value red", &["red", "redacted"], "value [redacted]"),
            ("empty value ignored", "nothing here", &[""], "nothing here"),
            ("multibyte text kept", "überschrift ü-key", &["ü-key"], "überschrift [redacted]"),
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
    }
}
