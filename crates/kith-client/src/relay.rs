//! The relay path: this profile's documents and mail through `kith-server`,
//! end-to-end encrypted.
//!
//! One pass uploads what the server does not have yet and pulls what is new,
//! for every stream this profile follows:
//! - its account stream (the account document, shared by its own devices),
//! - its current invite's stream (connect requests from people who hold it),
//! - one pairwise channel per contact (their profile and conversation keys),
//! - one stream per conversation and key epoch (head and segment changes).
//!
//! The outbox is durable without a queue: per (stream, epoch, document) the
//! heads known to be on the server are kept in the store, and everything not
//! below them is uploaded. A process killed mid-upload uploads again after a
//! restart; the server ignores envelope ids it already has.

use crate::contacts::{Invite, PENDING_CONNECT_PREFIX};
use crate::error::ClientError;
use crate::keys::{ACCOUNT_GRANT_PREFIX, REVOKED_NOTICE_PREFIX};
use crate::profile::Profile;
use crate::random::random_bytes;
use crate::streams::{Followed, StreamKey, random_nonce, seal_item};
use automerge::{Change, ChangeHash};
use kith_core::DeviceCertificate;
use kith_core::crypto::{EpochKey, Stream, open_envelope, open_lockbox, open_sealed, seal_lockbox, seal_to_device};
use kith_core::docs::account;
use kith_core::docs::chunks::ChunkKind;
use kith_core::docs::contact::{ContactRecord, ContactState};
use kith_core::relay::{ConnectRequest, RelayItem};
use kith_net::RelayConnection;
use kith_proto::{AccountId, ChatId, DocId, Envelope, LogId, MAX_ENVELOPES_PER_PUSH, MAX_PULL};
use std::collections::{BTreeMap, BTreeSet};

/// Key derivation contexts (never change them: they name existing logs).
const INVITE_STREAM_CONTEXT: &str = "kith 2026 invite stream v1";
const CONTACT_STREAM_CONTEXT: &str = "kith 2026 contact stream v1";
/// Associated data of a sealed connect request.
const CONNECT_CONTEXT: &[u8] = b"kith connect v1";
/// Meta key prefixes of the relay state not yet in tables (cursors, compaction
/// marks and uploaded heads are: see `Store::relay_log`).
const HELLO_PREFIX: &str = "relay/hello/";
const GRANT_PREFIX: &str = "relay/grant/";
const LAST_SERVER_META: &str = "relay/last-server";
/// Associated data of a sealed account stream key.
const ACCOUNT_KEY_CONTEXT: &[u8] = b"kith account key v1";
/// Most change bytes in one snapshot envelope (well inside an envelope).
const SNAPSHOT_PART_BYTES: usize = 192 * 1024;
/// Compact a log after this many entries (see [`RelayOptions`]).
pub const DEFAULT_COMPACT_AFTER: u64 = 5_000;
/// Keep pushes well inside one frame.
const PUSH_BUDGET_BYTES: usize = 768 * 1024;
/// A sync that keeps finding new work this many times is cut short (the
/// next run continues).
const MAX_PASSES: usize = 64;

/// How a relay sync behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelayOptions {
    /// Compact a log this device writes to once it has grown by this many
    /// entries since its last compaction; `None`: no compaction in this sync
    /// (latency-sensitive callers, a sync inside another operation).
    pub compact_after: Option<u64>,
}

impl RelayOptions {
    /// A sync that only exchanges (the logs are compacted by a later one).
    pub const WITHOUT_COMPACTION: RelayOptions = RelayOptions { compact_after: None };
}

impl Default for RelayOptions {
    fn default() -> Self {
        RelayOptions {
            compact_after: Some(DEFAULT_COMPACT_AFTER),
        }
    }
}

/// What a relay sync did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RelayReport {
    /// Envelopes uploaded (changes and mail).
    pub uploaded: usize,
    /// Changes received and accepted.
    pub applied: usize,
    /// Contacts that answered or were added by an invite.
    pub contacts: usize,
    /// Conversation keys received.
    pub keys: usize,
    /// Envelopes that could not be opened or were refused.
    pub refused: usize,
    /// Passes made.
    pub passes: usize,
    /// Logs compacted (snapshot pushed, old entries superseded).
    pub compacted: usize,
    /// Attachments uploaded.
    pub blobs_uploaded: usize,
    /// Attachments fetched.
    pub blobs_downloaded: usize,
}

impl RelayReport {
    fn add(&mut self, other: RelayReport) {
        self.uploaded += other.uploaded;
        self.applied += other.applied;
        self.contacts += other.contacts;
        self.keys += other.keys;
        self.refused += other.refused;
        self.passes += other.passes;
        self.compacted += other.compacted;
        self.blobs_uploaded += other.blobs_uploaded;
        self.blobs_downloaded += other.blobs_downloaded;
    }

    fn found_work(&self) -> bool {
        self.uploaded + self.applied + self.contacts + self.keys > 0
    }
}

/// What `delete-account` did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeletionReport {
    /// Chats left.
    pub chats_left: usize,
    /// Contacts told.
    pub contacts_told: usize,
    /// Logs deleted on the server.
    pub logs_deleted: usize,
}

fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

fn decode_heads(bytes: &[u8]) -> Vec<ChangeHash> {
    bytes
        .chunks_exact(32)
        .filter_map(|c| <[u8; 32]>::try_from(c).ok().map(ChangeHash))
        .collect()
}

