//! `kith`: the headless Kith client.

mod cli;
mod output;

fn main() -> std::process::ExitCode {
    cli::main()
}
