//! Message commands: pages, send, edit, delete, react, read, typing, search.

use super::{Reply, chat_id, message_id, on_profile};
use crate::backend::Backend;
use crate::convert::{self, Names};
use crate::error::IntoApi;
use kith_api::*;
use std::sync::Arc;
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
pub async fn messages(backend: State<'_, Arc<Backend>>, args: GetMessages) -> Reply<GetMessages> {
    let chat = chat_id(&args.chat_id)?;
    let before = args.before.as_deref().map(message_id).transpose()?;
    let limit = args.limit.clamp(1, MAX_PAGE) as usize;
    on_profile(&backend, move |profile| {
        // One more than asked tells whether older messages exist.
        let mut views = profile.messages().list(&chat, limit + 1, before.as_ref()).api()?;
        let has_more = views.len() > limit;
        if has_more {
            views.remove(0);
        }
        let mut names = Names::default();
        let messages = views
            .into_iter()
            .map(|view| convert::message(profile, view, &mut names))
            .collect::<Result<_, _>>()?;
        Ok(MessagePage { messages, has_more })
    })
    .await
}

/// `send_message`
#[tauri::command]
pub async fn send_message(backend: State<'_, Arc<Backend>>, args: SendMessage) -> Reply<SendMessage> {
    let text = args.text.trim_end().to_owned();
    if text.trim().is_empty() && args.attachments.is_empty() {
        return Err(ApiError::invalid("Type a message first."));
    }
    let chat = chat_id(&args.chat_id)?;
    let reply_to = args.reply_to.as_deref().map(message_id).transpose()?;
    let attachments = backend.staged(&args.attachments)?;
    let id = on_profile(&backend, move |profile| {
        // A staged file left waiting past the garbage collector's grace is gone.
        for attachment in &attachments {
            if !profile.blobs().has(&attachment.hash).api()? {
                return Err(ApiError::invalid(format!(
                    "{} is no longer ready to send; attach it again.",
                    attachment.name
                )));
            }
        }
        let text = if text.trim().is_empty() { "" } else { text.as_str() };
        let id = profile.messages().send_with(&chat, text, reply_to, attachments).api()?;
        profile.chats().set_draft(&chat, "").api()?;
        Ok(id)
    })
    .await?;
    for token in &args.attachments {
        backend.unstage(token);
    }
    changed(&backend, &args.chat_id);
    Ok(id.to_string())
}

/// `edit_message`
#[tauri::command]
pub async fn edit_message(backend: State<'_, Arc<Backend>>, args: EditMessage) -> Reply<EditMessage> {
    if args.text.trim().is_empty() {
        return Err(ApiError::invalid("A message cannot be empty; delete it instead."));
    }
    let chat = chat_id(&args.chat_id)?;
    let message = message_id(&args.message_id)?;
    let text = args.text.trim_end().to_owned();
    on_profile(&backend, move |profile| {
        profile.messages().edit(&chat, &message, &text).api()
    })
    .await?;
    changed(&backend, &args.chat_id);
    Ok(())
}

/// `delete_message`
#[tauri::command]
pub async fn delete_message(backend: State<'_, Arc<Backend>>, args: DeleteMessage) -> Reply<DeleteMessage> {
    let chat = chat_id(&args.chat_id)?;
    let message = message_id(&args.message_id)?;
    on_profile(&backend, move |profile| {
        profile.messages().delete(&chat, &message).api()
    })
    .await?;
    changed(&backend, &args.chat_id);
    Ok(())
}

/// `react`
#[tauri::command]
pub async fn react(backend: State<'_, Arc<Backend>>, args: React) -> Reply<React> {
    let chat = chat_id(&args.chat_id)?;
    let message = message_id(&args.message_id)?;
    let (emoji, remove) = (args.emoji.clone(), args.remove);
    on_profile(&backend, move |profile| {
        profile.messages().react(&chat, &message, &emoji, remove).api()
    })
    .await?;
    changed(&backend, &args.chat_id);
    Ok(())
}

/// `mark_read`
#[tauri::command]
pub async fn mark_read(backend: State<'_, Arc<Backend>>, args: MarkRead) -> Reply<MarkRead> {
    let chat = chat_id(&args.chat_id)?;
    let shared = Arc::clone(&backend.shared);
    on_profile(&backend, move |profile| {
        profile.messages().mark_read(&chat).api()?;
        crate::worker::refresh_unread(profile, &shared);
        Ok(())
    })
    .await?;
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(())
}

/// `send_typing`
#[tauri::command]
pub async fn send_typing(backend: State<'_, Arc<Backend>>, args: SendTyping) -> Reply<SendTyping> {
    backend.send_typing(chat_id(&args.chat_id)?);
    Ok(())
}

/// `suggest_replies`
#[tauri::command]
pub async fn suggest_replies(backend: State<'_, Arc<Backend>>, args: SuggestReplies) -> Reply<SuggestReplies> {
    let chat = chat_id(&args.chat_id)?;
    let message = message_id(&args.message_id)?;
    on_profile(&backend, move |profile| {
        let suggestions = profile.messages().suggest_replies(&chat, &message).api()?;
        Ok(suggestions.into_iter().map(|s| s.text).collect())
    })
    .await
}

/// `search`
#[tauri::command]
pub async fn search(backend: State<'_, Arc<Backend>>, args: Search) -> Reply<Search> {
    if args.query.trim().is_empty() {
        return Ok(Vec::new());
    }
    on_profile(&backend, move |profile| {
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
