//! An open conversation: header, the windowed message list, the composer.

use crate::avatar::Avatar;
use crate::emoji::EmojiPicker;
use crate::format;
use crate::icons::{Glyph, Icon};
use crate::ipc;
use crate::message::{MessageBubble, Placement};
use crate::state::Ctx;
use dioxus::prelude::*;
use kith_api::{
    ChatDetails, ChatKind, EditMessage, FocusChat, GetChatDetails, GetMessages, MarkRead, MessageDto, SaveDraft,
    SendMessage, SendTyping,
};

/// Messages fetched per page.
const PAGE: u32 = 50;
/// Most messages kept in the DOM: older pages load on scroll, and beyond this
/// the newest are let go (and reloaded by "Jump to latest"), so a chat with
/// 100k messages stays as light as one with 300.
const WINDOW: usize = 300;
/// Consecutive messages of one author within this gap are grouped.
const GROUP_GAP_MS: u64 = 5 * 60 * 1000;
/// A draft is saved this long after the last keystroke.
const DRAFT_PAUSE_MS: i32 = 700;
/// Typing notices are sent at most this often.
const TYPING_EVERY_MS: u64 = 3000;

fn window_has_focus() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.has_focus().ok())
        .unwrap_or(false)
}

fn list_element() -> Option<web_sys::Element> {
    web_sys::window()?.document()?.get_element_by_id("message-list")
}

