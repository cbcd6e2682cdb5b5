//! Encryption at rest for the tokens a session holds (XChaCha20-Poly1305).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// The keys from `OIDC_SESSION_ENCRYPTION_KEY`: the first encrypts, all decrypt.
#[derive(Clone)]
pub struct KeyRing {
    ciphers: Vec<XChaCha20Poly1305>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyRing({} key(s), ***)", self.ciphers.len())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("stored session data could not be decrypted with any configured key")]
pub struct DecryptError;

impl KeyRing {
    pub fn parse(value: &str) -> Result<Self, String> {
        let ciphers = value
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .enumerate()
            .map(|(i, k)| {
                let bytes = STANDARD
                    .decode(k)
                    .or_else(|_| URL_SAFE_NO_PAD.decode(k))
                    .map_err(|_| format!("key #{} is not base64", i + 1))?;
                if bytes.len() != 32 {
                    return Err(format!(
                        "key #{} is {} bytes; it must be 32 (openssl rand -base64 32)",
                        i + 1,
                        bytes.len()
                    ));
                }
                Ok(XChaCha20Poly1305::new_from_slice(&bytes).expect("32-byte key"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if ciphers.is_empty() {
            return Err("holds no key".into());
        }
        Ok(Self { ciphers })
    }

    /// `aad` binds the ciphertext to its session, so blobs cannot be swapped between sessions.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self.ciphers[0]
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .expect("encryption of an in-memory buffer cannot fail");
        [nonce.as_slice(), &sealed].concat()
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, DecryptError> {
        if sealed.len() < 24 {
            return Err(DecryptError);
        }
        let (nonce, msg) = sealed.split_at(24);
        self.ciphers
            .iter()
            .find_map(|c| c.decrypt(XNonce::from_slice(nonce), Payload { msg, aad }).ok())
            .ok_or(DecryptError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

    #[test]
    fn data_sealed_under_an_old_key_opens_after_rotation() {
        let old = KeyRing::parse(K1).unwrap();
        let sealed = old.seal(b"refresh-token", b"session");
        let rotated = KeyRing::parse(&format!("{K2},{K1}")).unwrap();
        assert_eq!(rotated.open(&sealed, b"session").unwrap(), b"refresh-token");
        assert!(KeyRing::parse(K2).unwrap().open(&sealed, b"session").is_err());
    }

    #[test]
    fn a_blob_moved_to_another_session_does_not_open() {
        let ring = KeyRing::parse(K1).unwrap();
        let sealed = ring.seal(b"token", b"session-a");
        assert!(ring.open(&sealed, b"session-b").is_err());
        assert!(ring.open(b"short", b"session-a").is_err());
    }

    #[test]
    fn keys_of_the_wrong_length_are_refused() {
        assert!(KeyRing::parse("c2hvcnQ=").unwrap_err().contains("32"));
        assert!(KeyRing::parse("not base64!").is_err());
        assert!(KeyRing::parse(" , ").is_err());
    }
}
