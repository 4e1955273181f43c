//! Messages: send (with files and voice notes), edit, delete, react, read,
//! the list, search, attachments and saving them.

use crate::args::{SaveArgs, SendArgs};
use crate::ids::{chat_id, message_id, server_for};
use crate::outcome::Outcome;
use crate::output;
use anyhow::Context;
use kith_client::Profile;
use serde_json::json;

/// `kith send`.
pub(crate) fn send(profile: &Profile, draft: &SendArgs) -> anyhow::Result<Outcome> {
    let chat = chat_id(&draft.chat)?;
    let reply_to = draft.reply_to.as_deref().map(message_id).transpose()?;
    let mut attachments = Vec::with_capacity(draft.attach.len() + 1);
    for path in &draft.attach {
        attachments.push(
            profile
                .blobs()
                .attach(path, draft.as_file)
                .with_context(|| format!("attaching {}", path.display()))?,
        );
    }
    if let Some(path) = &draft.voice {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        attachments.push(
            profile
                .blobs()
                .attach_voice(&name, bytes, None)
                .with_context(|| format!("attaching {}", path.display()))?,
        );
    }
    let id = profile
        .messages()
        .send_with(&chat, &draft.text, reply_to, attachments)?;
    Ok(Outcome::show(&json!({ "message_id": id }), id.to_string())?.wrote())
}

/// `kith edit`.
pub(crate) fn edit(profile: &Profile, chat: &str, message: &str, text: &str) -> anyhow::Result<Outcome> {
    profile.messages().edit(&chat_id(chat)?, &message_id(message)?, text)?;
    Ok(Outcome::ok("edited")?.wrote())
}

/// `kith delete`.
pub(crate) fn delete(profile: &Profile, chat: &str, message: &str) -> anyhow::Result<Outcome> {
    profile.messages().delete(&chat_id(chat)?, &message_id(message)?)?;
    Ok(Outcome::ok("deleted")?.wrote())
}

/// `kith react`.
pub(crate) fn react(
    profile: &Profile,
    chat: &str,
    message: &str,
    emoji: &str,
    remove: bool,
) -> anyhow::Result<Outcome> {
    profile
        .messages()
        .react(&chat_id(chat)?, &message_id(message)?, emoji, remove)?;
    Ok(Outcome::ok(if remove { "reaction removed" } else { "reacted" })?.wrote())
}

/// `kith suggest`.
pub(crate) fn suggest(profile: &Profile, chat: &str, message: &str) -> anyhow::Result<Outcome> {
    let suggestions = profile
        .messages()
        .suggest_replies(&chat_id(chat)?, &message_id(message)?)?;
    let text = output::lines(&suggestions, |s| match s.times {
        0 => s.text.clone(),
        1 => format!("{}  (you answered a similar message this way)", s.text),
        n => format!("{}  (your answer to {n} similar messages)", s.text),
    });
    Outcome::show(&suggestions, text)
}

/// `kith read`.
pub(crate) fn read(profile: &Profile, chat: &str) -> anyhow::Result<Outcome> {
    profile.messages().mark_read(&chat_id(chat)?)?;
    Ok(Outcome::ok("marked read")?.wrote())
}

/// `kith messages`.
pub(crate) fn list(profile: &Profile, chat: &str, limit: usize, before: Option<&str>) -> anyhow::Result<Outcome> {
    let before = before.map(message_id).transpose()?;
    let messages = profile.messages().list(&chat_id(chat)?, limit, before.as_ref())?;
    Outcome::show(&messages, output::messages(&messages))
}

/// `kith search`.
pub(crate) fn search(profile: &Profile, query: &str, limit: usize) -> anyhow::Result<Outcome> {
    let hits = profile.messages().search(query, limit)?;
    let rows: Vec<_> = hits
        .iter()
        .map(|h| json!({"chat_id": h.chat, "message_id": h.message, "text": h.text, "snippet": h.snippet}))
        .collect();
    Outcome::show(&rows, output::hits(&hits))
}

/// `kith attachments`.
pub(crate) fn attachments(profile: &Profile, chat: &str) -> anyhow::Result<Outcome> {
    let attachments = profile.blobs().attachments(&chat_id(chat)?)?;
    let text = if attachments.is_empty() {
        "no attachments in this chat".to_owned()
    } else {
        crate::output::lines(&attachments, |a| {
            format!(
                "{} #{} {} ({}, {} bytes){}",
                a.message_id,
                a.index,
                a.name,
                a.mime,
                a.size,
                if a.downloaded { "" } else { " - not downloaded" }
            )
        })
    };
    Outcome::show(&attachments, text)
}

/// `kith save`: fetches the attachment first when it is not here (an
/// interrupted fetch resumes), with progress on stderr.
pub(crate) fn save(profile: &Profile, json_mode: bool, request: SaveArgs) -> anyhow::Result<Outcome> {
    let chat = chat_id(&request.chat)?;
    let attachment = profile
        .blobs()
        .attachment(&chat, &message_id(&request.message)?, request.index)?;
    if request.thumbnail {
        let preview = attachment
            .thumbnail
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("{} has no preview", attachment.name))?;
        return crate::commands::account::save_picture(&request.out, preview);
    }
    let mut report = kith_client::TransferReport::default();
    if !profile.blobs().has(&attachment.hash)? {
        let server = server_for(profile, request.server)?;
        let runtime = crate::sync::runtime()?;
        report = runtime.block_on(async {
            let connection = profile.relay().connect(&server).await?;
            let mut shown = 0u64;
            let mut progress = |p: kith_client::Progress| {
                // About every 5% on stderr, for people watching.
                if !json_mode && (p.done == p.total || p.done >= shown + p.total / 20) {
                    shown = p.done;
                    eprintln!("fetched {} of {} bytes", p.done, p.total);
                }
            };
            profile
                .blobs()
                .fetch(&connection, chat, &attachment, request.rate_limit, &mut progress)
                .await
        })?;
    }
    let path = profile.blobs().save_attachment(&attachment, &request.out)?;
    Outcome::show(
        &json!({
            "path": path,
            "bytes": attachment.size,
            "hash": attachment.hash_hex(),
            "mime": attachment.mime,
            "resumed_from": report.resumed_from,
            "fetched": report.fetched,
        }),
        format!(
            "saved {} ({} bytes) to {}",
            attachment.name,
            attachment.size,
            path.display()
        ),
    )
}
