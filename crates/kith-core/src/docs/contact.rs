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

    /// The state as shown to people and scripts.
    pub fn state_label(&self) -> &'static str {
        match (self.blocked, self.state) {
            (true, _) => "blocked",
            (false, ContactState::Pending) => "pending",
            (false, ContactState::Accepted) => "accepted",
            (false, ContactState::Deleted) => "deleted",
        }
    }
}
