//! Chat list and chat settings commands.

use super::{Reply, account_id, blocking, chat_id};
use crate::backend::Backend;
use crate::convert::{self, Names};
use crate::error::IntoApi;
use kith_api::*;
use kith_client::ChatSetting;
use tauri::State;

/// `list_chats`: pinned first, then newest activity first.
#[tauri::command]
pub async fn list_chats(backend: State<'_, Backend>, args: ListChats) -> Reply<ListChats> {
    let profile = backend.profile()?;
    let me_name = profile.info().api()?.name;
    let mut rows = Vec::new();
    for summary in profile.chats().list().api()? {
        if summary.archived == args.archived {
            rows.push(convert::chat_row(&profile, summary, &me_name)?);
        }
    }
    rows.sort_by(|a, b| b.pinned.cmp(&a.pinned).then(b.last_ts.cmp(&a.last_ts)));
    Ok(rows)
}

/// `create_group`
#[tauri::command]
pub async fn create_group(backend: State<'_, Backend>, args: CreateGroup) -> Reply<CreateGroup> {
    let profile = backend.profile()?;
    let name = args.name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid("Give the group a name."));
    }
    let members = args
        .members
        .iter()
        .map(|m| account_id(m))
        .collect::<Result<Vec<_>, _>>()?;
    let chat = profile
        .chats()
        .create(name, &members, kith_client::ChatKind::Group)
        .api()?;
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(chat.to_string())
}

/// `open_direct`
#[tauri::command]
pub async fn open_direct(backend: State<'_, Backend>, args: OpenDirect) -> Reply<OpenDirect> {
    let profile = backend.profile()?;
    let chat = profile.contacts().direct_chat(&account_id(&args.account_id)?).api()?;
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(chat.to_string())
}

/// `chat_details`
#[tauri::command]
pub async fn chat_details(backend: State<'_, Backend>, args: GetChatDetails) -> Reply<GetChatDetails> {
    let profile = backend.profile()?;
    let summary = profile.chats().summary(&chat_id(&args.chat_id)?).api()?;
    let me = profile.identity().account_id();
    let mut names = Names::default();
    let mut members: Vec<MemberDto> = summary
        .members
        .iter()
        .map(|(account, role)| convert::member(&profile, account, *role, &mut names))
        .collect();
    members.sort_by(|a, b| b.role.cmp(&a.role).then(a.name.cmp(&b.name)));
    let avatar = match summary.kind {
        kith_client::ChatKind::Group => convert::chat_avatar_of(&profile, &summary.chat_id)?,
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
}

/// `save_draft`
#[tauri::command]
pub async fn save_draft(backend: State<'_, Backend>, args: SaveDraft) -> Reply<SaveDraft> {
    backend
        .profile()?
        .chats()
        .set_draft(&chat_id(&args.chat_id)?, &args.text)
        .api()?;
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(())
}

/// `set_chat_flag`
#[tauri::command]
pub async fn set_chat_flag(backend: State<'_, Backend>, args: SetChatFlag) -> Reply<SetChatFlag> {
    let setting = match args.flag {
        ChatFlag::Pinned => ChatSetting::Pinned,
        ChatFlag::Muted => ChatSetting::Muted,
        ChatFlag::Archived => ChatSetting::Archived,
    };
    let profile = backend.profile()?;
    profile
        .chats()
        .set_flag(&chat_id(&args.chat_id)?, setting, args.value)
        .api()?;
    backend.shared.emit(AppEvent::ChatsChanged);
    crate::worker::refresh_unread(&profile, &backend.shared);
    Ok(())
}

/// `rename_chat`
#[tauri::command]
pub async fn rename_chat(backend: State<'_, Backend>, args: RenameChat) -> Reply<RenameChat> {
    let name = args.name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid("The name cannot be empty."));
    }
    backend
        .profile()?
        .chats()
        .rename(&chat_id(&args.chat_id)?, name)
        .api()?;
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(())
}

/// `set_description`
#[tauri::command]
pub async fn set_description(backend: State<'_, Backend>, args: SetDescription) -> Reply<SetDescription> {
    backend
        .profile()?
        .chats()
        .set_description(&chat_id(&args.chat_id)?, args.description.trim())
        .api()?;
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(())
}

/// `set_member_role` (also adds a member)
#[tauri::command]
pub async fn set_member_role(backend: State<'_, Backend>, args: SetMemberRole) -> Reply<SetMemberRole> {
    let chat = chat_id(&args.chat_id)?;
    let member = account_id(&args.account_id)?;
    backend
        .profile()?
        .chats()
        .set_role(&chat, &member, convert::client_role(args.role))
        .api()?;
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(())
}

/// `remove_member`
#[tauri::command]
pub async fn remove_member(backend: State<'_, Backend>, args: RemoveMember) -> Reply<RemoveMember> {
    let chat = chat_id(&args.chat_id)?;
    backend
        .profile()?
        .chats()
        .remove_member(&chat, &account_id(&args.account_id)?)
        .api()?;
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(())
}

/// `leave_chat`
#[tauri::command]
pub async fn leave_chat(backend: State<'_, Backend>, args: LeaveChat) -> Reply<LeaveChat> {
    let profile = backend.profile()?;
    let me = profile.identity().account_id();
    profile.chats().remove_member(&chat_id(&args.chat_id)?, &me).api()?;
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(())
}

/// `focus_chat`
#[tauri::command]
pub async fn focus_chat(backend: State<'_, Backend>, args: FocusChat) -> Reply<FocusChat> {
    backend.shared.set_focused_chat(args.chat_id);
    Ok(())
}

/// `set_chat_avatar`: the body is [`kith_api::raw_body`] framed.
#[tauri::command]
pub async fn set_chat_avatar(backend: State<'_, Backend>, request: tauri::ipc::Request<'_>) -> Reply<SetChatAvatar> {
    let tauri::ipc::InvokeBody::Raw(body) = request.body() else {
        return Err(ApiError::invalid("The picture did not arrive as bytes."));
    };
    let (args, bytes) = kith_api::raw_body::split::<SetChatAvatar>(body)?;
    if !args.remove && bytes.is_empty() {
        return Err(ApiError::invalid("Pick a picture first."));
    }
    let picture = (!args.remove).then(|| bytes.to_vec());
    let profile = backend.profile()?;
    let chat = chat_id(&args.chat_id)?;
    blocking(move || profile.chats().set_avatar(&chat, picture.as_deref()).api()).await?;
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(())
}