impl Profile {
    /// Replaces the history of every log this device writes to that grew by
    /// `after` entries since its last compaction with a snapshot: all changes
    /// of its documents, packed densely, pushed as new entries; then the
    /// server is told the old entries are superseded (it deletes them after
    /// its grace period). Skipped while any change of those documents waits
    /// in quarantine: the snapshot must hold everything the old entries did.
    async fn compact_streams(&self, connection: &RelayConnection, after: u64) -> Result<usize, ClientError> {
        let me = self.identity().account_id();
        let held = self.relay().chat_keys()?;
        let chats: BTreeSet<ChatId> = held.keys().map(|(chat, _, _)| *chat).collect();
        let mut plan: Vec<(StreamKey, Vec<DocId>)> = vec![(self.account_stream()?, vec![DocId::Account(me)])];
        let doc_ids = self.store().doc_ids()?;
        for chat in chats {
            if let Some((epoch, key)) = self.committed_keys(chat, &held)?.pop() {
                let docs = doc_ids.iter().copied().filter(|d| d.chat() == Some(chat)).collect();
                plan.push((
                    StreamKey::new(Followed::Chat(chat), Stream::Chat(chat), epoch, key),
                    docs,
                ));
            }
        }
        let mut compacted = 0;
        for (stream, docs) in plan {
            let state = self.store().relay_log(&stream.log())?.unwrap_or_default();
            let cursor = state.pulled.unwrap_or(0);
            if cursor.saturating_sub(state.compacted) < after || cursor == 0 {
                continue;
            }
            let mut waiting = false;
            for doc in &docs {
                waiting |= !self.store().quarantined(doc)?.is_empty();
            }
            if waiting {
                continue;
            }
            let mut envelopes = Vec::new();
            for doc in &docs {
                let (changes, _) = self.docs().changes_since(*doc, &[])?;
                let mut packed: Vec<u8> = Vec::new();
                for mut change in changes {
                    let bytes = change.bytes();
                    if !packed.is_empty() && packed.len() + bytes.len() > SNAPSHOT_PART_BYTES {
                        envelopes.push(self.snapshot_envelope(&stream, *doc, std::mem::take(&mut packed))?);
                    }
                    packed.extend_from_slice(&bytes);
                }
                if !packed.is_empty() {
                    envelopes.push(self.snapshot_envelope(&stream, *doc, packed)?);
                }
            }
            self.push_all(connection, &stream, envelopes).await?;
            connection.compact(stream.log(), stream.capability(), cursor).await?;
            let mut txn = self.store().begin_write()?;
            txn.set_relay_compacted(&stream.log(), cursor)?;
            txn.commit()?;
            tracing::info!(through = cursor, "compacted a relay log");
            compacted += 1;
        }
        Ok(compacted)
    }

    fn snapshot_envelope(&self, stream: &StreamKey, doc: DocId, changes: Vec<u8>) -> Result<Envelope, ClientError> {
        let item = RelayItem::Changes {
            doc: doc.to_string(),
            changes,
        };
        self.seal(stream, &random_bytes::<16>()?, &item)
    }

    /// Every account stream this device holds a key for, oldest first.
    /// Epoch 0's key derives from the account key; each revocation starts a
    /// new epoch whose random key reaches the remaining devices in lockboxes.
    fn account_streams(&self) -> Result<Vec<StreamKey>, ClientError> {
        let me = self.identity().account_id();
        Ok(self
            .account_keys_held()?
            .into_iter()
            .map(|(epoch, key)| StreamKey::new(Followed::Account, Stream::Account(me), epoch, key))
            .collect())
    }

    /// The account stream this device writes to: the newest epoch.
    fn account_stream(&self) -> Result<StreamKey, ClientError> {
        self.account_streams()?
            .pop()
            .ok_or_else(|| ClientError::Identity("no account stream".into()))
    }

    fn contact_stream(account: AccountId, record: &ContactRecord) -> StreamKey {
        StreamKey::new(
            Followed::Contact(account),
            Stream::Contact,
            0,
            EpochKey::derive(CONTACT_STREAM_CONTEXT, &record.channel_secret),
        )
    }

    fn invite_stream(secret: &[u8; 32]) -> StreamKey {
        StreamKey::new(
            Followed::Invite,
            Stream::Invite,
            0,
            EpochKey::derive(INVITE_STREAM_CONTEXT, secret),
        )
    }

    /// Every stream this profile follows.
    pub(crate) fn followed_streams(&self) -> Result<Vec<StreamKey>, ClientError> {
        let mut out = self.account_streams()?;
        out.push(Self::invite_stream(&self.contacts().invite_secret()?));
        for (account, record) in self.contacts().records()? {
            if !record.blocked {
                out.push(Self::contact_stream(account, &record));
            }
        }
        for ((chat, epoch, _), key) in self.relay().chat_keys()? {
            out.push(StreamKey::new(Followed::Chat(chat), Stream::Chat(chat), epoch, key));
        }
        Ok(out)
    }

    /// One pass: upload, then pull `only` these logs (all when `None`) plus
    /// any log not followed before. Returns what it did and the logs that
    /// had entries or are new.
    async fn relay_pass(
        &self,
        connection: &RelayConnection,
        only: Option<&BTreeSet<LogId>>,
    ) -> Result<(RelayReport, BTreeSet<LogId>), ClientError> {
        let mut report = RelayReport {
            passes: 1,
            ..RelayReport::default()
        };
        report.uploaded += self.upload_documents(connection).await?;
        report.uploaded += self.upload_mail(connection).await?;
        let mut active = BTreeSet::new();
        for stream in self.followed_streams()? {
            let log = stream.log();
            let known = self
                .store()
                .relay_log(&log)?
                .is_some_and(|state| state.pulled.is_some());
            if let Some(only) = only
                && known
                && !only.contains(&log)
            {
                continue;
            }
            let pulled = self.pull_stream(connection, &stream).await?;
            if pulled.applied + pulled.contacts + pulled.keys + pulled.refused > 0 || !known {
                active.insert(log);
            }
            if let (Followed::Chat(chat), true) = (stream.followed(), pulled.applied > 0) {
                // Tell the senders their messages reached this account.
                self.mark_delivered(&chat)?;
            }
            report.add(pulled);
        }
        Ok((report, active))
    }

