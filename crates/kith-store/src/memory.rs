//! An in-memory store with the same observable behaviour as [`SqliteStore`]
//! (for simulations and tests that do not want files).
//!
//! The state is a set of ordered maps behind a mutex. A write transaction holds
//! the writer lock (one writer at a time), works on a copy of the state and
//! swaps it in on commit; dropping it without committing throws the copy away.
//! Readers only take the state lock for the duration of one read, so they
//! never wait for a writer.
//!
//! [`SqliteStore`]: crate::SqliteStore

use crate::error::StoreError;
use crate::relay_mail::{PendingMail, RelayGrant};
use crate::rows::{BlobRow, ChatListEntry, DeviceEntry, PeerRouteRow, RelayLogRow, SearchHit, StoredChunk};
use crate::search_query::fts_query;
use crate::store::{Store, WriteTxn};
use kith_core::{ChangeSignature, ChatRow, ChatSettingsRow, DeviceCertificate, MessageRow, ReadModelUpdate};
use kith_proto::{AccountId, ChatId, DeviceId, DocId, Hlc, LogId, MessageId};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Meta key of the store-wide commit counter (the same key the SQLite store uses,
/// so `meta` reads observe the same values).
const COMMIT_COUNTER: &str = "commit_counter";

/// At most this many query words are used (as in [`fts_query`]).
const MAX_QUERY_WORDS: usize = 16;

/// A stored device: its certificate bytes (decoded and verified on read, as
/// SQLite does) and when it was revoked.
#[derive(Clone, Debug)]
struct StoredDevice {
    account: AccountId,
    cert: Vec<u8>,
    revoked_at: Option<i64>,
}

/// Everything the store holds. Every map mirrors one SQLite table.
#[derive(Clone, Debug, Default)]
struct State {
    /// The highest chunk sequence number ever handed out (like AUTOINCREMENT).
    last_seq: i64,
    /// Document chunks by document, then sequence number.
    chunks: BTreeMap<DocId, BTreeMap<i64, Vec<u8>>>,
    /// Conversation heads (with their current members).
    chats: BTreeMap<ChatId, ChatRow>,
    /// Conversations that have a picture.
    chat_avatars: BTreeSet<ChatId>,
    /// Everyone who was ever a member of a conversation.
    members_ever: BTreeSet<(ChatId, AccountId)>,
    /// This account's per-conversation settings.
    settings: BTreeMap<ChatId, ChatSettingsRow>,
    /// Messages by conversation, then id (ids sort by time).
    messages: BTreeMap<(ChatId, MessageId), MessageRow>,
    /// Read positions.
    read_positions: BTreeMap<(ChatId, AccountId), Hlc>,
    delivered_positions: BTreeMap<(ChatId, AccountId), Hlc>,
    /// Display names.
    profiles: BTreeMap<AccountId, String>,
    /// Known devices.
    devices: BTreeMap<DeviceId, StoredDevice>,
    /// Quarantined changes by hash: (document, change bytes).
    quarantine: BTreeMap<Vec<u8>, (DocId, Vec<u8>)>,
    /// When each quarantined change first arrived, by hash.
    quarantine_arrivals: BTreeMap<Vec<u8>, i64>,
    /// The newest accepted change signature per (document, device).
    change_signatures: BTreeMap<(DocId, DeviceId), ChangeSignature>,
    /// Signatures beside quarantined changes, by (document, device, change).
    quarantined_signatures: BTreeMap<(DocId, DeviceId, [u8; 32]), ChangeSignature>,
    /// (peer, document) -> persisted sync state.
    sync_states: BTreeMap<(String, DocId), Vec<u8>>,
    relay_logs: BTreeMap<[u8; 32], RelayLogRow>,
    relay_uploaded: BTreeMap<([u8; 32], DocId), Vec<u8>>,
    relay_hellos: BTreeMap<AccountId, [u8; 32]>,
    relay_grants: BTreeSet<RelayGrant>,
    uploaded_through: BTreeMap<ChatId, Hlc>,
    pending_mail: BTreeMap<PendingMail, Vec<u8>>,
    /// Metadata.
    meta: BTreeMap<String, Vec<u8>>,
    /// (peer, address) -> last seen.
    peer_addresses: BTreeMap<(String, String), i64>,
    /// peer -> route.
    peer_routes: BTreeMap<String, PeerRouteRow>,
    /// (chat, message) -> first route.
    message_routes: BTreeMap<(ChatId, MessageId), String>,
    /// The local blob index.
    blobs: BTreeMap<[u8; 32], BlobRow>,
}

/// An in-memory [`Store`] that behaves like [`SqliteStore`](crate::SqliteStore).
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// Held by the one open write transaction.
    writer: Mutex<()>,
    /// The committed state.
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The committed state is only ever replaced whole, so a panic elsewhere
        // while the lock was held cannot have left it half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Hlc values go through SQLite as signed integers; keep the same clamping.
fn stored_hlc(ts: Hlc) -> Hlc {
    Hlc::from_i64(ts.to_i64())
}

impl State {
    fn doc_chunks(&self, doc: &DocId, after_seq: i64) -> Vec<StoredChunk> {
        self.chunks
            .get(doc)
            .map(|chunks| {
                chunks
                    .range((Bound::Excluded(after_seq), Bound::Unbounded))
                    .map(|(seq, bytes)| StoredChunk {
                        seq: *seq,
                        bytes: bytes.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn append_chunk(&mut self, doc: &DocId, bytes: &[u8]) -> Result<i64, StoreError> {
        let seq = self
            .last_seq
            .checked_add(1)
            .ok_or_else(|| StoreError::InvalidRow("chunk sequence numbers are exhausted".into()))?;
        self.last_seq = seq;
        self.chunks.entry(*doc).or_default().insert(seq, bytes.to_vec());
        Ok(seq)
    }

    fn device_account(&self, device: &DeviceId) -> Option<AccountId> {
        self.devices.get(device).map(|d| d.account)
    }

    fn was_member(&self, chat: &ChatId, account: &AccountId) -> bool {
        self.members_ever.contains(&(*chat, *account))
    }

    fn read_position(&self, chat: &ChatId, account: &AccountId) -> Option<Hlc> {
        self.read_positions.get(&(*chat, *account)).copied()
    }

    fn delivered_position(&self, chat: &ChatId, account: &AccountId) -> Option<Hlc> {
        self.delivered_positions.get(&(*chat, *account)).copied()
    }

    fn commit_counter(&self) -> u64 {
        self.meta
            .get(COMMIT_COUNTER)
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0)
    }

    fn chat_messages(&self, chat: &ChatId) -> impl DoubleEndedIterator<Item = &MessageRow> {
        let low = (*chat, MessageId::from_bytes([0; 16]));
        let high = (*chat, MessageId::from_bytes([0xff; 16]));
        self.messages.range(low..=high).map(|(_, row)| row)
    }

    /// A blob a live message refers to is wanted until it is here.
    fn want_blobs(blobs: &mut BTreeMap<[u8; 32], BlobRow>, row: &MessageRow) {
        if row.deleted {
            return;
        }
        for attachment in &row.attachments {
            blobs.entry(attachment.hash).or_insert_with(|| BlobRow {
                hash: attachment.hash,
                size: attachment.size,
                complete: false,
                on_server: false,
                added_ms: 0,
            });
        }
    }

    fn apply(&mut self, update: &ReadModelUpdate) {
        match update {
            ReadModelUpdate::Message(row) => match self.messages.entry((row.chat, row.id)) {
                Entry::Vacant(entry) => {
                    Self::want_blobs(&mut self.blobs, row);
                    let mut row = row.clone();
                    row.ts = stored_hlc(row.ts);
                    row.edited = row.edited.map(stored_hlc);
                    entry.insert(row);
                }
                // Like the SQLite upsert: author, device and ts stay as first written.
                Entry::Occupied(mut entry) => {
                    let stored = entry.get_mut();
                    stored.text.clone_from(&row.text);
                    stored.reply_to = row.reply_to;
                    stored.edited = row.edited.map(stored_hlc);
                    stored.deleted = row.deleted;
                    stored.reactions.clone_from(&row.reactions);
                    stored.attachments.clone_from(&row.attachments);
                    Self::want_blobs(&mut self.blobs, row);
                }
            },
            ReadModelUpdate::ReadPosition { chat, account, ts } => {
                let ts = stored_hlc(*ts);
                self.read_positions
                    .entry((*chat, *account))
                    .and_modify(|old| *old = (*old).max(ts))
                    .or_insert(ts);
            }
            ReadModelUpdate::DeliveredPosition { chat, account, ts } => {
                let ts = stored_hlc(*ts);
                self.delivered_positions
                    .entry((*chat, *account))
                    .and_modify(|old| *old = (*old).max(ts))
                    .or_insert(ts);
            }
            ReadModelUpdate::Chat(row) => {
                self.chats.insert(row.chat, row.clone());
            }
            ReadModelUpdate::ChatAvatar { chat, has_avatar } => {
                // Like SQLite's UPDATE: only a chat that has a row.
                if *has_avatar && self.chats.contains_key(chat) {
                    self.chat_avatars.insert(*chat);
                } else if !*has_avatar {
                    self.chat_avatars.remove(chat);
                }
            }
            ReadModelUpdate::ChatSettings { chat, settings } => {
                self.settings.insert(*chat, settings.clone());
            }
            ReadModelUpdate::Profile { account, name } => {
                self.profiles.insert(*account, name.clone());
            }
            ReadModelUpdate::Device(cert) => {
                self.devices.entry(cert.device).or_insert_with(|| StoredDevice {
                    account: cert.account,
                    cert: cert.to_bytes(),
                    revoked_at: None,
                });
            }
            ReadModelUpdate::DeviceRevoked { device, at_ms } => {
                if let Some(stored) = self.devices.get_mut(device) {
                    stored.revoked_at = Some(*at_ms);
                }
            }
            ReadModelUpdate::MemberEver { chat, account } => {
                self.members_ever.insert((*chat, *account));
            }
        }
    }
}

impl Store for MemoryStore {
    fn begin_write(&self) -> Result<Box<dyn WriteTxn + '_>, StoreError> {
        // A panicking writer never touched the committed state (it worked on a
        // copy), so a poisoned writer lock is still usable.
        let writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let work = self.state().clone();
        Ok(Box::new(MemoryTxn {
            store: self,
            _writer: writer,
            work,
        }))
    }

    fn doc_chunks(&self, doc: &DocId, after_seq: i64) -> Result<Vec<StoredChunk>, StoreError> {
        Ok(self.state().doc_chunks(doc, after_seq))
    }

    fn doc_ids(&self) -> Result<Vec<DocId>, StoreError> {
        let mut ids: Vec<DocId> = self
            .state()
            .chunks
            .iter()
            .filter(|(_, chunks)| !chunks.is_empty())
            .map(|(doc, _)| *doc)
            .collect();
        // SQLite orders the text form.
        ids.sort_by_cached_key(DocId::to_string);
        Ok(ids)
    }

    fn doc_size(&self, doc: &DocId) -> Result<(u64, u64), StoreError> {
        let state = self.state();
        let Some(chunks) = state.chunks.get(doc) else {
            return Ok((0, 0));
        };
        let bytes = chunks.values().map(|b| b.len() as u64).sum();
        Ok((chunks.len() as u64, bytes))
    }

    fn chat_list(&self, me: &AccountId) -> Result<Vec<ChatListEntry>, StoreError> {
        let state = self.state();
        let mut entries: Vec<ChatListEntry> = state
            .chats
            .values()
            .map(|row| {
                let read = state.read_position(&row.chat, me).unwrap_or(Hlc::ZERO);
                let unread = state
                    .chat_messages(&row.chat)
                    .filter(|m| m.ts > read && m.author != *me && !m.deleted)
                    .take(usize::try_from(crate::sqlite::UNREAD_CAP).unwrap_or(usize::MAX))
                    .count();
                ChatListEntry {
                    chat: row.clone(),
                    has_avatar: state.chat_avatars.contains(&row.chat),
                    settings: state.settings.get(&row.chat).cloned().unwrap_or_default(),
                    last_message: state.chat_messages(&row.chat).next_back().cloned(),
                    unread: unread as u64,
                }
            })
            .collect();
        crate::rows::sort_chat_list(&mut entries);
        Ok(entries)
    }

    fn chat(&self, chat: &ChatId) -> Result<Option<ChatRow>, StoreError> {
        Ok(self.state().chats.get(chat).cloned())
    }

    fn chat_settings(&self, chat: &ChatId) -> Result<ChatSettingsRow, StoreError> {
        Ok(self.state().settings.get(chat).cloned().unwrap_or_default())
    }

    fn messages(&self, chat: &ChatId, before: Option<&MessageId>, limit: usize) -> Result<Vec<MessageRow>, StoreError> {
        let state = self.state();
        Ok(state
            .chat_messages(chat)
            .rev()
            .filter(|m| before.is_none_or(|before| m.id < *before))
            .take(limit)
            .cloned()
            .collect())
    }

    fn message_count(&self, chat: &ChatId) -> Result<usize, StoreError> {
        Ok(self.state().chat_messages(chat).count())
    }

    fn message(&self, chat: &ChatId, id: &MessageId) -> Result<Option<MessageRow>, StoreError> {
        Ok(self.state().messages.get(&(*chat, *id)).cloned())
    }

    fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, StoreError> {
        // The same words the SQLite store would search for.
        if fts_query(query).is_none() {
            return Ok(Vec::new());
        }
        let terms: Vec<String> = words(query)
            .take(MAX_QUERY_WORDS)
            .map(|(_, word)| fold(word))
            .filter(|term| !term.is_empty())
            .collect();
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let state = self.state();
        let mut hits: Vec<(usize, &MessageRow, String)> = Vec::new();
        for row in state.messages.values() {
            let Some(text) = row.text.as_deref() else {
                continue;
            };
            let folded: Vec<(usize, &str, String)> = words(text).map(|(at, word)| (at, word, fold(word))).collect();
            let all_match = terms
                .iter()
                .all(|term| folded.iter().any(|(_, _, word)| word.starts_with(term.as_str())));
            if !all_match {
                continue;
            }
            let mut snippet = String::with_capacity(text.len() + 8);
            let mut occurrences = 0;
            let mut copied = 0;
            for (at, word, folded_word) in &folded {
                if terms.iter().any(|term| folded_word.starts_with(term.as_str())) {
                    occurrences += 1;
                    snippet.push_str(&text[copied..*at]);
                    snippet.push('[');
                    snippet.push_str(word);
                    snippet.push(']');
                    copied = at + word.len();
                }
            }
            snippet.push_str(&text[copied..]);
            hits.push((occurrences, row, snippet));
        }
        // More matches first, then newest first.
        hits.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.id.cmp(&a.1.id)));
        Ok(hits
            .into_iter()
            .take(limit)
            .map(|(_, row, snippet)| SearchHit {
                chat: row.chat,
                message: row.id,
                text: row.text.clone().unwrap_or_default(),
                snippet,
            })
            .collect())
    }

    fn profile_name(&self, account: &AccountId) -> Result<Option<String>, StoreError> {
        Ok(self.state().profiles.get(account).cloned())
    }

    fn device_account(&self, device: &DeviceId) -> Result<Option<AccountId>, StoreError> {
        Ok(self.state().device_account(device))
    }

    fn devices(&self, account: &AccountId) -> Result<Vec<DeviceEntry>, StoreError> {
        let state = self.state();
        state
            .devices
            .values()
            .filter(|d| d.account == *account)
            .map(|d| {
                Ok(DeviceEntry {
                    cert: DeviceCertificate::from_bytes(&d.cert).map_err(|e| StoreError::InvalidRow(e.to_string()))?,
                    revoked_at: d.revoked_at,
                })
            })
            .collect()
    }

    fn was_member(&self, chat: &ChatId, account: &AccountId) -> Result<bool, StoreError> {
        Ok(self.state().was_member(chat, account))
    }

    fn read_position(&self, chat: &ChatId, account: &AccountId) -> Result<Option<Hlc>, StoreError> {
        Ok(self.state().read_position(chat, account))
    }

    fn delivered_position(&self, chat: &ChatId, account: &AccountId) -> Result<Option<Hlc>, StoreError> {
        Ok(self.state().delivered_position(chat, account))
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.state().meta.get(key).cloned())
    }

    fn meta_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(self
            .state()
            .meta
            .range(prefix.to_owned()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect())
    }

    fn quarantined(&self, doc: &DocId) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(self
            .state()
            .quarantine
            .values()
            .filter(|(d, _)| d == doc)
            .map(|(_, change)| change.clone())
            .collect())
    }

    fn change_signatures(&self, doc: &DocId) -> Result<Vec<ChangeSignature>, StoreError> {
        Ok(held_signatures(&self.state(), doc))
    }

    fn sync_state(&self, peer: &str, doc: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.state().sync_states.get(&(peer.to_owned(), *doc)).cloned())
    }

    fn relay_log(&self, log: &LogId) -> Result<Option<RelayLogRow>, StoreError> {
        Ok(self.state().relay_logs.get(&log.0).copied())
    }

    fn relay_uploaded(&self, log: &LogId, doc: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.state().relay_uploaded.get(&(log.0, *doc)).cloned())
    }

    fn relay_hello(&self, account: &AccountId) -> Result<Option<[u8; 32]>, StoreError> {
        Ok(self.state().relay_hellos.get(account).copied())
    }

    fn relay_granted(&self, grant: &RelayGrant) -> Result<bool, StoreError> {
        Ok(self.state().relay_grants.contains(grant))
    }

    fn uploaded_through(&self, chat: &ChatId) -> Result<Option<Hlc>, StoreError> {
        Ok(self.state().uploaded_through.get(chat).copied())
    }

    fn pending_mail(&self) -> Result<Vec<(PendingMail, Vec<u8>)>, StoreError> {
        Ok(self
            .state()
            .pending_mail
            .iter()
            .map(|(mail, payload)| (mail.clone(), payload.clone()))
            .collect())
    }

    fn pending_mail_payload(&self, mail: &PendingMail) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.state().pending_mail.get(mail).cloned())
    }

    fn change_marker(&self) -> Result<u64, StoreError> {
        Ok(self.state().commit_counter())
    }

    fn peer_addresses(&self, peer: &str) -> Result<Vec<String>, StoreError> {
        let state = self.state();
        let mut found: Vec<(i64, String)> = state
            .peer_addresses
            .iter()
            .filter(|((p, _), _)| p == peer)
            .map(|((_, a), seen)| (*seen, a.clone()))
            .collect();
        found.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        Ok(found.into_iter().take(16).map(|(_, a)| a).collect())
    }

    fn peer_routes(&self) -> Result<Vec<PeerRouteRow>, StoreError> {
        Ok(self.state().peer_routes.values().cloned().collect())
    }

    fn message_route(&self, chat: &ChatId, id: &MessageId) -> Result<Option<String>, StoreError> {
        Ok(self.state().message_routes.get(&(*chat, *id)).cloned())
    }

    fn attachment_messages(&self, chat: &ChatId) -> Result<Vec<MessageRow>, StoreError> {
        Ok(self
            .state()
            .chat_messages(chat)
            .filter(|m| !m.deleted && !m.attachments.is_empty())
            .cloned()
            .collect())
    }

    fn blob_chats(&self, hash: &[u8; 32]) -> Result<Vec<ChatId>, StoreError> {
        let chats: BTreeSet<ChatId> = self
            .state()
            .messages
            .values()
            .filter(|m| !m.deleted && m.attachments.iter().any(|a| a.hash == *hash))
            .map(|m| m.chat)
            .collect();
        Ok(chats.into_iter().collect())
    }

    fn blob(&self, hash: &[u8; 32]) -> Result<Option<BlobRow>, StoreError> {
        Ok(self.state().blobs.get(hash).cloned())
    }

    fn blobs(&self) -> Result<Vec<BlobRow>, StoreError> {
        Ok(self.state().blobs.values().cloned().collect())
    }
}

