//! Shared server state: the [`Settings`], their defaults, and the
//! [`AppState`] every connection holds.

use crate::clock::{Clock, SystemClock};
use crate::metrics::Metrics;
use crate::notify::{BroadcastNotifier, Notifier};
use crate::p2p::P2pInfo;
use crate::rate::{RateConfig, RateLimiter};
use crate::store::LogStore;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Default audience string clients must sign.
pub const DEFAULT_AUDIENCE: &str = "kith-server";
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
/// close the connection (WebSocket close code 1009).
pub const WS_READ_LIMIT: usize = 4 * kith_proto::MAX_FRAME_BYTES;

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
        }
    }
}

/// Everything a connection needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) store: Arc<dyn LogStore>,
    pub(crate) notifier: Arc<dyn Notifier>,
    pub(crate) limiter: Arc<RateLimiter>,
    pub(crate) settings: Arc<Settings>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tasks: TaskTracker,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) p2p: Option<Arc<P2pInfo>>,
    pub(crate) clock: Arc<dyn Clock>,
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
            settings: Arc::new(settings),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            metrics: Arc::new(Metrics::default()),
            p2p: None,
            clock: Arc::new(SystemClock),
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
