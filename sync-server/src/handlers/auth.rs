//! Authentication frames: the challenge, `Hello`, and the signed `Auth`.

use crate::errors::Closed;
use crate::session::{Conn, blocking};
use crate::state::AppState;
use ed25519_dalek::{Signature, VerifyingKey};
use kith_proto::{AUTH_MAX_SKEW_MS, ClientFrame, DeviceId, ErrorCode, PROTOCOL_VERSION, ServerFrame, auth_message};

/// What a frame received before authentication leads to.
pub(crate) enum Preauth {
    /// Keep waiting for `Auth`.
    Continue,
    /// Close the connection.
    Close,
    /// The device proved its key.
    Authenticated(DeviceId),
}

/// What one connection was challenged with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Challenge {
    /// The random nonce the signature must cover.
    pub(crate) nonce: [u8; 32],
    /// The server's time when it challenged: a client that signs this time
    /// instead of its own clock authenticates whatever its clock says.
    pub(crate) server_time_ms: u64,
}

impl Challenge {
    /// A challenge with `nonce`, at the state clock's time.
    pub(crate) fn new(state: &AppState, nonce: [u8; 32]) -> Challenge {
        Challenge {
            nonce,
            server_time_ms: state.now_ms(),
        }
    }

    /// The first frame of every connection.
    pub(crate) fn frame(&self, state: &AppState) -> ServerFrame {
        ServerFrame::Challenge {
            version: PROTOCOL_VERSION,
            nonce: self.nonce,
            server_time_ms: self.server_time_ms,
            audience: state.settings.audience.clone(),
        }
    }
}

/// Answers one frame received before authentication on a connection
/// challenged with `challenge`.
pub(crate) async fn preauth_frame(
    conn: &mut Conn,
    frame: ClientFrame,
    challenge: &Challenge,
) -> Result<Preauth, Closed> {
    match frame {
        ClientFrame::Hello { version } => Ok(if hello(conn, version).await? {
            Preauth::Continue
        } else {
            Preauth::Close
        }),
        ClientFrame::Ping { id } => {
            conn.send(&ServerFrame::Pong { id }).await?;
            Ok(Preauth::Continue)
        }
        ClientFrame::Auth {
            device,
            timestamp_ms,
            nonce: echoed,
            signature,
        } => {
            let claim = Claim {
                device,
                timestamp_ms,
                echoed,
                signature: &signature,
            };
            auth(conn, challenge, &claim).await
        }
        ClientFrame::Push { .. }
        | ClientFrame::Pull { .. }
        | ClientFrame::Subscribe { .. }
        | ClientFrame::Signal { .. }
        | ClientFrame::Delete { .. }
        | ClientFrame::Compact { .. }
        | ClientFrame::Register { .. }
        | ClientFrame::BlobPut { .. }
        | ClientFrame::BlobStat { .. }
        | ClientFrame::BlobGet { .. }
        | ClientFrame::ClaimName { .. }
        | ClientFrame::FindName { .. }
        | ClientFrame::ReleaseName { .. }
        | ClientFrame::OpenInbox { .. }
        | ClientFrame::Request { .. }
        | ClientFrame::Report { .. }
        | ClientFrame::NudgeByEmail { .. }
        | ClientFrame::StopNudges => {
            conn.error(ErrorCode::Unauthenticated, "authenticate first", false)
                .await?;
            Ok(Preauth::Continue)
        }
    }
}

/// Checks a `Hello`'s version; sends `UnsupportedVersion` and returns false
/// when it is not the server's.
pub(crate) async fn hello(conn: &mut Conn, version: u32) -> Result<bool, Closed> {
    if version == PROTOCOL_VERSION {
        return Ok(true);
    }
    conn.error(
        ErrorCode::UnsupportedVersion,
        format!("server speaks version {PROTOCOL_VERSION}, not {version}"),
        false,
    )
    .await?;
    Ok(false)
}

