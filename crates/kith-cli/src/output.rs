//! Human and JSON output.

use kith_client::{ChatSummary, MessageView, SearchHit};
use serde::Serialize;

/// Prints one JSON value on stdout.
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

fn time(ms: u64) -> String {
    let secs = ms / 1000;
    let (h, m) = ((secs / 3600) % 24, (secs / 60) % 60);
    format!("{h:02}:{m:02}")
}

/// One message per line, with reply and reaction markers.
pub fn messages(messages: &[MessageView]) {
    if messages.is_empty() {
        println!("(no messages yet)");
    }
    for m in messages {
        let who = m.author_name.clone().unwrap_or_else(|| short(&m.author.to_string()));
        let text = match (&m.text, m.deleted) {
            (_, true) => "(deleted)".to_string(),
            (Some(text), false) => text.clone(),
            (None, false) => String::new(),
        };
        let reply = m
            .reply_to
            .map(|r| format!(" ↪ {}", short(&r.to_string())))
            .unwrap_or_default();
        let edited = if m.edited { " (edited)" } else { "" };
        let reactions: Vec<String> = m
            .reactions
            .iter()
            .map(|(emoji, who)| format!("{emoji}{}", who.len()))
            .collect();
        let reactions = if reactions.is_empty() {
            String::new()
        } else {
            format!("  [{}]", reactions.join(" "))
        };
        println!("{} {} {who}:{reply} {text}{edited}{reactions}", time(m.ts), m.id);
    }
}

/// The chat list.
pub fn chats(chats: &[ChatSummary]) {
    if chats.is_empty() {
        println!("(no chats yet: `kith chat new --name NAME`)");
    }
    for c in chats {
        let flags = [(c.pinned, "pinned"), (c.muted, "muted"), (c.archived, "archived")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| *name)
            .collect::<Vec<_>>()
            .join(",");
        let last = c
            .last_message
            .as_ref()
            .map(|m| format!("{}: {}", m.author_name, m.text.as_deref().unwrap_or("(deleted)")))
            .unwrap_or_else(|| "(no messages)".into());
        let unread = if c.unread > 0 {
            format!(" ({} unread)", c.unread)
        } else {
            String::new()
        };
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!(" [{flags}]")
        };
        println!("{}  {}{unread}{flags}\n    {last}", c.chat_id, c.name);
    }
}

/// Search results.
pub fn hits(hits: &[SearchHit]) {
    if hits.is_empty() {
        println!("(no matches)");
    }
    for h in hits {
        println!("{} {}  {}", h.chat, h.message, h.snippet);
    }
}

fn short(id: &str) -> String {
    id.chars().take(8).collect()
}
