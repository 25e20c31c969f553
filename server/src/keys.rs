//! The secret key (API authentication) and the encryption key (data at rest).
//!
//! Each comes from its environment variable when set, else from a file in the
//! data directory, which is generated with mode 0600 on first start.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const SECRET_KEY_ENV: &str = "LATCHKEY_SECRET_KEY";
pub const ENCRYPTION_KEY_ENV: &str = "LATCHKEY_ENCRYPTION_KEY";
pub const SECRET_KEY_FILE: &str = "secret_key";
pub const ENCRYPTION_KEY_FILE: &str = "encryption_key";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot create the data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin} is empty; set a non-empty secret key or remove the file to generate one")]
    EmptySecretKey { origin: String },
    #[error(
        "environment variable {name} is set but empty; set it to a non-empty value or unset it \
         to use the key file in the data directory"
    )]
    EmptyEnv { name: &'static str },
    #[error(
        "environment variable {SECRET_KEY_ENV} is {length} characters long, but a secret key \
         must be at least {MIN_SECRET_KEY_CHARS} characters; use a long random value, for \
         example the output of `openssl rand -base64 32`"
    )]
    ShortSecretKey { length: usize },
    #[error(
        "{origin} is not a valid encryption key: {reason}; it must be the base64 encoding of \
         exactly 32 bytes, for example the output of `openssl rand -base64 32`"
    )]
    InvalidEncryptionKey { origin: String, reason: String },
}

/// Origin of a key, for the startup log (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Env(&'static str),
    File(PathBuf),
    Generated(PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Env(name) => write!(f, "environment variable {name}"),
            KeySource::File(path) => write!(f, "read from {}", path.display()),
            KeySource::Generated(path) => write!(f, "generated into {}", path.display()),
        }
    }
}

/// The key callers present as `Authorization: Bearer <key>`.
#[derive(Clone)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn new(value: impl Into<String>) -> SecretKey {
        SecretKey(value.into())
    }

    /// Compares in constant time. Both sides are hashed first so that the
    /// comparison time does not depend on the length of the presented key.
    pub fn matches(&self, presented: &str) -> bool {
        let expected = Sha256::digest(self.0.as_bytes());
        let actual = Sha256::digest(presented.as_bytes());
        expected.ct_eq(&actual).into()
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

/// The AES-256-GCM key for records at rest.
#[derive(Clone)]
pub struct EncryptionKey([u8; 32]);

impl EncryptionKey {
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses the base64 encoding of exactly 32 bytes. `origin` names the
    /// variable or file in the error.
    pub fn parse(text: &str, origin: &str) -> Result<EncryptionKey, KeyError> {
        let invalid = |reason: String| KeyError::InvalidEncryptionKey {
            origin: origin.to_owned(),
            reason,
        };
        let decoded = STANDARD
            .decode(text.trim())
            .map_err(|e| invalid(format!("not base64 ({e})")))?;
        let bytes: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| invalid(format!("decodes to {} bytes", decoded.len())))?;
        Ok(EncryptionKey(bytes))
    }
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptionKey([redacted])")
    }
}

/// Both keys and where each came from.
#[derive(Debug, Clone)]
pub struct Keys {
    pub secret_key: SecretKey,
    pub secret_key_source: KeySource,
    pub encryption_key: EncryptionKey,
    pub encryption_key_source: KeySource,
}

/// Values of the two environment variables, `None` when unset.
#[derive(Debug, Default, Clone)]
pub struct KeyOverrides {
    pub secret_key: Option<String>,
    pub encryption_key: Option<String>,
}

impl KeyOverrides {
    pub fn from_env() -> KeyOverrides {
        KeyOverrides {
            secret_key: std::env::var(SECRET_KEY_ENV).ok(),
            encryption_key: std::env::var(ENCRYPTION_KEY_ENV).ok(),
        }
    }
}

/// Minimum length of a secret key set through [`SECRET_KEY_ENV`], in
/// characters. Generated keys have 49.
pub const MIN_SECRET_KEY_CHARS: usize = 16;

