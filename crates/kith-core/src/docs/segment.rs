//! Message segment documents: one per conversation per calendar month.

use super::{Doc, DocError, ensure_schema, get_int, get_str, keys_with_prefix};
use crate::attachment::{Attachment, decode_attachments, encode_attachments};
use crate::readmodel::MessageRow;
use crate::schema::{
    self, MAX_REACTION_BYTES, MAX_TEXT_BYTES, MSG_ATTACHMENTS, MSG_AUTHOR, MSG_DELETED, MSG_DEVICE, MSG_EDITED,
    MSG_REPLY_TO, MSG_TEXT, SegmentKey,
};
use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ROOT, ReadDoc, ScalarValueRef, Value, ValueRef};
use kith_proto::{AccountId, ChatId, DeviceId, Hlc, MessageId};
use std::collections::{BTreeMap, BTreeSet};

/// What a new message says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMessage {
    /// The id (minted from the send time and the device).
    pub id: MessageId,
    /// The author's account.
    pub author: AccountId,
    /// The sending device.
    pub device: DeviceId,
    /// The text.
    pub text: String,
    /// The message it answers, if any.
    pub reply_to: Option<MessageId>,
    /// Files it carries.
    pub attachments: Vec<Attachment>,
}

fn check_text(text: &str) -> Result<(), DocError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(DocError::Invalid(format!(
            "message text is {} bytes; the limit is {MAX_TEXT_BYTES}",
            text.len()
        )));
    }
    Ok(())
}

fn message_obj(doc: &Doc, id: &MessageId) -> Result<ObjId, DocError> {
    match doc.automerge().get(ROOT, schema::message_key(id))? {
        Some((Value::Object(ObjType::Map), obj)) => Ok(obj),
        _ => Err(DocError::NoSuchMessage(id.to_string())),
    }
}

/// Writes a new message.
pub fn send(doc: &mut Doc, message: &NewMessage) -> Result<(), DocError> {
    check_text(&message.text)?;
    // Checked before anything is written: a refused list leaves no message.
    if !message.attachments.is_empty() {
        encode_attachments(&message.attachments)?;
    }
    if !message.id.minted_by(&message.device) {
        return Err(DocError::Invalid(
            "message id was not minted by the sending device".into(),
        ));
    }
    ensure_schema(doc)?;
    let am = doc.automerge_mut();
    let obj = am.put_object(ROOT, schema::message_key(&message.id), ObjType::Map)?;
    am.put(&obj, MSG_AUTHOR, message.author.to_string())?;
    am.put(&obj, MSG_DEVICE, message.device.to_string())?;
    am.put(&obj, MSG_TEXT, message.text.as_str())?;
    if let Some(reply_to) = message.reply_to {
        am.put(&obj, MSG_REPLY_TO, reply_to.to_string())?;
    }
    if !message.attachments.is_empty() {
        am.put(&obj, MSG_ATTACHMENTS, encode_attachments(&message.attachments)?)?;
    }
    Ok(())
}

fn own_message(doc: &Doc, id: &MessageId, account: &AccountId) -> Result<ObjId, DocError> {
    let obj = message_obj(doc, id)?;
    let author = get_str(doc.automerge(), &obj, MSG_AUTHOR);
    if author.as_deref() != Some(account.to_string().as_str()) {
        return Err(DocError::NotAllowed(
            "only the author can edit or delete a message".into(),
        ));
    }
    if get_int(doc.automerge(), &obj, MSG_DELETED).is_some() {
        return Err(DocError::NotAllowed("the message was deleted".into()));
    }
    Ok(obj)
}

/// Replaces the text of one of `account`'s messages.
pub fn edit(doc: &mut Doc, id: &MessageId, account: &AccountId, text: &str, ts: Hlc) -> Result<(), DocError> {
    check_text(text)?;
    let obj = own_message(doc, id, account)?;
    let am = doc.automerge_mut();
    am.put(&obj, MSG_TEXT, text)?;
    am.put(&obj, MSG_EDITED, ts.to_i64())?;
    Ok(())
}

/// Deletes one of `account`'s messages for everyone: the text leaves the
/// current state of the document, a tombstone stays.
pub fn delete(doc: &mut Doc, id: &MessageId, account: &AccountId, ts: Hlc) -> Result<(), DocError> {
    let obj = own_message(doc, id, account)?;
    let am = doc.automerge_mut();
    am.delete(&obj, MSG_TEXT)?;
    // The files go too: nothing refers to their blobs any more.
    if am.get(&obj, MSG_ATTACHMENTS)?.is_some() {
        am.delete(&obj, MSG_ATTACHMENTS)?;
    }
    am.put(&obj, MSG_DELETED, ts.to_i64())?;
    Ok(())
}

