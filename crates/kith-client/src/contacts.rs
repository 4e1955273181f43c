//! Invites and contacts. An invite link carries the account id, the sealing
//! key of the inviting device and a secret; holding it is consent. Links
//! are personal (many people, until revoked) or one-time (`invites`).
//! The contact list lives in the account document, so every device of the
//! account sees the same contacts and the same blocks.

use crate::error::ClientError;
use crate::invites::{InviteKind, InviteLink, InviteLinks, Judgement, LinkState, RefusedAttempt};
use crate::profile::Profile;
use crate::random::random_bytes;
use crate::views::ContactView;
use kith_core::DeviceCertificate;
use kith_core::docs::account;
use kith_core::docs::contact::{ContactRecord, ContactState};
use kith_core::relay::InviteRefusal;
use kith_proto::{AccountId, DocId};
use kith_store::PendingMail;

const INVITE_PREFIX: &str = "kith://invite/";
/// Meta key of the one invite secret of builds before invite links (it
/// becomes the personal link).
const INVITE_SECRET_META: &str = "invite/secret";
/// Meta key of this device's invite links (JSON of [`InviteLinks`]).
const INVITE_LINKS_META: &str = "invite/links";
/// Meta key prefix of a refusal this device was told about, by account.
const INVITE_REFUSED_META: &str = "invite/refused/";
/// Meta key prefix of the tag of the link last used to reach an account.
const INVITE_USED_META: &str = "invite/used/";

/// A parsed invite link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invite {
    /// Whose invite it is.
    pub account: AccountId,
    /// X25519 key of the device that issued it (connect requests are sealed to it).
    pub sealing_key: [u8; 32],
    /// The link's secret.
    pub secret: [u8; 32],
}

impl Invite {
    /// Parses `kith://invite/ACCOUNT.SEALINGKEY.SECRET`.
    pub fn parse(link: &str) -> Result<Invite, ClientError> {
        let bad = |why: &str| ClientError::BadInvite(format!("{why} (expected {INVITE_PREFIX}ACCOUNT.KEY.SECRET)"));
        let rest = link
            .trim()
            .strip_prefix(INVITE_PREFIX)
            .ok_or_else(|| bad("not a Kith invite link"))?;
        let parts: Vec<&str> = rest.split('.').collect();
        let [account, key, secret] = parts.as_slice() else {
            return Err(bad("wrong number of parts"));
        };
        let account: AccountId = account.parse().map_err(|_| bad("bad account id"))?;
        let sealing_key = decode32(key).ok_or_else(|| bad("bad device key"))?;
        let secret = decode32(secret).ok_or_else(|| bad("bad secret"))?;
        Ok(Invite {
            account,
            sealing_key,
            secret,
        })
    }

    /// The link form.
    pub fn link(&self) -> String {
        format!(
            "{INVITE_PREFIX}{}.{}.{}",
            self.account,
            kith_proto::encode_id(&self.sealing_key),
            kith_proto::encode_id(&self.secret)
        )
    }

    /// The stored form of a pending connect (sealing key || secret).
    pub(crate) fn pending_bytes(&self) -> Vec<u8> {
        let mut out = self.sealing_key.to_vec();
        out.extend_from_slice(&self.secret);
        out
    }

    pub(crate) fn from_pending(account: AccountId, bytes: &[u8]) -> Option<Invite> {
        if bytes.len() != 64 {
            return None;
        }
        Some(Invite {
            account,
            sealing_key: bytes[..32].try_into().ok()?,
            secret: bytes[32..].try_into().ok()?,
        })
    }
}

fn decode32(text: &str) -> Option<[u8; 32]> {
    kith_proto::decode_id(text)?.try_into().ok()
}

