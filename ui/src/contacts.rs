//! Contacts: your invite link and QR code, one-time links and the state of
//! every link, adding someone by link, the list, people you may know.

use crate::avatar::Avatar;
use crate::ipc;
use crate::requests::{FindPersonCard, RequestsCard};
use crate::state::Ctx;
use dioxus::prelude::*;
use kith_api::{
    AddContact, ListContacts, ListInviteLinks, NewInviteLink, OpenDirect, QrCode, RevokeInviteLink, SendRequest,
    SetBlocked, SuggestedPeople,
};

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
    let mut links_version = use_signal(|| 0u32);
    let links = use_resource(move || async move {
        let _ = links_version.read();
        let _ = ctx.me.read();
        // A contact added through a link is a use of it.
        let _ = ctx.contacts_version.read();
        ipc::call(&ListInviteLinks {}).await
    });
    let people = use_resource(move || async move {
        let _ = ctx.contacts_version.read();
        ipc::call(&SuggestedPeople {}).await
    });
    let mut one_time = use_signal(|| None::<String>);
    let new_link = move |once: bool| async move {
        match ipc::call(&NewInviteLink { once }).await {
            Ok(link) => {
                if once {
                    one_time.set(link.link);
                } else {
                    ctx.say("New personal link made; the old one no longer works.");
                }
                *links_version.write() += 1;
            }
            Err(err) => ctx.say(err.message),
        }
    };
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
    // The one-time link stays on screen until someone has used it.
    let one_time_live = one_time().filter(|shown| {
        matches!(&*links.read(), Some(Ok(list)) if list.iter().any(|l| l.link.as_deref() == Some(shown.as_str())))
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

    // One click: a request with a first message saying where they met.
    let ask = move |account_id: String, groups: String| async move {
        let text = format!("Hi! We're both in {groups}.");
        match ipc::call(&SendRequest { to: account_id, text }).await {
            Ok(_) => {
                *ctx.contacts_version.write() += 1;
                *ctx.chats_version.write() += 1;
                ctx.say("Request sent. You become contacts if they accept.");
            }
            Err(err) => ctx.say(err.message),
        }
    };

    rsx! {
        div { class: "page",
            RequestsCard {}
            h1 { "Contacts" }
            section { class: "card invite-card",
                div { class: "invite-text",
                    h3 { "Your invite" }
                    p { class: "hint", "Share this link (or let them scan the code). Whoever opens it can message you." }
                    div { class: "copy-row",
                        input { id: "invite-link", r#type: "text", readonly: true, value: "{invite}" }
                        button { class: "secondary", onclick: move |_| { ipc::copy_to_clipboard(&invite); ctx.say("Invite link copied"); }, "Copy" }
                    }
                    div { class: "invite-actions",
                        button { class: "link", id: "one-time-link", onclick: move |_| new_link(true), "Make a one-time link" }
                        button { class: "link", id: "replace-link", onclick: move |_| new_link(false), "Replace my link" }
                    }
                    if let Some(once) = one_time_live {
                        p { class: "hint", "Works for one person:" }
                        div { class: "copy-row",
                            input { id: "one-time-link-text", r#type: "text", readonly: true, value: "{once}" }
                            button { class: "secondary", onclick: move |_| { ipc::copy_to_clipboard(&once); ctx.say("One-time link copied"); }, "Copy" }
                        }
                    }
                }
                div { class: "qr", "aria-label": "Invite QR code",
                    if let Some(Ok(svg)) = qr.read().clone() {
                        // SVG drawn by the shell from the invite link; no user text in it.
                        div { dangerous_inner_html: "{svg}" }
                    }
                }
            }
            section { class: "card", id: "invite-links",
                h3 { "Your links" }
                match &*links.read() {
                    Some(Ok(list)) => rsx! {
                        ul { class: "link-list",
                            for link in list.clone() {
                                {
                                    let detail = link_detail(&link);
                                    let id = link.id.clone();
                                    rsx! {
                                        li { key: "{link.id}", class: "invite-link-row {link.state}",
                                            div { class: "contact-text",
                                                div { class: "contact-name", if link.kind == "personal" { "Personal link" } else { "One-time link" } }
                                                div { class: "hint", "{detail}" }
                                            }
                                            if link.state == "live" {
                                                button { class: "link",
                                                    onclick: move |_| {
                                                        let args = RevokeInviteLink { id: id.clone() };
                                                        spawn(async move {
                                                            match ipc::call(&args).await {
                                                                Ok(_) => ctx.say("Revoked. Whoever uses it is told so."),
                                                                Err(err) => ctx.say(err.message),
                                                            }
                                                            *links_version.write() += 1;
                                                        });
                                                    },
                                                    "Revoke"
                                                }
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
            FindPersonCard {}
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
                                    let refused = contact.refusal.clone().map(|why| format!("Their link did not work: {why}."));
                                    let state = match contact.state.as_str() {
                                        "pending" => "waiting for their device",
                                        "blocked" => "blocked",
                                        "deleted" => "deleted their account",
                                        "refused" => refused.as_deref().unwrap_or("their link did not work"),
                                        _ => "",
                                    }
                                    .to_owned();
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
            if let Some(Ok(list)) = people.read().clone() && !list.is_empty() {
                section { class: "card", id: "people-you-may-know",
                    h3 { "People you may know" }
                    p { class: "hint", "In your groups but not your contacts." }
                    ul { class: "contact-list",
                        for person in list {
                            {
                                let name = person.name.clone().unwrap_or_else(|| format!("{}…", person.account_id.chars().take(8).collect::<String>()));
                                let groups = person.shared_groups.join(", ");
                                let (account, shared) = (person.account_id.clone(), groups.clone());
                                rsx! {
                                    li { key: "{person.account_id}", class: "contact suggested-person",
                                        Avatar { name: name.clone(), seed: person.account_id.clone(), url: None, size: 40 }
                                        div { class: "contact-text grow",
                                            div { class: "contact-name", dir: "auto", "{name}" }
                                            div { class: "hint", dir: "auto", "In {groups}" }
                                        }
                                        button { class: "secondary send-suggested-request", onclick: move |_| ask(account.clone(), shared.clone()), "Send request" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// "Used by 3 · 1 tried it since" and the like.
fn link_detail(link: &kith_api::InviteLinkDto) -> String {
    let state = match link.state.as_str() {
        "live" => "Works",
        "revoked" => "Revoked",
        "used" => "Used",
        "expired" => "Expired",
        other => other,
    };
    let mut out = format!("{state} · used by {}", link.uses);
    if link.refused_attempts > 0 {
        out.push_str(&format!(" · {} tried it since", link.refused_attempts));
    }
    out
}
