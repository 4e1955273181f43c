//! The `Notifier` conformance cases against the in-process broadcast and
//! against NATS (a throwaway `nats-server`, two notifiers standing for two
//! gateways).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use kith_proto::LogId;
use kith_server::{Appended, BroadcastNotifier, BusEvent, NatsNotifier, Notifier, Signal};
use kith_testkit::Nats;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::Receiver;

const LOG: LogId = LogId([1; 32]);
const OTHER: LogId = LogId([2; 32]);
/// A log only the cross-gateway part uses.
const SHARED: LogId = LogId([3; 32]);

fn appended(log: LogId, seq: u64) -> BusEvent {
    BusEvent::Appended(Appended { log, seq })
}

/// The next event that is not a resync, within `wait`.
async fn next(events: &mut Receiver<BusEvent>, wait: Duration) -> Option<BusEvent> {
    tokio::time::timeout(wait, async {
        loop {
            match events.recv().await {
                Ok(BusEvent::Resync | BusEvent::Check(_)) => continue,
                Ok(event) => return event,
                Err(error) => panic!("{error}"),
            }
        }
    })
    .await
    .ok()
}

/// Connects to NATS and waits until the connection is up (it is made in
/// the background, so a gateway starts even while NATS is away).
async fn gateway(nats: &Nats) -> NatsNotifier {
    let notifier = NatsNotifier::connect(&nats.url()).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !notifier.connected() {
        assert!(tokio::time::Instant::now() < deadline, "not connected to NATS");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    notifier
}

/// Cases every notifier passes within one gateway.
async fn local_cases(notifier: &dyn Notifier) {
    let mut events = notifier.subscribe();
    notifier.watch(LOG);
    notifier.publish(appended(LOG, 1));
    assert_eq!(next(&mut events, Duration::from_secs(5)).await, Some(appended(LOG, 1)));
    let signal = BusEvent::Signal(Signal {
        log: LOG,
        payload: Arc::new(b"typing".to_vec()),
        from_connection: 3,
    });
    notifier.publish(signal.clone());
    assert_eq!(next(&mut events, Duration::from_secs(5)).await, Some(signal));
    notifier.unwatch(LOG);
}

#[tokio::test]
async fn the_broadcast_delivers_within_the_gateway() {
    local_cases(&BroadcastNotifier::default()).await;
}

#[tokio::test]
async fn nats_delivers_within_and_across_gateways_for_watched_logs_only() {
    let nats = Nats::start();
    let gateway_a = gateway(&nats).await;
    let gateway_b = gateway(&nats).await;
    local_cases(&gateway_a).await;

    let mut at_b = gateway_b.subscribe();
    gateway_b.watch(SHARED);
    // Once B listens for the log, its connections are asked to read it,
    // once the subscription is out and again a moment later.
    let checks = tokio::time::timeout(Duration::from_secs(5), async {
        let mut checks = 0;
        while checks < 2 {
            if let Ok(BusEvent::Check(log)) = at_b.recv().await {
                assert_eq!(log, SHARED);
                checks += 1;
            }
        }
    });
    checks.await.unwrap();
    // The NATS server has B's subscription by then: the next poke crosses.
    gateway_a.publish(appended(SHARED, 10));
    assert_eq!(
        next(&mut at_b, Duration::from_secs(5)).await,
        Some(appended(SHARED, 10))
    );
    // A log nobody at B watches is not sent there; a watched one still is.
    gateway_a.publish(appended(OTHER, 1));
    gateway_a.publish(appended(SHARED, 100));
    assert_eq!(
        next(&mut at_b, Duration::from_secs(5)).await,
        Some(appended(SHARED, 100))
    );
    // Once the last watcher at B is gone, B hears nothing more of the log.
    gateway_b.unwatch(SHARED);
    tokio::time::sleep(Duration::from_millis(300)).await;
    gateway_a.publish(appended(SHARED, 101));
    assert_eq!(next(&mut at_b, Duration::from_millis(500)).await, None);
}

#[tokio::test]
async fn without_nats_the_gateway_keeps_going_and_asks_its_connections_to_poll() {
    let mut nats = Nats::start();
    let gateway = gateway(&nats).await;
    let mut events = gateway.subscribe();
    nats.stop();
    // Local delivery goes on; resyncs come while NATS is down.
    gateway.publish(appended(LOG, 1));
    let mut saw_local = false;
    let mut resyncs = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while resyncs < 2 && tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(3), events.recv()).await {
            Ok(Ok(BusEvent::Resync)) => resyncs += 1,
            Ok(Ok(BusEvent::Check(_))) => {}
            Ok(Ok(event)) => saw_local |= event == appended(LOG, 1),
            _ => {}
        }
    }
    assert!(saw_local, "local delivery stopped with NATS");
    assert!(resyncs >= 2, "no polling while NATS was down");
    nats.resume();
}
