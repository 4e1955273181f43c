//! The relay's mail state as rows: mail still to send and marks of mail
//! already sent (hellos, conversation key grants), stored in their own
//! tables (migration 7) rather than as prefixed meta strings.

use kith_proto::{AccountId, ChatId, DeviceId};

/// Mail this device still has to send through the relay.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PendingMail {
    /// A connect request for the invite of `account` this account used
    /// (the payload is the invite as kept).
    Connect(AccountId),
    /// A new account stream key for this account's remaining devices.
    AccountKey {
        /// The key's epoch.
        epoch: u32,
        /// The key's id.
        key_id: String,
    },
    /// Contacts are to be told that this account revoked `device`.
    RevokedNotice(DeviceId),
    /// `account` used a link that no longer works and is to be told why
    /// (the payload is the channel secret it named and the reason's byte).
    InviteRefused(AccountId),
}

impl PendingMail {
    /// The `kind` column.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            PendingMail::Connect(_) => "connect",
            PendingMail::AccountKey { .. } => "account-key",
            PendingMail::RevokedNotice(_) => "revoked",
            PendingMail::InviteRefused(_) => "invite-refused",
        }
    }

    /// The `target` column (epochs zero-padded, so text order is epoch order).
    pub(crate) fn target(&self) -> String {
        match self {
            PendingMail::Connect(account) => account.to_string(),
            PendingMail::AccountKey { epoch, key_id } => format!("{epoch:010}/{key_id}"),
            PendingMail::RevokedNotice(device) => device.to_string(),
            PendingMail::InviteRefused(account) => account.to_string(),
        }
    }

    /// Back from the two columns; `None` for a row no build writes.
    pub(crate) fn from_columns(kind: &str, target: &str) -> Option<PendingMail> {
        match kind {
            "connect" => target.parse().ok().map(PendingMail::Connect),
            "account-key" => {
                let (epoch, key_id) = target.split_once('/')?;
                Some(PendingMail::AccountKey {
                    epoch: epoch.parse().ok()?,
                    key_id: key_id.to_owned(),
                })
            }
            "revoked" => target.parse().ok().map(PendingMail::RevokedNotice),
            "invite-refused" => target.parse().ok().map(PendingMail::InviteRefused),
            _ => None,
        }
    }
}

/// A conversation key sent to one member (so it is not sent again).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RelayGrant {
    /// The conversation.
    pub chat: ChatId,
    /// The key's epoch.
    pub epoch: u32,
    /// The key's id.
    pub key_id: String,
    /// The member it went to.
    pub member: AccountId,
}
