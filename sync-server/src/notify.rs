//! Pokes to subscribers when a log grows. The database is the source of truth;
//! a notifier only says "pull now", so a lost poke costs latency, not data.

use kith_proto::LogId;
use tokio::sync::broadcast;

/// One poke: `log` now ends at `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The log that grew.
    pub log: LogId,
    /// Its new last sequence number.
    pub seq: u64,
}

/// Fans out [`Appended`] pokes to every connection (in-process now; NATS or
/// Redis for several server instances later).
pub trait Notifier: Send + Sync + 'static {
    /// Announces that `log` grew to `seq`.
    fn publish(&self, event: Appended);
    /// A receiver of every later announcement.
    fn subscribe(&self) -> broadcast::Receiver<Appended>;
}

/// An in-process [`Notifier`] over a tokio broadcast channel.
pub struct BroadcastNotifier {
    sender: broadcast::Sender<Appended>,
}

impl BroadcastNotifier {
    /// A notifier whose slow receivers lag (and miss pokes) after `capacity` events.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender }
    }
}

impl Default for BroadcastNotifier {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl Notifier for BroadcastNotifier {
    fn publish(&self, event: Appended) {
        // No receivers is fine: nobody is subscribed.
        let _ = self.sender.send(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<Appended> {
        self.sender.subscribe()
    }
}
