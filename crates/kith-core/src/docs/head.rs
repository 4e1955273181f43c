//! Conversation head documents: kind, name, description, picture, members and roles.

use super::removal_cut::{self, HeadValues};
use super::{Doc, DocError, certificates, get_str, publish_certificate};
use crate::authority::Directory;
use crate::identity::DeviceCertificate;
use crate::readmodel::ChatRow;
use crate::schema::{self, ChatKind, MAX_NAME_BYTES, Role, RootKey};
use automerge::transaction::Transactable;
use automerge::{ChangeHash, ROOT, ReadDoc, ScalarValue, Value};
use kith_proto::{AccountId, ChatId, DocId};
use std::collections::{BTreeMap, BTreeSet};

fn check_name(what: &str, text: &str) -> Result<(), DocError> {
    if text.len() > MAX_NAME_BYTES {
        return Err(DocError::Invalid(format!(
            "{what} is {} bytes; the limit is {MAX_NAME_BYTES}",
            text.len()
        )));
    }
    Ok(())
}

/// Writes the first change of a conversation. `nonce` must be the one the
/// chat id was derived from (see [`schema::chat_id_for`]).
pub fn genesis(
    doc: &mut Doc,
    creator: &AccountId,
    nonce: &[u8],
    kind: ChatKind,
    name: &str,
    members: &[AccountId],
    creator_cert: &DeviceCertificate,
) -> Result<(), DocError> {
    check_name("name", name)?;
    let chat = match doc.id() {
        DocId::Head(chat) => chat,
        other => return Err(DocError::Invalid(format!("{other} is not a head document"))),
    };
    if schema::chat_id_for(creator, nonce) != chat {
        return Err(DocError::Invalid("chat id does not match creator and nonce".into()));
    }
    let am = doc.automerge_mut();
    am.put(ROOT, schema::SCHEMA_KEY, schema::SCHEMA_VERSION)?;
    am.put(ROOT, schema::HEAD_CREATOR, creator.to_string())?;
    am.put(ROOT, schema::HEAD_NONCE, ScalarValue::Bytes(nonce.to_vec()))?;
    am.put(ROOT, schema::HEAD_KIND, kind.as_str())?;
    am.put(ROOT, schema::HEAD_NAME, name)?;
    am.put(ROOT, schema::member_key(creator), Role::Owner.as_str())?;
    am.put(
        ROOT,
        schema::device_key(&creator_cert.device),
        ScalarValue::Bytes(creator_cert.to_bytes()),
    )?;
    for member in members.iter().filter(|m| *m != creator) {
        // In a direct chat both people are equals.
        let role = if kind == ChatKind::Direct {
            Role::Owner
        } else {
            Role::Member
        };
        am.put(ROOT, schema::member_key(member), role.as_str())?;
    }
    Ok(())
}

/// The head's values now, as honest members read them: with the removal
/// cut applied (see [`removal_cut`]).
pub fn values(doc: &mut Doc) -> HeadValues<'_> {
    let heads = doc.heads();
    let doc: &Doc = doc;
    removal_cut::values_at(doc, &heads, &doc.authors())
}

/// The head's values at `heads` (a change's dependencies), with the removal
/// cut as it stood there; `directory` attributes devices to accounts.
pub fn values_at<'a>(doc: &'a Doc, heads: &[ChangeHash], directory: &dyn Directory) -> HeadValues<'a> {
    removal_cut::values_at(doc, heads, directory)
}

/// The role of `account` in `values`.
pub fn role_in(values: &HeadValues<'_>, account: &AccountId) -> Option<Role> {
    values
        .get_str(&schema::member_key(account))
        .and_then(|r| r.parse().ok())
}

/// The role of `account` now.
pub fn role_of(doc: &mut Doc, account: &AccountId) -> Option<Role> {
    role_in(&values(doc), account)
}

fn require_admin(doc: &mut Doc, actor: &AccountId) -> Result<Role, DocError> {
    match role_of(doc, actor) {
        Some(role) if role.is_admin() => Ok(role),
        Some(_) => Err(DocError::NotAllowed("only admins can change the conversation".into())),
        None => Err(DocError::NotAllowed("you are not a member of this conversation".into())),
    }
}

/// Renames the conversation (admins only).
pub fn rename(doc: &mut Doc, actor: &AccountId, name: &str) -> Result<(), DocError> {
    check_name("name", name)?;
    require_admin(doc, actor)?;
    doc.automerge_mut().put(ROOT, schema::HEAD_NAME, name)?;
    Ok(())
}

