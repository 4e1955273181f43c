//! What travels through the sync server, before sealing: changes of a
//! conversation's or account's documents, and the small amount of mail that
//! sets up contacts and hands out conversation keys. See `docs/protocol.md`.

mod item;

pub use item::{ConnectRequest, InviteRefusal, MessageRequest, RelayItem, RelayItemError, invite_link_tag};
