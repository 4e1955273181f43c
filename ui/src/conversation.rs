//! An open conversation: header, the windowed message list, the composer.

use crate::avatar::Avatar;
use crate::composer::Composer;
use crate::format;
use crate::icons::{Glyph, Icon};
use crate::ipc;
use crate::message::{MessageBubble, Placement};
use crate::state::Ctx;
use crate::suggestions::SuggestionChips;
use dioxus::html::HasFileData;
use dioxus::prelude::*;
use kith_api::{ChatDetails, ChatKind, FocusChat, GetChatDetails, GetMessages, MarkRead, MessageDto};

/// Messages fetched per page.
const PAGE: u32 = 50;
/// Most messages kept in the DOM: older pages load on scroll, and beyond this
/// the newest are let go (and reloaded by "Jump to latest"), so a chat with
/// 100k messages stays as light as one with 300.
const WINDOW: usize = 300;
/// Consecutive messages of one author within this gap are grouped.
const GROUP_GAP_MS: u64 = 5 * 60 * 1000;

fn window_has_focus() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.has_focus().ok())
        .unwrap_or(false)
}

fn list_element() -> Option<web_sys::Element> {
    web_sys::window()?.document()?.get_element_by_id("message-list")
}

pub(crate) fn scroll_to_bottom() {
    if let Some(list) = list_element() {
        list.set_scroll_top(list.scroll_height());
    }
}

fn near_bottom() -> bool {
    list_element().is_none_or(|list| list.scroll_height() - list.scroll_top() - list.client_height() < 120)
}

fn scroll_into_view(id: &str) {
    if let Some(element) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(&format!("m-{id}")))
    {
        let options = web_sys::ScrollIntoViewOptions::new();
        options.set_block(web_sys::ScrollLogicalPosition::Center);
        element.scroll_into_view_with_scroll_into_view_options(&options);
    }
}

