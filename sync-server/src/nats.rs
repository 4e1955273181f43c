//! A [`Notifier`] across gateways over NATS (`kith-server --nats URL`):
//! one subject per log, `kith.log.<hex id>`, that a gateway subscribes to
//! only while it has a client subscribed to the log. A message says only
//! "log X is at seq N" (or carries a sealed ephemeral signal); clients
//! always pull from the database after their cursor, so a lost message
//! costs latency, never data. While NATS is unreachable the gateways keep
//! serving, and every second their connections re-read their logs' ends
//! from the database (a [`BusEvent::Resync`]), until NATS is back.

use crate::notify::{Appended, BusEvent, Notifier, Signal};
use futures::StreamExt;
use kith_proto::LogId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// How often connections re-read their logs while NATS is down.
const POLL_WHILE_DOWN: Duration = Duration::from_secs(1);
/// When a new subscription's log is read the second time.
const SECOND_CHECK: Duration = Duration::from_millis(500);
/// Payload kinds.
const APPENDED: u8 = 0;
const SIGNAL: u8 = 1;

/// One watched log: how many connections here watch it, and the task
/// listening on its subject.
struct Watch {
    count: usize,
    task: JoinHandle<()>,
}

/// A [`Notifier`] that also carries events to and from other gateways.
pub struct NatsNotifier {
    local: broadcast::Sender<BusEvent>,
    client: async_nats::Client,
    watched: Mutex<HashMap<LogId, Watch>>,
}

/// Why NATS could not be used.
#[derive(Debug, thiserror::Error)]
#[error("NATS: {0}")]
pub struct NatsError(String);

