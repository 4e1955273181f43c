//! One message bubble: quote, text, markers, reactions, ticks, actions.

use crate::attachments::Attachments;
use crate::avatar::Avatar;
use crate::emoji::QUICK_REACTIONS;
use crate::format;
use crate::icons::{Glyph, Icon};
use crate::ipc;
use crate::state::Ctx;
use dioxus::prelude::*;
use kith_api::{DeleteMessage, MessageDto, React, Tick};

/// How a bubble sits among its neighbours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Placement {
    /// Same author as the message before, close in time: no name, tight spacing.
    pub(crate) continued: bool,
    /// A group chat (names shown on others' first bubbles).
    pub(crate) group: bool,
}

/// One message.
#[component]
pub(crate) fn MessageBubble(
    chat_id: String,
    message: MessageDto,
    placement: Placement,
    author_avatar: Option<String>,
    highlighted: bool,
    on_reply: EventHandler<MessageDto>,
    on_edit: EventHandler<MessageDto>,
) -> Element {
    let ctx = use_context::<Ctx>();
    let mut picking = use_signal(|| false);
    let side = if message.mine { "mine" } else { "theirs" };
    let mut class = format!("message {side}");
    if placement.continued {
        class.push_str(" continued");
    }
    if highlighted {
        class.push_str(" highlighted");
    }
    if placement.group && !message.mine {
        class.push_str(" in-group");
    }
    if message.deleted {
        class.push_str(" deleted");
    }
    if !message.deleted && !message.attachments.is_empty() {
        class.push_str(" with-attachments");
    }
    let time = format::clock(message.ts);
    let show_name = placement.group && !message.mine && !placement.continued;
    let hue = format::hue(&message.author);

    let react = {
        let chat_id = chat_id.clone();
        let message = message.clone();
        move |emoji: String| {
            let remove = message.my_reactions.contains(&emoji);
            let args = React {
                chat_id: chat_id.clone(),
                message_id: message.id.clone(),
                emoji,
                remove,
            };
            spawn(async move {
                if let Err(err) = ipc::call(&args).await {
                    ctx.say(err.message);
                }
            });
        }
    };
    let delete = {
        let args = DeleteMessage {
            chat_id: chat_id.clone(),
            message_id: message.id.clone(),
        };
        move |_| {
            let args = args.clone();
            spawn(async move {
                if let Err(err) = ipc::call(&args).await {
                    ctx.say(err.message);
                }
            });
        }
    };

    rsx! {
        div { class: "{class}", id: "m-{message.id}", "data-id": "{message.id}",
            if show_name {
                div { class: "author-avatar",
                    Avatar { name: message.author_name.clone(), seed: message.author.clone(), url: author_avatar.clone(), size: 28 }
                }
            }
            div { class: "bubble",
                if show_name {
                    div { class: "author", style: "color:hsl({hue} 55% 42%)", dir: "auto", "{message.author_name}" }
                }
                if let Some(quote) = &message.reply_to {
                    div { class: "quote",
                        div { class: "quote-author", "{quote.author_name}" }
                        div { class: "quote-text", dir: "auto",
                            {quote.text.clone().unwrap_or_else(|| "Message not available".to_owned())}
                        }
                    }
                }
                if message.deleted {
                    div { class: "text deleted-text", "This message was deleted" }
                } else {
                    if !message.attachments.is_empty() {
                        Attachments { chat_id: chat_id.clone(), message_id: message.id.clone(), attachments: message.attachments.clone() }
                    }
                    if message.text.as_deref().is_some_and(|t| !t.is_empty()) {
                        div { class: "text", dir: "auto", {message.text.clone().unwrap_or_default()} }
                    }
                }
                div { class: "meta",
                    if message.edited && !message.deleted { span { class: "edited", "edited" } }
                    span { class: "time", "{time}" }
                    if let Some(tick) = message.tick {
                        Ticks { tick }
                    }
                }
            }
            if !message.reactions.is_empty() {
                div { class: "reactions",
                    for (emoji, who) in message.reactions.clone() {
                        button {
                            key: "{emoji}",
                            class: if message.my_reactions.contains(&emoji) { "reaction mine" } else { "reaction" },
                            title: "{who.join(\", \")}",
                            onclick: {
                                let react = react.clone();
                                let emoji = emoji.clone();
                                move |_| react(emoji.clone())
                            },
                            span { "{emoji}" }
                            span { class: "count", "{who.len()}" }
                        }
                    }
                }
            }
            if !message.deleted {
                div { class: "actions",
                    button { class: "action", title: "React", "aria-label": "React",
                        onclick: move |_| { let now = picking(); picking.set(!now); }, Icon { glyph: Glyph::Smile, size: 16 } }
                    button { class: "action reply-action", title: "Reply", "aria-label": "Reply",
                        onclick: {
                            let message = message.clone();
                            move |_| on_reply.call(message.clone())
                        },
                        Icon { glyph: Glyph::Reply, size: 16 }
                    }
                    if message.mine {
                        button { class: "action", title: "Edit", "aria-label": "Edit",
                            onclick: {
                                let message = message.clone();
                                move |_| on_edit.call(message.clone())
                            },
                            Icon { glyph: Glyph::Pencil, size: 15 }
                        }
                        button { class: "action", title: "Delete for everyone", "aria-label": "Delete", onclick: delete, Icon { glyph: Glyph::Trash, size: 15 } }
                    }
                }
            }
            if picking() {
                div { class: "quick-reactions",
                    for emoji in QUICK_REACTIONS {
                        button { key: "{emoji}", class: "emoji",
                            onclick: {
                                let react = react.clone();
                                move |_| { react(emoji.to_owned()); picking.set(false); }
                            },
                            "{emoji}"
                        }
                    }
                }
            }
        }
    }
}

/// Ticks: ◷ stored here, ✓ on the server, ✓✓ delivered, blue ✓✓ read.
#[component]
fn Ticks(tick: Tick) -> Element {
    let (glyph, class, label) = match tick {
        Tick::Sent => ("◷", "tick sent", "Sent (on this device)"),
        Tick::Uploaded => ("✓", "tick uploaded", "On the server"),
        Tick::Delivered => ("✓✓", "tick delivered", "Delivered"),
        Tick::Read => ("✓✓", "tick read", "Read"),
    };
    rsx! { span { class, title: label, "data-tick": "{label}", "{glyph}" } }
}
