//! Translation of a Nango pattern that starts with a negative lookahead,
//! such as Salesforce's `^(?!(?:.*\.)?lightning\.force\.com$)[a-z0-9.-]+$`,
//! which the Rust regex crate does not support, into a `pattern` and an
//! `excluded_pattern`.

use super::whole_value;

/// A pattern split at its leading negative lookahead.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct SplitPattern {
    /// The pattern the whole value must not match, from the lookahead.
    pub(super) excluded: String,
    /// The pattern the whole value must match, from the rest of the pattern, with
    /// its `^` and `$` kept.
    pub(super) included: String,
}

/// Splits `^(?!X)Y` into an excluded pattern and `^Y`. A lookahead at the
/// start of the value rejects every value that starts with a match of `X`.
/// When `X` ends with `$`, that is a whole-value match of `X` without the
/// `$`, and otherwise a whole-value match of `X` followed by anything.
/// Returns `None` when the pattern has no leading negative lookahead, or
/// when a part does not compile as a Rust regular expression, for example
/// because it has another lookaround.
pub(super) fn split_leading_lookahead(pattern: &str) -> Option<SplitPattern> {
    let (anchor, body) = match pattern.strip_prefix('^') {
        Some(body) => ("^", body),
        None => ("", pattern),
    };
    let inner_and_rest = body.strip_prefix("(?!")?;
    let close = closing_parenthesis(inner_and_rest)?;
    let inner = &inner_and_rest[..close];
    let rest = &inner_and_rest[close + 1..];
    let excluded = match inner.strip_suffix('$').filter(|text| !text.ends_with('\\')) {
        Some(whole) => whole.to_owned(),
        None => format!("(?:{inner})(?s:.*)"),
    };
    let included = format!("{anchor}{rest}");
    whole_value(&excluded).ok()?;
    whole_value(rest.trim_end_matches('$')).ok()?;
    Some(SplitPattern { excluded, included })
}

/// Returns the byte offset of the `)` that closes a group whose opening
/// `(` comes just before `text`, skipping escapes and character classes.
fn closing_parenthesis(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_class = false;
    let mut characters = text.char_indices();
    while let Some((index, character)) = characters.next() {
        match character {
            '\\' => {
                characters.next();
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '(' if !in_class => depth += 1,
            ')' if !in_class => {
                if depth == 0 {
                    return Some(index);
                }
                depth -= 1;
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALESFORCE: &str = r"^(?!(?:.*\.)?[Ll][Ii][Gg][Hh][Tt][Nn][Ii][Nn][Gg]\.([Ff][Oo][Rr][Cc][Ee]|[Ss][Aa][Ll][Ee][Ss][Ff][Oo][Rr][Cc][Ee])\.[Cc][Oo][Mm]$)[a-zA-Z0-9]([a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?)*$";

    /// Checks a value the way the split pattern is applied: it must match
    /// the included pattern and must not match the excluded one.
    fn accepts(split: &SplitPattern, value: &str) -> bool {
        let included = split.included.trim_start_matches('^').trim_end_matches('$');
        whole_value(included).unwrap().is_match(value)
            && !whole_value(&split.excluded).unwrap().is_match(value)
    }

    #[test]
    fn salesforce_hostname_splits() {
        let split = split_leading_lookahead(SALESFORCE).expect("splits");
        assert!(split.included.starts_with("^[a-zA-Z0-9]("));
        assert!(split.excluded.starts_with(r"(?:.*\.)?[Ll]"));
        let cases = [
            ("acme.my.salesforce.com", true),
            ("login.salesforce.com", true),
            ("test.salesforce.com", true),
            ("acme.lightning.force.com", false),
            ("ACME.LIGHTNING.FORCE.COM", false),
            ("lightning.force.com", false),
            ("acme.lightning.salesforce.com", false),
            ("acme.lightning.force.com.example", true),
            ("notlightning.force.com", true),
            ("acme/evil", false),
        ];
        for (value, expected) in cases {
            assert_eq!(accepts(&split, value), expected, "{value}");
        }
    }

    #[test]
    fn lookahead_without_dollar_excludes_prefix() {
        let split = split_leading_lookahead("^(?!admin)[a-z]+$").expect("splits");
        assert_eq!(split.excluded, "(?:admin)(?s:.*)");
        assert!(!accepts(&split, "admin"));
        assert!(!accepts(&split, "administrator"));
        assert!(accepts(&split, "acme"));
    }

    #[test]
    fn other_patterns_do_not_split() {
        assert_eq!(split_leading_lookahead("[a-z]+"), None);
        assert_eq!(split_leading_lookahead("^[a-z]+(?!x)$"), None);
        assert_eq!(split_leading_lookahead("^(?!(?<=a)b)[a-z]+$"), None);
        assert_eq!(split_leading_lookahead("^(?!unclosed[a-z]+$"), None);
    }
}
