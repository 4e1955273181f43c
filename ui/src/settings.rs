//! Settings: profile (name, picture), sync server, notifications, theme,
//! export, account deletion.

use crate::avatar::Avatar;
use crate::group::Toggle;
use crate::ipc;
use crate::state::Ctx;
use dioxus::prelude::*;
use kith_api::{
    BackupToFile, DeleteAccount, ExportData, NewRecoveryPhrase, SaveSettings, SetAvatar, SetName, Settings, Theme,
};

/// The settings screen.
#[component]
pub(crate) fn SettingsScreen() -> Element {
    let mut ctx = use_context::<Ctx>();
    let me = ctx.me.read().clone();
    let settings = ctx.settings.read().clone();
    let mut name = use_signal(|| me.as_ref().map(|m| m.name.clone()).unwrap_or_default());
    let mut server = use_signal(|| settings.server_url.clone().unwrap_or_default());
    let mut confirm = use_signal(String::new);
    let mut deleting = use_signal(|| false);
    let mut phrase = use_signal(Vec::<String>::new);
    let mut passphrase = use_signal(String::new);
    let mut backing_up = use_signal(|| false);

    // Shown at once; saved even if the person leaves this screen right away
    // (a task of this screen would be cancelled with it).
    let mut save = move |new: Settings| {
        let before = ctx.settings.peek().clone();
        ctx.settings.set(new.clone());
        dioxus::core::spawn_forever(async move {
            match ipc::call(&SaveSettings { settings: new }).await {
                Ok(saved) => ctx.settings.set(saved),
                Err(err) => {
                    ctx.settings.set(before);
                    ctx.say(err.message);
                }
            }
        });
    };
    let current = settings.clone();
    let theme_button = move |theme: Theme, label: &'static str, id: &'static str| {
        let mut next = current.clone();
        next.theme = theme;
        let class = if current.theme == theme {
            "segment active"
        } else {
            "segment"
        };
        rsx! { button { class, id, onclick: move |_| save(next.clone()), "{label}" } }
    };

    let rename = move |_| async move {
        match ipc::call(&SetName { name: name() }).await {
            Ok(me) => {
                ctx.me.set(Some(me));
                ctx.say("Name saved");
            }
            Err(err) => ctx.say(err.message),
        }
    };
    let picture = move |event: FormEvent| async move {
        let Some(file) = event.files().into_iter().next() else {
            return;
        };
        match file.read_bytes().await {
            Ok(bytes) => match ipc::call(&SetAvatar { image: bytes.to_vec() }).await {
                Ok(me) => ctx.me.set(Some(me)),
                Err(err) => ctx.say(err.message),
            },
            Err(err) => ctx.say(format!("Could not read the file: {err}")),
        }
    };
    let server_settings = settings.clone();
    let save_server = move |_| {
        let mut next = server_settings.clone();
        next.server_url = Some(server()).filter(|s| !s.trim().is_empty());
        save(next);
        ctx.say("Server saved; reconnecting");
    };
    let notify_settings = settings.clone();
    let request_settings = settings.clone();
    let export = move |_| async move {
        match ipc::call(&ExportData {}).await {
            Ok(path) => ctx.say(format!("Exported to {path}")),
            Err(err) => ctx.say(err.message),
        }
    };
    let new_phrase = move |_| async move {
        match ipc::call(&NewRecoveryPhrase {}).await {
            Ok(words) => phrase.set(words),
            Err(err) => ctx.say(err.message),
        }
    };
    let backup = move |_| async move {
        backing_up.set(true);
        match ipc::call(&BackupToFile {
            passphrase: passphrase(),
        })
        .await
        {
            Ok(path) => {
                passphrase.set(String::new());
                ctx.say(format!("Backup written to {path}"));
            }
            Err(err) => ctx.say(err.message),
        }
        backing_up.set(false);
    };
    let delete = move |_| async move {
        deleting.set(true);
        match ipc::call(&DeleteAccount { confirm: confirm() }).await {
            Ok(()) => crate::app::reload_me(ctx).await,
            Err(err) => ctx.say(err.message),
        }
        deleting.set(false);
    };

    rsx! {
        div { class: "page",
            h1 { "Settings" }
            section { class: "card",
                h3 { "Profile" }
                div { class: "profile-row",
                    if let Some(me) = &me {
                        Avatar { name: me.name.clone(), seed: me.account_id.clone(), url: me.avatar.clone(), size: 72 }
                    }
                    div { class: "stack grow",
                        label { r#for: "settings-name", "Display name" }
                        div { class: "copy-row",
                            input { id: "settings-name", r#type: "text", maxlength: "100", value: "{name}", oninput: move |e| name.set(e.value()) }
                            button { class: "secondary", onclick: rename, "Save" }
                        }
                        label { class: "file-button",
                            "Change picture…"
                            input { r#type: "file", accept: "image/*", onchange: picture }
                        }
                    }
                }
            }
            crate::requests::UsernameSetting {}
            section { class: "card",
                h3 { "Sync" }
                p { class: "hint", "A Kith server relays encrypted data when your devices cannot reach each other directly. It never sees your messages." }
                div { class: "copy-row",
                    input { id: "settings-server", r#type: "text", placeholder: "ws://host:port (empty: no server)", value: "{server}", oninput: move |e| server.set(e.value()) }
                    button { class: "secondary", id: "settings-server-save", onclick: save_server, "Save" }
                }
            }
            section { class: "card",
                h3 { "Appearance" }
                div { class: "segmented",
                    {theme_button(Theme::System, "System", "theme-system")}
                    {theme_button(Theme::Light, "Light", "theme-light")}
                    {theme_button(Theme::Dark, "Dark", "theme-dark")}
                }
            }
            section { class: "card",
                h3 { "Notifications" }
                Toggle { label: "Show a notification for new messages", on: settings.notifications,
                    onchange: move |value| { let mut next = notify_settings.clone(); next.notifications = value; save(next); } }
                Toggle { label: "Show a notification for message requests", on: settings.request_notifications,
                    onchange: move |value| { let mut next = request_settings.clone(); next.request_notifications = value; save(next); } }
            }
            section { class: "card", id: "settings-recovery",
                h3 { "Recovery phrase" }
                if phrase().is_empty() {
                    p { class: "hint", "If you lose every device, 24 words bring your account back: contacts, groups and history. Write them on paper and keep them safe; anyone who has them can take over your account. Making a new phrase replaces the old one." }
                    button { class: "secondary", id: "recovery-new", onclick: new_phrase, "Show a new recovery phrase" }
                } else {
                    p { class: "hint", "Write these words down in order, now. They are not stored anywhere and will not be shown again." }
                    ol { class: "phrase-grid", id: "recovery-words",
                        for word in phrase() {
                            li { "{word}" }
                        }
                    }
                    button { class: "secondary", onclick: move |_| phrase.set(Vec::new()), "I wrote them down" }
                }
            }
            section { class: "card",
                h3 { "Your data" }
                p { class: "hint", "Export writes your contacts, chats and messages as JSON files next to your profile." }
                button { class: "secondary", onclick: export, "Export my data" }
                p { class: "hint", "A backup is one encrypted file with everything on this device, attachments too; it restores with no server. Keep the file and the passphrase apart." }
                div { class: "copy-row",
                    input { id: "backup-passphrase", r#type: "password", placeholder: "A passphrase of 8 characters or more",
                        autocomplete: "new-password", value: "{passphrase}", oninput: move |e| passphrase.set(e.value()) }
                    button { class: "secondary", id: "backup-create", disabled: backing_up() || passphrase().chars().count() < 8, onclick: backup,
                        if backing_up() { "Backing up…" } else { "Back up to a file" }
                    }
                }
            }
            section { class: "card danger-zone",
                h3 { "Delete account" }
                p { class: "hint", "Leaves every chat, tells your contacts, deletes your data on the server and erases this device's keys. This cannot be undone." }
                div { class: "copy-row",
                    input { r#type: "text", placeholder: "Type your name to confirm", value: "{confirm}", oninput: move |e| confirm.set(e.value()) }
                    button { class: "danger", disabled: deleting() || confirm().trim().is_empty(), onclick: delete,
                        if deleting() { "Deleting…" } else { "Delete account" }
                    }
                }
            }
        }
    }
}
