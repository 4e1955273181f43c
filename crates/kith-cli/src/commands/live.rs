//! Live commands: syncing with a server and with peers, typing, and
//! watching the profile. They print as they go.

use crate::args::{SyncArgs, TypingArgs};
use crate::ids::{chat_id, server_for};
use crate::outcome::Outcome;
use crate::output;
use anyhow::Context;
use kith_client::{Profile, RelayOptions};
use serde_json::json;
use std::sync::Arc;

/// `kith sync`.
pub(crate) fn sync(profile: &Arc<Profile>, json_mode: bool, request: SyncArgs) -> anyhow::Result<Outcome> {
    let options = RelayOptions {
        compact_after: Some(request.compact_after),
    };
    if let Some(path) = &request.server_cert {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        profile
            .relay()
            .pin_server_certificate(&pem)
            .with_context(|| format!("{}", path.display()))?;
    }
    if request.p2p {
        let p2p_options = crate::p2p::options(
            &request.listen,
            &request.peer,
            !request.no_mdns,
            request.server,
            request.watch,
        )?;
        crate::p2p::run(profile, p2p_options, json_mode, request.timeout_secs, options)?;
    } else if let Some(server) = request.server {
        crate::sync::run(
            profile,
            &server,
            json_mode,
            request.watch,
            request.timeout_secs,
            options,
        )?;
    }
    Ok(Outcome::Printed)
}

/// `kith typing`: tells the chat's other members, never stored.
pub(crate) fn typing(profile: &Profile, request: TypingArgs) -> anyhow::Result<Outcome> {
    let chat = chat_id(&request.chat)?;
    if request.p2p {
        let mut options = crate::p2p::options(&request.listen, &request.peer, !request.no_mdns, request.server, false)?;
        options.typing_now = vec![chat];
        let report = crate::p2p::quietly(profile, options)?;
        return Outcome::show(
            &json!({"typing": chat.to_string(), "peers": report.peers}),
            format!("typing told to {} peer devices", report.peers),
        );
    }
    let server = server_for(profile, request.server)?;
    let runtime = crate::sync::runtime()?;
    runtime.block_on(async {
        let connection = profile.relay().connect(&server).await?;
        profile.signals().send_typing(&connection, &chat).await
    })?;
    Outcome::ok("typing")
}

/// How often `watch` looks for commits by other processes.
const WATCH_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// `kith watch`: an event whenever this profile changes, whichever process wrote.
pub(crate) fn watch(
    profile: &Profile,
    json_mode: bool,
    count: Option<usize>,
    timeout_secs: Option<u64>,
) -> anyhow::Result<Outcome> {
    let started = std::time::Instant::now();
    let mut marker = profile.store().change_marker()?;
    if json_mode {
        output::json(&json!({"event": "watching"}))?;
    } else {
        println!("watching for changes (Ctrl+C to stop)");
    }
    let mut seen = 0;
    loop {
        if count.is_some_and(|c| seen >= c) || timeout_secs.is_some_and(|t| started.elapsed().as_secs() >= t) {
            return Ok(Outcome::Printed);
        }
        std::thread::sleep(WATCH_POLL);
        let now = profile.store().change_marker()?;
        if now == marker {
            continue;
        }
        marker = now;
        seen += 1;
        let chats = profile.chats().list()?;
        if json_mode {
            let rows: Vec<_> = chats
                .iter()
                .map(|c| json!({"chat_id": c.chat_id, "unread": c.unread, "last_message": c.last_message.as_ref().map(|m| m.id)}))
                .collect();
            output::json(&json!({"event": "changed", "chats": rows}))?;
        } else {
            println!("changed:\n{}", output::chats(&chats));
        }
        use std::io::Write;
        std::io::stdout().flush()?;
    }
}
