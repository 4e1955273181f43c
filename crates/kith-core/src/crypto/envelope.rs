//! Envelopes: Automerge change bytes encrypted under the epoch key and signed
//! by the sending device.
//!
//! Layout of `Envelope::ciphertext`: sender device id (32) || nonce (24) ||
//! XChaCha20-Poly1305 ciphertext || Ed25519 signature (64) over everything
//! before it and the associated data. The associated data binds the stream,
//! the epoch and the sender, so an envelope cannot be replayed into another
//! stream or epoch.

use super::{CryptoError, EpochKey, Stream};
use crate::identity::{DeviceKeys, verify_signature};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use kith_proto::{DeviceId, Envelope};

const SIGNATURE_CONTEXT: &[u8] = b"kith/envelope/v1";

fn associated_data(stream: &Stream, epoch: u32, sender: &DeviceId) -> Vec<u8> {
    let doc = stream.label();
    let mut ad = Vec::with_capacity(SIGNATURE_CONTEXT.len() + doc.len() + 40);
    ad.extend_from_slice(SIGNATURE_CONTEXT);
    ad.extend_from_slice(&(doc.len() as u32).to_be_bytes());
    ad.extend_from_slice(doc.as_bytes());
    ad.extend_from_slice(&epoch.to_be_bytes());
    ad.extend_from_slice(sender.as_bytes());
    ad
}

/// Encrypts and signs `plaintext` for `stream`. `nonce` must be 24 fresh
/// random bytes; `item` names what is sealed (a change hash, so every device
/// derives the same envelope id for the same change).
pub fn seal_envelope(
    key: &EpochKey,
    epoch: u32,
    stream: &Stream,
    item: &[u8],
    sender: &DeviceKeys,
    plaintext: &[u8],
    nonce: [u8; 24],
) -> Result<Envelope, CryptoError> {
    let sender_id = sender.id();
    let ad = associated_data(stream, epoch, &sender_id);
    let cipher = XChaCha20Poly1305::new((&key.envelope_key()).into());
    let sealed = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &ad,
            },
        )
        .map_err(|_| CryptoError::Decrypt("envelope (encrypt)"))?;
    let mut body = Vec::with_capacity(32 + 24 + sealed.len() + 64);
    body.extend_from_slice(sender_id.as_bytes());
    body.extend_from_slice(&nonce);
    body.extend_from_slice(&sealed);
    let mut signed = ad;
    signed.extend_from_slice(&body);
    body.extend_from_slice(&sender.sign(&signed));
    Ok(Envelope {
        id: key.envelope_id(stream, item),
        epoch,
        ciphertext: body,
    })
}

/// What an opened envelope holds.
#[derive(Debug, PartialEq, Eq)]
pub struct OpenedEnvelope {
    /// The device that sealed it (the caller checks it belongs to a member).
    pub sender: DeviceId,
    /// The sealed bytes.
    pub plaintext: Vec<u8>,
}

/// Verifies the sender's signature and decrypts an envelope of `stream`
/// sealed under `key` (the key of `envelope.epoch`).
pub fn open_envelope(key: &EpochKey, stream: &Stream, envelope: &Envelope) -> Result<OpenedEnvelope, CryptoError> {
    let bytes = &envelope.ciphertext;
    if bytes.len() < 32 + 24 + 16 + 64 {
        return Err(CryptoError::Malformed("envelope"));
    }
    let (body, signature) = bytes.split_at(bytes.len() - 64);
    let sender = DeviceId::from_slice(&body[..32]).map_err(|_| CryptoError::Malformed("envelope sender"))?;
    let ad = associated_data(stream, envelope.epoch, &sender);
    let mut signed = ad.clone();
    signed.extend_from_slice(body);
    let signature: [u8; 64] = signature
        .try_into()
        .map_err(|_| CryptoError::Malformed("envelope signature"))?;
    if !verify_signature(sender.as_bytes(), &signed, &signature) {
        return Err(CryptoError::BadSignature);
    }
    let nonce = XNonce::from_slice(&body[32..56]);
    let cipher = XChaCha20Poly1305::new((&key.envelope_key()).into());
    let plaintext = cipher
        .decrypt(
            nonce,
            Payload {
                msg: &body[56..],
                aad: &ad,
            },
        )
        .map_err(|_| CryptoError::Decrypt("envelope"))?;
    Ok(OpenedEnvelope { sender, plaintext })
}
