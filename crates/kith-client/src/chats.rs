//! Conversations: creating them, their names, descriptions, members, roles, settings and pictures, and the chat list.

use crate::error::ClientError;
use crate::profile::Profile;
use crate::random::random_bytes;
use crate::views::{ChatSummary, LastMessagePreview};
use kith_core::docs::{account, head};
use kith_core::{ChatKind, ChatSetting, Doc, Role};
use kith_proto::{AccountId, ChatId, DocId};

/// Conversations: creating them, their names, descriptions, members, roles, settings and pictures, and the chat list.
#[derive(Clone, Copy, Debug)]
pub struct Chats<'p> {
    pub(crate) profile: &'p Profile,
}

impl Profile {
    /// Conversations of this profile.
    pub fn chats(&self) -> Chats<'_> {
        Chats { profile: self }
    }
}

impl Chats<'_> {
    /// Creates a conversation with this account as owner.
    pub fn create(&self, name: &str, members: &[AccountId], kind: ChatKind) -> Result<ChatId, ClientError> {
        let nonce = random_bytes::<16>()?;
        let me = self.profile.identity().account_id();
        let chat = kith_core::schema::chat_id_for(&me, &nonce);
        let cert = self.profile.identity().certificate().clone();
        // The first epoch key: kept in the account document, so this
        // account's other devices hold it too.
        let key = kith_core::crypto::EpochKey::from_bytes(random_bytes::<32>()?);
        self.profile.write(|ctx| {
            let doc = ctx.doc(DocId::Head(chat))?;
            head::genesis(doc, &me, &nonce, kind, name, members, &cert)?;
            head::commit_epoch(doc, &me, 0, &key.key_id())?;
            account::set_chat_key(ctx.doc(DocId::Account(me))?, &chat, 0, &key)?;
            Ok(())
        })?;
        Ok(chat)
    }

    /// One operation on a conversation's head document, as this account.
    fn write_head(
        &self,
        chat: &ChatId,
        op: impl FnOnce(&mut Doc, &AccountId) -> Result<(), kith_core::DocError>,
    ) -> Result<(), ClientError> {
        self.profile.require_chat(chat)?;
        let me = self.profile.identity().account_id();
        self.profile.write(|ctx| Ok(op(ctx.doc(DocId::Head(*chat))?, &me)?))
    }

    /// Renames a conversation (admins).
    pub fn rename(&self, chat: &ChatId, name: &str) -> Result<(), ClientError> {
        self.write_head(chat, |doc, me| head::rename(doc, me, name))
    }

    /// Sets a group's description (admins).
    pub fn set_description(&self, chat: &ChatId, description: &str) -> Result<(), ClientError> {
        self.write_head(chat, |doc, me| head::set_description(doc, me, description))
    }

    /// Adds a member or changes a role (admins).
    pub fn set_role(&self, chat: &ChatId, member: &AccountId, role: Role) -> Result<(), ClientError> {
        self.write_head(chat, |doc, me| head::set_role(doc, me, member, role))
    }

    /// Removes a member (admins) or leaves (oneself). An admin who removes
    /// someone also starts a new key epoch: what is written from now on is
    /// sealed under a key the removed member never receives.
    pub fn remove_member(&self, chat: &ChatId, member: &AccountId) -> Result<(), ClientError> {
        self.profile.require_chat(chat)?;
        let me = self.profile.identity().account_id();
        let key = kith_core::crypto::EpochKey::from_bytes(random_bytes::<32>()?);
        self.profile.write(|ctx| {
            head::remove_member(ctx.doc(DocId::Head(*chat))?, &me, member)?;
            if *member != me {
                Profile::start_epoch(ctx, chat, &me, &key)?;
            }
            Ok(())
        })
    }

    /// Sets pinned, muted or archived for a chat (synced to own devices).
    pub fn set_flag(&self, chat: &ChatId, setting: ChatSetting, value: bool) -> Result<(), ClientError> {
        self.profile.require_chat(chat)?;
        let me = self.profile.identity().account_id();
        self.profile.write(|ctx| {
            account::set_chat_flag(ctx.doc(DocId::Account(me))?, chat, setting, value)?;
            Ok(())
        })
    }

    /// Saves the draft of a chat.
    pub fn set_draft(&self, chat: &ChatId, draft: &str) -> Result<(), ClientError> {
        self.profile.require_chat(chat)?;
        let me = self.profile.identity().account_id();
        self.profile.write(|ctx| {
            account::set_draft(ctx.doc(DocId::Account(me))?, chat, draft)?;
            Ok(())
        })
    }

    /// The chat list.
    pub fn list(&self) -> Result<Vec<ChatSummary>, ClientError> {
        let me = self.profile.identity().account_id();
        let entries = self.profile.store().chat_list(&me)?;
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            // A head a contact pushed of a chat we were never in is not ours.
            if !self.profile.store().was_member(&entry.chat.chat, &me)? {
                continue;
            }
            let name = if entry.chat.name.is_empty() && entry.chat.kind == ChatKind::Direct {
                let other = entry.chat.members.keys().find(|a| **a != me).copied();
                match other {
                    Some(other) => self
                        .profile
                        .store()
                        .profile_name(&other)?
                        .unwrap_or_else(|| other.to_string()),
                    None => String::new(),
                }
            } else {
                entry.chat.name.clone()
            };
            let last_message = match entry.last_message {
                Some(row) => Some(LastMessagePreview {
                    id: row.id,
                    author_name: self
                        .profile
                        .store()
                        .profile_name(&row.author)?
                        .unwrap_or_else(|| row.author.to_string()),
                    text: row.text,
                    ts: row.ts.millis(),
                }),
                None => None,
            };
            out.push(ChatSummary {
                chat_id: entry.chat.chat,
                name,
                kind: entry.chat.kind,
                last_message,
                unread: entry.unread,
                pinned: entry.settings.pinned,
                muted: entry.settings.muted,
                archived: entry.settings.archived,
                members: entry.chat.members,
                description: entry.chat.description,
                draft: entry.settings.draft,
                has_avatar: entry.has_avatar,
            });
        }
        Ok(out)
    }

    /// One row of the chat list.
    pub fn summary(&self, chat: &ChatId) -> Result<ChatSummary, ClientError> {
        self.list()?
            .into_iter()
            .find(|summary| summary.chat_id == *chat)
            .ok_or_else(|| ClientError::NoSuchChat(chat.to_string()))
    }
}
