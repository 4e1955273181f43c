//! The conformance suite against every store implementation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kith_store::{MemoryStore, SqliteStore, conformance};

#[test]
fn sqlite_in_memory_conforms() {
    conformance::run_all(|| SqliteStore::open_in_memory().expect("open in-memory SQLite store"));
}

#[test]
fn sqlite_file_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let counter = std::cell::Cell::new(0u32);
    conformance::run_all(|| {
        // A fresh file per check.
        counter.set(counter.get() + 1);
        let path = dir.path().join(format!("profile-{}.sqlite", counter.get()));
        SqliteStore::open(&path).expect("open SQLite store file")
    });
}

#[test]
fn memory_conforms() {
    conformance::run_all(MemoryStore::new);
}
