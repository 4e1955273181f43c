//! Attachments inside a message bubble: pictures (one large, several in a
//! grid; previews until the bytes arrive), file cards with download
//! progress, Open and Save, and voice notes with their waveform.

use crate::format;
use crate::icons::{Glyph, Icon};
use crate::ipc;
use crate::state::{Ctx, Lightbox, Transfer};
use dioxus::prelude::*;
use kith_api::{AttachmentDto, AttachmentKindDto, DownloadAttachment, OpenAttachment, SaveAttachment};

/// Widest a single picture is shown, in CSS pixels.
const SINGLE_WIDTH: u32 = 320;
/// Tallest a single picture is shown.
const SINGLE_HEIGHT: u32 = 360;

/// Every attachment of one message.
#[component]
pub(crate) fn Attachments(chat_id: String, message_id: String, attachments: Vec<AttachmentDto>) -> Element {
    let images: Vec<AttachmentDto> = attachments
        .iter()
        .filter(|a| matches!(a.kind, AttachmentKindDto::Image { .. }))
        .cloned()
        .collect();
    let others: Vec<AttachmentDto> = attachments
        .iter()
        .filter(|a| !matches!(a.kind, AttachmentKindDto::Image { .. }))
        .cloned()
        .collect();
    let grid_class = match images.len() {
        1 => "image-grid single",
        2 | 4 => "image-grid two",
        _ => "image-grid three",
    };
    rsx! {
        if !images.is_empty() {
            div { class: "{grid_class}",
                for (position, image) in images.iter().enumerate() {
                    Picture {
                        key: "{image.hash}-{image.index}",
                        chat_id: chat_id.clone(),
                        message_id: message_id.clone(),
                        images: images.clone(),
                        position,
                    }
                }
            }
        }
        for attachment in others {
            match attachment.kind {
                AttachmentKindDto::Voice { .. } => rsx! {
                    VoiceNote { key: "{attachment.hash}-{attachment.index}", chat_id: chat_id.clone(), message_id: message_id.clone(), attachment: attachment.clone() }
                },
                AttachmentKindDto::Video { .. } => rsx! {
                    VideoMessage { key: "{attachment.hash}-{attachment.index}", chat_id: chat_id.clone(), message_id: message_id.clone(), attachment: attachment.clone() }
                },
                _ => rsx! {
                    FileCard { key: "{attachment.hash}-{attachment.index}", chat_id: chat_id.clone(), message_id: message_id.clone(), attachment: attachment.clone() }
                },
            }
        }
    }
}

/// Display size of a single picture: its own proportions within the box.
fn single_size(width: u32, height: u32) -> (u32, u32) {
    let (width, height) = (width.max(1) as f64, height.max(1) as f64);
    let scale = (f64::from(SINGLE_WIDTH) / width)
        .min(f64::from(SINGLE_HEIGHT) / height)
        .min(1.0);
    (
        (width * scale).round().max(60.0) as u32,
        (height * scale).round().max(60.0) as u32,
    )
}

/// One picture: the preview until the bytes are here, then the picture;
/// a click opens the viewer.
#[component]
fn Picture(chat_id: String, message_id: String, images: Vec<AttachmentDto>, position: usize) -> Element {
    let mut ctx = use_context::<Ctx>();
    let Some(image) = images.get(position).cloned() else {
        return rsx! {};
    };
    let (width, height) = match image.kind {
        AttachmentKindDto::Image { width, height } => (width, height),
        _ => (1, 1),
    };
    let style = if images.len() == 1 {
        let (w, h) = single_size(width, height);
        format!("width:{w}px;height:{h}px")
    } else {
        String::new()
    };
    let transfer = ctx.transfers.read().get(&image.hash).copied();
    let source = if image.available {
        Some(ipc::media_url(&image.hash))
    } else {
        image.thumbnail.clone()
    };
    let class = if image.available { "picture" } else { "picture blurred" };
    let label = format!("{} ({} × {})", image.name, width, height);
    rsx! {
        button {
            class: "{class}",
            style: "{style}",
            title: "{image.name}",
            "aria-label": "{label}",
            "data-hash": "{image.hash}",
            onclick: move |_| {
                if image.available {
                    ctx.lightbox.set(Some(Lightbox {
                        chat_id: chat_id.clone(),
                        message_id: message_id.clone(),
                        images: images.clone(),
                        index: position,
                    }));
                } else {
                    // Large pictures wait to be asked for.
                    download(ctx, &chat_id, &message_id, &image);
                }
            },
            if let Some(source) = source {
                img { src: "{source}", alt: "{image.name}", loading: "lazy", draggable: "false" }
            }
            if !image.available {
                div { class: "picture-state",
                    match transfer {
                        Some(t) => rsx! { ProgressRing { transfer: t } },
                        None => rsx! { Icon { glyph: Glyph::Download, size: 18 } },
                    }
                }
            }
        }
    }
}

