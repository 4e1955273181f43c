//! Messages: sending, editing, deleting, reacting, reading them and search.

use crate::error::ClientError;
use crate::profile::Profile;
use crate::views::{AttachmentView, ChatReceipts, MessageView};
use kith_core::MessageRow;
use kith_core::docs::{head, segment};
use kith_proto::{AccountId, ChatId, DocId, MessageId, Month};
use kith_store::SearchHit;
use std::collections::HashMap;

/// Messages: sending, editing, deleting, reacting, reading them and search.
#[derive(Clone, Copy, Debug)]
pub struct Messages<'p> {
    pub(crate) profile: &'p Profile,
}

impl Profile {
    /// Messages of this profile.
    pub fn messages(&self) -> Messages<'_> {
        Messages { profile: self }
    }
}

impl Messages<'_> {
    /// Sends a message; it is durable when this returns.
    pub fn send(&self, chat: &ChatId, text: &str, reply_to: Option<MessageId>) -> Result<MessageId, ClientError> {
        self.send_with(chat, text, reply_to, Vec::new())
    }

    /// Sends a message carrying attachments whose blobs are already in this
    /// profile (see `Blobs::attach`).
    pub fn send_with(
        &self,
        chat: &ChatId,
        text: &str,
        reply_to: Option<MessageId>,
        attachments: Vec<kith_core::Attachment>,
    ) -> Result<MessageId, ClientError> {
        self.profile.require_member(chat)?;
        if let Some(reply_to) = reply_to
            && self.profile.store().message(chat, &reply_to)?.is_none()
        {
            return Err(ClientError::NoSuchMessage(reply_to.to_string()));
        }
        let me = self.profile.identity().account_id();
        let device = self.profile.identity().device_id();
        let cert = self.profile.identity().certificate().clone();
        self.profile.write(|ctx| {
            // Members attribute changes through certificates published in the
            // head document; publish ours the first time we write here.
            let head_doc = ctx.doc(DocId::Head(*chat))?;
            if !head::has_device(head_doc, &device) {
                head::add_device(head_doc, &cert)?;
            }
            let id = MessageId::new(ctx.ts, &device);
            let doc = ctx.doc(DocId::Segment(*chat, Month::of(ctx.ts)))?;
            segment::send(
                doc,
                &segment::NewMessage {
                    id,
                    author: me,
                    device,
                    text: text.to_owned(),
                    reply_to,
                    attachments: attachments.clone(),
                },
            )?;
            Ok(id)
        })
    }

    fn message_doc(&self, chat: &ChatId, id: &MessageId) -> Result<DocId, ClientError> {
        self.profile.require_chat(chat)?;
        if self.profile.store().message(chat, id)?.is_none() {
            return Err(ClientError::NoSuchMessage(id.to_string()));
        }
        Ok(DocId::Segment(*chat, Month::of(id.ts())))
    }

    /// Edits one of this account's messages.
    pub fn edit(&self, chat: &ChatId, id: &MessageId, text: &str) -> Result<(), ClientError> {
        let doc_id = self.message_doc(chat, id)?;
        let me = self.profile.identity().account_id();
        self.profile.write(|ctx| {
            let ts = ctx.ts;
            segment::edit(ctx.doc(doc_id)?, id, &me, text, ts)?;
            Ok(())
        })
    }

    /// Deletes one of this account's messages for everyone.
    pub fn delete(&self, chat: &ChatId, id: &MessageId) -> Result<(), ClientError> {
        let doc_id = self.message_doc(chat, id)?;
        let me = self.profile.identity().account_id();
        let attachments = self
            .profile
            .store()
            .message(chat, id)?
            .map(|m| m.attachments)
            .unwrap_or_default();
        self.profile.write(|ctx| {
            let ts = ctx.ts;
            segment::delete(ctx.doc(doc_id)?, id, &me, ts)?;
            Ok(())
        })?;
        // Its files go now (not after the grace period for unsent ones).
        for attachment in attachments {
            self.profile.forget_blob_if_unreferenced(&attachment.hash)?;
        }
        Ok(())
    }

    /// Adds or removes a reaction.
    pub fn react(&self, chat: &ChatId, id: &MessageId, emoji: &str, remove: bool) -> Result<(), ClientError> {
        let doc_id = self.message_doc(chat, id)?;
        self.profile.require_member(chat)?;
        let me = self.profile.identity().account_id();
        self.profile.write(|ctx| {
            let ts = ctx.ts;
            segment::react(ctx.doc(doc_id)?, id, &me, emoji, remove, ts)?;
            Ok(())
        })
    }

    /// Marks everything in the chat as read.
    pub fn mark_read(&self, chat: &ChatId) -> Result<(), ClientError> {
        self.profile.require_chat(chat)?;
        let Some(latest) = self.profile.store().messages(chat, None, 1)?.pop() else {
            return Ok(());
        };
        let me = self.profile.identity().account_id();
        if self
            .profile
            .store()
            .read_position(chat, &me)?
            .is_some_and(|at| at >= latest.ts)
        {
            return Ok(());
        }
        self.profile.write(|ctx| {
            segment::mark_read(ctx.doc(DocId::Segment(*chat, Month::of(latest.ts)))?, &me, latest.ts)?;
            Ok(())
        })
    }

    fn view(
        &self,
        row: MessageRow,
        names: &mut HashMap<AccountId, Option<String>>,
        receipts: &ChatReceipts,
    ) -> Result<MessageView, ClientError> {
        let (status, receipts) = if row.author == self.profile.identity().account_id() {
            let (status, detail) = receipts.judge(row.ts);
            (Some(status), detail)
        } else {
            (None, Vec::new())
        };
        let route = if row.author == self.profile.identity().account_id()
            && row.device == self.profile.identity().device_id()
        {
            None
        } else {
            self.profile.store().message_route(&row.chat, &row.id)?
        };
        let author_name = match names.get(&row.author) {
            Some(name) => name.clone(),
            None => {
                let name = self.profile.store().profile_name(&row.author)?;
                names.insert(row.author, name.clone());
                name
            }
        };
        Ok(MessageView {
            id: row.id,
            chat_id: row.chat,
            author: row.author,
            author_name,
            text: row.text,
            ts: row.ts.millis(),
            reply_to: row.reply_to,
            edited: row.edited.is_some(),
            deleted: row.deleted,
            reactions: row
                .reactions
                .into_iter()
                .map(|(emoji, who)| (emoji, who.into_iter().collect()))
                .collect(),
            status,
            receipts,
            route,
            attachments: row
                .attachments
                .iter()
                .enumerate()
                .map(|(index, a)| Ok(AttachmentView::of(row.id, index, a, self.profile.blobs().has(&a.hash)?)))
                .collect::<Result<_, ClientError>>()?,
        })
    }

    /// Messages oldest first: the `limit` newest, or the `limit` before `before`.
    pub fn list(
        &self,
        chat: &ChatId,
        limit: usize,
        before: Option<&MessageId>,
    ) -> Result<Vec<MessageView>, ClientError> {
        // Messages of people this account blocked are not shown (on every
        // device: blocks live in the account document); unblocking shows them.
        let blocked = self.profile.contacts().blocked()?;
        self.page(chat, limit, before, &blocked)
    }

    /// Up to `limit` messages before `before` (oldest first) whose authors are
    /// not in `hidden`: pages are read until `limit` are found or the chat
    /// ends, so hidden messages never make a page look like the last one.
    pub(crate) fn page(
        &self,
        chat: &ChatId,
        limit: usize,
        before: Option<&MessageId>,
        hidden: &std::collections::BTreeSet<AccountId>,
    ) -> Result<Vec<MessageView>, ClientError> {
        self.profile.require_chat(chat)?;
        let mut names = HashMap::new();
        let mut rows = Vec::new();
        let mut cursor = before.copied();
        loop {
            // Newest first.
            let page = self.profile.store().messages(chat, cursor.as_ref(), limit)?;
            let ended = page.len() < limit;
            cursor = page.last().map(|row| row.id);
            rows.extend(page.into_iter().filter(|row| !hidden.contains(&row.author)));
            if ended || rows.len() >= limit {
                break;
            }
        }
        rows.truncate(limit);
        rows.reverse();
        let receipts = self.profile.chat_receipts(chat)?;
        rows.into_iter()
            .map(|row| self.view(row, &mut names, &receipts))
            .collect()
    }

    /// One message (for quoting it in a reply); `None` when this device does
    /// not hold it or its author is blocked.
    pub fn get(&self, chat: &ChatId, id: &MessageId) -> Result<Option<MessageView>, ClientError> {
        let Some(row) = self.profile.store().message(chat, id)? else {
            return Ok(None);
        };
        if self.profile.contacts().blocked()?.contains(&row.author) {
            return Ok(None);
        }
        let receipts = self.profile.chat_receipts(chat)?;
        Ok(Some(self.view(row, &mut HashMap::new(), &receipts)?))
    }

    /// Full-text search over all chats.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, ClientError> {
        Ok(self.profile.store().search(query, limit)?)
    }
}
