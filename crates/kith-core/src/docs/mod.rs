//! Automerge documents: one wrapper type and the typed operations of each kind.

pub mod account;
pub mod chunks;
pub mod contact;
pub mod head;
pub mod removal_cut;
pub mod segment;

use crate::signature::ChangeSignature;
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ChangeHash, LoadOptions, OnPartialLoad, ROOT, ReadDoc, ScalarValue, Value};
use kith_proto::{AccountId, DeviceId, DocId};
use std::collections::{BTreeMap, BTreeSet};

/// Why a document operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    /// Stored or received bytes are not a valid Automerge document or change.
    #[error("document {doc} is corrupt: {reason}")]
    Corrupt {
        /// The document.
        doc: DocId,
        /// Automerge's complaint.
        reason: String,
    },
    /// The document was written by a newer schema than this build understands.
    #[error("document {doc} has schema version {found}; this build understands up to {supported}")]
    UnknownSchema {
        /// The document.
        doc: DocId,
        /// The version found.
        found: i64,
        /// The newest version understood.
        supported: i64,
    },
    /// An Automerge operation failed.
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    /// The message does not exist in this document.
    #[error("message {0} not found")]
    NoSuchMessage(String),
    /// This account may not do that (local refusal; honest replicas refuse it too).
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// Input out of bounds (too long, empty, ...).
    #[error("invalid input: {0}")]
    Invalid(String),
}

/// One Automerge document with its id, written by this device's actor.
#[derive(Clone)]
pub struct Doc {
    id: DocId,
    inner: AutoCommit,
    persisted: Vec<ChangeHash>,
    /// The newest accepted signature of each device that wrote here: what
    /// vouches for this document's changes when they are passed on.
    signatures: BTreeMap<DeviceId, ChangeSignature>,
    /// Decoded head changes, for the removal cut.
    memo: removal_cut::ChangeMemo,
    /// The account of each device known to have written here: what the
    /// removal cut reads when it asks whose a change is.
    authors: BTreeMap<DeviceId, AccountId>,
}

impl std::fmt::Debug for Doc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Doc").field("id", &self.id).finish_non_exhaustive()
    }
}

/// The Automerge actor id of a device: its 32-byte public key.
pub fn actor_of(device: &DeviceId) -> ActorId {
    ActorId::from(device.as_bytes().as_slice())
}

/// The device behind an Automerge actor id, if it is one.
pub fn device_of(actor: &ActorId) -> Option<DeviceId> {
    DeviceId::from_slice(actor.to_bytes()).ok()
}

impl Doc {
    /// An empty document that `device` will write to.
    pub fn new(id: DocId, device: &DeviceId) -> Doc {
        Doc {
            id,
            inner: AutoCommit::new().with_actor(actor_of(device)),
            persisted: Vec::new(),
            signatures: BTreeMap::new(),
            memo: removal_cut::ChangeMemo::default(),
            authors: BTreeMap::new(),
        }
    }

