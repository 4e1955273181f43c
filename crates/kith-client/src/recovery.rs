//! The recovery phrase on a device: making one, keeping the account's
//! recovery kit on the server up to date, and rebuilding an account whose
//! devices are all lost from the phrase alone (kith_core::recovery has the
//! scheme).

use crate::clock::system_now_ms;
use crate::error::ClientError;
use crate::profile::Profile;
use crate::random::random_bytes;
use crate::streams::{Followed, StreamKey, open_item, random_nonce};
use kith_core::Identity;
use kith_core::crypto::{EpochKey, Stream};
use kith_core::docs::account;
use kith_core::identity::DeviceKeys;
use kith_core::recovery::{KitStreamKey, RecoveryKit, RecoveryPhrase, recovery_log_key};
use kith_core::relay::RelayItem;
use kith_net::{RelayConnection, ServerTrust};
use kith_proto::{DeviceId, DocId, MAX_PULL};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Meta key: fingerprint of the last kit this device put on the server.
pub(crate) const RECOVERY_KIT_META: &str = "recovery/kit-posted";

/// Whether the account can be recovered from a phrase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecoveryStatus {
    /// A recovery phrase was made (on any device of the account).
    pub phrase_made: bool,
    /// This device's kit for the newest phrase is on the server.
    pub kit_on_server: bool,
}

/// The recovery log of the recovery key `public`.
pub(crate) fn recovery_stream(public: &[u8; 32]) -> StreamKey {
    StreamKey::new(Followed::Recovery, Stream::Recovery, 0, recovery_log_key(public))
}

/// An account stream key as a kit carries it: epoch, key, starting device.
type AccountStreamKey = (u32, EpochKey, DeviceId);

/// A kit ready to post: where, what, and its fingerprint once posted.
pub(crate) struct PendingKit {
    pub(crate) stream: StreamKey,
    pub(crate) item: RelayItem,
    pub(crate) fingerprint: [u8; 32],
}

/// The account's recovery phrase, seen from one device.
#[derive(Clone, Copy, Debug)]
pub struct Recovery<'p> {
    pub(crate) profile: &'p Profile,
}

impl Profile {
    /// The account's recovery phrase.
    pub fn recovery(&self) -> Recovery<'_> {
        Recovery { profile: self }
    }
}

impl Recovery<'_> {
    /// Makes a new recovery phrase for this account and publishes its public
    /// key in the account document; from the next sync on, every device
    /// keeps a kit sealed to it on the server. A previous phrase gets no
    /// newer kits (but opens the ones already posted: see ARCHITECTURE.md).
    /// The caller shows the words once and keeps them nowhere.
    pub fn new_phrase(self) -> Result<RecoveryPhrase, ClientError> {
        let phrase = RecoveryPhrase::from_entropy(random_bytes::<32>()?);
        let public = phrase.key().public();
        let me = self.profile.identity().account_id();
        self.profile.write(|ctx| {
            account::set_recovery_key(ctx.doc(DocId::Account(me))?, &public)?;
            Ok(())
        })?;
        Ok(phrase)
    }

    /// Whether a phrase exists and this device's kit for it is on the server.
    pub fn status(self) -> Result<RecoveryStatus, ClientError> {
        let phrase_made = self.profile.recovery_public()?.is_some();
        Ok(RecoveryStatus {
            phrase_made,
            kit_on_server: phrase_made && self.profile.unposted_kit()?.is_none(),
        })
    }
}

/// What this device's next kit holds, before it is sealed.
struct UnpostedKit {
    public: [u8; 32],
    stream_keys: Vec<KitStreamKey>,
    fingerprint: [u8; 32],
}

impl Profile {
    fn recovery_public(&self) -> Result<Option<[u8; 32]>, ClientError> {
        let me = self.identity().account_id();
        self.read_doc(DocId::Account(me), account::recovery_key)
    }

    /// The kit this device still has to post: the account has a recovery
    /// phrase and the last kit posted is not the current one (another
    /// phrase, or account stream keys it did not hold).
    fn unposted_kit(&self) -> Result<Option<UnpostedKit>, ClientError> {
        let Some(public) = self.recovery_public()? else {
            return Ok(None);
        };
        let stream_keys = self.kit_stream_keys()?;
        let mut hasher = blake3::Hasher::new_derive_key("kith 2026 recovery kit fingerprint v1");
        hasher.update(&public);
        for key in &stream_keys {
            hasher.update(&key.epoch.to_be_bytes());
            hasher.update(&key.started_by);
            hasher.update(blake3::hash(&key.key).as_bytes());
        }
        let fingerprint = *hasher.finalize().as_bytes();
        if self.store().meta(RECOVERY_KIT_META)?.as_deref() == Some(fingerprint.as_slice()) {
            return Ok(None);
        }
        Ok(Some(UnpostedKit {
            public,
            stream_keys,
            fingerprint,
        }))
    }

