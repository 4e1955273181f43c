//! Log frames: `Push`, `Pull`, `Subscribe`, and the `Appended` pokes a
//! subscription brings.

use super::quotas;
use crate::errors::{Closed, Refusal};
use crate::metrics::Metrics;
use crate::notify::{Appended, BusEvent};
use crate::session::{Conn, Peer, Subscriptions, blocking, capability_hash, pace};
use crate::store::PullOutcome;
use kith_proto::{
    Capability, Envelope, ErrorCode, LogId, MAX_ENVELOPE_BYTES, MAX_ENVELOPES_PER_PUSH, MAX_FRAME_BYTES, MAX_PULL,
    ServerFrame,
};
use std::sync::atomic::Ordering;

/// Most subscriptions one connection may hold.
const MAX_SUBSCRIPTIONS: usize = 10_000;
/// Room left in an `Entries` frame for everything but ciphertext.
const ENTRY_OVERHEAD: usize = 64;

/// `Push`: appends `envelopes` to `log` and pokes its subscribers.
pub(crate) async fn push(
    conn: &mut Conn,
    peer: Peer,
    log: LogId,
    capability: &Capability,
    envelopes: Vec<Envelope>,
) -> Result<(), Closed> {
    if let Err(message) = check_push(&envelopes) {
        return conn.error(ErrorCode::TooLarge, message, false).await;
    }
    let hash = capability_hash(capability);
    let store = conn.state.store.clone();
    let quotas = quotas(&conn.state);
    let now = conn.state.now_ms();
    let device = peer.device;
    match blocking(move || store.append(&log, &hash, &envelopes, &device, quotas, now)).await {
        Ok(outcome) => {
            let metrics = &conn.state.metrics;
            metrics.bytes_stored.fetch_add(outcome.new_bytes, Ordering::Relaxed);
            metrics
                .envelopes_stored
                .fetch_add(outcome.new_envelopes, Ordering::Relaxed);
            if outcome.appended {
                conn.state.notifier.publish(BusEvent::Appended(Appended {
                    log,
                    seq: outcome.last_seq,
                }));
            }
            conn.send(&ServerFrame::Pushed {
                log,
                results: outcome.results,
            })
            .await
        }
        Err(refusal) => conn.refuse(refusal).await,
    }
}

fn check_push(envelopes: &[Envelope]) -> Result<(), String> {
    if envelopes.len() > MAX_ENVELOPES_PER_PUSH {
        return Err(format!(
            "{} envelopes in one push; the limit is {MAX_ENVELOPES_PER_PUSH}",
            envelopes.len()
        ));
    }
    if let Some(envelope) = envelopes.iter().find(|e| e.ciphertext.len() > MAX_ENVELOPE_BYTES) {
        return Err(format!(
            "envelope of {} bytes exceeds {MAX_ENVELOPE_BYTES} bytes",
            envelope.ciphertext.len()
        ));
    }
    Ok(())
}

/// `Pull`: entries of `log` after `after_seq`, at most one frame's worth.
pub(crate) async fn pull(
    conn: &mut Conn,
    peer: Peer,
    log: LogId,
    capability: &Capability,
    after_seq: u64,
    limit: u32,
) -> Result<(), Closed> {
    let hash = capability_hash(capability);
    let store = conn.state.store.clone();
    let limit = limit.min(MAX_PULL);
    // Read no more than one frame can carry (not 1000 entries, then trim).
    match blocking(move || store.pull(&log, &hash, after_seq, limit, MAX_FRAME_BYTES)).await {
        Ok(mut outcome) => {
            Metrics::inc(&conn.state.metrics.pulls);
            fit_in_one_frame(&mut outcome);
            let bytes = outcome.entries.iter().map(|(_, e)| e.ciphertext.len()).sum();
            pace(&conn.state, conn.peer, &peer.device, bytes).await;
            conn.send(&ServerFrame::Entries {
                log,
                entries: outcome.entries,
                more: outcome.more,
            })
            .await
        }
        Err(refusal) => conn.refuse(refusal).await,
    }
}

/// Keeps the answer within one frame; the client pulls again for the rest.
fn fit_in_one_frame(outcome: &mut PullOutcome) {
    let mut budget = MAX_FRAME_BYTES - 1024;
    let mut keep = 0;
    for (_, envelope) in &outcome.entries {
        let size = envelope.ciphertext.len() + ENTRY_OVERHEAD;
        if size > budget {
            break;
        }
        budget -= size;
        keep += 1;
    }
    if keep < outcome.entries.len() {
        outcome.entries.truncate(keep);
        outcome.more = true;
    }
}

/// `Subscribe`: watches `log` for appends and signals.
pub(crate) async fn subscribe(
    conn: &mut Conn,
    subscriptions: &mut Subscriptions,
    log: LogId,
    capability: &Capability,
) -> Result<(), Closed> {
    if subscriptions.len() >= MAX_SUBSCRIPTIONS && !subscriptions.contains(&log) {
        return conn
            .error(
                ErrorCode::TooLarge,
                format!("at most {MAX_SUBSCRIPTIONS} subscriptions per connection"),
                false,
            )
            .await;
    }
    let hash = capability_hash(capability);
    let store = conn.state.store.clone();
    match blocking(move || store.last_seq(&log, &hash)).await {
        Ok(last_seq) => {
            subscriptions.insert(log, hash, true);
            conn.send(&ServerFrame::Subscribed { log, last_seq }).await
        }
        // A log nobody has written yet (an invite waiting for its
        // first answer): watch it; the capability is checked once it exists.
        Err(Refusal {
            code: ErrorCode::NotFound,
            ..
        }) => {
            subscriptions.insert(log, hash, false);
            conn.send(&ServerFrame::Subscribed { log, last_seq: 0 }).await
        }
        Err(refusal) => conn.refuse(refusal).await,
    }
}

/// Tells this connection about an append to `log`, if it subscribed.
pub(crate) async fn appended(
    conn: &mut Conn,
    subscriptions: &mut Subscriptions,
    Appended { log, seq }: Appended,
) -> Result<(), Closed> {
    if subscriptions.verified(&conn.state, log).await {
        conn.send(&ServerFrame::Appended { log, seq }).await?;
    }
    Ok(())
}

/// After missing pokes, announces every subscribed log's last sequence
/// number (or only `only`'s, if this connection subscribed to it).
pub(crate) async fn reannounce(
    conn: &mut Conn,
    subscriptions: &Subscriptions,
    only: Option<LogId>,
) -> Result<(), Closed> {
    for (log, hash) in subscriptions.logs() {
        if only.is_some_and(|only| only != log) {
            continue;
        }
        let store = conn.state.store.clone();
        if let Ok(seq) = blocking(move || store.last_seq(&log, &hash)).await {
            conn.send(&ServerFrame::Appended { log, seq }).await?;
        }
    }
    Ok(())
}
