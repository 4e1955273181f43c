//! Applying changes to a document and deriving the read-model updates.

use crate::authority::{self, Directory, Overlay, Verdict, certificates_in, members_added_by};
use crate::docs::{Doc, DocError, account, device_of, head, segment};
use crate::identity::DeviceKeys;
use crate::readmodel::ReadModelUpdate;
use crate::schema::{self, RootKey, SegmentKey};
use crate::signature::{ChangeSignature, Coverage};
use crate::touched::TouchedKeys;
use automerge::transaction::CommitOptions;
use automerge::{Change, ChangeHash, ExpandedChange, ROOT, ReadDoc};
use kith_proto::{AccountId, DeviceId, DocId, MessageId};
use std::collections::{BTreeMap, BTreeSet};

/// What one write did to one document: bytes to append and rows to update, to
/// be stored in one transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DocDelta {
    /// Change bytes to append to the document's chunks (empty: nothing changed).
    pub chunk: Vec<u8>,
    /// Read-model updates.
    pub updates: Vec<ReadModelUpdate>,
    /// Signatures to keep beside the document (newer than the held ones of
    /// their devices).
    pub signatures: Vec<ChangeSignature>,
}

impl DocDelta {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.chunk.is_empty() && self.updates.is_empty() && self.signatures.is_empty()
    }
}

/// A change that was refused, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The change hash.
    pub hash: ChangeHash,
    /// Why.
    pub reason: String,
}

/// The result of applying remote changes.
#[derive(Debug, Default)]
pub struct ApplyOutcome {
    /// Bytes and rows to store.
    pub delta: DocDelta,
    /// How many changes were applied.
    pub accepted: usize,
    /// Changes refused for good.
    pub rejected: Vec<Rejection>,
    /// Changes that cannot be judged yet (unknown author, missing
    /// dependencies, no signature yet); keep them and offer them again later.
    pub deferred: Vec<Change>,
    /// Valid signatures whose changes are not in the document yet: keep them
    /// with the deferred changes.
    pub deferred_signatures: Vec<ChangeSignature>,
}

/// Commits pending local operations, signs the newest with `keys` (the
/// document's actor) and returns what to store.
pub fn commit_local(doc: &mut Doc, before: &[ChangeHash], now_ms: i64, keys: &DeviceKeys) -> DocDelta {
    doc.automerge_mut()
        .commit_with(CommitOptions::default().with_time(now_ms));
    let mut new = NewChanges::default();
    let changes = local_changes_since(doc, before);
    for change in &changes {
        new.add(doc.id(), change, &change.decode());
    }
    let me = keys.id();
    let newest = changes
        .iter()
        .filter(|c| device_of(c.actor_id()) == Some(me))
        .max_by_key(|c| c.seq());
    let signature = newest.map(|change| ChangeSignature::sign(keys, &doc.id(), change));
    let mut delta = finish(doc, new);
    if let Some(signature) = signature {
        doc.keep_signature(signature.clone());
        delta.signatures.push(signature);
    }
    delta
}

/// How many changes a walk back from the heads may visit before
/// `local_changes_since` asks Automerge instead.
const LOCAL_WALK_LIMIT: usize = 64;

/// The changes local commits added since `before`: a walk back from the heads
/// (one step for one commit), so that writing into a large document does not
/// scan its history. A long walk (a first write, a document built locally in
/// many commits) falls back to Automerge's own search.
fn local_changes_since(doc: &mut Doc, before: &[ChangeHash]) -> Vec<Change> {
    let stop: BTreeSet<ChangeHash> = before.iter().copied().collect();
    let mut stack = doc.heads();
    let mut seen = BTreeSet::new();
    let mut found = Vec::new();
    while let Some(hash) = stack.pop() {
        if stop.contains(&hash) || !seen.insert(hash) {
            continue;
        }
        let change = match doc.automerge_mut().get_change_by_hash(&hash) {
            Some(change) if found.len() < LOCAL_WALK_LIMIT => change.clone(),
            _ => return doc.changes_since(before),
        };
        stack.extend(change.deps().iter().copied());
        found.push(change);
    }
    found
}

/// What the new changes of one write or one received batch touched.
#[derive(Default)]
struct NewChanges {
    keys: TouchedKeys,
    /// Accounts made members by head changes: the set that authorises
    /// segment writes only ever grows from these.
    members: BTreeSet<AccountId>,
}

