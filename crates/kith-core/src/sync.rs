//! Automerge sync per (peer, document), with every received change checked
//! before it is applied.

use crate::apply::{ApplyOutcome, adopt_if_all_accepted, apply_remote};
use crate::authority::Directory;
use crate::docs::chunks::{ChunkKind, split_chunks};
use crate::docs::{Doc, DocError};
use crate::signature::{ChangeSignature, SignedSyncMessage};
use automerge::sync::{self, SyncDoc};
use automerge::{Change, ChangeHash, LoadOptions, OnPartialLoad};
use std::collections::{BTreeMap, BTreeSet};

/// A sync message and the signatures beside it, encoded for the wire.
fn signed(message: Vec<u8>, signatures: Vec<ChangeSignature>) -> Vec<u8> {
    SignedSyncMessage { message, signatures }.encode()
}

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
    withheld: BTreeMap<ChangeHash, Vec<ChangeHash>>,
    /// The last message we sent that carried neither changes nor requests.
    /// When peers hold changes the other refuses, their heads never become
    /// equal and Automerge would exchange such messages forever; an identical
    /// one is not sent twice in a row.
    last_empty: Option<Vec<u8>>,
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
                ..SyncSession::default()
            })
            .map_err(|err| SyncError::CorruptState(err.to_string()))
    }

    /// The durable part of the state, to persist per (peer, document).
    pub fn encode(&self) -> Vec<u8> {
        self.state.encode()
    }

    /// The next message to send, if any: an Automerge sync message in a
    /// [`SignedSyncMessage`] that carries the document's signatures whenever
    /// it carries changes.
    pub fn generate(&mut self, doc: &mut Doc) -> Option<Vec<u8>> {
        let before = self.state.clone();
        let message = doc.automerge_mut().sync().generate_sync_message(&mut self.state)?;
        if !message.changes.is_empty() {
            self.last_empty = None;
            return Some(signed(message.encode(), doc.signatures().cloned().collect()));
        }
        if !message.need.is_empty() {
            self.last_empty = None;
            return Some(signed(message.encode(), Vec::new()));
        }
        let bytes = message.encode();
        if self.last_empty.as_ref() == Some(&bytes) {
            // Exactly what we said last time, and it carried nothing: the peer
            // already has it. Leave the state as if we had not generated it.
            self.state = before;
            return None;
        }
        self.last_empty = Some(bytes.clone());
        Some(signed(bytes, Vec::new()))
    }

    /// Handles a received message: changes are validated and only accepted
    /// ones applied.
    pub fn receive(
        &mut self,
        doc: &mut Doc,
        bytes: &[u8],
        directory: &dyn Directory,
    ) -> Result<ApplyOutcome, SyncError> {
        let signed: SignedSyncMessage =
            postcard::from_bytes(bytes).map_err(|err| SyncError::Malformed(err.to_string()))?;
        let signatures = signed.signatures;
        let mut message =
            sync::Message::decode(&signed.message).map_err(|err| SyncError::Malformed(err.to_string()))?;
        message.heads = self.visible_heads(doc, message.heads);
        if message.changes.is_empty() {
            doc.automerge_mut()
                .sync()
                .receive_sync_message(&mut self.state, message)
                .map_err(DocError::from)?;
            return Ok(ApplyOutcome::default());
        }
        // Unpack the changes ourselves, chunk by chunk (see `docs::chunks`):
        // V1 messages carry one change per chunk; V2 messages carry the
        // sender's whole document, possibly followed by "orphan" changes whose
        // dependencies the sender lacked. Every new change is judged on its
        // own, and one whose dependencies have not arrived yet is deferred
        // (kept by the caller), never silently dropped.
        let before = doc.heads();
        let mut loose: Vec<Change> = Vec::new();
        let mut scratch: Option<automerge::AutoCommit> = None;
        for item in message.changes.iter() {
            for (kind, chunk) in split_chunks(item).map_err(|err| SyncError::Malformed(err.to_string()))? {
                match kind {
                    ChunkKind::Change | ChunkKind::CompressedChange => loose.push(
                        crate::docs::chunks::change_from_network(chunk)
                            .map_err(|err| SyncError::Malformed(err.to_string()))?,
                    ),
                    ChunkKind::Document => {
                        crate::docs::chunks::check_document_inflation(chunk)
                            .map_err(|err| SyncError::Malformed(err.to_string()))?;
                        // Self-contained, so it loads strictly on its own.
                        let strict = LoadOptions::new().on_partial_load(OnPartialLoad::Error);
                        let mut sender = automerge::AutoCommit::load_with_options(chunk, strict)
                            .map_err(|err| SyncError::Malformed(err.to_string()))?;
                        match scratch.as_mut() {
                            Some(target) => {
                                if target.merge(&mut sender).is_err() {
                                    loose.extend(sender.get_changes(&[]));
                                }
                            }
                            // The sender holds everything we hold (a first sync, or
                            // one that resends its document): its copy is ours plus
                            // the new changes, so merging into ours would only
                            // rebuild it change by change.
                            None if before.iter().all(|h| sender.get_change_by_hash(h).is_some()) => {
                                scratch = Some(sender);
                            }
                            None => {
                                let mut target = doc.automerge().clone();
                                match target.merge(&mut sender) {
                                    Ok(_) => scratch = Some(target),
                                    // Its document and ours disagree (two changes
                                    // with one actor and sequence number): its
                                    // changes are judged one by one instead, so
                                    // the one Automerge refuses costs only itself.
                                    Err(_) => loose.extend(sender.get_changes(&[])),
                                }
                            }
                        }
                    }
                    ChunkKind::Bundle => {
                        return Err(SyncError::Malformed(
                            "change bundles are not part of the sync protocol".into(),
                        ));
                    }
                }
            }
        }
        let mut new_changes = match scratch.as_mut() {
            Some(scratch) => scratch.get_changes(&before),
            None => Vec::new(),
        };
        let mut adopted = None;
        if let (Some(scratch), true) = (scratch, loose.is_empty()) {
            adopted = adopt_if_all_accepted(doc, scratch, &new_changes, &signatures, directory);
        }
        new_changes.extend(loose);
        let deps: BTreeMap<ChangeHash, Vec<ChangeHash>> =
            new_changes.iter().map(|c| (c.hash(), c.deps().to_vec())).collect();
        let outcome = match adopted {
            Some(outcome) => outcome,
            None => apply_remote(doc, new_changes, &signatures, directory)?,
        };
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
        // Let Automerge take note of the peer's heads, needs and bloom filter;
        // the acceptable changes are already applied.
        let mut stripped = message;
        stripped.changes = sync::ChunkList::empty();
        stripped.heads = self.visible_heads(doc, stripped.heads);
        doc.automerge_mut()
            .sync()
            .receive_sync_message(&mut self.state, stripped)
            .map_err(DocError::from)?;
        // What we just applied is now shared with this peer (as Automerge
        // records when it applies a message's changes itself).
        let after = doc.heads();
        let old: BTreeSet<&ChangeHash> = before.iter().collect();
        let mut shared: Vec<ChangeHash> = after.iter().filter(|h| !old.contains(h)).copied().collect();
        shared.extend(self.state.shared_heads.iter().filter(|h| after.contains(h)).copied());
        shared.sort();
        shared.dedup();
        if !shared.is_empty() {
            self.state.shared_heads = shared;
        }
        Ok(outcome)
    }

    /// The peer's heads with withheld changes replaced by their dependencies.
    /// (A deferred change is withheld too: a later message that brings its
    /// signature brings the change again.)
    fn visible_heads(&mut self, doc: &mut Doc, heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
        // Changes applied since (a deferred change accepted on retry) are no
        // longer withheld.
        self.withheld
            .retain(|hash, _| doc.automerge_mut().get_change_by_hash(hash).is_none());
        if self.withheld.is_empty() {
            return heads;
        }
        let mut out = Vec::with_capacity(heads.len());
        let mut stack = heads;
        let mut seen = BTreeSet::new();
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
