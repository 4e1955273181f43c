//! Client errors.

use kith_core::{DocError, IdentityError, SyncError};
use kith_store::StoreError;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The profile directory has no identity yet.
    #[error("no profile in {0}: run `kith --profile {0} init --name NAME` first")]
    NoProfile(String),
    /// `init` on a directory that already holds a profile.
    #[error("{0} already holds a profile")]
    AlreadyInitialised(String),
    /// The profile's identity files or secrets are unreadable.
    #[error("profile identity: {0}")]
    Identity(String),
    /// A chat that this profile does not have.
    #[error("no chat {0} in this profile")]
    NoSuchChat(String),
    /// A message that this chat does not have.
    #[error("no message {0} in this chat")]
    NoSuchMessage(String),
    /// An id that does not parse.
    #[error(transparent)]
    Id(#[from] kith_proto::IdError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A document operation failed or was refused.
    #[error(transparent)]
    Doc(#[from] DocError),
    /// Sync failed.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// A certificate or key failed verification.
    #[error(transparent)]
    Key(#[from] IdentityError),
    /// An invite link that does not parse, or is this account's own.
    #[error("invalid invite: {0}")]
    BadInvite(String),
    /// A connect request for one of this device's links that no longer
    /// works; its sender is told why.
    #[error("a connect request for a link that is {}", .0.label())]
    DeadInvite(kith_core::relay::InviteRefusal),
    /// Not a username (too short, a character no name may have, ...).
    #[error(transparent)]
    Username(#[from] kith_proto::UsernameError),
    /// The username (or a look-alike of it) belongs to someone else.
    #[error("the username {0} is taken (or looks like one that is)")]
    UsernameTaken(String),
    /// No such username, or this account has none.
    #[error("no such username: {0}")]
    NoSuchUsername(String),
    /// A message request that cannot be sent or answered as asked.
    #[error("{0}")]
    BadRequest(String),
    /// A device asked to revoke itself (another device of the account must).
    #[error("a device cannot revoke itself; revoke it from another device of this account")]
    RevokeSelf,
    /// A device that is not one of this account's.
    #[error("{0} is not a device of this account")]
    NoSuchDevice(kith_proto::DeviceId),
    /// An account that is not among the contacts.
    #[error("{0} is not a contact")]
    NoSuchContact(String),
    /// A picture that cannot be a profile or group picture.
    #[error(transparent)]
    Avatar(#[from] crate::avatar::AvatarError),
    /// A file that cannot be attached.
    #[error(transparent)]
    Media(#[from] crate::media::MediaError),
    /// An attachment's bytes are missing, damaged or unavailable.
    #[error("{0}")]
    Blob(String),
    /// Another download of this attachment (in this process or another
    /// one of this profile) is under way.
    #[error("{0} is already being fetched")]
    BlobBusy(String),
    /// A recovery phrase that does not parse, or a kit it does not open.
    #[error(transparent)]
    Recovery(#[from] kith_core::recovery::RecoveryError),
    /// The server holds no recovery kit for this phrase.
    #[error(
        "{server} holds no recovery kit for this phrase: check the words, the server, and that a device of the account synced after the phrase was made"
    )]
    NoRecoveryKit {
        /// The server asked.
        server: String,
    },
    /// The recovery log holds kits of more than one account.
    #[error("the recovery log holds kits of {0} different accounts; refusing to guess which is yours")]
    AmbiguousRecovery(usize),
    /// A backup file that cannot be written or restored.
    #[error("backup: {0}")]
    Backup(String),
    /// An export that cannot be imported.
    #[error("import: {0}")]
    Import(String),
    /// No device answered the pairing code in time.
    #[error("no answer to the pairing code in time")]
    PairingTimedOut,
    /// The sync server could not be reached or refused a request.
    #[error(transparent)]
    Relay(#[from] kith_net::NetError),
    /// The peer-to-peer node failed (starting, listening, dialing).
    #[error("peer-to-peer: {0}")]
    P2p(#[from] kith_net::p2p::P2pError),
    /// The peer-to-peer node stopped under the run.
    #[error("peer-to-peer: the node stopped")]
    P2pStopped,
    /// A run that waits for peers reached none in its time.
    #[error("peer-to-peer: no peer could be reached")]
    NoPeerReachable,
    /// The node could not listen where it was asked to.
    #[error("peer-to-peer: cannot listen on {address}: {reason}")]
    ListenFailed {
        /// The address (empty when the node did not say).
        address: String,
        /// Why, as the node said.
        reason: String,
    },
    /// Sealing or opening an envelope, lockbox or sealed key failed.
    #[error("{context}: {source}")]
    Crypto {
        /// What was being sealed or opened.
        context: &'static str,
        /// Why.
        source: kith_core::crypto::CryptoError,
    },
    /// A relay item that does not decode.
    #[error("relay item: {0}")]
    RelayItem(#[from] kith_core::relay::RelayItemError),
    /// The operating system gave no randomness.
    #[error("no OS randomness: {0}")]
    Randomness(#[from] getrandom::Error),
    /// Writing a file's JSON (identity, export) failed.
    #[error("{context}: {source}")]
    Json {
        /// Which file.
        context: &'static str,
        /// Why.
        source: serde_json::Error,
    },
    /// Whoever consumed a watcher's events failed (e.g. its output closed).
    #[error("the event consumer failed: {0}")]
    Consumer(String),
    /// File-system error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl ClientError {
    /// A crypto failure while doing `context`.
    pub(crate) fn crypto(context: &'static str) -> impl FnOnce(kith_core::crypto::CryptoError) -> ClientError {
        move |source| ClientError::Crypto { context, source }
    }

    /// A JSON failure while writing `context`.
    pub(crate) fn json(context: &'static str) -> impl FnOnce(serde_json::Error) -> ClientError {
        move |source| ClientError::Json { context, source }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClientError {
        let context = context.into();
        move |source| ClientError::Io { context, source }
    }
}