/// The conversation with `chat_id`.
#[component]
pub(crate) fn Conversation(chat_id: String) -> Element {
    let mut ctx = use_context::<Ctx>();
    let mut messages = use_signal(Vec::<MessageDto>::new);
    let mut has_more = use_signal(|| false);
    let mut at_live_end = use_signal(|| true);
    let mut loading_older = use_signal(|| false);
    let reply_to = use_signal(|| None::<MessageDto>);
    let editing = use_signal(|| None::<MessageDto>);
    let mut highlighted = use_signal(|| None::<String>);
    let mut error = use_signal(|| None::<String>);
    let mut clock = use_signal(ipc::now_ms);
    let mut unread_shown = use_signal(|| false);
    // Files dropped on the conversation, for the composer; and whether a
    // drag with files is over it.
    let mut dropped = use_signal(Vec::<web_sys::File>::new);
    let fill = use_signal(|| None::<String>);
    let mut drag_over = use_signal(|| false);

    let chat = chat_id.clone();
    let details = use_resource(move || {
        let chat_id = chat.clone();
        async move {
            let _ = ctx.chats_version.read();
            ipc::call(&GetChatDetails { chat_id }).await
        }
    });

    // Tell the shell which chat is on screen, and forget it when closed.
    let chat = chat_id.clone();
    use_hook(move || {
        spawn(async move {
            let _ = ipc::call(&FocusChat { chat_id: Some(chat) }).await;
        });
    });
    // The component is going away: its own tasks would be cancelled with it.
    use_drop(|| {
        dioxus::core::spawn_forever(async move {
            let _ = ipc::call(&FocusChat { chat_id: None }).await;
        });
    });

    // A clock for typing indicators and "last seen", which also marks the
    // chat read while it is on screen and the window has the focus.
    let chat = chat_id.clone();
    use_future(move || {
        let chat_id = chat.clone();
        async move {
            loop {
                if *unread_shown.peek() && window_has_focus() {
                    unread_shown.set(false);
                    if let Err(err) = ipc::call(&MarkRead {
                        chat_id: chat_id.clone(),
                    })
                    .await
                    {
                        ctx.say(err.message);
                    }
                }
                ipc::sleep_ms(500).await;
                clock.set(ipc::now_ms());
            }
        }
    });

    // The newest page, again whenever the chat's messages change.
    let chat = chat_id.clone();
    use_effect(move || {
        let version = ctx.messages_version.read().get(&chat).copied().unwrap_or(0);
        let chat_id = chat.clone();
        spawn(async move {
            if !*at_live_end.peek() && version > 0 {
                return;
            }
            let stick = near_bottom();
            let limit = (messages.peek().len() as u32).clamp(PAGE, WINDOW as u32);
            match ipc::call(&GetMessages {
                chat_id,
                before: None,
                limit,
            })
            .await
            {
                Ok(page) => {
                    let first_load = messages.peek().is_empty();
                    has_more.set(page.has_more);
                    messages.set(page.messages);
                    at_live_end.set(true);
                    error.set(None);
                    if stick || first_load {
                        ipc::sleep_ms(0).await;
                        scroll_to_bottom();
                    }
                    // Read only when someone looks: the clock below marks it
                    // read once the window has the focus.
                    unread_shown.set(true);
                }
                Err(err) => error.set(Some(err.message)),
            }
        });
    });

    // Older pages, keeping the view where it was.
    let chat = chat_id.clone();
    let load_older = move || {
        let chat_id = chat.clone();
        async move {
            if *loading_older.peek() || !*has_more.peek() {
                return false;
            }
            let Some(first) = messages.peek().first().map(|m| m.id.clone()) else {
                return false;
            };
            loading_older.set(true);
            let before_height = list_element().map(|l| l.scroll_height()).unwrap_or(0);
            let result = ipc::call(&GetMessages {
                chat_id,
                before: Some(first),
                limit: PAGE,
            })
            .await;
            match result {
                Ok(page) => {
                    has_more.set(page.has_more);
                    let mut list = page.messages;
                    list.extend(messages.peek().iter().cloned());
                    if list.len() > WINDOW {
                        list.truncate(WINDOW);
                        at_live_end.set(false);
                    }
                    messages.set(list);
                    ipc::sleep_ms(0).await;
                    if let Some(element) = list_element() {
                        let grown = element.scroll_height() - before_height;
                        element.set_scroll_top(element.scroll_top() + grown);
                    }
                }
                Err(err) => ctx.say(err.message),
            }
            loading_older.set(false);
            true
        }
    };

    // A message picked in search: page back until it is loaded, then show it.
    let older_for_focus = load_older.clone();
    use_effect(move || {
        let Some(target) = ctx.focus_message.read().clone() else {
            return;
        };
        let load_older = older_for_focus.clone();
        spawn(async move {
            for _ in 0..40 {
                if messages.peek().iter().any(|m| m.id == target) {
                    ipc::sleep_ms(0).await;
                    scroll_into_view(&target);
                    highlighted.set(Some(target.clone()));
                    break;
                }
                if messages.peek().is_empty() {
                    ipc::sleep_ms(100).await;
                    continue;
                }
                if !load_older().await {
                    break;
                }
            }
            ctx.focus_message.set(None);
        });
    });

    let onscroll = {
        let load_older = load_older.clone();
        move |_| {
            let load_older = load_older.clone();
            if list_element().is_some_and(|l| l.scroll_top() < 80) {
                spawn(async move {
                    load_older().await;
                });
            }
        }
    };

    let details_value: Option<ChatDetails> = match &*details.read() {
        Some(Ok(d)) => Some(d.clone()),
        _ => None,
    };
    let group = details_value.as_ref().is_some_and(|d| d.kind == ChatKind::Group);
    let now = clock();
    let list = messages.read().clone();
    let last_mine = list.iter().rev().find(|m| m.mine && !m.deleted).cloned();
    // The newest message overall, when someone else wrote it: what a reply answers.
    let last_incoming = list
        .last()
        .filter(|m| !m.mine && !m.deleted && m.text.as_deref().is_some_and(|t| !t.is_empty()))
        .map(|m| m.id.clone());
    let focus = highlighted.read().clone();
    // Pictures of the members, shown beside their messages in a group.
    let member_avatars: std::collections::BTreeMap<String, Option<String>> = details_value
        .as_ref()
        .map(|d| {
            d.members
                .iter()
                .map(|m| (m.account_id.clone(), m.avatar.clone()))
                .collect()
        })
        .unwrap_or_default();

    let can_write = details_value.as_ref().is_some_and(|d| d.my_role.is_some());
    rsx! {
        section { class: "conversation",
            ondragover: move |event: DragEvent| {
                if can_write && carries_files(&event) {
                    // Accepting the drag is what makes a drop possible.
                    event.prevent_default();
                    drag_over.set(true);
                }
            },
            ondragleave: move |_| drag_over.set(false),
            ondrop: move |event: DragEvent| {
                drag_over.set(false);
                if !can_write || !carries_files(&event) {
                    // Text or a link: dropped as usual (into the box).
                    return;
                }
                event.prevent_default();
                let files: Vec<web_sys::File> = event
                    .files()
                    .into_iter()
                    .filter_map(|file| file.inner().downcast_ref::<web_sys::File>().cloned())
                    .collect();
                if !files.is_empty() {
                    dropped.write().extend(files);
                }
            },
            if drag_over() {
                div { class: "drop-hint", div { Icon { glyph: Glyph::Paperclip, size: 28 } p { "Drop files to attach them" } } }
            }
            Header { chat_id: chat_id.clone(), details: details_value.clone(), now }
            div { class: "message-list", id: "message-list", onscroll,
                if *has_more.read() {
                    div { class: "loading-older", if loading_older() { "Loading…" } else { "Scroll up for older messages" } }
                }
                if list.is_empty() && error.read().is_none() {
                    div { class: "empty-chat",
                        p { "No messages yet." }
                        p { class: "hint", "Say hello 👋" }
                    }
                }
                if let Some(message) = error() {
                    p { class: "error", "{message}" }
                }
                for (index, message) in list.iter().enumerate() {
                    {
                        let previous = index.checked_sub(1).and_then(|i| list.get(i));
                        let new_day = previous.is_none_or(|p| format::day_key(p.ts) != format::day_key(message.ts));
                        let continued = !new_day
                            && previous.is_some_and(|p| p.author == message.author && message.ts.saturating_sub(p.ts) < GROUP_GAP_MS);
                        let placement = Placement { continued, group };
                        let label = format::day_label(message.ts, now);
                        let mut reply_to = reply_to;
                        let mut editing = editing;
                        rsx! {
                            div { key: "{message.id}", class: "message-row",
                            if new_day {
                                div { class: "day-separator", span { "{label}" } }
                            }
                            MessageBubble {
                                chat_id: chat_id.clone(),
                                message: message.clone(),
                                placement,
                                author_avatar: member_avatars.get(&message.author).cloned().flatten(),
                                highlighted: focus.as_deref() == Some(message.id.as_str()),
                                on_reply: move |m: MessageDto| { editing.set(None); reply_to.set(Some(m)); },
                                on_edit: move |m: MessageDto| { reply_to.set(None); editing.set(Some(m)); },
                            }
                            }
                        }
                    }
                }
            }
            if !at_live_end() {
                button { class: "jump-latest",
                    onclick: move |_| { at_live_end.set(true); messages.set(Vec::new()); *ctx.messages_version.write().entry(chat_id.clone()).or_default() += 1; },
                    "Jump to latest ↓"
                }
            }
            if let Some(details) = details_value {
                if details.my_role.is_some() {
                    if details.kind == ChatKind::Direct {
                        SuggestionChips { chat_id: details.chat_id.clone(), incoming: last_incoming.clone(), fill }
                    }
                    Composer { chat_id: details.chat_id.clone(), draft: details.draft.clone(), reply_to, editing, last_mine, dropped, fill }
                } else {
                    div { class: "composer-closed", "You are no longer a member of this chat." }
                }
            }
        }
    }
}

