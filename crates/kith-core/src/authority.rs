//! Who may write what: every remote change is checked before it is applied.
//!
//! A change is judged by its author (actor id = device id, mapped to an account
//! through a verified certificate) and by the keys its operations touch. For
//! head and account documents, roles and revocations are read from the document
//! *at the change's dependencies*, never from the receiver's current state, so
//! every replica reaches the same verdict whatever order changes arrive in.
//! Segment writes need the author to have ever been a member of the chat (a set
//! that only grows and is computed from accepted head changes); changes whose
//! author is not known yet are deferred, not rejected, and retried later.

use crate::crypto::EpochKey;
use crate::docs::contact::{ContactRecord, RequestRecord};
use crate::docs::{Doc, device_of, head};
use crate::identity::DeviceCertificate;
use crate::schema::{self, ChatKind, MAX_TEXT_BYTES, Role, RootKey, SegmentKey};
use automerge::legacy::{Key, ObjectId, OpType};
use automerge::{Change, ExpandedChange, ROOT, ReadDoc, ScalarValue};
use kith_proto::{AccountId, ChatId, DeviceId, DocId, Month};
use std::collections::{BTreeMap, BTreeSet};

/// What the validator needs to know beyond the document itself.
pub trait Directory {
    /// The account of a device whose certificate has been verified, if known.
    fn account_of(&self, device: &DeviceId) -> Option<AccountId>;
    /// Whether `account` has ever been a member of `chat` in an accepted head change.
    fn was_member(&self, chat: &ChatId, account: &AccountId) -> bool;
}

/// The verdict on one change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Apply it.
    Accept,
    /// Never apply it: the author had no authority for it.
    Reject(String),
    /// Not decidable yet (unknown device or membership); keep and retry.
    Defer(String),
}

/// A directory plus certificates learned from the changes being judged.
pub(crate) struct Overlay<'a> {
    pub base: &'a dyn Directory,
    pub learned: BTreeMap<DeviceId, AccountId>,
    pub members: BTreeMap<ChatId, BTreeSet<AccountId>>,
}

impl Directory for Overlay<'_> {
    fn account_of(&self, device: &DeviceId) -> Option<AccountId> {
        self.learned
            .get(device)
            .copied()
            .or_else(|| self.base.account_of(device))
    }
    fn was_member(&self, chat: &ChatId, account: &AccountId) -> bool {
        self.members.get(chat).is_some_and(|m| m.contains(account)) || self.base.was_member(chat, account)
    }
}

/// Every valid device certificate that a change publishes (`device/ID` puts).
/// Certificates prove themselves, so learning them from any change is safe.
pub fn certificates_in(change: &Change) -> Vec<DeviceCertificate> {
    change
        .decode()
        .operations
        .iter()
        .filter_map(|op| match (&op.obj, &op.key, &op.action) {
            (ObjectId::Root, Key::Map(key), OpType::Put(ScalarValue::Bytes(bytes)))
                if key.starts_with(schema::DEVICE_PREFIX) =>
            {
                DeviceCertificate::from_bytes(bytes).ok()
            }
            _ => None,
        })
        .collect()
}

