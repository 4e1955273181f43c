//! Relay streams: what one relay log carries. A stream's label names its log
//! (through the stream key) and is bound into every envelope's associated
//! data, so an envelope cannot be replayed into another stream.

use kith_proto::{AccountId, ChatId};

/// What a relay log carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stream {
    /// Every document of one conversation (head and segments), under one
    /// epoch key: one cursor per conversation and epoch, and the server cannot
    /// tell how many months a conversation spans.
    Chat(ChatId),
    /// The account document, shared by the account's own devices.
    Account(AccountId),
    /// The pairwise channel between two contacts (profile, key grants).
    Contact,
    /// Connect requests made with one invite.
    Invite,
    /// Linking a new device with one pairing code.
    Pairing,
    /// Recovery kits sealed to one recovery phrase's key.
    Recovery,
    /// Message requests from strangers to one device (sealed to the
    /// device's key inside; the envelope key is public).
    Inbox,
}

impl Stream {
    /// The label bound into log ids, capabilities and envelopes.
    pub fn label(&self) -> String {
        match self {
            Stream::Chat(chat) => format!("chat:{chat}"),
            Stream::Account(account) => format!("account:{account}"),
            Stream::Contact => "contact".to_owned(),
            Stream::Invite => "invite".to_owned(),
            Stream::Pairing => "pairing".to_owned(),
            Stream::Recovery => "recovery".to_owned(),
            Stream::Inbox => "inbox".to_owned(),
        }
    }
}
