//! Kith's user interface: a Dioxus web app that runs in the Tauri window and
//! reaches the shell only through [`ipc`] with the types of `kith-api`.

mod app;
mod avatar;
mod contacts;
mod conversation;
mod devices;
mod emoji;
mod format;
mod group;
mod icons;
mod ipc;
mod message;
mod onboarding;
mod palette;
mod settings;
mod sidebar;
mod state;

fn main() {
    dioxus::launch(app::App);
}