/// Adds or removes `account`'s reaction `emoji` to a message in this segment.
pub fn react(
    doc: &mut Doc,
    id: &MessageId,
    account: &AccountId,
    emoji: &str,
    remove: bool,
    ts: Hlc,
) -> Result<(), DocError> {
    let emoji = emoji.trim();
    if emoji.is_empty() || emoji.len() > MAX_REACTION_BYTES || emoji.contains('/') {
        return Err(DocError::Invalid(format!("{emoji:?} is not a reaction")));
    }
    message_obj(doc, id)?;
    ensure_schema(doc)?;
    let key = schema::reaction_key(id, account, emoji);
    let am = doc.automerge_mut();
    if remove {
        if am.get(ROOT, key.as_str())?.is_some() {
            am.delete(ROOT, key)?;
        }
    } else {
        am.put(ROOT, key, ts.to_i64())?;
    }
    Ok(())
}

/// Moves `account`'s read position forward to `ts` (never back).
pub fn mark_read(doc: &mut Doc, account: &AccountId, ts: Hlc) -> Result<bool, DocError> {
    move_position(doc, &schema::read_key(account), ts)
}

/// Moves `account`'s delivered position forward to `ts` (never back).
pub fn mark_delivered(doc: &mut Doc, account: &AccountId, ts: Hlc) -> Result<bool, DocError> {
    move_position(doc, &schema::delivered_key(account), ts)
}

fn move_position(doc: &mut Doc, key: &str, ts: Hlc) -> Result<bool, DocError> {
    if position(doc, key).is_some_and(|current| current >= ts) {
        return Ok(false);
    }
    ensure_schema(doc)?;
    doc.automerge_mut().put(ROOT, key, ts.to_i64())?;
    Ok(true)
}

/// `account`'s read position in this segment (the largest of concurrent writes).
pub fn read_position(doc: &Doc, account: &AccountId) -> Option<Hlc> {
    position(doc, &schema::read_key(account))
}

/// `account`'s delivered position in this segment.
pub fn delivered_position(doc: &Doc, account: &AccountId) -> Option<Hlc> {
    position(doc, &schema::delivered_key(account))
}

fn position(doc: &Doc, key: &str) -> Option<Hlc> {
    let values = doc.automerge().get_all(ROOT, key).ok()?;
    values
        .into_iter()
        .filter_map(|(value, _)| match value {
            Value::Scalar(s) => s.as_i64(),
            Value::Object(_) => None,
        })
        .max()
        .map(Hlc::from_i64)
}

/// Ids of all messages in this segment, oldest first.
pub fn message_ids(doc: &Doc) -> Vec<MessageId> {
    keys_with_prefix(doc.automerge(), schema::MESSAGE_PREFIX)
        .iter()
        .filter_map(|key| match SegmentKey::parse(key) {
            Some(SegmentKey::Message(id)) => Some(id),
            _ => None,
        })
        .collect()
}

/// The read-model row of one message, or `None` if it is not (validly) here.
pub fn message_row(doc: &Doc, chat: ChatId, id: &MessageId) -> Option<MessageRow> {
    let am = doc.automerge();
    let obj = message_obj(doc, id).ok()?;
    // One pass over the message's fields (a seek per field costs several
    // times more, and rows are rebuilt for every message a batch brings).
    let mut author = None;
    let mut device = None;
    let mut text = None;
    let mut reply_to = None;
    let mut edited = None;
    let mut deleted = false;
    let mut attachment_bytes = None;
    for item in am.map_range(&obj, ..) {
        let ValueRef::Scalar(value) = item.value else { continue };
        match (item.key.as_ref(), value) {
            (MSG_AUTHOR, ScalarValueRef::Str(v)) => author = v.parse::<AccountId>().ok(),
            (MSG_DEVICE, ScalarValueRef::Str(v)) => device = v.parse::<DeviceId>().ok(),
            (MSG_TEXT, ScalarValueRef::Str(v)) => text = Some(v.into_owned()),
            (MSG_REPLY_TO, ScalarValueRef::Str(v)) => reply_to = v.parse::<MessageId>().ok(),
            (MSG_EDITED, ScalarValueRef::Int(v)) => edited = Some(Hlc::from_i64(v)),
            (MSG_DELETED, ScalarValueRef::Int(_)) => deleted = true,
            (MSG_ATTACHMENTS, ScalarValueRef::Bytes(v)) => attachment_bytes = Some(v),
            _ => {}
        }
    }
    let (author, device) = (author?, device?);
    if deleted {
        text = None;
    }
    let attachments = match attachment_bytes {
        Some(bytes) if !deleted => decode_attachments(&bytes).unwrap_or_default(),
        _ => Vec::new(),
    };
    let mut reactions: BTreeMap<String, BTreeSet<AccountId>> = BTreeMap::new();
    if !deleted {
        for key in keys_with_prefix(am, &schema::reaction_prefix(id)) {
            if let Some(SegmentKey::Reaction { account, emoji, .. }) = SegmentKey::parse(&key) {
                reactions.entry(emoji).or_default().insert(account);
            }
        }
    }
    Some(MessageRow {
        chat,
        id: *id,
        author,
        device,
        ts: id.ts(),
        text,
        reply_to,
        edited,
        deleted,
        reactions,
        attachments,
    })
}
