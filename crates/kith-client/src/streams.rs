//! Relay streams: which stream a log belongs to, its key for one epoch, and
//! sealing and opening the items sent through it.

use crate::error::ClientError;
use crate::random::random_bytes;
use kith_core::crypto::{EpochKey, Stream, open_envelope, seal_envelope};
use kith_core::relay::RelayItem;
use kith_proto::{AccountId, ChatId, Envelope, LogId, MAX_ENVELOPE_BYTES};

/// Context of the public envelope key of a device's request inbox.
const INBOX_ENVELOPE_CONTEXT: &str = "kith request inbox envelopes v1";
/// Context of the key that names a device's inbox log (from its secret).
const INBOX_ACCESS_CONTEXT: &str = "kith request inbox access v1";

/// What a followed stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Followed {
    Account,
    Invite,
    Pairing,
    Recovery,
    Inbox,
    Contact(AccountId),
    Chat(ChatId),
}

/// One stream this profile follows, with the key of one epoch.
#[derive(Clone, Debug)]
pub(crate) struct StreamKey {
    followed: Followed,
    stream: Stream,
    epoch: u32,
    key: EpochKey,
    /// The key that names the log and its capability, when it is not the
    /// envelope key: a request inbox's envelopes are sealed with a key
    /// anyone can derive, its log is read with one only its device knows.
    access: Option<EpochKey>,
}

impl StreamKey {
    pub(crate) fn new(followed: Followed, stream: Stream, epoch: u32, key: EpochKey) -> StreamKey {
        StreamKey {
            followed,
            stream,
            epoch,
            key,
            access: None,
        }
    }

    /// The request inbox of `device`, as its senders seal into it: the
    /// envelope key is derived from the device id alone.
    pub(crate) fn inbox_envelopes(device: &kith_proto::DeviceId) -> StreamKey {
        StreamKey::new(
            Followed::Inbox,
            Stream::Inbox,
            0,
            EpochKey::derive(INBOX_ENVELOPE_CONTEXT, device.as_bytes()),
        )
    }

    /// The request inbox of `device` as the device reads it: its log and
    /// capability come from `secret`, which only the device holds.
    pub(crate) fn own_inbox(device: &kith_proto::DeviceId, secret: &[u8; 32]) -> StreamKey {
        let mut stream = StreamKey::inbox_envelopes(device);
        stream.access = Some(EpochKey::derive(INBOX_ACCESS_CONTEXT, secret));
        stream
    }

    /// What this stream is.
    pub(crate) fn followed(&self) -> Followed {
        self.followed
    }

    /// The key epoch.
    pub(crate) fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The epoch's key.
    pub(crate) fn key(&self) -> &EpochKey {
        &self.key
    }

    /// The stream the key belongs to.
    pub(crate) fn stream(&self) -> &Stream {
        &self.stream
    }

    /// The server log of this stream and epoch.
    pub(crate) fn log(&self) -> LogId {
        self.access.as_ref().unwrap_or(&self.key).log_id(&self.stream)
    }

    /// The capability that lets this device read and append the log.
    pub(crate) fn capability(&self) -> kith_proto::Capability {
        self.access.as_ref().unwrap_or(&self.key).capability(&self.stream)
    }
}

/// A fresh envelope nonce.
pub(crate) fn random_nonce() -> Result<[u8; 24], ClientError> {
    random_bytes::<24>()
}

/// Seals one item for a stream, signed by `sender`.
pub(crate) fn seal_item(
    stream: &StreamKey,
    item_id: &[u8],
    sender: &kith_core::identity::DeviceKeys,
    item: &RelayItem,
) -> Result<Envelope, ClientError> {
    {
        let plaintext = item.encode();
        if plaintext.len() + 256 > MAX_ENVELOPE_BYTES {
            return Err(ClientError::Relay(kith_net::NetError::Protocol(format!(
                "an item of {} bytes does not fit in one envelope",
                plaintext.len()
            ))));
        }
        seal_envelope(
            &stream.key,
            stream.epoch,
            &stream.stream,
            item_id,
            sender,
            &plaintext,
            random_nonce()?,
        )
        .map_err(ClientError::crypto("sealing an envelope"))
    }
}

/// Opens one envelope of a stream: the sender and the item.
pub(crate) fn open_item(
    stream: &StreamKey,
    envelope: &Envelope,
) -> Result<(kith_proto::DeviceId, RelayItem), ClientError> {
    let opened =
        open_envelope(&stream.key, &stream.stream, envelope).map_err(ClientError::crypto("opening an envelope"))?;
    let item = RelayItem::decode(&opened.plaintext)?;
    Ok((opened.sender, item))
}
