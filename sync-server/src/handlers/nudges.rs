//! `NudgeByEmail` and `StopNudges`: a device asks for (or stops) one short
//! email when it has been away and something waits for it.

use crate::errors::Closed;
use crate::mailer::valid_address;
use crate::session::{Conn, Peer, blocking};
use kith_proto::{ErrorCode, LogId, MAX_NUDGE_LOGS, ServerFrame};
use rand::RngCore;

/// `NudgeByEmail`
pub(crate) async fn set(
    conn: &mut Conn,
    peer: Peer,
    address: String,
    after_secs: u64,
    logs: Vec<LogId>,
    renew: bool,
) -> Result<(), Closed> {
    let Some(mail) = conn.state.settings.mail.clone() else {
        return conn
            .error(ErrorCode::Forbidden, "this server sends no email", false)
            .await;
    };
    if !valid_address(&address) {
        return conn
            .error(
                ErrorCode::Malformed,
                "not an email address this server writes to",
                false,
            )
            .await;
    }
    if logs.len() > MAX_NUDGE_LOGS {
        return conn
            .error(
                ErrorCode::TooLarge,
                format!("{} logs; at most {MAX_NUDGE_LOGS}", logs.len()),
                false,
            )
            .await;
    }
    let after_secs = after_secs.max(mail.min_after.as_secs());
    let mut token = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut token);
    let store = conn.state.store.clone();
    let now = conn.state.now_ms();
    let device = peer.device;
    let after_ms = after_secs.saturating_mul(1000);
    let set = blocking(move || {
        // Someone who used the unsubscribe link is not signed up again by
        // a device that did not hear of it.
        if renew && !store.has_nudge(&device)? {
            return Ok(false);
        }
        store.set_nudge(&device, &address, token, after_ms, &logs, now)?;
        Ok(true)
    })
    .await;
    match set {
        Ok(true) => conn.send(&ServerFrame::NudgeSet { after_secs }).await,
        Ok(false) => conn.send(&ServerFrame::NudgesStopped { was_set: false }).await,
        Err(refusal) => conn.refuse(refusal).await,
    }
}

/// `StopNudges`
pub(crate) async fn stop(conn: &mut Conn, peer: Peer) -> Result<(), Closed> {
    let store = conn.state.store.clone();
    let device = peer.device;
    match blocking(move || store.stop_nudges(&device)).await {
        Ok(was_set) => conn.send(&ServerFrame::NudgesStopped { was_set }).await,
        Err(refusal) => conn.refuse(refusal).await,
    }
}
