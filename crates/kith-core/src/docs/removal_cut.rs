//! The removal cut: what a removed account wrote into a conversation's head
//! without having seen its removal counts for nothing.
//!
//! Authority judges a head change at its dependencies, so a former admin can
//! still write changes that claim to come from before its removal (commit a
//! key epoch of its choosing, re-add itself, promote a friend) and they are
//! valid where they are written. The cut takes their effect away at read
//! time: a change by account X that is *concurrent* with an accepted change
//! removing X (neither its ancestor nor its descendant) is cut, and the head's
//! values are recomputed without the cut changes' operations. What the
//! removal's author had seen (ancestors of the removal) stands; what X writes
//! after seeing the removal is refused by authority anyway.
//!
//! Removals themselves always hold, even inside a cut change: two admins who
//! remove each other concurrently are both out (an owner, whom admins cannot
//! remove, puts either back). Without this rule each removal would cut the
//! other and both would stay.
//!
//! The result is a pure function of the changes at the given heads and of
//! which account each device belongs to, so every replica holding the same
//! changes reads the same values, whatever order they arrived in.
//!
//! A head document is a flat map of plain root values (authority refuses
//! anything else), so recomputing it is simple: an operation stays live unless
//! a kept operation overwrote or deleted it (Automerge's `pred`), and among
//! the live puts of a key the highest op id wins, as in Automerge.

use super::{Doc, device_of};
use crate::authority::Directory;
use crate::schema::RootKey;
use automerge::legacy::{Key, ObjectId, OpType};
use automerge::{ActorId, ChangeHash, ROOT, ReadDoc, ScalarValue, Value};
use kith_proto::{AccountId, DeviceId};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

/// An operation's id as Automerge orders them: counter, then actor.
type OpKey = (u64, ActorId);

/// One root operation of a head change.
#[derive(Debug)]
struct RootOp {
    key: String,
    id: OpKey,
    /// `None` for a delete.
    value: Option<ScalarValue>,
    preds: Vec<OpKey>,
}

/// One head change, decoded once.
#[derive(Debug)]
pub(crate) struct IndexedChange {
    hash: ChangeHash,
    deps: Vec<ChangeHash>,
    device: Option<DeviceId>,
    ops: Vec<RootOp>,
    /// Accounts whose `member/` key this change deletes.
    removed: Vec<AccountId>,
}

/// Decoded head changes by hash. A hash always names the same content, so
/// clones of a document share one memo.
#[derive(Clone, Debug, Default)]
pub(crate) struct ChangeMemo(Arc<Mutex<BTreeMap<ChangeHash, Arc<IndexedChange>>>>);

impl ChangeMemo {
    fn get_or_decode(&self, doc: &Doc, hash: &ChangeHash) -> Option<Arc<IndexedChange>> {
        let mut memo = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = memo.get(hash) {
            return Some(found.clone());
        }
        let change = doc.automerge().get_change_by_hash(hash)?;
        let indexed = Arc::new(index(&change));
        memo.insert(*hash, indexed.clone());
        Some(indexed)
    }
}

fn index(change: &automerge::Change) -> IndexedChange {
    let expanded = change.decode();
    let start = change.start_op().get();
    let mut ops = Vec::new();
    let mut removed = Vec::new();
    for (offset, op) in expanded.operations.iter().enumerate() {
        let (ObjectId::Root, Key::Map(key)) = (&op.obj, &op.key) else {
            continue;
        };
        let value = match &op.action {
            OpType::Put(value) => Some(value.clone()),
            OpType::Delete => None,
            // Authority lets nothing else into a head document.
            _ => continue,
        };
        if value.is_none()
            && let RootKey::Member(account) = RootKey::parse(key)
        {
            removed.push(account);
        }
        ops.push(RootOp {
            key: key.to_string(),
            id: (start + offset as u64, change.actor_id().clone()),
            value,
            preds: op.pred.iter().map(|p| (p.0, p.1.clone())).collect(),
        });
    }
    IndexedChange {
        hash: change.hash(),
        deps: change.deps().to_vec(),
        device: device_of(change.actor_id()),
        ops,
        removed,
    }
}

