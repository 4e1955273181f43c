//! The account on this device: create, join, who am I, name, picture,
//! export, compaction, deletion.

use crate::args::AvatarCommand;
use crate::ids::{account_id, server_for};
use crate::outcome::Outcome;
use anyhow::Context;
use kith_client::{Profile, ProfileInfo, export_profile};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

/// `kith init`: a new account with this profile as its first device.
pub(crate) fn init(dir: &Path, name: &str) -> anyhow::Result<(Profile, Outcome)> {
    let profile = Profile::init(dir, name)?;
    let info = profile.info()?;
    let storage = match info.secret_storage {
        kith_client::SecretStorage::Keyring => "the OS keyring".to_string(),
        kith_client::SecretStorage::File => {
            format!("{} (readable only by you)", dir.join("device.secret").display())
        }
    };
    let text = format!(
        "Created account {} for {name} in {}\nSecret keys are kept in {storage}\nIf you lose every device, a recovery phrase brings the account back: run `kith recovery show` and write it down",
        info.account_id,
        dir.display()
    );
    let outcome = Outcome::show(&info, text)?;
    Ok((profile, outcome))
}

/// `kith device join`: this new profile becomes a device of the account
/// that shows `code`.
pub(crate) fn join(
    dir: &Path,
    code: &str,
    server: &str,
    server_cert: Option<&Path>,
    timeout_secs: u64,
) -> anyhow::Result<(Profile, Outcome)> {
    let code: kith_client::PairingCode = code.parse()?;
    let trust = server_trust(server_cert)?;
    let runtime = crate::sync::runtime()?;
    let profile = runtime.block_on(Profile::join_trusting(
        dir,
        server,
        &trust,
        &code,
        Duration::from_secs(timeout_secs),
    ))?;
    let info = profile.info()?;
    let text = format!(
        "this profile is now device {} of {} ({})",
        info.device_id, info.account_id, info.name
    );
    let outcome = Outcome::show(&info, text)?;
    Ok((profile, outcome))
}

/// How to trust a server: a pinned PEM certificate, or the platform's roots.
pub(crate) fn server_trust(server_cert: Option<&Path>) -> anyhow::Result<kith_net::ServerTrust> {
    Ok(match server_cert {
        Some(path) => kith_net::ServerTrust::with_pinned_pem(
            &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| format!("{}", path.display()))?,
        None => kith_net::ServerTrust::platform(),
    })
}

/// `kith whoami`.
pub(crate) fn whoami(profile: &Profile) -> anyhow::Result<Outcome> {
    let info: ProfileInfo = profile.info()?;
    let text = format!(
        "name:    {}\naccount: {}\ndevice:  {}\ninvite:  {}",
        info.name, info.account_id, info.device_id, info.invite
    );
    Outcome::show(&info, text)
}

/// `kith name`.
pub(crate) fn name(profile: &Profile, name: &str) -> anyhow::Result<Outcome> {
    profile.set_name(name)?;
    Ok(Outcome::ok("name changed")?.wrote())
}

/// `kith avatar set|get`.
pub(crate) fn avatar(profile: &Profile, command: AvatarCommand) -> anyhow::Result<Outcome> {
    match command {
        AvatarCommand::Set { file } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            profile.set_avatar(&bytes)?;
            Ok(Outcome::ok("profile picture set")?.wrote())
        }
        AvatarCommand::Get { out, account } => {
            let account = account.as_deref().map(account_id).transpose()?;
            let Some(bytes) = profile.avatar(account.as_ref())? else {
                anyhow::bail!("no profile picture");
            };
            save_picture(&out, &bytes)
        }
    }
}

/// Writes a picture to `out`.
pub(crate) fn save_picture(out: &Path, bytes: &[u8]) -> anyhow::Result<Outcome> {
    std::fs::write(out, bytes).with_context(|| format!("writing {}", out.display()))?;
    Outcome::show(
        &json!({"out": out, "bytes": bytes.len()}),
        format!("saved {} bytes to {}", bytes.len(), out.display()),
    )
}

/// `kith export`.
pub(crate) fn export(profile: &Profile, out_dir: &Path) -> anyhow::Result<Outcome> {
    let documents = export_profile(profile, out_dir)?;
    Outcome::show(
        &json!({"out_dir": out_dir, "documents": documents}),
        format!(
            "exported {documents} documents and kith-export.json to {}",
            out_dir.display()
        ),
    )
}

/// `kith compact`: every document with more than one chunk, now.
pub(crate) fn compact(profile: &Profile) -> anyhow::Result<Outcome> {
    let n = profile.compact(0)?;
    Outcome::show(&json!({"compacted": n}), format!("compacted {n} documents"))
}

/// `kith delete-account`: everywhere, then this profile.
pub(crate) fn delete(profile: Profile, dir: &Path, server: Option<String>, yes: bool) -> anyhow::Result<Outcome> {
    if !yes {
        anyhow::bail!("this deletes the account everywhere and cannot be undone; repeat with --yes");
    }
    let runtime = crate::sync::runtime()?;
    let server = server_for(&profile, server)?;
    let report = runtime.block_on(profile.delete_account(&server))?;
    let kept = match report.logs_kept {
        0 => String::new(),
        n => format!(" ({n} claimed by someone else stay, as ciphertext only)"),
    };
    let text = format!(
        "account deleted: left {} chats, told {} contacts, deleted {} logs on the server{kept}, erased {}",
        report.chats_left,
        report.contacts_told,
        report.logs_deleted,
        dir.display()
    );
    Outcome::show(&report, text)
}
