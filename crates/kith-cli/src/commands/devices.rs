//! This account's devices: link a new one, list, revoke.

use crate::ids::server_for;
use crate::outcome::Outcome;
use anyhow::Context;
use kith_client::Profile;
use serde_json::json;
use std::time::Duration;

/// `kith device link`: prints a pairing code at once, then waits.
pub(crate) fn link(profile: &Profile, server: Option<String>, timeout_secs: u64) -> anyhow::Result<Outcome> {
    let code = kith_client::PairingCode::generate()?;
    // The first line, flushed: scripts and the other device read it.
    println!("pairing code: {code}");
    use std::io::Write;
    std::io::stdout().flush()?;
    let runtime = crate::sync::runtime()?;
    let device = runtime.block_on(profile.devices().link(
        &server_for(profile, server)?,
        &code,
        Duration::from_secs(timeout_secs),
    ))?;
    Outcome::show(&json!({ "linked": device }), format!("linked device {device}"))
}

/// `kith device list`.
pub(crate) fn list(profile: &Profile) -> anyhow::Result<Outcome> {
    let devices = profile.devices().list()?;
    let text = crate::output::lines(&devices, |d| {
        format!(
            "{}{}{}",
            d.device_id,
            if d.this_device { "  (this device)" } else { "" },
            if d.revoked { "  revoked" } else { "" }
        )
    });
    Outcome::show(&devices, text)
}

/// `kith device revoke`.
pub(crate) fn revoke(profile: &Profile, device: &str) -> anyhow::Result<Outcome> {
    let device: kith_client::DeviceId = device
        .parse()
        .with_context(|| format!("invalid device id {device:?}"))?;
    profile.devices().revoke(&device)?;
    Ok(Outcome::ok("revoked")?.wrote())
}