fn scroll_to_bottom() {
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
    let focus = highlighted.read().clone();

    rsx! {
        section { class: "conversation",
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
                    Composer { chat_id: details.chat_id.clone(), draft: details.draft.clone(), reply_to, editing, last_mine }
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
            Avatar { name: details.name.clone(), seed: avatar_seed, url: None::<String>, size: 40 }
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

/// The composer: multi-line, Enter sends, Shift+Enter breaks the line, Up
/// edits your last message, Esc cancels a reply or an edit.
#[component]
fn Composer(
    chat_id: String,
    draft: String,
    reply_to: Signal<Option<MessageDto>>,
    editing: Signal<Option<MessageDto>>,
    last_mine: Option<MessageDto>,
) -> Element {
    let ctx = use_context::<Ctx>();
    let mut text = use_signal(|| draft.clone());
    let mut picker = use_signal(|| false);
    let mut last_typing = use_signal(|| 0u64);
    let mut dirty = use_signal(|| false);
    let mut draft_seq = use_signal(|| 0u64);
    let mut reply_to = reply_to;
    let mut editing = editing;

    // A draft saved meanwhile (this device, or another one) fills an untouched box.
    use_effect(use_reactive!(|draft| {
        if !*dirty.peek() && editing.peek().is_none() && *text.peek() != draft {
            text.set(draft);
        }
    }));

    // Editing puts the message's text in the box.
    use_effect(move || {
        if let Some(message) = editing.read().as_ref() {
            text.set(message.text.clone().unwrap_or_default());
            focus_composer();
        }
    });
    use_effect(move || {
        if reply_to.read().is_some() {
            focus_composer();
        }
    });

    // The draft is kept when leaving the chat (and restored on return).
    let chat = chat_id.clone();
    use_drop(move || {
        if *dirty.peek() {
            let args = SaveDraft {
                chat_id: chat.clone(),
                text: text.peek().clone(),
            };
            dioxus::core::spawn_forever(async move {
                let _ = ipc::call(&args).await;
            });
        }
    });

    let chat = chat_id.clone();
    let mut submit = move || {
        let body = text.peek().clone();
        if body.trim().is_empty() {
            return;
        }
        let chat_id = chat.clone();
        let edit = editing.peek().clone();
        let reply = reply_to.peek().as_ref().map(|m| m.id.clone());
        text.set(String::new());
        dirty.set(false);
        reply_to.set(None);
        editing.set(None);
        spawn(async move {
            let result = match edit {
                Some(message) => ipc::call(&EditMessage {
                    chat_id,
                    message_id: message.id,
                    text: body.clone(),
                })
                .await
                .map(|_| ()),
                None => ipc::call(&SendMessage {
                    chat_id,
                    text: body.clone(),
                    reply_to: reply,
                })
                .await
                .map(|_| {
                    spawn(async move {
                        ipc::sleep_ms(50).await;
                        scroll_to_bottom();
                    });
                }),
            };
            if let Err(err) = result {
                let mut text = text;
                text.set(body);
                ctx.say(err.message);
            }
        });
    };

    let chat = chat_id.clone();
    let draft_chat = chat_id.clone();
    let oninput = move |event: FormEvent| {
        text.set(event.value());
        dirty.set(true);
        // The draft is saved once typing pauses (and on leaving the chat).
        let seq = *draft_seq.peek() + 1;
        draft_seq.set(seq);
        let chat_id = draft_chat.clone();
        spawn(async move {
            ipc::sleep_ms(DRAFT_PAUSE_MS).await;
            if *draft_seq.peek() == seq && *dirty.peek() {
                let args = SaveDraft {
                    chat_id,
                    text: text.peek().clone(),
                };
                if ipc::call(&args).await.is_ok() {
                    dirty.set(false);
                }
            }
        });
        let now = ipc::now_ms();
        if now.saturating_sub(*last_typing.peek()) > TYPING_EVERY_MS && !event.value().is_empty() {
            last_typing.set(now);
            let args = SendTyping { chat_id: chat.clone() };
            spawn(async move {
                let _ = ipc::call(&args).await;
            });
        }
    };

    let mut submit_key = submit.clone();
    let onkeydown = move |event: KeyboardEvent| {
        let key = event.key();
        if key == Key::Enter && !event.modifiers().shift() {
            event.prevent_default();
            submit_key();
        } else if key == Key::ArrowUp && text.peek().is_empty() {
            if let Some(message) = last_mine.clone() {
                event.prevent_default();
                reply_to.set(None);
                editing.set(Some(message));
            }
        } else if key == Key::Escape && (reply_to.peek().is_some() || editing.peek().is_some()) {
            event.stop_propagation();
            if editing.peek().is_some() {
                text.set(String::new());
            }
            reply_to.set(None);
            editing.set(None);
        }
    };

    let rows = text.read().lines().count().clamp(1, 8) + usize::from(text.read().ends_with('\n'));
    let rows = rows.min(8);
    let context_bar = match (reply_to.read().clone(), editing.read().clone()) {
        (_, Some(message)) => Some(("Editing".to_owned(), message.text.unwrap_or_default())),
        (Some(message), None) => Some((
            format!("Replying to {}", message.author_name),
            message.text.unwrap_or_default(),
        )),
        (None, None) => None,
    };

    rsx! {
        div { class: "composer-wrap",
            if let Some((title, quoted)) = context_bar {
                div { class: "composer-context", id: "composer-context",
                    div { class: "context-text",
                        div { class: "context-title", "{title}" }
                        div { class: "context-quote", dir: "auto", "{quoted}" }
                    }
                    button { class: "icon-button", title: "Cancel", "aria-label": "Cancel",
                        onclick: move |_| { if editing.peek().is_some() { text.set(String::new()); } reply_to.set(None); editing.set(None); },
                        Icon { glyph: Glyph::Close, size: 16 }
                    }
                }
            }
            if picker() {
                EmojiPicker { on_pick: move |emoji: String| { text.write().push_str(&emoji); dirty.set(true); picker.set(false); focus_composer(); } }
            }
            div { class: "composer",
                button { class: "icon-button", id: "emoji-button", title: "Emoji", "aria-label": "Emoji",
                    onclick: move |_| { let now = picker(); picker.set(!now); },
                    Icon { glyph: Glyph::Smile, size: 20 }
                }
                textarea {
                    id: "composer",
                    rows: "{rows}",
                    placeholder: "Write a message",
                    dir: "auto",
                    value: "{text}",
                    oninput,
                    onkeydown,
                }
                button { class: "send", id: "send-button", title: "Send (Enter)", "aria-label": "Send",
                    disabled: text.read().trim().is_empty(),
                    onclick: move |_| submit(),
                    if editing.read().is_some() { Icon { glyph: Glyph::Check, size: 18 } } else { Icon { glyph: Glyph::Send, size: 18 } }
                }
            }
        }
    }
}

fn focus_composer() {
    use wasm_bindgen::JsCast;
    if let Some(element) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("composer"))
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = element.focus();
    }
}
