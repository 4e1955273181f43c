//! Kith identifiers, hybrid logical clock timestamps and the document id scheme.
//!
//! This crate does no I/O and builds for `wasm32-unknown-unknown`: the UI, the
//! server and the engine all share these types.

mod encoding;
mod hlc;
mod ids;

pub use encoding::{decode_id, encode_id};
pub use hlc::{Hlc, HlcClock};
pub use ids::{AccountId, ChatId, DeviceId, DocId, IdError, MessageId, Month};
