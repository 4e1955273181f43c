//! The in-memory document cache: each document as last loaded, with the
//! sequence number of the newest stored chunk it holds.
//!
//! Several processes may write one profile, so a cached document is only a
//! starting point: before use it loads the chunks stored after its sequence
//! number ([`DocCache::refreshed`]). A copy that may hold operations the
//! store does not (a write that failed) is forgotten, never repaired.

use crate::error::ClientError;
use kith_core::{ChangeSignature, Doc};
use kith_proto::{AccountId, DeviceId, DocId};
use kith_store::{Store, StoreError, StoredChunk, WriteTxn};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// What a refresh reads beside the chunks: the store or a write transaction.
pub(crate) trait DocSource {
    /// The stored signatures of a document.
    fn change_signatures(&mut self, id: &DocId) -> Result<Vec<ChangeSignature>, StoreError>;
    /// The account of a device with a known certificate.
    fn device_account(&mut self, device: &DeviceId) -> Result<Option<AccountId>, StoreError>;
}

impl DocSource for &dyn Store {
    fn change_signatures(&mut self, id: &DocId) -> Result<Vec<ChangeSignature>, StoreError> {
        Store::change_signatures(*self, id)
    }
    fn device_account(&mut self, device: &DeviceId) -> Result<Option<AccountId>, StoreError> {
        Store::device_account(*self, device)
    }
}

impl DocSource for &mut dyn WriteTxn {
    fn change_signatures(&mut self, id: &DocId) -> Result<Vec<ChangeSignature>, StoreError> {
        WriteTxn::change_signatures(*self, id)
    }
    fn device_account(&mut self, device: &DeviceId) -> Result<Option<AccountId>, StoreError> {
        WriteTxn::device_account(*self, device)
    }
}

/// One cached document.
struct CachedDoc {
    doc: Doc,
    /// The newest stored chunk this copy holds (0: none).
    seq: i64,
}

/// Documents by id (see the module documentation).
#[derive(Default)]
pub(crate) struct DocCache {
    docs: HashMap<DocId, CachedDoc>,
}

impl DocCache {
    /// The sequence number the cached copy of `id` holds (0 when there is
    /// none): read the chunks after it, then call [`DocCache::refreshed`].
    pub(crate) fn seq(&self, id: &DocId) -> i64 {
        self.docs.get(id).map_or(0, |cached| cached.seq)
    }

    /// The cached document (created empty when absent), after loading those
    /// of `chunks` it does not hold yet, and the stored signatures whenever it
    /// loaded any. `source` also attributes the writers of a head document
    /// (and this device) to their accounts, which the removal cut needs.
    pub(crate) fn refreshed(
        &mut self,
        id: DocId,
        device: &DeviceId,
        chunks: Vec<StoredChunk>,
        source: &mut dyn DocSource,
    ) -> Result<&mut Doc, ClientError> {
        let cached = match self.docs.entry(id) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let mut doc = Doc::new(id, device);
                if let Some(account) = source.device_account(device)? {
                    doc.attribute(*device, account);
                }
                entry.insert(CachedDoc { doc, seq: 0 })
            }
        };
        let mut loaded = false;
        for chunk in chunks {
            if chunk.seq > cached.seq {
                cached.doc.load_stored(&chunk.bytes)?;
                cached.seq = chunk.seq;
                loaded = true;
            }
        }
        if loaded {
            for signature in source.change_signatures(&id)? {
                cached.doc.keep_signature(signature);
            }
            for writer in cached.doc.unattributed_writers() {
                if let Some(account) = source.device_account(&writer)? {
                    cached.doc.attribute(writer, account);
                }
            }
        }
        Ok(&mut cached.doc)
    }

    /// The cached document, if any, without refreshing it.
    pub(crate) fn get_mut(&mut self, id: &DocId) -> Option<&mut Doc> {
        self.docs.get_mut(id).map(|cached| &mut cached.doc)
    }

    /// Notes that the cached copy's own operations were stored as chunk `seq`.
    pub(crate) fn stored(&mut self, id: &DocId, seq: i64) {
        if let Some(cached) = self.docs.get_mut(id) {
            cached.seq = seq;
        }
    }

    /// Notes that the chunks through `last` were replaced by snapshot chunk
    /// `seq`: a copy that held all of them holds what the snapshot holds.
    pub(crate) fn snapshotted(&mut self, id: &DocId, last: i64, seq: i64) {
        if let Some(cached) = self.docs.get_mut(id)
            && cached.seq == last
        {
            cached.seq = seq;
        }
    }

    /// Forgets copies that may be ahead of the store.
    pub(crate) fn forget<'a>(&mut self, ids: impl IntoIterator<Item = &'a DocId>) {
        for id in ids {
            self.docs.remove(id);
        }
    }

    /// Forgets every copy.
    pub(crate) fn clear(&mut self) {
        self.docs.clear();
    }
}
