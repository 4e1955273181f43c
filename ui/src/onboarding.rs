//! First start: create a profile, link this device to an existing account,
//! or restore a lost account from its recovery phrase.

use crate::ipc;
use crate::state::Ctx;
use dioxus::prelude::*;
use kith_api::{CreateProfile, JoinAccount, RecoverAccount, RestoreFromBackup};

/// The onboarding screen.
#[component]
pub(crate) fn Onboarding() -> Element {
    let mut ctx = use_context::<Ctx>();
    let mut name = use_signal(String::new);
    let mut server = use_signal(String::new);
    let mut code = use_signal(String::new);
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<String>);
    let mut linking = use_signal(|| false);
    let mut restoring = use_signal(|| false);
    let mut phrase = use_signal(String::new);
    let mut backup = use_signal(|| None::<web_sys::File>);
    let mut passphrase = use_signal(String::new);

    let create = move |_| async move {
        busy.set(true);
        error.set(None);
        match ipc::call(&CreateProfile { name: name() }).await {
            Ok(me) => ctx.me.set(Some(me)),
            Err(err) => error.set(Some(err.message)),
        }
        busy.set(false);
    };
    let join = move |_| async move {
        let args = JoinAccount {
            server_url: server(),
            code: code(),
        };
        adopt_account(ctx, busy, error, ipc::call(&args)).await;
    };
    let restore = move |_| async move {
        let args = RecoverAccount {
            server_url: server(),
            phrase: phrase(),
        };
        adopt_account(ctx, busy, error, ipc::call(&args)).await;
    };
    let from_file = move |_| async move {
        let Some(file) = backup() else { return };
        let args = RestoreFromBackup {
            passphrase: passphrase(),
        };
        let restored = async move {
            let bytes = ipc::file_bytes(&file).await?;
            ipc::call_with_bytes(&args, &bytes).await
        };
        adopt_account(ctx, busy, error, restored).await;
    };
    let words = phrase().split_whitespace().count();
    let backup_name = backup().map(|f| f.name());

    rsx! {
        div { class: "onboarding",
            div { class: "onboarding-card",
                img { class: "logo", src: "icon.png", alt: "" }
                h1 { "Welcome to Kith" }
                p { class: "lede",
                    "Your chats live on your own devices. They sync directly between them, or through a server that only ever sees encrypted data."
                }
                if restoring() {
                    form { class: "stack",
                        onsubmit: move |event| { event.prevent_default(); },
                        p { class: "hint",
                            "Lost every device? Enter the 24-word recovery phrase you wrote down and the server your account used. Your contacts, groups and history come back from it."
                        }
                        label { r#for: "restore-server", "Sync server" }
                        input { id: "restore-server", r#type: "text", placeholder: "wss://kith.example.org",
                            value: "{server}", oninput: move |e| server.set(e.value()) }
                        label { r#for: "restore-phrase", "Recovery phrase ({words} of 24 words)" }
                        textarea { id: "restore-phrase", class: "phrase-input", rows: "4", spellcheck: "false",
                            autocomplete: "off", placeholder: "word word word …",
                            value: "{phrase}", oninput: move |e| phrase.set(e.value()) }
                        button { id: "restore-submit", class: "primary", r#type: "submit", onclick: restore,
                            disabled: busy() || words != 24 || server().trim().is_empty(),
                            if busy() { "Restoring…" } else { "Restore my account" }
                        }
                    }
                    form { class: "stack",
                        onsubmit: move |event| { event.prevent_default(); },
                        p { class: "hint", "Or, with no server at all, from a backup file (Settings → Back up to a file)." }
                        label { class: "file-button", id: "restore-file",
                            if let Some(name) = &backup_name { "{name}" } else { "Choose a backup file…" }
                            input { r#type: "file", accept: ".kithbackup",
                                onchange: move |event: FormEvent| {
                                    let file = event.files().into_iter().next()
                                        .and_then(|f| f.inner().downcast_ref::<web_sys::File>().cloned());
                                    backup.set(file);
                                },
                            }
                        }
                        input { id: "restore-passphrase", r#type: "password", placeholder: "The backup's passphrase",
                            autocomplete: "off", value: "{passphrase}", oninput: move |e| passphrase.set(e.value()) }
                        button { id: "restore-file-submit", class: "secondary", r#type: "submit", onclick: from_file,
                            disabled: busy() || backup_name.is_none() || passphrase().is_empty(),
                            "Restore from the backup"
                        }
                    }
                    button { id: "restore-back", class: "link", onclick: move |_| restoring.set(false), "Create a new profile instead" }
                } else if !linking() {
                    form { class: "stack",
                        onsubmit: move |event| { event.prevent_default(); },
                        label { r#for: "onboarding-name", "Your name" }
                        input {
                            id: "onboarding-name",
                            r#type: "text",
                            placeholder: "What should people call you?",
                            autofocus: true,
                            maxlength: "100",
                            value: "{name}",
                            oninput: move |e| name.set(e.value()),
                        }
                        button {
                            id: "onboarding-create",
                            class: "primary",
                            r#type: "submit",
                            disabled: busy() || name().trim().is_empty(),
                            onclick: create,
                            if busy() { "Creating…" } else { "Create my profile" }
                        }
                    }
                    button { class: "link", onclick: move |_| linking.set(true),
                        "I already use Kith on another device"
                    }
                    button { id: "onboarding-restore", class: "link", onclick: move |_| restoring.set(true),
                        "Restore an account with a recovery phrase"
                    }
                } else {
                    form { class: "stack",
                        onsubmit: move |event| { event.prevent_default(); },
                        p { class: "hint",
                            "On your other device open Devices → Link a new device, then enter the server and the code it shows."
                        }
                        label { r#for: "join-server", "Sync server" }
                        input { id: "join-server", r#type: "text", placeholder: "ws://192.168.1.10:7700",
                            value: "{server}", oninput: move |e| server.set(e.value()) }
                        label { r#for: "join-code", "Pairing code" }
                        input { id: "join-code", r#type: "text", placeholder: "code from your other device",
                            value: "{code}", oninput: move |e| code.set(e.value()) }
                        button { class: "primary", r#type: "submit", onclick: join,
                            disabled: busy() || code().trim().is_empty() || server().trim().is_empty(),
                            if busy() { "Waiting for your other device…" } else { "Link this device" }
                        }
                    }
                    button { class: "link", onclick: move |_| linking.set(false), "Create a new profile instead" }
                }
                if let Some(message) = error() {
                    p { class: "error", role: "alert", "{message}" }
                }
            }
        }
    }
}

/// Waits for an account this device joined or recovered, then shows it (or
/// the reason it failed).
async fn adopt_account(
    mut ctx: Ctx,
    mut busy: Signal<bool>,
    mut error: Signal<Option<String>>,
    call: impl std::future::Future<Output = Result<kith_api::Me, kith_api::ApiError>>,
) {
    busy.set(true);
    error.set(None);
    match call.await {
        Ok(me) => {
            ctx.me.set(Some(me));
            crate::app::reload_me(ctx).await;
        }
        Err(err) => error.set(Some(err.message)),
    }
    busy.set(false);
}
