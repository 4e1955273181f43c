//! Attachments between peers: a device asks a connected peer for a window
//! of chunks of a blob it wants; the peer answers with the chunks sealed
//! under the blob's key (as the server keeps them), or says it cannot.
//! A peer gets a blob only if it is one of our devices or a current member
//! of a chat whose live message refers to it.

use super::frame::{BLOB_WINDOW, PeerFrame};
use super::identity::PeerIdentity;
use crate::blobs::PartialBlob;
use crate::error::ClientError;
use crate::profile::Profile;
use kith_net::p2p::PeerId;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// A window without progress for this long is asked of someone else.
const STALLED_AFTER: Duration = Duration::from_secs(20);

/// What to answer a peer's `BlobWant`.
pub(super) fn serve(
    profile: &Profile,
    peer: &PeerIdentity,
    hash: [u8; 32],
    first: u32,
    count: u32,
) -> Result<Vec<PeerFrame>, ClientError> {
    let missing = || Ok(vec![PeerFrame::BlobMissing { hash }]);
    if !profile.blobs().has(&hash)? || !may_have(profile, peer, &hash)? {
        return missing();
    }
    let Some((_, _, attachment)) = profile.blobs().find_attachment(&hash)? else {
        return missing();
    };
    let chunks = kith_core::crypto::plaintext_chunks(attachment.size);
    let last = first.saturating_add(count.min(BLOB_WINDOW)).min(chunks);
    let mut frames = Vec::new();
    for index in first..last {
        frames.push(PeerFrame::BlobChunk {
            hash,
            index,
            bytes: profile.sealed_chunk(&attachment, index)?,
        });
    }
    Ok(frames)
}

/// Whether `peer` may be given (or asked for) a blob.
pub(super) fn may_have(profile: &Profile, peer: &PeerIdentity, hash: &[u8; 32]) -> Result<bool, ClientError> {
    if peer.own {
        return Ok(true);
    }
    for chat in profile.store().blob_chats(hash)? {
        if profile
            .store()
            .chat(&chat)?
            .is_some_and(|row| row.members.contains_key(&peer.account))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// One blob being fetched from one peer.
struct Fetch {
    peer: PeerId,
    partial: PartialBlob,
    asked_until: u32,
    last_progress: Instant,
}

/// The downloads over peers.
#[derive(Default)]
pub(super) struct BlobFetches {
    active: BTreeMap<[u8; 32], Fetch>,
    /// (blob, peer) pairs that said no, not asked again in this run.
    refused: BTreeSet<([u8; 32], PeerId)>,
    /// Blobs that arrived.
    pub(super) completed: usize,
}

impl BlobFetches {
    /// Starts fetching wanted blobs from the given authenticated peers
    /// (directly connected ones: a relayed circuit is for sync, not bulk).
    /// Returns the frames to send.
    pub(super) fn plan(
        &mut self,
        profile: &Profile,
        peers: &[(PeerId, PeerIdentity)],
    ) -> Result<Vec<(PeerId, PeerFrame)>, ClientError> {
        let mut out = Vec::new();
        // A fetch whose peer went away, or stalled, starts again elsewhere
        // (from the chunks already on disk).
        self.active
            .retain(|_, f| f.last_progress.elapsed() < STALLED_AFTER && peers.iter().any(|(p, _)| *p == f.peer));
        if peers.is_empty() {
            return Ok(out);
        }
        for blob in profile.store().blobs()? {
            if blob.complete || self.active.contains_key(&blob.hash) {
                continue;
            }
            let Some((_, _, attachment)) = profile.blobs().find_attachment(&blob.hash)? else {
                continue;
            };
            let mut source = None;
            for (peer, identity) in peers {
                if !self.refused.contains(&(blob.hash, *peer)) && may_have(profile, identity, &blob.hash)? {
                    source = Some(*peer);
                    break;
                }
            }
            let Some(peer) = source else { continue };
            let partial = match PartialBlob::open(profile, &attachment) {
                Ok(Some(partial)) => partial,
                // Done meanwhile, or another fetch (the server's, another
                // process's) has it in hand.
                Ok(None) | Err(ClientError::BlobBusy(_)) => continue,
                Err(err) => return Err(err),
            };
            let first = partial.next();
            let count = BLOB_WINDOW.min(partial.count() - first);
            out.push((
                peer,
                PeerFrame::BlobWant {
                    hash: blob.hash,
                    first,
                    count,
                },
            ));
            self.active.insert(
                blob.hash,
                Fetch {
                    peer,
                    partial,
                    asked_until: first + count,
                    last_progress: Instant::now(),
                },
            );
        }
        Ok(out)
    }

    /// A chunk arrived: stores it, asks for the next window when this one
    /// is done, finishes the blob when it is whole.
    pub(super) fn on_chunk(
        &mut self,
        profile: &Profile,
        peer: PeerId,
        hash: [u8; 32],
        index: u32,
        bytes: &[u8],
    ) -> Result<Option<PeerFrame>, ClientError> {
        let Some(fetch) = self.active.get_mut(&hash).filter(|f| f.peer == peer) else {
            return Ok(None);
        };
        if let Err(err) = fetch.partial.append(index, bytes) {
            // A bad chunk: this peer is not asked for it again.
            tracing::warn!(%peer, %err, "bad blob chunk from a peer");
            self.active.remove(&hash);
            self.refused.insert((hash, peer));
            return Ok(None);
        }
        fetch.last_progress = Instant::now();
        if fetch.partial.is_whole() {
            if let Some(fetch) = self.active.remove(&hash) {
                match fetch.partial.finish(profile, false) {
                    Ok(()) => self.completed += 1,
                    Err(ClientError::Blob(reason)) => {
                        tracing::warn!(%peer, reason, "a peer sent a blob that does not match");
                        self.refused.insert((hash, peer));
                    }
                    Err(err) => return Err(err),
                }
            }
            return Ok(None);
        }
        // The last one is reported once the file is in place.
        profile.report_transfer(fetch.partial.progress());
        if fetch.partial.next() < fetch.asked_until {
            return Ok(None);
        }
        let first = fetch.partial.next();
        let count = BLOB_WINDOW.min(fetch.partial.count() - first);
        fetch.asked_until = first + count;
        Ok(Some(PeerFrame::BlobWant { hash, first, count }))
    }

    /// A peer cannot give a blob: ask someone else at the next plan.
    pub(super) fn on_missing(&mut self, peer: PeerId, hash: [u8; 32]) {
        if self.active.get(&hash).is_some_and(|f| f.peer == peer) {
            self.active.remove(&hash);
        }
        self.refused.insert((hash, peer));
    }

    /// Whether nothing is being fetched.
    pub(super) fn is_idle(&self) -> bool {
        self.active.is_empty()
    }
}
