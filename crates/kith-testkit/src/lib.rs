//! Throwaway services for Kith's tests: a PostgreSQL cluster and a NATS
//! server, each started from the Debian packages `cargo xtask setup`
//! installs, on a free port of 127.0.0.1, in a temporary directory, and
//! killed when dropped. No test depends on anything started by hand.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod nats;
pub mod postgres;

pub use nats::Nats;
pub use postgres::Postgres;
