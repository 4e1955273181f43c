//! Account documents: profile, devices, per-conversation settings. Shared by
//! one person's devices only.

use super::contact::{ContactRecord, RequestRecord};
use super::{
    Doc, DocError, certificates, ensure_schema, get_bool, get_bytes, get_str, keys_with_prefix, publish_certificate,
};
use crate::crypto::EpochKey;
use crate::identity::DeviceCertificate;
use crate::readmodel::ChatSettingsRow;
use crate::schema::{self, ChatSetting, MAX_NAME_BYTES, RootKey};
use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc, ScalarValue};
use kith_proto::{AccountId, ChatId, DeviceId};
use std::collections::BTreeMap;

/// Sets the display name.
pub fn set_name(doc: &mut Doc, name: &str) -> Result<(), DocError> {
    let name = name.trim();
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(DocError::Invalid(format!("a name must be 1 to {MAX_NAME_BYTES} bytes")));
    }
    ensure_schema(doc)?;
    doc.automerge_mut().put(ROOT, schema::PROFILE_NAME, name)?;
    Ok(())
}

/// The display name.
pub fn name(doc: &Doc) -> Option<String> {
    get_str(doc.automerge(), &ROOT, schema::PROFILE_NAME)
}

/// Lists a device of this account.
pub fn add_device(doc: &mut Doc, cert: &DeviceCertificate) -> Result<(), DocError> {
    ensure_schema(doc)?;
    publish_certificate(doc, cert)
}

/// Every verified device certificate listed.
pub fn devices(doc: &Doc) -> Vec<DeviceCertificate> {
    certificates(doc)
}

/// Whether a device has been revoked.
pub fn is_revoked(doc: &Doc, device: &DeviceId) -> bool {
    doc.automerge()
        .get(ROOT, schema::revoked_key(device))
        .ok()
        .flatten()
        .is_some()
}

/// Marks a device of this account as revoked (at `at_ms`).
pub fn revoke_device(doc: &mut Doc, device: &DeviceId, at_ms: i64) -> Result<(), DocError> {
    ensure_schema(doc)?;
    doc.automerge_mut().put(ROOT, schema::revoked_key(device), at_ms)?;
    Ok(())
}

/// Sets a boolean chat setting.
pub fn set_chat_flag(doc: &mut Doc, chat: &ChatId, setting: ChatSetting, value: bool) -> Result<(), DocError> {
    if setting == ChatSetting::Draft {
        return Err(DocError::Invalid("the draft is text, not a flag".into()));
    }
    ensure_schema(doc)?;
    doc.automerge_mut()
        .put(ROOT, schema::chat_setting_key(chat, setting), value)?;
    Ok(())
}

/// Sets the draft of a chat.
pub fn set_draft(doc: &mut Doc, chat: &ChatId, draft: &str) -> Result<(), DocError> {
    if draft.len() > schema::MAX_TEXT_BYTES {
        return Err(DocError::Invalid("draft too long".into()));
    }
    ensure_schema(doc)?;
    doc.automerge_mut()
        .put(ROOT, schema::chat_setting_key(chat, ChatSetting::Draft), draft)?;
    Ok(())
}

/// The settings of one chat.
pub fn chat_settings(doc: &Doc, chat: &ChatId) -> ChatSettingsRow {
    let am = doc.automerge();
    let flag = |s| get_bool(am, &ROOT, &schema::chat_setting_key(chat, s)).unwrap_or(false);
    ChatSettingsRow {
        pinned: flag(ChatSetting::Pinned),
        muted: flag(ChatSetting::Muted),
        archived: flag(ChatSetting::Archived),
        draft: get_str(am, &ROOT, &schema::chat_setting_key(chat, ChatSetting::Draft)).unwrap_or_default(),
    }
}

/// Every chat that has settings.
pub fn chats_with_settings(doc: &Doc) -> Vec<ChatId> {
    let mut chats: Vec<ChatId> = keys_with_prefix(doc.automerge(), schema::CHAT_SETTING_PREFIX)
        .iter()
        .filter_map(|key| match RootKey::parse(key) {
            RootKey::ChatSetting(chat, _) => Some(chat),
            _ => None,
        })
        .collect();
    chats.dedup();
    chats
}

/// Sets (or, with `None`, removes) the profile picture.
pub fn set_avatar(doc: &mut Doc, avatar: Option<&[u8]>) -> Result<(), DocError> {
    ensure_schema(doc)?;
    match avatar {
        Some(bytes) if bytes.len() > schema::MAX_AVATAR_BYTES => {
            return Err(DocError::Invalid(format!(
                "a profile picture is at most {} bytes",
                schema::MAX_AVATAR_BYTES
            )));
        }
        Some(bytes) => doc
            .automerge_mut()
            .put(ROOT, schema::PROFILE_AVATAR, ScalarValue::Bytes(bytes.to_vec()))?,
        None => doc.automerge_mut().delete(ROOT, schema::PROFILE_AVATAR)?,
    }
    Ok(())
}

/// The profile picture.
pub fn avatar(doc: &Doc) -> Option<Vec<u8>> {
    get_bytes(doc.automerge(), &ROOT, schema::PROFILE_AVATAR)
}

/// Publishes the public key of a new recovery phrase (replacing the
/// previous phrase's: devices seal kits to the newest only).
pub fn set_recovery_key(doc: &mut Doc, public: &[u8; 32]) -> Result<(), DocError> {
    ensure_schema(doc)?;
    doc.automerge_mut()
        .put(ROOT, schema::RECOVERY_KEY, ScalarValue::Bytes(public.to_vec()))?;
    Ok(())
}

