//! The store traits.

use crate::error::StoreError;
use crate::relay_mail::{PendingMail, RelayGrant};
use crate::rows::{
    BlobRow, ChatListEntry, DeviceEntry, PeerRouteRow, RelayLogRow, ReplyCandidate, SearchHit, StoredChunk,
};
use kith_core::{ChangeSignature, ChatRow, ChatSettingsRow, MessageRow, ReadModelUpdate};
use kith_proto::{AccountId, ChatId, DeviceId, DocId, Hlc, LogId, MessageId};
use std::collections::BTreeMap;

/// A profile's persistent state. Reads see committed data; writes go through
/// one [`WriteTxn`] at a time (across processes for SQLite).
pub trait Store: Send + Sync {
    /// Starts the one write transaction. It holds the write lock until it is
    /// committed or dropped (dropping rolls back).
    fn begin_write(&self) -> Result<Box<dyn WriteTxn + '_>, StoreError>;

    /// [`Store::begin_write`] for bookkeeping that can be recovered from the
    /// server (a pull cursor, a record of what was uploaded): its commit
    /// need not reach the disk before it returns. A power loss may lose it
    /// (and with it only later commits of its kind: a durable commit makes
    /// every earlier one durable), which costs a re-pull or a re-upload of
    /// idempotent entries, never data. A crash of the process loses nothing.
    fn begin_recoverable_write(&self) -> Result<Box<dyn WriteTxn + '_>, StoreError> {
        self.begin_write()
    }

    /// Chunks of a document with `seq > after_seq`, in order.
    fn doc_chunks(&self, doc: &DocId, after_seq: i64) -> Result<Vec<StoredChunk>, StoreError>;
    /// Every document with at least one chunk.
    fn doc_ids(&self) -> Result<Vec<DocId>, StoreError>;
    /// Number of chunks and total bytes of a document.
    fn doc_size(&self, doc: &DocId) -> Result<(u64, u64), StoreError>;

    /// The chat list: pinned first, then by last activity, newest first.
    fn chat_list(&self, me: &AccountId) -> Result<Vec<ChatListEntry>, StoreError>;
    /// One conversation's head.
    fn chat(&self, chat: &ChatId) -> Result<Option<ChatRow>, StoreError>;
    /// This account's settings for a conversation.
    fn chat_settings(&self, chat: &ChatId) -> Result<ChatSettingsRow, StoreError>;
    /// Messages newest first, strictly older than `before` when given.
    fn messages(&self, chat: &ChatId, before: Option<&MessageId>, limit: usize) -> Result<Vec<MessageRow>, StoreError>;
    /// One message.
    fn message(&self, chat: &ChatId, id: &MessageId) -> Result<Option<MessageRow>, StoreError>;
    /// How many messages a conversation holds (deleted ones included: their
    /// tombstones stay in the history).
    fn message_count(&self, chat: &ChatId) -> Result<usize, StoreError>;
    /// Full-text search, best matches first.
    fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, StoreError>;
    /// When each author last wrote in `chat` (their newest message's HLC).
    /// This default reads every message; the SQLite store asks its index.
    fn last_written_by_author(&self, chat: &ChatId) -> Result<BTreeMap<AccountId, Hlc>, StoreError> {
        let mut out: BTreeMap<AccountId, Hlc> = BTreeMap::new();
        for message in self.messages(chat, None, usize::MAX)? {
            let newest = out.entry(message.author).or_insert(message.ts);
            *newest = (*newest).max(message.ts);
        }
        Ok(out)
    }

    /// Messages by others that contain any of `terms` (lower-case words),
    /// best matches first, each paired with the message that followed it in
    /// its chat when `me` wrote that one. At most `limit` prompts are
    /// considered. This default scans every chat (small stores, tests); the
    /// SQLite store asks its full-text index.
    fn reply_candidates(
        &self,
        terms: &[String],
        me: &AccountId,
        limit: usize,
    ) -> Result<Vec<ReplyCandidate>, StoreError> {
        let mut out = Vec::new();
        if terms.is_empty() {
            return Ok(out);
        }
        for entry in self.chat_list(me)? {
            let mut newest_first = self.messages(&entry.chat.chat, None, usize::MAX)?;
            newest_first.reverse();
            for pair in newest_first.windows(2) {
                let [prompt, reply] = pair else { continue };
                let (Some(prompt_text), Some(reply_text)) = (&prompt.text, &reply.text) else {
                    continue;
                };
                if prompt.author == *me || reply.author != *me {
                    continue;
                }
                let words: Vec<String> = prompt_text
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .map(str::to_lowercase)
                    .collect();
                let matched = terms.iter().filter(|t| words.iter().any(|w| w == *t)).count();
                if matched > 0 {
                    out.push(ReplyCandidate {
                        chat: entry.chat.chat,
                        prompt: prompt_text.clone(),
                        reply: reply_text.clone(),
                        score: matched as f64 / (words.len().max(1) as f64).sqrt(),
                    });
                }
            }
        }
        out.sort_by(|a, b| b.score.total_cmp(&a.score));
        out.truncate(limit);
        Ok(out)
    }
    /// A person's display name.
    fn profile_name(&self, account: &AccountId) -> Result<Option<String>, StoreError>;
    /// The account of a device with a verified certificate.
    fn device_account(&self, device: &DeviceId) -> Result<Option<AccountId>, StoreError>;
    /// An account's known devices.
    fn devices(&self, account: &AccountId) -> Result<Vec<DeviceEntry>, StoreError>;
    /// Whether `account` was ever a member of `chat`.
    fn was_member(&self, chat: &ChatId, account: &AccountId) -> Result<bool, StoreError>;
    /// `account`'s read position in `chat`.
    fn read_position(&self, chat: &ChatId, account: &AccountId) -> Result<Option<Hlc>, StoreError>;
    /// `account`'s delivered position in `chat`: the newest message its devices hold.
    fn delivered_position(&self, chat: &ChatId, account: &AccountId) -> Result<Option<Hlc>, StoreError>;
    /// A metadata value.
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every metadata entry whose key starts with `prefix`, in key order.
    fn meta_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Quarantined changes of a document.
    fn quarantined(&self, doc: &DocId) -> Result<Vec<Vec<u8>>, StoreError>;
    /// The newest accepted signature of each device that wrote to `doc`.
    fn change_signatures(&self, doc: &DocId) -> Result<Vec<ChangeSignature>, StoreError>;
    /// A number that changes whenever anything (any process) commits a write.
    fn change_marker(&self) -> Result<u64, StoreError>;
    /// The persisted sync state with `peer` for `doc`.
    fn sync_state(&self, peer: &str, doc: &DocId) -> Result<Option<Vec<u8>>, StoreError>;
    /// This device's state of a relay log (`None`: never recorded).
    fn relay_log(&self, log: &LogId) -> Result<Option<RelayLogRow>, StoreError>;
    /// The heads of `doc` known to be on `log` (32-byte change hashes,
    /// concatenated; `None`: nothing uploaded yet).
    fn relay_uploaded(&self, log: &LogId, doc: &DocId) -> Result<Option<Vec<u8>>, StoreError>;
    /// The hello last sent to `account` (a hash of it).
    fn relay_hello(&self, account: &AccountId) -> Result<Option<[u8; 32]>, StoreError>;
    /// Whether this conversation key was sent to the member.
    fn relay_granted(&self, grant: &RelayGrant) -> Result<bool, StoreError>;
    /// Up to where every own message of `chat` is on the server.
    fn uploaded_through(&self, chat: &ChatId) -> Result<Option<Hlc>, StoreError>;
    /// Mail still to send, in order (connect requests, account keys by
    /// epoch, revocation notices), with each one's payload.
    fn pending_mail(&self) -> Result<Vec<(PendingMail, Vec<u8>)>, StoreError>;
    /// The payload of one piece of mail still to send.
    fn pending_mail_payload(&self, mail: &PendingMail) -> Result<Option<Vec<u8>>, StoreError>;
    /// Addresses a peer was reached at, most recently seen first.
    fn peer_addresses(&self, peer: &str) -> Result<Vec<String>, StoreError>;
    /// How each peer was connected when the sync process last said so.
    fn peer_routes(&self) -> Result<Vec<PeerRouteRow>, StoreError>;
    /// The route that first delivered a message, if it came from elsewhere.
    fn message_route(&self, chat: &ChatId, id: &MessageId) -> Result<Option<String>, StoreError>;
    /// Live messages of a chat that carry attachments, oldest first.
    fn attachment_messages(&self, chat: &ChatId) -> Result<Vec<MessageRow>, StoreError>;
    /// Chats whose live (not deleted) messages refer to a blob.
    fn blob_chats(&self, hash: &[u8; 32]) -> Result<Vec<ChatId>, StoreError>;
    /// One blob of the local index.
    fn blob(&self, hash: &[u8; 32]) -> Result<Option<BlobRow>, StoreError>;
    /// The whole local blob index, by hash.
    fn blobs(&self) -> Result<Vec<BlobRow>, StoreError>;
}

