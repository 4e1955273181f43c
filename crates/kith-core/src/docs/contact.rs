//! A contact as the account document keeps it: shared by the account's own
//! devices, so a block or a new contact reaches every device.

use serde::{Deserialize, Serialize};

/// How far a contact relationship has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContactState {
    /// We used their invite; they have not answered yet.
    Pending,
    /// Both sides know each other.
    Accepted,
    /// They deleted their account.
    Deleted,
    /// They asked to connect without a link of ours (a username, a shared
    /// group): a message request, until accepted. They get no hello, no
    /// receipts, no typing and no presence from us meanwhile.
    Request,
    /// A request we ignored: not followed, not shown, not answered.
    Ignored,
}

/// One contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRecord {
    /// Their display name, as they last told us.
    pub name: Option<String>,
    /// Where the relationship stands.
    pub state: ContactState,
    /// Whether we blocked them: their messages and requests are dropped.
    pub blocked: bool,
    /// The secret of the pairwise channel (relay log and its key).
    pub channel_secret: [u8; 32],
}

/// Why a stored contact record could not be read.
#[derive(Debug, thiserror::Error)]
#[error("malformed contact record: {0}")]
pub struct ContactDecodeError(String);

impl ContactRecord {
    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        // Serialising plain fields into a Vec cannot fail.
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Reads the stored form.
    pub fn decode(bytes: &[u8]) -> Result<ContactRecord, ContactDecodeError> {
        postcard::from_bytes(bytes).map_err(|err| ContactDecodeError(err.to_string()))
    }

    /// Whether we exchange mail with them (follow their channel, say hello,
    /// hand them keys): not blocked, and not a request we have not
    /// accepted or that we ignored.
    pub fn is_connected(&self) -> bool {
        !self.blocked && !matches!(self.state, ContactState::Request | ContactState::Ignored)
    }

    /// The state as shown to people and scripts.
    pub fn state_label(&self) -> &'static str {
        match (self.blocked, self.state) {
            (true, _) => "blocked",
            (false, ContactState::Pending) => "pending",
            (false, ContactState::Accepted) => "accepted",
            (false, ContactState::Deleted) => "deleted",
            (false, ContactState::Request) => "request",
            (false, ContactState::Ignored) => "ignored",
        }
    }
}

/// Longest first message of a request, in bytes.
pub const MAX_REQUEST_TEXT_BYTES: usize = 2000;

/// What a message request said, kept beside its contact record until it
/// is answered (the account document, so every device of the account sees
/// the same requests).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Their first message.
    pub text: String,
    /// When it arrived, ms since the Unix epoch.
    pub received_ms: u64,
    /// The device that sent it (what a report names).
    pub device: kith_proto::DeviceId,
    /// How they found us: `username` or `group`.
    pub via: String,
}

impl RequestRecord {
    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        // Serialising plain fields into a Vec cannot fail.
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Reads the stored form (a text over the limit is refused).
    pub fn decode(bytes: &[u8]) -> Result<RequestRecord, ContactDecodeError> {
        let record: RequestRecord = postcard::from_bytes(bytes).map_err(|err| ContactDecodeError(err.to_string()))?;
        if record.text.len() > MAX_REQUEST_TEXT_BYTES || record.via.len() > 16 {
            return Err(ContactDecodeError("a request longer than the limit".into()));
        }
        Ok(record)
    }
}
