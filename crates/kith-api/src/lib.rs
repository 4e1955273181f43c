//! The contract between Kith's desktop shell (`kith-desktop`) and its UI
//! (`kith-ui`): every command with its argument and result types, the data
//! transfer objects, the event stream and the error type.
//!
//! Both sides compile this crate (the UI for wasm32), so a renamed field or
//! command breaks the build instead of failing at run time. Ids travel as
//! their canonical text form: the UI never parses them.

mod command;
mod dto;
mod error;
mod event;
pub mod raw_body;

pub use command::*;
pub use dto::*;
pub use error::{ApiError, ApiErrorKind};
pub use event::{AppEvent, SyncRoute};
