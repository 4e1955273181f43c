//! The `kith-server` binary; everything lives in the library.

#![warn(clippy::too_many_lines)]

fn main() -> std::process::ExitCode {
    kith_server::cli::main()
}