    /// Loads a document from stored chunks (a snapshot and/or change chunks, in order).
    /// Everything loaded counts as persisted.
    pub fn load<'a>(id: DocId, device: &DeviceId, chunks: impl IntoIterator<Item = &'a [u8]>) -> Result<Doc, DocError> {
        let mut doc = Doc::new(id, device);
        for chunk in chunks {
            doc.load_stored(chunk)?;
        }
        doc.check_schema()?;
        Ok(doc)
    }

    /// Applies a chunk that was stored by this or another process of this
    /// profile (already validated when it was first received).
    pub fn load_stored(&mut self, chunk: &[u8]) -> Result<(), DocError> {
        let corrupt = |err: automerge::AutomergeError| DocError::Corrupt {
            doc: self.id,
            reason: err.to_string(),
        };
        // Automerge's incremental load skips chunks it cannot parse with only a
        // log line. A first chunk is self-contained, so it can be loaded
        // strictly; later chunks are guarded by the store's checksums.
        if self.inner.is_empty() {
            let actor = self.inner.get_actor().clone();
            let strict = LoadOptions::new().on_partial_load(OnPartialLoad::Error);
            self.inner = AutoCommit::load_with_options(chunk, strict)
                .map_err(corrupt)?
                .with_actor(actor);
        } else {
            self.inner.load_incremental(chunk).map_err(corrupt)?;
        }
        self.persisted = self.inner.get_heads();
        Ok(())
    }

    /// Refuses documents written by a newer schema.
    pub fn check_schema(&self) -> Result<(), DocError> {
        match self.inner.get(ROOT, crate::schema::SCHEMA_KEY)? {
            Some((Value::Scalar(value), _)) => match value.as_ref() {
                ScalarValue::Int(found) if *found > crate::schema::SCHEMA_VERSION => Err(DocError::UnknownSchema {
                    doc: self.id,
                    found: *found,
                    supported: crate::schema::SCHEMA_VERSION,
                }),
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// The document id.
    pub fn id(&self) -> DocId {
        self.id
    }

    /// Current heads.
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.inner.get_heads()
    }

    /// The changes that are not ancestors of `heads`; heads this document
    /// does not know are ignored (so a stale record means "everything").
    pub fn changes_since(&mut self, heads: &[ChangeHash]) -> Vec<automerge::Change> {
        let known: Vec<ChangeHash> = heads
            .iter()
            .copied()
            .filter(|h| self.inner.get_change_by_hash(h).is_some())
            .collect();
        self.inner.get_changes(&known)
    }

    /// The newest signature of each device that wrote to this document.
    pub fn signatures(&self) -> impl Iterator<Item = &ChangeSignature> {
        self.signatures.values()
    }

    /// Keeps `signature` when it is newer than the one held for its device
    /// (stored signatures, when loading; the caller has checked new ones).
    /// Returns whether it was kept.
    pub fn keep_signature(&mut self, signature: ChangeSignature) -> bool {
        let newer = self
            .signatures
            .get(&signature.device)
            .is_none_or(|held| held.seq < signature.seq);
        if newer {
            self.signatures.insert(signature.device, signature);
        }
        newer
    }

    /// Records that `device` belongs to `account` (a verified certificate
    /// says so): the removal cut needs to know whose each head change is.
    pub fn attribute(&mut self, device: DeviceId, account: AccountId) {
        self.authors.insert(device, account);
    }

    /// Devices that wrote to this head document and are not attributed
    /// yet (empty for other documents, which the removal cut never reads).
    pub fn unattributed_writers(&mut self) -> BTreeSet<DeviceId> {
        if !matches!(self.id, DocId::Head(_)) {
            return BTreeSet::new();
        }
        let heads = self.heads();
        removal_cut::writers_at(self, &heads)
            .into_iter()
            .filter(|device| !self.authors.contains_key(device))
            .collect()
    }

    /// The accounts of this document's writers, as a directory.
    pub(crate) fn authors(&self) -> removal_cut::DocAuthors<'_> {
        removal_cut::DocAuthors::new(self, &self.authors)
    }

    pub(crate) fn change_memo(&self) -> &removal_cut::ChangeMemo {
        &self.memo
    }

    /// Read access to the Automerge document.
    pub fn automerge(&self) -> &AutoCommit {
        &self.inner
    }

    /// Raw write access that bypasses every local check and the schema. Honest
    /// code never uses it; tests use it to play a tampered client whose changes
    /// honest replicas must refuse.
    pub fn raw_mut(&mut self) -> &mut AutoCommit {
        &mut self.inner
    }

    /// This document with its Automerge state replaced by `inner`, a copy of
    /// it with more changes applied; what was persisted stays persisted.
    pub(crate) fn with_automerge(&self, inner: AutoCommit) -> Doc {
        Doc {
            id: self.id,
            inner: inner.with_actor(self.inner.get_actor().clone()),
            persisted: self.persisted.clone(),
            signatures: self.signatures.clone(),
            memo: self.memo.clone(),
            authors: self.authors.clone(),
        }
    }

    /// Mutable access for the typed operations and the sync code of this crate.
    pub(crate) fn automerge_mut(&mut self) -> &mut AutoCommit {
        &mut self.inner
    }

    /// Everything not yet persisted, as one chunk to append to the store, and
    /// marks it persisted. Empty when nothing changed.
    pub fn take_unpersisted(&mut self) -> Vec<u8> {
        self.inner.commit();
        let heads = self.inner.get_heads();
        if heads == self.persisted {
            return Vec::new();
        }
        let bytes = self.inner.save_after(&self.persisted);
        self.persisted = heads;
        bytes
    }

    /// A compacted snapshot of the whole document (standard `.automerge` format).
    pub fn save(&mut self) -> Vec<u8> {
        self.inner.save()
    }
}

