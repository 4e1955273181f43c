//! Email nudges, from the device's side: the address and absence this
//! device asked for (kept in its store, not the account document: each
//! device is away on its own), and keeping the server's list of logs that
//! count in step with the streams the device follows.

use crate::directory::Directory;
use crate::error::ClientError;
use kith_net::RelayConnection;
use serde::{Deserialize, Serialize};

/// Meta key of this device's nudge request (JSON of [`EmailNudge`]).
const NUDGE_META: &str = "nudge/email";
/// Meta key of a hash of what the server was last told.
const NUDGE_SENT_META: &str = "nudge/sent";

/// What this device asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailNudge {
    /// Where to write.
    pub address: String,
    /// Seconds away before an email, as the server applies it.
    pub after_secs: u64,
}

impl Directory<'_> {
    /// The nudge this device asked for, if any.
    pub fn email_nudge(&self) -> Result<Option<EmailNudge>, ClientError> {
        Ok(self
            .profile()
            .store()
            .meta(NUDGE_META)?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// Asks the server for one short email to `address` when this device
    /// has been away `after_secs` and something waits for it (no sender, no
    /// content). Returns what the server will apply.
    pub async fn set_email_nudge(
        &self,
        connection: &RelayConnection,
        address: &str,
        after_secs: u64,
    ) -> Result<EmailNudge, ClientError> {
        let logs = self.watched_logs()?;
        let after_secs = connection
            .nudge_by_email(address.trim().to_owned(), after_secs, logs.clone(), false)
            .await?
            .unwrap_or(after_secs);
        let nudge = EmailNudge {
            address: address.trim().to_owned(),
            after_secs,
        };
        self.remember(Some(&nudge), &logs)?;
        Ok(nudge)
    }

    /// No more email nudges for this device.
    pub async fn stop_email_nudge(&self, connection: &RelayConnection) -> Result<bool, ClientError> {
        let was_set = connection.stop_nudges().await?;
        self.remember(None, &[])?;
        Ok(was_set)
    }

    /// Tells the server again when the logs that count changed (a new
    /// chat, a new contact).
    pub(crate) async fn refresh_email_nudge(&self, connection: &RelayConnection) -> Result<(), ClientError> {
        let Some(nudge) = self.email_nudge()? else {
            return Ok(());
        };
        let logs = self.watched_logs()?;
        let sent = self.profile().store().meta(NUDGE_SENT_META)?;
        if sent.as_deref() == Some(fingerprint(&nudge, &logs).as_slice()) {
            return Ok(());
        }
        let renewed = connection
            .nudge_by_email(nudge.address.clone(), nudge.after_secs, logs.clone(), true)
            .await?;
        match renewed {
            Some(_) => self.remember(Some(&nudge), &logs),
            // Unsubscribed by the link in an email: this device stops asking.
            None => self.remember(None, &[]),
        }
    }

    /// The logs whose new entries mean something waits for this device.
    fn watched_logs(&self) -> Result<Vec<kith_proto::LogId>, ClientError> {
        let mut logs: Vec<kith_proto::LogId> = self.profile().followed_streams()?.iter().map(|s| s.log()).collect();
        logs.sort();
        logs.dedup();
        logs.truncate(kith_proto::MAX_NUDGE_LOGS);
        Ok(logs)
    }

    fn remember(&self, nudge: Option<&EmailNudge>, logs: &[kith_proto::LogId]) -> Result<(), ClientError> {
        let mut txn = self.profile().store().begin_write()?;
        match nudge {
            Some(nudge) => {
                let bytes = serde_json::to_vec(nudge)
                    .map_err(|err| ClientError::BadRequest(format!("could not keep the email setting: {err}")))?;
                txn.set_meta(NUDGE_META, &bytes)?;
                txn.set_meta(NUDGE_SENT_META, &fingerprint(nudge, logs))?;
            }
            None => {
                txn.delete_meta(NUDGE_META)?;
                txn.delete_meta(NUDGE_SENT_META)?;
            }
        }
        txn.commit()?;
        Ok(())
    }
}

/// A hash of a registration, to tell whether the server has it.
fn fingerprint(nudge: &EmailNudge, logs: &[kith_proto::LogId]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key("kith email nudge registration v1");
    hasher.update(nudge.address.as_bytes());
    hasher.update(&nudge.after_secs.to_le_bytes());
    for log in logs {
        hasher.update(&log.0);
    }
    *hasher.finalize().as_bytes()
}