/// A small ring filling up with a transfer.
#[component]
fn ProgressRing(transfer: Transfer) -> Element {
    let percent = percent(transfer);
    rsx! {
        div { class: "ring", style: "--p:{percent}", title: "{percent}%", span { "{percent}%" } }
    }
}

fn percent(transfer: Transfer) -> u64 {
    (transfer.done.saturating_mul(100) / transfer.total.max(1)).min(100)
}

/// Fetches an attachment that is not here; a failure is said, and its
/// progress (which stopped) forgotten, so it can be asked for again.
fn download(ctx: Ctx, chat_id: &str, message_id: &str, attachment: &AttachmentDto) {
    let command = DownloadAttachment {
        chat_id: chat_id.to_owned(),
        message_id: message_id.to_owned(),
        index: attachment.index,
    };
    let hash = attachment.hash.clone();
    let mut transfers = ctx.transfers;
    spawn(async move {
        if let Err(err) = ipc::call(&command).await {
            transfers.write().remove(&hash);
            ctx.say(err.message);
        }
    });
}

/// Runs `command` and says what went wrong, if anything.
fn run<C: kith_api::Command + 'static>(ctx: Ctx, command: C, on_ok: impl FnOnce(C::Output) + 'static) {
    spawn(async move {
        match ipc::call(&command).await {
            Ok(output) => on_ok(output),
            Err(err) => ctx.say(err.message),
        }
    });
}

/// A file: icon, name, size; Download with progress, then Open and Save.
#[component]
fn FileCard(chat_id: String, message_id: String, attachment: AttachmentDto) -> Element {
    let ctx = use_context::<Ctx>();
    let mut asked = use_signal(|| false);
    let transfer = ctx.transfers.read().get(&attachment.hash).copied();
    let extension = attachment
        .name
        .rsplit_once('.')
        .map(|(_, e)| e.to_uppercase())
        .filter(|e| e.len() <= 5)
        .unwrap_or_default();
    let index = attachment.index;
    let detail = match (attachment.available, transfer) {
        (false, Some(t)) if !t.upload => format!("{} of {}", format::size(t.done), format::size(t.total)),
        (true, Some(t)) if t.upload => format!("Uploading… {}%", percent(t)),
        _ => format::size(attachment.size),
    };
    let (chat_a, message_a) = (chat_id.clone(), message_id.clone());
    let (chat_b, message_b) = (chat_id.clone(), message_id.clone());
    rsx! {
        div { class: "file-card", "data-hash": "{attachment.hash}",
            div { class: "file-icon", Icon { glyph: Glyph::File, size: 26 } span { class: "file-ext", "{extension}" } }
            div { class: "file-text",
                div { class: "file-name", dir: "auto", title: "{attachment.name}", "{attachment.name}" }
                div { class: "file-detail", "{detail}" }
                if let Some(t) = transfer {
                    div { class: "file-progress", div { class: "file-progress-bar", style: "width:{percent(t)}%" } }
                }
            }
            div { class: "file-actions",
                if attachment.available {
                    button { class: "secondary small open-file", title: "Open with the default app",
                        onclick: move |_| run(ctx, OpenAttachment { chat_id: chat_a.clone(), message_id: message_a.clone(), index }, |_| {}),
                        "Open"
                    }
                    button { class: "icon-button save-file", title: "Save to Downloads", "aria-label": "Save",
                        onclick: move |_| run(ctx, SaveAttachment { chat_id: chat_b.clone(), message_id: message_b.clone(), index }, move |path| ctx.say(format!("Saved to {path}"))),
                        Icon { glyph: Glyph::Download, size: 18 }
                    }
                } else if !asked() {
                    // Shown beside a transfer too: one that stalled (a peer
                    // left) can be asked for again.
                    button { class: "secondary small download-file", title: "Download",
                        onclick: {
                            let attachment = attachment.clone();
                            move |_| {
                                asked.set(true);
                                download(ctx, &chat_id, &message_id, &attachment);
                                spawn(async move {
                                    // Asked once; the progress shows meanwhile.
                                    ipc::sleep_ms(3000).await;
                                    asked.set(false);
                                });
                            }
                        },
                        "Download"
                    }
                }
            }
        }
    }
}

