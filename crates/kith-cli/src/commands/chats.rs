//! Chats: create, rename, picture, pin/mute/archive, drafts, members, the list.

use crate::args::{ChatCommand, MemberCommand};
use crate::ids::{account_id, chat_id, role};
use crate::outcome::Outcome;
use crate::output;
use anyhow::Context;
use kith_client::{ChatKind, ChatSetting, Profile};
use serde_json::json;

/// `kith chat ...`.
pub(crate) fn chat(profile: &Profile, command: ChatCommand) -> anyhow::Result<Outcome> {
    let chats = profile.chats();
    match command {
        ChatCommand::New { name, members } => {
            let members = members
                .iter()
                .map(|m| account_id(m))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let chat = chats.create(&name, &members, ChatKind::Group)?;
            Ok(Outcome::show(&json!({ "chat_id": chat }), chat.to_string())?.wrote())
        }
        ChatCommand::Direct { account } => {
            let chat = profile.contacts().direct_chat(&account_id(&account)?)?;
            Ok(Outcome::show(&json!({ "chat_id": chat }), chat.to_string())?.wrote())
        }
        ChatCommand::Rename { chat, name } => {
            chats.rename(&chat_id(&chat)?, &name)?;
            Ok(Outcome::ok("renamed")?.wrote())
        }
        ChatCommand::Avatar { chat, file, remove } => {
            let chat = chat_id(&chat)?;
            let picture = match &file {
                Some(file) if !remove => {
                    Some(std::fs::read(file).with_context(|| format!("reading {}", file.display()))?)
                }
                _ => None,
            };
            chats.set_avatar(&chat, picture.as_deref())?;
            let text = if picture.is_some() {
                "group picture set"
            } else {
                "group picture removed"
            };
            Ok(Outcome::ok(text)?.wrote())
        }
        ChatCommand::AvatarGet { chat, out } => {
            let Some(bytes) = chats.avatar(&chat_id(&chat)?)? else {
                anyhow::bail!("this chat has no picture");
            };
            crate::commands::account::save_picture(&out, &bytes)
        }
        ChatCommand::Pin { chat, off } => flag(profile, &chat, ChatSetting::Pinned, off, ("pinned", "unpinned")),
        ChatCommand::Mute { chat, off } => flag(profile, &chat, ChatSetting::Muted, off, ("muted", "unmuted")),
        ChatCommand::Archive { chat, off } => {
            flag(profile, &chat, ChatSetting::Archived, off, ("archived", "unarchived"))
        }
        ChatCommand::Draft { chat, text } => {
            chats.set_draft(&chat_id(&chat)?, &text)?;
            Ok(Outcome::ok("draft saved")?.wrote())
        }
    }
}

/// Pin, mute or archive (`off`: undo); `said` is what to print for on and off.
fn flag(profile: &Profile, chat: &str, setting: ChatSetting, off: bool, said: (&str, &str)) -> anyhow::Result<Outcome> {
    profile.chats().set_flag(&chat_id(chat)?, setting, !off)?;
    Ok(Outcome::ok(if off { said.1 } else { said.0 })?.wrote())
}

/// `kith member ...`.
pub(crate) fn member(profile: &Profile, command: MemberCommand) -> anyhow::Result<Outcome> {
    let chats = profile.chats();
    match command {
        MemberCommand::Add { chat, account, role: r } => {
            chats.set_role(&chat_id(&chat)?, &account_id(&account)?, role(&r)?)?;
            Ok(Outcome::ok("added")?.wrote())
        }
        MemberCommand::Role { chat, account, role: r } => {
            chats.set_role(&chat_id(&chat)?, &account_id(&account)?, role(&r)?)?;
            Ok(Outcome::ok("role changed")?.wrote())
        }
        MemberCommand::Remove { chat, account } => {
            chats.remove_member(&chat_id(&chat)?, &account_id(&account)?)?;
            Ok(Outcome::ok("removed")?.wrote())
        }
    }
}

/// `kith leave`.
pub(crate) fn leave(profile: &Profile, chat: &str) -> anyhow::Result<Outcome> {
    let me = profile.identity().account_id();
    profile.chats().remove_member(&chat_id(chat)?, &me)?;
    Ok(Outcome::ok("left")?.wrote())
}

/// `kith chats`: the chat list.
pub(crate) fn list(profile: &Profile) -> anyhow::Result<Outcome> {
    let chats = profile.chats().list()?;
    let rows: Vec<_> = chats
        .iter()
        .map(|c| {
            json!({
                "chat_id": c.chat_id, "name": c.name, "kind": c.kind,
                "last_message": c.last_message, "unread": c.unread,
                "pinned": c.pinned, "muted": c.muted, "archived": c.archived,
                "members": c.members, "has_avatar": c.has_avatar,
            })
        })
        .collect();
    Outcome::show(&rows, output::chats(&chats))
}
