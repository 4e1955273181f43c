//! `kith-server admin ...`: the operator's tools. They work on the
//! database directly (SQLite in `--data`, or `--database`), so they need no
//! network access to the server and work while it runs.

use crate::backend::open_store;
use crate::store::LogStore;
use kith_proto::{DeviceId, Username};
use std::process::ExitCode;

/// One operator command.
#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// The newest abuse reports: which device, by whom, why.
    Reports {
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Suspends a device id: it can no longer sign in, look names up or
    /// send requests.
    SuspendDevice {
        /// The device id (as in a report).
        device: DeviceId,
        /// Why, for the record.
        #[arg(long, default_value = "suspended by the operator")]
        reason: String,
    },
    /// Lifts a device's suspension.
    LiftDevice {
        /// The device id.
        device: DeviceId,
    },
    /// Takes a username (and every look-alike of it): lookups find nobody
    /// and nobody can claim it.
    SuspendUsername {
        /// The name, as people type it.
        name: String,
    },
}

/// Runs `command` and prints what it did.
pub(crate) fn main(database: Option<&str>, data: &std::path::Path, command: &AdminCommand) -> ExitCode {
    let result = open_store(database, data)
        .map_err(|error| error.to_string())
        .and_then(|store| run(store.as_ref(), command));
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("kith-server admin: {error}");
            ExitCode::FAILURE
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
}

fn run(store: &dyn LogStore, command: &AdminCommand) -> Result<String, String> {
    let failed = |error: crate::store::StoreError| error.to_string();
    match command {
        AdminCommand::Reports { limit } => {
            let reports = store.reports(*limit).map_err(failed)?;
            if reports.is_empty() {
                return Ok("no reports".to_owned());
            }
            Ok(reports
                .iter()
                .map(|report| {
                    format!(
                        "{}  device {}  reported by {}  {:?}",
                        report.at_ms, report.reported, report.reporter, report.reason
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"))
        }
        AdminCommand::SuspendDevice { device, reason } => {
            store.suspend_device(device, reason, now_ms()).map_err(failed)?;
            Ok(format!("suspended device {device}"))
        }
        AdminCommand::LiftDevice { device } => Ok(if store.lift_suspension(device).map_err(failed)? {
            format!("device {device} may sign in again")
        } else {
            format!("device {device} was not suspended")
        }),
        AdminCommand::SuspendUsername { name } => {
            let name = Username::parse(name).map_err(|error| error.to_string())?;
            let held = store.suspend_name(&name.lookup(), now_ms()).map_err(failed)?;
            Ok(if held {
                format!("suspended the username {} (it was claimed)", name.shown())
            } else {
                format!("reserved the username {} (nobody had it)", name.shown())
            })
        }
    }
}
