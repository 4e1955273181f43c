//! Finding people through the sync server, and being found: a username
//! (the server keeps only the hash of its canonical form and a record
//! sealed with a key derived from the name), this device's request inbox
//! (strangers append sealed requests to it; only this device reads it),
//! sending a message request, and reporting abuse. See `requests` for what
//! happens to a request when it arrives.

use crate::error::ClientError;
use crate::profile::Profile;
use crate::random::random_bytes;
use crate::streams::{StreamKey, random_nonce, seal_item};
use kith_core::DeviceCertificate;
use kith_core::crypto::{NameRecord, seal_to_device};
use kith_core::docs::account;
use kith_core::docs::contact::{ContactRecord, ContactState, MAX_REQUEST_TEXT_BYTES};
use kith_core::relay::{MessageRequest, RelayItem};
use kith_net::RelayConnection;
use kith_proto::{AccountId, DeviceId, DocId, ManageKey, Username};

/// Meta key of this device's inbox secret.
const INBOX_SECRET_META: &str = "inbox/secret";
/// Meta key of the inbox this device last opened on a server (a hash of
/// the server and the log), so a sync pass opens it once.
const INBOX_OPENED_META: &str = "inbox/opened";
/// Context of a sealed message request.
pub(crate) const REQUEST_CONTEXT: &[u8] = b"kith message request v1";

/// Someone a username reaches.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FoundPerson {
    /// The name as its owner typed it.
    pub username: String,
    /// Their account.
    pub account_id: AccountId,
    /// The device that takes requests for the name.
    pub device_id: DeviceId,
    /// What they are to us already: `none`, or a contact state.
    pub relation: String,
    #[serde(skip)]
    certificate: DeviceCertificate,
}

/// Whom a request goes to.
#[derive(Clone, Debug)]
pub enum RequestTo {
    /// Someone found by their username.
    Found(Box<FoundPerson>),
    /// Someone known from a shared group (people you may know).
    Member(AccountId),
}

/// The directory: usernames, requests, reports.
#[derive(Clone, Copy, Debug)]
pub struct Directory<'p> {
    profile: &'p Profile,
}

impl Profile {
    /// Usernames, message requests and reports, through the sync server.
    pub fn directory(&self) -> Directory<'_> {
        Directory { profile: self }
    }
}

impl<'p> Directory<'p> {
    /// The profile this directory speaks for.
    pub(crate) fn profile(&self) -> &'p Profile {
        self.profile
    }
}

