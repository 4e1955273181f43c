//! Command-line parsing and dispatch.

use crate::output;
use anyhow::Context;
use clap::{Parser, Subcommand};
use kith_client::{AccountId, ChatId, ChatKind, ChatSetting, MessageId, Profile, Role, export_profile};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Kith: local-first chat from the command line.
#[derive(Parser, Debug)]
#[command(name = "kith", version, about)]
struct Cli {
    /// Profile directory (default: the OS data directory).
    #[arg(long, global = true, env = "KITH_PROFILE")]
    profile: Option<PathBuf>,
    /// Print one JSON value on stdout.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a new account on this device.
    Init {
        /// Your display name.
        #[arg(long)]
        name: String,
    },
    /// Show this account and device.
    Whoami,
    /// Create and manage chats.
    #[command(subcommand)]
    Chat(ChatCommand),
    /// Manage chat members (admins).
    #[command(subcommand)]
    Member(MemberCommand),
    /// Leave a chat.
    Leave {
        /// The chat.
        chat: String,
    },
    /// Send a message.
    Send {
        /// The chat.
        chat: String,
        /// The text (optional with --attach or --voice).
        #[arg(required_unless_present_any = ["attach", "voice"], default_value = "")]
        text: String,
        /// Reply to this message.
        #[arg(long)]
        reply_to: Option<String>,
        /// Attach this file (repeatable). Pictures are cleaned of metadata
        /// (location!) and scaled to at most 2048 px.
        #[arg(long)]
        attach: Vec<PathBuf>,
        /// Send pictures byte for byte, as files.
        #[arg(long, requires = "attach")]
        as_file: bool,
        /// Attach a voice note: a 16-bit PCM WAV file (its length and
        /// waveform are measured from it).
        #[arg(long)]
        voice: Option<PathBuf>,
    },
    /// The attachments of a chat, oldest first.
    Attachments {
        /// The chat.
        chat: String,
    },
    /// Save an attachment to a file or directory, fetching it from the
    /// server first if it is not on this device (an interrupted fetch resumes).
    Save {
        /// The chat.
        chat: String,
        /// The message.
        message: String,
        /// Where to write it (a directory gets the attachment's name, made safe).
        out: PathBuf,
        /// Which attachment of the message (0 = the first).
        #[arg(long, default_value_t = 0)]
        index: usize,
        /// The sync server (default: the one this profile last synced with).
        #[arg(long)]
        server: Option<String>,
        /// Fetch at most this many bytes a second.
        #[arg(long)]
        rate_limit: Option<u64>,
    },
    /// Edit one of your messages.
    Edit {
        /// The chat.
        chat: String,
        /// The message.
        message: String,
        /// The new text.
        text: String,
    },
    /// Delete one of your messages for everyone.
    Delete {
        /// The chat.
        chat: String,
        /// The message.
        message: String,
    },
    /// React to a message (or remove a reaction).
    React {
        /// The chat.
        chat: String,
        /// The message.
        message: String,
        /// The emoji.
        emoji: String,
        /// Remove the reaction instead.
        #[arg(long)]
        remove: bool,
    },
    /// Mark a chat as read.
    Read {
        /// The chat.
        chat: String,
    },
    /// Show messages, oldest first.
    Messages {
        /// The chat.
        chat: String,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only messages older than this one.
        #[arg(long)]
        before: Option<String>,
    },
    /// List chats.
    Chats,
    /// Search messages in every chat.
    Search {
        /// Words to find (prefixes match).
        query: String,
        /// How many results.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Export everything: readable JSON plus every document as `.automerge`.
    Export {
        /// Output directory.
        out_dir: PathBuf,
    },
    /// Set your display name.
    Name {
        /// The new name.
        name: String,
    },
    /// Compact documents into snapshots (normally automatic).
    Compact,
    /// Add, block and unblock contacts.
    #[command(subcommand)]
    Contact(ContactCommand),
    /// List contacts.
    Contacts,
    /// Set or save profile pictures.
    #[command(subcommand)]
    Avatar(AvatarCommand),
    /// Link, join, list and revoke this account's devices.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Sync with a sync server (end-to-end encrypted) and/or directly with
    /// peers (`--p2p`: own devices and contacts over libp2p).
    Sync {
        /// The server, as `kith-server` prints it (http://HOST:PORT). With
        /// --p2p it is optional: rendezvous, relay, and a copy of everything.
        #[arg(long, required_unless_present = "p2p")]
        server: Option<String>,
        /// Sync peer-to-peer (LAN, direct, relayed through the server).
        #[arg(long)]
        p2p: bool,
        /// With --p2p: listen on this multiaddr (repeatable; default: every
        /// interface, TCP and QUIC, any port).
        #[arg(long, requires = "p2p")]
        listen: Vec<String>,
        /// With --p2p: dial this peer (multiaddr, with or without /p2p/PEER_ID; repeatable).
        #[arg(long, requires = "p2p")]
        peer: Vec<String>,
        /// With --p2p: no mDNS discovery on the LAN.
        #[arg(long, requires = "p2p")]
        no_mdns: bool,
        /// Sync until nothing is left to exchange, then exit (the default).
        #[arg(long, conflicts_with = "watch")]
        once: bool,
        /// Keep syncing: live updates, reconnect with backoff.
        #[arg(long)]
        watch: bool,
        /// With --watch: stop after this many seconds.
        #[arg(long)]
        timeout_secs: Option<u64>,
        /// Compact a log on the server once it grew by this many entries.
        #[arg(long, default_value_t = kith_client::DEFAULT_COMPACT_AFTER)]
        compact_after: u64,
    },
    /// Devices this profile syncs with (own and contacts') and how each is connected.
    Peers,
    /// Delete this account: leave every chat, tell contacts, delete its data
    /// on the server, and erase this profile and its keys from this device.
    DeleteAccount {
        /// The sync server (default: the one this profile last synced with).
        #[arg(long)]
        server: Option<String>,
        /// Confirm (without it nothing is deleted).
        #[arg(long)]
        yes: bool,
    },
    /// Tell the other members of a chat that you are typing (through the
    /// server, or with --p2p to connected peers; never stored).
    Typing {
        /// The chat.
        chat: String,
        /// The sync server (default: the one this profile last synced with).
        /// With --p2p it is only used for rendezvous and relay.
        #[arg(long)]
        server: Option<String>,
        /// Tell peers directly (LAN, direct, relayed) instead of the server.
        #[arg(long)]
        p2p: bool,
        /// With --p2p: dial this peer (multiaddr; repeatable).
        #[arg(long, requires = "p2p")]
        peer: Vec<String>,
        /// With --p2p: listen on this multiaddr (repeatable).
        #[arg(long, requires = "p2p")]
        listen: Vec<String>,
        /// With --p2p: no mDNS discovery on the LAN.
        #[arg(long, requires = "p2p")]
        no_mdns: bool,
    },
    /// Print an event whenever this profile changes, whichever process wrote.
    Watch {
        /// Stop after this many change events.
        #[arg(long)]
        count: Option<usize>,
        /// Stop after this many seconds.
        #[arg(long)]
        timeout_secs: Option<u64>,
    },
}

#[derive(Subcommand, Debug)]
enum ChatCommand {
    /// Create a group chat.
    New {
        /// Its name.
        #[arg(long)]
        name: String,
        /// Members to add (account ids); repeat for several.
        #[arg(long = "member")]
        members: Vec<String>,
    },
    /// Start (or open) the direct chat with a contact.
    Direct {
        /// Their account id.
        account: String,
    },
    /// Rename a chat (admins).
    Rename {
        /// The chat.
        chat: String,
        /// The new name.
        name: String,
    },
    /// Set a group's picture (admins; JPEG, PNG, GIF or WebP, made a 256 px
    /// JPEG without metadata), or remove it with --remove.
    Avatar {
        /// The chat.
        chat: String,
        /// The picture.
        #[arg(required_unless_present = "remove", conflicts_with = "remove")]
        file: Option<PathBuf>,
        /// Remove the picture instead.
        #[arg(long)]
        remove: bool,
    },
    /// Save a group's picture (a 256 px JPEG) to a file.
    AvatarGet {
        /// The chat.
        chat: String,
        /// Where to write the JPEG.
        out: PathBuf,
    },
    /// Pin a chat to the top (`--off` to unpin).
    Pin {
        /// The chat.
        chat: String,
        /// Undo.
        #[arg(long)]
        off: bool,
    },
    /// Mute a chat (`--off` to unmute).
    Mute {
        /// The chat.
        chat: String,
        /// Undo.
        #[arg(long)]
        off: bool,
    },
    /// Archive a chat (`--off` to unarchive).
    Archive {
        /// The chat.
        chat: String,
        /// Undo.
        #[arg(long)]
        off: bool,
    },
    /// Save a draft for a chat.
    Draft {
        /// The chat.
        chat: String,
        /// The draft text (empty clears it).
        text: String,
    },
}

#[derive(Subcommand, Debug)]
enum AvatarCommand {
    /// Set your profile picture (JPEG, PNG, GIF or WebP; made a 256 px JPEG
    /// without metadata).
    Set {
        /// The picture.
        file: PathBuf,
    },
    /// Save a profile picture (yours, or a contact's with --account).
    Get {
        /// Where to write the JPEG.
        out: PathBuf,
        /// Whose (default: yours).
        #[arg(long)]
        account: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum DeviceCommand {
    /// Show a pairing code and wait for a new device to join with it.
    Link {
        /// The sync server both devices use (default: the one this profile last synced with).
        #[arg(long)]
        server: Option<String>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
    },
    /// Make this (new, empty) profile a device of the account that shows CODE.
    Join {
        /// The pairing code from `device link`.
        code: String,
        /// The sync server both devices use.
        #[arg(long)]
        server: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
    },
    /// List this account's devices.
    List,
    /// Revoke another device of this account.
    Revoke {
        /// The device id.
        device: String,
    },
}

#[derive(Subcommand, Debug)]
enum ContactCommand {
    /// Add the person behind an invite link (from their `whoami`).
    Add {
        /// The invite link.
        invite: String,
    },
    /// Block a contact: their messages and requests are dropped on all your devices.
    Block {
        /// Their account id.
        account: String,
    },
    /// Unblock a contact.
    Unblock {
        /// Their account id.
        account: String,
    },
}

#[derive(Subcommand, Debug)]
enum MemberCommand {
    /// Add a member.
    Add {
        /// The chat.
        chat: String,
        /// Their account id.
        account: String,
        /// Their role.
        #[arg(long, default_value = "member")]
        role: String,
    },
    /// Remove a member.
    Remove {
        /// The chat.
        chat: String,
        /// Their account id.
        account: String,
    },
    /// Change a member's role.
    Role {
        /// The chat.
        chat: String,
        /// Their account id.
        account: String,
        /// member, admin or owner.
        role: String,
    },
}

fn chat_id(text: &str) -> anyhow::Result<ChatId> {
    text.parse().with_context(|| format!("invalid chat id {text:?}"))
}

fn message_id(text: &str) -> anyhow::Result<MessageId> {
    text.parse().with_context(|| format!("invalid message id {text:?}"))
}

fn account_id(text: &str) -> anyhow::Result<AccountId> {
    text.parse().with_context(|| format!("invalid account id {text:?}"))
}

fn role(text: &str) -> anyhow::Result<Role> {
    text.parse().map_err(anyhow::Error::msg)
}

/// The server given, or the one this profile last synced with.
fn server_for(profile: &Profile, given: Option<String>) -> anyhow::Result<String> {
    match given {
        Some(server) => Ok(server),
        None => profile
            .relay()
            .last_server()?
            .context("no server given and this profile has not synced yet: pass --server URL"),
    }
}

fn profile_dir(cli: &Cli) -> anyhow::Result<PathBuf> {
    match &cli.profile {
        Some(dir) => Ok(dir.clone()),
        None => Profile::default_dir().context("no OS data directory; pass --profile DIR"),
    }
}

fn open(dir: &Path) -> anyhow::Result<Profile> {
    Ok(Profile::open(dir)?)
}

fn ok(json_mode: bool, message: &str) -> anyhow::Result<()> {
    if json_mode {
        output::json(&json!({"ok": true}))
    } else {
        println!("{message}");
        Ok(())
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let dir = profile_dir(&cli)?;
    let json_mode = cli.json;
    let mut wrote = false;
    let profile = match &cli.command {
        Command::Init { name } => {
            let profile = Profile::init(&dir, name)?;
            let info = profile.info()?;
            if json_mode {
                output::json(&info)?;
            } else {
                println!("Created account {} for {name} in {}", info.account_id, dir.display());
                let storage = match info.secret_storage {
                    kith_client::SecretStorage::Keyring => "the OS keyring".to_string(),
                    kith_client::SecretStorage::File => {
                        format!("{} (readable only by you)", dir.join("device.secret").display())
                    }
                };
                println!("Secret keys are kept in {storage}");
            }
            return Ok(());
        }
        Command::Device(DeviceCommand::Join {
            code,
            server,
            timeout_secs,
        }) => {
            let code: kith_client::PairingCode = code.parse()?;
            let runtime = crate::sync::runtime()?;
            let profile = runtime.block_on(Profile::join(
                &dir,
                server,
                &code,
                std::time::Duration::from_secs(*timeout_secs),
            ))?;
            let info = profile.info()?;
            if json_mode {
                output::json(&info)?;
            } else {
                println!(
                    "this profile is now device {} of {} ({})",
                    info.device_id, info.account_id, info.name
                );
            }
            return Ok(());
        }
        _ => open(&dir)?,
    };
    match cli.command {
        Command::Init { .. } => {}
        Command::Whoami => {
            let info = profile.info()?;
            if json_mode {
                output::json(&info)?;
            } else {
                println!(
                    "name:    {}\naccount: {}\ndevice:  {}\ninvite:  {}",
                    info.name, info.account_id, info.device_id, info.invite
                );
            }
        }
        Command::Chat(ChatCommand::New { name, members }) => {
            let members = members
                .iter()
                .map(|m| account_id(m))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let chat = profile.chats().create(&name, &members, ChatKind::Group)?;
            wrote = true;
            if json_mode {
                output::json(&json!({ "chat_id": chat }))?;
            } else {
                println!("{chat}");
            }
        }
        Command::Chat(ChatCommand::Direct { account }) => {
            let chat = profile.contacts().direct_chat(&account_id(&account)?)?;
            wrote = true;
            if json_mode {
                output::json(&json!({ "chat_id": chat }))?;
            } else {
                println!("{chat}");
            }
        }
        Command::Contact(ContactCommand::Add { invite }) => {
            let account = profile.contacts().add(&invite)?;
            wrote = true;
            if json_mode {
                output::json(&json!({ "account_id": account, "state": "pending" }))?;
            } else {
                println!("added {account}; you become contacts once both of you have synced");
            }
        }
        Command::Contact(ContactCommand::Block { account }) => {
            profile.contacts().set_blocked(&account_id(&account)?, true)?;
            wrote = true;
            ok(json_mode, "blocked")?;
        }
        Command::Contact(ContactCommand::Unblock { account }) => {
            profile.contacts().set_blocked(&account_id(&account)?, false)?;
            wrote = true;
            ok(json_mode, "unblocked")?;
        }
        Command::Device(DeviceCommand::Join { .. }) => {}
        Command::Device(DeviceCommand::Link { server, timeout_secs }) => {
            let code = kith_client::PairingCode::generate()?;
            // The first line, flushed: scripts and the other device read it.
            println!("pairing code: {code}");
            use std::io::Write;
            std::io::stdout().flush()?;
            let runtime = crate::sync::runtime()?;
            let device = runtime.block_on(profile.devices().link(
                &server_for(&profile, server)?,
                &code,
                std::time::Duration::from_secs(timeout_secs),
            ))?;
            if json_mode {
                output::json(&json!({ "linked": device }))?;
            } else {
                println!("linked device {device}");
            }
            return Ok(());
        }
        Command::Device(DeviceCommand::List) => {
            let devices = profile.devices().list()?;
            if json_mode {
                output::json(&devices)?;
            } else {
                for d in &devices {
                    println!(
                        "{}{}{}",
                        d.device_id,
                        if d.this_device { "  (this device)" } else { "" },
                        if d.revoked { "  revoked" } else { "" }
                    );
                }
            }
        }
        Command::Device(DeviceCommand::Revoke { device }) => {
            let device: kith_client::DeviceId = device
                .parse()
                .with_context(|| format!("invalid device id {device:?}"))?;
            profile.devices().revoke(&device)?;
            wrote = true;
            ok(json_mode, "revoked")?;
        }
        Command::DeleteAccount { server, yes } => {
            if !yes {
                anyhow::bail!("this deletes the account everywhere and cannot be undone; repeat with --yes");
            }
            let runtime = crate::sync::runtime()?;
            let server = server_for(&profile, server)?;
            let report = runtime.block_on(profile.delete_account(&server))?;
            if json_mode {
                output::json(&report)?;
            } else {
                println!(
                    "account deleted: left {} chats, told {} contacts, deleted {} logs on the server, erased {}",
                    report.chats_left,
                    report.contacts_told,
                    report.logs_deleted,
                    dir.display()
                );
            }
            return Ok(());
        }
        Command::Typing {
            chat,
            server,
            p2p: true,
            peer,
            listen,
            no_mdns,
        } => {
            let chat = chat_id(&chat)?;
            let mut options = crate::p2p::options(&listen, &peer, !no_mdns, server, false)?;
            options.typing_now = vec![chat];
            let report = crate::p2p::quietly(&profile, options)?;
            if json_mode {
                output::json(&json!({"typing": chat.to_string(), "peers": report.peers}))?;
            } else {
                println!("typing told to {} peer devices", report.peers);
            }
        }
        Command::Typing { chat, server, .. } => {
            let chat = chat_id(&chat)?;
            let server = server_for(&profile, server)?;
            let runtime = crate::sync::runtime()?;
            runtime.block_on(async {
                let connection = kith_net::RelayConnection::connect(
                    &server,
                    profile.identity().device_keys(),
                    kith_client::system_now_ms(),
                )
                .await?;
                profile.signals().send_typing(&connection, &chat).await
            })?;
            ok(json_mode, "typing")?;
        }
        Command::Avatar(AvatarCommand::Set { file }) => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            profile.set_avatar(&bytes)?;
            wrote = true;
            ok(json_mode, "profile picture set")?;
        }
        Command::Avatar(AvatarCommand::Get { out, account }) => {
            let account = account.as_deref().map(account_id).transpose()?;
            let Some(bytes) = profile.avatar(account.as_ref())? else {
                anyhow::bail!("no profile picture");
            };
            std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
            if json_mode {
                output::json(&json!({"out": out, "bytes": bytes.len()}))?;
            } else {
                println!("saved {} bytes to {}", bytes.len(), out.display());
            }
        }
        Command::Contacts => {
            let contacts = profile.contacts().list()?;
            if json_mode {
                output::json(&contacts)?;
            } else if contacts.is_empty() {
                println!("no contacts yet: share the invite from `kith whoami`");
            } else {
                for c in &contacts {
                    println!(
                        "{}  {:<9} {}",
                        c.account_id,
                        c.state,
                        c.name.as_deref().unwrap_or("(no name yet)")
                    );
                }
            }
        }
        Command::Sync {
            server,
            p2p,
            listen,
            peer,
            no_mdns,
            once: _,
            watch,
            timeout_secs,
            compact_after,
        } => {
            let options = kith_client::RelayOptions { compact_after };
            if p2p {
                let p2p_options = crate::p2p::options(&listen, &peer, !no_mdns, server, watch)?;
                crate::p2p::run(&profile, p2p_options, json_mode, timeout_secs, options)?;
            } else if let Some(server) = server {
                crate::sync::run(&profile, &server, json_mode, watch, timeout_secs, options)?;
            }
            return Ok(());
        }
        Command::Peers => {
            let peers = profile.peers()?;
            if json_mode {
                output::json(&peers)?;
            } else if peers.is_empty() {
                println!("no peers yet: link a device or add a contact");
            } else {
                for peer in peers {
                    println!(
                        "{:<11} {} {} ({}){}",
                        peer.route.as_str(),
                        peer.peer_id,
                        peer.name.as_deref().unwrap_or("?"),
                        if peer.own { "your device" } else { "contact" },
                        peer.address.map(|a| format!(" at {a}")).unwrap_or_default()
                    );
                }
            }
        }
        Command::Chat(ChatCommand::Rename { chat, name }) => {
            profile.chats().rename(&chat_id(&chat)?, &name)?;
            wrote = true;
            ok(json_mode, "renamed")?;
        }
        Command::Chat(ChatCommand::Avatar { chat, file, remove }) => {
            let chat = chat_id(&chat)?;
            let picture = match &file {
                Some(file) if !remove => {
                    Some(std::fs::read(file).with_context(|| format!("reading {}", file.display()))?)
                }
                _ => None,
            };
            profile.chats().set_avatar(&chat, picture.as_deref())?;
            wrote = true;
            ok(
                json_mode,
                if picture.is_some() {
                    "group picture set"
                } else {
                    "group picture removed"
                },
            )?;
        }
        Command::Chat(ChatCommand::AvatarGet { chat, out }) => {
            let Some(bytes) = profile.chats().avatar(&chat_id(&chat)?)? else {
                anyhow::bail!("this chat has no picture");
            };
            std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
            if json_mode {
                output::json(&json!({"out": out, "bytes": bytes.len()}))?;
            } else {
                println!("saved {} bytes to {}", bytes.len(), out.display());
            }
        }
        Command::Chat(ChatCommand::Pin { chat, off }) => {
            profile.chats().set_flag(&chat_id(&chat)?, ChatSetting::Pinned, !off)?;
            wrote = true;
            ok(json_mode, if off { "unpinned" } else { "pinned" })?;
        }
        Command::Chat(ChatCommand::Mute { chat, off }) => {
            profile.chats().set_flag(&chat_id(&chat)?, ChatSetting::Muted, !off)?;
            wrote = true;
            ok(json_mode, if off { "unmuted" } else { "muted" })?;
        }
        Command::Chat(ChatCommand::Archive { chat, off }) => {
            profile
                .chats()
                .set_flag(&chat_id(&chat)?, ChatSetting::Archived, !off)?;
            wrote = true;
            ok(json_mode, if off { "unarchived" } else { "archived" })?;
        }
        Command::Chat(ChatCommand::Draft { chat, text }) => {
            profile.chats().set_draft(&chat_id(&chat)?, &text)?;
            wrote = true;
            ok(json_mode, "draft saved")?;
        }
        Command::Member(MemberCommand::Add { chat, account, role: r }) => {
            profile
                .chats()
                .set_role(&chat_id(&chat)?, &account_id(&account)?, role(&r)?)?;
            wrote = true;
            ok(json_mode, "added")?;
        }
        Command::Member(MemberCommand::Role { chat, account, role: r }) => {
            profile
                .chats()
                .set_role(&chat_id(&chat)?, &account_id(&account)?, role(&r)?)?;
            wrote = true;
            ok(json_mode, "role changed")?;
        }
        Command::Member(MemberCommand::Remove { chat, account }) => {
            profile
                .chats()
                .remove_member(&chat_id(&chat)?, &account_id(&account)?)?;
            wrote = true;
            ok(json_mode, "removed")?;
        }
        Command::Leave { chat } => {
            let me = profile.identity().account_id();
            profile.chats().remove_member(&chat_id(&chat)?, &me)?;
            wrote = true;
            ok(json_mode, "left")?;
        }
        Command::Send {
            chat,
            text,
            reply_to,
            attach,
            as_file,
            voice,
        } => {
            let chat = chat_id(&chat)?;
            let reply_to = reply_to.as_deref().map(message_id).transpose()?;
            let mut attachments = Vec::with_capacity(attach.len() + 1);
            for path in &attach {
                attachments.push(
                    profile
                        .blobs()
                        .attach(path, as_file)
                        .with_context(|| format!("attaching {}", path.display()))?,
                );
            }
            if let Some(path) = &voice {
                let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                attachments.push(
                    profile
                        .blobs()
                        .attach_voice(&name, bytes, None)
                        .with_context(|| format!("attaching {}", path.display()))?,
                );
            }
            let id = profile.messages().send_with(&chat, &text, reply_to, attachments)?;
            wrote = true;
            if json_mode {
                output::json(&json!({ "message_id": id }))?;
            } else {
                println!("{id}");
            }
        }
        Command::Attachments { chat } => {
            let attachments = profile.blobs().attachments(&chat_id(&chat)?)?;
            if json_mode {
                output::json(&attachments)?;
            } else if attachments.is_empty() {
                println!("no attachments in this chat");
            } else {
                for a in attachments {
                    println!(
                        "{} #{} {} ({}, {} bytes){}",
                        a.message_id,
                        a.index,
                        a.name,
                        a.mime,
                        a.size,
                        if a.downloaded { "" } else { " - not downloaded" }
                    );
                }
            }
        }
        Command::Save {
            chat,
            message,
            out,
            index,
            server,
            rate_limit,
        } => {
            let chat = chat_id(&chat)?;
            let attachment = profile.blobs().attachment(&chat, &message_id(&message)?, index)?;
            let mut report = kith_client::TransferReport::default();
            if !profile.blobs().has(&attachment.hash)? {
                let server = server_for(&profile, server)?;
                let runtime = crate::sync::runtime()?;
                report = runtime.block_on(async {
                    let connection = kith_net::RelayConnection::connect(
                        &server,
                        profile.identity().device_keys(),
                        kith_client::system_now_ms(),
                    )
                    .await?;
                    let mut shown = 0u64;
                    let mut progress = |p: kith_client::Progress| {
                        // About every 5% on stderr, for people watching.
                        if !json_mode && (p.done == p.total || p.done >= shown + p.total / 20) {
                            shown = p.done;
                            eprintln!("fetched {} of {} bytes", p.done, p.total);
                        }
                    };
                    profile
                        .blobs()
                        .fetch(&connection, chat, &attachment, rate_limit, &mut progress)
                        .await
                })?;
            }
            let path = profile.blobs().save_attachment(&attachment, &out)?;
            if json_mode {
                output::json(&json!({
                    "path": path,
                    "bytes": attachment.size,
                    "hash": attachment.hash_hex(),
                    "mime": attachment.mime,
                    "resumed_from": report.resumed_from,
                    "fetched": report.fetched,
                }))?;
            } else {
                println!(
                    "saved {} ({} bytes) to {}",
                    attachment.name,
                    attachment.size,
                    path.display()
                );
            }
        }
        Command::Edit { chat, message, text } => {
            profile
                .messages()
                .edit(&chat_id(&chat)?, &message_id(&message)?, &text)?;
            wrote = true;
            ok(json_mode, "edited")?;
        }
        Command::Delete { chat, message } => {
            profile.messages().delete(&chat_id(&chat)?, &message_id(&message)?)?;
            wrote = true;
            ok(json_mode, "deleted")?;
        }
        Command::React {
            chat,
            message,
            emoji,
            remove,
        } => {
            profile
                .messages()
                .react(&chat_id(&chat)?, &message_id(&message)?, &emoji, remove)?;
            wrote = true;
            ok(json_mode, if remove { "reaction removed" } else { "reacted" })?;
        }
        Command::Read { chat } => {
            profile.messages().mark_read(&chat_id(&chat)?)?;
            wrote = true;
            ok(json_mode, "marked read")?;
        }
        Command::Messages { chat, limit, before } => {
            let before = before.as_deref().map(message_id).transpose()?;
            let messages = profile.messages().list(&chat_id(&chat)?, limit, before.as_ref())?;
            if json_mode {
                output::json(&messages)?;
            } else {
                output::messages(&messages);
            }
        }
        Command::Chats => {
            let chats = profile.chats().list()?;
            if json_mode {
                let rows: Vec<_> = chats
                    .iter()
                    .map(|c| {
                        json!({
                            "chat_id": c.chat_id, "name": c.name, "kind": c.kind,
                            "last_message": c.last_message, "unread": c.unread,
                            "pinned": c.pinned, "muted": c.muted, "archived": c.archived,
                            "members": c.members, "has_avatar": c.has_avatar,
                        })
                    })
                    .collect();
                output::json(&rows)?;
            } else {
                output::chats(&chats);
            }
        }
        Command::Search { query, limit } => {
            let hits = profile.messages().search(&query, limit)?;
            if json_mode {
                let rows: Vec<_> = hits
                    .iter()
                    .map(|h| json!({"chat_id": h.chat, "message_id": h.message, "text": h.text, "snippet": h.snippet}))
                    .collect();
                output::json(&rows)?;
            } else {
                output::hits(&hits);
            }
        }
        Command::Export { out_dir } => {
            let documents = export_profile(&profile, &out_dir)?;
            if json_mode {
                output::json(&json!({"out_dir": out_dir, "documents": documents}))?;
            } else {
                println!(
                    "exported {documents} documents and kith-export.json to {}",
                    out_dir.display()
                );
            }
        }
        Command::Name { name } => {
            profile.set_name(&name)?;
            wrote = true;
            ok(json_mode, "name changed")?;
        }
        Command::Watch { count, timeout_secs } => {
            watch(&profile, json_mode, count, timeout_secs)?;
            return Ok(());
        }
        Command::Compact => {
            let n = profile.compact(0)?;
            if json_mode {
                output::json(&json!({"compacted": n}))?;
            } else {
                println!("compacted {n} documents");
            }
            return Ok(());
        }
    }
    if wrote {
        // Off the hot path: the result is already printed and durable.
        profile.compact_when_due();
    }
    Ok(())
}

/// How often `watch` looks for commits by other processes.
const WATCH_POLL: std::time::Duration = std::time::Duration::from_millis(100);

fn watch(profile: &Profile, json_mode: bool, count: Option<usize>, timeout_secs: Option<u64>) -> anyhow::Result<()> {
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
            return Ok(());
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
            println!("changed:");
            output::chats(&chats);
        }
        use std::io::Write;
        std::io::stdout().flush()?;
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
