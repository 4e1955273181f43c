//! The composer: multi-line, Enter sends, Shift+Enter breaks the line, Up
//! edits your last message, Esc cancels a reply or an edit. Files come in
//! by the attach button, by pasting, or dropped on the conversation; each is
//! prepared by the shell at once (pictures cleaned and scaled) and shown as
//! a preview above the box until the message goes.

use crate::emoji::EmojiPicker;
use crate::format;
use crate::icons::{Glyph, Icon};
use crate::ipc;
use crate::recorder::VoiceRecorder;
use crate::state::Ctx;
use dioxus::prelude::*;
use kith_api::{
    AttachmentKindDto, DraftAttachment, EditMessage, MessageDto, SaveDraft, SendMessage, SendTyping, StageAttachment,
    UnstageAttachment,
};

/// A draft is saved this long after the last keystroke.
const DRAFT_PAUSE_MS: i32 = 700;
/// Typing notices are sent at most this often.
const TYPING_EVERY_MS: u64 = 3000;
/// The shell's limit, checked here before a huge file is read.
const MAX_ATTACHMENT_BYTES: f64 = 48.0 * 1024.0 * 1024.0;
/// Most attachments in one message.
const MAX_ATTACHMENTS: usize = 10;

/// An attachment in the composer.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Staged {
    /// Being read and prepared.
    Preparing {
        /// Local id.
        id: u64,
        /// File name.
        name: String,
    },
    /// Ready to send.
    Ready {
        /// Local id.
        id: u64,
        /// What the shell prepared.
        draft: DraftAttachment,
    },
}

impl Staged {
    fn id(&self) -> u64 {
        match self {
            Staged::Preparing { id, .. } | Staged::Ready { id, .. } => *id,
        }
    }
}

/// What a voice recording hands the composer.
#[derive(Clone, Debug)]
pub(crate) struct Recording {
    /// The bytes.
    pub(crate) bytes: js_sys::Uint8Array,
    /// Length.
    pub(crate) duration_ms: u32,
    /// Loudness over time.
    pub(crate) waveform: Vec<u8>,
}

/// Prepares `file` with the shell and puts it in `staged`.
fn stage_file(ctx: Ctx, mut staged: Signal<Vec<Staged>>, mut next_id: Signal<u64>, file: web_sys::File) {
    let name = file.name();
    if file.size() > MAX_ATTACHMENT_BYTES {
        ctx.say(format!(
            "{name} is {}; attachments are limited to 48 MB.",
            format::size(file.size() as u64)
        ));
        return;
    }
    if staged.peek().len() >= MAX_ATTACHMENTS {
        ctx.say(format!("A message carries at most {MAX_ATTACHMENTS} attachments."));
        return;
    }
    let id = *next_id.peek() + 1;
    next_id.set(id);
    staged.write().push(Staged::Preparing { id, name: name.clone() });
    spawn(async move {
        let result = async {
            let bytes = ipc::file_bytes(&file).await?;
            let args = StageAttachment {
                name: if name.is_empty() {
                    "pasted".to_owned()
                } else {
                    name.clone()
                },
                as_file: false,
                voice_duration_ms: None,
                voice_waveform: Vec::new(),
            };
            ipc::call_with_bytes(&args, &bytes).await
        }
        .await;
        settle(ctx, staged, id, result);
    });
}

/// Puts a prepared attachment in place of its placeholder (or drops the
/// placeholder and says why).
fn settle(ctx: Ctx, mut staged: Signal<Vec<Staged>>, id: u64, result: Result<DraftAttachment, kith_api::ApiError>) {
    match result {
        Ok(draft) => {
            let mut list = staged.write();
            match list.iter_mut().find(|s| s.id() == id) {
                Some(slot) => *slot = Staged::Ready { id, draft },
                // Removed while it was being prepared.
                None => unstage(draft.token),
            }
        }
        Err(err) => {
            staged.write().retain(|s| s.id() != id);
            ctx.say(err.message);
        }
    }
}

fn unstage(token: String) {
    dioxus::core::spawn_forever(async move {
        let _ = ipc::call(&UnstageAttachment { token }).await;
    });
}

/// The files of a paste, if it carries any.
fn pasted_files(event: &ClipboardEvent) -> Vec<web_sys::File> {
    use wasm_bindgen::JsCast;
    let Some(event) = event.data().downcast::<web_sys::Event>().cloned() else {
        return Vec::new();
    };
    let Ok(event) = event.dyn_into::<web_sys::ClipboardEvent>() else {
        return Vec::new();
    };
    event
        .clipboard_data()
        .and_then(|data| data.files())
        .map(|list| (0..list.length()).filter_map(|i| list.get(i)).collect())
        .unwrap_or_default()
}

