//! Automerge sync per (peer, document), with every received change checked
//! before it is applied.

use crate::apply::{ApplyOutcome, apply_remote};
use crate::authority::Directory;
use crate::docs::{Doc, DocError};
use automerge::sync::{self, SyncDoc};

/// Why a sync message could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The bytes are not an Automerge sync message.
    #[error("malformed sync message: {0}")]
    Malformed(String),
    /// The stored sync state is corrupt (it is then reset).
    #[error("corrupt sync state: {0}")]
    CorruptState(String),
    /// Applying the changes failed.
    #[error(transparent)]
    Doc(#[from] DocError),
}

/// The sync state with one peer for one document.
#[derive(Debug, Default, Clone)]
pub struct SyncSession {
    state: sync::State,
}

impl SyncSession {
    /// A fresh session (also what a reconnect starts with: never resume an
    /// in-flight state after a drop, or a lost message stalls the sync).
    pub fn new() -> SyncSession {
        SyncSession::default()
    }

    /// Restores a persisted session. Only the durable part (shared heads) is
    /// kept by Automerge's encoding, so this is safe across reconnects.
    pub fn restore(bytes: &[u8]) -> Result<SyncSession, SyncError> {
        sync::State::decode(bytes)
            .map(|state| SyncSession { state })
            .map_err(|err| SyncError::CorruptState(err.to_string()))
    }

    /// The durable part of the state, to persist per (peer, document).
    pub fn encode(&self) -> Vec<u8> {
        self.state.encode()
    }

    /// The next message to send, if any.
    pub fn generate(&mut self, doc: &mut Doc) -> Option<Vec<u8>> {
        doc.automerge_mut()
            .sync()
            .generate_sync_message(&mut self.state)
            .map(sync::Message::encode)
    }

    /// Handles a received message: changes are validated and only accepted
    /// ones applied.
    pub fn receive(
        &mut self,
        doc: &mut Doc,
        bytes: &[u8],
        directory: &dyn Directory,
    ) -> Result<ApplyOutcome, SyncError> {
        let message = sync::Message::decode(bytes).map_err(|err| SyncError::Malformed(err.to_string()))?;
        if message.changes.is_empty() {
            doc.automerge_mut()
                .sync()
                .receive_sync_message(&mut self.state, message)
                .map_err(DocError::from)?;
            return Ok(ApplyOutcome::default());
        }
        // Let Automerge unpack the changes (V1 chunks or a V2 whole-document
        // chunk) on a scratch copy, then judge each new change on its own.
        let before = doc.heads();
        let mut scratch = doc.automerge().clone();
        let mut scratch_state = self.state.clone();
        scratch
            .sync()
            .receive_sync_message(&mut scratch_state, message.clone())
            .map_err(|err| SyncError::Malformed(err.to_string()))?;
        let new_changes = scratch.get_changes(&before);
        let outcome = apply_remote(doc, new_changes, directory)?;
        if outcome.rejected.is_empty() && outcome.deferred.is_empty() {
            self.state = scratch_state;
        } else {
            // Keep the peer's heads and bloom filter, without its changes: we
            // already applied the acceptable ones.
            let mut stripped = message;
            stripped.changes = sync::ChunkList::empty();
            doc.automerge_mut()
                .sync()
                .receive_sync_message(&mut self.state, stripped)
                .map_err(DocError::from)?;
        }
        Ok(outcome)
    }
}
