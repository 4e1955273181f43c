//! Linking a further device to an account through the sync server.
//!
//! The existing device shows a pairing code; the new device is given it.
//! Both derive the pairing stream's key from the code, so only holders of
//! the code can read or write that log. The new device posts a join request
//! signed by its fresh device key; the existing device answers with the
//! account key sealed to the new device's X25519 key. The new device then
//! issues its own certificate, lists itself in the account document and
//! syncs: the account document brings the contacts and conversation keys,
//! and with them every conversation's full history.

use crate::clock::system_now_ms;
use crate::devices::Devices;
use crate::error::ClientError;
use crate::profile::Profile;
use crate::random::random_bytes;
use crate::streams::{Followed, StreamKey, open_item, seal_item};
use kith_core::Identity;
use kith_core::crypto::{EpochKey, Stream, open_sealed, seal_to_device};
use kith_core::identity::DeviceKeys;
use kith_core::relay::RelayItem;
use kith_net::RelayConnection;
use kith_net::ServerTrust;
use kith_proto::{DeviceId, Envelope, MAX_PULL};
use std::path::Path;
use std::time::{Duration, Instant};

const PAIRING_STREAM_CONTEXT: &str = "kith 2026 pairing stream v1";
/// Associated data of the sealed account key.
const JOIN_CONTEXT: &[u8] = b"kith join v1";
/// How often to look for an answer when no poke arrives.
const POLL: Duration = Duration::from_millis(250);

/// A one-time pairing code: 16 random bytes, shown as 26 characters.
#[derive(Clone, PartialEq, Eq)]
pub struct PairingCode([u8; 16]);

impl std::fmt::Debug for PairingCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PairingCode(..)")
    }
}

impl std::fmt::Display for PairingCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&kith_proto::encode_id(&self.0))
    }
}

impl std::str::FromStr for PairingCode {
    type Err = ClientError;

    fn from_str(text: &str) -> Result<PairingCode, ClientError> {
        kith_proto::decode_id(&text.trim().to_ascii_lowercase())
            .and_then(|bytes| <[u8; 16]>::try_from(bytes.as_slice()).ok())
            .map(PairingCode)
            .ok_or_else(|| ClientError::BadInvite(format!("{text:?} is not a pairing code")))
    }
}

impl PairingCode {
    /// A fresh random code.
    pub fn generate() -> Result<PairingCode, ClientError> {
        Ok(PairingCode(random_bytes::<16>()?))
    }

    fn stream(&self) -> StreamKey {
        StreamKey::new(
            Followed::Pairing,
            Stream::Pairing,
            0,
            EpochKey::derive(PAIRING_STREAM_CONTEXT, &self.0),
        )
    }
}

/// Waits for pokes or polls, until `deadline`.
async fn wait(connection: &mut RelayConnection, deadline: Instant) -> Result<(), ClientError> {
    let left = deadline
        .checked_duration_since(Instant::now())
        .ok_or(ClientError::PairingTimedOut)?;
    tokio::select! {
        _ = connection.next_appended() => {}
        () = tokio::time::sleep(left.min(POLL)) => {}
    }
    Ok(())
}

/// Entries of the pairing log after `cursor` (which moves on).
async fn pull(
    connection: &RelayConnection,
    stream: &StreamKey,
    cursor: &mut u64,
) -> Result<Vec<Envelope>, ClientError> {
    let (entries, _) = connection
        .pull(stream.log(), stream.capability(), *cursor, MAX_PULL)
        .await?;
    if let Some((seq, _)) = entries.last() {
        *cursor = *seq;
    }
    Ok(entries.into_iter().map(|(_, envelope)| envelope).collect())
}

impl Profile {
    /// Makes a fresh profile in `dir` a further device of the account that
    /// shows `code`, then syncs its history.
    pub async fn join(dir: &Path, server: &str, code: &PairingCode, timeout: Duration) -> Result<Profile, ClientError> {
        Self::join_trusting(dir, server, &ServerTrust::platform(), code, timeout).await
    }

