//! The relay's outbox as data. What one pass sends is planned from the
//! store before any network call: changes on each document's stream, the
//! epoch hand-over to the previous epoch's log, mail (connect requests,
//! account keys and revocation notices, hellos, conversation keys) and, when
//! asked, compaction snapshots. Each [`Post`] is sealed envelopes for one
//! log plus what to record once they are on the server. [`Outbox::send`]
//! pushes the posts in order and records what went out in one write
//! transaction, also when a push fails part way (what reached the server is
//! not sent again; the rest is planned again next pass).
//!
//! Durable without a queue: the plan is recomputed from the store each pass
//! (heads known to be on the server per log and document, meta marks for
//! mail), so a process killed mid-send plans the same posts after a
//! restart. Change envelopes are named by the change's hash, so the server
//! ignores a re-push.

use crate::contacts::Invite;
use crate::error::ClientError;
use crate::profile::Profile;
use crate::random::random_bytes;
use crate::streams::{Followed, StreamKey, random_nonce, seal_item};
use automerge::{Change, ChangeHash};
use kith_core::DeviceCertificate;
use kith_core::crypto::{EpochKey, Stream, seal_lockbox, seal_to_device};
use kith_core::docs::contact::ContactRecord;
use kith_core::relay::{ConnectRequest, RelayItem};
use kith_net::RelayConnection;
use kith_proto::{AccountId, ChatId, DocId, Envelope, Hlc, LogId, MAX_ENVELOPES_PER_PUSH};
use kith_store::{PendingMail, RelayGrant};
use std::collections::{BTreeMap, BTreeSet};

/// Associated data of a sealed connect request.
pub(crate) const CONNECT_CONTEXT: &[u8] = b"kith connect v1";
/// Associated data of a sealed account stream key.
pub(crate) const ACCOUNT_KEY_CONTEXT: &[u8] = b"kith account key v1";
/// Most change bytes in one snapshot envelope (well inside an envelope).
const SNAPSHOT_PART_BYTES: usize = 192 * 1024;
/// Keep pushes well inside one frame.
const PUSH_BUDGET_BYTES: usize = 768 * 1024;

/// What to record once a post is on the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Sent {
    /// These heads of `doc` are on `log`.
    Uploaded {
        /// The log.
        log: LogId,
        /// The document.
        doc: DocId,
        /// Its heads now known to be there.
        heads: Vec<ChangeHash>,
    },
    /// Every own message of `chat` up to `through` is on the server.
    UploadedThrough {
        /// The chat.
        chat: ChatId,
        /// The newest HLC of this device when the plan was made.
        through: Hlc,
    },
    /// This hello (its hash) went to the contact.
    Hello {
        /// The contact.
        account: AccountId,
        /// BLAKE3 of the hello item.
        hello: [u8; 32],
    },
    /// A conversation key went to a member.
    Granted(RelayGrant),
    /// Queued mail went out.
    Mailed(PendingMail),
    /// This device's recovery kit with this fingerprint is on the server.
    RecoveryKit([u8; 32]),
    /// This device's envelopes now hold these sequence numbers on `log`
    /// (its pull cursor skips them where they directly follow it).
    OwnEntries {
        /// The log.
        log: LogId,
        /// The numbers the server gave them.
        seqs: Vec<u64>,
    },
    /// `log` was compacted through `seq`.
    Compacted {
        /// The log.
        log: LogId,
        /// Its last superseded sequence number.
        through: u64,
    },
}

/// Sealed envelopes for one log, and what they mean once pushed.
#[derive(Debug)]
pub(crate) struct Post {
    stream: StreamKey,
    envelopes: Vec<Envelope>,
    /// How many changes or mail items this counts for in the report.
    items: usize,
    /// After the push: the server is told entries up to here are
    /// superseded, with the log's manage key.
    compact_through: Option<(u64, kith_proto::ManageKey)>,
    /// Recorded once this post and every one before it are on the server.
    sent: Vec<Sent>,
}

/// Everything one pass sends, in order.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    posts: Vec<Post>,
    /// Recorded whatever happens to the posts (nothing had to be sent).
    settled: Vec<Sent>,
}

impl Outbox {
    /// Whether nothing is to be pushed or recorded.
    pub(crate) fn is_empty(&self) -> bool {
        self.posts.is_empty() && self.settled.is_empty()
    }

