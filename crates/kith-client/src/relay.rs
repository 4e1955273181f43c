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
//! What a pass sends is planned as data first (`outbox`): the pass pushes
//! the plan, records what went out in one transaction, then pulls.

use crate::error::ClientError;
use crate::inbox::{Inbound, classify};
use crate::outbox::{ACCOUNT_KEY_CONTEXT, CONNECT_CONTEXT, encode_heads, push_item};
use crate::profile::Profile;
use crate::streams::{Followed, StreamKey};
use automerge::{Change, ChangeHash};
use kith_core::crypto::{EpochKey, open_lockbox, open_sealed};
use kith_core::docs::contact::ContactState;
use kith_core::relay::{ConnectRequest, RelayItem};
use kith_core::{ChangeSignature, DeviceCertificate};
use kith_net::RelayConnection;
use kith_net::ServerTrust;
use kith_proto::{AccountId, ChatId, DocId, Envelope, LogId, MAX_PULL};
use std::collections::{BTreeMap, BTreeSet};

/// The most conversation keys held for chats whose head has not arrived.
const MAX_KEYS_FOR_UNKNOWN_CHATS: usize = 64;

/// Where the last server used is kept (cursors, compaction marks and
/// uploaded heads are in tables: see `Store::relay_log`).
const LAST_SERVER_META: &str = "relay/last-server";
/// The PEM certificate(s) pinned for the sync server, if any.
const SERVER_CERTIFICATE_META: &str = "relay/server-certificate";
/// Compact a log after this many entries (see [`RelayOptions`]).
pub const DEFAULT_COMPACT_AFTER: u64 = 5_000;
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
    /// Connect requests for dead links, answered with the reason.
    pub invites_refused: usize,
    /// Message requests that arrived and are now listed.
    pub requests: usize,
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
        self.invites_refused += other.invites_refused;
        self.requests += other.requests;
        self.passes += other.passes;
        self.compacted += other.compacted;
        self.blobs_uploaded += other.blobs_uploaded;
        self.blobs_downloaded += other.blobs_downloaded;
    }

    fn found_work(&self) -> bool {
        // A refused invite leaves an answer to send: one more pass sends it.
        self.uploaded + self.applied + self.contacts + self.keys + self.invites_refused > 0
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
    /// Own logs that could not be deleted: another manager registered
    /// first (someone who held the capability before this account claimed
    /// the log). They hold only ciphertext.
    pub logs_kept: usize,
}

impl Profile {
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
        self.register_managed_logs(connection).await?;
        self.directory().open_inbox(connection).await?;
        // The email setting must never hold up sync (a server that stopped
        // sending email, say): it is tried again next pass.
        if let Err(err) = self.directory().refresh_email_nudge(connection).await {
            tracing::warn!(%err, "could not update the email nudge");
        }
        report.uploaded += self.plan_uploads()?.send(self, connection).await?;
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

    /// Pulls and handles everything after this stream's cursor.
    async fn pull_stream(&self, connection: &RelayConnection, stream: &StreamKey) -> Result<RelayReport, ClientError> {
        let log = stream.log();
        let mut cursor = self
            .store()
            .relay_log(&log)?
            .and_then(|state| state.pulled)
            .unwrap_or(0);
        let mut report = RelayReport::default();
        let mut started_over = false;
        // Every change pulled from this log in this call, by document: a
        // change applied only once a later page arrived (its signature was
        // there) is still known to be on the server, not uploaded back.
        let mut pulled: BTreeMap<DocId, BTreeSet<ChangeHash>> = BTreeMap::new();
        loop {
            let (entries, more) = connection
                .pull(stream.log(), stream.capability(), cursor, MAX_PULL)
                .await?;
            let Some(last) = entries.last().map(|(seq, _)| *seq) else {
                // No entries yet more to come: the cursor is past the log's
                // end (a server restored from an older copy, say). Pull it
                // again from the start; what is known already is skipped.
                if more && cursor > 0 && !started_over {
                    tracing::warn!(
                        ?log,
                        cursor,
                        "the cursor is past the log's end; pulling it from the start"
                    );
                    started_over = true;
                    cursor = 0;
                    continue;
                }
                break;
            };
            report.add(self.handle_entries(stream, entries, &mut pulled)?);
            cursor = last;
            // A lost cursor only means pulling these entries again.
            let mut txn = self.store().begin_recoverable_write()?;
            txn.set_relay_pulled(&log, cursor)?;
            txn.commit()?;
            if !more {
                break;
            }
        }
        Ok(report)
    }

