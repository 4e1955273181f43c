//! `kith`: the headless Kith client.

#![warn(clippy::too_many_lines)]

mod args;
mod cli;
mod commands;
mod ids;
mod outcome;
mod output;
mod p2p;
mod sync;

fn main() -> std::process::ExitCode {
    cli::main()
}
