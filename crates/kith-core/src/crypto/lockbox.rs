//! Lockboxes: bytes (an epoch key, a connect request) sealed to one device's
//! X25519 key (ephemeral Diffie-Hellman, HKDF-SHA256, XChaCha20-Poly1305).

use super::{CryptoError, EpochKey};
use crate::identity::DeviceKeys;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

/// An epoch key sealed to one device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockbox {
    /// The sender's ephemeral X25519 public key.
    pub ephemeral: [u8; 32],
    /// XChaCha20 nonce.
    pub nonce: [u8; 24],
    /// The sealed epoch key (32 bytes + 16-byte tag).
    pub sealed: Vec<u8>,
}

fn wrapping_key(shared: &[u8; 32], ephemeral: &[u8; 32], recipient: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut info = Vec::with_capacity(80);
    info.extend_from_slice(b"kith/lockbox/v1");
    info.extend_from_slice(ephemeral);
    info.extend_from_slice(recipient);
    let mut key = Zeroizing::new([0u8; 32]);
    // A 32-byte output is always within HKDF-SHA256's limit.
    let _ = Hkdf::<Sha256>::new(None, shared).expand(&info, key.as_mut());
    key
}

/// Seals `key` (of `epoch`, bound as associated data) to the device whose
/// X25519 public key is `recipient`. `ephemeral_secret` and `nonce` are fresh
/// random bytes.
pub fn seal_lockbox(
    key: &EpochKey,
    epoch: u32,
    recipient: &[u8; 32],
    ephemeral_secret: [u8; 32],
    nonce: [u8; 24],
) -> Result<Lockbox, CryptoError> {
    seal_to_device(recipient, &epoch.to_be_bytes(), key.as_bytes(), ephemeral_secret, nonce)
}

/// Seals `plaintext` to the device whose X25519 public key is `recipient`,
/// binding `context` as associated data.
pub fn seal_to_device(
    recipient: &[u8; 32],
    context: &[u8],
    plaintext: &[u8],
    ephemeral_secret: [u8; 32],
    nonce: [u8; 24],
) -> Result<Lockbox, CryptoError> {
    let secret = StaticSecret::from(ephemeral_secret);
    let ephemeral = PublicKey::from(&secret).to_bytes();
    let shared = Zeroizing::new(secret.diffie_hellman(&PublicKey::from(*recipient)).to_bytes());
    let wrap = wrapping_key(&shared, &ephemeral, recipient);
    let sealed = XChaCha20Poly1305::new(wrap.as_ref().into())
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: context,
            },
        )
        .map_err(|_| CryptoError::Decrypt("lockbox (encrypt)"))?;
    Ok(Lockbox {
        ephemeral,
        nonce,
        sealed,
    })
}

/// Opens a lockbox holding an epoch key, sealed to this device.
pub fn open_lockbox(device: &DeviceKeys, epoch: u32, lockbox: &Lockbox) -> Result<EpochKey, CryptoError> {
    let opened = Zeroizing::new(open_sealed(device, &epoch.to_be_bytes(), lockbox)?);
    let bytes: [u8; 32] = opened
        .as_slice()
        .try_into()
        .map_err(|_| CryptoError::Malformed("lockbox key"))?;
    Ok(EpochKey::from_bytes(bytes))
}

/// Opens bytes sealed to this device with [`seal_to_device`].
pub fn open_sealed(device: &DeviceKeys, context: &[u8], lockbox: &Lockbox) -> Result<Vec<u8>, CryptoError> {
    let recipient = device.sealing_public();
    let shared = Zeroizing::new(
        device
            .sealing_secret()
            .diffie_hellman(&PublicKey::from(lockbox.ephemeral))
            .to_bytes(),
    );
    let wrap = wrapping_key(&shared, &lockbox.ephemeral, &recipient);
    XChaCha20Poly1305::new(wrap.as_ref().into())
        .decrypt(
            XNonce::from_slice(&lockbox.nonce),
            Payload {
                msg: &lockbox.sealed,
                aad: context,
            },
        )
        .map_err(|_| CryptoError::Decrypt("lockbox"))
}