    /// Handles one pulled page: each entry becomes an [`Inbound`] first;
    /// mail is handled in log order, then each document's changes are
    /// applied in one batch. `pulled` gathers the changes pulled from this
    /// log so far.
    fn handle_entries(
        &self,
        stream: &StreamKey,
        entries: Vec<(u64, Envelope)>,
        pulled: &mut BTreeMap<DocId, BTreeSet<ChangeHash>>,
    ) -> Result<RelayReport, ClientError> {
        let mut report = RelayReport::default();
        let own_device = self.identity().device_id();
        let me = self.identity().account_id();
        let mut changes: BTreeMap<DocId, (Vec<Change>, Vec<ChangeSignature>)> = BTreeMap::new();
        for (seq, envelope) in entries {
            match classify(stream, seq, &envelope) {
                Inbound::Refused => report.refused += 1,
                Inbound::Changes {
                    doc,
                    changes: more,
                    signatures,
                } => {
                    let entry = changes.entry(doc).or_default();
                    entry.0.extend(more);
                    entry.1.extend(signatures);
                }
                Inbound::Mail { sender, item } => {
                    // Mail from this account's other devices (they write on
                    // the same channels) is not from the contact.
                    let own = sender == own_device || self.store().device_account(&sender)? == Some(me);
                    self.handle_mail(item, stream.followed(), &sender, own, &mut report)?;
                }
            }
        }
        for (doc, (batch, signatures)) in changes {
            let on_server = pulled.entry(doc).or_default();
            on_server.extend(batch.iter().map(|c| c.hash()));
            // One change the document refuses (two with one actor and
            // sequence number, say) costs only itself: the cursor moves on.
            report.applied += self.docs().apply_changes(doc, batch, &signatures)?;
            self.note_on_server(stream, doc, on_server)?;
        }
        Ok(report)
    }

