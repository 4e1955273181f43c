//! The recovery phrase: 24 standard words (BIP-39, English) that bring an
//! account back when every device of it is lost.
//!
//! The phrase encodes 32 random bytes, the recovery secret, which no device
//! keeps: it exists only where the user wrote it down. From it derive an
//! X25519 key pair, the recovery key. The account document publishes the
//! public half; every device of the account seals a recovery kit (the
//! account key and the account stream keys it holds) to it and posts the kit
//! on the recovery log, a relay log named after the public key. Whoever holds
//! the phrase finds that log, opens the newest kits and becomes a device of
//! the account; the devices themselves can post kits but never open them.

use crate::crypto::{CryptoError, EpochKey, Lockbox, open_sealed, seal_to_device};
use crate::identity::{AccountKeys, DeviceKeys};
use kith_proto::{AccountId, DeviceId};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Words in a Kith recovery phrase (32 bytes of entropy).
pub const PHRASE_WORDS: usize = 24;
/// Key derivation context of the recovery key's X25519 secret.
const SEALING_CONTEXT: &str = "kith 2026 recovery sealing key v1";
/// Key derivation context of the recovery key's (unused) Ed25519 half.
const SIGNING_CONTEXT: &str = "kith 2026 recovery signing key v1";
/// Key derivation context of the recovery log's stream key, from the public key.
const LOG_CONTEXT: &str = "kith 2026 recovery log v1";
/// Associated data of a sealed recovery kit.
const KIT_CONTEXT: &[u8] = b"kith recovery kit v1";
/// The kit format this build writes.
const KIT_VERSION: u8 = 1;
/// Most account stream keys one kit carries (one per revocation).
pub const MAX_KIT_KEYS: usize = 1024;

/// Why a phrase or a kit was refused.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The text is not 24 words of the BIP-39 English list with a valid checksum.
    #[error("not a Kith recovery phrase: {0}")]
    NotAPhrase(String),
    /// The kit does not open with this phrase's key (another phrase's kit,
    /// or damaged).
    #[error("the recovery kit does not open with this phrase: {0}")]
    Sealed(#[from] CryptoError),
    /// The kit opened but its contents are not a kit this build reads.
    #[error("malformed recovery kit: {0}")]
    Malformed(String),
}

/// The 32-byte secret a recovery phrase spells.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RecoveryPhrase {
    entropy: [u8; 32],
}

impl std::fmt::Debug for RecoveryPhrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryPhrase(..)")
    }
}

impl RecoveryPhrase {
    /// A phrase for 32 random bytes (drawn by the caller from the OS).
    pub fn from_entropy(entropy: [u8; 32]) -> RecoveryPhrase {
        RecoveryPhrase { entropy }
    }

    /// Reads a phrase as a person types it: any case, any whitespace between
    /// the words. A mistyped word or a swapped pair fails the checksum.
    pub fn parse(text: &str) -> Result<RecoveryPhrase, RecoveryError> {
        let normalised = Zeroizing::new(
            text.split_whitespace()
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
                .join(" "),
        );
        let words = normalised.split(' ').filter(|w| !w.is_empty()).count();
        if words != PHRASE_WORDS {
            return Err(RecoveryError::NotAPhrase(format!(
                "it has {words} words, a Kith recovery phrase has {PHRASE_WORDS}"
            )));
        }
        let mnemonic = bip39::Mnemonic::parse_in_normalized(bip39::Language::English, &normalised)
            .map_err(|err| RecoveryError::NotAPhrase(err.to_string()))?;
        let (bytes, len) = mnemonic.to_entropy_array();
        let entropy = <[u8; 32]>::try_from(bytes.get(..len).unwrap_or_default())
            .map_err(|_| RecoveryError::NotAPhrase("wrong length".into()))?;
        Ok(RecoveryPhrase { entropy })
    }

    /// The 24 words, separated by single spaces. The caller shows them to
    /// the user and keeps them nowhere else.
    pub fn words(&self) -> Result<Zeroizing<String>, RecoveryError> {
        let mnemonic = bip39::Mnemonic::from_entropy_in(bip39::Language::English, &self.entropy)
            .map_err(|err| RecoveryError::NotAPhrase(err.to_string()))?;
        Ok(Zeroizing::new(mnemonic.words().collect::<Vec<_>>().join(" ")))
    }

    /// The recovery key the phrase stands for.
    pub fn key(&self) -> RecoveryKey {
        let sealing = blake3::derive_key(SEALING_CONTEXT, &self.entropy);
        let signing = blake3::derive_key(SIGNING_CONTEXT, &self.entropy);
        RecoveryKey {
            keys: DeviceKeys::from_seeds(signing, sealing),
        }
    }
}

/// The key a recovery phrase derives: opens the kits sealed to its public half.
#[derive(Clone)]
pub struct RecoveryKey {
    keys: DeviceKeys,
}

impl RecoveryKey {
    /// The public X25519 key the account document publishes.
    pub fn public(&self) -> [u8; 32] {
        self.keys.sealing_public()
    }

    /// Opens a kit sealed to this key.
    pub fn open_kit(&self, sealed: &Lockbox) -> Result<RecoveryKit, RecoveryError> {
        let bytes = Zeroizing::new(open_sealed(&self.keys, KIT_CONTEXT, sealed)?);
        RecoveryKit::decode(&bytes)
    }
}

