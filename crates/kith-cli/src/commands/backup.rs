//! Encrypted backups and imports: `kith backup`, `kith restore`, `kith import`.

use crate::commands::recovery::read_secret;
use crate::outcome::Outcome;
use kith_client::{BackupProgress, Profile};
use serde_json::json;
use std::path::Path;

/// A progress line on stderr, redrawn in place on a terminal.
fn progress(what: &'static str) -> impl Fn(BackupProgress) {
    use std::io::IsTerminal;
    let terminal = std::io::stderr().is_terminal();
    move |p: BackupProgress| {
        if terminal {
            let width = 30;
            let filled = if p.total == 0 {
                width
            } else {
                (p.done * width / p.total.max(1)).min(width)
            };
            let bar: String = (0..width).map(|i| if i < filled { '#' } else { '.' }).collect();
            eprint!("\r{what} [{bar}] {}/{}", p.done, p.total);
            if p.done == p.total {
                eprintln!();
            }
        }
    }
}

/// `kith backup FILE`.
pub(crate) fn backup(profile: &Profile, file: &Path) -> anyhow::Result<Outcome> {
    let passphrase = read_secret("KITH_BACKUP_PASSPHRASE", "backup passphrase")?;
    let done = profile.archive().backup(file, &passphrase, &progress("backing up"))?;
    Outcome::show(
        &json!({"file": file, "items": done.total}),
        format!(
            "wrote an encrypted backup of {} documents and attachments to {}; keep the passphrase apart from it",
            done.total,
            file.display()
        ),
    )
}

/// `kith restore FILE`: a new device of the backed-up account in `dir`.
pub(crate) fn restore(dir: &Path, file: &Path) -> anyhow::Result<(Profile, Outcome)> {
    let passphrase = read_secret("KITH_BACKUP_PASSPHRASE", "backup passphrase")?;
    let (profile, report) = Profile::restore(dir, file, &passphrase, &progress("restoring"))?;
    let info = profile.info()?;
    let text = format!(
        "restored {} ({}) as new device {}: {} documents, {} attachments",
        info.name, info.account_id, info.device_id, report.documents, report.attachments
    );
    let outcome = Outcome::show(&report, text)?;
    Ok((profile, outcome))
}

/// `kith import DIR`.
pub(crate) fn import(profile: &Profile, dir: &Path) -> anyhow::Result<Outcome> {
    let report = profile.archive().import_export(dir)?;
    let mut text = format!(
        "imported {} documents ({} new changes)",
        report.documents, report.changes
    );
    for skipped in &report.skipped {
        text.push_str(&format!("\nskipped {skipped}"));
    }
    Ok(Outcome::show(&report, text)?.wrote())
}
