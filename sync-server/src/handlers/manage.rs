//! The manager's frames: `Register` (the hash of a log's manage key), and
//! the two that remove data with that key, `Compact` (entries superseded by
//! a snapshot go after the grace period) and `Delete` (a whole log). The
//! capability that reads and appends a log is not enough for either.

use crate::errors::Closed;
use crate::metrics::Metrics;
use crate::session::{Conn, Subscriptions, blocking, capability_hash, manage_hash};
use kith_proto::{Capability, LogId, ManageKey, ServerFrame};

/// `Register`: `manager` becomes the log's manage key hash, if the log has
/// none yet (creating the log if it does not exist).
pub(crate) async fn register(
    conn: &mut Conn,
    log: LogId,
    capability: &Capability,
    manager: [u8; 32],
) -> Result<(), Closed> {
    let hash = capability_hash(capability);
    let store = conn.state.store.clone();
    let now = conn.state.now_ms();
    match blocking(move || store.register(&log, &hash, &manager, now)).await {
        Ok(()) => conn.send(&ServerFrame::Registered { log }).await,
        Err(refusal) => conn.refuse(refusal).await,
    }
}

/// `Compact`: marks `log`'s entries through `through_seq` superseded.
pub(crate) async fn compact(conn: &mut Conn, log: LogId, manage: &ManageKey, through_seq: u64) -> Result<(), Closed> {
    let hash = manage_hash(manage);
    let store = conn.state.store.clone();
    let grace = conn.state.settings.compaction_grace;
    let now = conn.state.now_ms();
    let result = blocking(move || {
        store.mark_superseded(&log, &hash, through_seq, now)?;
        // With no grace period the entries go at once.
        if grace.is_zero() {
            store.sweep_superseded(now)?;
        }
        Ok(())
    })
    .await;
    match result {
        Ok(()) => conn.send(&ServerFrame::Compacted { log, through_seq }).await,
        Err(refusal) => conn.refuse(refusal).await,
    }
}

/// `Delete`: removes `log` and everything in it, and this connection's
/// subscription to it.
pub(crate) async fn delete(
    conn: &mut Conn,
    subscriptions: &mut Subscriptions,
    log: LogId,
    manage: &ManageKey,
) -> Result<(), Closed> {
    let hash = manage_hash(manage);
    let store = conn.state.store.clone();
    let now = conn.state.now_ms();
    match blocking(move || store.delete_log(&log, &hash, now)).await {
        Ok(()) => {
            tracing::info!("log deleted");
            Metrics::inc(&conn.state.metrics.logs_deleted);
            subscriptions.remove(&log);
            conn.send(&ServerFrame::Deleted { log }).await
        }
        Err(refusal) => conn.refuse(refusal).await,
    }
}