    /// The posts, in sending order.
    #[cfg(test)]
    pub(crate) fn posts(&self) -> &[Post] {
        &self.posts
    }

    fn post(&mut self, stream: &StreamKey, envelopes: Vec<Envelope>, items: usize, sent: Vec<Sent>) {
        self.posts.push(Post {
            stream: stream.clone(),
            envelopes,
            items,
            compact_through: None,
            sent,
        });
    }

    /// `sent` is recorded once every post planned so far is on the server
    /// (at once, when none is).
    fn after_all(&mut self, sent: Sent) {
        match self.posts.last_mut() {
            Some(last) => last.sent.push(sent),
            None => self.settled.push(sent),
        }
    }

    /// Pushes every post in order, then records what reached the server in
    /// one write transaction. Returns how many items went out; a failed push
    /// ends the sending and is returned after the recording.
    pub(crate) async fn send(self, profile: &Profile, connection: &RelayConnection) -> Result<usize, ClientError> {
        let mut records = self.settled;
        let mut items = 0;
        let mut failure = None;
        for post in self.posts {
            match push(connection, &post).await {
                Ok(seqs) if post.carries_changes_only() => records.push(Sent::OwnEntries {
                    log: post.stream.log(),
                    seqs,
                }),
                Ok(_) => {}
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
            items += post.items;
            records.extend(post.sent);
        }
        record(profile, &records)?;
        match failure {
            Some(err) => Err(err),
            None => Ok(items),
        }
    }
}

impl Post {
    /// Whether it holds document changes only (no mail, which this device
    /// may need to see come back).
    fn carries_changes_only(&self) -> bool {
        !self.sent.is_empty() && self.sent.iter().all(|sent| matches!(sent, Sent::Uploaded { .. }))
    }

    /// The log it goes to.
    #[cfg(test)]
    pub(crate) fn log(&self) -> LogId {
        self.stream.log()
    }

