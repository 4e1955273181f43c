//! Account and device keys, and the certificate that binds a device to an account.
//!
//! Randomness is an input: keys are built from 32-byte seeds the caller draws
//! from the OS. Secrets are zeroized on drop.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use kith_proto::{AccountId, DeviceId};
use serde::{Deserialize, Serialize};
use x25519_dalek::{PublicKey as SealingPublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Domain separation for device certificate signatures.
const CERT_CONTEXT: &[u8] = b"kith/device-cert/v1";

/// Why an identity or a certificate was refused.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The bytes are not an encoded certificate or secret bundle.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
    /// A public key is not a valid Ed25519 point.
    #[error("invalid public key in {0}")]
    InvalidKey(&'static str),
    /// The certificate's signature does not verify under its account key.
    #[error("certificate of device {device} is not signed by account {account}")]
    BadSignature {
        /// The certified device.
        device: DeviceId,
        /// The account that supposedly signed.
        account: AccountId,
    },
    /// The secret bundle belongs to another device than its certificate says.
    #[error("secret keys do not match the certificate")]
    KeyMismatch,
}

/// The account key: a person's identity across all their devices.
#[derive(Clone)]
pub struct AccountKeys {
    signing: SigningKey,
}

impl AccountKeys {
    /// Builds the account key from a 32-byte random seed.
    pub fn from_seed(seed: [u8; 32]) -> AccountKeys {
        AccountKeys {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// The account id (its public key).
    pub fn id(&self) -> AccountId {
        AccountId::from_bytes(self.signing.verifying_key().to_bytes())
    }

    /// A secret only this account's devices can derive, for one purpose
    /// named by `context` (the key of the account's own relay stream).
    pub fn derive_secret(&self, context: &str) -> [u8; 32] {
        blake3::derive_key(context, self.signing.as_bytes())
    }

    /// Signs with the account key (device certificates, invites).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }
}

/// One device's keys: Ed25519 for signing (its id, actor id and PeerId) and X25519 for sealing.
#[derive(Clone)]
pub struct DeviceKeys {
    signing: SigningKey,
    sealing: StaticSecret,
}

impl DeviceKeys {
    /// Builds device keys from two 32-byte random seeds.
    pub fn from_seeds(signing_seed: [u8; 32], sealing_seed: [u8; 32]) -> DeviceKeys {
        DeviceKeys {
            signing: SigningKey::from_bytes(&signing_seed),
            sealing: StaticSecret::from(sealing_seed),
        }
    }

    /// The device id (its Ed25519 public key).
    pub fn id(&self) -> DeviceId {
        DeviceId::from_bytes(self.signing.verifying_key().to_bytes())
    }

    /// The X25519 public key others seal conversation keys to.
    pub fn sealing_public(&self) -> [u8; 32] {
        SealingPublicKey::from(&self.sealing).to_bytes()
    }

    /// Signs with the device key.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// The X25519 secret, for opening lockboxes sealed to this device.
    pub(crate) fn sealing_secret(&self) -> &StaticSecret {
        &self.sealing
    }

    /// The raw Ed25519 seed, for handing to libp2p as the node key.
    pub fn signing_seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }
}

/// Verifies an Ed25519 signature by `signer` over `message`.
pub fn verify_signature(signer: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    VerifyingKey::from_bytes(signer)
        .map(|key| key.verify(message, &Signature::from_bytes(signature)).is_ok())
        .unwrap_or(false)
}

/// The account key's statement that a device belongs to the account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCertificate {
    /// The account that owns the device.
    pub account: AccountId,
    /// The device's Ed25519 public key.
    pub device: DeviceId,
    /// The device's X25519 public key for sealed lockboxes.
    pub sealing_key: [u8; 32],
    /// When the certificate was issued (ms since the epoch), for display only.
    pub issued_ms: u64,
    /// Ed25519 signature by the account key over the fields above.
    #[serde(with = "signature_bytes")]
    pub signature: [u8; 64],
}

pub(crate) mod signature_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 64], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 64], D::Error> {
        let bytes = <Vec<u8>>::deserialize(deserializer)?;
        bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("signature must be 64 bytes"))
    }
}

impl DeviceCertificate {
    fn signed_bytes(account: &AccountId, device: &DeviceId, sealing_key: &[u8; 32], issued_ms: u64) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(CERT_CONTEXT.len() + 104);
        bytes.extend_from_slice(CERT_CONTEXT);
        bytes.extend_from_slice(account.as_bytes());
        bytes.extend_from_slice(device.as_bytes());
        bytes.extend_from_slice(sealing_key);
        bytes.extend_from_slice(&issued_ms.to_be_bytes());
        bytes
    }

    /// The account key certifies a device.
    pub fn issue(account: &AccountKeys, device: &DeviceKeys, issued_ms: u64) -> DeviceCertificate {
        let account_id = account.id();
        let device_id = device.id();
        let sealing_key = device.sealing_public();
        let signature = account.sign(&Self::signed_bytes(&account_id, &device_id, &sealing_key, issued_ms));
        DeviceCertificate {
            account: account_id,
            device: device_id,
            sealing_key,
            issued_ms,
            signature,
        }
    }

    /// Checks the account key's signature.
    pub fn verify(&self) -> Result<(), IdentityError> {
        let message = Self::signed_bytes(&self.account, &self.device, &self.sealing_key, self.issued_ms);
        if verify_signature(self.account.as_bytes(), &message, &self.signature) {
            Ok(())
        } else {
            Err(IdentityError::BadSignature {
                device: self.device,
                account: self.account,
            })
        }
    }

    /// Compact binary form (postcard).
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Decodes and verifies a certificate.
    pub fn from_bytes(bytes: &[u8]) -> Result<DeviceCertificate, IdentityError> {
        let cert: DeviceCertificate = postcard::from_bytes(bytes).map_err(|err| IdentityError::Malformed {
            what: "device certificate",
            reason: err.to_string(),
        })?;
        cert.verify()?;
        Ok(cert)
    }
}

