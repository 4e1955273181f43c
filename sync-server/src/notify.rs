//! Fan-out to connections: pokes when a log grows, and ephemeral signals.
//! The database is the source of truth; a poke only says "pull now", so a lost
//! poke costs latency, not data. Signals (typing, presence) are never stored.

use kith_proto::LogId;
use std::sync::Arc;
use tokio::sync::broadcast;

/// One poke: `log` now ends at `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The log that grew.
    pub log: LogId,
    /// Its new last sequence number.
    pub seq: u64,
}

/// An ephemeral signal for a log's subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    /// The log.
    pub log: LogId,
    /// Opaque sealed payload.
    pub payload: Arc<Vec<u8>>,
    /// The sending connection, which does not get its own signal back.
    pub from_connection: u64,
}

/// What travels on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusEvent {
    /// A log grew.
    Appended(Appended),
    /// An ephemeral signal.
    Signal(Signal),
    /// Pokes may have been missed (the bus between gateways was down):
    /// every connection re-reads its subscribed logs' ends from the
    /// database and announces them.
    Resync,
    /// The gateway now hears of `log` from the others: its subscribers
    /// re-read its end from the database once (a push that another
    /// gateway stored just before is not missed).
    Check(LogId),
}

/// Fans out [`BusEvent`]s to every connection: in-process
/// ([`BroadcastNotifier`]), or across gateways (`NatsNotifier`).
pub trait Notifier: Send + Sync + 'static {
    /// Announces an event.
    fn publish(&self, event: BusEvent);
    /// A receiver of every later event.
    fn subscribe(&self) -> broadcast::Receiver<BusEvent>;
    /// A connection here subscribed to `log` (counted: a notifier spanning
    /// gateways listens for the log from the first until the last unwatch).
    fn watch(&self, log: LogId) {
        let _ = log;
    }
    /// A connection here dropped its subscription to `log`.
    fn unwatch(&self, log: LogId) {
        let _ = log;
    }
}

/// An in-process [`Notifier`] over a tokio broadcast channel.
pub struct BroadcastNotifier {
    sender: broadcast::Sender<BusEvent>,
}

impl BroadcastNotifier {
    /// A notifier whose slow receivers lag (and miss events) after `capacity` events.
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
    fn publish(&self, event: BusEvent) {
        // No receivers is fine: nobody is subscribed.
        let _ = self.sender.send(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<BusEvent> {
        self.sender.subscribe()
    }
}
