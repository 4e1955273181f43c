//! The `LogStore` conformance suite against every backend: SQLite in a
//! temporary directory, and PostgreSQL in a throwaway server this test
//! starts (one database per case).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use kith_server::conformance::CASES;
use kith_server::{LogStore, PostgresStore, SqliteStore};
use kith_testkit::Postgres;

#[test]
fn every_case_holds_on_sqlite() {
    for (name, case) in CASES {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        println!("sqlite: {name}");
        case(&|| Box::new(SqliteStore::open(&path).unwrap()) as Box<dyn LogStore>);
    }
}

#[test]
fn every_case_holds_on_postgres() {
    let server = Postgres::start();
    for (n, (name, case)) in CASES.iter().enumerate() {
        let url = server.new_database(&format!("case_{n}"));
        println!("postgres: {name}");
        case(&|| Box::new(PostgresStore::open(&url).unwrap()) as Box<dyn LogStore>);
    }
}

#[test]
fn a_newer_postgres_schema_is_refused() {
    let server = Postgres::start();
    let url = server.new_database("newer");
    drop(PostgresStore::open(&url).unwrap());
    server.sql(&url, "UPDATE kith_schema SET version = 99");
    match PostgresStore::open(&url) {
        Err(kith_server::StoreError::NewerSchema { found: 99, .. }) => {}
        Err(other) => panic!("expected NewerSchema, got {other}"),
        Ok(_) => panic!("a newer schema was opened"),
    }
}

#[test]
fn the_postgres_store_reconnects_after_a_database_restart() {
    use kith_proto::{DeviceId, Envelope, EnvelopeId, LogId};
    let mut server = Postgres::start();
    let url = server.new_database("restart");
    let store = PostgresStore::open(&url).unwrap();
    let quotas = kith_server::Quotas {
        per_log: 1 << 20,
        per_device: 1 << 20,
    };
    let envelope = |n: u8| Envelope {
        id: EnvelopeId([n; 16]),
        epoch: 1,
        ciphertext: vec![n; 10],
    };
    let (log, cap, device) = (LogId([1; 32]), [2; 32], DeviceId::from_bytes([3; 32]));
    store.append(&log, &cap, &[envelope(1)], &device, quotas, 1).unwrap();
    server.restart();
    // What was in flight fails; a connection lost is made again.
    let mut tries = 0;
    let appended = loop {
        tries += 1;
        match store.append(&log, &cap, &[envelope(2)], &device, quotas, 2) {
            Ok(out) => break out,
            Err(error) if tries < 3 => println!("try {tries}: {error}"),
            Err(error) => panic!("still failing after a restart: {error}"),
        }
    };
    assert_eq!(appended.results[0].1, 2);
    assert_eq!(store.pull(&log, &cap, 0, 10, usize::MAX).unwrap().entries.len(), 2);
}