impl Profile {
    /// Someone proved they hold one of our links (through the server or on
    /// a direct connection): with a live link they become an accepted
    /// contact and the use is counted; with a dead one the attempt is
    /// remembered, they are told why (mail on the channel they named), and
    /// the answer is an error. Returns whether a contact was added.
    pub(crate) fn accept_connect(
        &self,
        cert: &DeviceCertificate,
        invite_secret: &[u8; 32],
        channel_secret: [u8; 32],
        name: Option<String>,
    ) -> Result<bool, ClientError> {
        cert.verify()?;
        let account = cert.account;
        if account == self.identity().account_id() {
            return Ok(false);
        }
        match self.contacts().get(&account)? {
            // A blocked account learns nothing, not even whether the link works.
            Some(record) if record.blocked => {
                tracing::info!(%account, "dropped a connect request from a blocked account");
                return Ok(false);
            }
            // An accepted contact keeps the channel both sides agreed on: a
            // second request (a replay, or someone else's) must not move
            // this contact to a channel its sender chose, count as a use, or
            // be answered.
            Some(record) if record.state == ContactState::Accepted => {
                if record.channel_secret != channel_secret {
                    tracing::warn!(%account, "a connect request for an accepted contact: kept its channel");
                }
                return Ok(false);
            }
            _ => {}
        }
        // The request's identity: the same request read again (a cursor
        // reset, or someone re-posting it on the link's log) is judged once.
        let request = request_id(invite_secret, &channel_secret, &cert.device);
        let judgement = self.contacts().update_links(|links, now, txn| {
            if links.handled(invite_secret, &request) {
                return Ok(None);
            }
            let judgement = links.judge(invite_secret, now);
            match judgement {
                Judgement::Unknown => {}
                Judgement::Accept => {
                    // Counted now, under the write lock: two requests on one
                    // one-time link cannot both be accepted.
                    links.record_use(invite_secret, now);
                    links.remember(invite_secret, request);
                }
                Judgement::Refuse(reason) => {
                    let answer = links.answers_left_today(invite_secret, now);
                    links.record_attempt(
                        invite_secret,
                        RefusedAttempt {
                            at_ms: now,
                            account,
                            reason,
                        },
                    );
                    links.remember(invite_secret, request);
                    // A flood on a dead link (new accounts cost nothing)
                    // gets a bounded number of answers a day; the rest are
                    // only counted.
                    if answer {
                        let mut payload = channel_secret.to_vec();
                        payload.push(reason.to_byte());
                        payload.extend_from_slice(&kith_core::relay::invite_link_tag(invite_secret));
                        txn.queue_mail(&PendingMail::InviteRefused(account), &payload)?;
                    }
                }
            }
            Ok(Some(judgement))
        })?;
        match judgement {
            None => return Ok(false),
            Some(Judgement::Accept) => {}
            Some(Judgement::Unknown) => {
                return Err(ClientError::BadInvite(
                    "a connect request for a link this device never issued".into(),
                ));
            }
            Some(Judgement::Refuse(reason)) => return Err(ClientError::DeadInvite(reason)),
        }
        self.docs().learn_certificate(cert)?;
        let name = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        let record = ContactRecord {
            name: name.clone(),
            state: ContactState::Accepted,
            blocked: false,
            channel_secret,
        };
        self.put_contact(&account, &record)?;
        if let Some(name) = name {
            self.learn_profile_name(&account, &name)?;
        }
        Ok(true)
    }

