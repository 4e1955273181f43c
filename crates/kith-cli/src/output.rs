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
pub fn messages(messages: &[MessageView]) -> String {
    let mut lines = Vec::new();
    if messages.is_empty() {
        lines.push("(no messages yet)".to_owned());
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
        lines.push(format!(
            "{} {} {who}:{reply} {text}{edited}{reactions}",
            time(m.ts),
            m.id
        ));
    }
    lines.join("\n")
}

/// The chat list.
pub fn chats(chats: &[ChatSummary]) -> String {
    let mut lines = Vec::new();
    if chats.is_empty() {
        lines.push("(no chats yet: `kith chat new --name NAME`)".to_owned());
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
        lines.push(format!("{}  {}{unread}{flags}\n    {last}", c.chat_id, c.name));
    }
    lines.join("\n")
}

/// Search results.
pub fn hits(hits: &[SearchHit]) -> String {
    let mut lines = Vec::new();
    if hits.is_empty() {
        lines.push("(no matches)".to_owned());
    }
    for h in hits {
        lines.push(format!("{} {}  {}", h.chat, h.message, h.snippet));
    }
    lines.join("\n")
}

/// One line per item.
pub fn lines<T>(items: &[T], line: impl Fn(&T) -> String) -> String {
    items.iter().map(line).collect::<Vec<_>>().join("\n")
}

fn short(id: &str) -> String {
    id.chars().take(8).collect()
}
