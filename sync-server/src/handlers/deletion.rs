//! Frames that remove data: `Compact` (entries superseded by a snapshot go
//! after the grace period) and `Delete` (a whole log).

use crate::errors::Closed;
use crate::metrics::Metrics;
use crate::session::{Conn, Subscriptions, blocking, capability_hash};
use kith_proto::{Capability, LogId, ServerFrame};

/// `Compact`: marks `log`'s entries through `through_seq` superseded.
pub(crate) async fn compact(
    conn: &mut Conn,
    log: LogId,
    capability: &Capability,
    through_seq: u64,
) -> Result<(), Closed> {
    let hash = capability_hash(capability);
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
    capability: &Capability,
) -> Result<(), Closed> {
    let hash = capability_hash(capability);
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
