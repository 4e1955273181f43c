//! The sealing of backup files: a key from a passphrase through Argon2id,
//! and numbered XChaCha20-Poly1305 frames bound to the file's header.
//!
//! A file is a header (magic, format, Argon2 parameters, salt) and frames.
//! Frame `i` is sealed under a nonce made of a random per-file prefix and
//! `i`, with the header and whether it is the last frame as associated data:
//! a wrong passphrase fails on the first frame, and a frame changed, moved,
//! dropped or cut off at the end fails to open.

use super::CryptoError;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

/// The first bytes of every Kith backup file.
pub const BACKUP_MAGIC: &[u8; 8] = b"KITHBAK\0";
/// The format this build writes and reads.
pub const BACKUP_FORMAT: u8 = 1;
/// Header length: magic, format, memory KiB, passes, lanes, salt, nonce prefix.
pub const BACKUP_HEADER_LEN: usize = 8 + 1 + 4 + 4 + 4 + 16 + 16;
/// Largest plaintext of one frame.
pub const MAX_FRAME_PLAINTEXT: usize = 1024 * 1024;
/// Argon2id memory in KiB for new backups (64 MiB).
const MEMORY_KIB: u32 = 64 * 1024;
/// Argon2id passes for new backups.
const PASSES: u32 = 3;
/// Most memory a backup header may ask for (1 GiB): a crafted file cannot
/// make a restore allocate more.
const MAX_MEMORY_KIB: u32 = 1024 * 1024;
/// Most passes a header may ask for.
const MAX_PASSES: u32 = 16;

/// The header of one backup file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupHeader {
    memory_kib: u32,
    passes: u32,
    lanes: u32,
    salt: [u8; 16],
    nonce_prefix: [u8; 16],
}

impl BackupHeader {
    /// A header for a new file; `salt` and `nonce_prefix` are fresh random bytes.
    pub fn new(salt: [u8; 16], nonce_prefix: [u8; 16]) -> BackupHeader {
        BackupHeader {
            memory_kib: MEMORY_KIB,
            passes: PASSES,
            lanes: 1,
            salt,
            nonce_prefix,
        }
    }

    /// The encoded header.
    pub fn encode(&self) -> [u8; BACKUP_HEADER_LEN] {
        let mut out = [0u8; BACKUP_HEADER_LEN];
        let mut bytes = Vec::with_capacity(BACKUP_HEADER_LEN);
        bytes.extend_from_slice(BACKUP_MAGIC);
        bytes.push(BACKUP_FORMAT);
        bytes.extend_from_slice(&self.memory_kib.to_be_bytes());
        bytes.extend_from_slice(&self.passes.to_be_bytes());
        bytes.extend_from_slice(&self.lanes.to_be_bytes());
        bytes.extend_from_slice(&self.salt);
        bytes.extend_from_slice(&self.nonce_prefix);
        out.copy_from_slice(&bytes);
        out
    }

    /// Reads a header, refusing other files and parameters a restore
    /// should not be made to spend.
    pub fn decode(bytes: &[u8]) -> Result<BackupHeader, CryptoError> {
        if bytes.len() < BACKUP_HEADER_LEN || bytes.get(..8) != Some(BACKUP_MAGIC.as_slice()) {
            return Err(CryptoError::Malformed("not a Kith backup file"));
        }
        if bytes.get(8) != Some(&BACKUP_FORMAT) {
            return Err(CryptoError::Malformed("a backup format this build does not read"));
        }
        let word = |at: usize| {
            bytes
                .get(at..at + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes)
                .unwrap_or(0)
        };
        let array = |at: usize| {
            bytes
                .get(at..at + 16)
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .unwrap_or_default()
        };
        let header = BackupHeader {
            memory_kib: word(9),
            passes: word(13),
            lanes: word(17),
            salt: array(21),
            nonce_prefix: array(37),
        };
        if header.memory_kib > MAX_MEMORY_KIB
            || header.memory_kib < 8
            || header.passes == 0
            || header.passes > MAX_PASSES
            || header.lanes != 1
        {
            return Err(CryptoError::Malformed("backup key parameters out of range"));
        }
        Ok(header)
    }

