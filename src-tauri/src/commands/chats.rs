//! Chat list and chat settings commands.

use super::{Reply, account_id, chat_id, on_profile};
use crate::backend::Backend;
use crate::convert::{self, Names};
use crate::error::IntoApi;
use kith_api::*;
use kith_client::ChatSetting;
use std::sync::Arc;
use tauri::State;

/// `list_chats`: pinned first, then newest activity first.
#[tauri::command]
pub async fn list_chats(backend: State<'_, Arc<Backend>>, args: ListChats) -> Reply<ListChats> {
    on_profile(&backend, move |profile| {
        let me_name = profile.info().api()?.name;
        let mut rows = Vec::new();
        for summary in profile.chats().list().api()? {
            if summary.archived == args.archived {
                rows.push(convert::chat_row(profile, summary, &me_name)?);
            }
        }
        rows.sort_by(|a, b| b.pinned.cmp(&a.pinned).then(b.last_ts.cmp(&a.last_ts)));
        Ok(rows)
    })
    .await
}

/// `create_group`
#[tauri::command]
pub async fn create_group(backend: State<'_, Arc<Backend>>, args: CreateGroup) -> Reply<CreateGroup> {
    let name = args.name.trim().to_owned();
    if name.is_empty() {
        return Err(ApiError::invalid("Give the group a name."));
    }
    let members = args
        .members
        .iter()
        .map(|m| account_id(m))
        .collect::<Result<Vec<_>, _>>()?;
    let chat = on_profile(&backend, move |profile| {
        profile
            .chats()
            .create(&name, &members, kith_client::ChatKind::Group)
            .api()
    })
    .await?;
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(chat.to_string())
}

/// `open_direct`
#[tauri::command]
pub async fn open_direct(backend: State<'_, Arc<Backend>>, args: OpenDirect) -> Reply<OpenDirect> {
    let account = account_id(&args.account_id)?;
    let chat = on_profile(&backend, move |profile| profile.contacts().direct_chat(&account).api()).await?;
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(chat.to_string())
}

/// `chat_details`
#[tauri::command]
pub async fn chat_details(backend: State<'_, Arc<Backend>>, args: GetChatDetails) -> Reply<GetChatDetails> {
    let chat = chat_id(&args.chat_id)?;
    on_profile(&backend, move |profile| {
        let summary = profile.chats().summary(&chat).api()?;
        let me = profile.identity().account_id();
        let mut names = Names::default();
        let mut members: Vec<MemberDto> = summary
            .members
            .iter()
            .map(|(account, role)| convert::member(profile, account, *role, &mut names))
            .collect();
        members.sort_by(|a, b| b.role.cmp(&a.role).then(a.name.cmp(&b.name)));
        let avatar = match summary.kind {
            kith_client::ChatKind::Group => convert::chat_avatar_of(profile, &summary.chat_id)?,
            kith_client::ChatKind::Direct => members.iter().find(|m| !m.is_me).and_then(|m| m.avatar.clone()),
        };
        Ok(ChatDetails {
            avatar,
            chat_id: args.chat_id,
            my_role: summary.members.get(&me).copied().map(convert::role),
            name: summary.name,
            description: summary.description,
            kind: convert::chat_kind(summary.kind),
            members,
            draft: summary.draft,
            pinned: summary.pinned,
            muted: summary.muted,
            archived: summary.archived,
        })
    })
    .await
}

/// `save_draft`
#[tauri::command]
pub async fn save_draft(backend: State<'_, Arc<Backend>>, args: SaveDraft) -> Reply<SaveDraft> {
    let chat = chat_id(&args.chat_id)?;
    on_profile(&backend, move |profile| {
        profile.chats().set_draft(&chat, &args.text).api()
    })
    .await?;
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(())
}

