//! Blob frames: `BlobPut`, `BlobStat` and `BlobGet` (attachments uploaded
//! and downloaded in chunks kept with a log).

use super::quotas;
use crate::errors::Closed;
use crate::metrics::Metrics;
use crate::session::{Conn, Peer, blocking, capability_hash, pace};
use crate::store::BlobChunk;
use kith_proto::{BlobId, Capability, LogId, ServerFrame};
use std::sync::atomic::Ordering;

/// The chunk a `BlobPut` carries.
pub(crate) struct Upload {
    /// The blob.
    pub(crate) blob: BlobId,
    /// The blob's whole ciphertext size.
    pub(crate) total_bytes: u64,
    /// Which chunk.
    pub(crate) index: u32,
    /// The chunk's ciphertext.
    pub(crate) bytes: Vec<u8>,
}

/// `BlobPut`: stores one chunk of a blob under `log`.
pub(crate) async fn put(
    conn: &mut Conn,
    peer: Peer,
    log: LogId,
    capability: &Capability,
    upload: Upload,
) -> Result<(), Closed> {
    let hash = capability_hash(capability);
    let store = conn.state.store.clone();
    let quotas = quotas(&conn.state);
    let now = conn.state.now_ms();
    let Upload {
        blob,
        total_bytes,
        index,
        bytes,
    } = upload;
    let device = peer.device;
    let result = blocking(move || {
        let chunk = BlobChunk {
            blob,
            total_bytes,
            index,
            bytes: &bytes,
        };
        store.blob_put_chunk(&log, &hash, chunk, &device, quotas, now)
    })
    .await;
    match result {
        Ok(outcome) => {
            let metrics = &conn.state.metrics;
            if outcome.new_chunk {
                metrics
                    .blob_bytes_stored
                    .fetch_add(outcome.new_bytes, Ordering::Relaxed);
                Metrics::inc(&metrics.blob_chunks_stored);
            }
            conn.send(&ServerFrame::BlobStored {
                blob,
                index,
                complete: outcome.complete,
            })
            .await
        }
        Err(refusal) => conn.refuse(refusal).await,
    }
}

/// `BlobStat`: which chunks of a blob the server holds.
pub(crate) async fn stat(conn: &mut Conn, log: LogId, capability: &Capability, blob: BlobId) -> Result<(), Closed> {
    let hash = capability_hash(capability);
    let store = conn.state.store.clone();
    match blocking(move || store.blob_stat(&log, &hash, &blob)).await {
        Ok(info) => {
            conn.send(&ServerFrame::BlobState {
                blob,
                total_bytes: info.total_bytes,
                have: info.have,
            })
            .await
        }
        Err(refusal) => conn.refuse(refusal).await,
    }
}

/// `BlobGet`: one chunk of a blob.
pub(crate) async fn get(
    conn: &mut Conn,
    peer: Peer,
    log: LogId,
    capability: &Capability,
    blob: BlobId,
    index: u32,
) -> Result<(), Closed> {
    let hash = capability_hash(capability);
    let store = conn.state.store.clone();
    match blocking(move || store.blob_get_chunk(&log, &hash, &blob, index)).await {
        Ok(bytes) => {
            Metrics::inc(&conn.state.metrics.blob_chunks_served);
            pace(&conn.state, conn.peer, &peer.device, bytes.len()).await;
            conn.send(&ServerFrame::BlobChunk { blob, index, bytes }).await
        }
        Err(refusal) => conn.refuse(refusal).await,
    }
}
