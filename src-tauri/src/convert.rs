//! From kith-client's views to the UI's DTOs.

use crate::error::IntoApi;
use kith_api::{
    ApiError, AttachmentDto, AttachmentKindDto, ChatKind, ChatRow, ContactDto, DeviceDto, MemberDto, MessageDto, Quote,
    Role, Tick,
};
use kith_client::{
    AccountId, Attachment, AttachmentKind, ChatSummary, ContactView, DeviceView, LastMessagePreview, MessageStatus,
    MessageView, Profile,
};
use std::collections::BTreeMap;

/// A `data:` URL for a JPEG profile picture.
pub fn avatar_url(jpeg: &[u8]) -> String {
    format!("data:image/jpeg;base64,{}", data_encoding::BASE64.encode(jpeg))
}

/// The picture of `account` (or this account) as a `data:` URL.
pub fn avatar_of(profile: &Profile, account: Option<&AccountId>) -> Result<Option<String>, ApiError> {
    Ok(profile.avatar(account).api()?.map(|jpeg| avatar_url(&jpeg)))
}

/// A group's picture as a `data:` URL.
pub fn chat_avatar_of(profile: &Profile, chat: &kith_client::ChatId) -> Result<Option<String>, ApiError> {
    Ok(profile.chats().avatar(chat).api()?.map(|jpeg| avatar_url(&jpeg)))
}

/// The API's kind for a client's chat kind.
pub fn chat_kind(kind: kith_client::ChatKind) -> ChatKind {
    match kind {
        kith_client::ChatKind::Direct => ChatKind::Direct,
        kith_client::ChatKind::Group => ChatKind::Group,
    }
}

/// The API's role for a client's role.
pub fn role(role: kith_client::Role) -> Role {
    match role {
        kith_client::Role::Member => Role::Member,
        kith_client::Role::Admin => Role::Admin,
        kith_client::Role::Owner => Role::Owner,
    }
}

/// The client's role for an API role.
pub fn client_role(role: Role) -> kith_client::Role {
    match role {
        Role::Member => kith_client::Role::Member,
        Role::Admin => kith_client::Role::Admin,
        Role::Owner => kith_client::Role::Owner,
    }
}

fn preview(last: &LastMessagePreview, me_name: &str) -> String {
    let text = match last.text.as_deref() {
        None => "Message deleted",
        // Only attachments (the preview carries no more about them).
        Some("") => "📎 Attachment",
        Some(text) => text,
    };
    if last.author_name == me_name {
        format!("You: {text}")
    } else {
        format!("{}: {text}", last.author_name)
    }
}

/// One chat list row.
pub fn chat_row(profile: &Profile, summary: ChatSummary, me_name: &str) -> Result<ChatRow, ApiError> {
    let me = profile.identity().account_id();
    let avatar = match summary.kind {
        kith_client::ChatKind::Direct => match summary.members.keys().find(|a| **a != me) {
            Some(other) => avatar_of(profile, Some(other))?,
            None => None,
        },
        kith_client::ChatKind::Group if summary.has_avatar => chat_avatar_of(profile, &summary.chat_id)?,
        kith_client::ChatKind::Group => None,
    };
    Ok(ChatRow {
        chat_id: summary.chat_id.to_string(),
        preview: summary.last_message.as_ref().map(|last| preview(last, me_name)),
        last_ts: summary.last_message.as_ref().map(|last| last.ts),
        name: summary.name,
        kind: chat_kind(summary.kind),
        unread: summary.unread,
        pinned: summary.pinned,
        muted: summary.muted,
        archived: summary.archived,
        member_count: summary.members.len(),
        avatar,
    })
}

fn tick(status: MessageStatus) -> Tick {
    match status {
        MessageStatus::Sent => Tick::Sent,
        MessageStatus::Uploaded => Tick::Uploaded,
        MessageStatus::Delivered => Tick::Delivered,
        MessageStatus::Read => Tick::Read,
    }
}

/// Names of accounts, looked up once per page.
#[derive(Default)]
pub struct Names(BTreeMap<AccountId, String>);

impl Names {
    /// The display name of `account` (its id when unknown).
    pub fn of(&mut self, profile: &Profile, account: &AccountId, known: Option<&String>) -> String {
        if let Some(name) = known {
            return name.clone();
        }
        self.0
            .entry(*account)
            .or_insert_with(|| {
                profile
                    .contacts()
                    .get(account)
                    .ok()
                    .flatten()
                    .and_then(|c| c.name)
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| short_id(&account.to_string()))
            })
            .clone()
    }
}

/// The first characters of an id, for people.
pub fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

