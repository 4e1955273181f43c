//! Blob chunks on PostgreSQL: the rules of the SQLite store's blobs (see
//! [`LogStore::blob_put_chunk`](crate::store::LogStore::blob_put_chunk)).

use super::{log_row, usage};
use crate::store::{BlobChunk, BlobInfo, BlobPutOutcome, Quotas, StoreError, check_quotas, to_i64, to_u32, to_u64};
use kith_proto::{BlobId, DeviceId, LogId, blob_chunk_count};
use tokio_postgres::{Client, GenericClient};

/// A row of `blobs`.
struct BlobRow {
    log: Vec<u8>,
    total_bytes: u64,
    chunk_count: u32,
    stored_chunks: u32,
}

async fn blob_row(client: &impl GenericClient, blob: &BlobId) -> Result<Option<BlobRow>, StoreError> {
    Ok(client
        .query_opt(
            "SELECT log_id, total_bytes, chunk_count, stored_chunks FROM blobs WHERE blob_id = $1",
            &[&&blob.0[..]],
        )
        .await?
        .map(|row| BlobRow {
            log: row.get(0),
            total_bytes: to_u64(row.get(1)),
            chunk_count: to_u32(row.get(2)),
            stored_chunks: to_u32(row.get(3)),
        }))
}

/// The blob if `log` holds it; a blob of another log reads as absent.
async fn blob_in_log(client: &impl GenericClient, log: &LogId, blob: &BlobId) -> Result<BlobRow, StoreError> {
    match blob_row(client, blob).await? {
        Some(row) if row.log.as_slice() == log.0.as_slice() => Ok(row),
        _ => Err(StoreError::BlobNotFound),
    }
}

/// Stores one chunk (already validated).
pub(super) async fn put_chunk(
    client: &mut Client,
    log: &LogId,
    capability_hash: &[u8; 32],
    chunk: BlobChunk<'_>,
    uploader: &DeviceId,
    quotas: Quotas,
    now_ms: u64,
) -> Result<BlobPutOutcome, StoreError> {
    let blob = &chunk.blob.0[..];
    let index = i64::from(chunk.index);
    let len = chunk.bytes.len() as u64;
    let tx = client.transaction().await?;
    let log_stored = match log_row(&tx, log, true).await? {
        None => return Err(StoreError::NotFound),
        Some((hash, _, _)) if hash.as_slice() != capability_hash.as_slice() => return Err(StoreError::Forbidden),
        Some((_, _, stored)) => stored,
    };
    let device_before = usage::device_stored(&tx, uploader).await?;
    let (stored_chunks, chunk_count) = match blob_row(&tx, &chunk.blob).await? {
        Some(row) => {
            if row.log.as_slice() != log.0.as_slice() {
                return Err(StoreError::BlobInOtherLog);
            }
            if row.total_bytes != chunk.total_bytes {
                return Err(StoreError::InvalidRequest(format!(
                    "the blob was started with a size of {} bytes, not {}",
                    row.total_bytes, chunk.total_bytes
                )));
            }
            let stored = tx
                .query_opt(
                    "SELECT 1 FROM blob_chunks WHERE blob_id = $1 AND idx = $2",
                    &[&blob, &index],
                )
                .await?;
            if stored.is_some() {
                return Ok(BlobPutOutcome {
                    complete: row.stored_chunks >= row.chunk_count,
                    new_chunk: false,
                    new_bytes: 0,
                });
            }
            (row.stored_chunks, row.chunk_count)
        }
        None => {
            check_quotas(
                log_stored.saturating_add(chunk.total_bytes),
                device_before.saturating_add(chunk.total_bytes),
                quotas,
            )?;
            let count = blob_chunk_count(chunk.total_bytes);
            tx.execute(
                "INSERT INTO blobs (blob_id, log_id, total_bytes, chunk_count, stored_chunks, created_ms)
                 VALUES ($1, $2, $3, $4, 0, $5)",
                &[
                    &blob,
                    &&log.0[..],
                    &to_i64(chunk.total_bytes),
                    &i64::from(count),
                    &to_i64(now_ms),
                ],
            )
            .await?;
            (0, count)
        }
    };
    let log_after = log_stored.saturating_add(len);
    check_quotas(log_after, device_before.saturating_add(len), quotas)?;
    tx.execute(
        "INSERT INTO blob_chunks (blob_id, idx, bytes) VALUES ($1, $2, $3)",
        &[&blob, &index, &chunk.bytes],
    )
    .await?;
    tx.execute(
        "UPDATE blobs SET stored_chunks = stored_chunks + 1 WHERE blob_id = $1",
        &[&blob],
    )
    .await?;
    tx.execute(
        "UPDATE logs SET stored_bytes = $2 WHERE log_id = $1",
        &[&&log.0[..], &to_i64(log_after)],
    )
    .await?;
    usage::charge(&tx, log, uploader, len, now_ms).await?;
    tx.commit().await?;
    Ok(BlobPutOutcome {
        complete: stored_chunks + 1 >= chunk_count,
        new_chunk: true,
        new_bytes: len,
    })
}

/// The blob's size and stored chunks (the capability already checked).
pub(super) async fn stat(client: &impl GenericClient, log: &LogId, blob: &BlobId) -> Result<BlobInfo, StoreError> {
    let row = blob_in_log(client, log, blob).await?;
    let have = client
        .query(
            "SELECT idx FROM blob_chunks WHERE blob_id = $1 ORDER BY idx",
            &[&&blob.0[..]],
        )
        .await?
        .into_iter()
        .map(|row| to_u32(row.get(0)))
        .collect();
    Ok(BlobInfo {
        total_bytes: row.total_bytes,
        have,
    })
}

/// Chunk `index` of a complete blob (the capability already checked).
pub(super) async fn get_chunk(
    client: &impl GenericClient,
    log: &LogId,
    blob: &BlobId,
    index: u32,
) -> Result<Vec<u8>, StoreError> {
    let row = blob_in_log(client, log, blob).await?;
    if index >= row.chunk_count {
        return Err(StoreError::InvalidRequest(format!(
            "chunk index {index} is out of range: the blob has {} chunks",
            row.chunk_count
        )));
    }
    if row.stored_chunks < row.chunk_count {
        return Err(StoreError::BlobIncomplete {
            stored: row.stored_chunks,
            count: row.chunk_count,
        });
    }
    Ok(client
        .query_one(
            "SELECT bytes FROM blob_chunks WHERE blob_id = $1 AND idx = $2",
            &[&&blob.0[..], &i64::from(index)],
        )
        .await?
        .get(0))
}