/// The words of a text with their byte offsets: runs of alphanumeric
/// characters (and combining marks, which belong to the letter before them).
fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let is_word_char = |c: char| c.is_alphanumeric() || is_combining_mark(c);
    let mut rest = 0;
    std::iter::from_fn(move || {
        let start = rest + text[rest..].find(is_word_char)?;
        let len = text[start..]
            .find(|c: char| !is_word_char(c))
            .unwrap_or(text.len() - start);
        rest = start + len;
        Some((start, &text[start..rest]))
    })
}

/// Lowercase without diacritics, as the FTS5 `unicode61 remove_diacritics 2`
/// tokenizer compares words: letters of the Latin blocks lose their
/// diacritics (NFD, combining marks dropped), stray combining diacritical
/// marks are dropped, and other scripts keep theirs (Cyrillic `й` is not `и`).
fn fold(word: &str) -> String {
    let mut folded = String::with_capacity(word.len());
    for c in word.chars().flat_map(char::to_lowercase) {
        if is_latin_with_diacritics(c) {
            folded.extend(std::iter::once(c).nfd().filter(|d| !is_combining_mark(*d)));
        } else if !('\u{300}'..='\u{36f}').contains(&c) {
            folded.push(c);
        }
    }
    folded
}

/// Latin-1 Supplement, Latin Extended-A/B and Latin Extended Additional: the
/// letters whose diacritics SQLite's tokenizer removes.
fn is_latin_with_diacritics(c: char) -> bool {
    ('\u{c0}'..='\u{24f}').contains(&c) || ('\u{1e00}'..='\u{1eff}').contains(&c)
}

