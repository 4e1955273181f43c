//! Replays the committed seed corpus of every fuzz target (`fuzz/corpus/`)
//! on stable Rust: each input must run without a panic, inputs named
//! `valid-*` must be accepted and `invalid-*` refused.
//!
//! `cargo test -p kith-fuzz-targets -- --ignored write_seed_corpus` writes
//! the seeds again from real encodings.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod seeds;

use kith_fuzz_targets::TARGETS;
use std::path::PathBuf;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

#[test]
fn every_seed_of_every_target_runs_and_is_judged_as_named() {
    for (name, target) in TARGETS {
        let dir = corpus_dir(name);
        let mut counts = (0, 0);
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display())) {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let input = std::fs::read(&path).unwrap();
            let accepted = target(&input);
            if file.starts_with("valid-") {
                assert!(accepted, "{name}/{file} should be accepted");
                counts.0 += 1;
            } else if file.starts_with("invalid-") {
                assert!(!accepted, "{name}/{file} should be refused");
                counts.1 += 1;
            }
        }
        assert!(
            counts.0 >= 1 && counts.1 >= 1,
            "{name}: the corpus needs valid and invalid seeds, has {counts:?}"
        );
    }
}

/// The fuzz project has one binary per target here, and no other.
#[test]
fn every_target_has_a_fuzz_binary() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets");
    let mut binaries: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    binaries.sort();
    let mut names: Vec<String> = TARGETS.iter().map(|(n, _)| (*n).to_owned()).collect();
    names.sort();
    assert_eq!(binaries, names);
}

#[test]
#[ignore = "writes fuzz/corpus; run by hand when encodings change"]
fn write_seed_corpus() {
    for (name, inputs) in seeds::all() {
        let dir = corpus_dir(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, bytes) in inputs {
            std::fs::write(dir.join(file), bytes).unwrap();
        }
    }
}