    /// Uploads every change the server does not have yet: the account
    /// document on the account stream, each conversation's documents on its
    /// newest epoch's stream.
    async fn upload_documents(&self, connection: &RelayConnection) -> Result<usize, ClientError> {
        let me = self.identity().account_id();
        let mut plan: Vec<(StreamKey, DocId)> = vec![(self.account_stream()?, DocId::Account(me))];
        let held = self.relay().chat_keys()?;
        let chats: BTreeSet<ChatId> = held.keys().map(|(chat, _, _)| *chat).collect();
        let mut newest: BTreeMap<ChatId, (u32, EpochKey)> = BTreeMap::new();
        let mut handed_over = 0;
        for chat in chats {
            let mut committed = self.committed_keys(chat, &held)?;
            handed_over += self.upload_epoch_handover(connection, chat, &committed).await?;
            if let Some((epoch, key)) = committed.pop() {
                newest.insert(chat, (epoch, key));
            }
        }
        // Every own message committed before this point is uploaded once the
        // documents below are (the clock only moves forward).
        let through = self.stored_hlc()?;
        let chats_uploaded: Vec<ChatId> = newest.keys().copied().collect();
        let doc_ids = self.store().doc_ids()?;
        for (chat, (epoch, key)) in newest {
            let stream = StreamKey::new(Followed::Chat(chat), Stream::Chat(chat), epoch, key);
            for doc in doc_ids.iter().filter(|d| d.chat() == Some(chat)) {
                plan.push((stream.clone(), *doc));
            }
        }
        let mut uploaded = handed_over;
        for (stream, doc) in plan {
            uploaded += self.upload_document(connection, &stream, doc).await?;
        }
        for chat in chats_uploaded {
            self.note_uploaded_through(&chat, through)?;
        }
        Ok(uploaded)
    }

    /// The head change that started the newest epoch, with its ancestors, also
    /// goes to the previous epoch's log: members left behind there (someone
    /// just removed) learn that the conversation moved on and that they are
    /// no longer in it, and nothing written afterwards.
    async fn upload_epoch_handover(
        &self,
        connection: &RelayConnection,
        chat: ChatId,
        committed: &[(u32, EpochKey)],
    ) -> Result<usize, ClientError> {
        let [.., (previous, previous_key), (newest, _)] = committed else {
            return Ok(0);
        };
        let head = DocId::Head(chat);
        let stream = StreamKey::new(
            Followed::Chat(chat),
            Stream::Chat(chat),
            *previous,
            previous_key.clone(),
        );
        let (pending, _) = self.not_uploaded(&stream, head)?;
        let wanted = kith_core::schema::epoch_key(*newest);
        let Some(commit) = pending.iter().find(|change| {
            change
                .decode()
                .operations
                .iter()
                .any(|op| matches!(&op.key, automerge::legacy::Key::Map(key) if key.as_str() == wanted))
        }) else {
            return Ok(0);
        };
        let commit_hash = commit.hash();
        let deps: BTreeMap<ChangeHash, Vec<ChangeHash>> =
            pending.iter().map(|c| (c.hash(), c.deps().to_vec())).collect();
        let mut keep = BTreeSet::new();
        let mut stack = vec![commit_hash];
        while let Some(hash) = stack.pop() {
            if let Some(parents) = deps.get(&hash)
                && keep.insert(hash)
            {
                stack.extend(parents.iter().copied());
            }
        }
        let handover: Vec<Change> = pending.into_iter().filter(|c| keep.contains(&c.hash())).collect();
        let count = self.push_changes(connection, &stream, head, handover).await?;
        let mut known = self
            .store()
            .relay_uploaded(&stream.log(), &head)?
            .map(|b| decode_heads(&b))
            .unwrap_or_default();
        known.push(commit_hash);
        let mut txn = self.store().begin_write()?;
        txn.set_relay_uploaded(&stream.log(), &head, &encode_heads(&known))?;
        txn.commit()?;
        Ok(count)
    }

    /// The changes of `doc` not yet on `stream`'s log, and the document's heads.
    fn not_uploaded(&self, stream: &StreamKey, doc: DocId) -> Result<(Vec<Change>, Vec<ChangeHash>), ClientError> {
        let known = self
            .store()
            .relay_uploaded(&stream.log(), &doc)?
            .map(|b| decode_heads(&b))
            .unwrap_or_default();
        self.docs().changes_since(doc, &known)
    }

    async fn upload_document(
        &self,
        connection: &RelayConnection,
        stream: &StreamKey,
        doc: DocId,
    ) -> Result<usize, ClientError> {
        let (changes, heads) = self.not_uploaded(stream, doc)?;
        if changes.is_empty() {
            return Ok(0);
        }
        let count = self.push_changes(connection, stream, doc, changes).await?;
        let mut txn = self.store().begin_write()?;
        txn.set_relay_uploaded(&stream.log(), &doc, &encode_heads(&heads))?;
        txn.commit()?;
        tracing::debug!(%doc, count, "uploaded changes");
        Ok(count)
    }

    /// Seals each change of `doc` (envelope id from its hash, so re-uploads
    /// are idempotent) and pushes them; returns how many.
    async fn push_changes(
        &self,
        connection: &RelayConnection,
        stream: &StreamKey,
        doc: DocId,
        changes: Vec<Change>,
    ) -> Result<usize, ClientError> {
        let doc_text = doc.to_string();
        let mut envelopes = Vec::with_capacity(changes.len());
        for mut change in changes {
            let item = RelayItem::Change {
                doc: doc_text.clone(),
                change: change.bytes().to_vec(),
            };
            envelopes.push(self.seal(stream, change.hash().as_ref(), &item)?);
        }
        let count = envelopes.len();
        self.push_all(connection, stream, envelopes).await?;
        Ok(count)
    }

    fn seal(&self, stream: &StreamKey, item_id: &[u8], item: &RelayItem) -> Result<Envelope, ClientError> {
        seal_item(stream, item_id, self.identity().device_keys(), item)
    }

    /// Seals one item under a fresh id and pushes it alone (mail: connect
    /// requests, hellos, keys, notices).
    async fn push_item(
        &self,
        connection: &RelayConnection,
        stream: &StreamKey,
        item: &RelayItem,
    ) -> Result<(), ClientError> {
        let envelope = self.seal(stream, &random_bytes::<16>()?, item)?;
        connection
            .push(stream.log(), stream.capability(), vec![envelope])
            .await?;
        Ok(())
    }
}

