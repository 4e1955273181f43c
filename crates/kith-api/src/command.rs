//! Every command the UI can call: its wire name, its arguments (the struct)
//! and its result type.
//!
//! The UI sends `{"args": <the struct>}` to the command named
//! [`Command::NAME`] and gets [`Command::Output`] or an [`crate::ApiError`].
//! [`COMMANDS`] lists every name; the shell's tests check each one is
//! registered.

use crate::dto::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A command: its arguments are `Self`.
pub trait Command: Serialize + DeserializeOwned {
    /// The name the shell registers it under.
    const NAME: &'static str;
    /// What it returns.
    type Output: Serialize + DeserializeOwned;
}

macro_rules! commands {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident = $wire:literal { $( $(#[doc = $fdoc:literal])* $field:ident : $ty:ty ),* $(,)? } -> $out:ty;
    )*) => {
        $(
            $(#[doc = $doc])*
            #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
            pub struct $name { $( $(#[doc = $fdoc])* pub $field: $ty, )* }

            impl Command for $name {
                const NAME: &'static str = $wire;
                type Output = $out;
            }
        )*

        /// The wire name of every command.
        pub const COMMANDS: &[&str] = &[$($wire),*];
    };
}

commands! {
    /// Profile, settings and where the profile lives.
    GetAppState = "app_state" {} -> AppState;
    /// Creates the profile of a new account on this device.
    CreateProfile = "create_profile" {
        /// Display name.
        name: String,
    } -> Me;
    /// Links this device to an existing account with a pairing code shown by
    /// one of its devices (through the sync server).
    JoinAccount = "join_account" {
        /// The server both devices use.
        server_url: String,
        /// The pairing code.
        code: String,
    } -> Me;
    /// Starts the event stream; the channel travels beside the arguments as `onEvent`.
    SubscribeEvents = "subscribe_events" {} -> ();
    /// The chat list (archived chats only, or all others).
    ListChats = "list_chats" {
        /// Show the archive instead of the main list.
        archived: bool,
    } -> Vec<ChatRow>;
    /// Creates a group; returns its id.
    CreateGroup = "create_group" {
        /// Name.
        name: String,
        /// Account ids of the other members.
        members: Vec<String>,
    } -> String;
    /// Opens (creating if needed) the direct chat with a contact; returns its id.
    OpenDirect = "open_direct" {
        /// The contact.
        account_id: String,
    } -> String;
    /// Header and settings of a chat.
    GetChatDetails = "chat_details" {
        /// Chat id.
        chat_id: String,
    } -> ChatDetails;
    /// A page of messages, newest page first.
    GetMessages = "messages" {
        /// Chat id.
        chat_id: String,
        /// Messages before this one (older); `None`: the newest.
        before: Option<String>,
        /// Page size.
        limit: u32,
    } -> MessagePage;
    /// Sends a message; returns its id.
    SendMessage = "send_message" {
        /// Chat id.
        chat_id: String,
        /// Text.
        text: String,
        /// The message it replies to.
        reply_to: Option<String>,
        /// Attachments staged with [`StageAttachment`] (their tokens); with
        /// attachments the text may be empty.
        attachments: Vec<String>,
    } -> String;
    /// Prepares a file for sending (pictures are cleaned of metadata,
    /// turned upright and scaled, unless `as_file`). The bytes travel as the
    /// raw request body after these arguments (see [`crate::raw_body`]).
    StageAttachment = "stage_attachment" {
        /// The file's name.
        name: String,
        /// Send pictures as they are, as a file.
        as_file: bool,
        /// For a voice note: its length, measured while recording.
        voice_duration_ms: Option<u32>,
        /// For a voice note: loudness over time (at most 256 bars).
        voice_waveform: Vec<u8>,
    } -> DraftAttachment;
    /// Drops a staged attachment the composer no longer holds.
    UnstageAttachment = "unstage_attachment" {
        /// Its token.
        token: String,
    } -> ();
    /// Fetches an attachment that is not on this device yet (large files
    /// wait to be asked for); [`crate::AppEvent::Transfer`] reports progress.
    DownloadAttachment = "download_attachment" {
        /// Chat id.
        chat_id: String,
        /// Message id.
        message_id: String,
        /// Which attachment of the message.
        index: u32,
    } -> ();
    /// Opens a downloaded attachment with the system's default app (files
    /// that could run as programs are refused: save them instead).
    OpenAttachment = "open_attachment" {
        /// Chat id.
        chat_id: String,
        /// Message id.
        message_id: String,
        /// Which attachment of the message.
        index: u32,
    } -> ();
    /// Saves a downloaded attachment to the Downloads folder under a safe
    /// name; returns the path written.
    SaveAttachment = "save_attachment" {
        /// Chat id.
        chat_id: String,
        /// Message id.
        message_id: String,
        /// Which attachment of the message.
        index: u32,
    } -> String;
    /// Edits an own message.
    EditMessage = "edit_message" {
        /// Chat id.
        chat_id: String,
        /// Message id.
        message_id: String,
        /// New text.
        text: String,
    } -> ();
    /// Deletes an own message for everyone.
    DeleteMessage = "delete_message" {
        /// Chat id.
        chat_id: String,
        /// Message id.
        message_id: String,
    } -> ();
    /// Adds or removes a reaction.
    React = "react" {
        /// Chat id.
        chat_id: String,
        /// Message id.
        message_id: String,
        /// The emoji.
        emoji: String,
        /// Remove instead of add.
        remove: bool,
    } -> ();
    /// Marks a chat read up to its newest message.
    MarkRead = "mark_read" {
        /// Chat id.
        chat_id: String,
    } -> ();
    /// Saves the draft of a chat.
    SaveDraft = "save_draft" {
        /// Chat id.
        chat_id: String,
        /// Draft text (empty clears it).
        text: String,
    } -> ();
    /// Pins, mutes or archives a chat.
    SetChatFlag = "set_chat_flag" {
        /// Chat id.
        chat_id: String,
        /// Which flag.
        flag: ChatFlag,
        /// On or off.
        value: bool,
    } -> ();
    /// Renames a group.
    RenameChat = "rename_chat" {
        /// Chat id.
        chat_id: String,
        /// New name.
        name: String,
    } -> ();
    /// Sets or removes a group's picture (owners and admins). The image's
    /// bytes travel as the raw request body (see [`crate::raw_body`]);
    /// none with `remove`.
    SetChatAvatar = "set_chat_avatar" {
        /// Chat id.
        chat_id: String,
        /// Remove the picture instead.
        remove: bool,
    } -> ();
    /// Sets a group's description.
    SetDescription = "set_description" {
        /// Chat id.
        chat_id: String,
        /// Description.
        description: String,
    } -> ();
    /// Adds a member or changes a member's role.
    SetMemberRole = "set_member_role" {
        /// Chat id.
        chat_id: String,
        /// The member.
        account_id: String,
        /// The role.
        role: Role,
    } -> ();
    /// Removes a member.
    RemoveMember = "remove_member" {
        /// Chat id.
        chat_id: String,
        /// The member.
        account_id: String,
    } -> ();
    /// Leaves a group.
    LeaveChat = "leave_chat" {
        /// Chat id.
        chat_id: String,
    } -> ();
    /// Tells the chat this account is typing.
    SendTyping = "send_typing" {
        /// Chat id.
        chat_id: String,
    } -> ();
    /// The chat on screen (no notifications for it while the window has focus).
    FocusChat = "focus_chat" {
        /// Chat id, `None` when no chat is open.
        chat_id: Option<String>,
    } -> ();
    /// Full-text search over all messages.
    Search = "search" {
        /// What to look for.
        query: String,
    } -> Vec<SearchHitDto>;
    /// Contacts.
    ListContacts = "contacts" {} -> Vec<ContactDto>;
    /// Adds a contact from their invite link; returns their account id.
    AddContact = "add_contact" {
        /// `kith://invite/...`
        link: String,
    } -> String;
    /// Blocks or unblocks a contact.
    SetBlocked = "set_blocked" {
        /// The contact.
        account_id: String,
        /// Block or unblock.
        blocked: bool,
    } -> ();
    /// This device's invite links, newest first, with their states.
    ListInviteLinks = "invite_links" {} -> Vec<InviteLinkDto>;
    /// A new link: one-time, or a new personal link replacing the current one.
    NewInviteLink = "new_invite_link" {
        /// One person only.
        once: bool,
    } -> InviteLinkDto;
    /// Revokes a link; whoever uses it from now on is told so.
    RevokeInviteLink = "revoke_invite_link" {
        /// The link's id.
        id: String,
    } -> InviteLinkDto;
    /// People you may know: group members who are not contacts.
    SuggestedPeople = "suggested_people" {} -> Vec<PersonSuggestionDto>;
    /// The username this account holds, if any.
    GetUsername = "username" {} -> Option<String>;
    /// Claims a username on the sync server; returns it as kept.
    ClaimUsername = "claim_username" {
        /// The name, as typed.
        name: String,
    } -> String;
    /// Gives this account's username up.
    ReleaseUsername = "release_username" {} -> ();
    /// Looks someone up by their exact username.
    FindPerson = "find_person" {
        /// The name, with or without `@`.
        name: String,
    } -> FoundPersonDto;
    /// Sends a message request to a username or to the account id of
    /// someone in a shared group; returns their account id.
    SendRequest = "send_request" {
        /// A username, or an account id.
        to: String,
        /// The first message.
        text: String,
    } -> String;
    /// Message requests waiting for an answer.
    ListRequests = "requests" {} -> Vec<RequestDto>;
    /// Answers a request: `accept`, `ignore` or `block` (with an optional
    /// report to the server's operator).
    AnswerRequest = "answer_request" {
        /// Who asked.
        account_id: String,
        /// `accept`, `ignore` or `block`.
        answer: String,
        /// With `block`: report their device with this reason.
        report: Option<String>,
    } -> ();
    /// A QR code (SVG markup) of an invite link or a pairing code.
    QrCode = "qr_code" {
        /// What to encode (at most 1 KiB).
        text: String,
    } -> String;
    /// This account's devices.
    ListDevices = "devices" {} -> Vec<DeviceDto>;
    /// Starts linking a new device: returns the pairing code to type (or
    /// scan) on it; [`crate::AppEvent::DeviceLinked`] follows.
    LinkDevice = "link_device" {} -> String;
    /// Revokes one of this account's other devices.
    RevokeDevice = "revoke_device" {
        /// The device.
        device_id: String,
    } -> ();
    /// Changes the display name.
    SetName = "set_name" {
        /// New name.
        name: String,
    } -> Me;
    /// Sets the profile picture from an image file's bytes.
    SetAvatar = "set_avatar" {
        /// JPEG, PNG, GIF or WebP bytes.
        image: Vec<u8>,
    } -> Me;
    /// Saves device settings (and reconnects when the server changed).
    SaveSettings = "save_settings" {
        /// The new settings.
        settings: Settings,
    } -> Settings;
    /// The sync indicator.
    GetSyncStatus = "sync_status" {} -> SyncStatus;
    /// Exports contacts, chats and messages as JSON files; returns the folder.
    ExportData = "export_data" {} -> String;
    /// The UI reached a start-up milestone (e.g. `chat list painted`): logged
    /// with the time since the process started, and printed when
    /// `KITH_STARTUP_REPORT` is set (the start-up benchmark reads it).
    ReportStartup = "report_startup" {
        /// What was reached.
        stage: String,
    } -> ();
    /// Makes a new recovery phrase for the account (replacing any earlier
    /// one) and returns its 24 words, to be shown once and kept nowhere.
    NewRecoveryPhrase = "new_recovery_phrase" {} -> Vec<String>;
    /// Rebuilds a lost account on this new device from its recovery phrase,
    /// through the sync server that holds the account's recovery kits.
    RecoverAccount = "recover_account" {
        /// The server the account used.
        server_url: String,
        /// The 24 words.
        phrase: String,
    } -> Me;
    /// Writes an encrypted backup of the profile beside it, sealed with
    /// `passphrase`; returns the file's path.
    BackupToFile = "backup_to_file" {
        /// At least 8 characters; kept nowhere.
        passphrase: String,
    } -> String;
    /// Brings a profile back on this new device from a backup file, whose
    /// bytes travel as the raw request body after these arguments.
    RestoreFromBackup = "restore_from_backup" {
        /// The backup's passphrase.
        passphrase: String,
    } -> Me;
    /// Up to three suggested replies to someone's message, from the user's
    /// own earlier replies on this device and short built-ins.
    SuggestReplies = "suggest_replies" {
        /// Chat id.
        chat_id: String,
        /// The message to answer.
        message_id: String,
    } -> Vec<String>;
    /// Deletes the account everywhere; `confirm` must equal the display name.
    DeleteAccount = "delete_account" {
        /// The display name, typed again.
        confirm: String,
    } -> ();
}
