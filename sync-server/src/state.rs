//! Shared server state: the [`Settings`], their defaults, and the
//! [`AppState`] every connection holds.

use crate::clock::{Clock, SystemClock};
use crate::metrics::Metrics;
use crate::notify::{BroadcastNotifier, Notifier};
use crate::p2p::P2pInfo;
use crate::rate::{RateConfig, RateLimiter};
use crate::store::LogStore;
use kith_proto::DeviceId;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The audience of a server built without one (in-process tests and
/// benchmarks); clients accept it on loopback only.
pub const DEFAULT_AUDIENCE: &str = "kith-server";
/// How long a client gets to send a request's headers (slowloris).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default number of new device keys per source address and hour.
pub const DEFAULT_NEW_DEVICES_PER_ADDRESS_PER_HOUR: f64 = 60.0;
/// Default per-log storage quota: 1 GiB of ciphertext.
pub const DEFAULT_QUOTA_BYTES: u64 = 1024 * 1024 * 1024;
/// Default per-device write budget: 4 GiB of ciphertext.
pub const DEFAULT_DEVICE_QUOTA_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// Default time superseded entries are kept after a compaction: a week, so
/// devices that were offline can still pull what the snapshot replaced.
pub const DEFAULT_COMPACTION_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a new connection has to authenticate.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// WebSocket messages up to this size are read and answered with
/// `Error{TooLarge}` when over [`kith_proto::MAX_FRAME_BYTES`]; larger ones
/// close the connection (WebSocket close code 1009) as soon as their
/// header announces the length, so a client sending huge messages costs
/// the server a reconnection and a sign-in each, not megabytes read.
pub const WS_READ_LIMIT: usize = kith_proto::MAX_FRAME_BYTES + 64 * 1024;

/// Settings that shape the server's behaviour (not where it listens).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The audience string clients must sign.
    pub audience: String,
    /// Per-device rate limit.
    pub rate: RateConfig,
    /// Per-log storage quota in bytes of ciphertext.
    pub quota_bytes: u64,
    /// Per-device write budget in bytes of ciphertext.
    pub device_quota_bytes: u64,
    /// How long superseded entries are kept after a compaction.
    pub compaction_grace: Duration,
    /// How long a new connection has to authenticate.
    pub auth_timeout: Duration,
    /// The bearer token `GET /metrics` needs; without one, only clients on
    /// loopback may read it.
    pub metrics_token: Option<String>,
    /// Caps on open connections and the TLS handshake deadline.
    pub connections: crate::listener::ConnectionLimits,
    /// How long a client gets to send a request's headers.
    pub header_read_timeout: Duration,
    /// Device keys one source address may sign in with for the first time
    /// per hour (and at once).
    pub new_devices_per_address_per_hour: f64,
    /// Bytes of stored data (pulled entries, blob chunks) served to one
    /// device per second on average; twice that per source address.
    pub serve_bytes_per_sec: f64,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Username lookups one device may make per hour (and at once); four
    /// times as many per source address.
    pub lookups_per_hour: f64,
    /// Message requests (and abuse reports) one device may send per hour
    /// (and at once); four times as many per source address.
    pub requests_per_hour: f64,
    /// How the server sends email nudges; `None`: it sends none.
    pub mail: Option<MailSettings>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            audience: DEFAULT_AUDIENCE.to_owned(),
            rate: RateConfig::default(),
            quota_bytes: DEFAULT_QUOTA_BYTES,
            device_quota_bytes: DEFAULT_DEVICE_QUOTA_BYTES,
            compaction_grace: DEFAULT_COMPACTION_GRACE,
            auth_timeout: AUTH_TIMEOUT,
            metrics_token: None,
            connections: crate::listener::ConnectionLimits::default(),
            header_read_timeout: HEADER_READ_TIMEOUT,
            new_devices_per_address_per_hour: DEFAULT_NEW_DEVICES_PER_ADDRESS_PER_HOUR,
            serve_bytes_per_sec: DEFAULT_SERVE_BYTES_PER_SEC,
            trusted_proxies: Vec::new(),
            lookups_per_hour: DEFAULT_LOOKUPS_PER_HOUR,
            requests_per_hour: DEFAULT_REQUESTS_PER_HOUR,
            mail: None,
        }
    }
}

/// Where and how the server sends email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    /// The SMTP server (host, port), e.g. a local relay.
    pub smtp_host: String,
    /// Its port.
    pub smtp_port: u16,
    /// The sender address.
    pub from: String,
    /// The server's public URL, for the unsubscribe link.
    pub public_url: String,
    /// How often to look for devices to nudge.
    pub check_every: Duration,
    /// The shortest absence a device may ask for.
    pub min_after: Duration,
}