/// Writes the schema version into a document that has none yet.
pub(crate) fn ensure_schema(doc: &mut Doc) -> Result<(), DocError> {
    let am = doc.automerge_mut();
    if am.get(ROOT, crate::schema::SCHEMA_KEY)?.is_none() {
        am.put(ROOT, crate::schema::SCHEMA_KEY, crate::schema::SCHEMA_VERSION)?;
    }
    Ok(())
}

/// Publishes a device certificate under `device/ID` (once).
pub(crate) fn publish_certificate(doc: &mut Doc, cert: &crate::identity::DeviceCertificate) -> Result<(), DocError> {
    let key = crate::schema::device_key(&cert.device);
    if get_bytes(doc.automerge(), &ROOT, &key).is_none() {
        doc.automerge_mut()
            .put(ROOT, key, ScalarValue::Bytes(cert.to_bytes()))?;
    }
    Ok(())
}

/// Every valid device certificate published in a document.
pub(crate) fn certificates(doc: &Doc) -> Vec<crate::identity::DeviceCertificate> {
    keys_with_prefix(doc.automerge(), crate::schema::DEVICE_PREFIX)
        .iter()
        .filter_map(|key| get_bytes(doc.automerge(), &ROOT, key))
        .filter_map(|bytes| crate::identity::DeviceCertificate::from_bytes(&bytes).ok())
        .collect()
}

/// Reads a string at a root key or in an object.
pub(crate) fn get_str(doc: &AutoCommit, obj: &automerge::ObjId, key: &str) -> Option<String> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(value), _) => match value.as_ref() {
            ScalarValue::Str(text) => Some(text.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// Reads an integer at a root key or in an object.
pub(crate) fn get_int(doc: &AutoCommit, obj: &automerge::ObjId, key: &str) -> Option<i64> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(value), _) => match value.as_ref() {
            ScalarValue::Int(n) => Some(*n),
            ScalarValue::Uint(n) => i64::try_from(*n).ok(),
            ScalarValue::Timestamp(n) => Some(*n),
            _ => None,
        },
        _ => None,
    }
}

/// Reads a boolean at a root key.
pub(crate) fn get_bool(doc: &AutoCommit, obj: &automerge::ObjId, key: &str) -> Option<bool> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(value), _) => match value.as_ref() {
            ScalarValue::Boolean(b) => Some(*b),
            _ => None,
        },
        _ => None,
    }
}

/// Reads bytes at a root key.
pub(crate) fn get_bytes(doc: &AutoCommit, obj: &automerge::ObjId, key: &str) -> Option<Vec<u8>> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(value), _) => match value.as_ref() {
            ScalarValue::Bytes(bytes) => Some(bytes.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// Root keys that start with `prefix`, in order.
pub(crate) fn keys_with_prefix(doc: &AutoCommit, prefix: &str) -> Vec<String> {
    let end = format!("{prefix}\u{10FFFF}");
    doc.map_range(ROOT, prefix.to_owned()..end)
        .map(|item| item.key.to_string())
        .collect()
}
