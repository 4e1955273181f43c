//! Every keep, rotate and commit of conversation and account keys: which
//! key epochs this profile holds, starting a new epoch (a removal, a
//! revoked device), and which held keys a chat's head commits to.

use crate::error::ClientError;
use crate::profile::{Profile, WriteCtx};
use crate::random::random_bytes;
use crate::streams::{Followed, StreamKey};
use kith_core::crypto::{EpochKey, Stream};
use kith_core::docs::contact::ContactRecord;
use kith_core::docs::{account, head};
use kith_proto::{AccountId, ChatId, DeviceId, DocId};
use kith_store::PendingMail;
use std::collections::{BTreeMap, BTreeSet};

/// Key derivation context of the account stream's epoch 0 (never change it:
/// it names existing logs).
pub(crate) const ACCOUNT_STREAM_CONTEXT: &str = "kith 2026 account stream v1";
/// `relay/account-key/EPOCH/KEYID` -> an account stream key of epoch >= 1.
pub(crate) const ACCOUNT_KEY_PREFIX: &str = "relay/account-key/";

impl Profile {
    /// Every account stream key this device holds, oldest epoch first.
    /// Epoch 0's key derives from the account key; each revocation starts a
    /// new epoch whose random key reaches the remaining devices in lockboxes.
    ///
    /// A key started by a device that has since been revoked is left out: a
    /// revoked device cannot lure the others onto a stream it reads by
    /// announcing a newer epoch of its own.
    pub(crate) fn account_keys_held(&self) -> Result<Vec<(u32, EpochKey)>, ClientError> {
        let secret = self.identity().account_keys().derive_secret(ACCOUNT_STREAM_CONTEXT);
        let mut out = vec![(0, EpochKey::from_bytes(secret))];
        out.extend(
            self.later_account_keys()?
                .into_iter()
                .map(|(epoch, key, _)| (epoch, key)),
        );
        Ok(out)
    }

    /// The account stream keys of epochs 1 and up this device holds, with
    /// the device that started each (this one for keys from before that was
    /// recorded), leaving out those started by a revoked device.
    pub(crate) fn later_account_keys(&self) -> Result<Vec<(u32, EpochKey, DeviceId)>, ClientError> {
        let me = self.identity().account_id();
        let revoked: BTreeSet<DeviceId> = self
            .store()
            .devices(&me)?
            .into_iter()
            .filter(|d| d.revoked_at.is_some())
            .map(|d| d.cert.device)
            .collect();
        let mut out = Vec::new();
        for (key, bytes) in self.store().meta_with_prefix(ACCOUNT_KEY_PREFIX)? {
            let epoch = key
                .strip_prefix(ACCOUNT_KEY_PREFIX)
                .and_then(|rest| rest.split('/').next())
                .and_then(|e| e.parse::<u32>().ok());
            let Some((key_bytes, started_by)) = split_account_key(&bytes) else {
                continue;
            };
            if started_by.is_some_and(|device| revoked.contains(&device)) {
                continue;
            }
            if let Some(epoch) = epoch {
                let started_by = started_by.unwrap_or_else(|| self.identity().device_id());
                out.push((epoch, EpochKey::from_bytes(key_bytes), started_by));
            }
        }
        Ok(out)
    }

    /// Keeps an account stream key started by device `started_by` (this
    /// one on a revocation, another through a lockbox). Returns whether it
    /// was new.
    pub(crate) fn keep_account_key(
        &self,
        epoch: u32,
        key: &EpochKey,
        started_by: &DeviceId,
    ) -> Result<bool, ClientError> {
        let meta_key = format!("{ACCOUNT_KEY_PREFIX}{epoch:010}/{}", key.key_id());
        if self.store().meta(&meta_key)?.is_some() {
            return Ok(false);
        }
        let mut value = key.as_bytes().to_vec();
        value.extend_from_slice(started_by.as_bytes());
        let mut txn = self.store().begin_write()?;
        txn.set_meta(&meta_key, &value)?;
        txn.commit()?;
        Ok(true)
    }