    /// `account`, whose link we used, says it no longer works: the pending
    /// contact is dropped and the reason kept to show. Ignored once the
    /// contact is accepted (an old refusal must not undo a connection).
    pub(crate) fn invite_refused(
        &self,
        account: &AccountId,
        reason: InviteRefusal,
        link: [u8; 8],
    ) -> Result<bool, ClientError> {
        let Some(mut record) = self.contacts().get(account)? else {
            return Ok(false);
        };
        if record.state != ContactState::Pending {
            return Ok(false);
        }
        // Only the answer about the link used last counts: a late refusal
        // of an older link must not drop a newer request.
        let used = self.store().meta(&format!("{INVITE_USED_META}{account}"))?;
        if used.is_some_and(|used| used.as_slice() != link.as_slice()) {
            tracing::info!(%account, "ignored a refusal of a link used before the current request");
            return Ok(false);
        }
        record.state = ContactState::Deleted;
        self.put_contact(account, &record)?;
        let mut txn = self.store().begin_write()?;
        txn.set_meta(&format!("{INVITE_REFUSED_META}{account}"), &[reason.to_byte()])?;
        txn.clear_mail(&PendingMail::Connect(*account))?;
        txn.commit()?;
        Ok(true)
    }

    /// The invite secret and channel secret to present to `account` when we
    /// used its invite and it has not answered yet.
    pub(crate) fn pending_connect(
        &self,
        account: &AccountId,
    ) -> Result<Option<crate::p2p::frame::ConnectOffer>, ClientError> {
        let Some(bytes) = self.store().pending_mail_payload(&PendingMail::Connect(*account))? else {
            return Ok(None);
        };
        let (Some(invite), Some(record)) = (Invite::from_pending(*account, &bytes), self.contacts().get(account)?)
        else {
            return Ok(None);
        };
        Ok(Some(crate::p2p::frame::ConnectOffer {
            invite_secret: invite.secret,
            channel_secret: record.channel_secret,
        }))
    }

    /// `account`, whose invite we used, answered on a direct connection: it
    /// is an accepted contact now and the pending request is done.
    pub(crate) fn connect_answered(&self, account: &AccountId, name: Option<String>) -> Result<(), ClientError> {
        self.mark_accepted(account, name)?;
        let mut txn = self.store().begin_write()?;
        txn.clear_mail(&PendingMail::Connect(*account))?;
        txn.commit()?;
        Ok(())
    }

    /// A contact answered (a hello through the server, a welcome on a direct
    /// connection): accepted, with the name it gave. Returns whether
    /// anything changed.
    pub(crate) fn mark_accepted(&self, account: &AccountId, name: Option<String>) -> Result<bool, ClientError> {
        let Some(mut record) = self.contacts().get(account)? else {
            return Ok(false);
        };
        let name = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        let changed = record.state != ContactState::Accepted || (name.is_some() && record.name != name);
        if changed {
            record.state = ContactState::Accepted;
            if name.is_some() {
                record.name = name.clone();
            }
            self.put_contact(account, &record)?;
        }
        if let Some(name) = name {
            self.learn_profile_name(account, &name)?;
        }
        Ok(changed)
    }

    /// Sets this account's profile picture from an image file's bytes (any
    /// size and orientation; it is made a 256 px JPEG without metadata).
    pub fn set_avatar(&self, picture: &[u8]) -> Result<(), ClientError> {
        let avatar = crate::avatar::prepare_avatar(picture)?;
        let me = self.identity().account_id();
        self.write(|ctx| {
            account::set_avatar(ctx.doc(DocId::Account(me))?, Some(&avatar))?;
            Ok(())
        })
    }

    /// The profile picture of this account (`None`) or of a contact.
    pub fn avatar(&self, account: Option<&AccountId>) -> Result<Option<Vec<u8>>, ClientError> {
        let me = self.identity().account_id();
        self.read_doc(DocId::Account(me), |doc| match account {
            Some(account) if *account != me => account::contact_avatar(doc, account),
            _ => account::avatar(doc),
        })
    }

    /// Keeps a contact's picture as they sent it (after checking it decodes
    /// within the limits, re-encoded the same way as our own).
    pub(crate) fn keep_contact_avatar(&self, account: &AccountId, picture: &[u8]) -> Result<bool, ClientError> {
        let Ok(avatar) = crate::avatar::prepare_avatar(picture) else {
            tracing::warn!(%account, "ignored a contact's picture that does not decode");
            return Ok(false);
        };
        let me = self.identity().account_id();
        if self.avatar(Some(account))?.is_some_and(|known| known == avatar) {
            return Ok(false);
        }
        self.write(|ctx| {
            account::set_contact_avatar(ctx.doc(DocId::Account(me))?, account, &avatar)?;
            Ok(true)
        })
    }

