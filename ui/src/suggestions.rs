//! Suggested replies as chips above the composer: the user's own earlier
//! replies to messages like the newest one they received, computed on the
//! device (direct chats only: in a busy group they would be noise).

use crate::ipc;
use dioxus::prelude::*;
use kith_api::SuggestReplies;

/// Chips for the newest message of someone else, `incoming`; a click puts
/// the text into the composer through `fill`.
#[component]
pub(crate) fn SuggestionChips(chat_id: String, incoming: Option<String>, fill: Signal<Option<String>>) -> Element {
    let mut suggestions = use_signal(Vec::<String>::new);
    let mut asked = use_signal(|| 0u64);
    let mut shown_for = use_signal(String::new);
    use_effect(use_reactive!(|chat_id, incoming| {
        // Another chat's chips never show here.
        if *shown_for.peek() != chat_id {
            shown_for.set(chat_id.clone());
            suggestions.set(Vec::new());
        }
        let Some(message_id) = incoming else {
            suggestions.set(Vec::new());
            return;
        };
        // The chips stay until the new ones are there (no flicker); an
        // answer to an earlier question that comes late is dropped.
        let seq = *asked.peek() + 1;
        asked.set(seq);
        spawn(async move {
            // Suggestions are a convenience: none is shown when they fail.
            let found = ipc::call(&SuggestReplies { chat_id, message_id })
                .await
                .unwrap_or_default();
            if *asked.peek() == seq {
                suggestions.set(found);
            }
        });
    }));
    let mut fill = fill;
    rsx! {
        if !suggestions().is_empty() {
            div { class: "suggestions", id: "suggestions", role: "group", "aria-label": "Suggested replies",
                for text in suggestions() {
                    button { class: "suggestion", title: "{text}", dir: "auto",
                        onclick: {
                            let text = text.clone();
                            move |_| fill.set(Some(text.clone()))
                        },
                        "{text}"
                    }
                }
            }
        }
    }
}
