//! The command line: every command and its arguments (clap).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Kith: local-first chat from the command line.
#[derive(Parser, Debug)]
#[command(name = "kith", version, about)]
pub(crate) struct Cli {
    /// Profile directory (default: the OS data directory).
    #[arg(long, global = true, env = "KITH_PROFILE")]
    pub(crate) profile: Option<PathBuf>,
    /// Print one JSON value on stdout.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

// Every `kith` command.
#[derive(Subcommand, Debug)]
pub(crate) enum Command {
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
    Send(SendArgs),
    /// The attachments of a chat, oldest first.
    Attachments {
        /// The chat.
        chat: String,
    },
    /// Save an attachment to a file or directory, fetching it from the
    /// server first if it is not on this device (an interrupted fetch resumes).
    Save(SaveArgs),
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
    /// Suggest up to three replies to someone's message, from your own
    /// earlier replies (on this device only) and short built-ins.
    Suggest {
        /// The chat.
        chat: String,
        /// The message to answer.
        message: String,
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
    /// Make a recovery phrase, or see whether the account has one.
    #[command(subcommand)]
    Recovery(RecoveryCommand),
    /// Rebuild a lost account in this (new, empty) profile from its recovery
    /// phrase (read from KITH_RECOVERY_PHRASE or the first line of stdin).
    Recover {
        /// The sync server the account used.
        #[arg(long)]
        server: String,
        /// Trust this PEM certificate for the server (kept in the new profile).
        #[arg(long)]
        server_cert: Option<PathBuf>,
        /// Revoke every other device of the account (the lost ones).
        #[arg(long)]
        revoke_others: bool,
    },
    /// Write an encrypted backup of this profile to FILE (passphrase from
    /// KITH_BACKUP_PASSPHRASE or the first line of stdin).
    Backup {
        /// The backup file to write.
        file: PathBuf,
    },
    /// Bring a profile back from a backup file into this (new, empty)
    /// profile, with no server (passphrase as for `backup`).
    Restore {
        /// The backup file.
        file: PathBuf,
    },
    /// Read an export (`kith export`) of this account into this profile.
    Import {
        /// The export directory.
        dir: PathBuf,
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
    /// Your invite links: the personal one many people may use, one-time
    /// links; their state, uses and who tried them after they stopped working.
    #[command(subcommand)]
    Invite(InviteCommand),
    /// Your username: claim, show, release.
    #[command(subcommand)]
    Username(UsernameCommand),
    /// Email nudges: one short email (no sender, no content) when this
    /// device has been away a while and something waits for it.
    #[command(subcommand)]
    Email(EmailCommand),
    /// Message requests waiting for your answer.
    Requests,
    /// Answer a message request.
    #[command(subcommand)]
    Request(RequestCommand),
    /// Set or save profile pictures.
    #[command(subcommand)]
    Avatar(AvatarCommand),
    /// Link, join, list and revoke this account's devices.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Sync with a sync server (end-to-end encrypted) and/or directly with
    /// peers (`--p2p`: own devices and contacts over libp2p).
    Sync(SyncArgs),
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
    Typing(TypingArgs),
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

// `kith chat ...`.
#[derive(Subcommand, Debug)]
pub(crate) enum ChatCommand {
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

// `kith avatar ...`.
#[derive(Subcommand, Debug)]
pub(crate) enum AvatarCommand {
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

// `kith recovery ...`.
#[derive(Subcommand, Debug)]
pub(crate) enum RecoveryCommand {
    /// Make a new recovery phrase and show it once (the previous one gets
    /// no newer recovery kits).
    Show,
    /// Whether the account has a phrase and this device's kit is on the server.
    Status,
}

// `kith device ...`.
#[derive(Subcommand, Debug)]
pub(crate) enum DeviceCommand {
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
        /// Trust this PEM certificate for the server (kept in the new profile).
        #[arg(long)]
        server_cert: Option<PathBuf>,
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

// `kith contact ...`.
#[derive(Subcommand, Debug)]
pub(crate) enum ContactCommand {
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
    /// People you may know: members of your groups who are not your
    /// contacts, by shared groups, then by how recently they wrote.
    Suggestions {
        /// How many at most.
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
    /// Find someone by their username (an exact match; the server answers
    /// a few lookups an hour).
    Find {
        /// The username (with or without @).
        name: String,
        /// The sync server (default: the one this profile last synced with).
        #[arg(long)]
        server: Option<String>,
    },
    /// Send a message request: to a username, or to the account id of
    /// someone in one of your groups. It lands in their Requests.
    Request {
        /// A username, or an account id.
        who: String,
        /// Your first message (what they read before accepting).
        #[arg(long)]
        message: String,
        /// The sync server (default: the one this profile last synced with).
        #[arg(long)]
        server: Option<String>,
    },
}

// `kith username ...`.
#[derive(Subcommand, Debug)]
pub(crate) enum UsernameCommand {
    /// Your username, if you claimed one.
    Show,
    /// Claim a username on your server (replacing yours, if you had one):
    /// people who know it can find you and send you a request.
    Set {
        /// 3 to 32 letters a-z, digits, '_' or '.'.
        name: String,
        /// The sync server (default: the one this profile last synced with).
        #[arg(long)]
        server: Option<String>,
    },
    /// Give your username up.
    Release {
        /// The sync server (default: the one this profile last synced with).
        #[arg(long)]
        server: Option<String>,
    },
}

// `kith email ...`.
#[derive(Subcommand, Debug)]
pub(crate) enum EmailCommand {
    /// What this device asked for.
    Show,
    /// Ask the server to email ADDRESS when this device has been away this
    /// long with something waiting (the server may apply a longer minimum).
    Set {
        /// The email address.
        address: String,
        /// How long away first (e.g. 30m, 12h, 2d).
        #[arg(long, default_value = "1d", value_parser = crate::args::parse_duration_ms)]
        after: u64,
        /// The sync server (default: the one this profile last synced with).
        #[arg(long)]
        server: Option<String>,
    },
    /// No more emails.
    Off {
        /// The sync server (default: the one this profile last synced with).
        #[arg(long)]
        server: Option<String>,
    },
}

// `kith request ...`.
#[derive(Subcommand, Debug)]
pub(crate) enum RequestCommand {
    /// Accept: they become a contact on all your devices.
    Accept {
        /// Their account id (from `kith requests`).
        account: String,
    },
    /// Ignore: the request goes, they are not told, later ones are dropped.
    Ignore {
        /// Their account id.
        account: String,
    },
    /// Block them; with --report, also report their device to the server's
    /// operator (only its id and your reason are sent).
    Block {
        /// Their account id.
        account: String,
        /// Why, for the operator.
        #[arg(long)]
        report: Option<String>,
        /// The sync server (default: the one this profile last synced with).
        #[arg(long)]
        server: Option<String>,
    },
}

// `kith invite ...`.
#[derive(Subcommand, Debug)]
pub(crate) enum InviteCommand {
    /// Your personal link (the one `whoami` shows).
    Show,
    /// Every link this device remembers, newest first.
    List,
    /// A new link: with --once a one-time link; otherwise a new personal
    /// link that replaces the current one (which is revoked).
    New {
        /// Works for one person only.
        #[arg(long)]
        once: bool,
        /// Stops working after this long (e.g. 45s, 30m, 12h, 7d).
        #[arg(long, value_parser = crate::args::parse_duration_ms)]
        expires_in: Option<u64>,
    },
    /// Revoke a link by its id (from `kith invite list`): whoever uses it
    /// from now on is told it was revoked.
    Revoke {
        /// The link's id.
        id: String,
    },
}

/// `45s`, `30m`, `12h` or `7d` in milliseconds.
pub(crate) fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.len().saturating_sub(1);
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 45s, 30m, 12h or 7d"))?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{text:?} is not a duration like 45s, 30m, 12h or 7d")),
    };
    number
        .checked_mul(unit_ms)
        .filter(|ms| *ms > 0)
        .ok_or_else(|| format!("{text:?} is not a usable duration"))
}

// `kith member ...`.
#[derive(Subcommand, Debug)]
pub(crate) enum MemberCommand {
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

// What `kith send` sends.
#[derive(Args, Debug)]
pub(crate) struct SendArgs {
    /// The chat.
    pub(crate) chat: String,
    /// The text (optional with --attach or --voice).
    #[arg(required_unless_present_any = ["attach", "voice"], default_value = "")]
    pub(crate) text: String,
    /// Reply to this message.
    #[arg(long)]
    pub(crate) reply_to: Option<String>,
    /// Attach this file (repeatable). Pictures are cleaned of metadata
    /// (location!) and scaled to at most 2048 px.
    #[arg(long)]
    pub(crate) attach: Vec<PathBuf>,
    /// Send pictures byte for byte, as files.
    #[arg(long, requires = "attach")]
    pub(crate) as_file: bool,
    /// Attach a voice note: a 16-bit PCM WAV file (its length and
    /// waveform are measured from it).
    #[arg(long)]
    pub(crate) voice: Option<PathBuf>,
}

// Which attachment `kith save` saves, where, and how it may fetch it.
#[derive(Args, Debug)]
pub(crate) struct SaveArgs {
    /// The chat.
    pub(crate) chat: String,
    /// The message.
    pub(crate) message: String,
    /// Where to write it (a directory gets the attachment's name, made safe).
    pub(crate) out: PathBuf,
    /// Which attachment of the message (0 = the first).
    #[arg(long, default_value_t = 0)]
    pub(crate) index: usize,
    /// The sync server (default: the one this profile last synced with).
    #[arg(long)]
    pub(crate) server: Option<String>,
    /// Fetch at most this many bytes a second.
    #[arg(long)]
    pub(crate) rate_limit: Option<u64>,
    /// Save the preview that travels inside the message instead (a
    /// picture's thumbnail, a video's poster frame: a small JPEG); no fetch.
    #[arg(long)]
    pub(crate) thumbnail: bool,
}

// Where and how `kith sync` syncs.
#[derive(Args, Debug)]
pub(crate) struct SyncArgs {
    /// The server, as `kith-server` prints it (https://HOST:PORT, or
    /// http://127.0.0.1:PORT on this machine). With --p2p it is optional:
    /// rendezvous, relay, and a copy of everything.
    #[arg(long, required_unless_present = "p2p")]
    pub(crate) server: Option<String>,
    /// Trust this PEM certificate for the server from now on (a self-hosted
    /// server's self-signed certificate or its private CA); kept in the
    /// profile, so later commands need it no more.
    #[arg(long)]
    pub(crate) server_cert: Option<PathBuf>,
    /// Sync peer-to-peer (LAN, direct, relayed through the server).
    #[arg(long)]
    pub(crate) p2p: bool,
    /// With --p2p: listen on this multiaddr (repeatable; default: every
    /// interface, TCP and QUIC, any port).
    #[arg(long, requires = "p2p")]
    pub(crate) listen: Vec<String>,
    /// With --p2p: dial this peer (multiaddr, with or without /p2p/PEER_ID; repeatable).
    #[arg(long, requires = "p2p")]
    pub(crate) peer: Vec<String>,
    /// With --p2p: no mDNS discovery on the LAN.
    #[arg(long, requires = "p2p")]
    pub(crate) no_mdns: bool,
    /// Sync until nothing is left to exchange, then exit (the default).
    #[arg(long, conflicts_with = "watch")]
    pub(crate) once: bool,
    /// Keep syncing: live updates, reconnect with backoff.
    #[arg(long)]
    pub(crate) watch: bool,
    /// With --watch: stop after this many seconds.
    #[arg(long)]
    pub(crate) timeout_secs: Option<u64>,
    /// Compact a log on the server once it grew by this many entries.
    #[arg(long, default_value_t = kith_client::DEFAULT_COMPACT_AFTER)]
    pub(crate) compact_after: u64,
}

// Where `kith typing` tells.
#[derive(Args, Debug)]
pub(crate) struct TypingArgs {
    /// The chat.
    pub(crate) chat: String,
    /// The sync server (default: the one this profile last synced with).
    /// With --p2p it is only used for rendezvous and relay.
    #[arg(long)]
    pub(crate) server: Option<String>,
    /// Tell peers directly (LAN, direct, relayed) instead of the server.
    #[arg(long)]
    pub(crate) p2p: bool,
    /// With --p2p: dial this peer (multiaddr; repeatable).
    #[arg(long, requires = "p2p")]
    pub(crate) peer: Vec<String>,
    /// With --p2p: listen on this multiaddr (repeatable).
    #[arg(long, requires = "p2p")]
    pub(crate) listen: Vec<String>,
    /// With --p2p: no mDNS discovery on the LAN.
    #[arg(long, requires = "p2p")]
    pub(crate) no_mdns: bool,
}
