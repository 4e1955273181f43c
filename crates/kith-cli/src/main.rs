//! `kith`: the headless Kith client.

mod cli;
mod output;
mod p2p;
mod sync;

fn main() -> std::process::ExitCode {
    cli::main()
}
