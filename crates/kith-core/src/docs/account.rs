//! Account documents: profile, devices, per-conversation settings. Shared by
//! one person's devices only.

use super::{Doc, DocError, certificates, ensure_schema, get_bool, get_str, keys_with_prefix, publish_certificate};
use crate::identity::DeviceCertificate;
use crate::readmodel::ChatSettingsRow;
use crate::schema::{self, ChatSetting, MAX_NAME_BYTES, RootKey};
use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc};
use kith_proto::{ChatId, DeviceId};

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
