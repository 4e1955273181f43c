//! The `kith-server` binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    kith_server::cli::main()
}