    /// After a device of this account was revoked: a new account stream
    /// epoch for the remaining devices, a new key epoch in every chat this
    /// account is in, and a notice to every contact. The revoked device holds
    /// none of the new keys.
    pub(crate) fn rotate_after_revocation(&self, revoked: &kith_proto::DeviceId) -> Result<(), ClientError> {
        let epoch = self
            .account_keys_held()?
            .iter()
            .map(|(epoch, _)| *epoch)
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        let key = EpochKey::from_bytes(random_bytes::<32>()?);
        self.keep_account_key(epoch, &key, &self.identity().device_id())?;
        let mut txn = self.store().begin_write()?;
        // Sealed to the remaining devices and announced to contacts by the
        // next relay pass.
        let key_id = key.key_id().to_string();
        txn.queue_mail(&PendingMail::AccountKey { epoch, key_id }, &[])?;
        txn.queue_mail(&PendingMail::RevokedNotice(*revoked), &[])?;
        txn.commit()?;
        let me = self.identity().account_id();
        self.rotate_chats_of(&me)
    }

    /// Starts a new key epoch in every chat this account administers where
    /// `member` is a member (only admins commit epochs; in the others an
    /// admin does it on the revocation notice).
    pub(crate) fn rotate_chats_of(&self, member: &AccountId) -> Result<(), ClientError> {
        let me = self.identity().account_id();
        for entry in self.store().chat_list(&me)? {
            let admin = entry.chat.members.get(&me).is_some_and(|role| role.is_admin());
            if admin && entry.chat.members.contains_key(member) {
                self.rotate_chat_key(&entry.chat.chat)?;
            }
        }
        Ok(())
    }

    /// The keys of a conversation this account may write with and hand out:
    /// those its head document commits to, newest epoch last. (A
    /// conversation from before commitments has only its first key.)
    pub(crate) fn committed_keys(
        &self,
        chat: ChatId,
        held: &BTreeMap<(ChatId, u32, String), EpochKey>,
    ) -> Result<Vec<(u32, EpochKey)>, ClientError> {
        let committed = self.with_cached_doc(DocId::Head(chat), head::committed_epochs)?;
        let mine = held.iter().filter(|((c, _, _), _)| *c == chat);
        Ok(if committed.is_empty() {
            mine.filter(|((_, epoch, _), _)| *epoch == 0)
                .map(|((_, epoch, _), key)| (*epoch, key.clone()))
                .collect()
        } else {
            mine.filter(|((_, epoch, id), _)| committed.get(epoch) == Some(id))
                .map(|((_, epoch, _), key)| (*epoch, key.clone()))
                .collect()
        })
    }

    /// Every held conversation's committed keys, oldest epoch first (the
    /// newest is each list's last).
    pub(crate) fn committed_keys_by_chat(&self) -> Result<BTreeMap<ChatId, Vec<(u32, EpochKey)>>, ClientError> {
        let held = self.held_chat_keys()?;
        let chats: BTreeSet<ChatId> = held.keys().map(|(chat, _, _)| *chat).collect();
        let mut by_chat = BTreeMap::new();
        for chat in chats {
            by_chat.insert(chat, self.committed_keys(chat, &held)?);
        }
        Ok(by_chat)
    }

    /// Keeps a conversation key received from a contact. Returns whether it
    /// was new. (Keys are only written with once the conversation's head
    /// document, which only admins can change, commits to them.)
    pub(crate) fn keep_chat_key(
        &self,
        chat: kith_proto::ChatId,
        epoch: u32,
        key: &kith_core::crypto::EpochKey,
    ) -> Result<bool, ClientError> {
        let me = self.identity().account_id();
        self.write(|ctx| {
            let doc = ctx.doc(DocId::Account(me))?;
            if account::chat_keys(doc).contains_key(&(chat, epoch, key.key_id())) {
                return Ok(false);
            }
            account::set_chat_key(doc, &chat, epoch, key)?;
            Ok(true)
        })
    }

    /// Starts a new key epoch when someone who held the newest epoch's key
    /// is no longer a member (they left, or were removed by a change that
    /// started none), if this account is an admin there. Returns whether it
    /// did. Several admins may do it at once: one commit wins, and the next
    /// check finds nobody left behind.
    pub(crate) fn rotate_if_someone_left(&self, chat: &ChatId) -> Result<bool, ClientError> {
        let me = self.identity().account_id();
        let (admin, left) = self.with_cached_doc(DocId::Head(*chat), |doc| {
            let admin = head::role_of(doc, &me).is_some_and(|role| role.is_admin());
            (admin, head::left_since_newest_epoch(doc))
        })?;
        if !admin || left.is_empty() {
            return Ok(false);
        }
        tracing::info!(%chat, left = left.len(), "starting a new key epoch: members left since the last one");
        self.rotate_chat_key(chat)?;
        Ok(true)
    }