/// Default of [`Settings::lookups_per_hour`]: enough to find a few friends,
/// far too few to walk a dictionary of names.
pub const DEFAULT_LOOKUPS_PER_HOUR: f64 = 30.0;
/// Default of [`Settings::requests_per_hour`].
pub const DEFAULT_REQUESTS_PER_HOUR: f64 = 20.0;

/// Default of [`Settings::serve_bytes_per_sec`]: 16 MiB a second.
pub const DEFAULT_SERVE_BYTES_PER_SEC: f64 = 16.0 * 1024.0 * 1024.0;

/// Refused sign-ins one source address may have: 20 at once, then one a
/// second.
const FAILED_SIGN_INS: RateConfig = RateConfig {
    per_second: 1.0,
    burst: 20.0,
};

/// A byte rate with a burst of four seconds' worth (a new device's first
/// pull of a few thousand messages never waits).
fn serving_rate(per_second: f64) -> RateConfig {
    RateConfig {
        per_second,
        burst: 4.0 * per_second,
    }
}

/// Everything a connection needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) store: Arc<dyn LogStore>,
    pub(crate) notifier: Arc<dyn Notifier>,
    pub(crate) limiter: Arc<RateLimiter>,
    /// First authentications of device keys, per source address: a new key
    /// costs its maker a token, so fresh keys cannot multiply the
    /// per-device quotas and rate limits for free. The buckets live in the
    /// store ([`LogStore::take_token`]), shared by every gateway
    /// on one database.
    pub(crate) new_device_rate: crate::store::TokenRate,
    /// Bytes served, per device and per source address: a device (or an
    /// address with many devices) pulling a log of large entries over and
    /// over is slowed to the configured rate, so the others' traffic keeps
    /// its share of the machine.
    pub(crate) served_by_device: Arc<RateLimiter<DeviceId>>,
    /// Refused sign-ins per source address: past a burst, the address's
    /// next WebSocket upgrades get `429` until the debt is paid.
    pub(crate) failed_sign_ins: Arc<RateLimiter<std::net::IpAddr>>,
    pub(crate) served_by_source: Arc<RateLimiter<std::net::IpAddr>>,
    pub(crate) settings: Arc<Settings>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tasks: TaskTracker,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) p2p: Option<Arc<P2pInfo>>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) open_connections: crate::listener::OpenConnections,
    /// Authenticated connections per device on this gateway (for email
    /// nudges: a connected device is not away).
    pub(crate) online: Arc<std::sync::Mutex<std::collections::HashMap<DeviceId, usize>>>,
}

impl AppState {
    /// State over `store` with an in-process notifier.
    pub fn new(store: Arc<dyn LogStore>, settings: Settings) -> Self {
        Self::with_notifier(store, Arc::new(BroadcastNotifier::default()), settings)
    }

    /// State over `store` and `notifier`.
    pub fn with_notifier(store: Arc<dyn LogStore>, notifier: Arc<dyn Notifier>, settings: Settings) -> Self {
        Self {
            store,
            notifier,
            limiter: Arc::new(RateLimiter::new(settings.rate)),
            new_device_rate: crate::store::TokenRate {
                per_second: settings.new_devices_per_address_per_hour / 3600.0,
                burst: settings.new_devices_per_address_per_hour.max(1.0),
            },
            served_by_device: Arc::new(RateLimiter::new(serving_rate(settings.serve_bytes_per_sec))),
            failed_sign_ins: Arc::new(RateLimiter::new(FAILED_SIGN_INS)),
            served_by_source: Arc::new(RateLimiter::new(serving_rate(2.0 * settings.serve_bytes_per_sec))),
            settings: Arc::new(settings),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            metrics: Arc::new(Metrics::default()),
            p2p: None,
            clock: Arc::new(SystemClock),
            open_connections: crate::listener::OpenConnections::default(),
            online: Arc::default(),
        }
    }

    /// Serves the libp2p side's identity and addresses at `GET /p2p`.
    pub fn with_p2p(mut self, info: P2pInfo) -> Self {
        self.p2p = Some(Arc::new(info));
        self
    }

    /// Reads wall-clock time from `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Milliseconds since the Unix epoch, by this state's clock.
    pub(crate) fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// One more authenticated connection of `device` on this gateway.
    pub(crate) fn device_online(&self, device: DeviceId) {
        let mut online = self.online.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *online.entry(device).or_default() += 1;
    }

    /// One connection of `device` closed.
    pub(crate) fn device_offline(&self, device: DeviceId) {
        let mut online = self.online.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = online.get_mut(&device) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                online.remove(&device);
            }
        }
    }

    /// The devices connected to this gateway.
    pub(crate) fn online_devices(&self) -> Vec<DeviceId> {
        let online = self.online.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        online.keys().copied().collect()
    }

    /// Cancelled when the server begins shutting down; open WebSockets then
    /// finish the request they are handling and close.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Tracks every WebSocket connection task.
    pub fn tasks(&self) -> TaskTracker {
        self.tasks.clone()
    }
}