/// The stream key of the recovery log of the recovery key `public`: every
/// device of the account can find and append to it; only the phrase opens
/// what is in it.
pub fn recovery_log_key(public: &[u8; 32]) -> EpochKey {
    EpochKey::derive(LOG_CONTEXT, public)
}

/// One account stream key in a kit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct KitStreamKey {
    /// The key's epoch (1 and up: epoch 0 derives from the account key).
    pub epoch: u32,
    /// The key.
    pub key: [u8; 32],
    /// The device that started the epoch.
    pub started_by: [u8; 32],
}

/// What a recovered device needs from the account's devices: the account
/// key and the account stream keys of every epoch since the first.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct RecoveryKit {
    version: u8,
    /// The account key's seed.
    pub account_seed: [u8; 32],
    /// Account stream keys of epochs 1 and up.
    pub stream_keys: Vec<KitStreamKey>,
}

impl RecoveryKit {
    /// A kit of the account key `account_seed` and these stream keys.
    pub fn new(account_seed: [u8; 32], stream_keys: Vec<KitStreamKey>) -> RecoveryKit {
        RecoveryKit {
            version: KIT_VERSION,
            account_seed,
            stream_keys,
        }
    }

    /// The account the kit brings back.
    pub fn account(&self) -> AccountId {
        AccountKeys::from_seed(self.account_seed).id()
    }

    /// The stream keys, as (epoch, key, starting device).
    pub fn stream_keys(&self) -> Vec<(u32, EpochKey, DeviceId)> {
        self.stream_keys
            .iter()
            .map(|k| (k.epoch, EpochKey::from_bytes(k.key), DeviceId::from_bytes(k.started_by)))
            .collect()
    }

    /// Seals the kit to the recovery key `public`; `ephemeral_secret` and
    /// `nonce` are fresh random bytes.
    pub fn seal(
        &self,
        public: &[u8; 32],
        ephemeral_secret: [u8; 32],
        nonce: [u8; 24],
    ) -> Result<Lockbox, RecoveryError> {
        let bytes = Zeroizing::new(postcard::to_stdvec(self).map_err(|err| RecoveryError::Malformed(err.to_string()))?);
        Ok(seal_to_device(public, KIT_CONTEXT, &bytes, ephemeral_secret, nonce)?)
    }

    fn decode(bytes: &[u8]) -> Result<RecoveryKit, RecoveryError> {
        let kit: RecoveryKit = postcard::from_bytes(bytes).map_err(|err| RecoveryError::Malformed(err.to_string()))?;
        if kit.version != KIT_VERSION {
            return Err(RecoveryError::Malformed(format!(
                "kit version {} (this build reads {KIT_VERSION})",
                kit.version
            )));
        }
        if kit.stream_keys.len() > MAX_KIT_KEYS {
            return Err(RecoveryError::Malformed("too many stream keys".into()));
        }
        Ok(kit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phrase() -> RecoveryPhrase {
        RecoveryPhrase::from_entropy([7; 32])
    }

    #[test]
    fn a_phrase_round_trips_through_its_words_in_any_case_and_spacing() {
        let words = phrase().words().map(|w| w.to_string()).unwrap_or_default();
        assert_eq!(words.split(' ').count(), PHRASE_WORDS);
        let typed = format!("  {}\n", words.to_uppercase().replace(' ', "   "));
        let parsed = RecoveryPhrase::parse(&typed).map(|p| p.key().public()).ok();
        assert_eq!(parsed, Some(phrase().key().public()));
    }

    #[test]
    fn a_mistyped_phrase_is_refused_with_a_reason() {
        let words = phrase().words().map(|w| w.to_string()).unwrap_or_default();
        let mut list: Vec<&str> = words.split(' ').collect();
        // Two different words swapped: the checksum catches it.
        let (a, b) = (list[0], list[1]);
        assert_ne!(a, b);
        list.swap(0, 1);
        let swapped = RecoveryPhrase::parse(&list.join(" "));
        assert!(matches!(swapped, Err(RecoveryError::NotAPhrase(_))));
        let short = RecoveryPhrase::parse(&list[..12].join(" "));
        assert!(short.is_err_and(|e| e.to_string().contains("24")));
        let unknown = RecoveryPhrase::parse(&format!("kith {}", list[1..].join(" ")));
        assert!(matches!(unknown, Err(RecoveryError::NotAPhrase(_))));
    }

    #[test]
    fn a_kit_opens_only_with_its_phrase() {
        let kit = RecoveryKit::new(
            [3; 32],
            vec![KitStreamKey {
                epoch: 1,
                key: [4; 32],
                started_by: [5; 32],
            }],
        );
        let sealed = kit.seal(&phrase().key().public(), [8; 32], [9; 24]);
        let Ok(sealed) = sealed else {
            panic!("sealing failed");
        };
        let opened = phrase()
            .key()
            .open_kit(&sealed)
            .map(|k| (k.account(), k.stream_keys().len()));
        assert_eq!(opened.ok(), Some((AccountKeys::from_seed([3; 32]).id(), 1)));
        let other = RecoveryPhrase::from_entropy([1; 32]).key().open_kit(&sealed);
        assert!(matches!(other, Err(RecoveryError::Sealed(_))));
        assert_ne!(
            recovery_log_key(&phrase().key().public()).key_id(),
            recovery_log_key(&[0; 32]).key_id()
        );
    }
}