/// Loads both keys, generating missing key files in `data_dir`.
///
/// Every source (both variables, then both existing files) is validated
/// before any file is written, so a failed start leaves no new key file.
pub fn load_or_generate(data_dir: &Path, overrides: &KeyOverrides) -> Result<Keys, KeyError> {
    let secret_from_env = overrides
        .secret_key
        .as_deref()
        .map(check_secret_key_env)
        .transpose()?;
    let encryption_from_env = overrides
        .encryption_key
        .as_deref()
        .map(|value| {
            if value.trim().is_empty() {
                return Err(KeyError::EmptyEnv {
                    name: ENCRYPTION_KEY_ENV,
                });
            }
            EncryptionKey::parse(value, ENCRYPTION_KEY_ENV)
        })
        .transpose()?;

    fs::create_dir_all(data_dir).map_err(|source| KeyError::CreateDir {
        path: data_dir.to_owned(),
        source,
    })?;
    let secret_path = data_dir.join(SECRET_KEY_FILE);
    let encryption_path = data_dir.join(ENCRYPTION_KEY_FILE);

    let secret_from_file = match secret_from_env {
        Some(_) => None,
        None => read_key_file(&secret_path)?
            .map(|text| check_secret_key_file(text, &secret_path))
            .transpose()?,
    };
    let encryption_from_file = match encryption_from_env {
        Some(_) => None,
        None => read_key_file(&encryption_path)?
            .map(|text| EncryptionKey::parse(&text, &encryption_path.display().to_string()))
            .transpose()?,
    };

    let (secret_key, secret_key_source) = match (secret_from_env, secret_from_file) {
        (Some(value), _) => (value, KeySource::Env(SECRET_KEY_ENV)),
        (None, Some(value)) => (value, KeySource::File(secret_path)),
        (None, None) => create_key_file(&secret_path, generate_secret_key)?,
    };
    let (encryption_key, encryption_key_source) = match (encryption_from_env, encryption_from_file)
    {
        (Some(key), _) => (key, KeySource::Env(ENCRYPTION_KEY_ENV)),
        (None, Some(key)) => (key, KeySource::File(encryption_path)),
        (None, None) => {
            let (text, source) = create_key_file(&encryption_path, generate_encryption_key)?;
            let origin = encryption_path.display().to_string();
            (EncryptionKey::parse(&text, &origin)?, source)
        }
    };

    Ok(Keys {
        secret_key: SecretKey::new(secret_key),
        secret_key_source,
        encryption_key,
        encryption_key_source,
    })
}

/// Checks the value of [`SECRET_KEY_ENV`]: not blank and at least
/// [`MIN_SECRET_KEY_CHARS`] characters after trimming.
fn check_secret_key_env(value: &str) -> Result<String, KeyError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(KeyError::EmptyEnv {
            name: SECRET_KEY_ENV,
        });
    }
    let length = value.chars().count();
    if length < MIN_SECRET_KEY_CHARS {
        return Err(KeyError::ShortSecretKey { length });
    }
    Ok(value.to_owned())
}

fn check_secret_key_file(text: String, path: &Path) -> Result<String, KeyError> {
    if text.is_empty() {
        return Err(KeyError::EmptySecretKey {
            origin: KeySource::File(path.to_owned()).to_string(),
        });
    }
    Ok(text)
}