/// Most changes one document may hold in quarantine.
pub const QUARANTINE_LIMIT_PER_DOC: usize = 10_000;

/// The most bytes of changes the whole quarantine holds: a contact cannot
/// fill the disk by spreading undecidable changes over many documents.
pub const QUARANTINE_BYTES_LIMIT: usize = 64 * 1024 * 1024;

/// How long a change that cannot be judged waits in quarantine before it
/// is dropped: its certificate, membership or signature never came.
pub const QUARANTINE_EXPIRY_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// The one write transaction.
pub trait WriteTxn {
    /// Chunks of a document with `seq > after_seq` (sees this transaction's writes).
    fn doc_chunks(&mut self, doc: &DocId, after_seq: i64) -> Result<Vec<StoredChunk>, StoreError>;
    /// Appends a chunk; returns its sequence number.
    fn append_chunk(&mut self, doc: &DocId, bytes: &[u8]) -> Result<i64, StoreError>;
    /// Replaces every chunk of `doc` with `seq <= upto_seq` by one snapshot.
    fn replace_with_snapshot(&mut self, doc: &DocId, upto_seq: i64, snapshot: &[u8]) -> Result<i64, StoreError>;
    /// Applies read-model updates.
    fn apply(&mut self, updates: &[ReadModelUpdate]) -> Result<(), StoreError>;
    /// The account of a device (sees this transaction's writes).
    fn device_account(&mut self, device: &DeviceId) -> Result<Option<AccountId>, StoreError>;
    /// Whether `account` was ever a member of `chat` (sees this transaction's writes).
    fn was_member(&mut self, chat: &ChatId, account: &AccountId) -> Result<bool, StoreError>;
    /// Reads a metadata value.
    fn meta(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes a metadata value.
    fn set_meta(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Removes a metadata value (absent is fine).
    fn delete_meta(&mut self, key: &str) -> Result<(), StoreError>;
    /// Keeps a change that cannot be judged yet. Returns `false` (and keeps
    /// nothing) when the document already holds [`QUARANTINE_LIMIT_PER_DOC`]
    /// changes or the whole quarantine would pass [`QUARANTINE_BYTES_LIMIT`]
    /// quarantined changes: a stranger must not be able to fill the disk. A
    /// refused change is offered again by its peer on a later sync.
    /// `now_ms` is when it arrived; a change that was here before keeps its
    /// first arrival (see [`WriteTxn::expire_quarantine`]).
    fn quarantine(&mut self, doc: &DocId, hash: &[u8], change: &[u8], now_ms: i64) -> Result<bool, StoreError>;
    /// Drops quarantined changes that first arrived more than
    /// [`QUARANTINE_EXPIRY_MS`] before `now_ms`, and the signatures of
    /// documents left with none waiting. Returns how many changes went.
    fn expire_quarantine(&mut self, now_ms: i64) -> Result<usize, StoreError>;
    /// Documents that have quarantined changes.
    fn quarantined_docs(&mut self) -> Result<Vec<DocId>, StoreError>;
    /// Takes every quarantined change of a document out (to retry them).
    fn take_quarantined(&mut self, doc: &DocId) -> Result<Vec<Vec<u8>>, StoreError>;
    /// The newest accepted signature of each device that wrote to `doc`
    /// (sees this transaction's writes).
    fn change_signatures(&mut self, doc: &DocId) -> Result<Vec<ChangeSignature>, StoreError>;
    /// Keeps each signature that is newer than the one held for its device.
    fn keep_change_signatures(&mut self, doc: &DocId, signatures: &[ChangeSignature]) -> Result<(), StoreError>;
    /// Keeps signatures beside `doc`'s quarantined changes (within the same
    /// limit as the changes). Returns how many were kept.
    fn quarantine_signatures(&mut self, doc: &DocId, signatures: &[ChangeSignature]) -> Result<usize, StoreError>;
    /// Takes the signatures waiting beside `doc`'s quarantined changes out.
    fn take_quarantined_signatures(&mut self, doc: &DocId) -> Result<Vec<ChangeSignature>, StoreError>;
    /// The persisted sync state with `peer` for `doc` (Automerge's durable
    /// part: the heads both sides are known to share).
    fn sync_state(&mut self, peer: &str, doc: &DocId) -> Result<Option<Vec<u8>>, StoreError>;
    /// Persists the sync state with `peer` for `doc`.
    fn set_sync_state(&mut self, peer: &str, doc: &DocId, state: &[u8]) -> Result<(), StoreError>;
    /// Records that this device pulled `log` through `seq`.
    fn set_relay_pulled(&mut self, log: &LogId, seq: u64) -> Result<(), StoreError>;
    /// Records that this device compacted `log` at `seq`.
    fn set_relay_compacted(&mut self, log: &LogId, seq: u64) -> Result<(), StoreError>;
    /// Records the heads of `doc` now on `log` (see [`Store::relay_uploaded`]).
    fn set_relay_uploaded(&mut self, log: &LogId, doc: &DocId, heads: &[u8]) -> Result<(), StoreError>;
    /// Records the hello sent to `account` (see [`Store::relay_hello`]).
    fn set_relay_hello(&mut self, account: &AccountId, hello: &[u8; 32]) -> Result<(), StoreError>;
    /// Records that a conversation key was sent to a member.
    fn set_relay_granted(&mut self, grant: &RelayGrant) -> Result<(), StoreError>;
    /// Moves the "on the server" mark of `chat` up to `through` (never back).
    fn set_uploaded_through(&mut self, chat: &ChatId, through: Hlc) -> Result<(), StoreError>;
    /// Queues mail to send (replacing the payload of the same mail).
    fn queue_mail(&mut self, mail: &PendingMail, payload: &[u8]) -> Result<(), StoreError>;
    /// Forgets mail that went out (or is no longer wanted).
    fn clear_mail(&mut self, mail: &PendingMail) -> Result<(), StoreError>;
    /// Remembers that `peer` was reached at `address`.
    fn remember_peer_address(&mut self, peer: &str, address: &str, seen_ms: i64) -> Result<(), StoreError>;
    /// Records how `peer` is connected now.
    fn set_peer_route(&mut self, row: &PeerRouteRow) -> Result<(), StoreError>;
    /// Records the route of a message unless one is recorded already (the first wins).
    fn record_message_route(&mut self, chat: &ChatId, id: &MessageId, route: &str) -> Result<(), StoreError>;
    /// Records (or replaces) a blob of the local index.
    fn put_blob(&mut self, row: &BlobRow) -> Result<(), StoreError>;
    /// Forgets a blob (its file is removed by the caller).
    fn delete_blob(&mut self, hash: &[u8; 32]) -> Result<(), StoreError>;
    /// Makes everything durable.
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// Adapts a write transaction to the engine's [`kith_core::Directory`].
/// Lookup failures count as "unknown", which defers (never accepts) a change.
pub struct StoreDirectory<'a, 't> {
    txn: std::cell::RefCell<&'a mut (dyn WriteTxn + 't)>,
}

impl<'a, 't> StoreDirectory<'a, 't> {
    /// Wraps a transaction.
    pub fn new(txn: &'a mut (dyn WriteTxn + 't)) -> Self {
        StoreDirectory {
            txn: std::cell::RefCell::new(txn),
        }
    }
}

impl kith_core::Directory for StoreDirectory<'_, '_> {
    fn account_of(&self, device: &DeviceId) -> Option<AccountId> {
        self.txn.borrow_mut().device_account(device).ok().flatten()
    }
    fn was_member(&self, chat: &ChatId, account: &AccountId) -> bool {
        self.txn.borrow_mut().was_member(chat, account).unwrap_or(false)
    }
}
