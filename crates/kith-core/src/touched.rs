//! Which root keys a set of changes touched: what the read model must look at
//! again after a write or a received batch.
//!
//! Read from the changes' own operations rather than from a diff of the
//! document: a diff (and the patch log it needs, which every operation then
//! feeds) costs time that grows with the document, while a change names its
//! keys directly. Every key that changed visibly was written by one of the
//! new operations, so this set contains the diff's; a key whose write lost a
//! conflict is only recomputed for nothing.

use crate::docs::Doc;
use automerge::legacy::{Key, ObjectId, OpType};
use automerge::{ActorId, Change, ExpandedChange, Prop, ReadDoc};
use std::collections::BTreeSet;

/// Root keys touched by changes, gathered one change at a time.
#[derive(Debug, Default)]
pub(crate) struct TouchedKeys {
    keys: BTreeSet<String>,
    /// Objects created at the root by these changes: operations inside them
    /// are covered by the key that created them.
    created: BTreeSet<(u64, ActorId)>,
    /// Nested objects written to that existed before; their root key is looked
    /// up once the changes are in the document.
    nested: BTreeSet<(u64, ActorId)>,
}

impl TouchedKeys {
    /// Notes the keys of one change's operations (`expanded` is its decoding).
    pub(crate) fn add(&mut self, change: &Change, expanded: &ExpandedChange) {
        let start = change.start_op().get();
        let actor = change.actor_id();
        for (index, op) in expanded.operations.iter().enumerate() {
            match &op.obj {
                ObjectId::Root => {
                    if let Key::Map(key) = &op.key {
                        if matches!(op.action, OpType::Make(_)) {
                            self.created.insert((start + index as u64, actor.clone()));
                        }
                        self.keys.insert(key.to_string());
                    }
                }
                ObjectId::Id(id) => {
                    self.nested.insert((id.counter(), id.actor().clone()));
                }
            }
        }
    }

    /// The root keys touched; `doc` must already hold the changes.
    pub(crate) fn resolve(self, doc: &Doc) -> BTreeSet<String> {
        let TouchedKeys {
            mut keys,
            created,
            nested,
        } = self;
        let am = doc.automerge();
        for object in nested.difference(&created) {
            let (counter, actor) = object;
            // An object this document does not hold names no key of it.
            let Ok(obj) = am.import_obj(&format!("{counter}@{actor}")) else {
                continue;
            };
            let Ok(parents) = am.parents(&obj) else { continue };
            if let Some(Prop::Map(key)) = parents.last().map(|parent| parent.prop) {
                keys.insert(key);
            }
        }
        keys
    }
}
