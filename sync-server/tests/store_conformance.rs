//! The `LogStore` conformance suite against every backend: SQLite in a
//! temporary directory, and PostgreSQL in a throwaway server this test
//! starts (one database per case).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::postgres::Postgres;
use kith_server::conformance::CASES;
use kith_server::{LogStore, PostgresStore, SqliteStore};

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