impl Profile {
    /// Pushes envelopes in frames that fit the protocol's limits.
    async fn push_all(
        &self,
        connection: &RelayConnection,
        stream: &StreamKey,
        envelopes: Vec<Envelope>,
    ) -> Result<(), ClientError> {
        let mut batch: Vec<Envelope> = Vec::new();
        let mut bytes = 0;
        for envelope in envelopes {
            let size = envelope.ciphertext.len() + 64;
            if !batch.is_empty() && (bytes + size > PUSH_BUDGET_BYTES || batch.len() >= MAX_ENVELOPES_PER_PUSH) {
                connection
                    .push(stream.log(), stream.capability(), std::mem::take(&mut batch))
                    .await?;
                bytes = 0;
            }
            bytes += size;
            batch.push(envelope);
        }
        if !batch.is_empty() {
            connection.push(stream.log(), stream.capability(), batch).await?;
        }
        Ok(())
    }

    /// Connect requests, hellos and conversation keys still to be sent.
    async fn upload_mail(&self, connection: &RelayConnection) -> Result<usize, ClientError> {
        let contacts = self.contacts().records()?;
        let name = self.store().profile_name(&self.identity().account_id())?;
        let cert = self.identity().certificate().to_bytes();
        let mut sent = self.upload_connects(connection, &contacts, &cert, &name).await?;
        sent += self.upload_revocation_mail(connection, &contacts).await?;
        sent += self.upload_hellos(connection, &contacts, &cert, &name).await?;
        sent += self.upload_grants(connection, &contacts).await?;
        Ok(sent)
    }

    /// Connect requests for invites this account used.
    async fn upload_connects(
        &self,
        connection: &RelayConnection,
        contacts: &BTreeMap<AccountId, ContactRecord>,
        cert: &[u8],
        name: &Option<String>,
    ) -> Result<usize, ClientError> {
        let mut sent = 0;
        // Connect requests for invites we used.
        for (key, bytes) in self.store().meta_with_prefix(PENDING_CONNECT_PREFIX)? {
            let Some(account) = key
                .strip_prefix(PENDING_CONNECT_PREFIX)
                .and_then(|a| a.parse::<AccountId>().ok())
            else {
                continue;
            };
            let (Some(invite), Some(record)) = (Invite::from_pending(account, &bytes), contacts.get(&account)) else {
                continue;
            };
            let request = ConnectRequest {
                invite_secret: invite.secret,
                certificate: cert.to_vec(),
                name: name.clone(),
                channel_secret: record.channel_secret,
            };
            let sealed = seal_to_device(
                &invite.sealing_key,
                CONNECT_CONTEXT,
                &request.encode(),
                random_bytes::<32>()?,
                random_nonce()?,
            )
            .map_err(|err| ClientError::Identity(format!("sealing a connect request: {err}")))?;
            let stream = Self::invite_stream(&invite.secret);
            self.push_item(connection, &stream, &RelayItem::Connect { sealed })
                .await?;
            let mut txn = self.store().begin_write()?;
            txn.delete_meta(&key)?;
            txn.commit()?;
            sent += 1;
        }
        Ok(sent)
    }

    /// A hello on every contact channel, again whenever the name or picture changes.
    async fn upload_hellos(
        &self,
        connection: &RelayConnection,
        contacts: &BTreeMap<AccountId, ContactRecord>,
        cert: &[u8],
        name: &Option<String>,
    ) -> Result<usize, ClientError> {
        let mut sent = 0;
        // A hello on every contact channel, again whenever the name changes.
        let hello = RelayItem::Hello {
            certificates: vec![cert.to_vec()],
            name: name.clone(),
            avatar: self.avatar(None)?,
        };
        let hello_id = blake3::hash(&hello.encode());
        for (account, record) in contacts.iter().filter(|(_, r)| !r.blocked) {
            let key = format!("{HELLO_PREFIX}{account}");
            if self.store().meta(&key)?.as_deref() == Some(hello_id.as_bytes().as_slice()) {
                continue;
            }
            let stream = Self::contact_stream(*account, record);
            self.push_item(connection, &stream, &hello).await?;
            let mut txn = self.store().begin_write()?;
            txn.set_meta(&key, hello_id.as_bytes())?;
            txn.commit()?;
            sent += 1;
        }
        Ok(sent)
    }