/// Sets the description (admins only).
pub fn set_description(doc: &mut Doc, actor: &AccountId, text: &str) -> Result<(), DocError> {
    check_name("description", text)?;
    require_admin(doc, actor)?;
    doc.automerge_mut().put(ROOT, schema::HEAD_DESCRIPTION, text)?;
    Ok(())
}

/// The conversation's kind, or `None` before the genesis change arrived.
pub fn kind(doc: &Doc) -> Option<ChatKind> {
    get_str(doc.automerge(), &ROOT, schema::HEAD_KIND).and_then(|k| ChatKind::parse(&k))
}

/// The conversation's kind in the document as it was at `heads`.
pub fn kind_at(doc: &Doc, heads: &[ChangeHash]) -> Option<ChatKind> {
    match doc.automerge().get_at(ROOT, schema::HEAD_KIND, heads).ok()?? {
        (Value::Scalar(value), _) => value.as_str().and_then(ChatKind::parse),
        _ => None,
    }
}

/// Fails unless `actor` may set or remove the picture: an admin or owner of
/// a group. Lets a client refuse before it decodes a large image.
pub fn may_set_avatar(doc: &mut Doc, actor: &AccountId) -> Result<(), DocError> {
    let role =
        role_of(doc, actor).ok_or_else(|| DocError::NotAllowed("you are not a member of this conversation".into()))?;
    if kind(doc) != Some(ChatKind::Group) {
        return Err(DocError::NotAllowed("only groups have a picture".into()));
    }
    if !role.is_admin() {
        return Err(DocError::NotAllowed(
            "only admins and owners can change the group picture".into(),
        ));
    }
    Ok(())
}

/// Sets (or, with `None`, removes) a group's picture: JPEG bytes of at most
/// [`schema::MAX_AVATAR_BYTES`] (the client crops and encodes it). Admins
/// only, like the name. A direct chat has none: each side shows the other
/// person's profile picture instead.
pub fn set_avatar(doc: &mut Doc, actor: &AccountId, avatar: Option<&[u8]>) -> Result<(), DocError> {
    if let Some(bytes) = avatar
        && bytes.len() > schema::MAX_AVATAR_BYTES
    {
        return Err(DocError::Invalid(format!(
            "a group picture is {} bytes; the limit is {}",
            bytes.len(),
            schema::MAX_AVATAR_BYTES
        )));
    }
    may_set_avatar(doc, actor)?;
    match avatar {
        Some(bytes) => doc
            .automerge_mut()
            .put(ROOT, schema::HEAD_AVATAR, ScalarValue::Bytes(bytes.to_vec()))?,
        None => doc.automerge_mut().delete(ROOT, schema::HEAD_AVATAR)?,
    }
    Ok(())
}

/// The group's picture (JPEG bytes), if it has one. Only a group's, and only
/// within the size limit: the genesis change is not checked key by key, so
/// its creator could have put anything there.
pub fn avatar(doc: &mut Doc) -> Option<Vec<u8>> {
    if kind(doc) != Some(ChatKind::Group) {
        return None;
    }
    match values(doc).get(schema::HEAD_AVATAR)? {
        ScalarValue::Bytes(bytes) if bytes.len() <= schema::MAX_AVATAR_BYTES => Some(bytes),
        _ => None,
    }
}

/// Adds a member or changes a role. Admins manage members and admins; only
/// owners make or unmake owners.
pub fn set_role(doc: &mut Doc, actor: &AccountId, member: &AccountId, role: Role) -> Result<(), DocError> {
    let actor_role = require_admin(doc, actor)?;
    let current = role_of(doc, member);
    if (role == Role::Owner || current == Some(Role::Owner)) && actor_role != Role::Owner {
        return Err(DocError::NotAllowed("only owners can make or change owners".into()));
    }
    doc.automerge_mut()
        .put(ROOT, schema::member_key(member), role.as_str())?;
    Ok(())
}

/// Removes a member (admins), or leaves (anyone, for themselves).
pub fn remove_member(doc: &mut Doc, actor: &AccountId, member: &AccountId) -> Result<(), DocError> {
    let current = role_of(doc, member).ok_or_else(|| DocError::NotAllowed("not a member".into()))?;
    if actor != member {
        let actor_role = require_admin(doc, actor)?;
        if current == Role::Owner && actor_role != Role::Owner {
            return Err(DocError::NotAllowed("only owners can remove owners".into()));
        }
    }
    doc.automerge_mut().delete(ROOT, schema::member_key(member))?;
    Ok(())
}

