//! The picture viewer: one message's pictures, large, one at a time; arrow
//! keys or the side buttons go through them, Esc or a click outside closes.

use crate::format;
use crate::icons::{Glyph, Icon};
use crate::ipc;
use crate::state::{Ctx, Lightbox};
use dioxus::prelude::*;
use kith_api::{AttachmentKindDto, SaveAttachment};

/// The viewer, when one is open.
#[component]
pub(crate) fn LightboxViewer() -> Element {
    let mut ctx = use_context::<Ctx>();
    let Some(state) = ctx.lightbox.read().clone() else {
        return rsx! {};
    };
    let Some(image) = state.images.get(state.index).cloned() else {
        return rsx! {};
    };
    let count = state.images.len();
    let mut step = move |by: isize| {
        let mut lightbox = ctx.lightbox.write();
        if let Some(Lightbox { index, images, .. }) = lightbox.as_mut() {
            let len = images.len() as isize;
            *index = ((*index as isize + by).rem_euclid(len.max(1))) as usize;
        }
    };
    let onkeydown = move |event: KeyboardEvent| match event.key() {
        Key::Escape => {
            event.stop_propagation();
            ctx.lightbox.set(None);
        }
        Key::ArrowLeft => step(-1),
        Key::ArrowRight => step(1),
        _ => {}
    };
    let source = if image.available {
        Some(ipc::media_url(&image.hash))
    } else {
        image.thumbnail.clone()
    };
    let is_video = matches!(image.kind, AttachmentKindDto::Video { .. });
    let dimensions = match image.kind {
        AttachmentKindDto::Image { width, height } => format!("{width} × {height} · {}", format::size(image.size)),
        AttachmentKindDto::Video {
            width,
            height,
            duration_ms,
        } => format!(
            "{} · {width} × {height} · {}",
            format::duration(u64::from(duration_ms)),
            format::size(image.size)
        ),
        _ => format::size(image.size),
    };
    let save = SaveAttachment {
        chat_id: state.chat_id.clone(),
        message_id: state.message_id.clone(),
        index: image.index,
    };
    rsx! {
        div { class: "lightbox", id: "lightbox", tabindex: "0", role: "dialog", "aria-label": "{image.name}",
            onkeydown,
            onmounted: move |event| async move { let _ = event.set_focus(true).await; },
            onclick: move |_| ctx.lightbox.set(None),
            div { class: "lightbox-bar", onclick: move |event| event.stop_propagation(),
                div { class: "lightbox-title",
                    div { class: "lightbox-name", dir: "auto", "{image.name}" }
                    div { class: "lightbox-detail", "{dimensions}" if count > 1 { " · {state.index + 1} of {count}" } }
                }
                if image.available {
                    button { class: "icon-button", title: "Save to Downloads", "aria-label": "Save",
                        onclick: move |_| {
                            let save = save.clone();
                            spawn(async move {
                                match ipc::call(&save).await {
                                    Ok(path) => ctx.say(format!("Saved to {path}")),
                                    Err(err) => ctx.say(err.message),
                                }
                            });
                        },
                        Icon { glyph: Glyph::Download, size: 20 }
                    }
                }
                button { class: "icon-button", id: "lightbox-close", title: "Close (Esc)", "aria-label": "Close",
                    onclick: move |_| ctx.lightbox.set(None),
                    Icon { glyph: Glyph::Close, size: 20 }
                }
            }
            if count > 1 {
                button { class: "lightbox-nav previous", title: "Previous", "aria-label": "Previous",
                    onclick: move |event| { event.stop_propagation(); step(-1); },
                    Icon { glyph: Glyph::ChevronLeft, size: 28 }
                }
                button { class: "lightbox-nav next", title: "Next", "aria-label": "Next",
                    onclick: move |event| { event.stop_propagation(); step(1); },
                    Icon { glyph: Glyph::ChevronRight, size: 28 }
                }
            }
            if is_video && image.available {
                LightboxVideo { key: "{image.hash}", hash: image.hash.clone(), label: image.name.clone() }
            } else if let Some(source) = source {
                img { class: if image.available { "lightbox-image" } else { "lightbox-image blurred" },
                    src: "{source}", alt: "{image.name}",
                    onclick: move |event| event.stop_propagation(),
                }
            }
        }
    }
}

/// A video in the viewer: loaded and played when it opens, with controls
/// (seeking works: the player has all of its bytes as a blob).
#[component]
fn LightboxVideo(hash: String, label: String) -> Element {
    let ctx = use_context::<Ctx>();
    let blob_url = crate::attachments::use_blob_url();
    // After the first render, when the element is in the document.
    use_effect(move || {
        let hash = hash.clone();
        spawn(async move {
            if let Some(video) = crate::attachments::media_element("lightbox-video") {
                crate::attachments::start(ctx, &video, &hash, blob_url).await;
            }
        });
    });
    rsx! {
        video { id: "lightbox-video", class: "lightbox-video", controls: true, "aria-label": "{label}",
            onclick: move |event| event.stop_propagation(),
        }
    }
}
