//! Change signatures: proof that a change's actor wrote it.
//!
//! An Automerge actor id is a device's Ed25519 public key, but nothing in a
//! change proves that the device made it. Each device therefore signs the
//! newest change it wrote in a document: one signature over that change's
//! hash also vouches for every earlier change of the same device that is one
//! of its ancestors (the hash covers the dependencies, and a device's own
//! changes form one chain). A receiver accepts a change only when a valid
//! signature of its actor covers it this way; one signature per device per
//! batch keeps the cost of checking off the per-message path.

use crate::docs::device_of;
use crate::identity::{DeviceKeys, signature_bytes, verify_signature};
use automerge::{Change, ChangeHash};
use kith_proto::{DeviceId, DocId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The most signatures judged for one batch: one per device that wrote to
/// the document is what honest senders attach, and checking costs about as
/// much as applying a change, so a flood of them is cut off here.
pub const MAX_SIGNATURES_PER_BATCH: usize = 512;

/// What a change signature covers, so one is never valid for another use.
const CHANGE_CONTEXT: &[u8] = b"kith/change/1\0";

/// A device's signature over one of its changes in one document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSignature {
    /// The signing device (the change's actor).
    pub device: DeviceId,
    /// The change's sequence number among the device's changes.
    pub seq: u64,
    /// The change's hash.
    pub change: [u8; 32],
    /// Ed25519 by the device key over the document id, hash and sequence number.
    #[serde(with = "signature_bytes")]
    pub signature: [u8; 64],
}

impl ChangeSignature {
    /// Signs `change` of document `doc` with `keys` (which must be its actor's).
    pub fn sign(keys: &DeviceKeys, doc: &DocId, change: &Change) -> ChangeSignature {
        let hash = change.hash().0;
        let seq = change.seq();
        ChangeSignature {
            device: keys.id(),
            seq,
            change: hash,
            signature: keys.sign(&signed_bytes(doc, &hash, seq)),
        }
    }

    /// Whether the signature is the device's over this change of `doc`.
    pub fn verify(&self, doc: &DocId) -> bool {
        verify_signature(
            self.device.as_bytes(),
            &signed_bytes(doc, &self.change, self.seq),
            &self.signature,
        )
    }

    /// The signed change's hash.
    pub fn hash(&self) -> ChangeHash {
        ChangeHash(self.change)
    }
}

fn signed_bytes(doc: &DocId, hash: &[u8; 32], seq: u64) -> Vec<u8> {
    let doc = doc.to_string();
    let mut bytes = Vec::with_capacity(CHANGE_CONTEXT.len() + doc.len() + 41);
    bytes.extend_from_slice(CHANGE_CONTEXT);
    bytes.extend_from_slice(doc.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(hash);
    bytes.extend_from_slice(&seq.to_be_bytes());
    bytes
}

/// Which changes of a batch their actors' signatures vouch for.
#[derive(Debug, Default)]
pub(crate) struct Coverage {
    /// Changes covered by a valid signature of their actor.
    pub covered: BTreeSet<ChangeHash>,
    /// Changes named by an invalid signature and covered by no valid one.
    pub forged: BTreeSet<ChangeHash>,
    /// The valid signatures, newest per device.
    pub valid: BTreeMap<DeviceId, ChangeSignature>,
}

impl Coverage {
    /// Checks `signatures` (the first [`MAX_SIGNATURES_PER_BATCH`]) for
    /// document `doc` and walks from each valid one
    /// through the batch's `changes`, covering the signer's own changes it
    /// reaches. A signature whose change is in the batch but has another
    /// actor or sequence number counts as invalid.
    pub(crate) fn of(doc: &DocId, changes: &[Change], signatures: &[ChangeSignature]) -> Coverage {
        let by_hash: HashMap<ChangeHash, &Change> = changes.iter().map(|c| (c.hash(), c)).collect();
        let mut coverage = Coverage::default();
        // Deduplicated by the whole signature: a bad copy sent first must
        // not hide a good one of the same change.
        let mut checked: BTreeSet<(DeviceId, [u8; 32], [u8; 64])> = BTreeSet::new();
        for signature in signatures.iter().take(MAX_SIGNATURES_PER_BATCH) {
            if !checked.insert((signature.device, signature.change, signature.signature)) {
                continue;
            }
            let hash = signature.hash();
            let consistent = by_hash
                .get(&hash)
                .is_none_or(|c| actor_is(c, &signature.device) && c.seq() == signature.seq);
            if !consistent || !signature.verify(doc) {
                coverage.forged.insert(hash);
                continue;
            }
            let newest = coverage
                .valid
                .get(&signature.device)
                .is_none_or(|s| s.seq < signature.seq);
            if newest {
                coverage.valid.insert(signature.device, signature.clone());
            }
            coverage.walk(&by_hash, hash, &signature.device);
        }
        coverage.forged.retain(|hash| !coverage.covered.contains(hash));
        coverage
    }

    /// Covers `device`'s changes among `start` and its ancestors in the batch.
    fn walk(&mut self, by_hash: &HashMap<ChangeHash, &Change>, start: ChangeHash, device: &DeviceId) {
        let mut stack = vec![start];
        let mut seen = BTreeSet::new();
        while let Some(hash) = stack.pop() {
            if !seen.insert(hash) {
                continue;
            }
            // Outside the batch: already in the document (so are its
            // ancestors) or not arrived yet.
            let Some(change) = by_hash.get(&hash) else { continue };
            if actor_is(change, device) {
                self.covered.insert(hash);
            }
            stack.extend(change.deps().iter().copied());
        }
    }
}

fn actor_is(change: &Change, device: &DeviceId) -> bool {
    device_of(change.actor_id()) == Some(*device)
}

/// What travels beside an Automerge sync message: the message and the
/// signatures of the changes it may carry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedSyncMessage {
    /// The Automerge sync message.
    pub message: Vec<u8>,
    /// Signatures (newest per device) of the sender's document.
    pub signatures: Vec<ChangeSignature>,
}

impl SignedSyncMessage {
    /// The bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        // Plain data into a Vec: cannot fail.
        postcard::to_stdvec(self).unwrap_or_default()
    }
}