/// The root values of a head document at some heads, as honest members read them.
pub enum HeadValues<'a> {
    /// Nothing is cut: Automerge's own view at these heads.
    Automerge(&'a Doc, Vec<ChangeHash>),
    /// Some changes are cut: the values recomputed without them, each with
    /// the change that wrote it.
    Recomputed(BTreeMap<String, (ScalarValue, ChangeHash)>),
}

impl HeadValues<'_> {
    /// The value of a root key.
    pub fn get(&self, key: &str) -> Option<ScalarValue> {
        match self {
            HeadValues::Automerge(doc, heads) => match doc.automerge().get_at(ROOT, key, heads) {
                Ok(Some((Value::Scalar(value), _))) => Some(value.into_owned()),
                _ => None,
            },
            HeadValues::Recomputed(values) => values.get(key).map(|(value, _)| value.clone()),
        }
    }

    /// The change that wrote the value of a root key.
    pub fn written_by(&self, key: &str) -> Option<ChangeHash> {
        match self {
            HeadValues::Automerge(doc, heads) => match doc.automerge().get_at(ROOT, key, heads) {
                Ok(Some((_, op))) => doc.automerge().hash_for_opid(&op),
                _ => None,
            },
            HeadValues::Recomputed(values) => values.get(key).map(|(_, hash)| *hash),
        }
    }

    /// The value of a root key when it is a string.
    pub fn get_str(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            ScalarValue::Str(text) => Some(text.to_string()),
            _ => None,
        }
    }

    /// Every root key that starts with `prefix`, in order.
    pub fn keys_with_prefix(&self, prefix: &str) -> Vec<String> {
        let end = format!("{prefix}\u{10FFFF}");
        match self {
            HeadValues::Automerge(doc, heads) => doc
                .automerge()
                .map_range_at(ROOT, prefix.to_owned()..end, heads)
                .map(|item| item.key.to_string())
                .collect(),
            HeadValues::Recomputed(values) => values
                .range(prefix.to_owned()..end)
                .map(|(key, _)| key.clone())
                .collect(),
        }
    }
}

/// The head's values at `heads` with the removal cut applied; `directory`
/// says which account each writing device belongs to.
pub(crate) fn values_at<'a>(doc: &'a Doc, heads: &[ChangeHash], directory: &dyn Directory) -> HeadValues<'a> {
    let history = history(doc, heads);
    match cut_changes(&history, directory) {
        cut if cut.is_empty() => HeadValues::Automerge(doc, heads.to_vec()),
        cut => HeadValues::Recomputed(recompute(&history, &cut)),
    }
}

/// The changes at `heads` (the heads and all their ancestors), parents first.
fn history(doc: &Doc, heads: &[ChangeHash]) -> Vec<Arc<IndexedChange>> {
    let memo = doc.change_memo();
    let mut order = Vec::new();
    let mut done: BTreeSet<ChangeHash> = BTreeSet::new();
    let mut stack: Vec<(ChangeHash, bool)> = heads.iter().rev().map(|h| (*h, false)).collect();
    while let Some((hash, parents_done)) = stack.pop() {
        if done.contains(&hash) {
            continue;
        }
        let Some(change) = memo.get_or_decode(doc, &hash) else {
            continue;
        };
        if parents_done {
            done.insert(hash);
            order.push(change);
        } else {
            stack.push((hash, true));
            stack.extend(
                change
                    .deps
                    .iter()
                    .rev()
                    .filter(|dep| !done.contains(*dep))
                    .map(|dep| (*dep, false)),
            );
        }
    }
    order
}

