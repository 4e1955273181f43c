//! Automerge sync per (peer, document), with every received change checked
//! before it is applied.

use crate::apply::{ApplyOutcome, apply_remote};
use crate::authority::Directory;
use crate::docs::{Doc, DocError};
use automerge::ChangeHash;
use automerge::sync::{self, SyncDoc};
use std::collections::HashMap;

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
    /// Changes the peer has that we refused or deferred, with their
    /// dependencies. We present the peer's heads to Automerge as if these did
    /// not exist, or Automerge would ask for them again and again.
    withheld: HashMap<ChangeHash, Vec<ChangeHash>>,
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
            .map(|state| SyncSession {
                state,
                withheld: HashMap::new(),
            })
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
        let mut message = sync::Message::decode(bytes).map_err(|err| SyncError::Malformed(err.to_string()))?;
        message.heads = self.visible_heads(message.heads);
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
        let deps: HashMap<ChangeHash, Vec<ChangeHash>> =
            new_changes.iter().map(|c| (c.hash(), c.deps().to_vec())).collect();
        let outcome = apply_remote(doc, new_changes, directory)?;
        let not_applied = outcome
            .rejected
            .iter()
            .map(|r| r.hash)
            .chain(outcome.deferred.iter().map(|c| c.hash()));
        for hash in not_applied {
            if let Some(deps) = deps.get(&hash) {
                self.withheld.insert(hash, deps.clone());
            }
        }
        if outcome.rejected.is_empty() && outcome.deferred.is_empty() {
            self.state = scratch_state;
        } else {
            // Keep the peer's heads and bloom filter, without its changes: we
            // already applied the acceptable ones.
            let mut stripped = message;
            stripped.changes = sync::ChunkList::empty();
            stripped.heads = self.visible_heads(stripped.heads);
            doc.automerge_mut()
                .sync()
                .receive_sync_message(&mut self.state, stripped)
                .map_err(DocError::from)?;
        }
        Ok(outcome)
    }

    /// The peer's heads with withheld changes replaced by their dependencies.
    fn visible_heads(&self, heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
        if self.withheld.is_empty() {
            return heads;
        }
        let mut out = Vec::with_capacity(heads.len());
        let mut stack = heads;
        let mut seen = std::collections::HashSet::new();
        while let Some(hash) = stack.pop() {
            if !seen.insert(hash) {
                continue;
            }
            match self.withheld.get(&hash) {
                Some(deps) => stack.extend(deps.iter().copied()),
                None => out.push(hash),
            }
        }
        out.sort();
        out
    }
}
