//! Message commands: pages, send, edit, delete, react, read, typing, search.

use super::{Reply, blocking, chat_id, message_id};
use crate::backend::Backend;
use crate::convert::{self, Names};
use crate::error::IntoApi;
use kith_api::*;
use tauri::State;

/// Largest page the UI may ask for.
const MAX_PAGE: u32 = 500;
/// Search results shown.
const SEARCH_LIMIT: usize = 50;

fn changed(backend: &Backend, chat_id: &str) {
    backend.shared.emit(AppEvent::MessagesChanged {
        chat_id: chat_id.to_owned(),
    });
    backend.shared.emit(AppEvent::ChatsChanged);
}

/// `messages`
#[tauri::command]
pub async fn messages(backend: State<'_, Backend>, args: GetMessages) -> Reply<GetMessages> {
    let profile = backend.profile()?;
    let chat = chat_id(&args.chat_id)?;
    let before = args.before.as_deref().map(message_id).transpose()?;
    let limit = args.limit.clamp(1, MAX_PAGE) as usize;
    // One more than asked tells whether older messages exist.
    let mut views = profile.messages().list(&chat, limit + 1, before.as_ref()).api()?;
    let has_more = views.len() > limit;
    if has_more {
        views.remove(0);
    }
    let mut names = Names::default();
    let messages = views
        .into_iter()
        .map(|view| convert::message(&profile, view, &mut names))
        .collect::<Result<_, _>>()?;
    Ok(MessagePage { messages, has_more })
}

/// `send_message`
#[tauri::command]
pub async fn send_message(backend: State<'_, Backend>, args: SendMessage) -> Reply<SendMessage> {
    let text = args.text.trim_end();
    if text.trim().is_empty() && args.attachments.is_empty() {
        return Err(ApiError::invalid("Type a message first."));
    }
    let profile = backend.profile()?;
    let reply_to = args.reply_to.as_deref().map(message_id).transpose()?;
    let attachments = backend.staged(&args.attachments)?;
    // A staged file left waiting past the garbage collector's grace is gone.
    for attachment in &attachments {
        if !profile.blobs().has(&attachment.hash).api()? {
            return Err(ApiError::invalid(format!(
                "{} is no longer ready to send; attach it again.",
                attachment.name
            )));
        }
    }
    let id = profile
        .messages()
        .send_with(
            &chat_id(&args.chat_id)?,
            if text.trim().is_empty() { "" } else { text },
            reply_to,
            attachments,
        )
        .api()?;
    for token in &args.attachments {
        backend.unstage(token);
    }
    profile.chats().set_draft(&chat_id(&args.chat_id)?, "").api()?;
    changed(&backend, &args.chat_id);
    Ok(id.to_string())
}

/// `edit_message`
#[tauri::command]
pub async fn edit_message(backend: State<'_, Backend>, args: EditMessage) -> Reply<EditMessage> {
    if args.text.trim().is_empty() {
        return Err(ApiError::invalid("A message cannot be empty; delete it instead."));
    }
    let chat = chat_id(&args.chat_id)?;
    backend
        .profile()?
        .messages()
        .edit(&chat, &message_id(&args.message_id)?, args.text.trim_end())
        .api()?;
    changed(&backend, &args.chat_id);
    Ok(())
}

/// `delete_message`
#[tauri::command]
pub async fn delete_message(backend: State<'_, Backend>, args: DeleteMessage) -> Reply<DeleteMessage> {
    let chat = chat_id(&args.chat_id)?;
    backend
        .profile()?
        .messages()
        .delete(&chat, &message_id(&args.message_id)?)
        .api()?;
    changed(&backend, &args.chat_id);
    Ok(())
}

/// `react`
#[tauri::command]
pub async fn react(backend: State<'_, Backend>, args: React) -> Reply<React> {
    let chat = chat_id(&args.chat_id)?;
    backend
        .profile()?
        .messages()
        .react(&chat, &message_id(&args.message_id)?, &args.emoji, args.remove)
        .api()?;
    changed(&backend, &args.chat_id);
    Ok(())
}

/// `mark_read`
#[tauri::command]
pub async fn mark_read(backend: State<'_, Backend>, args: MarkRead) -> Reply<MarkRead> {
    let profile = backend.profile()?;
    profile.messages().mark_read(&chat_id(&args.chat_id)?).api()?;
    backend.shared.emit(AppEvent::ChatsChanged);
    crate::worker::refresh_unread(&profile, &backend.shared);
    Ok(())
}

/// `send_typing`
#[tauri::command]
pub async fn send_typing(backend: State<'_, Backend>, args: SendTyping) -> Reply<SendTyping> {
    backend.send_typing(chat_id(&args.chat_id)?);
    Ok(())
}

/// `search`
#[tauri::command]
pub async fn search(backend: State<'_, Backend>, args: Search) -> Reply<Search> {
    let profile = backend.profile()?;
    if args.query.trim().is_empty() {
        return Ok(Vec::new());
    }
    blocking(move || {
        let names: std::collections::BTreeMap<_, _> = profile
            .chats()
            .list()
            .api()?
            .into_iter()
            .map(|c| (c.chat_id, c.name))
            .collect();
        let hits = profile.messages().search(&args.query, SEARCH_LIMIT).api()?;
        Ok(hits
            .into_iter()
            .map(|hit| SearchHitDto {
                chat_id: hit.chat.to_string(),
                chat_name: names.get(&hit.chat).cloned().unwrap_or_default(),
                message_id: hit.message.to_string(),
                snippet: hit.snippet,
            })
            .collect())
    })
    .await
}
