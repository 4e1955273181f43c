//! The navigation rail and the chat list column (search, sync indicator).

use crate::avatar::Avatar;
use crate::format;
use crate::icons::{Glyph, Icon};
use crate::ipc;
use crate::state::{Ctx, Screen};
use dioxus::prelude::*;
use kith_api::{ChatRow, ListChats, ReportStartup, Search, SearchHitDto, SyncRoute};

/// Icons on the far left: chats, contacts, devices, settings, and me.
#[component]
pub(crate) fn Rail() -> Element {
    let ctx = use_context::<Ctx>();
    let screen = *ctx.screen.read();
    let me = ctx.me.read().clone();
    let item = move |target: Screen, glyph: Glyph, label: &'static str, id: &'static str| {
        let mut ctx = ctx;
        let class = if screen == target {
            "rail-item active"
        } else {
            "rail-item"
        };
        rsx! {
            button { class, id, title: label, "aria-label": label,
                onclick: move |_| ctx.screen.set(target),
                Icon { glyph, size: 22 }
            }
        }
    };
    rsx! {
        nav { class: "rail",
            {item(Screen::Chats, Glyph::Chat, "Chats", "nav-chats")}
            {item(Screen::Contacts, Glyph::People, "Contacts", "nav-contacts")}
            {item(Screen::Devices, Glyph::Laptop, "Devices", "nav-devices")}
            div { class: "rail-spacer" }
            {item(Screen::Settings, Glyph::Sliders, "Settings", "nav-settings")}
            if let Some(me) = me {
                div { class: "rail-me", title: "{me.name}",
                    Avatar { name: me.name.clone(), seed: me.account_id.clone(), url: me.avatar.clone(), size: 36 }
                }
            }
        }
    }
}

/// The sync indicator: where this device syncs now.
#[component]
fn SyncIndicator() -> Element {
    let ctx = use_context::<Ctx>();
    let status = ctx.sync.read().clone();
    let (label, class) = match status.route {
        SyncRoute::Offline => ("Offline", "sync offline"),
        SyncRoute::Lan => ("LAN", "sync lan"),
        SyncRoute::Direct => ("Direct", "sync direct"),
        SyncRoute::Server => ("Server", "sync server"),
    };
    rsx! {
        div { class, id: "sync-indicator", title: "{status.detail}",
            span { class: if status.busy { "dot busy" } else { "dot" } }
            span { class: "sync-label", "{label}" }
            span { class: "sync-detail", "{status.detail}" }
        }
    }
}