/// Everything secret a device holds: its keys and the account key.
///
/// Every device of an account holds the account key, so any of them can link
/// a new device (DESIGN.md §3).
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct SecretBundle {
    version: u8,
    account_seed: [u8; 32],
    device_signing_seed: [u8; 32],
    device_sealing_seed: [u8; 32],
}

/// A device's complete identity: account keys, device keys and certificate.
#[derive(Clone)]
pub struct Identity {
    account: AccountKeys,
    device: DeviceKeys,
    certificate: DeviceCertificate,
}

impl Identity {
    /// Creates a new account with this device as its first device.
    /// `seeds` are three independent 32-byte random values.
    pub fn create(seeds: [[u8; 32]; 3], now_ms: u64) -> Identity {
        let account = AccountKeys::from_seed(seeds[0]);
        let device = DeviceKeys::from_seeds(seeds[1], seeds[2]);
        let certificate = DeviceCertificate::issue(&account, &device, now_ms);
        Identity {
            account,
            device,
            certificate,
        }
    }

    /// The account id.
    pub fn account_id(&self) -> AccountId {
        self.account.id()
    }

    /// This device's id.
    pub fn device_id(&self) -> DeviceId {
        self.device.id()
    }

    /// The account keys.
    pub fn account_keys(&self) -> &AccountKeys {
        &self.account
    }

    /// The device keys.
    pub fn device_keys(&self) -> &DeviceKeys {
        &self.device
    }

    /// This device's certificate.
    pub fn certificate(&self) -> &DeviceCertificate {
        &self.certificate
    }

    /// The secret seeds, for the OS keyring. The caller must keep them secret.
    pub fn secret_bytes(&self) -> Vec<u8> {
        let bundle = SecretBundle {
            version: 1,
            account_seed: self.account.signing.to_bytes(),
            device_signing_seed: self.device.signing.to_bytes(),
            device_sealing_seed: self.device.sealing.to_bytes(),
        };
        postcard::to_stdvec(&bundle).unwrap_or_default()
    }

    /// A further device of an existing account: `account_seed` was handed over
    /// by one of its devices; this device's own seeds are fresh. The device
    /// issues its own certificate with the account key.
    pub fn join(account_seed: [u8; 32], device_seeds: [[u8; 32]; 2], now_ms: u64) -> Identity {
        Identity::create([account_seed, device_seeds[0], device_seeds[1]], now_ms)
    }

    /// The account key seed, to hand to a new device of this account (sealed
    /// to it). The caller must keep it secret.
    pub fn account_seed(&self) -> [u8; 32] {
        self.account.signing.to_bytes()
    }

    /// Rebuilds the identity from keyring secrets and the stored certificate,
    /// checking that they belong together.
    pub fn restore(secret: &[u8], certificate: DeviceCertificate) -> Result<Identity, IdentityError> {
        let bundle: SecretBundle = postcard::from_bytes(secret).map_err(|err| IdentityError::Malformed {
            what: "secret key bundle",
            reason: err.to_string(),
        })?;
        let account = AccountKeys::from_seed(bundle.account_seed);
        let device = DeviceKeys::from_seeds(bundle.device_signing_seed, bundle.device_sealing_seed);
        certificate.verify()?;
        if account.id() != certificate.account || device.id() != certificate.device {
            return Err(IdentityError::KeyMismatch);
        }
        Ok(Identity {
            account,
            device,
            certificate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Identity {
        Identity::create([[1; 32], [2; 32], [3; 32]], 1_000)
    }

    #[test]
    fn certificate_round_trips_and_verifies() {
        let identity = alice();
        let bytes = identity.certificate().to_bytes();
        let cert = DeviceCertificate::from_bytes(&bytes).map_err(|e| e.to_string());
        assert_eq!(cert, Ok(identity.certificate().clone()));
    }

    #[test]
    fn a_tampered_certificate_is_refused() {
        let identity = alice();
        let mut cert = identity.certificate().clone();
        cert.device = DeviceId::from_bytes([9; 32]);
        assert!(matches!(
            DeviceCertificate::from_bytes(&cert.to_bytes()),
            Err(IdentityError::BadSignature { .. })
        ));
        assert!(DeviceCertificate::from_bytes(b"garbage").is_err());
    }

    #[test]
    fn secrets_restore_only_with_their_certificate() {
        let identity = alice();
        let restored = Identity::restore(&identity.secret_bytes(), identity.certificate().clone());
        assert_eq!(restored.map(|i| i.device_id()).ok(), Some(identity.device_id()));
        let other = Identity::create([[4; 32], [5; 32], [6; 32]], 1_000);
        assert!(matches!(
            Identity::restore(&identity.secret_bytes(), other.certificate().clone()),
            Err(IdentityError::KeyMismatch)
        ));
        assert!(Identity::restore(b"\x01\x02", identity.certificate().clone()).is_err());
    }
}