    /// Conversation keys for members who are contacts and lack them.
    async fn upload_grants(
        &self,
        connection: &RelayConnection,
        contacts: &BTreeMap<AccountId, ContactRecord>,
    ) -> Result<usize, ClientError> {
        let mut sent = 0;
        let held = self.relay().chat_keys()?;
        let chats: BTreeSet<ChatId> = held.keys().map(|(chat, _, _)| *chat).collect();
        let mut grants = Vec::new();
        for chat in chats {
            for (epoch, key) in self.committed_keys(chat, &held)? {
                grants.push((chat, epoch, key));
            }
        }
        for (chat, epoch, key) in grants {
            let Some(row) = self.store().chat(&chat)? else { continue };
            for member in row.members.keys() {
                let Some(record) = contacts.get(member).filter(|r| !r.blocked) else {
                    continue;
                };
                let meta_key = format!("{GRANT_PREFIX}{chat}/{epoch}/{}/{member}", key.key_id());
                if self.store().meta(&meta_key)?.is_some() {
                    continue;
                }
                let devices: Vec<DeviceCertificate> = self
                    .store()
                    .devices(member)?
                    .into_iter()
                    .filter(|d| d.revoked_at.is_none())
                    .map(|d| d.cert)
                    .collect();
                if devices.is_empty() {
                    // Their hello has not arrived yet; grant on a later pass.
                    continue;
                }
                let mut lockboxes = Vec::with_capacity(devices.len());
                for device in &devices {
                    let lockbox =
                        seal_lockbox(&key, epoch, &device.sealing_key, random_bytes::<32>()?, random_nonce()?)
                            .map_err(|err| ClientError::Identity(format!("sealing a lockbox: {err}")))?;
                    lockboxes.push((device.device, lockbox));
                }
                let stream = Self::contact_stream(*member, record);
                let item = RelayItem::ChatKey { chat, epoch, lockboxes };
                self.push_item(connection, &stream, &item).await?;
                let mut txn = self.store().begin_write()?;
                txn.set_meta(&meta_key, &[1])?;
                txn.commit()?;
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// New account stream keys for this account's remaining devices, and
    /// revocation notices for contacts.
    async fn upload_revocation_mail(
        &self,
        connection: &RelayConnection,
        contacts: &BTreeMap<AccountId, ContactRecord>,
    ) -> Result<usize, ClientError> {
        let mut sent = 0;
        let me = self.identity().account_id();
        let own = self.identity().device_id();
        let streams = self.account_streams()?;
        for (meta_key, _) in self.store().meta_with_prefix(ACCOUNT_GRANT_PREFIX)? {
            let Some((epoch, key_id)) = meta_key
                .strip_prefix(ACCOUNT_GRANT_PREFIX)
                .and_then(|rest| rest.split_once('/'))
                .and_then(|(e, id)| e.parse::<u32>().ok().map(|e| (e, id.to_owned())))
            else {
                continue;
            };
            let Some(new) = streams
                .iter()
                .find(|s| s.epoch() == epoch && s.key().key_id() == key_id)
            else {
                continue;
            };
            let mut lockboxes = Vec::new();
            for entry in self.store().devices(&me)? {
                if entry.revoked_at.is_some() || entry.cert.device == own {
                    continue;
                }
                let lockbox = seal_to_device(
                    &entry.cert.sealing_key,
                    ACCOUNT_KEY_CONTEXT,
                    new.key().as_bytes(),
                    random_bytes::<32>()?,
                    random_nonce()?,
                )
                .map_err(|err| ClientError::Identity(format!("sealing an account key: {err}")))?;
                lockboxes.push((entry.cert.device, lockbox));
            }
            let item = RelayItem::AccountKey { epoch, lockboxes };
            // On every older stream: each remaining device follows at least one.
            for older in streams.iter().filter(|s| s.epoch() < epoch) {
                self.push_item(connection, older, &item).await?;
                sent += 1;
            }
            let mut txn = self.store().begin_write()?;
            txn.delete_meta(&meta_key)?;
            txn.commit()?;
        }
        for (meta_key, _) in self.store().meta_with_prefix(REVOKED_NOTICE_PREFIX)? {
            let Some(device) = meta_key
                .strip_prefix(REVOKED_NOTICE_PREFIX)
                .and_then(|d| d.parse::<kith_proto::DeviceId>().ok())
            else {
                continue;
            };
            for (account, record) in contacts.iter().filter(|(_, r)| !r.blocked) {
                let stream = Self::contact_stream(*account, record);
                self.push_item(connection, &stream, &RelayItem::DeviceRevoked { device })
                    .await?;
                sent += 1;
            }
            let mut txn = self.store().begin_write()?;
            txn.delete_meta(&meta_key)?;
            txn.commit()?;
        }
        Ok(sent)
    }

    /// Pulls and handles everything after this stream's cursor.
    async fn pull_stream(&self, connection: &RelayConnection, stream: &StreamKey) -> Result<RelayReport, ClientError> {
        let log = stream.log();
        let mut cursor = self
            .store()
            .relay_log(&log)?
            .and_then(|state| state.pulled)
            .unwrap_or(0);
        let mut report = RelayReport::default();
        loop {
            let (entries, more) = connection
                .pull(stream.log(), stream.capability(), cursor, MAX_PULL)
                .await?;
            let Some(last) = entries.last().map(|(seq, _)| *seq) else {
                break;
            };
            report.add(self.handle_entries(stream, entries)?);
            cursor = last;
            let mut txn = self.store().begin_write()?;
            txn.set_relay_pulled(&log, cursor)?;
            txn.commit()?;
            if !more {
                break;
            }
        }
        Ok(report)
    }

    fn handle_entries(&self, stream: &StreamKey, entries: Vec<(u64, Envelope)>) -> Result<RelayReport, ClientError> {
        let mut report = RelayReport::default();
        let own_device = self.identity().device_id();
        let mut changes: BTreeMap<DocId, Vec<Change>> = BTreeMap::new();
        for (seq, envelope) in entries {
            let Some((sender, item)) = open_entry(stream, seq, &envelope) else {
                report.refused += 1;
                continue;
            };
            // Mail from this account's other devices (they write on the same
            // channels) is not from the contact.
            let own =
                sender == own_device || self.store().device_account(&sender)? == Some(self.identity().account_id());
            match (item, stream.followed()) {
                (RelayItem::Change { doc, change }, followed) => match parse_change(&doc, change, followed) {
                    Some((doc, change)) => changes.entry(doc).or_default().push(change),
                    None => report.refused += 1,
                },
                (RelayItem::Changes { doc, changes: packed }, followed) => {
                    match document_of_stream(&doc, followed).and_then(|doc| Some((doc, unpack_changes(&packed)?))) {
                        Some((doc, unpacked)) => changes.entry(doc).or_default().extend(unpacked),
                        None => report.refused += 1,
                    }
                }
                (item, followed) => self.handle_mail(item, followed, &sender, own, &mut report)?,
            }
        }
        for (doc, batch) in changes {
            let pulled: BTreeSet<ChangeHash> = batch.iter().map(|c| c.hash()).collect();
            report.applied += self.apply_pulled(doc, batch, &mut report)?;
            self.note_on_server(stream, doc, &pulled)?;
        }
        Ok(report)
    }

    /// Applies the changes of one document pulled in one go. A batch that
    /// the document refuses as a whole (two changes with one actor and
    /// sequence number, say) is applied change by change, so one bad entry
    /// costs only itself and never stops the stream's cursor.
    fn apply_pulled(&self, doc: DocId, batch: Vec<Change>, report: &mut RelayReport) -> Result<usize, ClientError> {
        match self.docs().apply_changes(doc, batch.clone()) {
            Ok(applied) => Ok(applied),
            Err(ClientError::Doc(err)) => {
                tracing::warn!(%doc, %err, "a pulled batch was refused; applying its changes one by one");
                let mut applied = 0;
                for change in batch {
                    match self.docs().apply_changes(doc, vec![change]) {
                        Ok(n) => applied += n,
                        Err(ClientError::Doc(err)) => {
                            tracing::warn!(%doc, %err, "refused a pulled change");
                            report.refused += 1;
                        }
                        Err(err) => return Err(err),
                    }
                }
                Ok(applied)
            }
            Err(err) => Err(err),
        }
    }

    /// One item that is not a document change: keys, contact mail, connect
    /// requests. `own`: it came from another device of this account.
    fn handle_mail(
        &self,
        item: RelayItem,
        followed: Followed,
        sender: &kith_proto::DeviceId,
        own: bool,
        report: &mut RelayReport,
    ) -> Result<(), ClientError> {
        let own_device = self.identity().device_id();
        match (item, followed) {
            (RelayItem::AccountKey { epoch, lockboxes }, Followed::Account) => {
                let Some((_, lockbox)) = lockboxes.iter().find(|(d, _)| *d == own_device) else {
                    return Ok(());
                };
                match open_sealed(self.identity().device_keys(), ACCOUNT_KEY_CONTEXT, lockbox)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                {
                    Some(bytes) => {
                        if self.keep_account_key(epoch, &EpochKey::from_bytes(bytes))? {
                            report.keys += 1;
                        }
                    }
                    None => report.refused += 1,
                }
            }
            (_, _) if own => {}
            (RelayItem::DeviceRevoked { device }, Followed::Contact(account)) => {
                // Only a device of that account may say so, and not about itself.
                let sender_account = self.store().device_account(sender)?;
                if sender_account == Some(account)
                    && device != *sender
                    && self.store().device_account(&device)? == Some(account)
                {
                    let at_ms = i64::try_from(self.now_ms()).unwrap_or(i64::MAX);
                    let mut txn = self.store().begin_write()?;
                    txn.apply(&[kith_core::ReadModelUpdate::DeviceRevoked { device, at_ms }])?;
                    txn.commit()?;
                } else {
                    report.refused += 1;
                }
            }
            (
                RelayItem::Hello {
                    certificates,
                    name,
                    avatar,
                },
                Followed::Contact(account),
            ) => {
                let mut changed = self.handle_hello(&account, &certificates, name)?;
                if let Some(avatar) = avatar {
                    changed |= self.keep_contact_avatar(&account, &avatar)?;
                }
                if changed {
                    report.contacts += 1;
                }
            }
            (RelayItem::ChatKey { chat, epoch, lockboxes }, Followed::Contact(_)) => {
                let Some((_, lockbox)) = lockboxes.iter().find(|(d, _)| *d == own_device) else {
                    return Ok(());
                };
                match open_lockbox(self.identity().device_keys(), epoch, lockbox) {
                    Ok(key) => {
                        if self.keep_chat_key(chat, epoch, &key)? {
                            report.keys += 1;
                        }
                    }
                    Err(err) => {
                        tracing::warn!(%chat, %err, "a conversation key did not open");
                        report.refused += 1;
                    }
                }
            }
            (RelayItem::Goodbye, Followed::Contact(account)) => {
                if let Some(mut record) = self.contacts().get(&account)?
                    && record.state != ContactState::Deleted
                {
                    record.state = ContactState::Deleted;
                    self.put_contact(&account, &record)?;
                    report.contacts += 1;
                }
            }
            (RelayItem::Connect { sealed }, Followed::Invite) => match self.handle_connect(&sealed, sender) {
                Ok(true) => report.contacts += 1,
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(%err, "refused a connect request");
                    report.refused += 1;
                }
            },
            (other, followed) => {
                tracing::warn!(?followed, item = ?std::mem::discriminant(&other), "item on the wrong stream");
                report.refused += 1;
            }
        }
        Ok(())
    }

    /// Changes just pulled from a stream are on the server: when they are all
    /// this document lacks above its uploaded heads, move those heads so
    /// the changes are not uploaded back.
    fn note_on_server(&self, stream: &StreamKey, doc: DocId, pulled: &BTreeSet<ChangeHash>) -> Result<(), ClientError> {
        let (pending, heads) = self.not_uploaded(stream, doc)?;
        if pending.is_empty() || !pending.iter().all(|c| pulled.contains(&c.hash())) {
            return Ok(());
        }
        let mut txn = self.store().begin_write()?;
        txn.set_relay_uploaded(&stream.log(), &doc, &encode_heads(&heads))?;
        txn.commit()?;
        Ok(())
    }

    /// A contact told us who they are. Returns whether anything changed.
    fn handle_hello(
        &self,
        account: &AccountId,
        certificates: &[Vec<u8>],
        name: Option<String>,
    ) -> Result<bool, ClientError> {
        if self.contacts().get(account)?.is_none() {
            return Ok(false);
        }
        for bytes in certificates {
            match DeviceCertificate::from_bytes(bytes) {
                Ok(cert) if cert.account == *account && cert.verify().is_ok() => {
                    self.docs().learn_certificate(&cert)?
                }
                _ => tracing::warn!(%account, "ignored a certificate that is not theirs"),
            }
        }
        self.mark_accepted(account, usable_name(name))
    }

    /// Deletes this account: leaves every chat, says goodbye to every
    /// contact, deletes the account's own logs on the server (the account
    /// document with its contacts and keys, and the invite), then erases the
    /// secret keys and the profile directory. Messages already sent stay with
    /// the people they were sent to, as in any messenger.
    pub async fn delete_account(self, server: &str) -> Result<DeletionReport, ClientError> {
        let connection = RelayConnection::connect(server, self.identity().device_keys(), self.now_ms()).await?;
        // Bring everything in first, so no chat or contact is missed.
        self.relay().sync(&connection, RelayOptions::WITHOUT_COMPACTION).await?;
        let me = self.identity().account_id();
        let mut report = DeletionReport::default();
        for chat in self.store().chat_list(&me)? {
            if chat.chat.members.contains_key(&me) {
                self.chats().remove_member(&chat.chat.chat, &me)?;
                report.chats_left += 1;
            }
        }
        for (account, record) in self.contacts().records()? {
            if record.blocked {
                continue;
            }
            let stream = Self::contact_stream(account, &record);
            self.push_item(&connection, &stream, &RelayItem::Goodbye).await?;
            report.contacts_told += 1;
        }
        // The chats must learn that this account left before its logs go.
        self.relay().sync(&connection, RelayOptions::WITHOUT_COMPACTION).await?;
        let mut own_logs = self.account_streams()?;
        own_logs.push(Self::invite_stream(&self.contacts().invite_secret()?));
        for stream in own_logs {
            connection.delete(stream.log(), stream.capability()).await?;
            report.logs_deleted += 1;
        }
        drop(connection);
        self.erase_local()?;
        Ok(report)
    }

    /// Someone used our invite. Returns whether a contact was added.
    /// A connect request sealed to this device and signed (in its envelope)
    /// by `sender`: only the device the certificate names may ask, so a
    /// stranger holding the invite and someone's public certificate cannot
    /// connect in their name.
    pub(crate) fn handle_connect(
        &self,
        sealed: &kith_core::crypto::Lockbox,
        sender: &kith_proto::DeviceId,
    ) -> Result<bool, ClientError> {
        let opened = open_sealed(self.identity().device_keys(), CONNECT_CONTEXT, sealed)
            .map_err(|err| ClientError::BadInvite(format!("connect request: {err}")))?;
        let request =
            ConnectRequest::decode(&opened).map_err(|err| ClientError::BadInvite(format!("connect request: {err}")))?;
        let cert = DeviceCertificate::from_bytes(&request.certificate)?;
        if cert.device != *sender {
            return Err(ClientError::BadInvite(
                "a connect request signed by another device than its certificate's".into(),
            ));
        }
        self.accept_connect(&cert, &request.invite_secret, request.channel_secret, request.name)
    }
}

/// The sender and item of one pulled envelope; `None` (logged) when it does
/// not open or decode.
fn open_entry(stream: &StreamKey, seq: u64, envelope: &Envelope) -> Option<(kith_proto::DeviceId, RelayItem)> {
    let opened = match open_envelope(stream.key(), stream.stream(), envelope) {
        Ok(opened) => opened,
        Err(err) => {
            tracing::warn!(seq, %err, "refused a relay envelope");
            return None;
        }
    };
    match RelayItem::decode(&opened.plaintext) {
        Ok(item) => Some((opened.sender, item)),
        Err(err) => {
            tracing::warn!(seq, %err, "refused a relay item");
            None
        }
    }
}

/// A display name someone sent, if it is one we can show.
fn usable_name(name: Option<String>) -> Option<String> {
    name.filter(|n| !n.trim().is_empty() && n.len() <= kith_core::schema::MAX_NAME_BYTES)
}

/// A change item, if it belongs to the stream it arrived on.
fn parse_change(doc: &str, bytes: Vec<u8>, followed: Followed) -> Option<(DocId, Change)> {
    let doc = document_of_stream(doc, followed)?;
    let change = Change::from_bytes(bytes).ok()?;
    Some((doc, change))
}

/// The document named `doc`, if it belongs to the stream it arrived on.
fn document_of_stream(doc: &str, followed: Followed) -> Option<DocId> {
    let doc: DocId = doc.parse().ok()?;
    let belongs = match (followed, doc) {
        (Followed::Chat(chat), DocId::Head(c) | DocId::Segment(c, _)) => c == chat,
        (Followed::Account, DocId::Account(_)) => true,
        _ => false,
    };
    if !belongs {
        tracing::warn!(%doc, ?followed, "a change of a document that does not belong to its stream");
        return None;
    }
    Some(doc)
}

/// Splits concatenated change chunks; `None` if any chunk is not a change.
fn unpack_changes(packed: &[u8]) -> Option<Vec<Change>> {
    kith_core::docs::chunks::split_chunks(packed)
        .ok()?
        .into_iter()
        .map(|(kind, chunk)| match kind {
            ChunkKind::Change | ChunkKind::CompressedChange => Change::from_bytes(chunk.to_vec()).ok(),
            ChunkKind::Document | ChunkKind::Bundle => None,
        })
        .collect()
}

/// The relay path: syncing through `kith-server`.
#[derive(Clone, Copy, Debug)]
pub struct Relay<'p> {
    pub(crate) profile: &'p Profile,
}

impl Profile {
    /// The relay path: syncing through `kith-server`.
    pub fn relay(&self) -> Relay<'_> {
        Relay { profile: self }
    }
}

