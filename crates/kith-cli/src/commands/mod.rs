//! `kith` commands, one module per concept. Each command returns an
//! [`Outcome`](crate::outcome::Outcome); `cli::run` prints it and compacts.

pub(crate) mod account;
pub(crate) mod backup;
pub(crate) mod chats;
pub(crate) mod contacts;
pub(crate) mod devices;
pub(crate) mod live;
pub(crate) mod messages;
pub(crate) mod people;
pub(crate) mod recovery;
