//! Staying in sync with a server: one long-lived connection, subscribed to
//! every followed log, syncing again when the server pokes or another process
//! of this profile commits, reconnecting with backoff and jitter. The
//! [`Client`](crate::Client) runtime runs it (for `kith sync --watch` and the
//! desktop app alike) and stops it by dropping it at an await point, which
//! is safe: every store write is one synchronous transaction.

use crate::{ChatId, ClientError, Ephemeral, MessageId, MessageView, Profile, RelayOptions, RelayReport};
use kith_net::{Backoff, Notification, RelayConnection};
use kith_proto::LogId;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// How often the watcher looks for commits by other processes of this profile.
pub const LOCAL_POLL: Duration = Duration::from_millis(200);
/// How many recent messages per chat are compared to find what changed.
const RECENT: usize = 50;
/// How often the watcher tells contacts this device is online.
pub const PRESENCE_EVERY: Duration = Duration::from_secs(30);

/// The state of the connection to the server.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum ConnectionState {
    /// Connected; a sync pass follows.
    Connected,
    /// Connected and up to date.
    Idle,
    /// Not connected; the next attempt is in `retry_ms`.
    Offline {
        /// Why.
        error: String,
        /// Milliseconds until the next attempt.
        retry_ms: u64,
    },
}

/// What a message change looks like to someone watching the chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageChange {
    /// A new message of someone else.
    Message,
    /// Edited or deleted.
    Edit,
    /// Reactions changed.
    Reaction,
    /// The status or receipts of an own message changed.
    Receipt,
}

/// Something the watcher saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchEvent {
    /// The connection state changed.
    State(ConnectionState),
    /// A sync pass exchanged something.
    Synced(RelayReport),
    /// A recent message changed.
    Message {
        /// What changed.
        change: MessageChange,
        /// The message as it is now.
        message: Box<MessageView>,
    },
    /// Someone is typing or online.
    Ephemeral(Ephemeral),
}

/// Returned by a watcher's consumer to stop it: why it could not take the event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerFailed(pub String);

impl From<ConsumerFailed> for ClientError {
    fn from(failed: ConsumerFailed) -> ClientError {
        ClientError::Consumer(failed.0)
    }
}

/// The newest messages of every chat as last seen, to tell what a sync changed.
#[derive(Debug, Default)]
pub struct RecentMessages {
    seen: BTreeMap<ChatId, BTreeMap<MessageId, MessageView>>,
}

impl RecentMessages {
    /// What `profile` holds now (nothing in it counts as new later).
    pub fn snapshot(profile: &Profile) -> Result<RecentMessages, ClientError> {
        let mut recent = RecentMessages::default();
        recent.changes(profile)?;
        Ok(recent)
    }

    /// The changes among recent messages since the last call: new messages
    /// of others, edits and deletions, reactions, the status of own messages.
    pub fn changes(&mut self, profile: &Profile) -> Result<Vec<WatchEvent>, ClientError> {
        let me = profile.identity().account_id();
        let mut events = Vec::new();
        for chat in profile.chats().list()? {
            let known = self.seen.entry(chat.chat_id).or_default();
            for message in profile.messages().list(&chat.chat_id, RECENT, None)? {
                let mut changes = Vec::new();
                match known.get(&message.id) {
                    None if message.author != me => changes.push(MessageChange::Message),
                    None => {}
                    Some(before) => {
                        if before.text != message.text
                            || before.edited != message.edited
                            || before.deleted != message.deleted
                        {
                            changes.push(MessageChange::Edit);
                        }
                        if before.reactions != message.reactions {
                            changes.push(MessageChange::Reaction);
                        }
                        if before.status != message.status || before.receipts != message.receipts {
                            changes.push(MessageChange::Receipt);
                        }
                    }
                }
                for change in changes {
                    events.push(WatchEvent::Message {
                        change,
                        message: Box::new(message.clone()),
                    });
                }
                known.insert(message.id, message);
            }
        }
        Ok(events)
    }
}

/// Typing notices to send: each chat id received is told "this account is typing".
pub type TypingReceiver = tokio::sync::mpsc::UnboundedReceiver<ChatId>;

