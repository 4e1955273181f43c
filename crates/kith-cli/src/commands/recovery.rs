//! The recovery phrase: make one, see whether the account has one, and
//! rebuild a lost account from it.

use crate::args::RecoveryCommand;
use crate::outcome::Outcome;
use anyhow::Context;
use kith_client::{Profile, RecoveryPhrase, RelayOptions};
use serde_json::json;
use std::path::Path;
use zeroize::Zeroizing;

/// A secret from the environment variable `env`, else the first line of
/// stdin (prompted on stderr). Never a command-line argument: those are
/// visible to every local user in the process list.
pub(crate) fn read_secret(env: &str, what: &str) -> anyhow::Result<Zeroizing<String>> {
    if let Ok(value) = std::env::var(env) {
        return Ok(Zeroizing::new(value));
    }
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        eprint!("{what}: ");
    }
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .read_line(&mut line)
        .with_context(|| format!("reading the {what} from stdin"))?;
    let trimmed = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
    if trimmed.trim().is_empty() {
        anyhow::bail!("no {what} given (set {env} or type it on stdin)");
    }
    Ok(trimmed)
}

/// `kith recovery show|status`.
pub(crate) fn recovery(profile: &Profile, command: RecoveryCommand) -> anyhow::Result<Outcome> {
    match command {
        RecoveryCommand::Show => {
            let phrase = profile.recovery().new_phrase()?;
            let words = phrase.words()?;
            let numbered: Vec<String> = words
                .split(' ')
                .enumerate()
                .map(|(i, w)| format!("{:>2}. {w}", i + 1))
                .collect();
            let text = format!(
                "Your recovery phrase (write it down on paper and keep it safe; anyone who has it can take over this account):\n\n{}\n\nIt replaces any earlier phrase. It works once a device of this account has synced (`kith sync`).",
                numbered.join("\n")
            );
            Ok(Outcome::show(&json!({"words": words.as_str()}), text)?.wrote())
        }
        RecoveryCommand::Status => {
            let status = profile.recovery().status()?;
            let text = match (status.phrase_made, status.kit_on_server) {
                (false, _) => "no recovery phrase yet: run `kith recovery show` and write it down".to_owned(),
                (true, false) => {
                    "a recovery phrase exists; sync to put this device's recovery kit on the server".to_owned()
                }
                (true, true) => "a recovery phrase exists and this device's recovery kit is on the server".to_owned(),
            };
            Outcome::show(&status, text)
        }
    }
}

/// `kith recover`: a new device of a lost account, from its phrase.
pub(crate) fn recover(
    dir: &Path,
    server: &str,
    server_cert: Option<&Path>,
    revoke_others: bool,
) -> anyhow::Result<(Profile, Outcome)> {
    let words = read_secret("KITH_RECOVERY_PHRASE", "recovery phrase")?;
    let phrase = RecoveryPhrase::parse(&words)?;
    let trust = crate::commands::account::server_trust(server_cert)?;
    let runtime = crate::sync::runtime()?;
    let profile = runtime.block_on(Profile::recover(dir, server, &trust, &phrase))?;
    let mut revoked = Vec::new();
    if revoke_others {
        for device in profile.devices().list()? {
            if !device.this_device && !device.revoked {
                profile.devices().revoke(&device.device_id)?;
                revoked.push(device.device_id);
            }
        }
        runtime.block_on(async {
            let connection = profile.relay().connect(server).await?;
            profile.relay().sync(&connection, RelayOptions::default()).await
        })?;
    }
    let info = profile.info()?;
    let chats = profile.chats().list()?.len();
    let text = format!(
        "recovered {} ({}) as new device {}: {chats} chats{}",
        info.name,
        info.account_id,
        info.device_id,
        match revoked.len() {
            0 => String::new(),
            n => format!(", {n} other devices revoked"),
        }
    );
    let outcome = Outcome::show(
        &json!({"account_id": info.account_id, "device_id": info.device_id, "name": info.name, "chats": chats, "revoked": revoked}),
        text,
    )?;
    Ok((profile, outcome))
}
