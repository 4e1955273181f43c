//! Finding people and keeping strangers in their place: username frames
//! (`ClaimName`, `FindName`, `ReleaseName`), the request inbox
//! (`OpenInbox`, `Request`) and `Report`. Lookups and requests draw from
//! buckets per device and per source address kept in the store, so a flood
//! from many connections or gateways meets one limit.

use super::quotas;
use crate::directory::AbuseReport;
use crate::errors::{Closed, Refusal};
use crate::metrics::Metrics;
use crate::notify::{Appended, BusEvent};
use crate::session::{Conn, Peer, blocking, capability_hash, manage_hash};
use crate::store::{StoreError, TokenRate};
use kith_proto::{
    Capability, DeviceId, Envelope, ErrorCode, LogId, MAX_ENVELOPE_BYTES, MAX_NAME_RECORD_BYTES,
    MAX_REPORT_REASON_BYTES, ManageKey, ServerFrame,
};

/// What a bucket limits.
#[derive(Clone, Copy)]
enum Limited {
    Lookups,
    Requests,
}

impl Limited {
    fn label(self) -> &'static str {
        match self {
            Limited::Lookups => "username lookups",
            Limited::Requests => "message requests and reports",
        }
    }
}

/// Takes a token from `peer`'s device bucket and its address's bucket for
/// `what`; a refusal says which ran out.
async fn take_tokens(conn: &mut Conn, peer: Peer, what: Limited) -> Result<(), Refusal> {
    let state = conn.state.clone();
    let per_hour = match what {
        Limited::Lookups => state.settings.lookups_per_hour,
        Limited::Requests => state.settings.requests_per_hour,
    };
    let device_rate = TokenRate {
        per_second: per_hour / 3600.0,
        burst: per_hour.max(1.0),
    };
    let address_rate = TokenRate {
        per_second: 4.0 * per_hour / 3600.0,
        burst: (4.0 * per_hour).max(1.0),
    };
    let address = match crate::listener::source_of(conn.peer.ip()) {
        std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
        std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let (by_device, by_address) = match what {
        Limited::Lookups => (
            blake3::derive_key("kith-server 2026 lookup bucket device", peer.device.as_bytes()),
            blake3::derive_key("kith-server 2026 lookup bucket address", &address),
        ),
        Limited::Requests => (
            blake3::derive_key("kith-server 2026 request bucket device", peer.device.as_bytes()),
            blake3::derive_key("kith-server 2026 request bucket address", &address),
        ),
    };
    let store = state.store.clone();
    let now = state.now_ms();
    let device = peer.device;
    let allowed = blocking(move || {
        // A device suspended while connected stops here, not only at its
        // next sign-in.
        if store.device_suspended(&device)? {
            return Err(StoreError::Suspended);
        }
        Ok(store.take_token(&by_device, device_rate, now)? && store.take_token(&by_address, address_rate, now)?)
    })
    .await?;
    if allowed {
        return Ok(());
    }
    Metrics::inc(&state.metrics.rate_limited);
    tracing::info!(device = %peer.device, what = what.label(), "over the hourly limit");
    Err(Refusal::new(
        ErrorCode::Limited,
        format!(
            "too many {} from this device or address; at most {per_hour} an hour",
            what.label()
        ),
        true,
    ))
}

/// `ClaimName`: `lookup` becomes the holder of `manager`'s.
pub(crate) async fn claim_name(
    conn: &mut Conn,
    peer: Peer,
    lookup: [u8; 32],
    record: Vec<u8>,
    manager: [u8; 32],
) -> Result<(), Closed> {
    if record.len() > MAX_NAME_RECORD_BYTES {
        return conn
            .error(
                ErrorCode::TooLarge,
                format!(
                    "a name's record of {} bytes exceeds {MAX_NAME_RECORD_BYTES} bytes",
                    record.len()
                ),
                false,
            )
            .await;
    }
    // Claims draw from the lookup bucket too: claiming is another way to
    // learn whether a name is taken.
    if let Err(refusal) = take_tokens(conn, peer, Limited::Lookups).await {
        return conn.refuse(refusal).await;
    }
    let store = conn.state.store.clone();
    let now = conn.state.now_ms();
    let device = peer.device;
    match blocking(move || store.claim_name(&lookup, &record, &manager, &device, now)).await {
        Ok(_) => conn.send(&ServerFrame::NameClaimed { lookup }).await,
        Err(refusal) => conn.refuse(refusal).await,
    }
}

/// `FindName`: the record of an exact name, if anyone holds it.
pub(crate) async fn find_name(conn: &mut Conn, peer: Peer, lookup: [u8; 32]) -> Result<(), Closed> {
    if let Err(refusal) = take_tokens(conn, peer, Limited::Lookups).await {
        return conn.refuse(refusal).await;
    }
    let store = conn.state.store.clone();
    match blocking(move || store.find_name(&lookup)).await {
        Ok(Some(record)) => conn.send(&ServerFrame::NameFound { lookup, record }).await,
        Ok(None) => conn.error(ErrorCode::NotFound, "nobody has this username", false).await,
        Err(refusal) => conn.refuse(refusal).await,
    }
}

/// `ReleaseName`: frees a name with its manage key.
pub(crate) async fn release_name(conn: &mut Conn, lookup: [u8; 32], manage: &ManageKey) -> Result<(), Closed> {
    let hash = manage_hash(manage);
    let store = conn.state.store.clone();
    match blocking(move || store.release_name(&lookup, &hash)).await {
        Ok(()) => conn.send(&ServerFrame::NameReleased { lookup }).await,
        Err(refusal) => conn.refuse(refusal).await,
    }
}

/// `OpenInbox`: `log` becomes the authenticated device's request inbox.
/// Bound to the device that signed in, so nobody can take another's.
pub(crate) async fn open_inbox(conn: &mut Conn, peer: Peer, log: LogId, capability: &Capability) -> Result<(), Closed> {
    let hash = capability_hash(capability);
    let store = conn.state.store.clone();
    let now = conn.state.now_ms();
    let device = peer.device;
    match blocking(move || store.open_inbox(&device, &log, &hash, now)).await {
        Ok(()) => conn.send(&ServerFrame::InboxOpened { log }).await,
        Err(refusal) => conn.refuse(refusal).await,
    }
}

/// `Request`: appends one sealed request to `device`'s inbox.
pub(crate) async fn request(conn: &mut Conn, peer: Peer, device: DeviceId, envelope: Envelope) -> Result<(), Closed> {
    if envelope.ciphertext.len() > MAX_ENVELOPE_BYTES {
        return conn
            .error(
                ErrorCode::TooLarge,
                format!(
                    "a request of {} bytes exceeds {MAX_ENVELOPE_BYTES} bytes",
                    envelope.ciphertext.len()
                ),
                false,
            )
            .await;
    }
    if let Err(refusal) = take_tokens(conn, peer, Limited::Requests).await {
        return conn.refuse(refusal).await;
    }
    let store = conn.state.store.clone();
    let quotas = quotas(&conn.state);
    let now = conn.state.now_ms();
    let sender = peer.device;
    let appended = blocking(move || {
        let (log, capability) = store.inbox(&device)?.ok_or(StoreError::NotFound)?;
        let outcome = store.append(&log, &capability, &[envelope], &sender, quotas, now)?;
        Ok((log, outcome))
    })
    .await;
    match appended {
        Ok((log, outcome)) => {
            if outcome.appended {
                conn.state.notifier.publish(BusEvent::Appended(Appended {
                    log,
                    seq: outcome.last_seq,
                }));
            }
            conn.send(&ServerFrame::RequestPosted { device }).await
        }
        Err(refusal) if refusal.code == ErrorCode::NotFound => {
            conn.error(
                ErrorCode::NotFound,
                "this device takes no requests on this server",
                false,
            )
            .await
        }
        Err(refusal) => conn.refuse(refusal).await,
    }
}

/// `Report`: keeps who reported which device, and why.
pub(crate) async fn report(conn: &mut Conn, peer: Peer, device: DeviceId, reason: String) -> Result<(), Closed> {
    if reason.len() > MAX_REPORT_REASON_BYTES {
        return conn
            .error(
                ErrorCode::TooLarge,
                format!(
                    "a reason of {} bytes exceeds {MAX_REPORT_REASON_BYTES} bytes",
                    reason.len()
                ),
                false,
            )
            .await;
    }
    if let Err(refusal) = take_tokens(conn, peer, Limited::Requests).await {
        return conn.refuse(refusal).await;
    }
    let store = conn.state.store.clone();
    let report = AbuseReport {
        reported: device,
        reporter: peer.device,
        reason,
        at_ms: conn.state.now_ms(),
    };
    match blocking(move || store.record_report(&report)).await {
        Ok(()) => {
            tracing::info!(reported = %device, "abuse report");
            conn.send(&ServerFrame::Reported).await
        }
        Err(refusal) => conn.refuse(refusal).await,
    }
}
