//! Account documents: profile, devices, per-conversation settings. Shared by
//! one person's devices only.

use super::{Doc, DocError, get_bool, get_bytes, get_str, keys_with_prefix};
use crate::identity::DeviceCertificate;
use crate::readmodel::ChatSettingsRow;
use crate::schema::{self, ChatSetting, MAX_NAME_BYTES, RootKey};
use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc, ScalarValue};
use kith_proto::{ChatId, DeviceId};

fn ensure_schema(doc: &mut Doc) -> Result<(), DocError> {
    let am = doc.automerge_mut();
    if am.get(ROOT, schema::SCHEMA_KEY)?.is_none() {
        am.put(ROOT, schema::SCHEMA_KEY, schema::SCHEMA_VERSION)?;
    }
    Ok(())
}

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
    let key = schema::device_key(&cert.device);
    if get_bytes(doc.automerge(), &ROOT, &key).is_none() {
        doc.automerge_mut()
            .put(ROOT, key, ScalarValue::Bytes(cert.to_bytes()))?;
    }
    Ok(())
}

/// Every verified device certificate listed.
pub fn devices(doc: &Doc) -> Vec<DeviceCertificate> {
    keys_with_prefix(doc.automerge(), schema::DEVICE_PREFIX)
        .iter()
        .filter_map(|key| get_bytes(doc.automerge(), &ROOT, key))
        .filter_map(|bytes| DeviceCertificate::from_bytes(&bytes).ok())
        .collect()
}

/// Whether a device has been revoked.
pub fn is_revoked(doc: &Doc, device: &DeviceId) -> bool {
    doc.automerge()
        .get(ROOT, schema::revoked_key(device))
        .ok()
        .flatten()
        .is_some()
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
