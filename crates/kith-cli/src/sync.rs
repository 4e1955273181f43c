//! `kith sync --server URL [--once|--watch] [--json]`.
//!
//! `--once` syncs until nothing is left to exchange. `--watch` keeps a
//! connection, subscribes to every followed log, syncs again when the server
//! pokes or another process of this profile commits, and reconnects with
//! exponential backoff and jitter. With `--json` it prints one event per line.

use crate::output;
use kith_client::{ChatId, MessageId, MessageView, Profile, RelayOptions, RelayReport};
use kith_net::{Backoff, Notification, RelayConnection};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// How often `--watch` looks for commits by other processes of this profile.
const LOCAL_POLL: Duration = Duration::from_millis(200);
/// How many recent messages per chat are compared to find new ones.
const RECENT: usize = 50;
/// How often `--watch` tells contacts this device is online.
const PRESENCE_EVERY: Duration = Duration::from_secs(30);

/// A single-threaded runtime for one network command.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

/// Runs the command.
pub fn run(
    profile: &Profile,
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
            let report = profile.sync_relay_once_with(server, options).await?;
            print_report(json_mode, &report)?;
            Ok(())
        }
    })
}

fn print_report(json_mode: bool, report: &RelayReport) -> anyhow::Result<()> {
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

/// What was last shown of each recent message, to tell what a sync changed.
type Seen = BTreeMap<ChatId, BTreeMap<MessageId, MessageView>>;

/// The newest messages of every chat, to tell which ones a sync brought.
fn recent_messages(profile: &Profile) -> anyhow::Result<Seen> {
    let mut out = BTreeMap::new();
    for chat in profile.chats()? {
        let messages = profile
            .messages(&chat.chat_id, RECENT, None)?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        out.insert(chat.chat_id, messages);
    }
    Ok(out)
}

/// Prints what a sync changed among recent messages: new messages of others
/// (`message`), edits and deletions (`edit`), reactions (`reaction`) and the
/// status of own messages (`receipt`).
fn report_new_messages(profile: &Profile, json_mode: bool, seen: &mut Seen) -> anyhow::Result<()> {
    let me = profile.identity().account_id();
    for chat in profile.chats()? {
        let known = seen.entry(chat.chat_id).or_default();
        for message in profile.messages(&chat.chat_id, RECENT, None)? {
            let chat_id = chat.chat_id;
            let name = message.author_name.clone().unwrap_or_else(|| "?".to_owned());
            let text = message.text.clone().unwrap_or_else(|| "(deleted)".to_owned());
            let mut events: Vec<(&str, String)> = Vec::new();
            match known.get(&message.id) {
                None if message.author != me => events.push(("message", format!("[{chat_id}] {name}: {text}"))),
                None => {}
                Some(before) => {
                    if before.text != message.text
                        || before.edited != message.edited
                        || before.deleted != message.deleted
                    {
                        events.push(("edit", format!("[{chat_id}] {name} edited: {text}")));
                    }
                    if before.reactions != message.reactions {
                        events.push((
                            "reaction",
                            format!("[{chat_id}] reactions on {}: {:?}", message.id, message.reactions),
                        ));
                    }
                    if before.status != message.status || before.receipts != message.receipts {
                        events.push(("receipt", format!("[{chat_id}] {} is {:?}", message.id, message.status)));
                    }
                }
            }
            for (kind, text) in events {
                event(
                    json_mode,
                    json!({"event": kind, "chat_id": chat_id, "message": message}),
                    || text,
                )?;
            }
            known.insert(message.id, message);
        }
    }
    Ok(())
}

async fn watch_loop(
    profile: &Profile,
    server: &str,
    json_mode: bool,
    timeout_secs: Option<u64>,
    options: RelayOptions,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let deadline = timeout_secs.map(|t| started + Duration::from_secs(t));
    let expired = || deadline.is_some_and(|d| Instant::now() >= d);
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(30));
    let mut seen = recent_messages(profile)?;
    while !expired() {
        let connection = match RelayConnection::connect(
            server,
            profile.identity().device_keys(),
            kith_client::system_now_ms(),
        )
        .await
        {
            Ok(connection) => connection,
            Err(err) => {
                let delay = backoff.next_delay(rand::random::<f64>());
                event(
                    json_mode,
                    json!({"event": "sync-state", "state": "offline", "error": err.to_string(), "retry_ms": delay.as_millis() as u64}),
                    || format!("offline ({err}); retrying in {} ms", delay.as_millis()),
                )?;
                tokio::time::sleep(delay).await;
                continue;
            }
        };
        backoff.reset();
        profile.remember_server(server)?;
        event(json_mode, json!({"event": "sync-state", "state": "connected"}), || {
            "connected".to_owned()
        })?;
        match serve(profile, connection, json_mode, &mut seen, &expired, options).await {
            Ok(()) => return Ok(()),
            Err(err) => {
                let delay = backoff.next_delay(rand::random::<f64>());
                event(
                    json_mode,
                    json!({"event": "sync-state", "state": "offline", "error": err.to_string(), "retry_ms": delay.as_millis() as u64}),
                    || format!("disconnected ({err}); retrying in {} ms", delay.as_millis()),
                )?;
                tokio::time::sleep(delay).await;
            }
        }
    }
    Ok(())
}

/// Syncs on one connection until the deadline (Ok) or a failure (Err).
async fn serve(
    profile: &Profile,
    mut connection: RelayConnection,
    json_mode: bool,
    seen: &mut Seen,
    expired: &dyn Fn() -> bool,
    options: RelayOptions,
) -> anyhow::Result<()> {
    let mut subscribed = BTreeSet::new();
    let mut marker = None;
    let mut dirty = true;
    let mut presence_due = Instant::now();
    loop {
        if Instant::now() >= presence_due {
            profile.send_presence(&connection).await?;
            presence_due = Instant::now() + PRESENCE_EVERY;
        }
        if dirty {
            let report = profile.sync_relay_with(&connection, options).await?;
            if report.uploaded + report.applied + report.contacts + report.keys > 0 {
                print_report(json_mode, &report)?;
            }
            report_new_messages(profile, json_mode, seen)?;
            // New contacts or keys mean new logs to follow.
            let logs = profile.subscribe_relay(&connection).await?;
            if logs != subscribed {
                subscribed = logs;
            }
            marker = Some(profile.store().change_marker()?);
            dirty = false;
            event(json_mode, json!({"event": "sync-state", "state": "idle"}), || {
                "up to date".to_owned()
            })?;
        }
        if expired() {
            return Ok(());
        }
        tokio::select! {
            notification = connection.next_notification() => match notification {
                None => anyhow::bail!("the server closed the connection"),
                Some(Notification::Appended { .. }) => {
                    while connection.try_appended().is_some() {}
                    dirty = true;
                }
                Some(Notification::Signal { log, payload }) => {
                if let Some(ephemeral) = profile.open_signal(&log, &payload)? {
                    event(json_mode, serde_json::to_value(&ephemeral)?, || match &ephemeral {
                        kith_client::Ephemeral::Typing { chat_id, account, .. } => format!("[{chat_id}] {account} is typing"),
                        kith_client::Ephemeral::Presence { account, .. } => format!("{account} is online"),
                    })?;
                }
                }
            },
            () = tokio::time::sleep(LOCAL_POLL) => {
                let now = profile.store().change_marker()?;
                if Some(now) != marker {
                    dirty = true;
                }
            }
        }
    }
}