/// One message as the conversation shows it.
pub fn message(profile: &Profile, view: MessageView, names: &mut Names) -> Result<MessageDto, ApiError> {
    let me = profile.identity().account_id();
    let reply_to = match view.reply_to {
        Some(id) => Some(match profile.messages().get(&view.chat_id, &id).api()? {
            Some(quoted) => Quote {
                message_id: id.to_string(),
                author_name: names.of(profile, &quoted.author, quoted.author_name.as_ref()),
                text: quoted.text,
            },
            None => Quote {
                message_id: id.to_string(),
                author_name: String::new(),
                text: None,
            },
        }),
        None => None,
    };
    let mut reactions = BTreeMap::new();
    let mut my_reactions = Vec::new();
    for (emoji, accounts) in &view.reactions {
        if accounts.contains(&me) {
            my_reactions.push(emoji.clone());
        }
        let mut who: Vec<String> = accounts
            .iter()
            .map(|a| {
                if *a == me {
                    "You".to_owned()
                } else {
                    names.of(profile, a, None)
                }
            })
            .collect();
        who.sort();
        reactions.insert(emoji.clone(), who);
    }
    Ok(MessageDto {
        id: view.id.to_string(),
        author: view.author.to_string(),
        author_name: names.of(profile, &view.author, view.author_name.as_ref()),
        mine: view.author == me,
        text: view.text,
        ts: view.ts,
        edited: view.edited,
        deleted: view.deleted,
        reply_to,
        reactions,
        my_reactions,
        tick: view.status.map(tick),
        attachments: if view.attachments.is_empty() {
            Vec::new()
        } else {
            attachments_of(profile, &view.chat_id, &view.id)?
        },
    })
}

/// A message's attachments with their previews and waveforms (which the
/// message view leaves out).
fn attachments_of(
    profile: &Profile,
    chat: &kith_client::ChatId,
    message: &kith_client::MessageId,
) -> Result<Vec<AttachmentDto>, ApiError> {
    let row = profile
        .store()
        .message(chat, message)
        .map_err(|err| crate::error::api_error(err.into()))?;
    row.map(|row| row.attachments)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(index, a)| {
            let available = profile.blobs().has(&a.hash).api()?;
            Ok(attachment(u32::try_from(index).unwrap_or(u32::MAX), a, available))
        })
        .collect()
}

/// One attachment as the conversation shows it.
pub fn attachment(index: u32, attachment: &Attachment, available: bool) -> AttachmentDto {
    let kind = match &attachment.kind {
        AttachmentKind::File => AttachmentKindDto::File,
        AttachmentKind::Image { width, height } => AttachmentKindDto::Image {
            width: *width,
            height: *height,
        },
        AttachmentKind::Voice { duration_ms, waveform } => AttachmentKindDto::Voice {
            duration_ms: *duration_ms,
            waveform: waveform.clone(),
        },
        AttachmentKind::Video {
            width,
            height,
            duration_ms,
        } => AttachmentKindDto::Video {
            width: *width,
            height: *height,
            duration_ms: *duration_ms,
        },
    };
    AttachmentDto {
        index,
        hash: attachment.hash_hex(),
        name: attachment.name.clone(),
        mime: attachment.mime.clone(),
        size: attachment.size,
        kind,
        // Thumbnails are JPEGs made by the sender's app; shown as an image only.
        thumbnail: attachment
            .thumbnail
            .as_deref()
            .map(|jpeg| format!("data:image/jpeg;base64,{}", data_encoding::BASE64.encode(jpeg))),
        available,
    }
}

/// One member of a chat.
pub fn member(profile: &Profile, account: &AccountId, member_role: kith_client::Role, names: &mut Names) -> MemberDto {
    let me = profile.identity().account_id();
    let name = if *account == me {
        profile.info().map(|info| info.name).unwrap_or_default()
    } else {
        names.of(profile, account, None)
    };
    let avatar = avatar_of(profile, (*account != me).then_some(account)).unwrap_or_else(|err| {
        tracing::debug!(%err, "a member's picture could not be read");
        None
    });
    MemberDto {
        account_id: account.to_string(),
        name,
        role: role(member_role),
        is_me: *account == me,
        avatar,
    }
}

/// One contact.
pub fn contact(profile: &Profile, view: ContactView) -> Result<ContactDto, ApiError> {
    let avatar = if view.has_avatar {
        avatar_of(profile, Some(&view.account_id))?
    } else {
        None
    };
    Ok(ContactDto {
        account_id: view.account_id.to_string(),
        name: view.name,
        state: view.state,
        avatar,
        refusal: view.refusal,
    })
}

/// One invite link.
pub fn invite_link(view: kith_client::InviteLinkView) -> kith_api::InviteLinkDto {
    kith_api::InviteLinkDto {
        id: view.id,
        kind: view.kind.to_owned(),
        state: view.state.to_owned(),
        link: view.link,
        uses: view.uses,
        refused_attempts: u32::try_from(view.refused_attempts.len()).unwrap_or(u32::MAX),
    }
}

/// One device.
pub fn device(view: DeviceView) -> DeviceDto {
    DeviceDto {
        device_id: view.device_id.to_string(),
        issued_ms: view.issued_ms,
        revoked: view.revoked,
        this_device: view.this_device,
    }
}