    /// Starts a new key epoch in a chat this account is a member of.
    pub(crate) fn rotate_chat_key(&self, chat: &ChatId) -> Result<(), ClientError> {
        let me = self.identity().account_id();
        let key = kith_core::crypto::EpochKey::from_bytes(random_bytes::<32>()?);
        self.write(|ctx| Self::start_epoch(ctx, chat, &me, &key))
    }

    pub(crate) fn start_epoch(
        ctx: &mut WriteCtx<'_>,
        chat: &ChatId,
        me: &AccountId,
        key: &kith_core::crypto::EpochKey,
    ) -> Result<(), ClientError> {
        let doc = ctx.doc(DocId::Head(*chat))?;
        let epoch = head::next_epoch(doc);
        head::commit_epoch(doc, me, epoch, &key.key_id())?;
        account::set_chat_key(ctx.doc(DocId::Account(*me))?, chat, epoch, key)?;
        Ok(())
    }
}

/// Key derivation contexts (never change them: they name existing logs).
const INVITE_STREAM_CONTEXT: &str = "kith 2026 invite stream v1";
const CONTACT_STREAM_CONTEXT: &str = "kith 2026 contact stream v1";

/// A stored account stream key: 32 key bytes, then the 32-byte id of the
/// device that started the epoch. Keys kept by older versions have no
/// starter and stay trusted.
fn split_account_key(value: &[u8]) -> Option<([u8; 32], Option<DeviceId>)> {
    let key = <[u8; 32]>::try_from(value.get(..32)?).ok()?;
    match value.len() {
        32 => Some((key, None)),
        64 => {
            let device = <[u8; 32]>::try_from(value.get(32..)?).ok()?;
            Some((key, Some(DeviceId::from_bytes(device))))
        }
        _ => None,
    }
}

/// The streams the held keys open.
impl Profile {
    /// The conversation keys this account holds, by chat, epoch and key id.
    pub(crate) fn held_chat_keys(&self) -> Result<BTreeMap<(ChatId, u32, String), EpochKey>, ClientError> {
        self.read_doc(DocId::Account(self.identity().account_id()), account::chat_keys)
    }

    /// Every account stream this device holds a key for, oldest first.
    /// Epoch 0's key derives from the account key; each revocation starts a
    /// new epoch whose random key reaches the remaining devices in lockboxes.
    pub(crate) fn account_streams(&self) -> Result<Vec<StreamKey>, ClientError> {
        let me = self.identity().account_id();
        Ok(self
            .account_keys_held()?
            .into_iter()
            .map(|(epoch, key)| StreamKey::new(Followed::Account, Stream::Account(me), epoch, key))
            .collect())
    }

    /// The account stream this device writes to: the newest epoch.
    pub(crate) fn account_stream(&self) -> Result<StreamKey, ClientError> {
        self.account_streams()?
            .pop()
            .ok_or_else(|| ClientError::Identity("no account stream".into()))
    }

    /// A contact's pairwise channel.
    pub(crate) fn contact_stream(account: AccountId, record: &ContactRecord) -> StreamKey {
        Self::contact_channel(account, &record.channel_secret)
    }

    /// The pairwise channel with `account` made from `channel_secret`.
    pub(crate) fn contact_channel(account: AccountId, channel_secret: &[u8; 32]) -> StreamKey {
        StreamKey::new(
            Followed::Contact(account),
            Stream::Contact,
            0,
            EpochKey::derive(CONTACT_STREAM_CONTEXT, channel_secret),
        )
    }

    /// The stream of connect requests for an invite secret.
    pub(crate) fn invite_stream(secret: &[u8; 32]) -> StreamKey {
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
        for secret in self.contacts().followed_invite_secrets()? {
            out.push(Self::invite_stream(&secret));
        }
        out.push(self.directory().inbox_stream()?);
        for (account, record) in self.contacts().records()? {
            if record.is_connected() {
                out.push(Self::contact_stream(account, &record));
            }
        }
        for ((chat, epoch, _), key) in self.held_chat_keys()? {
            out.push(StreamKey::new(Followed::Chat(chat), Stream::Chat(chat), epoch, key));
        }
        Ok(out)
    }
}
