//! `kith sync --server URL [--once|--watch] [--json]`.
//!
//! `--once` syncs until nothing is left to exchange. `--watch` runs the
//! client's background runtime ([`Client`]): it keeps a connection,
//! subscribes to every followed log, syncs again when the server pokes or
//! another process of this profile commits, and reconnects with exponential
//! backoff and jitter. With `--json` it prints one event per line.

use crate::output;
use kith_client::{
    Client, ClientEvent, ClientEvents, ClientOptions, ConnectionState, Ephemeral, MessageChange, Profile, RelayOptions,
    RelayReport, WatchEvent,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// A single-threaded runtime for one network command.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

/// Runs the command.
pub fn run(
    profile: &Arc<Profile>,
    server: &str,
    json_mode: bool,
    watch: bool,
    timeout_secs: Option<u64>,
    options: RelayOptions,
) -> anyhow::Result<()> {
    let runtime = runtime()?;
    runtime.block_on(async {
        if watch {
            watch_loop(profile, server, json_mode, timeout_secs, options).await
        } else {
            let connection = profile.relay().connect(server).await?;
            let report = profile.relay().sync(&connection, options).await?;
            print_report(json_mode, &report)?;
            Ok(())
        }
    })
}

pub(crate) fn print_report(json_mode: bool, report: &RelayReport) -> anyhow::Result<()> {
    if json_mode {
        output::json(&json!({"event": "synced", "report": report}))
    } else {
        println!(
            "synced: {} uploaded, {} received, {} contacts, {} keys{}",
            report.uploaded,
            report.applied,
            report.contacts,
            report.keys,
            if report.refused > 0 {
                format!(", {} refused", report.refused)
            } else {
                String::new()
            }
        );
        Ok(())
    }
}

fn event(json_mode: bool, value: serde_json::Value, text: impl FnOnce() -> String) -> anyhow::Result<()> {
    if json_mode {
        output::json(&value)?;
    } else {
        println!("{}", text());
    }
    use std::io::Write;
    std::io::stdout().flush()?;
    Ok(())
}

pub(crate) fn watch_event(json_mode: bool, watch_event: WatchEvent) -> anyhow::Result<()> {
    match watch_event {
        WatchEvent::State(state) => {
            let value = json!({"event": "sync-state", "state": state});
            // `state` serialises as an object with a `state` field; flatten it.
            let value = match value {
                serde_json::Value::Object(mut map) => {
                    if let Some(serde_json::Value::Object(inner)) = map.remove("state") {
                        map.extend(inner);
                    }
                    serde_json::Value::Object(map)
                }
                other => other,
            };
            event(json_mode, value, || state_text(&state))
        }
        WatchEvent::Synced(report) => print_report(json_mode, &report),
        WatchEvent::Message { change, message } => {
            let chat_id = message.chat_id;
            let name = message.author_name.clone().unwrap_or_else(|| "?".to_owned());
            let text = message.text.clone().unwrap_or_else(|| "(deleted)".to_owned());
            let line = match change {
                MessageChange::Message => format!("[{chat_id}] {name}: {text}"),
                MessageChange::Edit => format!("[{chat_id}] {name} edited: {text}"),
                MessageChange::Reaction => format!("[{chat_id}] reactions on {}: {:?}", message.id, message.reactions),
                MessageChange::Receipt => format!("[{chat_id}] {} is {:?}", message.id, message.status),
            };
            event(
                json_mode,
                json!({"event": change, "chat_id": chat_id, "message": message}),
                || line,
            )
        }
        WatchEvent::Ephemeral(ephemeral) => event(json_mode, serde_json::to_value(&ephemeral)?, || match &ephemeral {
            Ephemeral::Typing { chat_id, account, .. } => format!("[{chat_id}] {account} is typing"),
            Ephemeral::Presence { account, .. } => format!("{account} is online"),
        }),
    }
}

fn state_text(state: &ConnectionState) -> String {
    match state {
        ConnectionState::Connected => "connected".to_owned(),
        ConnectionState::Idle => "up to date".to_owned(),
        ConnectionState::Offline { error, retry_ms } => format!("offline ({error}); retrying in {retry_ms} ms"),
    }
}

async fn watch_loop(
    profile: &Arc<Profile>,
    server: &str,
    json_mode: bool,
    timeout_secs: Option<u64>,
    options: RelayOptions,
) -> anyhow::Result<()> {
    let client_options = ClientOptions {
        server: Some(server.to_owned()),
        relay: options,
        ..ClientOptions::default()
    };
    let (client, events) = Client::start(Arc::clone(profile), client_options)?;
    follow(client, events, timeout_secs, |event| match event {
        ClientEvent::Server(event) => watch_event(json_mode, event),
        ClientEvent::Ended { task, error } => Err(anyhow::Error::new(error).context(format!("{task} stopped"))),
        _ => Ok(()),
    })
    .await
}

/// Hands each event of a running client to `on_event` until the timeout
/// (or until every task ended), then stops the client and hands over what
/// it said while stopping. The first error (of `on_event` or of a task, as
/// `on_event` returns it) ends the run and is returned.
pub(crate) async fn follow(
    client: Client,
    mut events: ClientEvents,
    timeout_secs: Option<u64>,
    mut on_event: impl FnMut(ClientEvent) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let deadline = timeout_secs.map(|t| tokio::time::Instant::now() + Duration::from_secs(t));
    let outcome = loop {
        let next = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, events.next()).await {
                Ok(next) => next,
                Err(_) => break Ok(()),
            },
            None => events.next().await,
        };
        match next {
            Some(event) => {
                if let Err(err) = on_event(event) {
                    break Err(err);
                }
            }
            None => break Ok(()),
        }
    };
    // The stop waits for the tasks, which then have said all they will.
    client.stop();
    let mut outcome = outcome;
    while let Some(event) = events.next().await {
        if outcome.is_ok() {
            outcome = on_event(event);
        }
    }
    outcome
}