    /// The unposted kit, sealed and ready for the recovery log.
    pub(crate) fn pending_recovery_kit(&self) -> Result<Option<PendingKit>, ClientError> {
        let Some(unposted) = self.unposted_kit()? else {
            return Ok(None);
        };
        let kit = RecoveryKit::new(self.identity().account_seed(), unposted.stream_keys);
        let sealed = kit.seal(&unposted.public, random_bytes::<32>()?, random_nonce()?)?;
        Ok(Some(PendingKit {
            stream: recovery_stream(&unposted.public),
            item: RelayItem::RecoveryKit { sealed },
            fingerprint: unposted.fingerprint,
        }))
    }

    /// The account stream keys of epochs 1 and up, as a kit or a backup carries them.
    pub(crate) fn kit_stream_keys(&self) -> Result<Vec<KitStreamKey>, ClientError> {
        Ok(self
            .later_account_keys()?
            .into_iter()
            .map(|(epoch, key, started_by)| KitStreamKey {
                epoch,
                key: *key.as_bytes(),
                started_by: *started_by.as_bytes(),
            })
            .collect())
    }

    /// Rebuilds an account in the fresh directory `dir` from its recovery
    /// phrase alone: opens the account's kits on `server`, becomes a new
    /// device of the account (its own keys and certificate) and syncs
    /// contacts, groups and history. Nothing is written unless a kit opens.
    pub async fn recover(
        dir: &Path,
        server: &str,
        trust: &ServerTrust,
        phrase: &RecoveryPhrase,
    ) -> Result<Profile, ClientError> {
        if dir.join("identity.json").exists() {
            return Err(ClientError::AlreadyInitialised(dir.display().to_string()));
        }
        let key = phrase.key();
        let seeds = [random_bytes::<32>()?, random_bytes::<32>()?];
        let device = DeviceKeys::from_seeds(seeds[0], seeds[1]);
        let connection = RelayConnection::connect_with(server, trust, &device).await?;
        let stream = recovery_stream(&key.public());
        let mut kits = Vec::new();
        let mut cursor = 0;
        loop {
            let (entries, _) = connection
                .pull(stream.log(), stream.capability(), cursor, MAX_PULL)
                .await?;
            let Some((last, _)) = entries.last() else { break };
            cursor = *last;
            for (_, envelope) in entries {
                // Anything else on the log (junk from whoever knows the public
                // key, a kit for another phrase) is skipped, never fatal.
                let Ok((_, RelayItem::RecoveryKit { sealed })) = open_item(&stream, &envelope) else {
                    continue;
                };
                match key.open_kit(&sealed) {
                    Ok(kit) => kits.push(kit),
                    Err(err) => tracing::warn!("skipped a recovery kit: {err}"),
                }
            }
        }
        // Per account: its key seed and every stream key its kits carry.
        let mut by_account: BTreeMap<kith_proto::AccountId, ([u8; 32], Vec<AccountStreamKey>)> = BTreeMap::new();
        for kit in kits {
            let entry = by_account
                .entry(kit.account())
                .or_insert_with(|| (kit.account_seed, Vec::new()));
            entry.1.extend(kit.stream_keys());
        }
        if by_account.len() > 1 {
            return Err(ClientError::AmbiguousRecovery(by_account.len()));
        }
        let Some((_, (seed, stream_keys))) = by_account.pop_first() else {
            return Err(ClientError::NoRecoveryKit {
                server: server.to_owned(),
            });
        };
        let identity = Identity::join(seed, seeds, system_now_ms());
        let profile = Profile::create(dir, identity, None)?;
        if let Some(pem) = trust.pinned_pem() {
            profile.relay().pin_server_certificate(pem)?;
        }
        for (epoch, stream_key, started_by) in &stream_keys {
            profile.keep_account_key(*epoch, stream_key, started_by)?;
        }
        profile
            .relay()
            .sync(&connection, crate::RelayOptions::WITHOUT_COMPACTION)
            .await?;
        Ok(profile)
    }
}
