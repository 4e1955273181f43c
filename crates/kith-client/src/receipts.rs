//! Message status for one's own messages: sent (durable here), uploaded (on
//! the sync server), delivered (some recipient's devices hold it), read (a
//! recipient read it), with the detail per recipient.
//!
//! "Delivered" comes from the recipients themselves: after a sync brings new
//! messages, a device moves its account's `dlv/ACCOUNT` position in the
//! segment forward, and that change travels back like any other.

use crate::error::ClientError;
use crate::profile::Profile;
use crate::views::ChatReceipts;
use kith_core::docs::segment;
use kith_proto::{ChatId, DocId, Month};

impl Profile {
    /// The receipts known for a chat.
    pub(crate) fn chat_receipts(&self, chat: &ChatId) -> Result<ChatReceipts, ClientError> {
        let me = self.identity().account_id();
        let uploaded_through = self.store().uploaded_through(chat)?;
        let mut others = Vec::new();
        if let Some(row) = self.store().chat(chat)? {
            for member in row.members.keys().filter(|m| **m != me) {
                others.push((
                    *member,
                    self.store().delivered_position(chat, member)?,
                    self.store().read_position(chat, member)?,
                ));
            }
        }
        Ok(ChatReceipts {
            uploaded_through,
            others,
        })
    }

    /// Moves this account's delivered position in `chat` up to the newest
    /// message this device holds. Returns whether it moved.
    pub(crate) fn mark_delivered(&self, chat: &ChatId) -> Result<bool, ClientError> {
        let me = self.identity().account_id();
        let Some(newest) = self.store().messages(chat, None, 1)?.into_iter().next() else {
            return Ok(false);
        };
        if self
            .store()
            .delivered_position(chat, &me)?
            .is_some_and(|d| d >= newest.ts)
        {
            return Ok(false);
        }
        self.write(|ctx| {
            let doc = ctx.doc(DocId::Segment(*chat, Month::of(newest.ts)))?;
            Ok(segment::mark_delivered(doc, &me, newest.ts)?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::{MessageStatus, Receipt};
    use kith_proto::{AccountId, Hlc};

    fn at(ms: u64) -> Hlc {
        Hlc::new(ms, 0)
    }

    #[test]
    fn status_climbs_from_sent_to_read() {
        let (bob, carol) = (AccountId::from_bytes([2; 32]), AccountId::from_bytes([3; 32]));
        let mut receipts = ChatReceipts {
            uploaded_through: None,
            others: vec![(bob, None, None), (carol, None, None)],
        };
        assert_eq!(receipts.judge(at(10)).0, MessageStatus::Sent);
        receipts.uploaded_through = Some(at(10));
        assert_eq!(receipts.judge(at(10)).0, MessageStatus::Uploaded);
        assert_eq!(
            receipts.judge(at(11)).0,
            MessageStatus::Sent,
            "later messages are not uploaded yet"
        );
        receipts.others[1].1 = Some(at(12));
        let (status, detail) = receipts.judge(at(10));
        assert_eq!(status, MessageStatus::Delivered);
        assert_eq!(
            detail[0],
            Receipt {
                account: bob,
                delivered: false,
                read: false
            }
        );
        assert_eq!(
            detail[1],
            Receipt {
                account: carol,
                delivered: true,
                read: false
            }
        );
        receipts.others[0].2 = Some(at(10));
        let (status, detail) = receipts.judge(at(10));
        assert_eq!(status, MessageStatus::Read);
        assert!(detail[0].delivered, "read implies delivered");
    }
}