/// The write transaction of a [`MemoryStore`].
struct MemoryTxn<'a> {
    store: &'a MemoryStore,
    /// Keeps other writers out until this transaction ends.
    _writer: MutexGuard<'a, ()>,
    /// The state as this transaction sees it; swapped in on commit.
    work: State,
}

impl WriteTxn for MemoryTxn<'_> {
    fn doc_chunks(&mut self, doc: &DocId, after_seq: i64) -> Result<Vec<StoredChunk>, StoreError> {
        Ok(self.work.doc_chunks(doc, after_seq))
    }

    fn append_chunk(&mut self, doc: &DocId, bytes: &[u8]) -> Result<i64, StoreError> {
        self.work.append_chunk(doc, bytes)
    }

    fn replace_with_snapshot(&mut self, doc: &DocId, upto_seq: i64, snapshot: &[u8]) -> Result<i64, StoreError> {
        if let Some(chunks) = self.work.chunks.get_mut(doc) {
            chunks.retain(|seq, _| *seq > upto_seq);
        }
        self.work.append_chunk(doc, snapshot)
    }

    fn apply(&mut self, updates: &[ReadModelUpdate]) -> Result<(), StoreError> {
        for update in updates {
            self.work.apply(update);
        }
        Ok(())
    }

    fn device_account(&mut self, device: &DeviceId) -> Result<Option<AccountId>, StoreError> {
        Ok(self.work.device_account(device))
    }

    fn was_member(&mut self, chat: &ChatId, account: &AccountId) -> Result<bool, StoreError> {
        Ok(self.work.was_member(chat, account))
    }

    fn meta(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.work.meta.get(key).cloned())
    }

    fn set_meta(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.work.meta.insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete_meta(&mut self, key: &str) -> Result<(), StoreError> {
        self.work.meta.remove(key);
        Ok(())
    }

    fn quarantine(&mut self, doc: &DocId, hash: &[u8], change: &[u8], now_ms: i64) -> Result<bool, StoreError> {
        if self.work.quarantine.contains_key(hash) {
            return Ok(true);
        }
        let held = self.work.quarantine.values().filter(|(d, _)| d == doc).count();
        if held >= crate::store::QUARANTINE_LIMIT_PER_DOC {
            return Ok(false);
        }
        let total: usize = self.work.quarantine.values().map(|(_, c)| c.len()).sum();
        if total.saturating_add(change.len()) > crate::store::QUARANTINE_BYTES_LIMIT {
            return Ok(false);
        }
        self.work
            .quarantine
            .entry(hash.to_vec())
            .or_insert_with(|| (*doc, change.to_vec()));
        self.work.quarantine_arrivals.entry(hash.to_vec()).or_insert(now_ms);
        Ok(true)
    }

    fn expire_quarantine(&mut self, now_ms: i64) -> Result<usize, StoreError> {
        let cutoff = now_ms.saturating_sub(crate::store::QUARANTINE_EXPIRY_MS);
        let work = &mut self.work;
        let before = work.quarantine.len();
        let arrivals = &work.quarantine_arrivals;
        work.quarantine
            .retain(|hash, _| arrivals.get(hash).is_none_or(|first| *first >= cutoff));
        let dropped = before - work.quarantine.len();
        let forget = cutoff.saturating_sub(crate::store::QUARANTINE_EXPIRY_MS);
        work.quarantine_arrivals.retain(|_, first| *first >= forget);
        if dropped > 0 {
            let waiting: std::collections::BTreeSet<DocId> = work.quarantine.values().map(|(d, _)| *d).collect();
            work.quarantined_signatures
                .retain(|(doc, _, _), _| waiting.contains(doc));
        }
        Ok(dropped)
    }

    fn quarantined_docs(&mut self) -> Result<Vec<DocId>, StoreError> {
        let docs: std::collections::BTreeSet<DocId> = self.work.quarantine.values().map(|(d, _)| *d).collect();
        Ok(docs.into_iter().collect())
    }

    fn change_signatures(&mut self, doc: &DocId) -> Result<Vec<ChangeSignature>, StoreError> {
        Ok(held_signatures(&self.work, doc))
    }

    fn keep_change_signatures(&mut self, doc: &DocId, signatures: &[ChangeSignature]) -> Result<(), StoreError> {
        for signature in signatures {
            match self.work.change_signatures.entry((*doc, signature.device)) {
                Entry::Occupied(mut held) if held.get().seq < signature.seq => {
                    held.insert(signature.clone());
                }
                Entry::Occupied(_) => {}
                Entry::Vacant(slot) => {
                    slot.insert(signature.clone());
                }
            }
        }
        Ok(())
    }

    fn quarantine_signatures(&mut self, doc: &DocId, signatures: &[ChangeSignature]) -> Result<usize, StoreError> {
        let held = self
            .work
            .quarantined_signatures
            .keys()
            .filter(|(d, _, _)| d == doc)
            .count();
        let room = crate::store::QUARANTINE_LIMIT_PER_DOC.saturating_sub(held);
        let mut kept = 0;
        for signature in signatures.iter().take(room) {
            if let Entry::Vacant(slot) =
                self.work
                    .quarantined_signatures
                    .entry((*doc, signature.device, signature.change))
            {
                slot.insert(signature.clone());
                kept += 1;
            }
        }
        Ok(kept)
    }

    fn take_quarantined_signatures(&mut self, doc: &DocId) -> Result<Vec<ChangeSignature>, StoreError> {
        let mut taken = Vec::new();
        self.work.quarantined_signatures.retain(|(d, _, _), signature| {
            if d == doc {
                taken.push(signature.clone());
                false
            } else {
                true
            }
        });
        Ok(taken)
    }

    fn take_quarantined(&mut self, doc: &DocId) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut taken = Vec::new();
        self.work.quarantine.retain(|_, (d, change)| {
            if d == doc {
                taken.push(std::mem::take(change));
                false
            } else {
                true
            }
        });
        Ok(taken)
    }

    fn sync_state(&mut self, peer: &str, doc: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.work.sync_states.get(&(peer.to_owned(), *doc)).cloned())
    }

    fn set_sync_state(&mut self, peer: &str, doc: &DocId, state: &[u8]) -> Result<(), StoreError> {
        self.work.sync_states.insert((peer.to_owned(), *doc), state.to_vec());
        Ok(())
    }

    fn set_relay_pulled(&mut self, log: &LogId, seq: u64) -> Result<(), StoreError> {
        self.work.relay_logs.entry(log.0).or_default().pulled = Some(seq);
        Ok(())
    }

    fn set_relay_compacted(&mut self, log: &LogId, seq: u64) -> Result<(), StoreError> {
        self.work.relay_logs.entry(log.0).or_default().compacted = seq;
        Ok(())
    }

    fn set_relay_uploaded(&mut self, log: &LogId, doc: &DocId, heads: &[u8]) -> Result<(), StoreError> {
        if !heads.len().is_multiple_of(32) {
            return Err(StoreError::InvalidRow(format!(
                "uploaded heads of {} bytes are not whole hashes",
                heads.len()
            )));
        }
        self.work.relay_uploaded.insert((log.0, *doc), heads.to_vec());
        Ok(())
    }

    fn set_relay_hello(&mut self, account: &AccountId, hello: &[u8; 32]) -> Result<(), StoreError> {
        self.work.relay_hellos.insert(*account, *hello);
        Ok(())
    }

    fn set_relay_granted(&mut self, grant: &RelayGrant) -> Result<(), StoreError> {
        self.work.relay_grants.insert(grant.clone());
        Ok(())
    }

    fn set_uploaded_through(&mut self, chat: &ChatId, through: Hlc) -> Result<(), StoreError> {
        let mark = self.work.uploaded_through.entry(*chat).or_insert(through);
        *mark = (*mark).max(through);
        Ok(())
    }

    fn queue_mail(&mut self, mail: &PendingMail, payload: &[u8]) -> Result<(), StoreError> {
        self.work.pending_mail.insert(mail.clone(), payload.to_vec());
        Ok(())
    }

    fn clear_mail(&mut self, mail: &PendingMail) -> Result<(), StoreError> {
        self.work.pending_mail.remove(mail);
        Ok(())
    }

    fn remember_peer_address(&mut self, peer: &str, address: &str, seen_ms: i64) -> Result<(), StoreError> {
        self.work
            .peer_addresses
            .insert((peer.to_owned(), address.to_owned()), seen_ms);
        Ok(())
    }

    fn set_peer_route(&mut self, row: &PeerRouteRow) -> Result<(), StoreError> {
        self.work.peer_routes.insert(row.peer_id.clone(), row.clone());
        Ok(())
    }

    fn record_message_route(&mut self, chat: &ChatId, id: &MessageId, route: &str) -> Result<(), StoreError> {
        self.work
            .message_routes
            .entry((*chat, *id))
            .or_insert_with(|| route.to_owned());
        Ok(())
    }

    fn put_blob(&mut self, row: &BlobRow) -> Result<(), StoreError> {
        let added_ms = self.work.blobs.get(&row.hash).map_or(row.added_ms, |old| old.added_ms);
        self.work.blobs.insert(
            row.hash,
            BlobRow {
                added_ms,
                ..row.clone()
            },
        );
        Ok(())
    }

    fn delete_blob(&mut self, hash: &[u8; 32]) -> Result<(), StoreError> {
        self.work.blobs.remove(hash);
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let MemoryTxn {
            store,
            _writer,
            mut work,
        } = *self;
        let next = work.commit_counter().wrapping_add(1);
        work.meta.insert(COMMIT_COUNTER.to_owned(), next.to_be_bytes().to_vec());
        *store.state() = work;
        // `_writer` is released here, after the new state is visible.
        Ok(())
    }
}

/// The newest accepted signature of each device that wrote to `doc`.
fn held_signatures(state: &State, doc: &DocId) -> Vec<ChangeSignature> {
    state
        .change_signatures
        .iter()
        .filter(|((d, _), _)| d == doc)
        .map(|(_, signature)| signature.clone())
        .collect()
}
