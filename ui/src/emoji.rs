//! The emoji picker and the quick reactions.

use dioxus::prelude::*;

/// Reactions offered on every message.
pub(crate) const QUICK_REACTIONS: [&str; 6] = ["👍", "❤️", "😂", "😮", "😢", "🙏"];

/// The picker's emojis, most used first.
const EMOJIS: [&str; 48] = [
    "😀", "😃", "😄", "😁", "😆", "😅", "🤣", "😂", "🙂", "😉", "😊", "😇", "🥰", "😍", "😘", "😋", "😜", "🤔", "🤗",
    "🤩", "😎", "🥳", "😏", "😒", "😞", "😢", "😭", "😤", "😡", "🤯", "😱", "😴", "👍", "👎", "👏", "🙌", "🙏", "💪",
    "👋", "🤝", "❤️", "🔥", "✨", "🎉", "✅", "❌", "👀", "💬",
];

/// A grid of emojis; `on_pick` gets the chosen one.
#[component]
pub(crate) fn EmojiPicker(on_pick: EventHandler<String>) -> Element {
    rsx! {
        div { class: "emoji-picker", role: "dialog", "aria-label": "Emoji",
            for emoji in EMOJIS {
                button { key: "{emoji}", class: "emoji", r#type: "button",
                    onclick: move |_| on_pick.call(emoji.to_owned()),
                    "{emoji}"
                }
            }
        }
    }
}
