//! Checks of caller-chosen identifiers and credential values, shared by the
//! JSON API and the end user's credential entry.

use crate::error::ApiError;
use crate::records::EndUser;

/// Maximum length of an end user's id, email and display name, in characters.
const MAX_END_USER_FIELD_CHARS: usize = 255;
/// Characters of a connection id or an integration's unique key.
const ID_CHARACTERS: &str = "A-Z, a-z, 0-9, `_`, `.`, `@`, `:`, `+` and `-`";
/// Maximum length of an integration's display name, in characters.
const MAX_DISPLAY_NAME_CHARS: usize = 255;
/// Maximum size of an API key, username or password, in bytes.
pub const MAX_CREDENTIAL_BYTES: usize = 4096;
/// How much of a rejected identifier an error message shows.
const SHOWN_CHARS: usize = 80;

/// Checks an identifier such as `connection_id` or `unique_key`: 1 to
/// `max_chars` characters of [`ID_CHARACTERS`], not only dots, because a
/// value of `.` or `..` would read as a path segment in URLs.
pub fn check_identifier(field: &str, value: &str, max_chars: usize) -> Result<(), ApiError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_.@:+-".contains(c);
    let length = value.chars().count();
    let valid = (1..=max_chars).contains(&length)
        && value.chars().all(allowed)
        && !value.chars().all(|c| c == '.');
    if valid {
        return Ok(());
    }
    Err(ApiError::invalid_body(format!(
        "invalid field `{field}`: `{}` must be 1 to {max_chars} characters of {ID_CHARACTERS}, \
         and not only dots",
        shown(value)
    )))
}

/// Checks `end_user.id` (required), `end_user.email` and
/// `end_user.display_name`: 1 to 255 characters without control characters,
/// so that no CR, LF or ESC reaches a log line or a page.
pub fn check_end_user(field: &str, end_user: &EndUser) -> Result<(), ApiError> {
    check_end_user_field(&format!("{field}.id"), &end_user.id)?;
    if let Some(email) = &end_user.email {
        check_end_user_field(&format!("{field}.email"), email)?;
    }
    if let Some(display_name) = &end_user.display_name {
        check_end_user_field(&format!("{field}.display_name"), display_name)?;
    }
    Ok(())
}

/// Checks an integration's `display_name`, which every connect page shows:
/// 1 to 255 characters without control characters.
pub fn check_display_name(value: &str) -> Result<(), ApiError> {
    check_text_field("display_name", value, MAX_DISPLAY_NAME_CHARS)
}

fn check_end_user_field(field: &str, value: &str) -> Result<(), ApiError> {
    check_text_field(field, value, MAX_END_USER_FIELD_CHARS)
}