    /// Records a contact's display name in the read model (names shown
    /// beside their messages).
    pub(crate) fn learn_profile_name(&self, account: &AccountId, name: &str) -> Result<(), ClientError> {
        let mut txn = self.store().begin_write()?;
        txn.apply(&[kith_core::ReadModelUpdate::Profile {
            account: *account,
            name: name.to_owned(),
        }])?;
        txn.commit()?;
        Ok(())
    }

    /// Updates a contact record (the relay path: they answered, renamed).
    pub(crate) fn put_contact(&self, account: &AccountId, record: &ContactRecord) -> Result<(), ClientError> {
        let me = self.identity().account_id();
        self.write(|ctx| {
            account::set_contact(ctx.doc(DocId::Account(me))?, account, record)?;
            Ok(())
        })
    }
}

/// Contacts: invites, adding, blocking, and the direct chat with each.
#[derive(Clone, Copy, Debug)]
pub struct Contacts<'p> {
    pub(crate) profile: &'p Profile,
}

impl Profile {
    /// Contacts of this profile.
    pub fn contacts(&self) -> Contacts<'_> {
        Contacts { profile: self }
    }
}

impl Contacts<'_> {
    /// This device's invite links (a build from before links had one
    /// secret: it is the personal link).
    pub fn links(&self) -> Result<InviteLinks, ClientError> {
        let store = self.profile.store();
        match store.meta(INVITE_LINKS_META)? {
            Some(bytes) => decode_links(&bytes),
            None => Ok(legacy_links(store.meta(INVITE_SECRET_META)?, self.profile.now_ms())),
        }
    }

    /// Reads, changes and writes the links in one write transaction, so
    /// concurrent judges, revocations and new links (sync, peers, the app,
    /// another process) never overwrite each other.
    fn update_links<R>(
        &self,
        change: impl FnOnce(&mut InviteLinks, u64, &mut dyn kith_store::WriteTxn) -> Result<R, ClientError>,
    ) -> Result<R, ClientError> {
        let now = self.profile.now_ms();
        let mut txn = self.profile.store().begin_write()?;
        let mut links = match txn.meta(INVITE_LINKS_META)? {
            Some(bytes) => decode_links(&bytes)?,
            None => legacy_links(txn.meta(INVITE_SECRET_META)?, now),
        };
        let out = change(&mut links, now, &mut *txn)?;
        links.prune(now);
        txn.set_meta(INVITE_LINKS_META, &encode_links(&links)?)?;
        txn.commit()?;
        Ok(out)
    }

    /// The secrets of every link whose connect requests this device reads.
    pub(crate) fn followed_invite_secrets(&self) -> Result<Vec<[u8; 32]>, ClientError> {
        let now = self.profile.now_ms();
        let links = self.links()?;
        if links.personal(now).is_some() {
            return Ok(links.followed(now));
        }
        // Made on first use, so a fresh profile has a link to hand out.
        self.invite()?;
        Ok(self.links()?.followed(now))
    }

    fn link_of(&self, link: &InviteLink) -> Invite {
        Invite {
            account: self.profile.identity().account_id(),
            sealing_key: self.profile.identity().certificate().sealing_key,
            secret: link.secret,
        }
    }

    /// This device's personal link (made if there is none live).
    pub fn invite(&self) -> Result<Invite, ClientError> {
        if let Some(link) = self.links()?.personal(self.profile.now_ms()) {
            return Ok(self.link_of(link));
        }
        let secret = random_bytes::<32>()?;
        self.update_links(|links, now, _| {
            // Another writer may have made one meanwhile.
            if let Some(link) = links.personal(now) {
                return Ok(self.link_of(link));
            }
            let link = InviteLink::new(secret, InviteKind::Personal, now, None);
            let invite = self.link_of(&link);
            links.links.push(link);
            Ok(invite)
        })
    }

    /// A new link: one-time, or another personal one (which replaces the
    /// current personal link), optionally expiring after `expires_in_ms`.
    pub fn new_link(&self, kind: InviteKind, expires_in_ms: Option<u64>) -> Result<InviteLinkView, ClientError> {
        let secret = random_bytes::<32>()?;
        self.update_links(|links, now, _| {
            if kind == InviteKind::Personal
                && let Some(id) = links.personal(now).map(InviteLink::id)
            {
                links.revoke(&id, now);
            }
            let link = InviteLink::new(secret, kind, now, expires_in_ms.map(|ms| now.saturating_add(ms)));
            let view = self.view(&link, now);
            links.links.push(link);
            Ok(view)
        })
    }

    /// Revokes the link with `id` (from [`Contacts::list_links`]): whoever
    /// uses it from now on is told it was revoked.
    pub fn revoke_link(&self, id: &str) -> Result<InviteLinkView, ClientError> {
        self.update_links(|links, now, _| {
            let missing = || ClientError::BadInvite(format!("no invite link {id} on this device"));
            if !links.revoke(id, now) {
                return Err(missing());
            }
            let link = links.by_id(id).ok_or_else(missing)?;
            Ok(self.view(link, now))
        })
    }

    /// Every link this device remembers, newest first, with its state.
    pub fn list_links(&self) -> Result<Vec<InviteLinkView>, ClientError> {
        self.invite()?;
        let now = self.profile.now_ms();
        Ok(self
            .links()?
            .links
            .iter()
            .rev()
            .map(|link| self.view(link, now))
            .collect())
    }

    fn view(&self, link: &InviteLink, now_ms: u64) -> InviteLinkView {
        let state = link.state(now_ms);
        InviteLinkView {
            id: link.id(),
            kind: match link.kind {
                InviteKind::Personal => "personal",
                InviteKind::OneTime => "one-time",
            },
            state: state.label(),
            // A dead link is not handed out again.
            link: (state == LinkState::Live).then(|| self.link_of(link).link()),
            created_ms: link.created_ms,
            expires_ms: link.expires_ms,
            uses: link.uses,
            refused_attempts: link.attempts.clone(),
        }
    }

    /// Adds the account behind an invite link as a contact (pending until
    /// they answer through the sync server or a direct connection).
    pub fn add(&self, link: &str) -> Result<AccountId, ClientError> {
        let invite = Invite::parse(link)?;
        let me = self.profile.identity().account_id();
        if invite.account == me {
            return Err(ClientError::BadInvite("this is your own invite".into()));
        }
        let existing = self.get(&invite.account)?;
        let channel_secret = match &existing {
            Some(record) => record.channel_secret,
            None => random_bytes::<32>()?,
        };
        let mut txn = self.profile.store().begin_write()?;
        txn.delete_meta(&format!("{INVITE_REFUSED_META}{}", invite.account))?;
        txn.set_meta(
            &format!("{INVITE_USED_META}{}", invite.account),
            &kith_core::relay::invite_link_tag(&invite.secret),
        )?;
        txn.commit()?;
        self.profile.write(|ctx| {
            let doc = ctx.doc(DocId::Account(me))?;
            let record = match existing {
                Some(mut record) => {
                    record.blocked = false;
                    // A refused or deleted contact tries again.
                    if record.state != ContactState::Accepted {
                        record.state = ContactState::Pending;
                    }
                    record
                }
                None => ContactRecord {
                    name: None,
                    state: ContactState::Pending,
                    blocked: false,
                    channel_secret,
                },
            };
            account::set_contact(doc, &invite.account, &record)?;
            ctx.queue_mail(&PendingMail::Connect(invite.account), &invite.pending_bytes())?;
            Ok(())
        })?;
        Ok(invite.account)
    }

    /// One contact's record.
    pub fn get(&self, account: &AccountId) -> Result<Option<ContactRecord>, ClientError> {
        Ok(self.records()?.remove(account))
    }

    /// Every contact record, from the account document.
    pub fn records(&self) -> Result<std::collections::BTreeMap<AccountId, ContactRecord>, ClientError> {
        self.profile
            .read_doc(DocId::Account(self.profile.identity().account_id()), account::contacts)
    }

    /// The contact list. A contact whose link was refused shows as
    /// `refused`, with what its owner's device answered.
    pub fn list(&self) -> Result<Vec<ContactView>, ClientError> {
        let mut list: Vec<ContactView> =
            self.profile
                .read_doc(DocId::Account(self.profile.identity().account_id()), |doc| {
                    account::contacts(doc)
                        .into_iter()
                        // Requests have their own list; ignored ones none.
                        .filter(|(_, record)| {
                            record.blocked || !matches!(record.state, ContactState::Request | ContactState::Ignored)
                        })
                        .map(|(account_id, record)| ContactView {
                            account_id,
                            state: record.state_label().to_owned(),
                            has_avatar: account::contact_avatar(doc, &account_id).is_some(),
                            name: record.name,
                            refusal: None,
                        })
                        .collect()
                })?;
        for contact in &mut list {
            if contact.state != "deleted" {
                continue;
            }
            let refused = self
                .profile
                .store()
                .meta(&format!("{INVITE_REFUSED_META}{}", contact.account_id))?;
            if let Some(reason) = refused.and_then(|bytes| bytes.first().copied().and_then(InviteRefusal::from_byte)) {
                contact.state = "refused".to_owned();
                contact.refusal = Some(reason.message().to_owned());
            }
        }
        Ok(list)
    }

    /// Accounts this account blocked.
    pub fn blocked(&self) -> Result<std::collections::BTreeSet<AccountId>, ClientError> {
        Ok(self
            .profile
            .contacts()
            .records()?
            .into_iter()
            .filter(|(_, record)| record.blocked)
            .map(|(account, _)| account)
            .collect())
    }

    /// Blocks or unblocks a contact on every device of this account.
    pub fn set_blocked(&self, account: &AccountId, blocked: bool) -> Result<(), ClientError> {
        let me = self.profile.identity().account_id();
        let mut record = self
            .profile
            .contacts()
            .get(account)?
            .ok_or_else(|| ClientError::NoSuchContact(account.to_string()))?;
        record.blocked = blocked;
        self.profile.write(|ctx| {
            account::set_contact(ctx.doc(DocId::Account(me))?, account, &record)?;
            Ok(())
        })
    }

    /// The direct chat with a contact: the existing one, or a new one.
    pub fn direct_chat(&self, account: &AccountId) -> Result<kith_proto::ChatId, ClientError> {
        let me = self.profile.identity().account_id();
        if *account == me {
            return Err(ClientError::NoSuchContact("yourself".into()));
        }
        let record = self
            .profile
            .contacts()
            .get(account)?
            .ok_or_else(|| ClientError::NoSuchContact(account.to_string()))?;
        if record.blocked {
            return Err(ClientError::NoSuchContact(format!("{account} (blocked)")));
        }
        let existing = self.profile.store().chat_list(&me)?.into_iter().find(|entry| {
            entry.chat.kind == kith_core::ChatKind::Direct
                && entry.chat.members.len() == 2
                && entry.chat.members.contains_key(account)
        });
        if let Some(entry) = existing {
            return Ok(entry.chat.chat);
        }
        // Direct chats have no name of their own: each side shows the other person.
        self.profile
            .chats()
            .create("", &[*account], kith_core::ChatKind::Direct)
    }
}