/// `Auth` on a connection that is already authenticated.
pub(crate) async fn already_authenticated(conn: &mut Conn) -> Result<(), Closed> {
    conn.error(ErrorCode::Malformed, "already authenticated", false).await
}

/// The fields of an `Auth` frame.
struct Claim<'a> {
    device: DeviceId,
    timestamp_ms: u64,
    echoed: [u8; 32],
    signature: &'a [u8],
}

/// Verifies `claim`, records the device and answers `Authenticated`, or
/// refuses it.
async fn auth(conn: &mut Conn, challenge: &Challenge, claim: &Claim<'_>) -> Result<Preauth, Closed> {
    let device = claim.device;
    match verify(&conn.state.settings.audience, challenge, conn.state.now_ms(), claim) {
        Ok(()) => {
            let (state, peer) = (conn.state.clone(), conn.peer);
            if state.limiter.in_debt(&device, std::time::Instant::now()) {
                tracing::info!(%device, "a device closed for ignoring the rate limit tried again too soon");
                conn.error(
                    ErrorCode::RateLimited,
                    "this device ignored the rate limit; try again in a few seconds",
                    true,
                )
                .await?;
                return Ok(Preauth::Close);
            }
            if !new_device_allowed(&state, peer, device).await {
                tracing::info!(%device, peer = %conn.peer, "a new device key over its address's rate");
                conn.error(
                    ErrorCode::RateLimited,
                    "too many new device keys from this address; try again later",
                    true,
                )
                .await?;
                return Ok(Preauth::Close);
            }
            let store = conn.state.store.clone();
            // A store that cannot answer (it logs why) locks nobody out.
            if blocking(move || store.device_suspended(&device)).await.unwrap_or(false) {
                tracing::info!(%device, "a suspended device tried to sign in");
                conn.error(
                    ErrorCode::Suspended,
                    "this device was suspended by the server's operator",
                    false,
                )
                .await?;
                return Ok(Preauth::Close);
            }
            let store = conn.state.store.clone();
            let now = conn.state.now_ms();
            match tokio::task::spawn_blocking(move || store.record_device(&device, now)).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, "cannot record device"),
                Err(error) => tracing::warn!(%error, "cannot record device"),
            }
            conn.send(&ServerFrame::Authenticated).await?;
            Ok(Preauth::Authenticated(device))
        }
        Err(reason) => {
            tracing::info!(%device, reason, "authentication refused");
            let source = crate::listener::source_of(conn.peer.ip());
            conn.state
                .failed_sign_ins
                .charge(&source, 1.0, std::time::Instant::now());
            conn.error(ErrorCode::Unauthenticated, reason, false).await?;
            Ok(Preauth::Close)
        }
    }
}

/// Whether `device` may sign in: a key seen before always may, a new one
/// takes a token from its source address's bucket (kept in the store, so
/// shared by every gateway on one database).
async fn new_device_allowed(state: &AppState, peer: std::net::SocketAddr, device: DeviceId) -> bool {
    let store = state.store.clone();
    let rate = state.new_device_rate;
    let source = source_hash(crate::listener::source_of(peer.ip()));
    let now_ms = state.now_ms();
    // A store that cannot answer (it logs why) should not lock everyone out.
    blocking(move || Ok(store.device_known(&device)? || store.take_token(&source, rate, now_ms)?))
        .await
        .unwrap_or(true)
}