/// Commits the conversation to the key of `epoch` (by its id). Members only:
/// members write only with a committed key, so an outsider who hands out a
/// key of its own cannot lure them onto it.
pub fn commit_epoch(doc: &mut Doc, actor: &AccountId, epoch: u32, key_id: &str) -> Result<(), DocError> {
    require_admin(doc, actor)?;
    if epoch != next_epoch(doc) {
        return Err(DocError::Invalid(format!(
            "key epoch {epoch} is not the next one ({})",
            next_epoch(doc)
        )));
    }
    doc.automerge_mut().put(ROOT, schema::epoch_key(epoch), key_id)?;
    Ok(())
}

/// The newest epoch committed in `values`.
pub fn newest_epoch_in(values: &HeadValues<'_>) -> Option<u32> {
    epochs_in(values).keys().next_back().copied()
}

/// The epoch a new key commit must have: one above the newest committed.
pub fn next_epoch(doc: &mut Doc) -> u32 {
    newest_epoch_in(&values(doc)).map_or(0, |e| e.saturating_add(1))
}

/// The committed key id of every epoch.
pub fn committed_epochs(doc: &mut Doc) -> BTreeMap<u32, String> {
    epochs_in(&values(doc))
}

/// Accounts that were members when the newest epoch was committed and are
/// not now: they left, or were removed by a change that started no epoch.
/// Their client held the newest key, so an admin should start another.
pub fn left_since_newest_epoch(doc: &mut Doc) -> BTreeSet<AccountId> {
    let heads = doc.heads();
    let doc: &Doc = doc;
    let authors = doc.authors();
    let now = removal_cut::values_at(doc, &heads, &authors);
    let Some(newest) = newest_epoch_in(&now) else {
        return BTreeSet::new();
    };
    let Some(commit) = now.written_by(&schema::epoch_key(newest)) else {
        return BTreeSet::new();
    };
    let members_now = members_in(&now);
    members_in(&removal_cut::values_at(doc, &[commit], &authors))
        .into_keys()
        .filter(|account| !members_now.contains_key(account))
        .collect()
}

fn epochs_in(values: &HeadValues<'_>) -> BTreeMap<u32, String> {
    let mut out = BTreeMap::new();
    for key in values.keys_with_prefix(schema::EPOCH_PREFIX) {
        if let (RootKey::Epoch(epoch), Some(id)) = (RootKey::parse(&key), values.get_str(&key)) {
            out.insert(epoch, id);
        }
    }
    out
}

/// Publishes a device certificate so other members can attribute its changes.
pub fn add_device(doc: &mut Doc, cert: &DeviceCertificate) -> Result<(), DocError> {
    publish_certificate(doc, cert)
}

/// Whether a certificate for `device` is published (without verifying it).
pub fn has_device(doc: &Doc, device: &kith_proto::DeviceId) -> bool {
    doc.automerge()
        .get(ROOT, schema::device_key(device))
        .ok()
        .flatten()
        .is_some()
}

/// Every verified device certificate published in the document.
pub fn devices(doc: &Doc) -> Vec<DeviceCertificate> {
    certificates(doc)
}

/// Current members and roles.
pub fn members(doc: &mut Doc) -> BTreeMap<AccountId, Role> {
    members_in(&values(doc))
}

/// Members and roles in `values`.
pub fn members_in(values: &HeadValues<'_>) -> BTreeMap<AccountId, Role> {
    values
        .keys_with_prefix(schema::MEMBER_PREFIX)
        .iter()
        .filter_map(|key| match RootKey::parse(key) {
            RootKey::Member(account) => role_in(values, &account).map(|role| (account, role)),
            _ => None,
        })
        .collect()
}

/// The read-model row, or `None` before the genesis change arrived.
pub fn chat_row(doc: &mut Doc, chat: ChatId) -> Option<ChatRow> {
    let kind = kind(doc)?;
    let values = values(doc);
    Some(ChatRow {
        chat,
        kind,
        name: values.get_str(schema::HEAD_NAME).unwrap_or_default(),
        description: values.get_str(schema::HEAD_DESCRIPTION).unwrap_or_default(),
        members: members_in(&values),
    })
}