fn check_text_field(field: &str, value: &str, max_chars: usize) -> Result<(), ApiError> {
    let length = value.chars().count();
    if length == 0 || value.trim().is_empty() {
        return Err(ApiError::invalid_body(format!(
            "invalid field `{field}`: must not be empty"
        )));
    }
    if length > max_chars {
        return Err(ApiError::invalid_body(format!(
            "invalid field `{field}`: must be at most {max_chars} characters, got {length}"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::invalid_body(format!(
            "invalid field `{field}`: `{}` contains a control character; remove it",
            shown(value)
        )));
    }
    Ok(())
}

/// Checks a credential value that goes into an HTTP header (API key,
/// username, password, access token): printable ASCII (space to `~`) only.
/// A CR or LF could otherwise add a header, and the value is never shown
/// because it is a secret even when malformed.
pub fn check_header_credential(field: &str, value: &str) -> Result<(), ApiError> {
    let Some(position) = value.chars().position(|c| !matches!(c, ' '..='~')) else {
        return Ok(());
    };
    let kind = match value.chars().nth(position) {
        Some(c) if c.is_control() => "a control character",
        _ => "a non-ASCII character",
    };
    Err(ApiError::invalid_credentials(format!(
        "`{field}` contains {kind} at position {}: it goes into an HTTP header, so it may \
         contain only printable ASCII characters (space to `~`)",
        position + 1
    )))
}

/// Checks the size of an API key, username or password. OAuth access tokens
/// are not limited, because some providers issue JWTs of several kilobytes.
pub fn check_credential_size(field: &str, value: &str) -> Result<(), ApiError> {
    if value.len() <= MAX_CREDENTIAL_BYTES {
        return Ok(());
    }
    Err(ApiError::invalid_credentials(format!(
        "`{field}` is {} bytes long, but may be at most {MAX_CREDENTIAL_BYTES} bytes",
        value.len()
    )))
}

/// Checks a basic-auth username: not empty and without `:`, because
/// RFC 7617 section 2 joins username and password with the first `:`.
pub fn check_basic_username(field: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(ApiError::invalid_credentials(format!(
            "`{field}` must not be empty"
        )));
    }
    if value.contains(':') {
        return Err(ApiError::invalid_credentials(format!(
            "`{field}` contains `:`, which basic auth cannot carry in a username \
             (RFC 7617 section 2): the upstream would read the part after it as the password"
        )));
    }
    Ok(())
}

/// Formats a rejected value for an error message, with control characters
/// escaped and long values cut, so the message stays one readable line.
pub fn shown(value: &str) -> String {
    let mut text: String = value.chars().take(SHOWN_CHARS).collect();
    if value.chars().count() > SHOWN_CHARS {
        text.push_str("...");
    }
    text.escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_rules() {
        let valid = [
            "github-main_2.v1",
            "user@example.com",
            "a:b+c",
            ".a",
            "a..b",
        ];
        for value in valid {
            assert!(
                check_identifier("connection_id", value, 255).is_ok(),
                "{value}"
            );
        }
        let long = "a".repeat(256);
        let invalid = [
            "", ".", "..", "...", " a", "a ", "a/b", "a\r\nb", "é", "a%2e", &long,
        ];
        for value in invalid {
            let error = check_identifier("connection_id", value, 255).unwrap_err();
            assert_eq!(error.code, "invalid_body", "{value}");
            assert!(
                error.message.contains("`connection_id`"),
                "{}",
                error.message
            );
            assert!(error.message.contains("`@`"), "{}", error.message);
        }
        assert!(check_identifier("unique_key", &"a".repeat(64), 64).is_ok());
        assert!(check_identifier("unique_key", &"a".repeat(65), 64).is_err());
    }

    #[test]
    fn identifier_error_escapes_value() {
        let error = check_identifier("connection_id", "a\r\nb", 255).unwrap_err();
        assert!(error.message.contains("a\\r\\nb"), "{}", error.message);
        assert!(!error.message.contains('\r'));
    }

    #[test]
    fn end_user_rules() {
        let user = |id: &str, email: Option<&str>| EndUser {
            id: id.to_owned(),
            email: email.map(str::to_owned),
            display_name: None,
        };
        assert!(check_end_user("end_user", &user("u-1", Some("a@b.c"))).is_ok());
        assert!(check_end_user("end_user", &user(&"x".repeat(255), None)).is_ok());
        let cases = [
            (user("", None), "`end_user.id`"),
            (user(&"x".repeat(256), None), "`end_user.id`"),
            (user("u\r\nforged log line", None), "`end_user.id`"),
            (user("u\u{1b}[31m", None), "`end_user.id`"),
            (user("u", Some("a@b.c\n")), "`end_user.email`"),
        ];
        for (end_user, field) in cases {
            let error = check_end_user("end_user", &end_user).unwrap_err();
            assert_eq!(error.code, "invalid_body");
            assert!(error.message.contains(field), "{}", error.message);
        }
    }

    #[test]
    fn display_name_rules() {
        assert!(check_display_name("GitHub (work)").is_ok());
        assert!(check_display_name(&"x".repeat(255)).is_ok());
        for value in ["", &"x".repeat(256), "a\nb", "a\u{1b}[31m"] {
            let error = check_display_name(value).unwrap_err();
            assert_eq!(error.code, "invalid_body", "{value:?}");
            assert!(
                error.message.contains("`display_name`"),
                "{}",
                error.message
            );
        }
    }

    #[test]
    fn credential_size_limit() {
        let at_limit = "k".repeat(MAX_CREDENTIAL_BYTES);
        assert!(check_credential_size("api_key", &at_limit).is_ok());
        let error = check_credential_size("api_key", &format!("{at_limit}k")).unwrap_err();
        assert_eq!(error.code, "invalid_credentials");
        assert!(error.message.contains("`api_key`"), "{}", error.message);
        assert!(error.message.contains("4096 bytes"), "{}", error.message);
    }

    #[test]
    fn basic_username_rules() {
        assert!(check_basic_username("username", "ck_123").is_ok());
        for value in ["", "u:x"] {
            let error = check_basic_username("credentials.username", value).unwrap_err();
            assert_eq!(error.code, "invalid_credentials", "{value}");
            assert!(
                error.message.contains("`credentials.username`"),
                "{}",
                error.message
            );
        }
    }

    #[test]
    fn header_credential_rules() {
        assert!(check_header_credential("credentials.api_key", "sk_live abc~!").is_ok());
        for value in ["a\r\nX-Injected: 1", "a\tb", "a\u{0}", "kéy"] {
            let error = check_header_credential("credentials.api_key", value).unwrap_err();
            assert_eq!(error.code, "invalid_credentials");
            assert!(
                error.message.contains("`credentials.api_key`"),
                "{}",
                error.message
            );
            assert!(!error.message.contains(value), "{}", error.message);
        }
    }
}