    /// What it records once sent.
    #[cfg(test)]
    pub(crate) fn sent(&self) -> &[Sent] {
        &self.sent
    }
}

/// Pushes one post; returns the sequence numbers its envelopes have on the log.
async fn push(connection: &RelayConnection, post: &Post) -> Result<Vec<u64>, ClientError> {
    let seqs = push_all(connection, &post.stream, post.envelopes.clone()).await?;
    if let Some((through, manage)) = post.compact_through {
        connection.compact(post.stream.log(), manage, through).await?;
        tracing::info!(through, "compacted a relay log");
    }
    Ok(seqs)
}

/// Pushes envelopes in frames that fit the protocol's limits; returns the
/// sequence numbers the server gave them (an envelope it had already keeps
/// its earlier number).
pub(crate) async fn push_all(
    connection: &RelayConnection,
    stream: &StreamKey,
    envelopes: Vec<Envelope>,
) -> Result<Vec<u64>, ClientError> {
    let mut seqs = Vec::with_capacity(envelopes.len());
    let mut batch: Vec<Envelope> = Vec::new();
    let mut bytes = 0;
    for envelope in envelopes {
        let size = envelope.ciphertext.len() + 64;
        if !batch.is_empty() && (bytes + size > PUSH_BUDGET_BYTES || batch.len() >= MAX_ENVELOPES_PER_PUSH) {
            let results = connection
                .push(stream.log(), stream.capability(), std::mem::take(&mut batch))
                .await?;
            seqs.extend(results.into_iter().map(|(_, seq)| seq));
            bytes = 0;
        }
        bytes += size;
        batch.push(envelope);
    }
    if !batch.is_empty() {
        let results = connection.push(stream.log(), stream.capability(), batch).await?;
        seqs.extend(results.into_iter().map(|(_, seq)| seq));
    }
    Ok(seqs)
}

/// Where the pull cursors move past this device's own entries: pulling them
/// back would only download what this device wrote. A log never pulled
/// keeps no cursor (its first pull reads it all), and anyone else's entry
/// before or between ours stops the move.
fn cursors_past_own(profile: &Profile, records: &[Sent]) -> Result<BTreeMap<LogId, u64>, ClientError> {
    let mut moved: BTreeMap<LogId, u64> = BTreeMap::new();
    for sent in records {
        let Sent::OwnEntries { log, seqs } = sent else { continue };
        let cursor = match moved.get(log) {
            Some(cursor) => *cursor,
            None => match profile.store().relay_log(log)?.and_then(|state| state.pulled) {
                Some(cursor) => cursor,
                None => continue,
            },
        };
        let past = cursor_past_own(cursor, seqs.clone());
        if past > cursor {
            moved.insert(*log, past);
        }
    }
    Ok(moved)
}

/// The cursor after skipping `own` entries that continue on from `cursor` without a gap.
pub(crate) fn cursor_past_own(cursor: u64, mut own: Vec<u64>) -> u64 {
    own.sort_unstable();
    own.dedup();
    let mut at = cursor;
    for seq in own {
        if seq <= at {
            // An envelope the server already had, below the cursor.
            continue;
        }
        if seq != at + 1 {
            break;
        }
        at = seq;
    }
    at
}

/// Records what went out, in one write transaction.
fn record(profile: &Profile, records: &[Sent]) -> Result<(), ClientError> {
    if records.is_empty() {
        return Ok(());
    }
    let cursors = cursors_past_own(profile, records)?;
    // What went out is on the server: lost, it is only sent again
    // (appends are idempotent by envelope id), and a lost cursor only
    // means pulling own entries back once.
    let mut txn = profile.store().begin_recoverable_write()?;
    for (log, cursor) in &cursors {
        txn.set_relay_pulled(log, *cursor)?;
    }
    for sent in records {
        match sent {
            Sent::OwnEntries { .. } => {}
            Sent::Uploaded { log, doc, heads } => txn.set_relay_uploaded(log, doc, &encode_heads(heads))?,
            Sent::UploadedThrough { chat, through } => txn.set_uploaded_through(chat, *through)?,
            Sent::Hello { account, hello } => txn.set_relay_hello(account, hello)?,
            Sent::Granted(grant) => txn.set_relay_granted(grant)?,
            Sent::Mailed(mail) => txn.clear_mail(mail)?,
            Sent::Compacted { log, through } => txn.set_relay_compacted(log, *through)?,
            Sent::RecoveryKit(fingerprint) => txn.set_meta(crate::recovery::RECOVERY_KIT_META, fingerprint)?,
        }
    }
    txn.commit()?;
    Ok(())
}

/// Uploaded heads as stored.
pub(crate) fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

/// Stored uploaded heads (bytes that are not whole hashes are dropped).
pub(crate) fn decode_heads(bytes: &[u8]) -> Vec<ChangeHash> {
    bytes
        .chunks_exact(32)
        .filter_map(|c| <[u8; 32]>::try_from(c).ok().map(ChangeHash))
        .collect()
}

/// Seals each change of `doc` for `stream` with its actor's signature,
/// the envelope id from the change's hash (so a re-push is a no-op on the
/// server).
fn seal_changes(
    profile: &Profile,
    stream: &StreamKey,
    doc: DocId,
    changes: Vec<Change>,
) -> Result<Vec<Envelope>, ClientError> {
    let doc_text = doc.to_string();
    let signatures = profile.store().change_signatures(&doc)?;
    let mut envelopes = Vec::with_capacity(changes.len());
    for mut change in changes {
        let actor = kith_core::docs::device_of(change.actor_id());
        let item = RelayItem::SignedChange {
            doc: doc_text.clone(),
            change: change.bytes().to_vec(),
            signature: signatures.iter().find(|s| Some(s.device) == actor).cloned(),
        };
        envelopes.push(seal(profile, stream, change.hash().as_ref(), &item)?);
    }
    Ok(envelopes)
}

fn seal(profile: &Profile, stream: &StreamKey, item_id: &[u8], item: &RelayItem) -> Result<Envelope, ClientError> {
    seal_item(stream, item_id, profile.identity().device_keys(), item)
}

/// One item sealed under a fresh id (mail).
fn seal_mail(profile: &Profile, stream: &StreamKey, item: &RelayItem) -> Result<Envelope, ClientError> {
    seal(profile, stream, &random_bytes::<16>()?, item)
}

/// Seals one item under a fresh id and pushes it alone (a goodbye).
pub(crate) async fn push_item(
    profile: &Profile,
    connection: &RelayConnection,
    stream: &StreamKey,
    item: &RelayItem,
) -> Result<(), ClientError> {
    let envelope = seal_mail(profile, stream, item)?;
    connection
        .push(stream.log(), stream.capability(), vec![envelope])
        .await?;
    Ok(())
}

impl Profile {
    /// What one pass uploads: every change the server does not have yet
    /// (the account document on the account stream, each conversation's
    /// documents on its newest epoch's stream, hand-overs to the previous
    /// epoch's log), then the mail still to send.
    pub(crate) fn plan_uploads(&self) -> Result<Outbox, ClientError> {
        let mut outbox = Outbox::default();
        self.plan_documents(&mut outbox)?;
        let contacts = self.contacts().records()?;
        let name = self.store().profile_name(&self.identity().account_id())?;
        let cert = self.identity().certificate().to_bytes();
        self.plan_connects(&mut outbox, &contacts, &cert, &name)?;
        self.plan_refusals(&mut outbox)?;
        self.plan_revocation_mail(&mut outbox, &contacts)?;
        self.plan_hellos(&mut outbox, &contacts, &cert, &name)?;
        self.plan_grants(&mut outbox, &contacts)?;
        if let Some(kit) = self.pending_recovery_kit()? {
            let envelope = seal_mail(self, &kit.stream, &kit.item)?;
            outbox.post(&kit.stream, vec![envelope], 1, vec![Sent::RecoveryKit(kit.fingerprint)]);
        }
        Ok(outbox)
    }

