//! Contacts: your invite link and QR code, adding someone by link, the list.

use crate::avatar::Avatar;
use crate::ipc;
use crate::state::Ctx;
use dioxus::prelude::*;
use kith_api::{AddContact, ListContacts, OpenDirect, QrCode, SetBlocked};

/// The contacts screen.
#[component]
pub(crate) fn ContactsScreen() -> Element {
    let mut ctx = use_context::<Ctx>();
    let mut link = use_signal(|| ctx.pending_invite.peek().clone().unwrap_or_default());
    let mut error = use_signal(|| None::<String>);
    let contacts = use_resource(move || async move {
        let _ = ctx.contacts_version.read();
        ipc::call(&ListContacts {}).await
    });
    let qr = use_resource(move || async move {
        let text = ctx.me.read().as_ref().map(|m| m.invite.clone()).unwrap_or_default();
        ipc::call(&QrCode { text }).await
    });
    // A deep link that arrives while this screen is open fills the box.
    use_effect(move || {
        if let Some(pending) = ctx.pending_invite.read().clone() {
            link.set(pending);
        }
    });
    let me = ctx.me.read().clone();
    let invite = me.as_ref().map(|m| m.invite.clone()).unwrap_or_default();

    let add = move |_| async move {
        error.set(None);
        match ipc::call(&AddContact { link: link() }).await {
            Ok(_) => {
                link.set(String::new());
                ctx.pending_invite.set(None);
                *ctx.contacts_version.write() += 1;
                ctx.say("Contact added. They appear once their device answers.");
            }
            Err(err) => error.set(Some(err.message)),
        }
    };

    rsx! {
        div { class: "page",
            h1 { "Contacts" }
            section { class: "card invite-card",
                div { class: "invite-text",
                    h3 { "Your invite" }
                    p { class: "hint", "Share this link (or let them scan the code). Whoever opens it can message you." }
                    div { class: "copy-row",
                        input { id: "invite-link", r#type: "text", readonly: true, value: "{invite}" }
                        button { class: "secondary", onclick: move |_| { ipc::copy_to_clipboard(&invite); ctx.say("Invite link copied"); }, "Copy" }
                    }
                }
                div { class: "qr", "aria-label": "Invite QR code",
                    if let Some(Ok(svg)) = qr.read().clone() {
                        // SVG drawn by the shell from the invite link; no user text in it.
                        div { dangerous_inner_html: "{svg}" }
                    }
                }
            }
            section { class: "card",
                h3 { "Add by link" }
                form { class: "copy-row", onsubmit: move |e| e.prevent_default(),
                    input { id: "add-contact-link", r#type: "text", placeholder: "kith://invite/…", value: "{link}",
                        oninput: move |e| link.set(e.value()) }
                    button { class: "primary", id: "add-contact", r#type: "submit", disabled: link().trim().is_empty(), onclick: add, "Add contact" }
                }
                if let Some(message) = error() { p { class: "error", role: "alert", "{message}" } }
            }
            section { class: "card",
                h3 { "People" }
                match &*contacts.read() {
                    Some(Ok(list)) if list.is_empty() => rsx! { p { class: "hint", "No contacts yet. Send someone your invite link." } },
                    Some(Ok(list)) => rsx! {
                        ul { class: "contact-list",
                            for contact in list.clone() {
                                {
                                    let name = contact.name.clone().unwrap_or_else(|| format!("{}…", contact.account_id.chars().take(8).collect::<String>()));
                                    let blocked = contact.state == "blocked";
                                    let state = match contact.state.as_str() {
                                        "pending" => "waiting for their device",
                                        "blocked" => "blocked",
                                        "deleted" => "deleted their account",
                                        _ => "",
                                    };
                                    let id = contact.account_id.clone();
                                    let id2 = contact.account_id.clone();
                                    rsx! {
                                        li { key: "{contact.account_id}", class: "contact",
                                            Avatar { name: name.clone(), seed: contact.account_id.clone(), url: contact.avatar.clone(), size: 40 }
                                            div { class: "contact-text",
                                                div { class: "contact-name", dir: "auto", "{name}" }
                                                if !state.is_empty() { div { class: "hint", "{state}" } }
                                            }
                                            if contact.state == "accepted" {
                                                button { class: "secondary",
                                                    onclick: move |_| {
                                                        let id = id.clone();
                                                        spawn(async move {
                                                            match ipc::call(&OpenDirect { account_id: id }).await {
                                                                Ok(chat) => ctx.open(chat),
                                                                Err(err) => ctx.say(err.message),
                                                            }
                                                        });
                                                    },
                                                    "Message"
                                                }
                                            }
                                            button { class: "link",
                                                onclick: move |_| {
                                                    let args = SetBlocked { account_id: id2.clone(), blocked: !blocked };
                                                    spawn(async move {
                                                        if let Err(err) = ipc::call(&args).await { ctx.say(err.message); }
                                                        *ctx.contacts_version.write() += 1;
                                                    });
                                                },
                                                if blocked { "Unblock" } else { "Block" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    },
                    Some(Err(err)) => rsx! { p { class: "error", "{err.message}" } },
                    None => rsx! { div { class: "spinner" } },
                }
            }
        }
    }
}
