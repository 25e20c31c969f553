//! Translation of Nango's time expressions `${now:FORMAT}` and
//! `${now+N:UNIT:FORMAT}` into the engine's `now` template function.
//!
//! FORMAT uses Day.js tokens (`YYYY-MM-DD`, `X` for Unix seconds, `[Z]` for
//! a literal), which become chrono strftime specifiers.

/// Day.js tokens and their strftime specifiers, longest first where one
/// token starts another.
const TOKENS: [(&str, &str); 9] = [
    ("YYYY", "%Y"),
    ("MMM", "%b"),
    ("MM", "%m"),
    ("DD", "%d"),
    ("ddd", "%a"),
    ("HH", "%H"),
    ("mm", "%M"),
    ("ss", "%S"),
    ("ZZ", "%z"),
];

/// Translates the text after `now` in `${now...}` into a `now(...)` call.
pub(super) fn translate_now(spec: &str) -> Result<String, String> {
    let unsupported = || format!("template `${{now{spec}}}` has no Latchkey equivalent");
    let (offset, format) = if let Some(format) = spec.strip_prefix(':') {
        (None, format)
    } else {
        let (amount, rest) = spec.split_once(':').ok_or_else(unsupported)?;
        let (unit, format) = rest.split_once(':').ok_or_else(unsupported)?;
        let amount: i64 = amount
            .strip_prefix('+')
            .unwrap_or(amount)
            .parse()
            .map_err(|_| unsupported())?;
        let unit = match unit {
            "day" | "days" => "days",
            "hour" | "hours" => "hours",
            "minute" | "minutes" => "minutes",
            "second" | "seconds" => "seconds",
            _ => return Err(unsupported()),
        };
        (Some((unit, amount)), format)
    };
    let format = strftime(format).ok_or_else(unsupported)?;
    Ok(match offset {
        Some((unit, amount)) => format!("now('{format}', {unit}={amount})"),
        None => format!("now('{format}')"),
    })
}

/// Converts a Day.js format into a strftime format, or `unix` for `X`.
/// Returns `None` for a token with no strftime form.
fn strftime(format: &str) -> Option<String> {
    if format == "X" {
        return Some("unix".to_owned());
    }
    let mut output = String::new();
    let mut rest = format;
    while let Some(character) = rest.chars().next() {
        if let Some((token, specifier)) = TOKENS.iter().find(|(token, _)| rest.starts_with(token)) {
            output.push_str(specifier);
            rest = &rest[token.len()..];
        } else if character == '[' {
            let end = rest.find(']')?;
            output.push_str(&rest[1..end].replace('%', "%%"));
            rest = &rest[end + 1..];
        } else if (character.is_ascii_alphabetic() && character != 'T')
            || matches!(character, '\'' | '\\' | '%' | '{' | '}')
        {
            // A letter other than `T` is a Day.js token with no strftime
            // form, and the other characters would break the quoted call.
            return None;
        } else {
            output.push(character);
            rest = &rest[character.len_utf8()..];
        }
    }
    Some(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_expressions_translate() {
        let cases = [
            (":YYYY-MM-DD", "now('%Y-%m-%d')"),
            (":YYYY-MM-DDTHH:mm:ss", "now('%Y-%m-%dT%H:%M:%S')"),
            (":YYYYMMDDTHHmmss[Z]", "now('%Y%m%dT%H%M%SZ')"),
            (
                ":ddd, DD MMM YYYY HH:mm:ss ZZ",
                "now('%a, %d %b %Y %H:%M:%S %z')",
            ),
            (":X", "now('unix')"),
            ("+7:days:YYYY-MM-DD", "now('%Y-%m-%d', days=7)"),
            ("+1:minutes:X", "now('unix', minutes=1)"),
            ("-2:hours:HH", "now('%H', hours=-2)"),
        ];
        for (spec, expected) in cases {
            assert_eq!(translate_now(spec).unwrap(), expected, "{spec}");
        }
    }

    #[test]
    fn unknown_time_forms_rejected() {
        for spec in [":Q", ":YYYY'", "+7:weeks:X", "+x:days:X", "+7:days", ":[Z"] {
            let error = translate_now(spec).unwrap_err();
            assert!(
                error.contains("has no Latchkey equivalent"),
                "{spec}: {error}"
            );
        }
    }
}
