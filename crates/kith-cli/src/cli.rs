//! Parse, dispatch to the command modules, then print the outcome and
//! compact when the command wrote.

use crate::args::{Cli, Command, DeviceCommand};
use crate::commands::{account, backup, chats, contacts, devices, live, messages, people, recovery};
use crate::outcome::Outcome;
use anyhow::Context;
use clap::Parser;
use kith_client::Profile;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

fn profile_dir(cli: &Cli) -> anyhow::Result<PathBuf> {
    match &cli.profile {
        Some(dir) => Ok(dir.clone()),
        None => Profile::default_dir().context("no OS data directory; pass --profile DIR"),
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let dir = profile_dir(&cli)?;
    let json_mode = cli.json;
    let (profile, outcome) = match cli.command {
        Command::Init { name } => {
            let (profile, outcome) = account::init(&dir, &name)?;
            (Some(Arc::new(profile)), outcome)
        }
        Command::Device(DeviceCommand::Join {
            code,
            server,
            server_cert,
            timeout_secs,
        }) => {
            let (profile, outcome) = account::join(&dir, &code, &server, server_cert.as_deref(), timeout_secs)?;
            (Some(Arc::new(profile)), outcome)
        }
        Command::Recover {
            server,
            server_cert,
            revoke_others,
        } => {
            let (profile, outcome) = recovery::recover(&dir, &server, server_cert.as_deref(), revoke_others)?;
            (Some(Arc::new(profile)), outcome)
        }
        Command::Restore { file } => {
            let (profile, outcome) = backup::restore(&dir, &file)?;
            (Some(Arc::new(profile)), outcome)
        }
        // Consumes the profile: nothing is left to compact.
        Command::DeleteAccount { server, yes } => (None, account::delete(Profile::open(&dir)?, &dir, server, yes)?),
        command => {
            // Shared: the background runtime of `sync --watch` holds it too.
            let profile = Arc::new(Profile::open(&dir)?);
            let outcome = dispatch(&profile, json_mode, command)?;
            (Some(profile), outcome)
        }
    };
    if let Outcome::Show { json, text, wrote } = outcome {
        if json_mode {
            println!("{json}");
        } else if !text.is_empty() {
            println!("{text}");
        }
        if wrote && let Some(profile) = profile {
            // Off the hot path: the result is already printed and durable.
            profile.compact_when_due();
        }
    }
    Ok(())
}

/// Runs one command on an open profile.
fn dispatch(profile: &Arc<Profile>, json_mode: bool, command: Command) -> anyhow::Result<Outcome> {
    match command {
        // Handled before a profile is opened.
        Command::Init { .. }
        | Command::Device(DeviceCommand::Join { .. })
        | Command::DeleteAccount { .. }
        | Command::Recover { .. }
        | Command::Restore { .. } => {
            anyhow::bail!("this command does not run on an open profile")
        }
        Command::Whoami => account::whoami(profile),
        Command::Name { name } => account::name(profile, &name),
        Command::Avatar(command) => account::avatar(profile, command),
        Command::Export { out_dir } => account::export(profile, &out_dir),
        Command::Compact => account::compact(profile),
        Command::Recovery(command) => recovery::recovery(profile, command),
        Command::Backup { file } => backup::backup(profile, &file),
        Command::Import { dir } => backup::import(profile, &dir),
        Command::Chat(command) => chats::chat(profile, command),
        Command::Member(command) => chats::member(profile, command),
        Command::Leave { chat } => chats::leave(profile, &chat),
        Command::Chats => chats::list(profile),
        Command::Contact(command) => contacts::contact(profile, command),
        Command::Contacts => contacts::list(profile),
        Command::Invite(command) => contacts::invite(profile, command),
        Command::Username(command) => people::username(profile, command),
        Command::Requests => people::list(profile),
        Command::Email(command) => people::email(profile, command),
        Command::Request(command) => people::answer(profile, command),
        Command::Peers => contacts::peers(profile),
        Command::Device(DeviceCommand::Link { server, timeout_secs }) => devices::link(profile, server, timeout_secs),
        Command::Device(DeviceCommand::List) => devices::list(profile),
        Command::Device(DeviceCommand::Revoke { device }) => devices::revoke(profile, &device),
        Command::Send(args) => messages::send(profile, &args),
        Command::Edit { chat, message, text } => messages::edit(profile, &chat, &message, &text),
        Command::Delete { chat, message } => messages::delete(profile, &chat, &message),
        Command::React {
            chat,
            message,
            emoji,
            remove,
        } => messages::react(profile, &chat, &message, &emoji, remove),
        Command::Read { chat } => messages::read(profile, &chat),
        Command::Suggest { chat, message } => messages::suggest(profile, &chat, &message),
        Command::Messages { chat, limit, before } => messages::list(profile, &chat, limit, before.as_deref()),
        Command::Search { query, limit } => messages::search(profile, &query, limit),
        Command::Attachments { chat } => messages::attachments(profile, &chat),
        Command::Save(args) => messages::save(profile, json_mode, args),
        Command::Sync(args) => live::sync(profile, json_mode, args),
        Command::Typing(args) => live::typing(profile, args),
        Command::Watch { count, timeout_secs } => live::watch(profile, json_mode, count, timeout_secs),
    }
}

/// Entry point: parse, run, report errors on stderr with a non-zero exit.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("KITH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kith: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
