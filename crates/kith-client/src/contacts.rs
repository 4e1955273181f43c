//! Invites and contacts. An invite link carries the account id, the sealing
//! key of the inviting device and a one-time secret; holding it is consent.
//! The contact list lives in the account document, so every device of the
//! account sees the same contacts and the same blocks.

use crate::error::ClientError;
use crate::profile::Profile;
use crate::random::random_bytes;
use crate::views::ContactView;
use kith_core::DeviceCertificate;
use kith_core::docs::account;
use kith_core::docs::contact::{ContactRecord, ContactState};
use kith_proto::{AccountId, DocId};
use kith_store::PendingMail;

const INVITE_PREFIX: &str = "kith://invite/";
/// Meta key of this device's current invite secret.
const INVITE_SECRET_META: &str = "invite/secret";

/// A parsed invite link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invite {
    /// Whose invite it is.
    pub account: AccountId,
    /// X25519 key of the device that issued it (connect requests are sealed to it).
    pub sealing_key: [u8; 32],
    /// The one-time secret.
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
    /// Someone proved they hold our current invite (through the server or on
    /// a direct connection): they become an accepted contact and the invite
    /// is replaced. Returns whether a contact was added.
    pub(crate) fn accept_connect(
        &self,
        cert: &DeviceCertificate,
        invite_secret: &[u8; 32],
        channel_secret: [u8; 32],
        name: Option<String>,
    ) -> Result<bool, ClientError> {
        // One-time: the secret must be the current one, which is replaced below.
        if *invite_secret != self.contacts().invite_secret()? {
            return Err(ClientError::BadInvite(
                "a connect request for an invite already used".into(),
            ));
        }
        cert.verify()?;
        let account = cert.account;
        if account == self.identity().account_id() {
            return Ok(false);
        }
        match self.contacts().get(&account)? {
            Some(record) if record.blocked => {
                tracing::info!(%account, "dropped a connect request from a blocked account");
                return Ok(false);
            }
            // An accepted contact keeps the channel both sides agreed on: a
            // second request (a replay, or someone else's) must not move
            // this contact to a channel its sender chose.
            Some(record) if record.state == ContactState::Accepted => {
                if record.channel_secret != channel_secret {
                    tracing::warn!(%account, "a connect request for an accepted contact: kept its channel");
                }
                return Ok(false);
            }
            _ => {}
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
        self.contacts().rotate_invite()?;
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
    /// This device's current invite secret (created on first use; replaced
    /// once someone has used it).
    pub fn invite_secret(&self) -> Result<[u8; 32], ClientError> {
        if let Some(bytes) = self.profile.store().meta(INVITE_SECRET_META)?
            && let Ok(secret) = <[u8; 32]>::try_from(bytes.as_slice())
        {
            return Ok(secret);
        }
        self.rotate_invite()
    }

    /// Replaces the invite secret: the old link stops working.
    pub fn rotate_invite(&self) -> Result<[u8; 32], ClientError> {
        let secret = random_bytes::<32>()?;
        let mut txn = self.profile.store().begin_write()?;
        txn.set_meta(INVITE_SECRET_META, &secret)?;
        txn.commit()?;
        Ok(secret)
    }

    /// This device's invite link.
    pub fn invite(&self) -> Result<Invite, ClientError> {
        Ok(Invite {
            account: self.profile.identity().account_id(),
            sealing_key: self.profile.identity().certificate().sealing_key,
            secret: self.invite_secret()?,
        })
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
        self.profile.write(|ctx| {
            let doc = ctx.doc(DocId::Account(me))?;
            let record = match existing {
                Some(mut record) => {
                    record.blocked = false;
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

    /// The contact list.
    pub fn list(&self) -> Result<Vec<ContactView>, ClientError> {
        self.profile
            .read_doc(DocId::Account(self.profile.identity().account_id()), |doc| {
                account::contacts(doc)
                    .into_iter()
                    .map(|(account_id, record)| ContactView {
                        account_id,
                        state: record.state_label().to_owned(),
                        has_avatar: account::contact_avatar(doc, &account_id).is_some(),
                        name: record.name,
                    })
                    .collect()
            })
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

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
