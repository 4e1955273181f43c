//! Blob chunks: each attachment's bytes are cut into chunks of
//! [`BLOB_CHUNK_BYTES`] and each chunk sealed with XChaCha20-Poly1305 under
//! the blob's own key. The nonce is the chunk's index and whether it is the
//! last one, so chunks cannot be reordered, swapped between blobs, or the
//! blob cut short without the tag failing. One random key per blob makes a
//! counter nonce safe.

use super::CryptoError;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use kith_proto::{BLOB_CHUNK_BYTES, BLOB_CHUNK_OVERHEAD, BlobId};

const AD: &[u8] = b"kith/blob/v1";

fn nonce(index: u32, last: bool) -> XNonce {
    let mut bytes = [0u8; 24];
    bytes[..4].copy_from_slice(&index.to_be_bytes());
    bytes[4] = u8::from(last);
    XNonce::from(bytes)
}

/// Where the sync server keeps a blob: derived from its key, so only those
/// who can decrypt it can name it, and two sends of one file do not link.
pub fn blob_locator(key: &[u8; 32]) -> BlobId {
    BlobId(blake3::derive_key("kith blob locator v1", key))
}

/// How many chunks a blob of `size` plaintext bytes has (an empty blob has one).
pub fn plaintext_chunks(size: u64) -> u32 {
    u32::try_from(size.div_ceil(BLOB_CHUNK_BYTES as u64).max(1)).unwrap_or(u32::MAX)
}

/// Ciphertext size of a blob of `size` plaintext bytes.
pub fn sealed_size(size: u64) -> u64 {
    size + u64::from(plaintext_chunks(size)) * BLOB_CHUNK_OVERHEAD as u64
}

/// Seals chunk `index` (of `count`) of a blob.
pub fn seal_chunk(key: &[u8; 32], index: u32, count: u32, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if plaintext.len() > BLOB_CHUNK_BYTES || index >= count {
        return Err(CryptoError::Malformed("blob chunk"));
    }
    XChaCha20Poly1305::new(key.into())
        .encrypt(
            &nonce(index, index + 1 == count),
            Payload {
                msg: plaintext,
                aad: AD,
            },
        )
        .map_err(|_| CryptoError::Malformed("blob chunk"))
}

/// Opens chunk `index` (of `count`) of a blob.
pub fn open_chunk(key: &[u8; 32], index: u32, count: u32, ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if ciphertext.len() > BLOB_CHUNK_BYTES + BLOB_CHUNK_OVERHEAD || index >= count {
        return Err(CryptoError::Malformed("blob chunk"));
    }
    XChaCha20Poly1305::new(key.into())
        .decrypt(
            &nonce(index, index + 1 == count),
            Payload {
                msg: ciphertext,
                aad: AD,
            },
        )
        .map_err(|_| CryptoError::Decrypt("blob chunk"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn chunks_open_only_in_their_place() {
        let key = [7; 32];
        let sealed = seal_chunk(&key, 0, 2, b"first").unwrap();
        assert_eq!(sealed.len(), 5 + BLOB_CHUNK_OVERHEAD);
        assert_eq!(open_chunk(&key, 0, 2, &sealed).unwrap(), b"first");
        assert!(open_chunk(&key, 1, 2, &sealed).is_err(), "moved");
        assert!(open_chunk(&key, 0, 1, &sealed).is_err(), "claimed last: cut short");
        assert!(open_chunk(&[8; 32], 0, 2, &sealed).is_err(), "another blob's key");
        let mut flipped = sealed.clone();
        flipped[0] ^= 1;
        assert!(open_chunk(&key, 0, 2, &flipped).is_err(), "tampered");
        assert!(seal_chunk(&key, 0, 1, &vec![0; BLOB_CHUNK_BYTES + 1]).is_err());
    }

    #[test]
    fn sizes_and_locators() {
        assert_eq!(plaintext_chunks(0), 1);
        assert_eq!(sealed_size(0), BLOB_CHUNK_OVERHEAD as u64);
        let size = (BLOB_CHUNK_BYTES * 2 + 1) as u64;
        assert_eq!(plaintext_chunks(size), 3);
        assert_eq!(sealed_size(size), size + 3 * BLOB_CHUNK_OVERHEAD as u64);
        // The server's chunking of the ciphertext matches ours.
        assert_eq!(kith_proto::blob_chunk_count(sealed_size(size)), 3);
        assert_eq!(
            kith_proto::blob_chunk_len(sealed_size(size), 2),
            Some(1 + BLOB_CHUNK_OVERHEAD)
        );
        assert_ne!(blob_locator(&[1; 32]), blob_locator(&[2; 32]));
    }
}