    /// The file key for `passphrase` (Argon2id with the header's parameters).
    pub fn key(&self, passphrase: &str) -> Result<BackupKey, CryptoError> {
        let params = argon2::Params::new(self.memory_kib, self.passes, self.lanes, Some(32))
            .map_err(|_| CryptoError::Malformed("backup key parameters"))?;
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut key = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(passphrase.as_bytes(), &self.salt, key.as_mut())
            .map_err(|_| CryptoError::Malformed("backup key derivation"))?;
        Ok(BackupKey {
            key,
            nonce_prefix: self.nonce_prefix,
            header: self.encode(),
        })
    }
}

/// The key of one backup file, with what every frame is bound to.
pub struct BackupKey {
    key: Zeroizing<[u8; 32]>,
    nonce_prefix: [u8; 16],
    header: [u8; BACKUP_HEADER_LEN],
}

impl BackupKey {
    fn nonce(&self, index: u64) -> [u8; 24] {
        let mut nonce = [0u8; 24];
        nonce[..16].copy_from_slice(&self.nonce_prefix);
        nonce[16..].copy_from_slice(&index.to_be_bytes());
        nonce
    }

    fn aad(&self, last: bool) -> Vec<u8> {
        let mut aad = self.header.to_vec();
        aad.push(u8::from(last));
        aad
    }

    /// Seals frame `index` (`last` for the final one).
    pub fn seal_frame(&self, index: u64, last: bool, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if plaintext.len() > MAX_FRAME_PLAINTEXT {
            return Err(CryptoError::Malformed("backup frame too large"));
        }
        XChaCha20Poly1305::new(self.key.as_ref().into())
            .encrypt(
                XNonce::from_slice(&self.nonce(index)),
                Payload {
                    msg: plaintext,
                    aad: &self.aad(last),
                },
            )
            .map_err(|_| CryptoError::Decrypt("backup frame (encrypt)"))
    }

    /// Opens frame `index`, saying whether it is the last one. Fails for a
    /// wrong passphrase and for any change to the file.
    pub fn open_frame(&self, index: u64, ciphertext: &[u8]) -> Result<(Zeroizing<Vec<u8>>, bool), CryptoError> {
        let cipher = XChaCha20Poly1305::new(self.key.as_ref().into());
        let nonce = self.nonce(index);
        for last in [false, true] {
            let opened = cipher.decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: ciphertext,
                    aad: &self.aad(last),
                },
            );
            if let Ok(plaintext) = opened {
                return Ok((Zeroizing::new(plaintext), last));
            }
        }
        Err(CryptoError::Decrypt("backup frame"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap_header() -> BackupHeader {
        BackupHeader {
            memory_kib: 8,
            passes: 1,
            lanes: 1,
            salt: [1; 16],
            nonce_prefix: [2; 16],
        }
    }

    #[test]
    fn frames_open_only_in_place_and_with_the_passphrase() {
        let header = cheap_header();
        let decoded = BackupHeader::decode(&header.encode()).ok();
        assert_eq!(decoded.as_ref(), Some(&header));
        let Ok(key) = header.key("correct horse") else {
            panic!("key derivation failed");
        };
        let first = key.seal_frame(0, false, b"keys").unwrap_or_default();
        let last = key.seal_frame(1, true, b"end").unwrap_or_default();
        assert_eq!(
            key.open_frame(0, &first).map(|(p, l)| (p.to_vec(), l)).ok(),
            Some((b"keys".to_vec(), false))
        );
        assert_eq!(key.open_frame(1, &last).map(|(_, l)| l).ok(), Some(true));
        // Moved, tampered or opened with another passphrase: refused.
        assert!(key.open_frame(1, &first).is_err());
        let mut flipped = first.clone();
        flipped[0] ^= 1;
        assert!(key.open_frame(0, &flipped).is_err());
        let Ok(wrong) = header.key("wrong horse") else {
            panic!("key derivation failed");
        };
        assert!(wrong.open_frame(0, &first).is_err());
    }

    #[test]
    fn headers_of_other_files_or_costly_parameters_are_refused() {
        assert!(BackupHeader::decode(b"PK\x03\x04 not a backup at all, a zip file!!!!!!!!!!!!!!!!!!!!!!").is_err());
        let mut greedy = cheap_header();
        greedy.memory_kib = u32::MAX;
        assert!(BackupHeader::decode(&greedy.encode()).is_err());
        assert!(BackupHeader::decode(&cheap_header().encode()[..20]).is_err());
    }
}