impl NewChanges {
    fn add(&mut self, doc: DocId, change: &Change, expanded: &ExpandedChange) {
        self.keys.add(change, expanded);
        if matches!(doc, DocId::Head(_)) {
            self.members.extend(members_added_by(change));
        }
    }
}

fn finish(doc: &mut Doc, new: NewChanges) -> DocDelta {
    let NewChanges { keys, members } = new;
    let keys = keys.resolve(doc);
    let mut updates = updates_for_keys(doc, &keys);
    if let DocId::Head(chat) = doc.id() {
        updates.extend(
            members
                .into_iter()
                .map(|account| ReadModelUpdate::MemberEver { chat, account }),
        );
    }
    DocDelta {
        chunk: doc.take_unpersisted(),
        updates,
        signatures: Vec::new(),
    }
}

/// Every `member/` put in the document's history: the accounts ever made members.
/// Deterministic, because every replica holds the same accepted changes.
pub fn ever_members_updates(doc: &mut Doc) -> Vec<ReadModelUpdate> {
    let DocId::Head(chat) = doc.id() else {
        return Vec::new();
    };
    let changes = doc.automerge_mut().get_changes(&[]);
    let accounts: BTreeSet<_> = changes.iter().flat_map(members_added_by).collect();
    accounts
        .into_iter()
        .map(|account| ReadModelUpdate::MemberEver { chat, account })
        .collect()
}

/// Fast path for a segment whose new `changes` were unpacked on `scratch` (a
/// copy of `doc` with them applied): when every change is acceptable, the
/// copy becomes the document and nothing is applied twice. Segment verdicts
/// depend only on the change and the directory, never on document state.
/// Returns `None` (and leaves `doc` alone) when anything must be refused or
/// deferred; the caller then takes the change-by-change path.
pub(crate) fn adopt_if_all_accepted(
    doc: &mut Doc,
    scratch: automerge::AutoCommit,
    changes: &[Change],
    signatures: &[ChangeSignature],
    directory: &dyn Directory,
) -> Option<ApplyOutcome> {
    if !matches!(doc.id(), DocId::Segment(..)) || changes.is_empty() {
        return None;
    }
    let coverage = Coverage::of(&doc.id(), changes, signatures);
    if changes.iter().any(|c| !coverage.covered.contains(&c.hash())) {
        return None;
    }
    let mut candidate = doc.with_automerge(scratch);
    let mut new = NewChanges::default();
    for change in changes {
        let expanded = change.decode();
        if authority::validate_decoded(&candidate, change, &expanded, directory) != Verdict::Accept {
            return None;
        }
        new.add(doc.id(), change, &expanded);
    }
    std::mem::swap(doc, &mut candidate);
    let mut delta = finish(doc, new);
    (delta.signatures, _) = keep_signatures(doc, coverage.valid);
    Some(ApplyOutcome {
        delta,
        accepted: changes.len(),
        ..ApplyOutcome::default()
    })
}

/// Keeps the valid signatures whose changes the document now holds and
/// returns (those that are new, those whose changes it does not hold yet).
fn keep_signatures(
    doc: &mut Doc,
    valid: BTreeMap<DeviceId, ChangeSignature>,
) -> (Vec<ChangeSignature>, Vec<ChangeSignature>) {
    let mut kept = Vec::new();
    let mut waiting = Vec::new();
    for signature in valid.into_values() {
        if doc.automerge_mut().get_change_by_hash(&signature.hash()).is_none() {
            waiting.push(signature);
            continue;
        }
        if doc.keep_signature(signature.clone()) {
            kept.push(signature);
        }
    }
    (kept, waiting)
}