/// Positions in `history` of the changes the cut takes away.
fn cut_changes(history: &[Arc<IndexedChange>], directory: &dyn Directory) -> BTreeSet<usize> {
    let mut cut = BTreeSet::new();
    if history.iter().all(|change| change.removed.is_empty()) {
        return cut;
    }
    let position: BTreeMap<ChangeHash, usize> = history.iter().enumerate().map(|(i, c)| (c.hash, i)).collect();
    let parents: Vec<Vec<usize>> = history
        .iter()
        .map(|change| change.deps.iter().filter_map(|d| position.get(d).copied()).collect())
        .collect();
    let mut accounts: BTreeMap<DeviceId, Option<AccountId>> = BTreeMap::new();
    let mut author = |at: usize| -> Option<AccountId> {
        let device = history.get(at)?.device?;
        *accounts.entry(device).or_insert_with(|| directory.account_of(&device))
    };
    for (removal, change) in history.iter().enumerate() {
        for removed in &change.removed {
            let ancestors = ancestors_of(removal, &parents);
            // History is parents first, so one forward pass finds descendants.
            let mut descendants: BTreeSet<usize> = BTreeSet::from([removal]);
            for (at, deps) in parents.iter().enumerate().skip(removal + 1) {
                if deps.iter().any(|d| descendants.contains(d)) {
                    descendants.insert(at);
                }
            }
            for at in 0..history.len() {
                if !ancestors.contains(&at) && !descendants.contains(&at) && author(at) == Some(*removed) {
                    cut.insert(at);
                }
            }
        }
    }
    cut
}

/// Every ancestor of the change at `at` (not itself).
fn ancestors_of(at: usize, parents: &[Vec<usize>]) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<usize> = parents.get(at).cloned().unwrap_or_default();
    while let Some(next) = stack.pop() {
        if seen.insert(next) {
            stack.extend(parents.get(next).into_iter().flatten().copied());
        }
    }
    seen
}

/// The root values without the cut changes' operations (but with their
/// removals: those always hold).
fn recompute(history: &[Arc<IndexedChange>], cut: &BTreeSet<usize>) -> BTreeMap<String, (ScalarValue, ChangeHash)> {
    let kept = |at: usize, op: &RootOp| -> bool {
        !cut.contains(&at) || (op.value.is_none() && matches!(RootKey::parse(&op.key), RootKey::Member(_)))
    };
    let mut overwritten: BTreeSet<&OpKey> = BTreeSet::new();
    for (at, change) in history.iter().enumerate() {
        for op in change.ops.iter().filter(|op| kept(at, op)) {
            overwritten.extend(op.preds.iter());
        }
    }
    let mut winners: BTreeMap<&str, (&OpKey, &ScalarValue, ChangeHash)> = BTreeMap::new();
    for (at, change) in history.iter().enumerate() {
        for op in change.ops.iter().filter(|op| kept(at, op)) {
            let Some(value) = &op.value else { continue };
            if overwritten.contains(&op.id) {
                continue;
            }
            let entry = winners.entry(op.key.as_str()).or_insert((&op.id, value, change.hash));
            if op.id > *entry.0 {
                *entry = (&op.id, value, change.hash);
            }
        }
    }
    winners
        .into_iter()
        .map(|(key, (_, value, hash))| (key.to_owned(), (value.clone(), hash)))
        .collect()
}

/// Every device that wrote a change at `heads`.
pub(crate) fn writers_at(doc: &Doc, heads: &[ChangeHash]) -> BTreeSet<DeviceId> {
    history(doc, heads).iter().filter_map(|change| change.device).collect()
}

/// A document's attributed writers, plus the certificates it publishes.
pub(crate) struct DocAuthors<'a> {
    doc: &'a Doc,
    known: &'a BTreeMap<DeviceId, AccountId>,
}

impl<'a> DocAuthors<'a> {
    pub(crate) fn new(doc: &'a Doc, known: &'a BTreeMap<DeviceId, AccountId>) -> Self {
        DocAuthors { doc, known }
    }
}

impl Directory for DocAuthors<'_> {
    fn account_of(&self, device: &DeviceId) -> Option<AccountId> {
        self.known.get(device).copied().or_else(|| {
            super::certificates(self.doc)
                .into_iter()
                .find(|cert| cert.device == *device)
                .map(|cert| cert.account)
        })
    }
    fn was_member(&self, _chat: &kith_proto::ChatId, _account: &AccountId) -> bool {
        false
    }
}