/// Search box, chat list and the archive.
#[component]
pub(crate) fn ChatColumn() -> Element {
    let mut ctx = use_context::<Ctx>();
    let mut query = use_signal(String::new);
    let archived = *ctx.show_archived.read();

    let chats = use_resource(move || async move {
        let _ = ctx.chats_version.read();
        let archived = *ctx.show_archived.read();
        ipc::call(&ListChats { archived }).await
    });
    let hits = use_resource(move || async move {
        let q = query.read().trim().to_owned();
        if q.chars().count() < 2 {
            return Ok(Vec::new());
        }
        // Let fast typing settle before searching.
        ipc::sleep_ms(150).await;
        if *query.peek().trim() != q {
            return Ok(Vec::new());
        }
        ipc::call(&Search { query: q }).await
    });

    // Tell the shell once when the first chat list is on screen.
    let mut reported = use_signal(|| false);
    use_effect(move || {
        if chats.read().as_ref().is_some_and(|r| r.is_ok()) && !*reported.peek() {
            reported.set(true);
            spawn(async move {
                ipc::sleep_ms(0).await;
                let _ = ipc::call(&ReportStartup {
                    stage: "chat list painted".to_owned(),
                })
                .await;
            });
        }
    });

    let now = ipc::now_ms();
    let q = query.read().to_lowercase();
    let rows: Vec<ChatRow> = match &*chats.read() {
        Some(Ok(rows)) => rows
            .iter()
            .filter(|r| q.is_empty() || r.name.to_lowercase().contains(q.trim()))
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    let load_error = match &*chats.read() {
        Some(Err(err)) => Some(err.message.clone()),
        _ => None,
    };
    let hit_rows: Vec<SearchHitDto> = match &*hits.read() {
        Some(Ok(hits)) => hits.clone(),
        _ => Vec::new(),
    };
    let searching = !q.trim().is_empty();
    let open = ctx.open_chat.read().clone();

    rsx! {
        aside { class: "column",
            header { class: "column-header",
                h2 { if archived { "Archive" } else { "Chats" } }
                button { class: "icon-button", id: "new-group", title: "New group", "aria-label": "New group",
                    onclick: move |_| { ctx.new_group.set(true); ctx.group_panel.set(false); },
                    Icon { glyph: Glyph::Compose, size: 18 }
                }
            }
            div { class: "search",
                input { id: "search", r#type: "search", placeholder: "Search chats and messages",
                    value: "{query}", oninput: move |e| query.set(e.value()),
                    onkeydown: move |e: KeyboardEvent| if e.key() == Key::Escape { query.set(String::new()); },
                }
            }
            SyncIndicator {}
            div { class: "chat-list", role: "list",
                if let Some(message) = load_error {
                    p { class: "error", "{message}" }
                }
                if rows.is_empty() && !searching {
                    div { class: "empty-list",
                        if archived { p { "No archived chats." } } else {
                            p { "No chats yet." }
                            p { class: "hint", "Start a group with the pencil above, or add a contact and message them." }
                        }
                    }
                }
                for row in rows {
                    ChatListItem { key: "{row.chat_id}", active: open.as_deref() == Some(row.chat_id.as_str()), row: row.clone(), now }
                }
                if searching {
                    h3 { class: "list-section", "Messages" }
                    if hit_rows.is_empty() {
                        p { class: "hint pad", "No messages match." }
                    }
                    for hit in hit_rows {
                        SearchHitItem { key: "{hit.message_id}", hit: hit.clone() }
                    }
                }
            }
            button { class: "archive-toggle", id: "archive-toggle",
                onclick: move |_| { let now = *ctx.show_archived.peek(); ctx.show_archived.set(!now); },
                if archived { "← Back to chats" } else { "Archived chats" }
            }
        }
    }
}

#[component]
fn ChatListItem(row: ChatRow, active: bool, now: u64) -> Element {
    let ctx = use_context::<Ctx>();
    let time = row.last_ts.map(|ts| format::list_time(ts, now)).unwrap_or_default();
    let class = if active { "chat-item active" } else { "chat-item" };
    let chat_id = row.chat_id.clone();
    let typing = ctx
        .typing
        .read()
        .get(&row.chat_id)
        .filter(|(_, until)| *until > now)
        .map(|(name, _)| name.clone());
    rsx! {
        button { class, role: "listitem", "data-chat": "{row.chat_id}",
            onclick: move |_| ctx.open(chat_id.clone()),
            Avatar { name: row.name.clone(), seed: row.chat_id.clone(), url: row.avatar.clone(), size: 44 }
            div { class: "chat-item-body",
                div { class: "chat-item-top",
                    span { class: "chat-name", dir: "auto", "{row.name}" }
                    if row.pinned { span { class: "flag", title: "Pinned", Icon { glyph: Glyph::Pin, size: 13 } } }
                    if row.muted { span { class: "flag", title: "Muted", Icon { glyph: Glyph::Muted, size: 13 } } }
                    span { class: "chat-time", "{time}" }
                }
                div { class: "chat-item-bottom",
                    if let Some(name) = typing {
                        span { class: "preview typing", "{name} is typing…" }
                    } else {
                        span { class: "preview", dir: "auto", {row.preview.clone().unwrap_or_else(|| "No messages yet".to_owned())} }
                    }
                    if row.unread > 0 {
                        span { class: if row.muted { "badge muted" } else { "badge" }, "{row.unread}" }
                    }
                }
            }
        }
    }
}

#[component]
fn SearchHitItem(hit: SearchHitDto) -> Element {
    let mut ctx = use_context::<Ctx>();
    // The snippet marks matches as [term]; show them highlighted, as text.
    let parts = highlight(&hit.snippet);
    let chat_id = hit.chat_id.clone();
    let message_id = hit.message_id.clone();
    rsx! {
        button { class: "search-hit",
            onclick: move |_| {
                ctx.focus_message.set(Some(message_id.clone()));
                ctx.open(chat_id.clone());
            },
            div { class: "hit-chat", "{hit.chat_name}" }
            div { class: "hit-snippet", dir: "auto",
                for (index, (text, marked)) in parts.into_iter().enumerate() {
                    if marked { mark { key: "{index}", "{text}" } } else { span { key: "{index}", "{text}" } }
                }
            }
        }
    }
}

/// Splits `a [b] c` into (`a `, false), (`b`, true), (` c`, false).
fn highlight(snippet: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut rest = snippet;
    while let Some(start) = rest.find('[') {
        let Some(len) = rest[start..].find(']') else { break };
        if start > 0 {
            out.push((rest[..start].to_owned(), false));
        }
        out.push((rest[start + 1..start + len].to_owned(), true));
        rest = &rest[start + len + 1..];
    }
    if !rest.is_empty() {
        out.push((rest.to_owned(), false));
    }
    out
}
