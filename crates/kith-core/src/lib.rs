//! The Kith engine, sans-IO.
//!
//! Identity and certificates, the Automerge documents of schema v1 and their
//! typed operations, authority checks on every remote change, the sync session
//! per (peer, document), and the read-model rows derived from documents. Time
//! and randomness are inputs; nothing here touches a socket, a file or a clock.

pub mod apply;
pub mod attachment;
pub mod authority;
pub mod crypto;
pub mod docs;
pub mod identity;
pub mod readmodel;
pub mod recovery;
pub mod relay;
pub mod schema;
pub mod signature;
pub mod sync;
mod touched;

pub use apply::{ApplyOutcome, DocDelta, Rejection, apply_remote, commit_local, full_read_model};
pub use attachment::{Attachment, AttachmentKind};
pub use authority::{Directory, Verdict};
pub use docs::{Doc, DocError};
pub use identity::{AccountKeys, DeviceCertificate, DeviceKeys, Identity, IdentityError};
pub use readmodel::{ChatRow, ChatSettingsRow, MessageRow, ReadModelUpdate};
pub use schema::{ChatKind, ChatSetting, Role};
pub use signature::{ChangeSignature, SignedSyncMessage};
pub use sync::{SyncError, SyncSession};

/// Re-exported so drivers and tests use the same Automerge version.
pub use automerge;