    /// [`Profile::join`] with a server whose certificate `trust` vouches
    /// for; a pinned certificate is kept in the new profile.
    pub async fn join_trusting(
        dir: &Path,
        server: &str,
        trust: &ServerTrust,
        code: &PairingCode,
        timeout: Duration,
    ) -> Result<Profile, ClientError> {
        if dir.join("identity.json").exists() {
            return Err(ClientError::AlreadyInitialised(dir.display().to_string()));
        }
        let deadline = Instant::now() + timeout;
        let seeds = [random_bytes::<32>()?, random_bytes::<32>()?];
        let device = DeviceKeys::from_seeds(seeds[0], seeds[1]);
        let mut connection = RelayConnection::connect_with(server, trust, &device).await?;
        let stream = code.stream();
        connection.subscribe(stream.log(), stream.capability()).await?;
        let request = seal_item(
            &stream,
            &random_bytes::<16>()?,
            &device,
            &RelayItem::JoinRequest {
                sealing_key: device.sealing_public(),
            },
        )?;
        connection
            .push(stream.log(), stream.capability(), vec![request])
            .await?;
        let mut cursor = 0;
        let account_seed = 'answer: loop {
            for envelope in pull(&connection, &stream, &mut cursor).await? {
                let Ok((sender, RelayItem::JoinAccept { sealed })) = open_item(&stream, &envelope) else {
                    continue;
                };
                if sender == device.id() {
                    continue;
                }
                let opened = open_sealed(&device, JOIN_CONTEXT, &sealed)
                    .map_err(ClientError::crypto("opening the account key"))?;
                let seed = <[u8; 32]>::try_from(opened.as_slice())
                    .map_err(|_| ClientError::Identity("the account key has the wrong size".into()))?;
                break 'answer seed;
            }
            wait(&mut connection, deadline).await?;
        };
        let identity = Identity::join(account_seed, seeds, system_now_ms());
        let profile = Profile::create(dir, identity, None)?;
        if let Some(pem) = trust.pinned_pem() {
            profile.relay().pin_server_certificate(pem)?;
        }
        profile
            .relay()
            .sync(&connection, crate::RelayOptions::WITHOUT_COMPACTION)
            .await?;
        Ok(profile)
    }
}

impl Devices<'_> {
    /// Waits (until `timeout`) for a new device to join with `code`, then
    /// hands it the account key. Returns the new device's id.
    pub async fn link(self, server: &str, code: &PairingCode, timeout: Duration) -> Result<DeviceId, ClientError> {
        let deadline = Instant::now() + timeout;
        // Not `Relay::connect`: linking a device does not make this the
        // profile's default server.
        let trust = self.profile.relay().server_trust()?;
        let mut connection =
            RelayConnection::connect_with(server, &trust, self.profile.identity().device_keys()).await?;
        let stream = code.stream();
        connection.subscribe(stream.log(), stream.capability()).await?;
        let own = self.profile.identity().device_id();
        let mut cursor = 0;
        loop {
            for envelope in pull(&connection, &stream, &mut cursor).await? {
                let Ok((sender, RelayItem::JoinRequest { sealing_key })) = open_item(&stream, &envelope) else {
                    continue;
                };
                if sender == own {
                    continue;
                }
                let sealed = seal_to_device(
                    &sealing_key,
                    JOIN_CONTEXT,
                    &self.profile.identity().account_seed(),
                    random_bytes::<32>()?,
                    random_bytes::<24>()?,
                )
                .map_err(ClientError::crypto("sealing the account key"))?;
                let answer = seal_item(
                    &stream,
                    &random_bytes::<16>()?,
                    self.profile.identity().device_keys(),
                    &RelayItem::JoinAccept { sealed },
                )?;
                connection.push(stream.log(), stream.capability(), vec![answer]).await?;
                return Ok(sender);
            }
            wait(&mut connection, deadline).await?;
        }
    }
}