/// Accounts a head change makes members (`member/ACCOUNT` puts).
pub fn members_added_by(change: &Change) -> Vec<AccountId> {
    change
        .decode()
        .operations
        .iter()
        .filter_map(|op| match (&op.obj, &op.key, &op.action) {
            (ObjectId::Root, Key::Map(key), OpType::Put(_)) => match RootKey::parse(key) {
                RootKey::Member(account) => Some(account),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Judges one change against `doc`, whose history must contain all its dependencies.
pub fn validate(doc: &Doc, change: &Change, directory: &dyn Directory) -> Verdict {
    validate_decoded(doc, change, &change.decode(), directory)
}

/// `validate` for a change the caller already decoded (decoding is the
/// largest cost of judging a change; the caller reuses it).
pub(crate) fn validate_decoded(
    doc: &Doc,
    change: &Change,
    expanded: &ExpandedChange,
    directory: &dyn Directory,
) -> Verdict {
    let Some(device) = device_of(change.actor_id()) else {
        return Verdict::Reject("actor id is not a device id".into());
    };
    let Some(account) = directory.account_of(&device) else {
        return Verdict::Defer(format!("unknown device {device}"));
    };
    match doc.id() {
        DocId::Segment(chat, month) => {
            if !directory.was_member(&chat, &account) {
                return Verdict::Defer(format!("{account} is not known as a member of {chat}"));
            }
            segment_verdict(change, expanded, &device, &account, month, directory)
        }
        DocId::Head(chat) => head_verdict(doc, change, expanded, chat, &account, directory),
        DocId::Account(owner) => account_verdict(doc, change, expanded, &device, &account, &owner),
    }
}

fn reject(reason: impl Into<String>) -> Verdict {
    Verdict::Reject(reason.into())
}

fn segment_verdict(
    change: &Change,
    expanded: &ExpandedChange,
    device: &DeviceId,
    account: &AccountId,
    month: Month,
    directory: &dyn Directory,
) -> Verdict {
    let start = change.start_op().get();
    let account_text = account.to_string();
    let device_text = device.to_string();
    // Objects this change creates: op id counter -> created here.
    let mut created: BTreeSet<u64> = BTreeSet::new();
    for (index, op) in expanded.operations.iter().enumerate() {
        if op.insert {
            return reject("segments hold no lists");
        }
        let Key::Map(key) = &op.key else {
            return reject("segments hold no lists");
        };
        match &op.obj {
            ObjectId::Root => match SegmentKey::parse(key) {
                Some(SegmentKey::Schema) => {
                    // Only the version this build writes: a member must not be
                    // able to mark a shared document as "from the future".
                    if !matches!(op.action, OpType::Put(ScalarValue::Int(v)) if v == schema::SCHEMA_VERSION) {
                        return reject("bad schema value");
                    }
                }
                Some(SegmentKey::Message(id)) => {
                    if !matches!(op.action, OpType::Make(automerge::ObjType::Map)) {
                        return reject("messages are created once and never removed");
                    }
                    if !id.minted_by(device) {
                        return reject(format!("message id {id} was not minted by {device}"));
                    }
                    if Month::of(id.ts()) != month {
                        return reject(format!("message {id} does not belong to month {month}"));
                    }
                    created.insert(start + index as u64);
                }
                Some(SegmentKey::Reaction { account: whose, .. })
                | Some(SegmentKey::Read(whose))
                | Some(SegmentKey::Delivered(whose)) => {
                    if whose != *account {
                        return reject(format!("{account} wrote {key:?} for someone else"));
                    }
                    if matches!(op.action, OpType::Make(_)) {
                        return reject("reactions and read positions are plain values");
                    }
                }
                None => return reject(format!("unknown segment key {key:?}")),
            },
            ObjectId::Id(obj) => {
                let fresh = obj.actor() == change.actor_id() && created.contains(&obj.counter());
                if !fresh {
                    let Some(creator) = device_of(obj.actor()) else {
                        return reject("object created by a non-device actor");
                    };
                    match directory.account_of(&creator) {
                        Some(owner) if owner == *account => {}
                        Some(_) => return reject(format!("{account} changed someone else's message")),
                        None => return Verdict::Defer(format!("unknown device {creator}")),
                    }
                }
                let ok = match (key.as_str(), &op.action) {
                    (schema::MSG_AUTHOR, OpType::Put(ScalarValue::Str(v))) => fresh && v.as_str() == account_text,
                    (schema::MSG_DEVICE, OpType::Put(ScalarValue::Str(v))) => fresh && v.as_str() == device_text,
                    (schema::MSG_TEXT, OpType::Put(ScalarValue::Str(v))) => v.len() <= MAX_TEXT_BYTES,
                    (schema::MSG_TEXT, OpType::Delete) => !fresh,
                    (schema::MSG_REPLY_TO, OpType::Put(ScalarValue::Str(v))) => {
                        fresh && v.parse::<kith_proto::MessageId>().is_ok()
                    }
                    (schema::MSG_EDITED | schema::MSG_DELETED, OpType::Put(ScalarValue::Int(_))) => !fresh,
                    (schema::MSG_ATTACHMENTS, OpType::Put(ScalarValue::Bytes(v))) => {
                        fresh && crate::attachment::decode_attachments(v).is_ok()
                    }
                    (schema::MSG_ATTACHMENTS, OpType::Delete) => !fresh,
                    _ => false,
                };
                if !ok {
                    return reject(format!(
                        "operation {:?} on message key {key:?} is not allowed",
                        op.action
                    ));
                }
            }
        }
    }
    Verdict::Accept
}

fn head_verdict(
    doc: &Doc,
    change: &Change,
    expanded: &ExpandedChange,
    chat: ChatId,
    account: &AccountId,
    directory: &dyn Directory,
) -> Verdict {
    for op in &expanded.operations {
        if op.obj != ObjectId::Root || op.insert || matches!(op.action, OpType::Make(_)) {
            return reject("head documents hold only plain root values");
        }
    }
    let puts: Vec<(&str, Option<&ScalarValue>)> = expanded
        .operations
        .iter()
        .filter_map(|op| match (&op.key, &op.action) {
            (Key::Map(key), OpType::Put(value)) => Some((key.as_str(), Some(value))),
            (Key::Map(key), OpType::Delete) => Some((key.as_str(), None)),
            _ => None,
        })
        .collect();
    if change.deps().is_empty() {
        return genesis_verdict(&puts, chat, account);
    }
    let deps = change.deps();
    // Read at the dependencies, with the removal cut as it stood there: a
    // removed admin's back-dated re-admission does not make it a member.
    let at_deps = head::values_at(doc, deps, directory);
    let Some(role) = head::role_in(&at_deps, account) else {
        return reject(format!("{account} was not a member when it wrote this change"));
    };
    for (key, value) in puts {
        let ok = match (RootKey::parse(key), value) {
            (RootKey::Field(field), Some(ScalarValue::Str(text)))
                if field == schema::HEAD_NAME || field == schema::HEAD_DESCRIPTION =>
            {
                role.is_admin() && text.len() <= schema::MAX_NAME_BYTES
            }
            // A group's picture follows the name's rule. The kind is read at
            // the dependencies too: a direct chat never has one.
            (RootKey::Field(field), value) if field == schema::HEAD_AVATAR => {
                let picture_ok = match value {
                    Some(ScalarValue::Bytes(bytes)) => bytes.len() <= schema::MAX_AVATAR_BYTES,
                    Some(_) => false,
                    None => true,
                };
                picture_ok && role.is_admin() && head::kind_at(doc, deps) == Some(ChatKind::Group)
            }
            (RootKey::Member(member), new_role) => {
                let old = head::role_in(&at_deps, &member);
                match new_role {
                    Some(ScalarValue::Str(text)) => match text.parse::<Role>() {
                        Ok(new) => {
                            role.is_admin() && (role == Role::Owner || (new != Role::Owner && old != Some(Role::Owner)))
                        }
                        Err(_) => false,
                    },
                    None => {
                        member == *account || (role.is_admin() && (role == Role::Owner || old != Some(Role::Owner)))
                    }
                    Some(_) => false,
                }
            }
            // Only admins start key epochs, and only the next one at what
            // they had seen: a member cannot hand the conversation a key of
            // its choosing, nor skip ahead so that its epoch is the newest.
            (RootKey::Epoch(epoch), Some(ScalarValue::Str(id))) => {
                let next = head::newest_epoch_in(&at_deps).map_or(0, |e| e.saturating_add(1));
                id.len() <= 64 && role.is_admin() && epoch == next
            }
            (RootKey::Device(device), Some(ScalarValue::Bytes(bytes))) => match DeviceCertificate::from_bytes(bytes) {
                Ok(cert) => cert.device == device && (cert.account == *account || role.is_admin()),
                Err(_) => false,
            },
            _ => false,
        };
        if !ok {
            return reject(format!("{account} ({role}) may not write {key:?} in {chat}"));
        }
    }
    Verdict::Accept
}

fn genesis_verdict(puts: &[(&str, Option<&ScalarValue>)], chat: ChatId, account: &AccountId) -> Verdict {
    let get = |wanted: &str| puts.iter().find(|(key, _)| *key == wanted).and_then(|(_, v)| *v);
    let creator_ok =
        matches!(get(schema::HEAD_CREATOR), Some(ScalarValue::Str(s)) if s.as_str() == account.to_string());
    let nonce_ok = matches!(get(schema::HEAD_NONCE), Some(ScalarValue::Bytes(nonce)) if schema::chat_id_for(account, nonce) == chat);
    let owner_ok =
        matches!(get(&schema::member_key(account)), Some(ScalarValue::Str(s)) if s.as_str() == Role::Owner.as_str());
    let kind_ok = matches!(get(schema::HEAD_KIND), Some(ScalarValue::Str(s)) if ChatKind::parse(s).is_some());
    // The first key epoch may come with the conversation; no other.
    let epochs_ok = puts.iter().all(|(key, _)| match RootKey::parse(key) {
        RootKey::Epoch(epoch) => epoch == 0,
        _ => true,
    });
    if creator_ok && nonce_ok && owner_ok && kind_ok && epochs_ok {
        Verdict::Accept
    } else {
        reject(format!("{account} cannot create conversation {chat}"))
    }
}

fn account_verdict(
    doc: &Doc,
    change: &Change,
    expanded: &ExpandedChange,
    device: &DeviceId,
    account: &AccountId,
    owner: &AccountId,
) -> Verdict {
    if account != owner {
        return reject(format!("{account} wrote to the account document of {owner}"));
    }
    let deps = change.deps();
    if !deps.is_empty() {
        let revoked = doc.automerge().get_at(ROOT, schema::revoked_key(device), deps);
        if matches!(revoked, Ok(Some(_))) {
            return reject(format!("device {device} was revoked"));
        }
    }
    for op in &expanded.operations {
        let Key::Map(key) = &op.key else {
            return reject("account documents hold only plain root values");
        };
        if op.obj != ObjectId::Root || op.insert || matches!(op.action, OpType::Make(_)) {
            return reject("account documents hold only plain root values");
        }
        let ok = match (RootKey::parse(key), &op.action) {
            (RootKey::Device(device), OpType::Put(ScalarValue::Bytes(bytes))) => {
                DeviceCertificate::from_bytes(bytes).is_ok_and(|cert| cert.device == device && cert.account == *owner)
            }
            (RootKey::Device(_), _) => false,
            // A revocation is for good: never deleted, only ever a time.
            (RootKey::Revoked(_), OpType::Put(ScalarValue::Int(_))) => true,
            (RootKey::Revoked(_), _) => false,
            (RootKey::Schema, OpType::Put(ScalarValue::Int(v))) => *v == schema::SCHEMA_VERSION,
            (RootKey::Schema, _) => false,
            (RootKey::Contact(_), OpType::Put(ScalarValue::Bytes(bytes))) => ContactRecord::decode(bytes).is_ok(),
            (RootKey::ChatKey(_, _, id), OpType::Put(ScalarValue::Bytes(bytes))) => {
                <[u8; 32]>::try_from(bytes.as_slice()).is_ok_and(|b| EpochKey::from_bytes(b).key_id() == *id)
            }
            (
                RootKey::Contact(_) | RootKey::ChatKey(..) | RootKey::ContactAvatar(_) | RootKey::Request(_),
                OpType::Delete,
            ) => true,
            (RootKey::Request(_), OpType::Put(ScalarValue::Bytes(bytes))) => RequestRecord::decode(bytes).is_ok(),
            (RootKey::Request(_), _) => false,
            (RootKey::ContactAvatar(_), OpType::Put(ScalarValue::Bytes(bytes))) => {
                bytes.len() <= schema::MAX_AVATAR_BYTES
            }
            (RootKey::ContactAvatar(_), _) => false,
            (RootKey::Field(field), OpType::Put(value)) if field == schema::RECOVERY_KEY => {
                matches!(value, ScalarValue::Bytes(bytes) if bytes.len() == 32)
            }
            (RootKey::Field(field), _) if field == schema::RECOVERY_KEY => false,
            (RootKey::Field(field), OpType::Put(value)) if field == schema::USERNAME => {
                matches!(value, ScalarValue::Str(name) if name.len() <= 4 * kith_proto::MAX_USERNAME_CHARS)
            }
            (RootKey::Field(field), OpType::Put(value)) if field == schema::USERNAME_KEY => {
                matches!(value, ScalarValue::Bytes(bytes) if bytes.len() == 32)
            }
            (RootKey::Field(field), OpType::Put(value)) if field == schema::PROFILE_AVATAR => {
                matches!(value, ScalarValue::Bytes(bytes) if bytes.len() <= schema::MAX_AVATAR_BYTES)
            }
            (RootKey::Contact(_) | RootKey::ChatKey(..), _) => false,
            // A head field that v1 account documents never accepted.
            (RootKey::Field(field), _) if field == schema::HEAD_AVATAR => false,
            (RootKey::Unknown(_) | RootKey::Member(_) | RootKey::Epoch(_), _) => false,
            _ => true,
        };
        if !ok {
            return reject(format!("operation on {key:?} is not allowed in an account document"));
        }
    }
    Verdict::Accept
}
