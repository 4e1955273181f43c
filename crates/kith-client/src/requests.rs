//! Message requests as they arrive and are answered. A request (from
//! someone who found a username, or knows us from a group) is kept in the
//! account document, so every device of the account shows it and any of
//! them can answer: accept (they become a contact: their channel is
//! followed, a hello goes back, the direct chat with their first message
//! arrives), ignore (nothing goes back, their channel is never followed,
//! later requests are dropped), or block (the same, and the caller may
//! report their device). Until accepted nothing of ours reaches them: no
//! hello, receipt, typing or presence, and none of their attachments is
//! fetched, because their channel and chats are not followed.

use crate::contacts::Contacts;
use crate::directory::REQUEST_CONTEXT;
use crate::error::ClientError;
use crate::profile::Profile;
use crate::spam::{SenderSignals, SpamModel, SpamScore, request_features};
use kith_core::DeviceCertificate;
use kith_core::crypto::{Lockbox, open_sealed};
use kith_core::docs::account;
use kith_core::docs::contact::{ContactRecord, ContactState, MAX_REQUEST_TEXT_BYTES, RequestRecord};
use kith_core::relay::MessageRequest;
use kith_proto::{AccountId, DeviceId, DocId};
use std::collections::BTreeMap;

/// Meta key of this device's spam model (JSON of [`SpamModel`]).
const SPAM_MODEL_META: &str = "requests/spam-model";
/// Most requests waiting for an answer; past it new ones are dropped (a
/// flood from many fresh accounts cannot grow the account document).
pub const MAX_OPEN_REQUESTS: usize = 200;

/// One message request, as the Requests list shows it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RequestView {
    /// Their account.
    pub account_id: AccountId,
    /// The name they gave.
    pub name: Option<String>,
    /// Their first message.
    pub text: String,
    /// When it arrived, ms since the Unix epoch.
    pub received_ms: u64,
    /// How they found us: `username` or `group`.
    pub via: String,
    /// Whether they sent a picture (`kith avatar get --account`).
    pub has_avatar: bool,
    /// Groups both accounts are in.
    pub shared_groups: usize,
    /// This device's spam score, and why.
    pub spam: SpamScore,
}

/// How a request was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Accept,
    Ignore,
    Block,
}

impl Profile {
    /// A request sealed to this device arrived in its inbox, signed (in its
    /// envelope) by `sender`. Returns whether it is new and now listed.
    pub(crate) fn receive_request(&self, sealed: &Lockbox, sender: &DeviceId) -> Result<bool, ClientError> {
        let opened = open_sealed(self.identity().device_keys(), REQUEST_CONTEXT, sealed)
            .map_err(ClientError::crypto("opening a message request"))?;
        let request = MessageRequest::decode(&opened)?;
        let cert = DeviceCertificate::from_bytes(&request.certificate)?;
        cert.verify()?;
        // Only the device the certificate names may ask in its name.
        if cert.device != *sender {
            return Err(ClientError::BadRequest(
                "a request signed by another device than its certificate's".into(),
            ));
        }
        let account = cert.account;
        if account == self.identity().account_id() {
            return Ok(false);
        }
        let text: String = request.text.trim().to_owned();
        if text.is_empty() || text.len() > MAX_REQUEST_TEXT_BYTES {
            return Err(ClientError::BadRequest("a request with no text, or too much".into()));
        }
        let existing = self.contacts().get(&account)?;
        match &existing {
            // Blocked, ignored, already asked, or already a contact (an
            // accepted contact's channel is never replaced by a request).
            Some(record)
                if record.blocked
                    || matches!(
                        record.state,
                        ContactState::Ignored | ContactState::Request | ContactState::Accepted
                    ) =>
            {
                return Ok(false);
            }
            // We asked them (a request or an invite) and they ask us: the
            // contact goes on as it is; their hello will settle it.
            Some(record) if record.state == ContactState::Pending => return Ok(false),
            _ => {}
        }
        if self.contacts().open_requests()?.len() >= MAX_OPEN_REQUESTS {
            tracing::warn!(%account, "dropped a message request: too many wait for an answer");
            return Ok(false);
        }
        self.docs().learn_certificate(&cert)?;
        let name = request
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty() && n.len() <= kith_core::schema::MAX_NAME_BYTES);
        let record = ContactRecord {
            name: name.clone(),
            state: ContactState::Request,
            blocked: false,
            channel_secret: request.channel_secret,
        };
        let details = RequestRecord {
            text,
            received_ms: self.now_ms(),
            device: cert.device,
            via: if request.via == "group" { "group" } else { "username" }.to_owned(),
        };
        let me = self.identity().account_id();
        self.write(|ctx| {
            let doc = ctx.doc(DocId::Account(me))?;
            account::set_contact(doc, &account, &record)?;
            account::set_request(doc, &account, Some(&details))?;
            Ok(())
        })?;
        if let Some(picture) = request.avatar {
            self.keep_contact_avatar(&account, &picture)?;
        }
        if let Some(name) = name {
            self.learn_profile_name(&account, &name)?;
        }
        Ok(true)
    }
}