/// One invite link as shown to its owner.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct InviteLinkView {
    /// Short id (for `kith invite revoke`).
    pub id: String,
    /// `personal` or `one-time`.
    pub kind: &'static str,
    /// `live`, `revoked`, `used` or `expired`.
    pub state: &'static str,
    /// The link, while it works.
    pub link: Option<String>,
    /// When it was made, ms since the Unix epoch.
    pub created_ms: u64,
    /// When it stops working.
    pub expires_ms: Option<u64>,
    /// People who became contacts through it.
    pub uses: u32,
    /// People who tried it after it stopped working.
    pub refused_attempts: Vec<RefusedAttempt>,
}

/// What identifies one connect request: its link, the channel it names
/// and the device that sent it.
fn request_id(invite_secret: &[u8; 32], channel_secret: &[u8; 32], device: &kith_proto::DeviceId) -> [u8; 16] {
    let mut hasher = blake3::Hasher::new_derive_key("kith invite request id v1");
    hasher.update(invite_secret);
    hasher.update(channel_secret);
    hasher.update(device.as_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    id
}

fn decode_links(bytes: &[u8]) -> Result<InviteLinks, ClientError> {
    serde_json::from_slice(bytes)
        .map_err(|err| ClientError::BadInvite(format!("this device's invite links are unreadable: {err}")))
}

/// The registry of a build from before invite links: its one secret is
/// the personal link.
fn legacy_links(secret: Option<Vec<u8>>, now_ms: u64) -> InviteLinks {
    let mut links = InviteLinks::default();
    if let Some(secret) = secret.and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok()) {
        links
            .links
            .push(InviteLink::new(secret, InviteKind::Personal, now_ms, None));
    }
    links
}

