//! New group, and the chat settings panel (name, description, members,
//! roles, pin/mute/archive, leave).

use crate::avatar::Avatar;
use crate::ipc;
use crate::state::Ctx;
use dioxus::prelude::*;
use kith_api::{
    ChatFlag, ChatKind, CreateGroup, GetChatDetails, LeaveChat, ListContacts, RemoveMember, RenameChat, Role,
    SetChatAvatar, SetChatFlag, SetDescription, SetMemberRole,
};

/// Creating a group: a name and members from the contacts.
#[component]
pub(crate) fn NewGroup() -> Element {
    let mut ctx = use_context::<Ctx>();
    let mut name = use_signal(String::new);
    let mut chosen = use_signal(Vec::<String>::new);
    let mut error = use_signal(|| None::<String>);
    let contacts = use_resource(move || async move {
        let _ = ctx.contacts_version.read();
        ipc::call(&ListContacts {}).await
    });
    let accepted: Vec<_> = match &*contacts.read() {
        Some(Ok(list)) => list.iter().filter(|c| c.state == "accepted").cloned().collect(),
        _ => Vec::new(),
    };
    let create = move |_| async move {
        match ipc::call(&CreateGroup {
            name: name(),
            members: chosen(),
        })
        .await
        {
            Ok(chat_id) => ctx.open(chat_id),
            Err(err) => error.set(Some(err.message)),
        }
    };
    rsx! {
        div { class: "sheet",
            h2 { "New group" }
            form { class: "stack", onsubmit: move |e| e.prevent_default(),
                label { r#for: "group-name", "Group name" }
                input { id: "group-name", r#type: "text", maxlength: "100", autofocus: true, placeholder: "Book club",
                    value: "{name}", oninput: move |e| name.set(e.value()) }
                label { "Members" }
                if accepted.is_empty() {
                    p { class: "hint", "Add contacts first (Contacts → Add by link) to invite them; you can also start the group alone." }
                }
                div { class: "pick-list",
                    for contact in accepted {
                        {
                            let id = contact.account_id.clone();
                            let checked = chosen.read().contains(&id);
                            let label = contact.name.clone().unwrap_or_else(|| id.chars().take(8).collect());
                            rsx! {
                                label { key: "{id}", class: "pick",
                                    input { r#type: "checkbox", checked,
                                        onchange: move |_| {
                                            let mut list = chosen.write();
                                            if let Some(pos) = list.iter().position(|x| *x == id) { list.remove(pos); } else { list.push(id.clone()); }
                                        }
                                    }
                                    Avatar { name: label.clone(), seed: contact.account_id.clone(), url: contact.avatar.clone(), size: 28 }
                                    span { "{label}" }
                                }
                            }
                        }
                    }
                }
                div { class: "row",
                    button { class: "secondary", r#type: "button", onclick: move |_| ctx.new_group.set(false), "Cancel" }
                    button { class: "primary", id: "group-create", r#type: "submit", disabled: name().trim().is_empty(), onclick: create, "Create group" }
                }
                if let Some(message) = error() { p { class: "error", "{message}" } }
            }
        }
    }
}

/// The right-hand panel with a chat's settings.
#[component]
pub(crate) fn GroupPanel(chat_id: String) -> Element {
    let mut ctx = use_context::<Ctx>();
    let mut version = use_signal(|| 0u64);
    let chat = chat_id.clone();
    let details = use_resource(move || {
        let chat_id = chat.clone();
        async move {
            let _ = ctx.chats_version.read();
            let _ = version.read();
            ipc::call(&GetChatDetails { chat_id }).await
        }
    });
    let contacts = use_resource(move || async move { ipc::call(&ListContacts {}).await });
    let mut name = use_signal(|| None::<String>);
    let mut description = use_signal(|| None::<String>);
    let mut adding = use_signal(String::new);

    let Some(Ok(details)) = details.read().clone() else {
        return rsx! { aside { class: "panel", div { class: "spinner" } } };
    };
    let admin = matches!(details.my_role, Some(Role::Admin | Role::Owner));
    let group = details.kind == ChatKind::Group;
    let run = move |future: std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), kith_api::ApiError>>>>| {
        spawn(async move {
            match future.await {
                Ok(()) => *version.write() += 1,
                Err(err) => ctx.say(err.message),
            }
        });
    };
    let flag = {
        let chat_id = chat_id.clone();
        move |flag: ChatFlag, value: bool| {
            let args = SetChatFlag {
                chat_id: chat_id.clone(),
                flag,
                value,
            };
            run(Box::pin(async move { ipc::call(&args).await }));
        }
    };
    let members_ids: Vec<String> = details.members.iter().map(|m| m.account_id.clone()).collect();
    let candidates: Vec<_> = match &*contacts.read() {
        Some(Ok(list)) => list
            .iter()
            .filter(|c| c.state == "accepted" && !members_ids.contains(&c.account_id))
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    let shown_name = name.read().clone().unwrap_or_else(|| details.name.clone());
    let shown_description = description
        .read()
        .clone()
        .unwrap_or_else(|| details.description.clone());

    rsx! {
        aside { class: "panel", id: "group-panel",
            header { class: "panel-header",
                h3 { if group { "Group settings" } else { "Chat settings" } }
                button { class: "icon-button", title: "Close", "aria-label": "Close", onclick: move |_| ctx.group_panel.set(false), crate::icons::Icon { glyph: crate::icons::Glyph::Close, size: 16 } }
            }
            div { class: "panel-body",
                div { class: "panel-hero",
                    Avatar { name: details.name.clone(), seed: chat_id.clone(), url: details.avatar.clone(), size: 72 }
                    if group && admin {
                        div { class: "row picture-actions",
                            label { class: "file-button", id: "group-picture",
                                if details.avatar.is_some() { "Change picture…" } else { "Add a picture…" }
                                input { r#type: "file", accept: "image/*",
                                    onchange: {
                                        let chat_id = chat_id.clone();
                                        move |event: FormEvent| {
                                            let Some(file) = event.files().into_iter().next() else { return };
                                            let Some(file) = file.inner().downcast_ref::<web_sys::File>().cloned() else { return };
                                            let args = SetChatAvatar { chat_id: chat_id.clone(), remove: false };
                                            run(Box::pin(async move {
                                                let bytes = ipc::file_bytes(&file).await?;
                                                ipc::call_with_bytes(&args, &bytes).await
                                            }));
                                        }
                                    },
                                }
                            }
                            if details.avatar.is_some() {
                                button { class: "link", id: "group-picture-remove",
                                    onclick: {
                                        let chat_id = chat_id.clone();
                                        move |_| {
                                            let args = SetChatAvatar { chat_id: chat_id.clone(), remove: true };
                                            run(Box::pin(async move {
                                                ipc::call_with_bytes(&args, &js_sys::Uint8Array::new_with_length(0)).await
                                            }));
                                        }
                                    },
                                    "Remove"
                                }
                            }
                        }
                    }
                }
                if group && admin {
                    label { "Name" }
                    input { id: "group-rename", r#type: "text", maxlength: "100", value: "{shown_name}",
                        oninput: move |e| name.set(Some(e.value())),
                        onchange: {
                            let chat_id = chat_id.clone();
                            move |e: FormEvent| {
                                let args = RenameChat { chat_id: chat_id.clone(), name: e.value() };
                                run(Box::pin(async move { ipc::call(&args).await }));
                            }
                        }
                    }
                    label { "Description" }
                    textarea { rows: "3", maxlength: "1000", value: "{shown_description}",
                        placeholder: "What is this group about?",
                        oninput: move |e| description.set(Some(e.value())),
                        onchange: {
                            let chat_id = chat_id.clone();
                            move |e: FormEvent| {
                                let args = SetDescription { chat_id: chat_id.clone(), description: e.value() };
                                run(Box::pin(async move { ipc::call(&args).await }));
                            }
                        }
                    }
                } else {
                    h2 { class: "panel-title", dir: "auto", "{details.name}" }
                    if !details.description.is_empty() { p { class: "description", dir: "auto", "{details.description}" } }
                }
                div { class: "toggles",
                    Toggle { label: "Pin to top", on: details.pinned, onchange: { let flag = flag.clone(); move |v| flag(ChatFlag::Pinned, v) } }
                    Toggle { label: "Mute notifications", on: details.muted, onchange: { let flag = flag.clone(); move |v| flag(ChatFlag::Muted, v) } }
                    Toggle { label: "Archive", on: details.archived, onchange: { let flag = flag.clone(); move |v| flag(ChatFlag::Archived, v) } }
                }
                h4 { "{details.members.len()} members" }
                ul { class: "members",
                    for member in details.members.clone() {
                        li { key: "{member.account_id}", class: "member",
                            Avatar { name: member.name.clone(), seed: member.account_id.clone(), url: member.avatar.clone(), size: 32 }
                            span { class: "member-name", dir: "auto", if member.is_me { "You" } else { "{member.name}" } }
                            if group && admin && !member.is_me {
                                select { class: "role",
                                    value: role_value(member.role),
                                    onchange: {
                                        let chat_id = chat_id.clone();
                                        let account_id = member.account_id.clone();
                                        move |e: FormEvent| {
                                            let role = match e.value().as_str() { "owner" => Role::Owner, "admin" => Role::Admin, _ => Role::Member };
                                            let args = SetMemberRole { chat_id: chat_id.clone(), account_id: account_id.clone(), role };
                                            run(Box::pin(async move { ipc::call(&args).await }));
                                        }
                                    },
                                    option { value: "member", "Member" }
                                    option { value: "admin", "Admin" }
                                    option { value: "owner", "Owner" }
                                }
                                button { class: "icon-button danger", title: "Remove from group", "aria-label": "Remove",
                                    onclick: {
                                        let args = RemoveMember { chat_id: chat_id.clone(), account_id: member.account_id.clone() };
                                        move |_| { let args = args.clone(); run(Box::pin(async move { ipc::call(&args).await })); }
                                    },
                                    "✕"
                                }
                            } else {
                                span { class: "role-label", {role_label(member.role)} }
                            }
                        }
                    }
                }
                if group && admin && !candidates.is_empty() {
                    div { class: "row",
                        select { value: "{adding}", onchange: move |e| adding.set(e.value()),
                            option { value: "", "Add a contact…" }
                            for contact in candidates {
                                option { key: "{contact.account_id}", value: "{contact.account_id}",
                                    {contact.name.clone().unwrap_or_else(|| contact.account_id.chars().take(8).collect())}
                                }
                            }
                        }
                        button { class: "secondary", disabled: adding.read().is_empty(),
                            onclick: {
                                let chat_id = chat_id.clone();
                                move |_| {
                                    let args = SetMemberRole { chat_id: chat_id.clone(), account_id: adding(), role: Role::Member };
                                    adding.set(String::new());
                                    run(Box::pin(async move { ipc::call(&args).await }));
                                }
                            },
                            "Add"
                        }
                    }
                }
                if group && details.my_role.is_some() {
                    button { class: "danger wide", id: "leave-group",
                        onclick: {
                            let args = LeaveChat { chat_id: chat_id.clone() };
                            move |_| {
                                let args = args.clone();
                                spawn(async move {
                                    match ipc::call(&args).await {
                                        Ok(()) => { ctx.group_panel.set(false); ctx.open_chat.set(None); }
                                        Err(err) => ctx.say(err.message),
                                    }
                                });
                            }
                        },
                        "Leave group"
                    }
                }
            }
        }
    }
}

fn role_value(role: Role) -> &'static str {
    match role {
        Role::Member => "member",
        Role::Admin => "admin",
        Role::Owner => "owner",
    }
}

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Member => "",
        Role::Admin => "Admin",
        Role::Owner => "Owner",
    }
}

/// A labelled switch.
#[component]
pub(crate) fn Toggle(label: String, on: bool, onchange: EventHandler<bool>) -> Element {
    rsx! {
        label { class: "toggle",
            span { "{label}" }
            input { r#type: "checkbox", role: "switch", checked: on, onchange: move |e: FormEvent| onchange.call(e.checked()) }
        }
    }
}