/// Reads a key file, trimmed, or `None` when it does not exist.
fn read_key_file(path: &Path) -> Result<Option<String>, KeyError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.trim().to_owned())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(KeyError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Creates a key file with mode 0600 holding `generate()`. `create_new`
/// makes two processes starting at once agree on one key: the loser of the
/// race reads the winner's file.
fn create_key_file(path: &Path, generate: fn() -> String) -> Result<(String, KeySource), KeyError> {
    let value = generate();
    let write_error = |source| KeyError::Write {
        path: path.to_owned(),
        source,
    };
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let text = read_key_file(path)?.unwrap_or_default();
            return Ok((text, KeySource::File(path.to_owned())));
        }
        Err(e) => return Err(write_error(e)),
    };
    file.write_all(format!("{value}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(write_error)?;
    Ok((value, KeySource::Generated(path.to_owned())))
}

fn generate_secret_key() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("lk_sk_{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn generate_encryption_key() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn generated_files_have_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let keys = load_or_generate(dir.path(), &KeyOverrides::default()).unwrap();

        for name in [SECRET_KEY_FILE, ENCRYPTION_KEY_FILE] {
            let mode = fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "mode of {name}");
        }
        assert!(matches!(keys.secret_key_source, KeySource::Generated(_)));
        assert!(matches!(
            keys.encryption_key_source,
            KeySource::Generated(_)
        ));
    }

    #[test]
    fn second_start_reads_same_keys() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_generate(dir.path(), &KeyOverrides::default()).unwrap();
        let second = load_or_generate(dir.path(), &KeyOverrides::default()).unwrap();

        assert_eq!(first.encryption_key.bytes(), second.encryption_key.bytes());
        assert!(matches!(second.secret_key_source, KeySource::File(_)));
        let stored = fs::read_to_string(dir.path().join(SECRET_KEY_FILE)).unwrap();
        assert!(second.secret_key.matches(stored.trim()));
    }

    #[test]
    fn env_overrides_write_no_files() {
        let dir = tempfile::tempdir().unwrap();
        let overrides = KeyOverrides {
            secret_key: Some("from-env-0123456789".to_owned()),
            encryption_key: Some(STANDARD.encode([1u8; 32])),
        };
        let keys = load_or_generate(dir.path(), &overrides).unwrap();

        assert!(keys.secret_key.matches("from-env-0123456789"));
        assert_eq!(keys.encryption_key.bytes(), &[1u8; 32]);
        assert!(!dir.path().join(SECRET_KEY_FILE).exists());
        assert!(!dir.path().join(ENCRYPTION_KEY_FILE).exists());
    }

    #[test]
    fn encryption_key_rejects_bad_values() {
        let cases = [
            ("not base64 !!", "not base64"),
            (&STANDARD.encode([1u8; 16]), "decodes to 16 bytes"),
            (&STANDARD.encode([1u8; 33]), "decodes to 33 bytes"),
        ];
        for (text, reason) in cases {
            let error = EncryptionKey::parse(text, ENCRYPTION_KEY_ENV).unwrap_err();
            let message = error.to_string();
            assert!(message.contains(reason), "{message}");
            assert!(message.contains(ENCRYPTION_KEY_ENV), "{message}");
            assert!(message.contains("32 bytes"), "{message}");
        }
    }

    #[test]
    fn empty_secret_key_env_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let overrides = KeyOverrides {
            secret_key: Some("  ".to_owned()),
            encryption_key: None,
        };
        let error = load_or_generate(dir.path(), &overrides).unwrap_err();
        assert!(matches!(error, KeyError::EmptyEnv { .. }));
        let message = error.to_string();
        assert!(message.contains(SECRET_KEY_ENV), "{message}");
        assert!(message.contains("unset it"), "{message}");
        assert!(!message.contains("remove the file"), "{message}");

        let overrides = KeyOverrides {
            secret_key: None,
            encryption_key: Some(String::new()),
        };
        let message = load_or_generate(dir.path(), &overrides)
            .unwrap_err()
            .to_string();
        assert!(message.contains(ENCRYPTION_KEY_ENV), "{message}");
    }

    #[test]
    fn failed_start_writes_no_key_file() {
        let valid_encryption = STANDARD.encode([1u8; 32]);
        let cases = [
            (Some("from-env-0123456789"), Some("abc")),
            (Some("from-env-0123456789"), Some("")),
            (None, Some("abc")),
            (Some("short"), None),
            (Some("short"), Some(valid_encryption.as_str())),
            (Some(""), None),
        ];
        for (secret_key, encryption_key) in cases {
            let dir = tempfile::tempdir().unwrap();
            let data_dir = dir.path().join("data");
            let overrides = KeyOverrides {
                secret_key: secret_key.map(str::to_owned),
                encryption_key: encryption_key.map(str::to_owned),
            };
            let result = load_or_generate(&data_dir, &overrides);
            assert!(result.is_err(), "{secret_key:?} {encryption_key:?}");
            assert!(
                !data_dir.exists(),
                "{secret_key:?} {encryption_key:?} created the data directory"
            );
        }
    }

    #[test]
    fn invalid_key_file_blocks_generation() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(ENCRYPTION_KEY_FILE), "abc\n").unwrap();
        let error = load_or_generate(dir.path(), &KeyOverrides::default()).unwrap_err();
        assert!(matches!(error, KeyError::InvalidEncryptionKey { .. }));
        assert!(!dir.path().join(SECRET_KEY_FILE).exists());
    }

    #[test]
    fn short_secret_key_env_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let overrides = KeyOverrides {
            secret_key: Some("ab".to_owned()),
            encryption_key: None,
        };
        let message = load_or_generate(dir.path(), &overrides)
            .unwrap_err()
            .to_string();
        assert!(message.contains(SECRET_KEY_ENV), "{message}");
        assert!(message.contains("at least 16 characters"), "{message}");

        let overrides = KeyOverrides {
            secret_key: Some("a".repeat(MIN_SECRET_KEY_CHARS)),
            encryption_key: None,
        };
        assert!(load_or_generate(dir.path(), &overrides).is_ok());
        assert!(generate_secret_key().len() >= MIN_SECRET_KEY_CHARS);
    }

    #[test]
    fn secret_key_comparison() {
        let key = SecretKey::new("lk_sk_abc");
        assert!(key.matches("lk_sk_abc"));
        assert!(!key.matches("lk_sk_abd"));
        assert!(!key.matches("lk_sk_ab"));
        assert!(!key.matches(""));
        assert!(!key.matches("lk_sk_abcd"));
    }

    #[test]
    fn debug_output_hides_keys() {
        let key = SecretKey::new("lk_sk_visible");
        assert!(!format!("{key:?}").contains("visible"));
        let encryption = EncryptionKey::parse(&STANDARD.encode([9u8; 32]), "x").unwrap();
        assert_eq!(format!("{encryption:?}"), "EncryptionKey([redacted])");
    }
}