/// A video: its poster with the length until played, then the player
/// inline; "Open large" shows it in the viewer.
#[component]
fn VideoMessage(chat_id: String, message_id: String, attachment: AttachmentDto) -> Element {
    let mut ctx = use_context::<Ctx>();
    let mut started = use_signal(|| false);
    let blob_url = use_blob_url();
    let (width, height, duration_ms) = match attachment.kind {
        AttachmentKindDto::Video {
            width,
            height,
            duration_ms,
        } => (width, height, duration_ms),
        _ => (16, 9, 0),
    };
    let (w, h) = single_size(width, height);
    let element_id = format!("video-{}-{}", message_id, attachment.index);
    let transfer = ctx.transfers.read().get(&attachment.hash).copied();
    let poster = attachment.thumbnail.clone().unwrap_or_default();
    let label = format!(
        "{} ({}, {} × {})",
        attachment.name,
        format::duration(u64::from(duration_ms)),
        width,
        height
    );
    let onstart = {
        let element_id = element_id.clone();
        let attachment = attachment.clone();
        let chat_id = chat_id.clone();
        let message_id = message_id.clone();
        move |_| {
            if !attachment.available {
                download(ctx, &chat_id, &message_id, &attachment);
                return;
            }
            let Some(video) = media_element(&element_id) else {
                return;
            };
            let hash = attachment.hash.clone();
            spawn(async move {
                if start(ctx, &video, &hash, blob_url).await {
                    started.set(true);
                }
            });
        }
    };
    let open_large = {
        let element_id = element_id.clone();
        let attachment = attachment.clone();
        move |_| {
            if let Some(video) = media_element(&element_id) {
                let _ = video.pause();
            }
            ctx.lightbox.set(Some(Lightbox {
                chat_id: chat_id.clone(),
                message_id: message_id.clone(),
                images: vec![attachment.clone()],
                index: 0,
            }));
        }
    };
    rsx! {
        div { class: "video-message", style: "width:{w}px;height:{h}px", "data-hash": "{attachment.hash}",
            // Its source is set on the first Play (see `start`).
            video { id: "{element_id}", class: "video-player", poster: "{poster}", preload: "none",
                controls: started(), "aria-label": "{label}",
            }
            if !started() {
                button { class: "video-start", title: if attachment.available { "Play" } else { "Download" },
                    "aria-label": if attachment.available { "Play the video" } else { "Download the video" },
                    onclick: onstart,
                    span { class: "video-start-icon",
                        match (attachment.available, transfer) {
                            (false, Some(t)) => rsx! { ProgressRing { transfer: t } },
                            (false, None) => rsx! { Icon { glyph: Glyph::Download, size: 22 } },
                            (true, _) => rsx! { Icon { glyph: Glyph::Play, size: 22 } },
                        }
                    }
                    span { class: "video-duration", "{format::duration(u64::from(duration_ms))}" }
                }
            }
            // Once playing, the player's own controls include full screen.
            if attachment.available && !started() {
                button { class: "video-expand", title: "Open large", "aria-label": "Open the video large",
                    onclick: open_large,
                    Icon { glyph: Glyph::Expand, size: 16 }
                }
            }
        }
    }
}

