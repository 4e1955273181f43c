//! Kith's user interface: a Dioxus web app that runs in the Tauri window and
//! reaches the shell only through [`ipc`] with the types of `kith-api`.

mod app;
mod attachments;
mod avatar;
mod composer;
mod contacts;
mod conversation;
mod devices;
mod emoji;
mod format;
mod group;
mod icons;
mod ipc;
mod lightbox;
mod message;
mod onboarding;
mod palette;
mod recorder;
mod requests;
mod settings;
mod sidebar;
mod state;
mod suggestions;

fn main() {
    dioxus::launch(app::App);
}
