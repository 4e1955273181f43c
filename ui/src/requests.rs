//! Finding people and answering strangers: the Requests list (name,
//! picture, first message, spam score and why; accept, ignore, block and
//! report), finding someone by username and sending them a request, and
//! the username this account holds (in Settings).

use crate::avatar::Avatar;
use crate::ipc;
use crate::state::Ctx;
use dioxus::prelude::*;
use kith_api::{
    AnswerRequest, ClaimUsername, FindPerson, FoundPersonDto, GetUsername, ListRequests, ReleaseUsername, SendRequest,
};

/// Message requests waiting for an answer (nothing when there are none).
#[component]
pub(crate) fn RequestsCard() -> Element {
    let mut ctx = use_context::<Ctx>();
    let requests = use_resource(move || async move {
        let _ = ctx.contacts_version.read();
        ipc::call(&ListRequests {}).await
    });
    let answer = move |account_id: String, answer: &'static str| async move {
        let report = (answer == "block").then(|| "spam or abuse (reported from the Requests list)".to_owned());
        match ipc::call(&AnswerRequest {
            account_id,
            answer: answer.to_owned(),
            report,
        })
        .await
        {
            Ok(()) => {
                *ctx.contacts_version.write() += 1;
                ctx.say(match answer {
                    "accept" => "Accepted: you are contacts once you sync.",
                    "ignore" => "Ignored. They are not told.",
                    _ => "Blocked and reported.",
                });
            }
            Err(err) => ctx.say(err.message),
        }
    };
    let Some(Ok(list)) = requests.read().clone() else {
        return rsx! {};
    };
    if list.is_empty() {
        return rsx! {};
    }
    rsx! {
        section { class: "card", id: "requests",
            h3 { "Requests ({list.len()})" }
            p { class: "hint", "People who are not your contacts. They see no read receipts, typing or online status until you accept." }
            ul { class: "contact-list",
                for request in list {
                    {
                        let name = request.name.clone().unwrap_or_else(|| "Someone".to_owned());
                        let how = if request.via == "group" {
                            format!("In {} of your groups", request.shared_groups)
                        } else {
                            "Found your username".to_owned()
                        };
                        let spam = (request.spam_score > 0.5).then(|| {
                            let why = if request.spam_reasons.is_empty() { String::new() } else { format!(": {}", request.spam_reasons.join(", ")) };
                            format!("Looks like spam ({:.0}%){why}", request.spam_score * 100.0)
                        });
                        let (accept, ignore, block) = (request.account_id.clone(), request.account_id.clone(), request.account_id.clone());
                        rsx! {
                            li { key: "{request.account_id}", class: "contact request",
                                Avatar { name: name.clone(), seed: request.account_id.clone(), url: request.avatar.clone(), size: 40 }
                                div { class: "contact-text grow",
                                    div { class: "contact-name", dir: "auto", "{name}" }
                                    div { class: "hint", "{how}" }
                                    p { class: "request-text", dir: "auto", "{request.text}" }
                                    if let Some(spam) = spam { div { class: "spam-warning", "{spam}" } }
                                    div { class: "invite-actions",
                                        button { class: "primary request-accept", onclick: move |_| answer(accept.clone(), "accept"), "Accept" }
                                        button { class: "secondary request-ignore", onclick: move |_| answer(ignore.clone(), "ignore"), "Ignore" }
                                        button { class: "link danger request-block", onclick: move |_| answer(block.clone(), "block"), "Block and report" }
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

/// Finds someone by their username and sends them a request.
#[component]
pub(crate) fn FindPersonCard() -> Element {
    let mut ctx = use_context::<Ctx>();
    let mut name = use_signal(String::new);
    let mut found = use_signal(|| None::<FoundPersonDto>);
    let mut message = use_signal(String::new);
    let mut error = use_signal(|| None::<String>);
    let find = move |_| async move {
        error.set(None);
        found.set(None);
        match ipc::call(&FindPerson { name: name() }).await {
            Ok(person) => found.set(Some(person)),
            Err(err) => error.set(Some(err.message)),
        }
    };
    let send = move |_| async move {
        let Some(person) = found() else { return };
        match ipc::call(&SendRequest {
            to: person.username.clone(),
            text: message(),
        })
        .await
        {
            Ok(_) => {
                found.set(None);
                name.set(String::new());
                message.set(String::new());
                *ctx.contacts_version.write() += 1;
                *ctx.chats_version.write() += 1;
                ctx.say("Request sent. You become contacts if they accept.");
            }
            Err(err) => error.set(Some(err.message)),
        }
    };
    rsx! {
        section { class: "card", id: "find-person",
            h3 { "Find someone by username" }
            form { class: "copy-row", onsubmit: move |e| e.prevent_default(),
                input { id: "find-username", r#type: "text", placeholder: "@username", value: "{name}", oninput: move |e| name.set(e.value()) }
                button { class: "secondary", id: "find-username-go", r#type: "submit", disabled: name().trim().is_empty(), onclick: find, "Find" }
            }
            if let Some(person) = found() {
                div { class: "found-person",
                    Avatar { name: person.username.clone(), seed: person.account_id.clone(), url: None, size: 40 }
                    div { class: "contact-text grow",
                        div { class: "contact-name", "@{person.username}" }
                        match person.relation.as_str() {
                            "none" => rsx! {
                                textarea { id: "request-message", rows: "2", placeholder: "Say who you are…", value: "{message}", oninput: move |e| message.set(e.value()) }
                                button { class: "primary", id: "send-request", disabled: message().trim().is_empty(), onclick: send, "Send request" }
                            },
                            "you" => rsx! { p { class: "hint", "That is you." } },
                            other => rsx! { p { class: "hint", "Already in your contacts ({other})." } },
                        }
                    }
                }
            }
            if let Some(message) = error() { p { class: "error", role: "alert", "{message}" } }
        }
    }
}

/// The username row of Settings.
#[component]
pub(crate) fn UsernameSetting() -> Element {
    let ctx = use_context::<Ctx>();
    let mut version = use_signal(|| 0u32);
    let current = use_resource(move || async move {
        let _ = version.read();
        ipc::call(&GetUsername {}).await
    });
    let mut typed = use_signal(String::new);
    let claim = move |_| async move {
        match ipc::call(&ClaimUsername { name: typed() }).await {
            Ok(name) => {
                typed.set(String::new());
                *version.write() += 1;
                ctx.say(format!("You are @{name}"));
            }
            Err(err) => ctx.say(err.message),
        }
    };
    let release = move |_| async move {
        match ipc::call(&ReleaseUsername {}).await {
            Ok(()) => {
                *version.write() += 1;
                ctx.say("Username released");
            }
            Err(err) => ctx.say(err.message),
        }
    };
    let held = match &*current.read() {
        Some(Ok(name)) => name.clone(),
        _ => None,
    };
    rsx! {
        section { class: "card", id: "settings-username",
            h3 { "Username" }
            p { class: "hint", "Optional. People who know it can find you and send you a request; the server keeps only a hash of it." }
            if let Some(name) = held {
                div { class: "copy-row",
                    span { class: "username", id: "current-username", "@{name}" }
                    button { class: "link", id: "release-username", onclick: release, "Release" }
                }
            }
            div { class: "copy-row",
                input { id: "settings-username-input", r#type: "text", maxlength: "32", placeholder: "a-z, 0-9, _ and .", value: "{typed}", oninput: move |e| typed.set(e.value()) }
                button { class: "secondary", id: "claim-username", disabled: typed().trim().is_empty(), onclick: claim, "Claim" }
            }
        }
    }
}
