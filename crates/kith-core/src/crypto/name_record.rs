//! The record a username points to, as the sync server keeps it: sealed
//! with XChaCha20-Poly1305 under a key derived from the name itself, so the
//! server (which sees only the name's hash) cannot read whose name it is,
//! while anyone who knows the name can.

use super::CryptoError;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use kith_proto::{AccountId, MAX_NAME_RECORD_BYTES};
use serde::{Deserialize, Serialize};

const AD: &[u8] = b"kith/username/v1";

/// Whom a username reaches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameRecord {
    /// The name as its owner typed it.
    pub username: String,
    /// The account.
    pub account: AccountId,
    /// The certificate of the device that takes requests for the name
    /// (its inbox and sealing key).
    pub certificate: Vec<u8>,
}

impl NameRecord {
    /// Seals the record under `key` (from [`kith_proto::Username::record_key`])
    /// with a fresh `nonce`: nonce || ciphertext.
    pub fn seal(&self, key: &[u8; 32], nonce: [u8; 24]) -> Result<Vec<u8>, CryptoError> {
        let plaintext = postcard::to_stdvec(self).map_err(|_| CryptoError::Malformed("name record"))?;
        let sealed = XChaCha20Poly1305::new(key.into())
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &plaintext,
                    aad: AD,
                },
            )
            .map_err(|_| CryptoError::Malformed("name record"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        if out.len() > MAX_NAME_RECORD_BYTES {
            return Err(CryptoError::Malformed("name record (too large)"));
        }
        Ok(out)
    }

    /// Opens a sealed record (what the server answered for a name).
    pub fn open(key: &[u8; 32], sealed: &[u8]) -> Result<NameRecord, CryptoError> {
        if sealed.len() < 24 || sealed.len() > MAX_NAME_RECORD_BYTES {
            return Err(CryptoError::Malformed("name record"));
        }
        let (nonce, ciphertext) = sealed.split_at(24);
        let plaintext = XChaCha20Poly1305::new(key.into())
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: AD,
                },
            )
            .map_err(|_| CryptoError::Decrypt("name record"))?;
        postcard::from_bytes(&plaintext).map_err(|_| CryptoError::Malformed("name record"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_record_opens_only_with_its_names_key() {
        let record = NameRecord {
            username: "alice".into(),
            account: AccountId::from_bytes([1; 32]),
            certificate: vec![2; 100],
        };
        let sealed = record.seal(&[3; 32], [4; 24]).unwrap();
        assert!(
            !sealed.windows(5).any(|w| w == b"alice"),
            "the name is not in the clear"
        );
        assert_eq!(NameRecord::open(&[3; 32], &sealed).unwrap(), record);
        assert!(matches!(
            NameRecord::open(&[5; 32], &sealed),
            Err(CryptoError::Decrypt(_))
        ));
        assert!(NameRecord::open(&[3; 32], &sealed[..10]).is_err());
        let mut flipped = sealed.clone();
        flipped[30] ^= 1;
        assert!(NameRecord::open(&[3; 32], &flipped).is_err());
    }
}