impl Directory<'_> {
    /// The username this account holds, if any.
    pub fn username(&self) -> Result<Option<String>, ClientError> {
        let me = self.profile.identity().account_id();
        Ok(self
            .profile
            .read_doc(DocId::Account(me), account::username)?
            .map(|(name, _)| name))
    }

    /// Claims `name` on the server (replacing this account's previous
    /// name, which is released): whoever looks it up reaches this device's
    /// inbox with a request. A name held by someone else, or a look-alike
    /// of one, is [`ClientError::UsernameTaken`].
    pub async fn claim(&self, connection: &RelayConnection, name: &str) -> Result<String, ClientError> {
        let username = Username::parse(name)?;
        let me = self.profile.identity().account_id();
        let previous = self.profile.read_doc(DocId::Account(me), account::username)?;
        // One secret manages the account's name, whichever device claims.
        let secret = match &previous {
            Some((_, secret)) => *secret,
            None => random_bytes::<32>()?,
        };
        self.open_inbox(connection).await?;
        let record = NameRecord {
            username: username.shown().to_owned(),
            account: me,
            certificate: self.profile.identity().certificate().to_bytes(),
        }
        .seal(&username.record_key(), random_nonce()?)
        .map_err(ClientError::crypto("sealing a username record"))?;
        let manager = *blake3::hash(&secret).as_bytes();
        match connection.claim_name(username.lookup(), record, manager).await {
            Ok(()) => {}
            Err(kith_net::NetError::Server {
                code: kith_proto::ErrorCode::Taken,
                ..
            }) => return Err(ClientError::UsernameTaken(username.shown().to_owned())),
            Err(err) => return Err(err.into()),
        }
        if let Some((old, _)) = &previous
            && let Ok(old) = Username::parse(old)
            && old.lookup() != username.lookup()
        {
            // The old name goes: one name per account.
            if let Err(err) = connection.release_name(old.lookup(), ManageKey(secret)).await {
                tracing::warn!(%err, "could not release the previous username");
            }
        }
        self.profile.write(|ctx| {
            account::set_username(ctx.doc(DocId::Account(me))?, Some((username.shown(), &secret)))?;
            Ok(())
        })?;
        Ok(username.shown().to_owned())
    }

    /// Gives this account's username up; returns it.
    pub async fn release(&self, connection: &RelayConnection) -> Result<String, ClientError> {
        let me = self.profile.identity().account_id();
        let Some((name, secret)) = self.profile.read_doc(DocId::Account(me), account::username)? else {
            return Err(ClientError::NoSuchUsername("this account has no username".into()));
        };
        let username = Username::parse(&name)?;
        match connection.release_name(username.lookup(), ManageKey(secret)).await {
            // Already gone (released from another device, or the server
            // lost it): nothing left to give up.
            Ok(())
            | Err(kith_net::NetError::Server {
                code: kith_proto::ErrorCode::NotFound,
                ..
            }) => {}
            Err(err) => return Err(err.into()),
        }
        self.profile.write(|ctx| {
            account::set_username(ctx.doc(DocId::Account(me))?, None)?;
            Ok(())
        })?;
        Ok(name)
    }

    /// Looks `name` up (an exact match of its canonical form; the server
    /// lists nothing and rate-limits lookups). `None` when nobody holds it.
    pub async fn find(&self, connection: &RelayConnection, name: &str) -> Result<Option<FoundPerson>, ClientError> {
        let username = Username::parse(name)?;
        let Some(sealed) = connection.find_name(username.lookup()).await? else {
            return Ok(None);
        };
        let record = NameRecord::open(&username.record_key(), &sealed)
            .map_err(ClientError::crypto("opening a username record"))?;
        let certificate = DeviceCertificate::from_bytes(&record.certificate)?;
        certificate.verify()?;
        // The record names the account its certificate belongs to, or it
        // is a forgery (someone claiming a name for another's account).
        if certificate.account != record.account {
            return Err(ClientError::NoSuchUsername(format!(
                "{}: its record names another account than its device's",
                username.shown()
            )));
        }
        let relation = if record.account == self.profile.identity().account_id() {
            "you".to_owned()
        } else {
            self.profile
                .contacts()
                .get(&record.account)?
                .map_or_else(|| "none".to_owned(), |r| r.state_label().to_owned())
        };
        Ok(Some(FoundPerson {
            username: record.username,
            account_id: record.account,
            device_id: certificate.device,
            relation,
            certificate,
        }))
    }

    /// Sends a message request with a first message: it lands in their
    /// Requests; they become a contact only if they accept. The first
    /// message is also the first message of the direct chat with them,
    /// which they can read once they accept. Returns their account.
    pub async fn send_request(
        &self,
        connection: &RelayConnection,
        to: RequestTo,
        text: &str,
    ) -> Result<AccountId, ClientError> {
        let text = text.trim();
        if text.is_empty() || text.len() > MAX_REQUEST_TEXT_BYTES {
            return Err(ClientError::BadRequest(format!(
                "a request says hello in 1 to {MAX_REQUEST_TEXT_BYTES} bytes"
            )));
        }
        let (account, via, devices) = match to {
            RequestTo::Found(person) => (person.account_id, "username", vec![person.certificate.clone()]),
            RequestTo::Member(account) => {
                let devices: Vec<DeviceCertificate> = self
                    .profile
                    .store()
                    .devices(&account)?
                    .into_iter()
                    .filter(|d| d.revoked_at.is_none())
                    .map(|d| d.cert)
                    .collect();
                (account, "group", devices)
            }
        };
        if account == self.profile.identity().account_id() {
            return Err(ClientError::BadRequest("this is you".into()));
        }
        let existing = self.profile.contacts().get(&account)?;
        if let Some(record) = &existing {
            if record.blocked {
                return Err(ClientError::BadRequest("you blocked them; unblock them first".into()));
            }
            if record.state == ContactState::Accepted {
                return Err(ClientError::BadRequest("already a contact: just write to them".into()));
            }
        }
        if devices.is_empty() {
            return Err(ClientError::BadRequest(format!(
                "cannot reach {account} yet: none of their devices is known here (they have not written in a group you share)"
            )));
        }
        let channel_secret = match &existing {
            Some(record) => record.channel_secret,
            None => random_bytes::<32>()?,
        };
        let me = self.profile.identity().account_id();
        let name = self.profile.read_doc(DocId::Account(me), account::name)?;
        let request = MessageRequest {
            certificate: self.profile.identity().certificate().to_bytes(),
            name,
            avatar: self.profile.avatar(None)?,
            channel_secret,
            text: text.to_owned(),
            via: via.to_owned(),
        };
        // Their devices in turn, until one takes requests on this server.
        let mut delivered = false;
        for device in &devices {
            let sealed = seal_to_device(
                &device.sealing_key,
                REQUEST_CONTEXT,
                &request.encode(),
                random_bytes::<32>()?,
                random_nonce()?,
            )
            .map_err(ClientError::crypto("sealing a message request"))?;
            let envelope = seal_item(
                &StreamKey::inbox_envelopes(&device.device),
                &random_bytes::<16>()?,
                self.profile.identity().device_keys(),
                &RelayItem::Request { sealed },
            )?;
            match connection.post_request(device.device, envelope).await {
                Ok(()) => {
                    delivered = true;
                    break;
                }
                Err(kith_net::NetError::Server {
                    code: kith_proto::ErrorCode::NotFound,
                    ..
                }) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        if !delivered {
            return Err(ClientError::BadRequest(format!(
                "cannot reach {account}: none of their devices takes requests on this server"
            )));
        }
        for device in &devices {
            self.profile.docs().learn_certificate(device)?;
        }
        let record = ContactRecord {
            name: existing.as_ref().and_then(|r| r.name.clone()),
            state: ContactState::Pending,
            blocked: false,
            channel_secret,
        };
        self.profile.put_contact(&account, &record)?;
        let chat = self.profile.contacts().direct_chat(&account)?;
        self.profile.messages().send(&chat, text, None)?;
        Ok(account)
    }

    /// Reports `account`'s requesting device to the server's operator: only
    /// its device id and `reason` leave this device.
    pub async fn report(
        &self,
        connection: &RelayConnection,
        device: &DeviceId,
        reason: &str,
    ) -> Result<(), ClientError> {
        let reason: String = reason.trim().chars().take(200).collect();
        connection.report(*device, reason).await?;
        Ok(())
    }

    /// This device's inbox stream (its secret made on first use).
    pub(crate) fn inbox_stream(&self) -> Result<StreamKey, ClientError> {
        let store = self.profile.store();
        let secret = match store.meta(INBOX_SECRET_META)? {
            Some(bytes) => <[u8; 32]>::try_from(bytes.as_slice())
                .map_err(|_| ClientError::BadRequest("this device's inbox secret is unreadable".into()))?,
            None => {
                let secret = random_bytes::<32>()?;
                let mut txn = store.begin_write()?;
                // Another writer may have made one meanwhile.
                let secret = match txn.meta(INBOX_SECRET_META)? {
                    Some(bytes) => <[u8; 32]>::try_from(bytes.as_slice()).unwrap_or(secret),
                    None => {
                        txn.set_meta(INBOX_SECRET_META, &secret)?;
                        secret
                    }
                };
                txn.commit()?;
                secret
            }
        };
        Ok(StreamKey::own_inbox(&self.profile.identity().device_id(), &secret))
    }

    /// Opens this device's inbox on the server it is connected to, once.
    pub(crate) async fn open_inbox(&self, connection: &RelayConnection) -> Result<(), ClientError> {
        let stream = self.inbox_stream()?;
        let server = self.profile.relay().last_server()?.unwrap_or_default();
        let mut marker = blake3::Hasher::new();
        marker.update(server.as_bytes());
        marker.update(&stream.log().0);
        let marker = marker.finalize();
        if self.profile.store().meta(INBOX_OPENED_META)?.as_deref() == Some(marker.as_bytes().as_slice()) {
            return Ok(());
        }
        connection.open_inbox(stream.log(), stream.capability()).await?;
        let mut txn = self.profile.store().begin_write()?;
        txn.set_meta(INBOX_OPENED_META, marker.as_bytes())?;
        txn.commit()?;
        Ok(())
    }
}
