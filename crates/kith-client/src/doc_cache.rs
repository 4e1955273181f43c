//! The in-memory document cache: each document as last loaded, with the
//! sequence number of the newest stored chunk it holds.
//!
//! Several processes may write one profile, so a cached document is only a
//! starting point: before use it loads the chunks stored after its sequence
//! number ([`DocCache::refreshed`]). A copy that may hold operations the
//! store does not (a write that failed) is forgotten, never repaired.

use crate::error::ClientError;
use kith_core::{ChangeSignature, Doc};
use kith_proto::{DeviceId, DocId};
use kith_store::{StoreError, StoredChunk};
use std::collections::HashMap;

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
    /// of `chunks` it does not hold yet, and the stored signatures (read with
    /// `signatures`) whenever it loaded any.
    pub(crate) fn refreshed(
        &mut self,
        id: DocId,
        device: &DeviceId,
        chunks: Vec<StoredChunk>,
        signatures: impl FnOnce() -> Result<Vec<ChangeSignature>, StoreError>,
    ) -> Result<&mut Doc, ClientError> {
        let cached = self.docs.entry(id).or_insert_with(|| CachedDoc {
            doc: Doc::new(id, device),
            seq: 0,
        });
        let mut loaded = false;
        for chunk in chunks {
            if chunk.seq > cached.seq {
                cached.doc.load_stored(&chunk.bytes)?;
                cached.seq = chunk.seq;
                loaded = true;
            }
        }
        if loaded {
            for signature in signatures()? {
                cached.doc.keep_signature(signature);
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
