//! Typing and presence: sealed like everything else, sent as server signals
//! that are fanned out to connected subscribers and never stored, and shown
//! until they expire.

use crate::error::ClientError;
use crate::profile::Profile;
use crate::random::random_bytes;
use crate::streams::{Followed, StreamKey, open_item, seal_item};
use kith_core::relay::RelayItem;
use kith_net::RelayConnection;
use kith_proto::{AccountId, ChatId, Envelope, LogId};
use serde::Serialize;

/// How long a typing signal is shown without a new one.
pub const TYPING_TTL_MS: u64 = 6_000;
/// How long a presence signal counts without a new one.
pub const PRESENCE_TTL_MS: u64 = 60_000;

/// A signal someone sent, as the CLI and UI show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Ephemeral {
    /// `account` is typing in `chat_id`.
    Typing {
        /// The conversation.
        chat_id: ChatId,
        /// Who.
        account: AccountId,
        /// Show until (ms since the Unix epoch).
        until_ms: u64,
    },
    /// `account` is online.
    Presence {
        /// Who.
        account: AccountId,
        /// Online until (ms since the Unix epoch).
        until_ms: u64,
    },
}

fn encode(envelope: &Envelope) -> Vec<u8> {
    postcard::to_stdvec(envelope).unwrap_or_default()
}

impl Profile {
    async fn signal(
        &self,
        connection: &RelayConnection,
        stream: &StreamKey,
        item: &RelayItem,
    ) -> Result<(), ClientError> {
        let envelope = seal_item(stream, &random_bytes::<16>()?, self.identity().device_keys(), item)?;
        connection
            .signal(stream.log(), stream.capability(), encode(&envelope))
            .await?;
        Ok(())
    }
}

/// Typing and presence: ephemeral signals through the server, never stored.
#[derive(Clone, Copy, Debug)]
pub struct Signals<'p> {
    pub(crate) profile: &'p Profile,
}

impl Profile {
    /// Typing and presence of this profile.
    pub fn signals(&self) -> Signals<'_> {
        Signals { profile: self }
    }
}

impl Signals<'_> {
    /// Tells the other members of `chat` that this account is typing.
    pub async fn send_typing(self, connection: &RelayConnection, chat: &ChatId) -> Result<(), ClientError> {
        self.profile.require_member(chat)?;
        let stream = self
            .profile
            .followed_streams()?
            .into_iter()
            .filter(|s| s.followed() == Followed::Chat(*chat))
            .max_by_key(|s| s.epoch())
            .ok_or_else(|| ClientError::NoSuchChat(format!("{chat} (no key for it yet: sync first)")))?;
        let item = RelayItem::Typing {
            chat: *chat,
            until_ms: self.profile.now_ms() + TYPING_TTL_MS,
        };
        self.profile.signal(connection, &stream, &item).await
    }

    /// Tells every contact that this account is online.
    pub async fn send_presence(self, connection: &RelayConnection) -> Result<(), ClientError> {
        let item = RelayItem::Presence {
            until_ms: self.profile.now_ms() + PRESENCE_TTL_MS,
        };
        for stream in self.profile.followed_streams()? {
            if matches!(stream.followed(), Followed::Contact(_)) {
                // A channel nobody wrote to yet has no log on the server.
                match self.profile.signal(connection, &stream, &item).await {
                    Ok(())
                    | Err(ClientError::Relay(kith_net::NetError::Server {
                        code: kith_proto::ErrorCode::NotFound,
                        ..
                    })) => {}
                    Err(err) => return Err(err),
                }
            }
        }
        Ok(())
    }

    /// Opens a signal received on `log`: who is typing or online, if it is
    /// genuine, from someone else, and for a stream this profile follows.
    pub fn open(&self, log: &LogId, payload: &[u8]) -> Result<Option<Ephemeral>, ClientError> {
        let Ok(envelope) = postcard::from_bytes::<Envelope>(payload) else {
            return Ok(None);
        };
        let Some(stream) = self.profile.followed_streams()?.into_iter().find(|s| s.log() == *log) else {
            return Ok(None);
        };
        let Ok((sender, item)) = open_item(&stream, &envelope) else {
            return Ok(None);
        };
        let Some(account) = self.profile.store().device_account(&sender)? else {
            return Ok(None);
        };
        if account == self.profile.identity().account_id() || self.profile.contacts().blocked()?.contains(&account) {
            return Ok(None);
        }
        Ok(match (item, stream.followed()) {
            (RelayItem::Typing { chat, until_ms }, Followed::Chat(stream_chat))
                if chat == stream_chat
                    && self
                        .profile
                        .store()
                        .chat(&chat)?
                        .is_some_and(|c| c.members.contains_key(&account)) =>
            {
                Some(Ephemeral::Typing {
                    chat_id: chat,
                    account,
                    until_ms,
                })
            }
            (RelayItem::Presence { until_ms }, Followed::Contact(contact)) if contact == account => {
                Some(Ephemeral::Presence { account, until_ms })
            }
            _ => None,
        })
    }
}
