//! The Kith client: one profile's identity, store and documents, driven by
//! real time and randomness.
//!
//! [`Profile`] is the synchronous heart used by the CLI, the desktop shell and
//! tests: every write takes the store's write lock, brings the document up to
//! date with what other processes wrote, applies one operation, and stores the
//! change bytes and read-model rows in one transaction.

#![warn(clippy::too_many_lines)]

mod archive;
mod avatar;
mod backup;
mod blob_transfer;
mod blobs;
mod chats;
mod client;
mod clock;
mod contacts;
mod devices;
mod directory;
mod doc_cache;
mod doc_sync;
mod ephemeral;
mod error;
mod export;
mod group_avatar;
mod hex;
mod import;
mod inbox;
mod invites;
mod keys;
mod manage;
mod media;
mod messages;
mod nudges;
mod outbox;
mod own_signatures;
pub mod p2p;
mod pairing;
mod people;
mod profile;
mod random;
mod receipts;
mod recovery;
mod relay;
mod requests;
mod secrets;
pub mod sim;
mod spam;
mod streams;
mod suggest;
#[cfg(test)]
mod test_support;
mod video;
mod views;
mod voice;
mod watch;

pub use archive::Archive;
pub use avatar::{AVATAR_SIDE, AvatarError, prepare_avatar};
pub use backup::{BackupProgress, RestoreReport};
pub use blob_transfer::{AUTO_DOWNLOAD_BYTES, OnProgress, Progress, TransferReport};
pub use blobs::{Blobs, UNREFERENCED_GRACE_MS};
pub use chats::Chats;
pub use client::{Client, ClientEvent, ClientEvents, ClientOptions, ClientTask, CompactionSchedule};
pub use clock::system_now_ms;
pub use contacts::{Contacts, Invite, InviteLinkView};
pub use devices::Devices;
pub use directory::{Directory, FoundPerson, RequestTo};
pub use doc_sync::Docs;
pub use ephemeral::{Ephemeral, PRESENCE_TTL_MS, Signals, TYPING_TTL_MS};
pub use error::ClientError;
pub use export::export_profile;
pub use import::ImportReport;
pub use invites::{InviteKind, RefusedAttempt};
pub use kith_core::recovery::RecoveryPhrase;
pub use media::{MAX_ATTACHMENT_BYTES, MAX_IMAGE_SIDE, MediaError, safe_file_name};
pub use messages::Messages;
pub use nudges::EmailNudge;
pub use pairing::PairingCode;
pub use people::PersonSuggestion;
pub use profile::TransferWatcher;
pub use profile::{COMPACT_AFTER_CHUNKS, Profile};
pub use recovery::{Recovery, RecoveryStatus};
pub use relay::{DEFAULT_COMPACT_AFTER, DeletionReport, Relay, RelayOptions, RelayReport};
pub use requests::{MAX_OPEN_REQUESTS, RequestView};
pub use secrets::SecretStorage;
pub use spam::{SenderSignals, SpamModel, SpamScore, request_features};
pub use suggest::{MAX_SUGGESTIONS, SuggestedReply, SuggestionSource, reply_terms, suggest_replies};
pub use video::{MAX_SOURCE_BYTES as MAX_VIDEO_SOURCE_BYTES, looks_like_video};
pub use views::{
    AttachmentView, ChatSummary, ContactView, DeviceView, LastMessagePreview, MessageStatus, MessageView, ProfileInfo,
    Receipt,
};
pub use voice::{MAX_VOICE_MS, wav_summary};
pub use watch::{
    ConnectionState, ConsumerFailed, LOCAL_POLL, MessageChange, PRESENCE_EVERY, RecentMessages, TypingReceiver,
    WatchEvent,
};

pub use kith_core::DocError;
pub use kith_core::{Attachment, AttachmentKind, ChatKind, ChatSetting, Role};
pub use kith_net::RelayConnection;
pub use kith_proto::{AccountId, ChatId, DeviceId, DocId, Hlc, MessageId};
pub use kith_store::{SearchHit, fts_any_query};
