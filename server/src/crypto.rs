//! AES-256-GCM encryption of stored records.
//!
//! A sealed value is `nonce (12 bytes) || ciphertext || tag (16 bytes)`. The
//! associated data is the tree name and the record key, so a ciphertext
//! copied onto another record, or into another tree, fails to open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::rngs::OsRng;
use rand::RngCore;

const NONCE_LEN: usize = 12;

/// Reason a sealed value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("encrypted value is {0} bytes, shorter than a nonce and a tag")]
    TooShort(usize),
    #[error("decryption failed: wrong encryption key, or the value was altered or moved")]
    Decrypt,
    #[error("encryption failed")]
    Encrypt,
}

/// Seals and opens records with one AES-256-GCM key.
#[derive(Clone)]
pub struct Cipher {
    aead: Aes256Gcm,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher([redacted])")
    }
}

impl Cipher {
    pub fn new(key: &[u8; 32]) -> Cipher {
        Cipher {
            aead: Aes256Gcm::new(key.into()),
        }
    }

    /// Encrypts `plaintext` for the record `key` of `tree` under a fresh random nonce.
    pub fn seal(&self, tree: &str, key: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let aad = associated_data(tree, key);
        let payload = Payload {
            msg: plaintext,
            aad: &aad,
        };
        let ciphertext = self
            .aead
            .encrypt(Nonce::from_slice(&nonce), payload)
            .map_err(|_| CryptoError::Encrypt)?;

        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// Decrypts a value sealed by [`Cipher::seal`] for the same tree and key.
    pub fn open(&self, tree: &str, key: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(CryptoError::TooShort(sealed.len()));
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let aad = associated_data(tree, key);
        let payload = Payload {
            msg: ciphertext,
            aad: &aad,
        };
        self.aead
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| CryptoError::Decrypt)
    }
}

/// Tree name, a NUL byte, then the record key. Tree names never contain NUL,
/// so two different (tree, key) pairs never give the same bytes.
fn associated_data(tree: &str, key: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(tree.len() + 1 + key.len());
    aad.extend_from_slice(tree.as_bytes());
    aad.push(0);
    aad.extend_from_slice(key);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> Cipher {
        Cipher::new(&[7u8; 32])
    }

    #[test]
    fn seal_open_roundtrip() {
        let sealed = cipher().seal("connections", b"k", b"hello").unwrap();
        let opened = cipher().open("connections", b"k", &sealed).unwrap();
        assert_eq!(opened, b"hello");
    }

    #[test]
    fn sealed_value_hides_plaintext() {
        let sealed = cipher().seal("t", b"k", b"plaintext-token").unwrap();
        let found = sealed.windows(15).any(|w| w == b"plaintext-token");
        assert!(!found);
    }

    #[test]
    fn nonce_differs_per_seal() {
        let first = cipher().seal("t", b"k", b"same").unwrap();
        let second = cipher().seal("t", b"k", b"same").unwrap();
        assert_ne!(first, second);
    }

    #[test]
    fn flipped_byte_fails_to_open() {
        let mut sealed = cipher().seal("t", b"k", b"hello").unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(matches!(
            cipher().open("t", b"k", &sealed),
            Err(CryptoError::Decrypt)
        ));
        sealed[last] ^= 1;
        sealed[NONCE_LEN] ^= 1;
        assert!(matches!(
            cipher().open("t", b"k", &sealed),
            Err(CryptoError::Decrypt)
        ));
    }

    #[test]
    fn value_moved_to_other_key_fails() {
        let sealed = cipher().seal("connections", b"a", b"hello").unwrap();
        assert!(cipher().open("connections", b"b", &sealed).is_err());
        assert!(cipher().open("integrations", b"a", &sealed).is_err());
    }

    #[test]
    fn other_key_fails_to_open() {
        let sealed = cipher().seal("t", b"k", b"hello").unwrap();
        let other = Cipher::new(&[8u8; 32]);
        assert!(other.open("t", b"k", &sealed).is_err());
    }

    #[test]
    fn truncated_value_is_rejected() {
        assert!(matches!(
            cipher().open("t", b"k", &[0u8; 10]),
            Err(CryptoError::TooShort(10))
        ));
    }
}
