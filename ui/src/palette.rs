//! Ctrl+K: jump to a chat by typing part of its name; arrows and Enter.

use crate::ipc;
use crate::state::Ctx;
use dioxus::prelude::*;
use kith_api::ListChats;

/// The quick switcher.
#[component]
pub(crate) fn Palette() -> Element {
    let mut ctx = use_context::<Ctx>();
    let mut query = use_signal(String::new);
    let mut selected = use_signal(|| 0usize);
    let chats = use_resource(move || async move {
        let mut all = ipc::call(&ListChats { archived: false }).await.unwrap_or_default();
        all.extend(ipc::call(&ListChats { archived: true }).await.unwrap_or_default());
        all
    });
    let q = query.read().to_lowercase();
    let matches: Vec<_> = chats
        .read()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.name.to_lowercase().contains(q.trim()))
        .take(12)
        .collect();
    let count = matches.len();
    let ids: Vec<String> = matches.iter().map(|c| c.chat_id.clone()).collect();
    let onkeydown = move |e: KeyboardEvent| match e.key() {
        Key::ArrowDown => {
            e.prevent_default();
            selected.set((selected() + 1).min(count.saturating_sub(1)));
        }
        Key::ArrowUp => {
            e.prevent_default();
            selected.set(selected().saturating_sub(1));
        }
        Key::Enter => {
            if let Some(id) = ids.get(selected()) {
                ctx.palette.set(false);
                ctx.open(id.clone());
            }
        }
        _ => {}
    };
    rsx! {
        div { class: "overlay", onclick: move |_| ctx.palette.set(false),
            div { class: "palette", onclick: move |e| e.stop_propagation(),
                input { id: "palette-input", r#type: "text", autofocus: true, placeholder: "Jump to a chat…",
                    value: "{query}", oninput: move |e| { query.set(e.value()); selected.set(0); }, onkeydown }
                ul {
                    for (index, chat) in matches.into_iter().enumerate() {
                        li { key: "{chat.chat_id}",
                            class: if index == selected() { "palette-item selected" } else { "palette-item" },
                            onclick: {
                                let id = chat.chat_id.clone();
                                move |_| { ctx.palette.set(false); ctx.open(id.clone()); }
                            },
                            "{chat.name}"
                        }
                    }
                    if count == 0 { li { class: "palette-empty", "No chat matches." } }
                }
            }
        }
    }
}