    fn plan_documents(&self, outbox: &mut Outbox) -> Result<(), ClientError> {
        let me = self.identity().account_id();
        let mut plan: Vec<(StreamKey, DocId)> = vec![(self.account_stream()?, DocId::Account(me))];
        let mut newest: BTreeMap<ChatId, (u32, EpochKey)> = BTreeMap::new();
        for (chat, mut committed) in self.committed_keys_by_chat()? {
            self.plan_epoch_handover(outbox, chat, &committed)?;
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
        for (stream, doc) in plan {
            let (changes, heads) = self.not_uploaded(&stream, doc)?;
            if changes.is_empty() {
                continue;
            }
            let count = changes.len();
            let envelopes = seal_changes(self, &stream, doc, changes)?;
            let log = stream.log();
            outbox.post(&stream, envelopes, count, vec![Sent::Uploaded { log, doc, heads }]);
        }
        for chat in chats_uploaded {
            outbox.after_all(Sent::UploadedThrough { chat, through });
        }
        Ok(())
    }

    /// The head change that started the newest epoch, with its ancestors, also
    /// goes to the previous epoch's log: members left behind there (someone
    /// just removed) learn that the conversation moved on and that they are
    /// no longer in it, and nothing written afterwards.
    fn plan_epoch_handover(
        &self,
        outbox: &mut Outbox,
        chat: ChatId,
        committed: &[(u32, EpochKey)],
    ) -> Result<(), ClientError> {
        let [.., (previous, previous_key), (newest, _)] = committed else {
            return Ok(());
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
            return Ok(());
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
        let mut heads = self
            .store()
            .relay_uploaded(&stream.log(), &head)?
            .map(|b| decode_heads(&b))
            .unwrap_or_default();
        heads.push(commit_hash);
        let count = handover.len();
        let envelopes = seal_changes(self, &stream, head, handover)?;
        let log = stream.log();
        outbox.post(
            &stream,
            envelopes,
            count,
            vec![Sent::Uploaded { log, doc: head, heads }],
        );
        Ok(())
    }

    /// The changes of `doc` not yet on `stream`'s log, and the document's heads.
    pub(crate) fn not_uploaded(
        &self,
        stream: &StreamKey,
        doc: DocId,
    ) -> Result<(Vec<Change>, Vec<ChangeHash>), ClientError> {
        let known = self
            .store()
            .relay_uploaded(&stream.log(), &doc)?
            .map(|b| decode_heads(&b))
            .unwrap_or_default();
        self.docs().changes_since(doc, &known)
    }

    /// Connect requests for invites this account used.
    fn plan_connects(
        &self,
        outbox: &mut Outbox,
        contacts: &BTreeMap<AccountId, ContactRecord>,
        cert: &[u8],
        name: &Option<String>,
    ) -> Result<(), ClientError> {
        for (mail, bytes) in self.store().pending_mail()? {
            let PendingMail::Connect(account) = mail else { continue };
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
            .map_err(ClientError::crypto("sealing a connect request"))?;
            let stream = Profile::invite_stream(&invite.secret);
            let envelope = seal_mail(self, &stream, &RelayItem::Connect { sealed })?;
            outbox.post(&stream, vec![envelope], 1, vec![Sent::Mailed(mail)]);
        }
        Ok(())
    }

    /// Answers to people who used a link that no longer works, on the
    /// channel each request named (this account follows none of them).
    fn plan_refusals(&self, outbox: &mut Outbox) -> Result<(), ClientError> {
        for (mail, bytes) in self.store().pending_mail()? {
            let PendingMail::InviteRefused(account) = mail else {
                continue;
            };
            // Channel secret (32), reason (1), link tag (8).
            let parsed = bytes.split_first_chunk::<32>().and_then(|(secret, rest)| {
                let (reason, tag) = rest.split_first()?;
                let reason = kith_core::relay::InviteRefusal::from_byte(*reason)?;
                let link: [u8; 8] = tag.try_into().ok()?;
                Some((*secret, reason, link))
            });
            let Some((channel_secret, reason, link)) = parsed else {
                // Unreadable (no build writes it): dropped rather than retried forever.
                outbox.after_all(Sent::Mailed(mail));
                continue;
            };
            let stream = Profile::contact_channel(account, &channel_secret);
            let envelope = seal_mail(self, &stream, &RelayItem::InviteRefused { reason, link })?;
            outbox.post(&stream, vec![envelope], 1, vec![Sent::Mailed(mail)]);
        }
        Ok(())
    }

    /// A hello on every contact channel, again whenever the name or picture changes.
    fn plan_hellos(
        &self,
        outbox: &mut Outbox,
        contacts: &BTreeMap<AccountId, ContactRecord>,
        cert: &[u8],
        name: &Option<String>,
    ) -> Result<(), ClientError> {
        let hello = RelayItem::Hello {
            certificates: vec![cert.to_vec()],
            name: name.clone(),
            avatar: self.avatar(None)?,
        };
        let hello_id = blake3::hash(&hello.encode());
        for (account, record) in contacts.iter().filter(|(_, r)| r.is_connected()) {
            if self.store().relay_hello(account)? == Some(*hello_id.as_bytes()) {
                continue;
            }
            let stream = Profile::contact_stream(*account, record);
            let envelope = seal_mail(self, &stream, &hello)?;
            let sent = Sent::Hello {
                account: *account,
                hello: *hello_id.as_bytes(),
            };
            outbox.post(&stream, vec![envelope], 1, vec![sent]);
        }
        Ok(())
    }

    /// Conversation keys for members who are contacts and lack them.
    fn plan_grants(
        &self,
        outbox: &mut Outbox,
        contacts: &BTreeMap<AccountId, ContactRecord>,
    ) -> Result<(), ClientError> {
        let mut grants = Vec::new();
        for (chat, committed) in self.committed_keys_by_chat()? {
            for (epoch, key) in committed {
                grants.push((chat, epoch, key));
            }
        }
        for (chat, epoch, key) in grants {
            let Some(row) = self.store().chat(&chat)? else { continue };
            for member in row.members.keys() {
                let Some(record) = contacts.get(member).filter(|r| r.is_connected()) else {
                    continue;
                };
                let grant = RelayGrant {
                    chat,
                    epoch,
                    key_id: key.key_id().to_string(),
                    member: *member,
                };
                if self.store().relay_granted(&grant)? {
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
                            .map_err(ClientError::crypto("sealing a lockbox"))?;
                    lockboxes.push((device.device, lockbox));
                }
                let stream = Profile::contact_stream(*member, record);
                let envelope = seal_mail(self, &stream, &RelayItem::ChatKey { chat, epoch, lockboxes })?;
                outbox.post(&stream, vec![envelope], 1, vec![Sent::Granted(grant)]);
            }
        }
        Ok(())
    }

    /// New account stream keys for this account's remaining devices, and
    /// revocation notices for contacts.
    fn plan_revocation_mail(
        &self,
        outbox: &mut Outbox,
        contacts: &BTreeMap<AccountId, ContactRecord>,
    ) -> Result<(), ClientError> {
        let me = self.identity().account_id();
        let own = self.identity().device_id();
        let streams = self.account_streams()?;
        let queued = self.store().pending_mail()?;
        for mail in queued.iter().map(|(mail, _)| mail) {
            let PendingMail::AccountKey { epoch, key_id } = mail else {
                continue;
            };
            let epoch = *epoch;
            let Some(new) = streams
                .iter()
                .find(|s| s.epoch() == epoch && s.key().key_id() == key_id.as_str())
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
                .map_err(ClientError::crypto("sealing an account key"))?;
                lockboxes.push((entry.cert.device, lockbox));
            }
            let item = RelayItem::AccountKey { epoch, lockboxes };
            // On every older stream: each remaining device follows at least one.
            for older in streams.iter().filter(|s| s.epoch() < epoch) {
                let envelope = seal_mail(self, older, &item)?;
                outbox.post(older, vec![envelope], 1, Vec::new());
            }
            outbox.after_all(Sent::Mailed(mail.clone()));
        }
        for mail in queued.iter().map(|(mail, _)| mail) {
            let PendingMail::RevokedNotice(device) = mail else {
                continue;
            };
            let device = *device;
            for (account, record) in contacts.iter().filter(|(_, r)| r.is_connected()) {
                let stream = Profile::contact_stream(*account, record);
                let envelope = seal_mail(self, &stream, &RelayItem::DeviceRevoked { device })?;
                outbox.post(&stream, vec![envelope], 1, Vec::new());
            }
            outbox.after_all(Sent::Mailed(mail.clone()));
        }
        Ok(())
    }

    /// Snapshots for every log this device writes to that grew by `after`
    /// entries since its last compaction: all changes of its documents,
    /// packed densely, pushed as new entries; then the server is told the
    /// old entries are superseded (it deletes them after its grace period).
    /// Skipped while any change of those documents waits in quarantine: the
    /// snapshot must hold everything the old entries did.
    pub(crate) fn plan_compaction(&self, after: u64) -> Result<Outbox, ClientError> {
        let me = self.identity().account_id();
        let mut plan: Vec<(StreamKey, Vec<DocId>)> = vec![(self.account_stream()?, vec![DocId::Account(me)])];
        let doc_ids = self.store().doc_ids()?;
        for (chat, mut committed) in self.committed_keys_by_chat()? {
            if let Some((epoch, key)) = committed.pop() {
                let docs = doc_ids.iter().copied().filter(|d| d.chat() == Some(chat)).collect();
                plan.push((
                    StreamKey::new(Followed::Chat(chat), Stream::Chat(chat), epoch, key),
                    docs,
                ));
            }
        }
        let mut outbox = Outbox::default();
        for (stream, docs) in plan {
            let state = self.store().relay_log(&stream.log())?.unwrap_or_default();
            let cursor = state.pulled.unwrap_or(0);
            if cursor.saturating_sub(state.compacted) < after || cursor == 0 {
                continue;
            }
            // Compaction deletes entries: only the log's manager may.
            if !self.manages(&stream.log())? {
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
                let signatures = self.store().change_signatures(doc)?;
                let mut packed: Vec<u8> = Vec::new();
                for mut change in changes {
                    let bytes = change.bytes();
                    if !packed.is_empty() && packed.len() + bytes.len() > SNAPSHOT_PART_BYTES {
                        let part = std::mem::take(&mut packed);
                        envelopes.push(self.snapshot_envelope(&stream, *doc, part, &signatures)?);
                    }
                    packed.extend_from_slice(&bytes);
                }
                if !packed.is_empty() {
                    envelopes.push(self.snapshot_envelope(&stream, *doc, packed, &signatures)?);
                }
            }
            let log = stream.log();
            outbox.posts.push(Post {
                stream,
                envelopes,
                // Counted as logs compacted.
                items: 1,
                compact_through: Some((cursor, self.manage_key(&log))),
                sent: vec![Sent::Compacted { log, through: cursor }],
            });
        }
        Ok(outbox)
    }

    /// One part of a snapshot, with every signature held for the document
    /// (the parts may arrive on different pages).
    fn snapshot_envelope(
        &self,
        stream: &StreamKey,
        doc: DocId,
        changes: Vec<u8>,
        signatures: &[kith_core::ChangeSignature],
    ) -> Result<Envelope, ClientError> {
        let item = RelayItem::SignedChanges {
            doc: doc.to_string(),
            changes,
            signatures: signatures.to_vec(),
        };
        seal_mail(self, stream, &item)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::test_support::persona;
    use kith_core::ChatKind;

    fn all_sent(outbox: &Outbox) -> Vec<Sent> {
        outbox.posts().iter().flat_map(|p| p.sent().to_vec()).collect()
    }

    #[test]
    fn the_cursor_skips_only_own_entries_that_follow_it_without_a_gap() {
        // Ours directly after the cursor, in any order: skipped.
        assert_eq!(cursor_past_own(10, vec![12, 11, 13]), 13);
        // Someone else's entry 11 comes first: nothing is skipped.
        assert_eq!(cursor_past_own(10, vec![12, 13]), 10);
        // A gap in the middle (another writer's entry 13) stops the skip there.
        assert_eq!(cursor_past_own(10, vec![11, 12, 14, 15]), 12);
        // Envelopes the server already had keep their old, lower numbers.
        assert_eq!(cursor_past_own(10, vec![4, 11, 11]), 11);
        assert_eq!(cursor_past_own(10, vec![]), 10);
    }

    #[test]
    fn a_plan_is_data_and_once_recorded_is_not_planned_again() {
        let alice = persona(1, "Alice");
        let chat = alice.chats().create("Notes", &[], ChatKind::Group).unwrap();
        alice.messages().send(&chat, "one", None).unwrap();

        let first = alice.plan_uploads().unwrap();
        let me = alice.identity().account_id();
        let uploaded: BTreeSet<DocId> = all_sent(&first)
            .iter()
            .filter_map(|s| match s {
                Sent::Uploaded { doc, .. } => Some(*doc),
                _ => None,
            })
            .collect();
        assert!(uploaded.contains(&DocId::Account(me)), "{uploaded:?}");
        assert!(uploaded.contains(&DocId::Head(chat)), "{uploaded:?}");
        assert!(
            uploaded.iter().any(|d| matches!(d, DocId::Segment(c, _) if *c == chat)),
            "{uploaded:?}"
        );
        // "On the server" rides on the last post: it holds only once every
        // document before it went out.
        let last = first.posts().last().unwrap();
        assert!(
            last.sent()
                .iter()
                .any(|s| matches!(s, Sent::UploadedThrough { chat: c, .. } if *c == chat)),
            "{:?}",
            last.sent()
        );
        let logs: BTreeSet<LogId> = first.posts().iter().map(Post::log).collect();
        assert_eq!(logs.len(), 2, "the account's log and the chat's: {logs:?}");

        // Nothing was pushed: planning again gives the same documents.
        let replanned = alice.plan_uploads().unwrap();
        assert_eq!(replanned.posts().len(), first.posts().len());

        // Once recorded, the same documents are not planned again; a new
        // message plans its segment alone.
        record(&alice, &all_sent(&first)).unwrap();
        assert!(alice.plan_uploads().unwrap().posts().is_empty());
        alice.messages().send(&chat, "two", None).unwrap();
        let next = alice.plan_uploads().unwrap();
        assert_eq!(next.posts().len(), 1, "{:?}", next.posts());
        assert_eq!(next.posts()[0].items, 1);
        assert!(matches!(
            next.posts()[0].sent()[0],
            Sent::Uploaded { doc: DocId::Segment(c, _), .. } if c == chat
        ));
    }

    #[test]
    fn recording_never_moves_the_uploaded_through_mark_back() {
        let alice = persona(2, "Alice");
        let chat = alice.chats().create("Notes", &[], ChatKind::Group).unwrap();
        let (early, late) = (Hlc::new(1_000, 0), Hlc::new(2_000, 0));
        record(&alice, &[Sent::UploadedThrough { chat, through: late }]).unwrap();
        record(&alice, &[Sent::UploadedThrough { chat, through: early }]).unwrap();
        assert_eq!(alice.store().uploaded_through(&chat).unwrap(), Some(late));
    }
}
