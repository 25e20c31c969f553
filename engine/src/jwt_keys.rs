//! Private keys of the `jwt` mode in the forms that jsonwebtoken does not
//! read itself: an RSA JSON Web Key (RFC 7517, RFC 7518 section 6.3), and
//! the SHA-256 fingerprint of an RSA key's public half that Snowflake puts
//! into the issuer claim.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rsa::{BigUint, RsaPrivateKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The members of an RSA private JWK that rebuild the key. The CRT members
/// `dp`, `dq` and `qi` are derived again from these, so they are not read.
#[derive(Deserialize)]
struct RsaJwk {
    kty: String,
    n: String,
    e: String,
    d: String,
    p: String,
    q: String,
}

/// Converts an RSA private JWK into PKCS#1 DER. The error names the member
/// that is missing or invalid and never contains key material.
pub(crate) fn rsa_jwk_to_pkcs1_der(text: &str) -> Result<Vec<u8>, String> {
    // serde_json's own message can quote a member's value, so it is not
    // passed on.
    let jwk: RsaJwk = serde_json::from_str(text.trim()).map_err(|_| {
        "not a JSON Web Key with the string members kty, n, e, d, p and q".to_owned()
    })?;
    if jwk.kty != "RSA" {
        return Err(format!("key type `{}` is not `RSA`", jwk.kty));
    }
    let number = |name: &str, value: &str| {
        URL_SAFE_NO_PAD
            .decode(value.trim_end_matches('='))
            .map(|bytes| BigUint::from_bytes_be(&bytes))
            .map_err(|_| format!("member `{name}` is not base64url"))
    };
    let key = RsaPrivateKey::from_components(
        number("n", &jwk.n)?,
        number("e", &jwk.e)?,
        number("d", &jwk.d)?,
        vec![number("p", &jwk.p)?, number("q", &jwk.q)?],
    )
    .map_err(|err| format!("the members do not form an RSA key ({err})"))?;
    key.validate()
        .map_err(|err| format!("the members do not form an RSA key ({err})"))?;
    key.to_pkcs1_der()
        .map(|der| der.as_bytes().to_vec())
        .map_err(|err| format!("the key cannot be encoded ({err})"))
}

/// Returns the standard base64 SHA-256 digest of the DER
/// SubjectPublicKeyInfo of an RSA private key given as PEM (PKCS#8 or
/// PKCS#1): the fingerprint that Snowflake's key-pair authentication writes
/// after `SHA256:` and shows as `RSA_PUBLIC_KEY_FP`.
pub(crate) fn rsa_public_key_sha256(pem: &str) -> Result<String, String> {
    let key = RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
        .map_err(|_| "not a PEM RSA private key".to_owned())?;
    let spki = key
        .to_public_key()
        .to_public_key_der()
        .map_err(|err| format!("the public key cannot be encoded ({err})"))?;
    Ok(STANDARD.encode(Sha256::digest(spki.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::traits::PublicKeyParts;

    /// RFC 7517 appendix A.2's private RSA key, cut to the members read here.
    const RFC7517_JWK: &str = r#"{"kty":"RSA",
      "n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
      "e":"AQAB",
      "d":"X4cTteJY_gn4FYPsXB8rdXix5vwsg1FLN5E3EaG6RJoVH-HLLKD9M7dx5oo7GURknchnrRweUkC7hT5fJLM0WbFAKNLWY2vv7B6NqXSzUvxT0_YSfqijwp3RTzlBaCxWp4doFk5N2o8Gy_nHNKroADIkJ46pRUohsXywbReAdYaMwFs9tv8d_cPVY3i07a3t8MN6TNwm0dSawm9v47UiCl3Sk5ZiG7xojPLu4sbg1U2jx4IBTNBznbJSzFHK66jT8bgkuqsk0GjskDJk19Z4qwjwbsnn4j2WBii3RL-Us2lGVkY8fkFzme1z0HbIkfz0Y6mqnOYtqc0X4jfcKoAC8Q",
      "p":"83i-7IvMGXoMXCskv73TKr8637FiO7Z27zv8oj6pbWUQyLPQBQxtPVnwD20R-60eTDmD2ujnMt5PoqMrm8RfmNhVWDtjjMmCMjOpSXicFHj7XOuVIYQyqVWlWEh6dN36GVZYk93N8Bc9vY41xy8B9RzzOGVQzXvNEvn7O0nVbfs",
      "q":"3dfOR9cuYq-0S-mkFLzgItgMEfFzB2q3hWehMuG0oCuqnb3vobLyumqjVZQO1dIrdwgTnCdpYzBcOfW5r370AFXjiWft_NGEiovonizhKpo9VVS78TzFgxkIdrecRezsZ-1kYd_s1qDbxtkDEgfAITAG9LUnADun4vIcb6yelxk"}"#;

    #[test]
    fn rfc7517_jwk_rebuilds_key() {
        let der = rsa_jwk_to_pkcs1_der(RFC7517_JWK).unwrap();
        let key = RsaPrivateKey::from_pkcs1_der(&der).unwrap();

        assert_eq!(key.e(), &BigUint::from(65537u32));
        assert_eq!(key.n().bits(), 2048);
    }

    #[test]
    fn invalid_jwks_rejected() {
        let cases = [
            ("not json", "not a JSON Web Key"),
            (
                r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#,
                "not a JSON Web Key",
            ),
            (
                r#"{"kty":"EC","n":"AQ","e":"AQ","d":"AQ","p":"AQ","q":"AQ"}"#,
                "key type `EC` is not `RSA`",
            ),
            (
                r#"{"kty":"RSA","n":"!!","e":"AQ","d":"AQ","p":"AQ","q":"AQ"}"#,
                "member `n` is not base64url",
            ),
            (
                r#"{"kty":"RSA","n":"AQAB","e":"AQAB","d":"AQAB","p":"Aw","q":"Bw"}"#,
                "do not form an RSA key",
            ),
        ];
        for (text, expected) in cases {
            let error = rsa_jwk_to_pkcs1_der(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    /// The expected value is the output of `openssl pkey -in rsa2048.pem
    /// -pubout -outform DER | openssl dgst -sha256 -binary | base64`.
    #[test]
    fn fingerprint_matches_openssl() {
        let pem = include_str!("../testdata/rsa2048.pem");

        assert_eq!(
            rsa_public_key_sha256(pem).unwrap(),
            "6DQ26LSw87qAxDx52ZRgDvmUQxkRAi8OvdS3Zi/VHwU="
        );
    }

    #[test]
    fn fingerprint_of_non_rsa_pem_rejected() {
        let error =
            rsa_public_key_sha256("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
                .unwrap_err();

        assert_eq!(error, "not a PEM RSA private key");
    }
}