/// `set_chat_flag`
#[tauri::command]
pub async fn set_chat_flag(backend: State<'_, Arc<Backend>>, args: SetChatFlag) -> Reply<SetChatFlag> {
    let setting = match args.flag {
        ChatFlag::Pinned => ChatSetting::Pinned,
        ChatFlag::Muted => ChatSetting::Muted,
        ChatFlag::Archived => ChatSetting::Archived,
    };
    let chat = chat_id(&args.chat_id)?;
    let shared = Arc::clone(&backend.shared);
    on_profile(&backend, move |profile| {
        profile.chats().set_flag(&chat, setting, args.value).api()?;
        crate::worker::refresh_unread(profile, &shared);
        Ok(())
    })
    .await?;
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(())
}

/// `rename_chat`
#[tauri::command]
pub async fn rename_chat(backend: State<'_, Arc<Backend>>, args: RenameChat) -> Reply<RenameChat> {
    let name = args.name.trim().to_owned();
    if name.is_empty() {
        return Err(ApiError::invalid("The name cannot be empty."));
    }
    let chat = chat_id(&args.chat_id)?;
    on_profile(&backend, move |profile| profile.chats().rename(&chat, &name).api()).await?;
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(())
}

/// `set_description`
#[tauri::command]
pub async fn set_description(backend: State<'_, Arc<Backend>>, args: SetDescription) -> Reply<SetDescription> {
    let chat = chat_id(&args.chat_id)?;
    on_profile(&backend, move |profile| {
        profile.chats().set_description(&chat, args.description.trim()).api()
    })
    .await?;
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(())
}

/// `set_member_role` (also adds a member)
#[tauri::command]
pub async fn set_member_role(backend: State<'_, Arc<Backend>>, args: SetMemberRole) -> Reply<SetMemberRole> {
    let chat = chat_id(&args.chat_id)?;
    let member = account_id(&args.account_id)?;
    let role = convert::client_role(args.role);
    on_profile(&backend, move |profile| {
        profile.chats().set_role(&chat, &member, role).api()
    })
    .await?;
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(())
}

/// `remove_member`
#[tauri::command]
pub async fn remove_member(backend: State<'_, Arc<Backend>>, args: RemoveMember) -> Reply<RemoveMember> {
    let chat = chat_id(&args.chat_id)?;
    let member = account_id(&args.account_id)?;
    on_profile(&backend, move |profile| {
        profile.chats().remove_member(&chat, &member).api()
    })
    .await?;
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(())
}

/// `leave_chat`
#[tauri::command]
pub async fn leave_chat(backend: State<'_, Arc<Backend>>, args: LeaveChat) -> Reply<LeaveChat> {
    let chat = chat_id(&args.chat_id)?;
    on_profile(&backend, move |profile| {
        let me = profile.identity().account_id();
        profile.chats().remove_member(&chat, &me).api()
    })
    .await?;
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(())
}

/// `focus_chat`
#[tauri::command]
pub async fn focus_chat(backend: State<'_, Arc<Backend>>, args: FocusChat) -> Reply<FocusChat> {
    backend.shared.set_focused_chat(args.chat_id);
    Ok(())
}

/// `set_chat_avatar`: the body is [`kith_api::raw_body`] framed.
#[tauri::command]
pub async fn set_chat_avatar(
    backend: State<'_, Arc<Backend>>,
    request: tauri::ipc::Request<'_>,
) -> Reply<SetChatAvatar> {
    let tauri::ipc::InvokeBody::Raw(body) = request.body() else {
        return Err(ApiError::invalid("The picture did not arrive as bytes."));
    };
    let (args, bytes) = kith_api::raw_body::split::<SetChatAvatar>(body)?;
    if !args.remove && bytes.is_empty() {
        return Err(ApiError::invalid("Pick a picture first."));
    }
    let picture = (!args.remove).then(|| bytes.to_vec());
    let chat = chat_id(&args.chat_id)?;
    on_profile(&backend, move |profile| {
        profile.chats().set_avatar(&chat, picture.as_deref()).api()
    })
    .await?;
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(())
}