/// Keeps `profile` in sync with `server` until dropped, reporting through
/// `on_event` and sending a typing notice for each chat `typing` yields.
/// Returns only when `on_event` fails (network failures are reported as
/// [`ConnectionState::Offline`] and retried).
pub(crate) async fn watch_relay(
    profile: &Profile,
    server: &str,
    options: RelayOptions,
    mut typing: Option<&mut TypingReceiver>,
    on_event: &mut (dyn FnMut(WatchEvent) -> Result<(), ConsumerFailed> + Send),
) -> Result<(), ClientError> {
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(30));
    let mut recent = RecentMessages::snapshot(profile)?;
    loop {
        let failure = match profile.relay().connect(server).await {
            Ok(connection) => {
                backoff.reset();
                on_event(WatchEvent::State(ConnectionState::Connected)).map_err(ClientError::from)?;
                match serve(
                    profile,
                    connection,
                    &mut recent,
                    options,
                    typing.as_deref_mut(),
                    on_event,
                )
                .await
                {
                    Err(ServeError::Report(err)) => return Err(err),
                    Err(ServeError::Connection(err)) => err,
                }
            }
            Err(err) => err.to_string(),
        };
        let delay = backoff.next_delay(rand::random::<f64>());
        on_event(WatchEvent::State(ConnectionState::Offline {
            error: failure,
            retry_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        }))
        .map_err(ClientError::from)?;
        tokio::time::sleep(delay).await;
    }
}

/// With no server: reports what commits of other processes of this profile
/// (and of the peer-to-peer loop) changed among recent messages, one batch
/// per commit seen, until dropped or `on_commit` fails.
pub(crate) async fn watch_local(
    profile: &Profile,
    on_commit: &mut (dyn FnMut(Vec<WatchEvent>) -> Result<(), ConsumerFailed> + Send),
) -> Result<(), ClientError> {
    let mut recent = RecentMessages::snapshot(profile)?;
    let mut marker = profile.store().change_marker()?;
    loop {
        tokio::time::sleep(LOCAL_POLL).await;
        let now = profile.store().change_marker()?;
        if now != marker {
            marker = now;
            on_commit(recent.changes(profile)?)?;
        }
    }
}

/// Why serving one connection ended.
enum ServeError {
    /// The connection failed: reconnect.
    Connection(String),
    /// Reporting failed: give up.
    Report(ClientError),
}

impl From<ClientError> for ServeError {
    fn from(err: ClientError) -> ServeError {
        ServeError::Connection(err.to_string())
    }
}

/// Syncs on one connection until it fails.
async fn serve(
    profile: &Profile,
    mut connection: RelayConnection,
    recent: &mut RecentMessages,
    options: RelayOptions,
    mut typing: Option<&mut TypingReceiver>,
    on_event: &mut (dyn FnMut(WatchEvent) -> Result<(), ConsumerFailed> + Send),
) -> Result<std::convert::Infallible, ServeError> {
    let mut marker = None;
    let mut dirty = true;
    // The first sync pulls every followed log; after it the connection is
    // subscribed to all of them, so only poked logs need pulling.
    let mut full_sync = true;
    let mut poked: BTreeSet<LogId> = BTreeSet::new();
    let mut subscribed: BTreeSet<LogId> = BTreeSet::new();
    let mut presence_due = Instant::now();
    loop {
        if Instant::now() >= presence_due {
            profile.signals().send_presence(&connection).await?;
            presence_due = Instant::now() + PRESENCE_EVERY;
        }
        if dirty {
            let report = if full_sync {
                profile.relay().sync(&connection, options).await?
            } else {
                profile.relay().sync_poked(&connection, &poked, options).await?
            };
            full_sync = false;
            poked.clear();
            if report.uploaded + report.applied + report.contacts + report.keys > 0 {
                on_event(WatchEvent::Synced(report)).map_err(|f| ServeError::Report(f.into()))?;
            }
            for event in recent.changes(profile)? {
                on_event(event).map_err(|f| ServeError::Report(f.into()))?;
            }
            // New contacts or keys mean new logs to follow; one that grew
            // before its subscription is pulled at once.
            poked = profile.relay().subscribe_new(&connection, &mut subscribed).await?;
            marker = Some(profile.store().change_marker().map_err(ClientError::from)?);
            dirty = !poked.is_empty();
            on_event(WatchEvent::State(ConnectionState::Idle)).map_err(|f| ServeError::Report(f.into()))?;
        }
        let next_typing = async {
            match typing.as_deref_mut() {
                Some(receiver) => receiver.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some(chat) = next_typing => {
                // Typing notices are best effort: a failure is the connection's.
                profile.signals().send_typing(&connection, &chat).await?;
            }
            notification = connection.next_notification() => match notification {
                None => return Err(ServeError::Connection("the server closed the connection".to_owned())),
                Some(Notification::Appended { log, .. }) => {
                    poked.insert(log);
                    while let Some((log, _)) = connection.try_appended() {
                        poked.insert(log);
                    }
                    dirty = true;
                }
                Some(Notification::Signal { log, payload }) => {
                    if let Some(ephemeral) = profile.signals().open(&log, &payload)? {
                        on_event(WatchEvent::Ephemeral(ephemeral)).map_err(|f| ServeError::Report(f.into()))?;
                    }
                }
            },
            () = tokio::time::sleep(LOCAL_POLL) => {
                let now = profile.store().change_marker().map_err(ClientError::from)?;
                if Some(now) != marker {
                    dirty = true;
                }
            }
        }
    }
}
