//! The root: loads the start state, opens the event stream, and shows
//! onboarding or the main layout. Global keys live here.

use crate::ipc;
use crate::state::{Ctx, Screen};
use dioxus::prelude::*;
use futures_util::StreamExt;
use kith_api::{AppEvent, GetAppState, Theme};

/// Loads the profile and settings from the shell into `ctx`.
async fn load_state(mut ctx: Ctx) -> Result<(), kith_api::ApiError> {
    let state = ipc::call(&GetAppState {}).await?;
    ctx.me.set(state.me);
    ctx.settings.set(state.settings);
    Ok(())
}

/// Reloads the profile shown (after a rename, a new picture, deletion).
pub(crate) async fn reload_me(ctx: Ctx) {
    if let Err(err) = load_state(ctx).await {
        ctx.say(err.message);
    }
}

/// The app.
#[component]
pub(crate) fn App() -> Element {
    let ctx = use_context_provider(Ctx::new);
    let mut loaded = use_signal(|| false);
    let mut failure = use_signal(|| None::<String>);

    let events = use_coroutine(move |mut receiver: UnboundedReceiver<AppEvent>| async move {
        while let Some(event) = receiver.next().await {
            ctx.apply(event);
        }
    });

    use_hook(move || {
        spawn(async move {
            if let Err(err) = load_state(ctx).await {
                failure.set(Some(err.message));
            }
            loaded.set(true);
            let sender = events.tx();
            if let Err(err) = ipc::subscribe(move |event| {
                let _ = sender.unbounded_send(event);
            })
            .await
            {
                failure.set(Some(err.message));
            }
        });
    });

    // Toasts disappear after a while. The timer lives here, in the root, so
    // leaving the screen that raised a toast does not cancel it.
    use_effect(move || {
        let mut ctx = ctx;
        if let Some(text) = ctx.toast.read().clone() {
            spawn(async move {
                ipc::sleep_ms(4000).await;
                if ctx.toast.peek().as_deref() == Some(text.as_str()) {
                    ctx.toast.set(None);
                }
            });
        }
    });

    let theme = match ctx.settings.read().theme {
        Theme::System => "theme-system",
        Theme::Light => "theme-light",
        Theme::Dark => "theme-dark",
    };

    let onkeydown = move |event: KeyboardEvent| {
        let mut ctx = ctx;
        let key = event.key();
        if (event.modifiers().ctrl() || event.modifiers().meta()) && key == Key::Character("k".into()) {
            event.prevent_default();
            ctx.palette.set(true);
        } else if key == Key::Escape {
            if *ctx.palette.peek() {
                ctx.palette.set(false);
            } else if *ctx.group_panel.peek() {
                ctx.group_panel.set(false);
            } else if *ctx.new_group.peek() {
                ctx.new_group.set(false);
            }
        }
    };

    rsx! {
        div { class: "app {theme}", id: "app", tabindex: "-1", onkeydown,
            if let Some(message) = failure() {
                div { class: "fatal", "{message}" }
            } else if !loaded() {
                div { class: "splash", div { class: "spinner" } }
            } else if ctx.me.read().is_none() {
                crate::onboarding::Onboarding {}
            } else {
                Main {}
            }
            if let Some(text) = ctx.toast.read().clone() {
                div { class: "toast", role: "status", "{text}" }
            }
        }
    }
}

/// The main layout: navigation rail, list column, main area.
#[component]
fn Main() -> Element {
    let ctx = use_context::<Ctx>();
    let screen = *ctx.screen.read();
    rsx! {
        div { class: "layout",
            crate::sidebar::Rail {}
            match screen {
                Screen::Chats => rsx! {
                    crate::sidebar::ChatColumn {}
                    main { class: "main",
                        if *ctx.new_group.read() {
                            crate::group::NewGroup {}
                        } else if let Some(chat_id) = ctx.open_chat.read().clone() {
                            crate::conversation::Conversation { key: "{chat_id}", chat_id: chat_id.clone() }
                        } else {
                            EmptyMain {}
                        }
                    }
                    if *ctx.group_panel.read() {
                        if let Some(chat_id) = ctx.open_chat.read().clone() {
                            crate::group::GroupPanel { key: "{chat_id}", chat_id: chat_id.clone() }
                        }
                    }
                },
                Screen::Contacts => rsx! { crate::contacts::ContactsScreen {} },
                Screen::Devices => rsx! { crate::devices::DevicesScreen {} },
                Screen::Settings => rsx! { crate::settings::SettingsScreen {} },
            }
        }
        if *ctx.palette.read() {
            crate::palette::Palette {}
        }
        crate::lightbox::LightboxViewer {}
    }
}

#[component]
fn EmptyMain() -> Element {
    rsx! {
        div { class: "empty-main",
            div { class: "empty-art", crate::icons::Icon { glyph: crate::icons::Glyph::Chat, size: 64 } }
            h2 { "Pick a chat" }
            p { "Choose a conversation on the left, or start a new group. Press Ctrl+K to jump to any chat." }
        }
    }
}