    /// Why a conversation key offered by contact `from` is not taken, if it
    /// is not: it comes from a non-member of a chat we know, or too many
    /// keys for chats we do not know are held already (they go into the
    /// account document, which every own device keeps).
    fn refuse_chat_key(&self, chat: &ChatId, from: &AccountId) -> Result<Option<&'static str>, ClientError> {
        Ok(match self.store().chat(chat)? {
            Some(row) if !row.members.contains_key(from) => Some("the sender is not a member"),
            Some(_) => None,
            None if self.keys_for_unknown_chats()? >= MAX_KEYS_FOR_UNKNOWN_CHATS => {
                Some("too many keys for unknown conversations are held")
            }
            None => None,
        })
    }

    /// How many held conversation keys are for chats this profile does not
    /// know (keys that arrived before the chat's head).
    fn keys_for_unknown_chats(&self) -> Result<usize, ClientError> {
        let mut count = 0;
        for (chat, _, _) in self.held_chat_keys()?.keys() {
            if self.store().chat(chat)?.is_none() {
                count += 1;
            }
        }
        Ok(count)
    }

    /// A contact says one of its devices was revoked (`sender` must be
    /// another device of the same account).
    fn handle_revocation_notice(
        &self,
        account: AccountId,
        device: kith_proto::DeviceId,
        sender: &kith_proto::DeviceId,
        report: &mut RelayReport,
    ) -> Result<(), ClientError> {
        // Only a live device of that account may say so, and not about
        // itself: a revoked device's counter-revocation counts for nothing.
        if self.is_live_device(&account, sender)?
            && device != *sender
            && self.store().device_account(&device)? == Some(account)
        {
            let already = self.is_revoked_device(&account, &device)?;
            let at_ms = i64::try_from(self.now_ms()).unwrap_or(i64::MAX);
            let mut txn = self.store().begin_write()?;
            txn.apply(&[kith_core::ReadModelUpdate::DeviceRevoked { device, at_ms }])?;
            txn.commit()?;
            // The revoked device holds the keys of every chat its
            // account is in: where we are admin, a new epoch (once:
            // a repeated notice must not start epoch after epoch).
            if !already {
                self.rotate_chats_of(&account)?;
            }
        } else {
            report.refused += 1;
        }
        Ok(())
    }

    /// Whether `device` is a known device of `account` that has not been
    /// revoked.
    pub(crate) fn is_live_device(
        &self,
        account: &AccountId,
        device: &kith_proto::DeviceId,
    ) -> Result<bool, ClientError> {
        Ok(self
            .store()
            .devices(account)?
            .iter()
            .any(|d| d.cert.device == *device && d.revoked_at.is_none()))
    }

    /// Whether `device` is a known device of `account` that was revoked.
    fn is_revoked_device(&self, account: &AccountId, device: &kith_proto::DeviceId) -> Result<bool, ClientError> {
        Ok(self
            .store()
            .devices(account)?
            .iter()
            .any(|d| d.cert.device == *device && d.revoked_at.is_some()))
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
                // Only a device of this account that is not revoked starts
                // an account epoch: a revoked one still derives epoch 0's
                // key and could otherwise move us onto a stream it reads.
                if !own || !self.is_live_device(&self.identity().account_id(), sender)? {
                    tracing::warn!(%sender, "refused an account key from a device that is not a live sibling");
                    report.refused += 1;
                    return Ok(());
                }
                match open_sealed(self.identity().device_keys(), ACCOUNT_KEY_CONTEXT, lockbox)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                {
                    Some(bytes) => {
                        if self.keep_account_key(epoch, &EpochKey::from_bytes(bytes), sender)? {
                            report.keys += 1;
                        }
                    }
                    None => report.refused += 1,
                }
            }
            (_, _) if own => {}
            (RelayItem::DeviceRevoked { device }, Followed::Contact(account)) => {
                self.handle_revocation_notice(account, device, sender, report)?;
            }
            (
                RelayItem::Hello {
                    certificates,
                    name,
                    avatar,
                },
                Followed::Contact(account),
            ) => {
                let mut changed = self.handle_hello(&account, sender, &certificates, name)?;
                if let Some(avatar) = avatar {
                    changed |= self.keep_contact_avatar(&account, &avatar)?;
                }
                if changed {
                    report.contacts += 1;
                }
            }
            (RelayItem::ChatKey { chat, epoch, lockboxes }, Followed::Contact(account)) => {
                let Some((_, lockbox)) = lockboxes.iter().find(|(d, _)| *d == own_device) else {
                    return Ok(());
                };
                // A key for a chat we know only from one of its members (a
                // chat we do not know yet: its head, which only admins
                // change, must still commit to the key before it is used).
                if let Some(why) = self.refuse_chat_key(&chat, &account)? {
                    tracing::warn!(%chat, %account, "refused a conversation key: {why}");
                    report.refused += 1;
                    return Ok(());
                }
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
            // The channel's key is known only to whoever made the request
            // and the device its request was sealed to (as for a goodbye).
            (RelayItem::InviteRefused { reason, link }, Followed::Contact(account)) => {
                if self.invite_refused(&account, reason, link)? {
                    report.contacts += 1;
                }
            }
            (RelayItem::Request { sealed }, Followed::Inbox) => self.handle_request_mail(&sealed, sender, report)?,
            (RelayItem::Connect { sealed }, Followed::Invite) => match self.handle_connect(&sealed, sender) {
                Ok(true) => report.contacts += 1,
                Ok(false) => {}
                Err(ClientError::DeadInvite(reason)) => {
                    tracing::info!(reason = reason.label(), "answered a connect request for a dead link");
                    report.invites_refused += 1;
                }
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

    /// A message request from this device's inbox.
    fn handle_request_mail(
        &self,
        sealed: &kith_core::crypto::Lockbox,
        sender: &kith_proto::DeviceId,
        report: &mut RelayReport,
    ) -> Result<(), ClientError> {
        match self.receive_request(sealed, sender) {
            Ok(true) => {
                report.contacts += 1;
                report.requests += 1;
            }
            Ok(false) => {}
            // This device failing is not the request's fault: the entry is
            // pulled again.
            Err(err @ (ClientError::Store(_) | ClientError::Doc(_))) => return Err(err),
            // A bad request costs only itself.
            Err(err) => {
                tracing::warn!(%err, "refused a message request");
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
    /// A hello from a device of theirs that was revoked is ignored: it can
    /// no longer introduce devices or rename its account.
    fn handle_hello(
        &self,
        account: &AccountId,
        sender: &kith_proto::DeviceId,
        certificates: &[Vec<u8>],
        name: Option<String>,
    ) -> Result<bool, ClientError> {
        match self.contacts().get(account)? {
            None => return Ok(false),
            // A request not accepted (or ignored) is not followed; a hello
            // that reaches us anyway (an old cursor) does not make them a
            // contact.
            Some(record) if matches!(record.state, ContactState::Request | ContactState::Ignored) => {
                return Ok(false);
            }
            Some(_) => {}
        }
        if self.is_revoked_device(account, sender)? {
            tracing::warn!(%account, %sender, "ignored a hello from a revoked device");
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
        let connection = self.relay().connect(server).await?;
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
            if !record.is_connected() {
                continue;
            }
            let stream = Profile::contact_stream(account, &record);
            push_item(&self, &connection, &stream, &RelayItem::Goodbye).await?;
            report.contacts_told += 1;
        }
        // The chats must learn that this account left before its logs go.
        self.relay().sync(&connection, RelayOptions::WITHOUT_COMPACTION).await?;
        let mut own_logs = self.account_streams()?;
        for secret in self.contacts().followed_invite_secrets()? {
            own_logs.push(Profile::invite_stream(&secret));
        }
        for stream in own_logs {
            let log = stream.log();
            // A log from before manage keys is claimed now.
            if !self.manages(&log)? && !self.register_log(&connection, &stream).await? {
                tracing::warn!(?log, "cannot delete a log another manager claimed");
                report.logs_kept += 1;
                continue;
            }
            connection.delete(log, self.manage_key(&log)).await?;
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

/// A display name someone sent, if it is one we can show.
fn usable_name(name: Option<String>) -> Option<String> {
    name.filter(|n| !n.trim().is_empty() && n.len() <= kith_core::schema::MAX_NAME_BYTES)
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
    /// Connects to `server` (trusting its pinned certificate, if any),
    /// authenticates as this device and remembers it as the default server
    /// for commands that need one.
    pub async fn connect(self, server: &str) -> Result<RelayConnection, ClientError> {
        let trust = self.server_trust()?;
        let connection = RelayConnection::connect_with(server, &trust, self.profile.identity().device_keys()).await?;
        self.remember_server(server)?;
        Ok(connection)
    }

    /// Trusts the certificate(s) in `pem` for the sync server from now on,
    /// besides the platform's roots (a self-hosted server's self-signed
    /// certificate, or its private CA).
    pub fn pin_server_certificate(&self, pem: &[u8]) -> Result<(), ClientError> {
        ServerTrust::with_pinned_pem(pem)?;
        let mut txn = self.profile.store().begin_write()?;
        txn.set_meta(SERVER_CERTIFICATE_META, pem)?;
        txn.commit()?;
        Ok(())
    }

    /// How the sync server's certificate is checked: the platform's roots,
    /// plus the pinned certificate if there is one.
    pub fn server_trust(&self) -> Result<ServerTrust, ClientError> {
        match self.profile.store().meta(SERVER_CERTIFICATE_META)? {
            Some(pem) => Ok(ServerTrust::with_pinned_pem(&pem)?),
            None => Ok(ServerTrust::platform()),
        }
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
        self.sync_from(connection, options, None).await
    }

    /// [`Relay::sync`] after the server said which logs grew: the first
    /// pass pulls only `poked` (and logs never pulled before) instead of
    /// every followed log, and uploads what is waiting as always. For a
    /// live connection that is subscribed to every followed log: a log
    /// that was not poked has nothing new.
    pub async fn sync_poked(
        self,
        connection: &RelayConnection,
        poked: &BTreeSet<LogId>,
        options: RelayOptions,
    ) -> Result<RelayReport, ClientError> {
        self.sync_from(connection, options, Some(poked.clone())).await
    }

    async fn sync_from(
        self,
        connection: &RelayConnection,
        options: RelayOptions,
        first: Option<BTreeSet<LogId>>,
    ) -> Result<RelayReport, ClientError> {
        let mut report = RelayReport::default();
        // The first pass pulls every followed log (or the poked ones); later
        // passes only the logs that are new or just had entries (a pass
        // exists to let what was learned, new keys and contacts, take
        // effect), so a profile with many conversations does not poll them
        // all again and again.
        let mut only: Option<BTreeSet<LogId>> = first;
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
            let outbox = self.profile.plan_compaction(after)?;
            if !outbox.is_empty() {
                report.compacted += outbox.send(self.profile, connection).await?;
            }
        }
        Ok(report)
    }

    /// Subscribes to the followed streams' logs not in `subscribed` yet
    /// (adding them), so the server pokes this connection when any of them
    /// grows. Returns the newly subscribed logs that already hold entries
    /// past this device's cursor: they grew before the subscription, and
    /// no poke will say so.
    pub async fn subscribe_new(
        self,
        connection: &RelayConnection,
        subscribed: &mut BTreeSet<LogId>,
    ) -> Result<BTreeSet<LogId>, ClientError> {
        let mut behind = BTreeSet::new();
        for stream in self.profile.followed_streams()? {
            let log = stream.log();
            if subscribed.contains(&log) {
                continue;
            }
            let last_seq = connection.subscribe(log, stream.capability()).await?;
            subscribed.insert(log);
            let cursor = self
                .profile
                .store()
                .relay_log(&log)?
                .and_then(|state| state.pulled)
                .unwrap_or(0);
            if last_seq > cursor {
                behind.insert(log);
            }
        }
        Ok(behind)
    }

    /// Subscribes to every followed stream's log, so the server pokes this
    /// connection when any of them grows. Returns the logs.
    pub async fn subscribe(self, connection: &RelayConnection) -> Result<BTreeSet<LogId>, ClientError> {
        let mut logs = BTreeSet::new();
        self.subscribe_new(connection, &mut logs).await?;
        Ok(logs)
    }

    /// The conversation keys this account holds, by chat, epoch and key id.
    pub fn chat_keys(&self) -> Result<BTreeMap<(ChatId, u32, String), EpochKey>, ClientError> {
        self.profile.held_chat_keys()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::test_support::persona;
    use kith_core::crypto::seal_to_device;

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
            let signatures = from.store().change_signatures(&doc).unwrap();
            to.docs().apply_changes(doc, changes, &signatures).unwrap();
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
        let mut signatures = first.store().change_signatures(&segment).unwrap();
        signatures.extend(second.store().change_signatures(&segment).unwrap());
        let applied = reader.docs().apply_changes(segment, batch, &signatures).unwrap();
        assert_eq!(applied, 1, "one of the two is applied, the other refused alone");
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

    /// A conversation key from a contact who is not a member of that
    /// (known) conversation is refused and not kept; one from a member is.
    #[test]
    fn a_conversation_key_is_taken_only_from_a_member() {
        let alice = persona(1, "Alice");
        let (bob, carol) = (persona(2, "Bob"), persona(3, "Carol"));
        let carol_account = carol.identity().account_id();
        let chat = alice
            .chats()
            .create("Alice and Carol", &[carol_account], kith_core::ChatKind::Group)
            .unwrap();
        let offer = |epoch: u32, seed: u8| {
            let key = EpochKey::from_bytes([seed; 32]);
            let sealing = alice.identity().certificate().sealing_key;
            let lockbox = kith_core::crypto::seal_lockbox(&key, epoch, &sealing, [seed; 32], [seed; 24]).unwrap();
            RelayItem::ChatKey {
                chat,
                epoch,
                lockboxes: vec![(alice.identity().device_id(), lockbox)],
            }
        };
        let held = || alice.relay().chat_keys().unwrap().len();
        let deliver = |item: RelayItem, from: &Profile, report: &mut RelayReport| {
            alice
                .handle_mail(
                    item,
                    Followed::Contact(from.identity().account_id()),
                    &from.identity().device_id(),
                    false,
                    report,
                )
                .unwrap();
        };
        let before = held();
        let mut report = RelayReport::default();
        deliver(offer(1, 40), &bob, &mut report);
        assert_eq!(
            (report.refused, report.keys, held()),
            (1, 0, before),
            "Bob is not a member"
        );
        let mut report = RelayReport::default();
        deliver(offer(1, 41), &carol, &mut report);
        assert_eq!((report.refused, report.keys, held()), (0, 1, before + 1), "Carol is");

        // Keys for chats Alice does not know yet are kept (a new member's
        // key comes before the head), up to a bound.
        let mut report = RelayReport::default();
        for n in 0..(MAX_KEYS_FOR_UNKNOWN_CHATS + 6) {
            let mut item = offer(0, 50);
            if let RelayItem::ChatKey { chat, .. } = &mut item {
                *chat = ChatId::from_bytes([n as u8; 16]);
            }
            deliver(item, &bob, &mut report);
        }
        assert_eq!((report.keys, report.refused), (MAX_KEYS_FOR_UNKNOWN_CHATS, 6));
    }

    /// Only admins start key epochs, so when a member revokes one of its
    /// devices the admins start one on the notice (the member cannot).
    #[test]
    fn an_admin_starts_a_new_epoch_when_a_member_revokes_a_device() {
        let alice = persona(1, "Alice");
        let bob = persona(2, "Bob");
        let bob_account = bob.identity().account_id();
        let bobs_laptop = kith_core::Identity::join(bob.identity().account_seed(), [[77; 32], [78; 32]], 0);
        for cert in [bob.identity().certificate(), bobs_laptop.certificate()] {
            alice.docs().learn_certificate(cert).unwrap();
        }
        let chat = alice
            .chats()
            .create("Pair", &[bob_account], kith_core::ChatKind::Group)
            .unwrap();
        let epochs = || {
            alice
                .with_cached_doc(DocId::Head(chat), kith_core::docs::head::committed_epochs)
                .unwrap()
                .len()
        };
        assert_eq!(epochs(), 1);
        let mut report = RelayReport::default();
        let notice = RelayItem::DeviceRevoked {
            device: bobs_laptop.device_id(),
        };
        alice
            .handle_mail(
                notice,
                Followed::Contact(bob_account),
                &bob.identity().device_id(),
                false,
                &mut report,
            )
            .unwrap();
        assert_eq!(report.refused, 0, "{report:?}");
        assert_eq!(epochs(), 2, "a new epoch the revoked laptop never gets");
        let again = RelayItem::DeviceRevoked {
            device: bobs_laptop.device_id(),
        };
        alice
            .handle_mail(
                again,
                Followed::Contact(bob_account),
                &bob.identity().device_id(),
                false,
                &mut report,
            )
            .unwrap();
        assert_eq!(epochs(), 2, "a repeated notice starts no further epoch");
    }

    /// Bob's laptop was revoked and knows it. Telling Alice that Bob's
    /// phone is revoked instead counts for nothing, and so does a hello
    /// from it.
    #[test]
    fn a_revoked_device_cannot_counter_revoke_or_speak_for_its_account() {
        let alice = persona(1, "Alice");
        let bob = persona(2, "Bob");
        let bob_account = bob.identity().account_id();
        let bobs_laptop = kith_core::Identity::join(bob.identity().account_seed(), [[77; 32], [78; 32]], 0);
        let request = connect_request(&alice, bob.identity().certificate(), [12; 32]);
        assert!(alice.handle_connect(&request, &bob.identity().device_id()).unwrap());
        alice.docs().learn_certificate(bobs_laptop.certificate()).unwrap();
        let deliver = |item: RelayItem, sender: &kith_core::Identity| {
            let mut report = RelayReport::default();
            alice
                .handle_mail(
                    item,
                    Followed::Contact(bob_account),
                    &sender.device_id(),
                    false,
                    &mut report,
                )
                .unwrap();
            report
        };
        let live = |device: kith_proto::DeviceId| alice.is_live_device(&bob_account, &device).unwrap();
        let notice = |device: kith_proto::DeviceId| RelayItem::DeviceRevoked { device };
        assert_eq!(deliver(notice(bobs_laptop.device_id()), bob.identity()).refused, 0);
        assert!(!live(bobs_laptop.device_id()));

        let counter = deliver(notice(bob.identity().device_id()), &bobs_laptop);
        assert_eq!(counter.refused, 1, "{counter:?}");
        assert!(live(bob.identity().device_id()), "Bob's phone stays");

        let minted = kith_core::Identity::join(bob.identity().account_seed(), [[79; 32], [80; 32]], 0);
        let hello = RelayItem::Hello {
            certificates: vec![minted.certificate().to_bytes()],
            name: Some("Not Bob".into()),
            avatar: None,
        };
        deliver(hello, &bobs_laptop);
        assert!(
            alice
                .store()
                .devices(&bob_account)
                .unwrap()
                .iter()
                .all(|d| d.cert.device != minted.device_id())
        );
        assert_ne!(
            alice.contacts().get(&bob_account).unwrap().unwrap().name.as_deref(),
            Some("Not Bob")
        );
    }

    /// An account stream key from a sibling is kept, and dropped once that
    /// sibling is revoked; a revoked sibling cannot start another one (it
    /// would move the others onto a stream it reads).
    #[test]
    fn a_revoked_sibling_cannot_lure_the_account_onto_its_own_stream() {
        let phone = persona(1, "Alice");
        let laptop = kith_core::Identity::join(phone.identity().account_seed(), [[77; 32], [78; 32]], 0);
        phone.docs().learn_certificate(laptop.certificate()).unwrap();
        let offer = |epoch: u32, seed: u8| {
            let key = EpochKey::from_bytes([seed; 32]);
            let lockbox = seal_to_device(
                &phone.identity().certificate().sealing_key,
                ACCOUNT_KEY_CONTEXT,
                key.as_bytes(),
                [seed; 32],
                [seed; 24],
            )
            .unwrap();
            let item = RelayItem::AccountKey {
                epoch,
                lockboxes: vec![(phone.identity().device_id(), lockbox)],
            };
            let mut report = RelayReport::default();
            phone
                .handle_mail(item, Followed::Account, &laptop.device_id(), true, &mut report)
                .unwrap();
            (report, key.key_id())
        };
        let writes_to = || phone.account_stream().unwrap().key().key_id();
        let (report, honest) = offer(1, 41);
        assert_eq!(report.keys, 1, "a live sibling's key is kept");
        assert_eq!(writes_to(), honest);

        phone.devices().revoke(&laptop.device_id()).unwrap();
        assert_ne!(writes_to(), honest, "the revoked sibling's epoch is left");
        assert!(
            phone
                .account_keys_held()
                .unwrap()
                .iter()
                .all(|(_, k)| k.key_id() != honest)
        );
        let (report, lure) = offer(99, 42);
        assert_eq!((report.keys, report.refused), (0, 1), "{report:?}");
        assert_ne!(writes_to(), lure);
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