/// Validates and applies remote changes (in any order), returning what to
/// store and what was refused or deferred. A change is judged only once a
/// valid signature of its actor in `signatures` covers it (see
/// [`crate::signature`]); until then it is deferred, and refused when the
/// only signature naming it is invalid.
pub fn apply_remote(
    doc: &mut Doc,
    changes: Vec<Change>,
    signatures: &[ChangeSignature],
    directory: &dyn Directory,
) -> Result<ApplyOutcome, DocError> {
    let mut new = NewChanges::default();
    let mut overlay = Overlay {
        base: directory,
        learned: BTreeMap::new(),
        members: BTreeMap::new(),
    };
    let mut learned_certs = Vec::new();
    // Segments hold no certificates; decoding their changes twice is the
    // single largest cost of ingest.
    let carries_certificates = !matches!(doc.id(), DocId::Segment(..));
    for change in changes.iter().filter(|_| carries_certificates) {
        for cert in certificates_in(change) {
            overlay.learned.insert(cert.device, cert.account);
            learned_certs.push(cert);
        }
    }
    let chat = doc.id().chat();
    let batch_segments = matches!(doc.id(), DocId::Segment(..));

    let mut outcome = ApplyOutcome::default();
    let mut pending: Vec<Change> = Vec::with_capacity(changes.len());
    let mut seen: BTreeSet<ChangeHash> = BTreeSet::new();
    for change in changes {
        let hash = change.hash();
        if seen.insert(hash) && doc.automerge_mut().get_change_by_hash(&hash).is_none() {
            pending.push(change);
        }
    }
    let coverage = Coverage::of(&doc.id(), &pending, signatures);
    let mut available: BTreeSet<ChangeHash> = BTreeSet::new();
    let mut refused: BTreeSet<ChangeHash> = BTreeSet::new();
    let mut waiting: BTreeSet<ChangeHash> = BTreeSet::new();
    let mut batch: Vec<Change> = Vec::new();
    loop {
        let mut progress = false;
        let mut still: Vec<Change> = Vec::new();
        for change in pending {
            let deps = change.deps();
            if deps.iter().any(|d| refused.contains(d)) {
                refused.insert(change.hash());
                outcome.rejected.push(Rejection {
                    hash: change.hash(),
                    reason: "depends on a refused change".into(),
                });
                progress = true;
                continue;
            }
            if deps.iter().any(|d| waiting.contains(d)) {
                waiting.insert(change.hash());
                outcome.deferred.push(change);
                progress = true;
                continue;
            }
            let have_deps = deps
                .iter()
                .all(|d| available.contains(d) || doc.automerge_mut().get_change_by_hash(d).is_some());
            if !have_deps {
                still.push(change);
                continue;
            }
            progress = true;
            let hash = change.hash();
            if !coverage.covered.contains(&hash) {
                if coverage.forged.contains(&hash) {
                    refused.insert(hash);
                    outcome.rejected.push(Rejection {
                        hash,
                        reason: "its signature is not its device's".into(),
                    });
                } else {
                    waiting.insert(hash);
                    outcome.deferred.push(change);
                }
                continue;
            }
            let expanded = change.decode();
            match authority::validate_decoded(doc, &change, &expanded, &overlay) {
                Verdict::Accept => {
                    // Automerge may still refuse it (another change of its
                    // device with the same sequence number): then it costs
                    // only itself and what builds on it.
                    if !batch_segments && let Err(err) = doc.automerge_mut().apply_changes([change.clone()]) {
                        refused.insert(hash);
                        outcome.rejected.push(Rejection {
                            hash,
                            reason: format!("the document refused it: {err}"),
                        });
                        continue;
                    }
                    available.insert(change.hash());
                    new.add(doc.id(), &change, &expanded);
                    if let (Some(chat), DocId::Head(_)) = (chat, doc.id()) {
                        for account in members_added_by(&change) {
                            overlay.members.entry(chat).or_default().insert(account);
                        }
                        // The removal cut asks whose each head change is.
                        if let Some(device) = device_of(change.actor_id())
                            && let Some(account) = overlay.account_of(&device)
                        {
                            doc.attribute(device, account);
                        }
                    }
                    if batch_segments {
                        batch.push(change);
                    }
                    outcome.accepted += 1;
                }
                Verdict::Reject(reason) => {
                    refused.insert(change.hash());
                    outcome.rejected.push(Rejection {
                        hash: change.hash(),
                        reason,
                    });
                }
                Verdict::Defer(_) => {
                    waiting.insert(change.hash());
                    outcome.deferred.push(change);
                }
            }
        }
        pending = still;
        if !progress || pending.is_empty() {
            break;
        }
    }
    // Whatever still lacks dependencies waits for them.
    outcome.deferred.extend(pending);
    if !batch.is_empty() && doc.automerge_mut().apply_changes(batch.clone()).is_err() {
        // One change the document refuses refuses the whole batch: apply
        // them one by one so that it costs only itself. (The read model
        // re-reads what the refused ones touched: it finds what is there.)
        for change in batch {
            let hash = change.hash();
            if let Err(err) = doc.automerge_mut().apply_changes([change]) {
                outcome.accepted = outcome.accepted.saturating_sub(1);
                outcome.rejected.push(Rejection {
                    hash,
                    reason: format!("the document refused it: {err}"),
                });
            }
        }
    }
    let mut delta = finish(doc, new);
    delta
        .updates
        .extend(learned_certs.into_iter().map(ReadModelUpdate::Device));
    let (kept, waiting) = keep_signatures(doc, coverage.valid);
    delta.signatures = kept;
    // Only worth keeping while changes of the same device wait for them
    // (anyone can sign for made-up devices; those vouch for nothing here).
    let waiting_devices: BTreeSet<DeviceId> = outcome
        .deferred
        .iter()
        .filter_map(|c| device_of(c.actor_id()))
        .collect();
    outcome.deferred_signatures = waiting
        .into_iter()
        .filter(|s| waiting_devices.contains(&s.device))
        .collect();
    outcome.delta = delta;
    Ok(outcome)
}