#[component]
fn Header(chat_id: String, details: Option<ChatDetails>, now: u64) -> Element {
    let mut ctx = use_context::<Ctx>();
    let Some(details) = details else {
        return rsx! { header { class: "conversation-header" } };
    };
    let typing = ctx
        .typing
        .read()
        .get(&chat_id)
        .filter(|(_, until)| *until > now)
        .map(|(name, _)| name.clone());
    let subtitle = match (&typing, details.kind) {
        (Some(name), _) => format!("{name} is typing…"),
        (None, ChatKind::Direct) => {
            let other = details.members.iter().find(|m| !m.is_me);
            match other.and_then(|m| ctx.presence.read().get(&m.account_id).copied()) {
                Some(seen) => format::last_seen(seen, now),
                None => "end-to-end encrypted".to_owned(),
            }
        }
        (None, ChatKind::Group) => {
            let names: Vec<String> = details
                .members
                .iter()
                .map(|m| if m.is_me { "You".to_owned() } else { m.name.clone() })
                .collect();
            let count = details.members.len();
            let noun = if count == 1 { "member" } else { "members" };
            format!("{count} {noun}: {}", names.join(", "))
        }
    };
    let avatar_seed = chat_id.clone();
    rsx! {
        header { class: "conversation-header",
            Avatar { name: details.name.clone(), seed: avatar_seed, url: details.avatar.clone(), size: 40 }
            div { class: "header-text",
                h2 { id: "chat-title", dir: "auto", "{details.name}" }
                div { class: if typing.is_some() { "subtitle typing" } else { "subtitle" }, id: "chat-subtitle", "{subtitle}" }
            }
            div { class: "header-actions",
                button { class: "icon-button", id: "chat-info", title: "Chat settings", "aria-label": "Chat settings",
                    onclick: move |_| { let now = *ctx.group_panel.peek(); ctx.group_panel.set(!now); },
                    Icon { glyph: Glyph::Info, size: 20 }
                }
            }
        }
    }
}

/// Whether a drag carries files (not text or a link): its types list says.
fn carries_files(event: &DragEvent) -> bool {
    event
        .downcast::<web_sys::DragEvent>()
        .and_then(|e| e.data_transfer())
        .is_some_and(|transfer| {
            transfer
                .types()
                .iter()
                .any(|t| t.as_string().as_deref() == Some("Files"))
        })
}
