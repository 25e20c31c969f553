//! Rust identifiers for catalog names and keys.

/// Rust's strict and reserved keywords (edition 2021), which an identifier
/// may not be without the `r#` prefix.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "if", "impl", "in",
    "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield", "gen", "union",
];

/// Returns the module name of a provider: its name with `-` replaced by `_`,
/// with `_` put in front when it starts with a digit and after it when it is
/// a keyword. Provider names hold only lowercase letters, digits and `-`, so
/// two names never map to the same module.
pub fn module_name(provider: &str) -> String {
    let mut name = provider.replace('-', "_");
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    if KEYWORDS.contains(&name.as_str()) {
        name.push('_');
    }
    name
}

/// Returns the `Provider` enum variant of a provider: each `-`-separated
/// part with its first letter in upper case, with `_` put in front when the
/// result starts with a digit. `Self` becomes `Self_`. Two names can map to
/// the same variant (`a-2b` and `a2b`), so the caller checks for repeats.
pub fn variant_name(provider: &str) -> String {
    let mut name: String = provider.split('-').map(capitalize).collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    if name == "Self" {
        name.push('_');
    }
    name
}

fn capitalize(part: &str) -> String {
    let mut chars = part.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Returns the snake_case field name of a connection-config or credential
/// key: words split at `-`, `.`, spaces, other non-alphanumeric characters
/// and lowercase-to-uppercase steps, joined by `_`. A name that starts with
/// a digit gets `_` in front, and a keyword gets the `r#` prefix (`_` after
/// it for `self`, `super`, `crate` and `Self`, which cannot be raw).
pub fn field_name(key: &str) -> String {
    let mut name = String::new();
    let mut previous: Option<char> = None;
    for c in key.chars() {
        if c.is_ascii_alphanumeric() {
            let step_up = c.is_ascii_uppercase()
                && previous.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit());
            if step_up && !name.ends_with('_') {
                name.push('_');
            }
            name.push(c.to_ascii_lowercase());
        } else if !name.is_empty() && !name.ends_with('_') {
            name.push('_');
        }
        previous = Some(c);
    }
    while name.ends_with('_') {
        name.pop();
    }
    if name.is_empty() {
        name.push_str("field");
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    match name.as_str() {
        "self" | "super" | "crate" => name.push('_'),
        keyword if KEYWORDS.contains(&keyword) => name.insert_str(0, "r#"),
        _ => {}
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_are_identifiers() {
        assert_eq!(module_name("confluence"), "confluence");
        assert_eq!(module_name("1password-scim"), "_1password_scim");
        assert_eq!(module_name("box"), "box_");
        assert_eq!(module_name("self"), "self_");
    }

    #[test]
    fn variant_names_are_camel_case() {
        assert_eq!(variant_name("confluence"), "Confluence");
        assert_eq!(
            variant_name("google-service-account"),
            "GoogleServiceAccount"
        );
        assert_eq!(variant_name("3cx"), "_3cx");
        assert_eq!(variant_name("self"), "Self_");
    }

    #[test]
    fn field_names_are_snake_case() {
        let cases = [
            ("cloudId", "cloud_id"),
            ("subdomain", "subdomain"),
            ("api-version", "api_version"),
            ("API_KEY", "api_key"),
            ("oauth2Url", "oauth2_url"),
            ("2fa", "_2fa"),
            ("type", "r#type"),
            ("self", "self_"),
            ("a..b", "a_b"),
            ("-", "field"),
        ];
        for (key, expected) in cases {
            assert_eq!(field_name(key), expected, "key {key:?}");
        }
    }
}
