//! The bounded fuzzing step: every target in `fuzz/` runs for a few seconds
//! under libFuzzer, starting from the committed seed corpus. New inputs it
//! finds go to a scratch directory under the target dir, never into the
//! repository; a crash fails the step and leaves its input in
//! `fuzz/artifacts/`.

use std::fs;

use anyhow::{Context, Result};

use crate::process;
use crate::workspace::Workspace;

/// The fuzz targets: one file each in `fuzz/fuzz_targets/`, named as its
/// binary and its corpus directory.
fn targets(ws: &Workspace) -> Result<Vec<String>> {
    let dir = ws.root.join("fuzz").join("fuzz_targets");
    let mut names = Vec::new();
    for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs")
            && let Some(stem) = path.file_stem()
        {
            names.push(stem.to_string_lossy().into_owned());
        }
    }
    names.sort();
    anyhow::ensure!(!names.is_empty(), "no fuzz targets in {}", dir.display());
    Ok(names)
}

/// Builds the fuzz targets, then runs each for `seconds`.
pub fn run_all(ws: &Workspace, seconds: u32) -> Result<()> {
    // Its own target dir: instrumented builds of every dependency, kept
    // apart from the test build (and its lock).
    let target_dir = ws.target_dir.join("fuzz");
    let fuzz = |args: &[&str]| {
        let mut cmd = std::process::Command::new("cargo");
        cmd.current_dir(&ws.root)
            .env("CARGO_TARGET_DIR", &target_dir)
            .args(["fuzz"])
            .args(args);
        cmd
    };
    // `--sanitizer none`: sanitizers need a nightly compiler, which this
    // machine cannot fetch; coverage-guided fuzzing works on stable.
    process::run(&mut fuzz(&["build", "--sanitizer", "none", "--fuzz-dir", "fuzz"]))?;
    for target in &targets(ws)? {
        let scratch = ws.target_dir.join("fuzz-corpus").join(target);
        fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
        let seeds = ws.root.join("fuzz").join("corpus").join(target);
        let max_time = format!("-max_total_time={seconds}");
        process::run(&mut fuzz(&[
            "run",
            "--sanitizer",
            "none",
            "--fuzz-dir",
            "fuzz",
            target,
            &scratch.to_string_lossy(),
            &seeds.to_string_lossy(),
            "--",
            &max_time,
            "-rss_limit_mb=2048",
            "-timeout=10",
            "-print_final_stats=1",
        ]))
        .with_context(|| format!("fuzz target {target} failed (its input is in fuzz/artifacts/{target}/)"))?;
    }
    Ok(())
}
