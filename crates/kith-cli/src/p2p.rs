//! `kith sync --p2p [--listen MA]... [--peer MA]... [--server URL] [--once|--watch] [--json]`.
//!
//! With `--json` the first line is `{"listening": [MULTIADDR, ...]}`, then
//! one event per line. With `--server`, everything learned from peers is
//! also uploaded to the sync server (and the server's rendezvous and relay
//! help peers find each other).

use crate::output;
use crate::sync::{follow, print_report, runtime, watch_event};
use anyhow::Context;
use kith_client::p2p::{P2pEvent, P2pOptions, P2pReport, run_p2p};
use kith_client::{Client, ClientEvent, ClientOptions, ConsumerFailed, Profile, RelayOptions, WatchEvent};
use serde_json::json;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Parses the command line into options.
pub fn options(
    listen: &[String],
    peers: &[String],
    mdns: bool,
    server: Option<String>,
    watch: bool,
) -> anyhow::Result<P2pOptions> {
    let parse = |a: &String| a.parse().with_context(|| format!("{a:?} is not a multiaddr"));
    Ok(P2pOptions {
        listen: listen.iter().map(parse).collect::<anyhow::Result<_>>()?,
        peers: peers.iter().map(parse).collect::<anyhow::Result<_>>()?,
        mdns,
        server,
        once: !watch,
        ..P2pOptions::default()
    })
}

/// Runs the command.
pub fn run(
    profile: &Arc<Profile>,
    options: P2pOptions,
    json_mode: bool,
    timeout_secs: Option<u64>,
    relay_options: RelayOptions,
) -> anyhow::Result<()> {
    let runtime = runtime()?;
    if !options.once {
        return runtime.block_on(watch(profile, options, json_mode, timeout_secs, relay_options));
    }
    let deadline = timeout_secs.map(|t| Instant::now() + Duration::from_secs(t));
    let expired = move || deadline.is_some_and(|d| Instant::now() >= d);
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let mut on_p2p = |event: P2pEvent| {
        print_event(json_mode, event).map_err(|err| {
            let message = err.to_string();
            if let Ok(mut slot) = failure.lock() {
                slot.get_or_insert(err);
            }
            ConsumerFailed(message)
        })
    };
    let server = options.server.clone();
    let result: anyhow::Result<()> = runtime.block_on(async {
        let report = run_p2p(profile, options, &expired, &mut on_p2p).await?;
        print_totals(json_mode, &report)?;
        if let Some(server) = &server {
            // What peers taught us goes to the server too.
            let connection = profile.relay().connect(server).await?;
            let relay = profile.relay().sync(&connection, relay_options).await?;
            print_report(json_mode, &relay)?;
        }
        Ok(())
    });
    if let Some(err) = failure.lock().ok().and_then(|mut f| f.take()) {
        return Err(err);
    }
    result
}

/// `--watch`: the client's runtime with peers (and the server, if given)
/// until the timeout.
async fn watch(
    profile: &Arc<Profile>,
    options: P2pOptions,
    json_mode: bool,
    timeout_secs: Option<u64>,
    relay: RelayOptions,
) -> anyhow::Result<()> {
    let client_options = ClientOptions {
        server: options.server.clone(),
        relay,
        p2p: Some(options),
        compaction: None,
    };
    let (client, events) = Client::start(Arc::clone(profile), client_options)?;
    // The listening line comes first: server events wait for it.
    let mut held: Option<Vec<WatchEvent>> = Some(Vec::new());
    let mut failure: Option<anyhow::Error> = None;
    follow(client, events, timeout_secs, |event| {
        match event {
            ClientEvent::Peer(event) => {
                let listening = matches!(event, P2pEvent::Listening(_));
                print_event(json_mode, event)?;
                if listening {
                    for event in held.take().unwrap_or_default() {
                        watch_event(json_mode, event)?;
                    }
                }
            }
            ClientEvent::Server(event) => match held.as_mut() {
                Some(waiting) => waiting.push(event),
                None => watch_event(json_mode, event)?,
            },
            ClientEvent::PeersEnded(result) => {
                for event in held.take().unwrap_or_default() {
                    watch_event(json_mode, event)?;
                }
                match result {
                    Ok(report) => print_totals(json_mode, &report)?,
                    // The server loop goes on; the failure is the run's result.
                    Err(err) => {
                        failure.get_or_insert(anyhow::Error::new(err).context("peer-to-peer sync stopped"));
                    }
                }
            }
            ClientEvent::Ended { task, error } => {
                return Err(anyhow::Error::new(error).context(format!("{task} stopped")));
            }
            // Peers report what they bring themselves.
            ClientEvent::LocalCommit(_) => {}
        }
        Ok(())
    })
    .await?;
    failure.map_or(Ok(()), Err)
}

/// Runs one peer-to-peer pass printing nothing (for commands whose output
/// is their own result, like `typing --p2p`).
pub fn quietly(profile: &Profile, options: P2pOptions) -> anyhow::Result<P2pReport> {
    let mut ignore = |_: P2pEvent| Ok(());
    let report = runtime()?.block_on(run_p2p(profile, options, &|| false, &mut ignore))?;
    Ok(report)
}

fn print_totals(json_mode: bool, report: &P2pReport) -> anyhow::Result<()> {
    if json_mode {
        output::json(&json!({"event": "p2p-synced", "report": report}))
    } else {
        println!(
            "peer-to-peer: {} peers, {} changes received, {} frames sent, {} received",
            report.peers, report.applied, report.frames_sent, report.frames_received
        );
        Ok(())
    }
}

fn line(json_mode: bool, value: serde_json::Value, text: String) -> anyhow::Result<()> {
    if json_mode {
        output::json(&value)?;
    } else {
        println!("{text}");
    }
    use std::io::Write;
    std::io::stdout().flush()?;
    Ok(())
}

fn print_event(json_mode: bool, event: P2pEvent) -> anyhow::Result<()> {
    match event {
        P2pEvent::Listening(addresses) => {
            let text = format!("listening on {}", addresses.join(", "));
            line(json_mode, json!({ "listening": addresses }), text)
        }
        P2pEvent::Peer {
            peer_id,
            account,
            device,
            own,
            route,
        } => {
            let text = format!(
                "{} {peer_id} connected ({route})",
                if own { "your device" } else { "contact" }
            );
            line(
                json_mode,
                json!({"event": "peer", "peer_id": peer_id, "account": account, "device": device, "own": own, "route": route}),
                text,
            )
        }
        P2pEvent::Route { peer_id, route } => line(
            json_mode,
            json!({"event": "route", "peer_id": peer_id, "route": route}),
            format!("{peer_id} is now {route}"),
        ),
        P2pEvent::Refused { peer_id, reason } => line(
            json_mode,
            json!({"event": "refused", "peer_id": peer_id, "reason": reason}),
            format!("{peer_id}: {reason}"),
        ),
        P2pEvent::Discovered { peer_id, via } => line(
            json_mode,
            json!({"event": "discovered", "peer_id": peer_id, "via": via}),
            format!("found {peer_id} via {via}"),
        ),
        P2pEvent::Watch(event) => watch_event(json_mode, event),
    }
}
