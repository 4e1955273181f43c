//! Signal frames: ephemeral payloads (typing, presence) fanned out in memory
//! to a log's other subscribers, never stored.

use crate::errors::Closed;
use crate::metrics::Metrics;
use crate::notify::{BusEvent, Signal};
use crate::session::{Conn, Peer, Subscriptions, blocking, capability_hash};
use kith_proto::{Capability, ErrorCode, LogId, MAX_SIGNAL_BYTES, ServerFrame};
use std::sync::Arc;

/// `Signal`: checks the capability and publishes `payload` to `log`'s subscribers.
pub(crate) async fn send(
    conn: &mut Conn,
    peer: Peer,
    log: LogId,
    capability: &Capability,
    payload: Vec<u8>,
) -> Result<(), Closed> {
    if payload.len() > MAX_SIGNAL_BYTES {
        return conn
            .error(
                ErrorCode::TooLarge,
                format!("signal of {} bytes exceeds {MAX_SIGNAL_BYTES} bytes", payload.len()),
                false,
            )
            .await;
    }
    let hash = capability_hash(capability);
    let store = conn.state.store.clone();
    match blocking(move || store.last_seq(&log, &hash)).await {
        Ok(_) => {
            Metrics::inc(&conn.state.metrics.signals);
            // Fanned out in memory only: signals never reach the disk.
            conn.state.notifier.publish(BusEvent::Signal(Signal {
                log,
                payload: Arc::new(payload),
                from_connection: peer.connection,
            }));
            conn.send(&ServerFrame::SignalSent { log }).await
        }
        Err(refusal) => conn.refuse(refusal).await,
    }
}

/// Passes another connection's signal on to this one, if it subscribed to the log.
pub(crate) async fn deliver(
    conn: &mut Conn,
    peer: Peer,
    subscriptions: &mut Subscriptions,
    signal: Signal,
) -> Result<(), Closed> {
    let Signal {
        log,
        payload,
        from_connection,
    } = signal;
    if from_connection != peer.connection && subscriptions.verified(&conn.state, log).await {
        conn.send(&ServerFrame::Signal {
            log,
            payload: payload.to_vec(),
        })
        .await?;
    }
    Ok(())
}