impl Relay<'_> {
    /// Connects to `server`, authenticates as this device (signed with the
    /// profile's clock) and remembers it as the default server for commands
    /// that need one.
    pub async fn connect(self, server: &str) -> Result<RelayConnection, ClientError> {
        let connection =
            RelayConnection::connect(server, self.profile.identity().device_keys(), self.profile.now_ms()).await?;
        self.remember_server(server)?;
        Ok(connection)
    }

    /// Remembers the server this profile connected to, as the default for
    /// commands that need one.
    fn remember_server(&self, server: &str) -> Result<(), ClientError> {
        if self.last_server()?.as_deref() == Some(server) {
            return Ok(());
        }
        let mut txn = self.profile.store().begin_write()?;
        txn.set_meta(LAST_SERVER_META, server.as_bytes())?;
        txn.commit()?;
        Ok(())
    }

    /// The server this profile last connected to (see [`Relay::connect`]).
    pub fn last_server(&self) -> Result<Option<String>, ClientError> {
        Ok(self
            .profile
            .store()
            .meta(LAST_SERVER_META)?
            .and_then(|b| String::from_utf8(b).ok()))
    }

    /// The one way to sync with a server: over an open connection, until a
    /// pass finds nothing new (documents and mail up and down, then
    /// attachments), then, when `options` asks for it, compacts the logs this
    /// device writes that have grown.
    pub async fn sync(self, connection: &RelayConnection, options: RelayOptions) -> Result<RelayReport, ClientError> {
        let mut report = RelayReport::default();
        // The first pass pulls every followed log; later passes only the logs
        // that are new or just had entries (a pass exists to let what was
        // learned, new keys and contacts, take effect), so a profile with many
        // conversations does not poll them all again and again.
        let mut only: Option<BTreeSet<LogId>> = None;
        for _ in 0..MAX_PASSES {
            let (pass, active) = self.profile.relay_pass(connection, only.as_ref()).await?;
            report.add(pass);
            if !pass.found_work() {
                break;
            }
            only = Some(active);
        }
        // Attachments after the documents: their logs exist by now, and
        // messages show (with their previews) before the bytes arrive.
        let mut quiet = |_| {};
        report.blobs_uploaded += self.profile.blobs().upload(connection, &mut quiet).await?;
        report.blobs_downloaded += self
            .profile
            .blobs()
            .download_wanted(connection, crate::blob_transfer::AUTO_DOWNLOAD_BYTES, &mut quiet)
            .await?;
        // Files of messages deleted elsewhere go too (a deletion arrives as
        // an applied change; a quiet pass has nothing new to collect).
        if report.applied > 0 {
            self.profile.blobs().collect_garbage()?;
            // Received changes pile up as chunks like local ones do.
            self.profile.compact_when_due();
        }
        if let Some(after) = options.compact_after {
            report.compacted += self.profile.compact_streams(connection, after).await?;
        }
        Ok(report)
    }

    /// Subscribes to every followed stream's log, so the server pokes this
    /// connection when any of them grows. Returns the logs.
    pub async fn subscribe(self, connection: &RelayConnection) -> Result<BTreeSet<LogId>, ClientError> {
        let mut logs = BTreeSet::new();
        for stream in self.profile.followed_streams()? {
            connection.subscribe(stream.log(), stream.capability()).await?;
            logs.insert(stream.log());
        }
        Ok(logs)
    }

    /// The conversation keys this account holds, by chat, epoch and key id.
    pub fn chat_keys(&self) -> Result<BTreeMap<(ChatId, u32, String), EpochKey>, ClientError> {
        self.profile
            .read_doc(DocId::Account(self.profile.identity().account_id()), account::chat_keys)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use kith_core::Identity;
    use std::sync::Arc;

    fn persona(seed: u8, name: &str) -> Profile {
        let identity = Identity::create([[seed; 32], [seed + 100; 32], [seed + 150; 32]], 1_795_000_000_000);
        Profile::with_store(identity, Arc::new(kith_store::MemoryStore::new()), name).unwrap()
    }

    /// A connect request for `to`'s current invite, naming `cert`'s device.
    fn connect_request(to: &Profile, cert: &DeviceCertificate, channel_secret: [u8; 32]) -> kith_core::crypto::Lockbox {
        let invite = to.contacts().invite().unwrap();
        let request = ConnectRequest {
            invite_secret: invite.secret,
            certificate: cert.to_bytes(),
            name: Some("Bob".into()),
            channel_secret,
        };
        seal_to_device(
            &invite.sealing_key,
            CONNECT_CONTEXT,
            &request.encode(),
            [7; 32],
            [8; 24],
        )
        .unwrap()
    }

    /// Every chat document `from` holds, applied at `to` (the account
    /// documents of these copies of one device each began on their own).
    fn copy_all(from: &Profile, to: &Profile) {
        for doc in from.store().doc_ids().unwrap() {
            if matches!(doc, DocId::Account(_)) {
                continue;
            }
            let (changes, _) = from.docs().changes_since(doc, &[]).unwrap();
            to.docs().apply_changes(doc, changes).unwrap();
        }
    }

    #[test]
    fn a_pulled_batch_with_one_bad_change_applies_the_others() {
        // Two copies of one device write different messages from the same
        // history: two changes with one actor and sequence number, which
        // Automerge refuses in one batch.
        let first = persona(1, "Alice");
        let chat = first.chats().create("Notes", &[], kith_core::ChatKind::Group).unwrap();
        let second = persona(1, "Alice");
        copy_all(&first, &second);
        let reader = persona(1, "Alice");
        copy_all(&first, &reader);
        let one = first.messages().send(&chat, "one", None).unwrap();
        second.messages().send(&chat, "two", None).unwrap();
        let segment = DocId::Segment(chat, kith_proto::Month::of(one.ts()));
        let (mut batch, _) = first
            .docs()
            .changes_since(segment, &reader.docs().heads(segment).unwrap())
            .unwrap();
        let (theirs, _) = second
            .docs()
            .changes_since(segment, &reader.docs().heads(segment).unwrap())
            .unwrap();
        assert_eq!(batch.len(), 1);
        batch.extend(theirs);
        assert!(
            reader.docs().apply_changes(segment, batch.clone()).is_err(),
            "the batch as a whole is refused"
        );
        let mut report = RelayReport::default();
        let applied = reader.apply_pulled(segment, batch, &mut report).unwrap();
        assert_eq!((applied, report.refused), (1, 1));
        let texts: Vec<Option<String>> = reader
            .messages()
            .list(&chat, 10, None)
            .unwrap()
            .into_iter()
            .map(|m| m.text)
            .collect();
        assert_eq!(texts, vec![Some("one".to_owned())], "the good change is in");
    }

    #[test]
    fn a_connect_request_signed_by_another_device_than_its_certificate_is_refused() {
        let alice = persona(1, "Alice");
        let bob = persona(2, "Bob");
        let mallory = persona(3, "Mallory");
        let bob_cert = bob.identity().certificate().clone();
        // Mallory holds Alice's invite and Bob's public certificate, and signs
        // the envelope with her own device key.
        let forged = connect_request(&alice, &bob_cert, [66; 32]);
        let err = alice
            .handle_connect(&forged, &mallory.identity().device_id())
            .unwrap_err();
        assert!(matches!(err, ClientError::BadInvite(_)), "{err}");
        assert!(
            alice.contacts().get(&bob_cert.account).unwrap().is_none(),
            "no contact made"
        );
        // Bob himself may.
        let honest = connect_request(&alice, &bob_cert, [11; 32]);
        assert!(alice.handle_connect(&honest, &bob.identity().device_id()).unwrap());
        let record = alice.contacts().get(&bob_cert.account).unwrap().unwrap();
        assert_eq!(record.state, ContactState::Accepted);
        assert_eq!(record.channel_secret, [11; 32]);
    }

    #[test]
    fn a_second_connect_request_does_not_move_an_accepted_contact_to_another_channel() {
        let alice = persona(1, "Alice");
        let bob = persona(2, "Bob");
        let bob_cert = bob.identity().certificate().clone();
        let first = connect_request(&alice, &bob_cert, [11; 32]);
        assert!(alice.handle_connect(&first, &bob.identity().device_id()).unwrap());
        // The invite was replaced; a request for the new one with another
        // channel changes nothing.
        let second = connect_request(&alice, &bob_cert, [99; 32]);
        assert!(!alice.handle_connect(&second, &bob.identity().device_id()).unwrap());
        let record = alice.contacts().get(&bob_cert.account).unwrap().unwrap();
        assert_eq!(record.channel_secret, [11; 32], "the agreed channel is kept");
    }
}