/// The files picked in the attach button's file input.
fn picked_files(event: &FormEvent) -> Vec<web_sys::File> {
    event
        .files()
        .into_iter()
        .filter_map(|file| file.inner().downcast_ref::<web_sys::File>().cloned())
        .collect()
}

/// The composer of `chat_id`. Files dropped on the conversation arrive
/// through `dropped`.
#[component]
pub(crate) fn Composer(
    chat_id: String,
    draft: String,
    reply_to: Signal<Option<MessageDto>>,
    editing: Signal<Option<MessageDto>>,
    last_mine: Option<MessageDto>,
    dropped: Signal<Vec<web_sys::File>>,
    fill: Signal<Option<String>>,
) -> Element {
    let ctx = use_context::<Ctx>();
    let mut text = use_signal(|| draft.clone());
    let mut picker = use_signal(|| false);
    let mut last_typing = use_signal(|| 0u64);
    let mut dirty = use_signal(|| false);
    let mut draft_seq = use_signal(|| 0u64);
    let mut staged = use_signal(Vec::<Staged>::new);
    let next_id = use_signal(|| 0u64);
    let mut recording = use_signal(|| false);
    let mut reply_to = reply_to;
    let mut editing = editing;
    let mut dropped = dropped;
    let mut fill = fill;
    // A suggested reply picked above the composer replaces what is typed.
    use_effect(move || {
        if let Some(picked) = fill() {
            fill.set(None);
            text.set(picked);
            dirty.set(true);
            focus_composer();
        }
    });

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
    // Files dropped on the conversation.
    use_effect(move || {
        if dropped.read().is_empty() {
            return;
        }
        let files = std::mem::take(&mut *dropped.write());
        for file in files {
            stage_file(ctx, staged, next_id, file);
        }
        focus_composer();
    });

    // The draft is kept when leaving the chat (and restored on return);
    // attachments not sent are let go.
    let chat = chat_id.clone();
    use_drop(move || {
        for item in staged.peek().iter() {
            if let Staged::Ready { draft, .. } = item {
                unstage(draft.token.clone());
            }
        }
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

    let preparing = staged.read().iter().any(|s| matches!(s, Staged::Preparing { .. }));
    let ready: Vec<String> = staged
        .read()
        .iter()
        .filter_map(|s| match s {
            Staged::Ready { draft, .. } => Some(draft.token.clone()),
            Staged::Preparing { .. } => None,
        })
        .collect();

    let chat = chat_id.clone();
    let mut submit = move || {
        let body = text.peek().clone();
        let edit = editing.peek().clone();
        let attachments: Vec<String> = if edit.is_some() {
            Vec::new()
        } else {
            staged
                .peek()
                .iter()
                .filter_map(|s| match s {
                    Staged::Ready { draft, .. } => Some(draft.token.clone()),
                    Staged::Preparing { .. } => None,
                })
                .collect()
        };
        let waiting = staged.peek().iter().any(|s| matches!(s, Staged::Preparing { .. }));
        if (body.trim().is_empty() && attachments.is_empty()) || (waiting && edit.is_none()) {
            return;
        }
        let chat_id = chat.clone();
        let reply = reply_to.peek().as_ref().map(|m| m.id.clone());
        let kept = if edit.is_none() {
            std::mem::take(&mut *staged.write())
        } else {
            Vec::new()
        };
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
                    attachments,
                })
                .await
                .map(|_| {
                    spawn(async move {
                        ipc::sleep_ms(50).await;
                        crate::conversation::scroll_to_bottom();
                    });
                }),
            };
            if let Err(err) = result {
                let mut text = text;
                text.set(body);
                staged.set(kept);
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
        } else if key == Key::ArrowUp && text.peek().is_empty() && staged.peek().is_empty() {
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

    let onpaste = move |event: ClipboardEvent| {
        let files = pasted_files(&event);
        if !files.is_empty() {
            // Pasted files are attached; their names do not go into the text.
            event.prevent_default();
            for file in files {
                stage_file(ctx, staged, next_id, file);
            }
        }
    };

    let mut on_recorded = move |recording: Recording| {
        let id = *next_id.peek() + 1;
        let mut next_id = next_id;
        next_id.set(id);
        staged.write().push(Staged::Preparing {
            id,
            name: "Voice note".to_owned(),
        });
        spawn(async move {
            let args = StageAttachment {
                // The shell names it by its container.
                name: "voice".to_owned(),
                as_file: false,
                voice_duration_ms: Some(recording.duration_ms),
                voice_waveform: recording.waveform,
            };
            let result = ipc::call_with_bytes(&args, &recording.bytes).await;
            settle(ctx, staged, id, result);
        });
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
    let is_editing = editing.read().is_some();
    let can_send = !preparing && (!text.read().trim().is_empty() || (!ready.is_empty() && !is_editing));
    let show_mic =
        !is_editing && text.read().trim().is_empty() && staged.read().is_empty() && crate::recorder::supported();

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
            if !staged.read().is_empty() && !is_editing {
                div { class: "staged", id: "staged-attachments",
                    for item in staged.read().iter().cloned() {
                        StagedItem { key: "{item.id()}", item: item.clone(),
                            on_remove: move |id: u64| {
                                let removed: Vec<Staged> = staged.peek().iter().filter(|s| s.id() == id).cloned().collect();
                                staged.write().retain(|s| s.id() != id);
                                for item in removed {
                                    if let Staged::Ready { draft, .. } = item {
                                        unstage(draft.token);
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if picker() {
                EmojiPicker { on_pick: move |emoji: String| { text.write().push_str(&emoji); dirty.set(true); picker.set(false); focus_composer(); } }
            }
            if recording() {
                VoiceRecorder {
                    on_done: move |result: Option<Recording>| {
                        recording.set(false);
                        if let Some(result) = result {
                            on_recorded(result);
                        }
                    }
                }
            } else {
                div { class: "composer",
                    if !is_editing {
                        label { class: "icon-button attach", id: "attach-button", title: "Attach files", "aria-label": "Attach files",
                            Icon { glyph: Glyph::Paperclip, size: 20 }
                            input {
                                r#type: "file",
                                id: "attach-input",
                                multiple: true,
                                onchange: move |event: FormEvent| {
                                    for file in picked_files(&event) {
                                        stage_file(ctx, staged, next_id, file);
                                    }
                                    clear_file_input();
                                    focus_composer();
                                },
                            }
                        }
                    }
                    button { class: "icon-button", id: "emoji-button", title: "Emoji", "aria-label": "Emoji",
                        onclick: move |_| { let now = picker(); picker.set(!now); },
                        Icon { glyph: Glyph::Smile, size: 20 }
                    }
                    textarea {
                        id: "composer",
                        rows: "{rows}",
                        placeholder: if ready.is_empty() { "Write a message" } else { "Add a caption" },
                        dir: "auto",
                        value: "{text}",
                        oninput,
                        onkeydown,
                        onpaste,
                    }
                    if show_mic {
                        button { class: "send", id: "record-button", title: "Record a voice note", "aria-label": "Record a voice note",
                            onclick: move |_| recording.set(true),
                            Icon { glyph: Glyph::Mic, size: 18 }
                        }
                    } else {
                        button { class: "send", id: "send-button", title: "Send (Enter)", "aria-label": "Send",
                            disabled: !can_send,
                            onclick: move |_| submit(),
                            if is_editing { Icon { glyph: Glyph::Check, size: 18 } } else { Icon { glyph: Glyph::Send, size: 18 } }
                        }
                    }
                }
            }
        }
    }
}

/// One attachment waiting in the composer.
#[component]
fn StagedItem(item: Staged, on_remove: EventHandler<u64>) -> Element {
    let id = item.id();
    let (name, detail, thumbnail, ready) = match &item {
        Staged::Preparing { name, .. } => (name.clone(), "Preparing…".to_owned(), None, false),
        Staged::Ready { draft, .. } => {
            let detail = match &draft.kind {
                AttachmentKindDto::Voice { duration_ms, .. } => format::duration(u64::from(*duration_ms)),
                _ => format::size(draft.size),
            };
            (draft.name.clone(), detail, draft.thumbnail.clone(), true)
        }
    };
    rsx! {
        div { class: if ready { "staged-item ready" } else { "staged-item preparing" }, title: "{name}",
            if let Some(thumbnail) = thumbnail {
                img { class: "staged-thumb", src: "{thumbnail}", alt: "{name}" }
            } else if ready {
                div { class: "staged-thumb icon-thumb", Icon { glyph: Glyph::File, size: 22 } }
            } else {
                div { class: "staged-thumb icon-thumb", div { class: "mini-spinner" } }
            }
            div { class: "staged-text",
                div { class: "staged-name", dir: "auto", "{name}" }
                div { class: "staged-detail", "{detail}" }
            }
            button { class: "staged-remove", title: "Remove", "aria-label": "Remove {name}",
                onclick: move |_| on_remove.call(id),
                Icon { glyph: Glyph::Close, size: 14 }
            }
        }
    }
}

/// Empties the file input, so picking the same file again fires again.
fn clear_file_input() {
    use wasm_bindgen::JsCast;
    if let Some(input) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("attach-input"))
        .and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok())
    {
        input.set_value("");
    }
}

pub(crate) fn focus_composer() {
    use wasm_bindgen::JsCast;
    if let Some(element) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("composer"))
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = element.focus();
    }
}