/// The read-model updates for the root keys `keys` of `doc`.
fn updates_for_keys(doc: &mut Doc, keys: &BTreeSet<String>) -> Vec<ReadModelUpdate> {
    if keys.is_empty() {
        return Vec::new();
    }
    match doc.id() {
        DocId::Segment(chat, _) => {
            let mut messages: BTreeSet<MessageId> = BTreeSet::new();
            let mut updates = Vec::new();
            for key in keys {
                match SegmentKey::parse(key) {
                    Some(SegmentKey::Read(account)) => {
                        if let Some(ts) = segment::read_position(doc, &account) {
                            updates.push(ReadModelUpdate::ReadPosition { chat, account, ts });
                        }
                    }
                    Some(SegmentKey::Delivered(account)) => {
                        if let Some(ts) = segment::delivered_position(doc, &account) {
                            updates.push(ReadModelUpdate::DeliveredPosition { chat, account, ts });
                        }
                    }
                    Some(other) => messages.extend(other.message()),
                    None => {}
                }
            }
            let rows = messages
                .iter()
                .filter_map(|id| segment::message_row(doc, chat, id))
                .map(ReadModelUpdate::Message);
            rows.chain(updates).collect()
        }
        DocId::Head(chat) => {
            let mut updates = Vec::new();
            if let Some(row) = head::chat_row(doc, chat) {
                updates.push(ReadModelUpdate::Chat(row));
                updates.push(ReadModelUpdate::ChatAvatar {
                    chat,
                    has_avatar: head::avatar(doc).is_some(),
                });
            }
            if keys.iter().any(|k| k.starts_with(schema::DEVICE_PREFIX)) {
                updates.extend(head::devices(doc).into_iter().map(ReadModelUpdate::Device));
            }
            updates
        }
        DocId::Account(owner) => {
            let mut updates = Vec::new();
            let mut chats = BTreeSet::new();
            for key in keys {
                match RootKey::parse(key) {
                    RootKey::Field(field) if field == schema::PROFILE_NAME => {
                        if let Some(name) = account::name(doc) {
                            updates.push(ReadModelUpdate::Profile { account: owner, name });
                        }
                    }
                    RootKey::ChatSetting(chat, _) => {
                        chats.insert(chat);
                    }
                    // A contact's name as last told: shown by every device of
                    // the account, also one that never saw their hello (a
                    // linked, restored or recovered one).
                    RootKey::Contact(contact) => {
                        let record = crate::docs::get_bytes(doc.automerge(), &ROOT, key)
                            .and_then(|bytes| crate::docs::contact::ContactRecord::decode(&bytes).ok());
                        if let Some(name) = record.and_then(|r| r.name) {
                            updates.push(ReadModelUpdate::Profile { account: contact, name });
                        }
                    }
                    RootKey::Revoked(device) => {
                        let at_ms = crate::docs::get_int(doc.automerge(), &ROOT, key).unwrap_or(0);
                        updates.push(ReadModelUpdate::DeviceRevoked { device, at_ms });
                    }
                    _ => {}
                }
            }
            if keys.iter().any(|k| k.starts_with(schema::DEVICE_PREFIX)) {
                updates.extend(account::devices(doc).into_iter().map(ReadModelUpdate::Device));
            }
            for chat in chats {
                updates.push(ReadModelUpdate::ChatSettings {
                    chat,
                    settings: account::chat_settings(doc, &chat),
                });
            }
            updates
        }
    }
}

/// Every read-model row of a document, from scratch (rebuilding a store, tests).
pub fn full_read_model(doc: &mut Doc) -> Vec<ReadModelUpdate> {
    let keys: BTreeSet<String> = doc.automerge().keys(ROOT).collect();
    let mut updates = updates_for_keys(doc, &keys);
    updates.extend(ever_members_updates(doc));
    updates
}