fn encode_links(links: &InviteLinks) -> Result<Vec<u8>, ClientError> {
    serde_json::to_vec(links).map_err(|err| ClientError::BadInvite(format!("could not keep the invite links: {err}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_refusal_counts_only_for_the_link_used_last() {
        let alice = crate::test_support::persona(1, "Alice");
        let erin = crate::test_support::persona(2, "Erin");
        let first = alice.contacts().invite().unwrap();
        let second = alice.contacts().new_link(InviteKind::OneTime, None).unwrap();
        let alice_id = alice.identity().account_id();
        erin.contacts().add(&first.link()).unwrap();
        erin.contacts().add(second.link.as_deref().unwrap()).unwrap();
        let old_tag = kith_core::relay::invite_link_tag(&first.secret);
        assert!(
            !erin.invite_refused(&alice_id, InviteRefusal::Revoked, old_tag).unwrap(),
            "a late answer about the first link"
        );
        assert_eq!(
            erin.contacts().get(&alice_id).unwrap().unwrap().state,
            ContactState::Pending
        );
        let second_secret = Invite::parse(second.link.as_deref().unwrap()).unwrap().secret;
        let tag = kith_core::relay::invite_link_tag(&second_secret);
        assert!(erin.invite_refused(&alice_id, InviteRefusal::Used, tag).unwrap());
        let shown = erin.contacts().list().unwrap();
        assert_eq!(shown[0].state, "refused");
        assert_eq!(shown[0].refusal.as_deref(), Some("this one-time link was already used"));
    }

    #[test]
    fn invite_links_round_trip_and_refuse_garbage() {
        let invite = Invite {
            account: AccountId::from_bytes([3; 32]),
            sealing_key: [4; 32],
            secret: [5; 32],
        };
        assert_eq!(Invite::parse(&invite.link()).unwrap(), invite);
        for bad in [
            "",
            "https://example.com",
            "kith://invite/abc",
            "kith://invite/a.b.c",
            &invite.link()[..invite.link().len() - 3],
        ] {
            assert!(matches!(Invite::parse(bad), Err(ClientError::BadInvite(_))), "{bad:?}");
        }
    }
}