/// What the store keeps of a source address: a hash, so that the database
/// (and its backups) hold no address in the clear. An IPv4 hash can be
/// reversed by trying every address; the rows go within the hour anyway.
fn source_hash(source: std::net::IpAddr) -> [u8; 32] {
    let bytes = match source {
        std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
        std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    blake3::derive_key("kith-server 2026 new-device bucket source address", &bytes)
}

/// Whether `claim` answers `challenge` for `audience` at `now_ms`.
///
/// The nonce is fresh per connection, so it alone stops replays; the time
/// only has to be the challenge's own (what current clients sign) or, for
/// clients that sign their own clock, within the old 5-minute window.
fn verify(audience: &str, challenge: &Challenge, now_ms: u64, claim: &Claim<'_>) -> Result<(), &'static str> {
    if claim.echoed != challenge.nonce {
        return Err("nonce does not match this connection's challenge");
    }
    let echoes_server_time = claim.timestamp_ms == challenge.server_time_ms;
    if !echoes_server_time && now_ms.abs_diff(claim.timestamp_ms) > AUTH_MAX_SKEW_MS {
        return Err("timestamp is neither the challenge's time nor within 5 minutes of server time");
    }
    let key = VerifyingKey::from_bytes(claim.device.as_bytes()).map_err(|_| "device id is not an Ed25519 key")?;
    let signature = <[u8; 64]>::try_from(claim.signature).map_err(|_| "signature must be 64 bytes")?;
    let signature = Signature::from_bytes(&signature);
    key.verify_strict(
        &auth_message(audience, &challenge.nonce, claim.timestamp_ms),
        &signature,
    )
    .map_err(|_| "bad signature")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    const NOW: u64 = 1_700_000_000_000;

    fn signed(key: &SigningKey, nonce: [u8; 32], timestamp_ms: u64) -> (DeviceId, Vec<u8>) {
        let device = DeviceId::from_bytes(key.verifying_key().to_bytes());
        let signature = key.sign(&auth_message("aud", &nonce, timestamp_ms)).to_bytes().to_vec();
        (device, signature)
    }

    /// Checks a claim signed at `timestamp_ms` against a challenge sent at
    /// `challenged_ms`, verified at `now_ms`.
    fn check(
        nonce: [u8; 32],
        echoed: [u8; 32],
        timestamp_ms: u64,
        challenged_ms: u64,
        now_ms: u64,
    ) -> Result<(), &'static str> {
        let key = SigningKey::from_bytes(&[7; 32]);
        let (device, signature) = signed(&key, echoed, timestamp_ms);
        let claim = Claim {
            device,
            timestamp_ms,
            echoed,
            signature: &signature,
        };
        let challenge = Challenge {
            nonce,
            server_time_ms: challenged_ms,
        };
        verify("aud", &challenge, now_ms, &claim)
    }

    #[test]
    fn the_challenges_time_or_a_near_clock_authenticates() {
        const SKEWED: &str = "timestamp is neither the challenge's time nor within 5 minutes of server time";
        // Current clients sign the challenge's time: any clock will do.
        assert_eq!(check([1; 32], [1; 32], NOW, NOW, NOW + 3_000), Ok(()));
        // Clients that sign their own clock: within the old window only.
        assert_eq!(check([1; 32], [1; 32], NOW - AUTH_MAX_SKEW_MS, NOW + 1, NOW), Ok(()));
        assert_eq!(
            check([1; 32], [1; 32], NOW - AUTH_MAX_SKEW_MS - 1, NOW + 1, NOW),
            Err(SKEWED)
        );
        assert_eq!(check([1; 32], [1; 32], NOW - 3_600_000, NOW, NOW), Err(SKEWED));
        assert_eq!(
            check([1; 32], [2; 32], NOW, NOW, NOW),
            Err("nonce does not match this connection's challenge")
        );
    }

    struct Fixed;

    impl crate::clock::Clock for Fixed {
        fn now_ms(&self) -> u64 {
            NOW
        }
    }

    #[test]
    fn the_challenge_tells_the_state_clock_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::sqlite::SqliteStore::open(dir.path()).unwrap();
        let state = AppState::new(std::sync::Arc::new(store), crate::state::Settings::default())
            .with_clock(std::sync::Arc::new(Fixed));
        let ServerFrame::Challenge { server_time_ms, .. } = Challenge::new(&state, [3; 32]).frame(&state) else {
            panic!("not a challenge");
        };
        assert_eq!(server_time_ms, NOW);
    }
}