/// The public key of the account's recovery phrase, if one was made.
pub fn recovery_key(doc: &Doc) -> Option<[u8; 32]> {
    get_bytes(doc.automerge(), &ROOT, schema::RECOVERY_KEY).and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
}

/// Records the username this account holds and the secret that manages
/// it (`None`: it holds none).
pub fn set_username(doc: &mut Doc, username: Option<(&str, &[u8; 32])>) -> Result<(), DocError> {
    ensure_schema(doc)?;
    match username {
        Some((name, key)) => {
            doc.automerge_mut().put(ROOT, schema::USERNAME, name)?;
            doc.automerge_mut()
                .put(ROOT, schema::USERNAME_KEY, ScalarValue::Bytes(key.to_vec()))?;
        }
        None => {
            doc.automerge_mut().delete(ROOT, schema::USERNAME)?;
            doc.automerge_mut().delete(ROOT, schema::USERNAME_KEY)?;
        }
    }
    Ok(())
}

/// The username this account holds, with its manage secret.
pub fn username(doc: &Doc) -> Option<(String, [u8; 32])> {
    let name = get_str(doc.automerge(), &ROOT, schema::USERNAME)?;
    let key = get_bytes(doc.automerge(), &ROOT, schema::USERNAME_KEY)?;
    Some((name, key.try_into().ok()?))
}

/// Keeps a contact's profile picture.
pub fn set_contact_avatar(doc: &mut Doc, account: &AccountId, avatar: &[u8]) -> Result<(), DocError> {
    if avatar.len() > schema::MAX_AVATAR_BYTES {
        return Err(DocError::Invalid("a profile picture is too large".into()));
    }
    ensure_schema(doc)?;
    doc.automerge_mut().put(
        ROOT,
        schema::contact_avatar_key(account),
        ScalarValue::Bytes(avatar.to_vec()),
    )?;
    Ok(())
}

/// A contact's profile picture.
pub fn contact_avatar(doc: &Doc, account: &AccountId) -> Option<Vec<u8>> {
    get_bytes(doc.automerge(), &ROOT, &schema::contact_avatar_key(account))
}

/// Records or updates a contact.
pub fn set_contact(doc: &mut Doc, account: &AccountId, record: &ContactRecord) -> Result<(), DocError> {
    ensure_schema(doc)?;
    doc.automerge_mut()
        .put(ROOT, schema::contact_key(account), ScalarValue::Bytes(record.encode()))?;
    Ok(())
}

/// Every contact, by account id.
pub fn contacts(doc: &Doc) -> BTreeMap<AccountId, ContactRecord> {
    let mut out = BTreeMap::new();
    for key in keys_with_prefix(doc.automerge(), schema::CONTACT_PREFIX) {
        let RootKey::Contact(account) = RootKey::parse(&key) else {
            continue;
        };
        if let Some(record) = get_bytes(doc.automerge(), &ROOT, &key).and_then(|b| ContactRecord::decode(&b).ok()) {
            out.insert(account, record);
        }
    }
    out
}

/// Keeps what a message request said (`None`: it was answered).
pub fn set_request(doc: &mut Doc, account: &AccountId, request: Option<&RequestRecord>) -> Result<(), DocError> {
    ensure_schema(doc)?;
    let key = schema::request_key(account);
    match request {
        Some(request) => doc
            .automerge_mut()
            .put(ROOT, key, ScalarValue::Bytes(request.encode()))?,
        None => doc.automerge_mut().delete(ROOT, key)?,
    }
    Ok(())
}

/// Every message request not answered yet, by account id.
pub fn requests(doc: &Doc) -> BTreeMap<AccountId, RequestRecord> {
    let mut out = BTreeMap::new();
    for key in keys_with_prefix(doc.automerge(), schema::REQUEST_PREFIX) {
        let RootKey::Request(account) = RootKey::parse(&key) else {
            continue;
        };
        if let Some(record) = get_bytes(doc.automerge(), &ROOT, &key).and_then(|b| RequestRecord::decode(&b).ok()) {
            out.insert(account, record);
        }
    }
    out
}

/// Keeps a conversation's epoch key (shared with this account's devices).
pub fn set_chat_key(doc: &mut Doc, chat: &ChatId, epoch: u32, key: &EpochKey) -> Result<(), DocError> {
    ensure_schema(doc)?;
    doc.automerge_mut().put(
        ROOT,
        schema::chat_key_key(chat, epoch, &key.key_id()),
        ScalarValue::Bytes(key.as_bytes().to_vec()),
    )?;
    Ok(())
}

/// Every conversation epoch key this account holds, by (chat, epoch, key id).
/// Several keys of one epoch can exist when admins rotated concurrently; the
/// head document says which one members write with.
pub fn chat_keys(doc: &Doc) -> BTreeMap<(ChatId, u32, String), EpochKey> {
    let mut out = BTreeMap::new();
    for key in keys_with_prefix(doc.automerge(), schema::CHAT_KEY_PREFIX) {
        let RootKey::ChatKey(chat, epoch, id) = RootKey::parse(&key) else {
            continue;
        };
        let bytes = get_bytes(doc.automerge(), &ROOT, &key).and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok());
        if let Some(key) = bytes.map(EpochKey::from_bytes).filter(|k| k.key_id() == id) {
            out.insert((chat, epoch, id), key);
        }
    }
    out
}