/// A voice note: play/pause, waveform filling as it plays, length.
#[component]
fn VoiceNote(chat_id: String, message_id: String, attachment: AttachmentDto) -> Element {
    let ctx = use_context::<Ctx>();
    let mut playing = use_signal(|| false);
    let mut played = use_signal(|| 0f64);
    let (duration_ms, waveform) = match &attachment.kind {
        AttachmentKindDto::Voice { duration_ms, waveform } => (*duration_ms, waveform.clone()),
        _ => (0, Vec::new()),
    };
    let element_id = format!("voice-{}-{}", message_id, attachment.index);
    let bars = resample(&waveform, 40);
    let lit = (played() * bars.len() as f64).round() as usize;
    let shown_ms = if playing() {
        (played() * f64::from(duration_ms)) as u64
    } else {
        u64::from(duration_ms)
    };
    let transfer = ctx.transfers.read().get(&attachment.hash).copied();
    let blob_url = use_blob_url();
    let toggle = {
        let element_id = element_id.clone();
        let hash = attachment.hash.clone();
        move |_| {
            let Some(audio) = media_element(&element_id) else {
                return;
            };
            if audio.paused() {
                let hash = hash.clone();
                spawn(async move {
                    if start(ctx, &audio, &hash, blob_url).await {
                        playing.set(true);
                    }
                });
            } else {
                let _ = audio.pause();
                playing.set(false);
            }
        }
    };
    let ontimeupdate = {
        let element_id = element_id.clone();
        move |_| {
            if let Some(audio) = media_element(&element_id) {
                let total = if duration_ms > 0 {
                    f64::from(duration_ms) / 1000.0
                } else {
                    audio.duration()
                };
                if total.is_finite() && total > 0.0 {
                    played.set((audio.current_time() / total).clamp(0.0, 1.0));
                }
            }
        }
    };
    rsx! {
        div { class: "voice-note", "data-hash": "{attachment.hash}",
            if attachment.available {
                // Its source is set on the first Play (see `start`).
                audio { id: "{element_id}", preload: "none",
                    ontimeupdate,
                    onended: move |_| { playing.set(false); played.set(0.0); },
                }
                button { class: "voice-play", title: if playing() { "Pause" } else { "Play" }, "aria-label": if playing() { "Pause" } else { "Play" },
                    onclick: toggle,
                    if playing() { Icon { glyph: Glyph::Pause, size: 16 } } else { Icon { glyph: Glyph::Play, size: 16 } }
                }
            } else {
                button { class: "voice-play waiting", title: "Download", "aria-label": "Download the voice note",
                    onclick: {
                        let attachment = attachment.clone();
                        move |_| download(ctx, &chat_id, &message_id, &attachment)
                    },
                    match transfer {
                        Some(t) => rsx! { ProgressRing { transfer: t } },
                        None => rsx! { Icon { glyph: Glyph::Download, size: 16 } },
                    }
                }
            }
            div { class: "waveform", "aria-hidden": "true",
                for (i, bar) in bars.iter().enumerate() {
                    span { key: "{i}", class: if i < lit { "bar lit" } else { "bar" }, style: "height:{bar_height(*bar)}%" }
                }
            }
            span { class: "voice-time", "{format::duration(shown_ms)}" }
        }
    }
}

/// The `blob:` URL a media element plays, revoked when the component goes.
pub(crate) fn use_blob_url() -> Signal<Option<String>> {
    let url = use_signal(|| None::<String>);
    use_drop(move || {
        if let Some(url) = url.peek().as_deref() {
            ipc::revoke_blob_url(url);
        }
    });
    url
}

/// Plays a media element, loading its bytes first if it has none yet.
/// Says why when it cannot; true once it plays.
pub(crate) async fn start(
    ctx: Ctx,
    element: &web_sys::HtmlMediaElement,
    hash: &str,
    mut blob_url: Signal<Option<String>>,
) -> bool {
    if blob_url.peek().is_none() {
        match ipc::media_blob_url(hash).await {
            Ok(url) => {
                element.set_src(&url);
                blob_url.set(Some(url));
            }
            Err(err) => {
                ctx.say(err.message);
                return false;
            }
        }
    }
    let Ok(promise) = element.play() else {
        ctx.say("This cannot be played here.");
        return false;
    };
    if wasm_bindgen_futures::JsFuture::from(promise).await.is_err() {
        ctx.say("This cannot be played here.");
        return false;
    }
    true
}

/// The `<audio>` or `<video>` element with this id.
pub(crate) fn media_element(id: &str) -> Option<web_sys::HtmlMediaElement> {
    use wasm_bindgen::JsCast;
    web_sys::window()?.document()?.get_element_by_id(id)?.dyn_into().ok()
}

/// `bars` values from a waveform of any length (flat when there is none).
fn resample(waveform: &[u8], bars: usize) -> Vec<u8> {
    if waveform.is_empty() {
        return vec![40; bars];
    }
    format::loudest_of_spans(waveform, bars)
}

fn bar_height(value: u8) -> u32 {
    12 + u32::from(value) * 88 / 255
}
