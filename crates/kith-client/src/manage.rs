//! Which relay logs this account manages: the right to delete or compact a
//! log is a manage key derived from the account key, registered (as its
//! hash) with the server before the log's capability goes to anyone else.
//! A member holding only the capability can read and append, never delete.

use crate::error::ClientError;
use crate::hex::hex;
use crate::profile::Profile;
use crate::streams::StreamKey;
use kith_core::crypto::{manage_key, manage_key_hash};
use kith_core::docs::head;
use kith_net::RelayConnection;
use kith_proto::{DocId, LogId, ManageKey};

/// `relay/manager/LOG` -> `[1]` this account manages the log, `[0]` another
/// manager registered first.
const MANAGER_PREFIX: &str = "relay/manager/";

fn manager_meta_key(log: &LogId) -> String {
    format!("{MANAGER_PREFIX}{}", hex(&log.0))
}

impl Profile {
    /// This account's manage key for `log`.
    pub(crate) fn manage_key(&self, log: &LogId) -> ManageKey {
        manage_key(self.identity().account_keys(), log)
    }

    /// Whether the server took this account's manage key for `log`.
    pub(crate) fn manages(&self, log: &LogId) -> Result<bool, ClientError> {
        Ok(self.store().meta(&manager_meta_key(log))?.as_deref() == Some(&[1][..]))
    }

    /// The logs this account should manage: its own account streams and
    /// invite, and the newest epoch of every chat it administers (an admin
    /// commits each epoch and registers its log before the key goes out; in
    /// a chat with several admins the first to register manages it).
    fn logs_to_manage(&self) -> Result<Vec<StreamKey>, ClientError> {
        let mut out = self.account_streams()?;
        for secret in self.contacts().followed_invite_secrets()? {
            out.push(Self::invite_stream(&secret));
        }
        let me = self.identity().account_id();
        for (chat, mut committed) in self.committed_keys_by_chat()? {
            let admin = self.with_cached_doc(DocId::Head(chat), |doc| {
                head::role_of(doc, &me).is_some_and(|role| role.is_admin())
            })?;
            if let (true, Some((epoch, key))) = (admin, committed.pop()) {
                out.push(StreamKey::new(
                    crate::streams::Followed::Chat(chat),
                    kith_core::crypto::Stream::Chat(chat),
                    epoch,
                    key,
                ));
            }
        }
        Ok(out)
    }

    /// Registers this account's manage key for every log it should manage
    /// and has not registered yet, and records the answers. Runs first in
    /// every relay pass, so a new log is claimed before anything on it (or
    /// the lockboxes that hand out its key) is pushed.
    pub(crate) async fn register_managed_logs(&self, connection: &RelayConnection) -> Result<usize, ClientError> {
        let mut registered = 0;
        for stream in self.logs_to_manage()? {
            let log = stream.log();
            if self.store().meta(&manager_meta_key(&log))?.is_some() {
                continue;
            }
            registered += usize::from(self.register_log(connection, &stream).await?);
        }
        Ok(registered)
    }

    /// Registers one log now; returns whether this account manages it.
    pub(crate) async fn register_log(
        &self,
        connection: &RelayConnection,
        stream: &StreamKey,
    ) -> Result<bool, ClientError> {
        let log = stream.log();
        let hash = manage_key_hash(&self.manage_key(&log));
        let ours = connection.register(log, stream.capability(), hash).await?;
        if !ours {
            tracing::warn!(?log, "another manager registered this log first");
        }
        let mut txn = self.store().begin_write()?;
        txn.set_meta(&manager_meta_key(&log), &[u8::from(ours)])?;
        txn.commit()?;
        Ok(ours)
    }
}
