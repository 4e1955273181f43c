//! Helpers for end-to-end tests over real processes: locating the built
//! binaries, running `kith-server` and `kith`, and a small W3C WebDriver
//! client for driving the real desktop app through `tauri-driver`.

pub mod processes;
pub mod webdriver;