impl Contacts<'_> {
    /// Requests not answered yet, by account.
    fn open_requests(&self) -> Result<BTreeMap<AccountId, RequestRecord>, ClientError> {
        let me = self.profile.identity().account_id();
        let (records, requests) = self.profile.read_doc(DocId::Account(me), |doc| {
            (account::contacts(doc), account::requests(doc))
        })?;
        Ok(requests
            .into_iter()
            .filter(|(account, _)| {
                records
                    .get(account)
                    .is_some_and(|r| r.state == ContactState::Request && !r.blocked)
            })
            .collect())
    }

    /// The Requests list: newest first, each with this device's spam score.
    pub fn requests(&self) -> Result<Vec<RequestView>, ClientError> {
        let me = self.profile.identity().account_id();
        let records = self.records()?;
        let model = self.spam_model()?;
        let mut out = Vec::new();
        for (account, request) in self.open_requests()? {
            let name = records.get(&account).and_then(|r| r.name.clone());
            let has_avatar = self.profile.read_doc(DocId::Account(me), |doc| {
                account::contact_avatar(doc, &account).is_some()
            })?;
            let shared_groups = self.shared_groups(&account)?;
            let signals = SenderSignals {
                has_picture: has_avatar,
                has_name: name.is_some(),
                shared_groups,
            };
            let spam = model.score(&request_features(&request.text, signals));
            out.push(RequestView {
                account_id: account,
                name,
                text: request.text,
                received_ms: request.received_ms,
                via: request.via,
                has_avatar,
                shared_groups,
                spam,
            });
        }
        out.sort_by(|a, b| b.received_ms.cmp(&a.received_ms).then(a.account_id.cmp(&b.account_id)));
        Ok(out)
    }

    /// Accepts a request: they become a contact on every device of this
    /// account, and learn it from our hello.
    pub fn accept_request(&self, account: &AccountId) -> Result<(), ClientError> {
        self.answer(account, Answer::Accept).map(drop)
    }

    /// Ignores a request: it leaves the list, nothing is sent, and later
    /// requests from them are dropped.
    pub fn ignore_request(&self, account: &AccountId) -> Result<(), ClientError> {
        self.answer(account, Answer::Ignore).map(drop)
    }

    /// Blocks whoever sent a request; returns the device that sent it, for
    /// a report (`Directory::report`).
    pub fn block_request(&self, account: &AccountId) -> Result<DeviceId, ClientError> {
        self.answer(account, Answer::Block)
    }

    fn answer(&self, account: &AccountId, answer: Answer) -> Result<DeviceId, ClientError> {
        let me = self.profile.identity().account_id();
        let open = self.open_requests()?;
        let Some(request) = open.get(account) else {
            return Err(ClientError::BadRequest(format!("no open request from {account}")));
        };
        let mut record = self
            .get(account)?
            .ok_or_else(|| ClientError::NoSuchContact(account.to_string()))?;
        let signals = SenderSignals {
            has_picture: self.profile.read_doc(DocId::Account(me), |doc| {
                account::contact_avatar(doc, account).is_some()
            })?,
            has_name: record.name.is_some(),
            shared_groups: self.shared_groups(account)?,
        };
        match answer {
            Answer::Accept => record.state = ContactState::Accepted,
            Answer::Ignore => record.state = ContactState::Ignored,
            Answer::Block => {
                record.state = ContactState::Ignored;
                record.blocked = true;
            }
        }
        self.profile.write(|ctx| {
            let doc = ctx.doc(DocId::Account(me))?;
            account::set_contact(doc, account, &record)?;
            account::set_request(doc, account, None)?;
            Ok(())
        })?;
        self.learn_spam(&request_features(&request.text, signals), answer != Answer::Accept)?;
        Ok(request.device)
    }

    /// Groups this account shares with `account`.
    fn shared_groups(&self, account: &AccountId) -> Result<usize, ClientError> {
        let me = self.profile.identity().account_id();
        Ok(self
            .profile
            .store()
            .chat_list(&me)?
            .iter()
            .filter(|entry| {
                entry.chat.kind == kith_core::ChatKind::Group
                    && entry.chat.members.contains_key(&me)
                    && entry.chat.members.contains_key(account)
            })
            .count())
    }

    /// This device's spam model (empty until a request is answered).
    pub fn spam_model(&self) -> Result<SpamModel, ClientError> {
        Ok(self
            .profile
            .store()
            .meta(SPAM_MODEL_META)?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default())
    }

    fn learn_spam(&self, features: &std::collections::BTreeSet<String>, spam: bool) -> Result<(), ClientError> {
        let mut txn = self.profile.store().begin_write()?;
        let mut model: SpamModel = txn
            .meta(SPAM_MODEL_META)?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        model.learn(features, spam);
        let bytes = serde_json::to_vec(&model)
            .map_err(|err| ClientError::BadRequest(format!("could not keep the spam model: {err}")))?;
        txn.set_meta(SPAM_MODEL_META, &bytes)?;
        txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::test_support::persona;
    use kith_core::crypto::seal_to_device;

    /// A request from `from` to `to`'s device, with `channel` and `text`.
    fn sealed_request(from: &Profile, to: &Profile, channel: [u8; 32], text: &str) -> Lockbox {
        let request = MessageRequest {
            certificate: from.identity().certificate().to_bytes(),
            name: Some("Bob".into()),
            avatar: None,
            channel_secret: channel,
            text: text.into(),
            via: "username".into(),
        };
        seal_to_device(
            &to.identity().certificate().sealing_key,
            REQUEST_CONTEXT,
            &request.encode(),
            [7; 32],
            [8; 24],
        )
        .unwrap()
    }

    #[test]
    fn a_request_is_listed_once_and_never_moves_an_accepted_contact() {
        let alice = persona(1, "Alice");
        let bob = persona(2, "Bob");
        let bob_id = bob.identity().account_id();
        let bob_device = bob.identity().device_id();
        let first = sealed_request(&bob, &alice, [1; 32], "hi, Bob here");
        assert!(alice.receive_request(&first, &bob_device).unwrap());
        assert!(!alice.receive_request(&first, &bob_device).unwrap(), "listed once");
        let listed = alice.contacts().requests().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].text.as_str(), listed[0].name.as_deref()),
            ("hi, Bob here", Some("Bob"))
        );
        assert!(
            alice.contacts().list().unwrap().is_empty(),
            "a request is not a contact"
        );
        assert!(
            alice
                .followed_streams()
                .unwrap()
                .iter()
                .all(|s| s.followed() != crate::streams::Followed::Contact(bob_id)),
            "an unanswered request's channel is not followed"
        );

        alice.contacts().accept_request(&bob_id).unwrap();
        assert!(alice.contacts().requests().unwrap().is_empty());
        let again = sealed_request(&bob, &alice, [9; 32], "another channel, please");
        assert!(!alice.receive_request(&again, &bob_device).unwrap());
        let record = alice.contacts().get(&bob_id).unwrap().unwrap();
        assert_eq!((record.state, record.channel_secret), (ContactState::Accepted, [1; 32]));
        assert!(matches!(
            alice.contacts().ignore_request(&bob_id),
            Err(ClientError::BadRequest(_))
        ));
    }

    #[test]
    fn a_forged_empty_or_garbled_request_is_refused() {
        let alice = persona(1, "Alice");
        let bob = persona(2, "Bob");
        let mallory = persona(3, "Mallory");
        let forged = sealed_request(&bob, &alice, [1; 32], "it's Bob, honest");
        assert!(matches!(
            alice.receive_request(&forged, &mallory.identity().device_id()),
            Err(ClientError::BadRequest(_))
        ));
        let empty = sealed_request(&bob, &alice, [1; 32], "   ");
        assert!(alice.receive_request(&empty, &bob.identity().device_id()).is_err());
        let long = sealed_request(&bob, &alice, [1; 32], &"x".repeat(MAX_REQUEST_TEXT_BYTES + 1));
        assert!(alice.receive_request(&long, &bob.identity().device_id()).is_err());
        let mut garbled = sealed_request(&bob, &alice, [1; 32], "hello");
        garbled.sealed[0] ^= 1;
        assert!(alice.receive_request(&garbled, &bob.identity().device_id()).is_err());
        assert!(alice.contacts().requests().unwrap().is_empty());
        assert!(
            alice.contacts().records().unwrap().is_empty(),
            "nothing kept of a refused request"
        );
    }

    #[test]
    fn open_requests_are_capped() {
        let alice = persona(1, "Alice");
        let stranger = |i: usize| {
            let mut seeds = [[0u8; 32]; 3];
            for (n, seed) in seeds.iter_mut().enumerate() {
                seed[0] = 200;
                seed[1] = n as u8;
                seed[2..4].copy_from_slice(&(i as u16).to_be_bytes());
            }
            let identity = kith_core::Identity::create(seeds, 1_795_000_000_000);
            Profile::with_store(
                identity,
                std::sync::Arc::new(kith_store::MemoryStore::new()),
                "Stranger",
            )
            .unwrap()
        };
        for i in 0..MAX_OPEN_REQUESTS {
            let from = stranger(i);
            let request = sealed_request(&from, &alice, [1; 32], "hi");
            assert!(alice.receive_request(&request, &from.identity().device_id()).unwrap());
        }
        let late = stranger(MAX_OPEN_REQUESTS);
        let request = sealed_request(&late, &alice, [1; 32], "me too");
        assert!(!alice.receive_request(&request, &late.identity().device_id()).unwrap());
        assert_eq!(alice.contacts().requests().unwrap().len(), MAX_OPEN_REQUESTS);
    }
}
