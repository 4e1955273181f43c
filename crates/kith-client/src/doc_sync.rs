//! Documents and their sync sessions (the peer-to-peer path, tests and tools).

use crate::error::ClientError;
use crate::profile::Profile;
use kith_core::{ChangeSignature, DeviceCertificate, Doc, ReadModelUpdate, apply_remote};
use kith_proto::{AccountId, DocId};
use kith_store::StoreDirectory;

/// Documents and their sync sessions (the peer-to-peer path, tests and tools).
#[derive(Clone, Copy, Debug)]
pub struct Docs<'p> {
    pub(crate) profile: &'p Profile,
}

impl Profile {
    /// Documents and their sync sessions (the peer-to-peer path, tests and tools).
    pub fn docs(&self) -> Docs<'_> {
        Docs { profile: self }
    }
}

impl Docs<'_> {
    /// Writes raw Automerge operations to a document, bypassing every local
    /// check. Only for simulations that play a tampered client: honest
    /// replicas must refuse what it writes.
    #[doc(hidden)]
    pub fn tamper(&self, doc: DocId, f: impl FnOnce(&mut automerge::AutoCommit)) -> Result<(), ClientError> {
        self.profile.write(|ctx| {
            f(ctx.doc(doc)?.raw_mut());
            Ok(())
        })
    }

    /// Loads a document from the store (read-only use: export, sync).
    pub fn load(&self, id: DocId) -> Result<Doc, ClientError> {
        let chunks = self.profile.store().doc_chunks(&id, 0)?;
        let mut doc = Doc::load(
            id,
            &self.profile.identity().device_id(),
            chunks.iter().map(|c| c.bytes.as_slice()),
        )?;
        for signature in self.profile.store().change_signatures(&id)? {
            doc.keep_signature(signature);
        }
        Ok(doc)
    }

    /// Records a verified device certificate (from an invite, a contact, a test).
    pub fn learn_certificate(&self, cert: &DeviceCertificate) -> Result<(), ClientError> {
        cert.verify()?;
        let mut txn = self.profile.store().begin_write()?;
        txn.apply(&[ReadModelUpdate::Device(cert.clone())])?;
        txn.commit()?;
        Ok(())
    }

    /// Documents this profile shares with a peer of account `peer` (see
    /// [`Docs::shares`]).
    pub fn shared_with(&self, peer: &AccountId) -> Result<Vec<DocId>, ClientError> {
        let mut out = Vec::new();
        for id in self.profile.store().doc_ids()? {
            if self.shares(peer, id)? {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Whether this profile offers `doc` to a peer of account `peer`: own
    /// devices get the account document and every chat; anyone else a
    /// chat's head if both were ever members (a removed member learns of
    /// the removal) and its messages only while `peer` is still a member.
    pub fn shares(&self, peer: &AccountId, doc: DocId) -> Result<bool, ClientError> {
        let me = self.profile.identity().account_id();
        Ok(match doc {
            DocId::Account(owner) => owner == me && *peer == me,
            DocId::Head(_) | DocId::Segment(..) if *peer == me => true,
            DocId::Head(chat) => {
                self.profile.store().was_member(&chat, peer)? && self.profile.store().was_member(&chat, &me)?
            }
            DocId::Segment(chat, _) => {
                self.profile.store().was_member(&chat, &me)?
                    && self
                        .profile
                        .store()
                        .chat(&chat)?
                        .is_some_and(|row| row.members.contains_key(peer))
            }
        })
    }

    /// Forgets the sync state with a peer (on reconnect: never resume in-flight state).
    pub fn reset_sync(&self, peer: &str) {
        self.profile.forget_sessions(peer);
    }

    /// The next sync message for `doc` to `peer`, if any.
    pub fn sync_generate(&self, peer: &str, doc_id: DocId) -> Result<Option<Vec<u8>>, ClientError> {
        self.profile.with_session(peer, doc_id, |session| {
            self.profile.with_cached_doc(doc_id, |doc| session.generate(doc))
        })
    }

    /// Handles a sync message for `doc` from `peer`: validates and applies its
    /// changes, stores them, quarantines what cannot be judged yet, and retries
    /// quarantined changes when membership or certificates may have changed.
    pub fn sync_receive(&self, peer: &str, doc_id: DocId, message: &[u8]) -> Result<usize, ClientError> {
        self.sync_receive_via(peer, doc_id, message, None)
    }

    /// [`Docs::sync_receive`], recording `route` as the way new messages
    /// arrived (the first route to deliver a message is kept).
    pub fn sync_receive_via(
        &self,
        peer: &str,
        doc_id: DocId,
        message: &[u8],
        route: Option<&str>,
    ) -> Result<usize, ClientError> {
        self.profile.with_session(peer, doc_id, |session| {
            self.profile.receive_into(doc_id, route, |txn, doc| {
                let outcome = {
                    let directory = StoreDirectory::new(txn);
                    session.receive(doc, message, &directory)?
                };
                txn.set_sync_state(peer, &doc_id, &session.encode())?;
                Ok(outcome)
            })
        })
    }

    /// Validates and applies changes of `doc_id` that arrived some other way
    /// than a sync session (the relay): the same checks, storage, quarantine
    /// and retries as [`Docs::sync_receive`].
    pub fn apply_changes(
        &self,
        doc_id: DocId,
        changes: Vec<automerge::Change>,
        signatures: &[ChangeSignature],
    ) -> Result<usize, ClientError> {
        self.profile.receive_into(doc_id, Some("server"), |txn, doc| {
            let directory = StoreDirectory::new(txn);
            Ok(apply_remote(doc, changes, signatures, &directory)?)
        })
    }

    /// The current heads of a document (empty when this profile does not have it).
    pub fn heads(&self, doc_id: DocId) -> Result<Vec<automerge::ChangeHash>, ClientError> {
        self.profile.with_cached_doc(doc_id, |doc| doc.heads())
    }

    /// The changes of a document that are not ancestors of `heads` (all of
    /// them for empty `heads`), and the document's current heads.
    pub fn changes_since(
        &self,
        doc_id: DocId,
        heads: &[automerge::ChangeHash],
    ) -> Result<(Vec<automerge::Change>, Vec<automerge::ChangeHash>), ClientError> {
        self.profile.with_cached_doc(doc_id, |doc| {
            let current = doc.heads();
            (doc.changes_since(heads), current)
        })
    }
}