fn subject(log: &LogId) -> String {
    let mut out = String::with_capacity(9 + 64);
    out.push_str("kith.log.");
    for byte in log.0 {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

fn encode(event: &BusEvent) -> Option<(LogId, Vec<u8>)> {
    match event {
        BusEvent::Appended(Appended { log, seq }) => {
            let mut bytes = vec![APPENDED];
            bytes.extend_from_slice(&seq.to_be_bytes());
            Some((*log, bytes))
        }
        BusEvent::Signal(signal) => {
            let mut bytes = vec![SIGNAL];
            bytes.extend_from_slice(&signal.from_connection.to_be_bytes());
            bytes.extend_from_slice(&signal.payload);
            Some((signal.log, bytes))
        }
        BusEvent::Resync | BusEvent::Check(_) => None,
    }
}

/// A message from another gateway; `None` for anything malformed (NATS is
/// the operator's, but a bad message must not take a gateway down).
fn decode(log: LogId, bytes: &[u8]) -> Option<BusEvent> {
    let (&kind, rest) = bytes.split_first()?;
    let number = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
    match kind {
        APPENDED if rest.len() == 8 => Some(BusEvent::Appended(Appended { log, seq: number })),
        SIGNAL if rest.len() - 8 <= kith_proto::MAX_SIGNAL_BYTES => Some(BusEvent::Signal(Signal {
            log,
            payload: Arc::new(rest[8..].to_vec()),
            from_connection: number,
        })),
        _ => None,
    }
}

impl NatsNotifier {
    /// Connects to `url` (`nats://HOST:PORT`), waiting for it if it is not
    /// up yet: the gateway serves meanwhile, polling as when NATS goes down.
    pub async fn connect(url: &str) -> Result<Self, NatsError> {
        let (local, _) = broadcast::channel(4096);
        let up = Arc::new(AtomicBool::new(false));
        let events = (local.clone(), up.clone());
        let client = async_nats::ConnectOptions::new()
            // Our own messages are delivered here already.
            .no_echo()
            .retry_on_initial_connect()
            .max_reconnects(None)
            .event_callback(move |event| {
                let (local, up) = events.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            tracing::info!("NATS connected");
                            up.store(true, Ordering::SeqCst);
                            // Catch up on what passed while it was down.
                            let _ = local.send(BusEvent::Resync);
                        }
                        async_nats::Event::Disconnected => {
                            tracing::warn!("NATS unreachable; polling the database until it is back");
                            up.store(false, Ordering::SeqCst);
                        }
                        other => tracing::debug!(%other, "NATS event"),
                    }
                }
            })
            .connect(url)
            .await
            .map_err(|error| NatsError(error.to_string()))?;
        let poll = (local.clone(), up);
        tokio::spawn(async move {
            let (local, up) = poll;
            let mut ticks = tokio::time::interval(POLL_WHILE_DOWN);
            loop {
                ticks.tick().await;
                if !up.load(Ordering::SeqCst) && local.send(BusEvent::Resync).is_err() {
                    // No receivers yet (or any more): nothing to poll for.
                }
            }
        });
        Ok(Self {
            local,
            client,
            watched: Mutex::new(HashMap::new()),
        })
    }

    /// Whether the connection to NATS is up now.
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    fn watched(&self) -> std::sync::MutexGuard<'_, HashMap<LogId, Watch>> {
        self.watched.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Notifier for NatsNotifier {
    fn publish(&self, event: BusEvent) {
        if let Some((log, bytes)) = encode(&event) {
            let client = self.client.clone();
            tokio::spawn(async move {
                if let Err(error) = client.publish(subject(&log), bytes.into()).await {
                    tracing::debug!(%error, "a poke did not reach NATS (the others pull at their next resync)");
                }
            });
        }
        let _ = self.local.send(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<BusEvent> {
        self.local.subscribe()
    }

    fn watch(&self, log: LogId) {
        let mut watched = self.watched();
        if let Some(watch) = watched.get_mut(&log) {
            watch.count += 1;
            return;
        }
        let (client, local) = (self.client.clone(), self.local.clone());
        let task = tokio::spawn(async move {
            let mut messages = match client.subscribe(subject(&log)).await {
                Ok(messages) => messages,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for a log on NATS");
                    return;
                }
            };
            // Nothing stored elsewhere before the NATS server had the
            // subscription goes unannounced: the log's end is read once the
            // subscription is written out, and again a moment later (a
            // flush only says it left this process, not that the server
            // has processed it).
            if client.flush().await.is_ok() {
                let _ = local.send(BusEvent::Check(log));
                let again = local.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(SECOND_CHECK).await;
                    let _ = again.send(BusEvent::Check(log));
                });
            }
            while let Some(message) = messages.next().await {
                match decode(log, &message.payload) {
                    Some(event) => {
                        let _ = local.send(event);
                    }
                    None => tracing::warn!("ignored a malformed message on NATS"),
                }
            }
        });
        watched.insert(log, Watch { count: 1, task });
    }

    fn unwatch(&self, log: LogId) {
        let mut watched = self.watched();
        let last = match watched.get_mut(&log) {
            Some(watch) => {
                watch.count = watch.count.saturating_sub(1);
                watch.count == 0
            }
            None => false,
        };
        if last && let Some(watch) = watched.remove(&log) {
            // Dropping the subscriber unsubscribes from the subject.
            watch.task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_travel_as_they_were_and_junk_is_dropped() {
        let log = LogId([7; 32]);
        let appended = BusEvent::Appended(Appended { log, seq: 42 });
        let signal = BusEvent::Signal(Signal {
            log,
            payload: Arc::new(b"sealed".to_vec()),
            from_connection: 9,
        });
        for event in [appended, signal] {
            let (to, bytes) = encode(&event).unwrap();
            assert_eq!(to, log);
            assert_eq!(decode(log, &bytes), Some(event));
        }
        assert_eq!(encode(&BusEvent::Resync), None);
        assert_eq!(decode(log, &[]), None);
        assert_eq!(decode(log, &[APPENDED, 1, 2]), None);
        assert_eq!(decode(log, &[APPENDED, 0, 0, 0, 0, 0, 0, 0, 1, 9]), None);
        assert_eq!(decode(log, &[7, 0, 0, 0, 0, 0, 0, 0, 1]), None);
        let mut big = vec![SIGNAL, 0, 0, 0, 0, 0, 0, 0, 1];
        big.resize(9 + kith_proto::MAX_SIGNAL_BYTES + 1, 0);
        assert_eq!(decode(log, &big), None, "an oversize signal");
        assert_eq!(subject(&LogId([0xab; 32])), format!("kith.log.{}", "ab".repeat(32)));
    }
}
