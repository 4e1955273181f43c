//! `kith-desktop`: the Tauri 2 shell. It owns the profile (through
//! `kith-client`), exposes the commands of `kith-api` to the UI, streams
//! [`kith_api::AppEvent`]s over one channel, and does what a desktop app
//! does: one instance, `kith://` links, notifications, the window's title
//! and size.

mod backend;
mod commands;
mod convert;
mod error;
mod indicator;
mod media_protocol;
mod notify;
mod open;
mod settings;
mod shared;
mod worker;

pub use backend::Backend;
pub use shared::WindowHooks;

use kith_api::AppEvent;
use std::path::PathBuf;
use std::sync::Arc;
use tauri::{Manager, Runtime};

/// Registers the commands and lists their names from one list, so the list
/// cannot drift from what is registered.
macro_rules! commands {
    ($($module:ident :: $name:ident),* $(,)?) => {
        /// The name of every command the shell registers.
        pub const REGISTERED: &[&str] = &[$(stringify!($name)),*];

        /// The invoke handler with every command.
        pub fn handler<R: Runtime>() -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static {
            tauri::generate_handler![$(commands::$module::$name),*]
        }
    };
}

commands![
    profile::app_state,
    profile::create_profile,
    profile::join_account,
    profile::subscribe_events,
    profile::set_name,
    profile::set_avatar,
    profile::export_data,
    profile::delete_account,
    profile::new_recovery_phrase,
    profile::recover_account,
    profile::backup_to_file,
    profile::restore_from_backup,
    chats::list_chats,
    chats::create_group,
    chats::open_direct,
    chats::chat_details,
    chats::save_draft,
    chats::set_chat_flag,
    chats::rename_chat,
    chats::set_description,
    chats::set_chat_avatar,
    chats::set_member_role,
    chats::remove_member,
    chats::leave_chat,
    chats::focus_chat,
    messages::messages,
    messages::send_message,
    messages::edit_message,
    messages::delete_message,
    messages::react,
    messages::mark_read,
    messages::send_typing,
    messages::search,
    messages::suggest_replies,
    attachments::stage_attachment,
    attachments::unstage_attachment,
    attachments::download_attachment,
    attachments::open_attachment,
    attachments::save_attachment,
    contacts::contacts,
    contacts::add_contact,
    contacts::set_blocked,
    contacts::qr_code,
    contacts::invite_links,
    contacts::new_invite_link,
    contacts::revoke_invite_link,
    contacts::suggested_people,
    people::username,
    people::claim_username,
    people::release_username,
    people::find_person,
    people::send_request,
    people::requests,
    people::answer_request,
    devices::devices,
    devices::link_device,
    devices::revoke_device,
    settings::save_settings,
    settings::report_startup,
    settings::sync_status,
];

/// Where the profile lives: `--profile DIR`, else `KITH_PROFILE`, else the
/// OS data directory.
pub fn profile_dir(args: &[String]) -> PathBuf {
    let from_args = args
        .windows(2)
        .find(|pair| pair[0] == "--profile")
        .map(|pair| PathBuf::from(&pair[1]));
    from_args
        .or_else(|| std::env::var_os("KITH_PROFILE").map(PathBuf::from))
        .or_else(kith_client::Profile::default_dir)
        .unwrap_or_else(|| PathBuf::from("kith-profile"))
}

/// The first `kith://invite/...` link among command-line arguments.
pub fn invite_in(args: &[String]) -> Option<String> {
    args.iter().find(|arg| arg.starts_with("kith://invite/")).cloned()
}

/// The main window as the shell's hooks see it.
struct MainWindow<R: Runtime>(tauri::WebviewWindow<R>);

impl<R: Runtime> WindowHooks for MainWindow<R> {
    fn set_unread(&self, unread: u64) {
        let title = if unread == 0 {
            "Kith".to_owned()
        } else {
            format!("Kith ({unread})")
        };
        if let Err(err) = self.0.set_title(&title) {
            tracing::debug!(%err, "could not set the window title");
        }
    }

    fn is_focused(&self) -> bool {
        self.0.is_focused().unwrap_or(false)
    }

    fn bring_to_front(&self) {
        let _ = self.0.show();
        let _ = self.0.unminimize();
        let _ = self.0.set_focus();
    }
}

/// Runs the app until its window closes.
pub fn run() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let args: Vec<String> = std::env::args().collect();
    let backend = Arc::new(Backend::new(profile_dir(&args)));
    let start_invite = invite_in(&args);

    let app = tauri::Builder::default()
        // First: a second start hands its arguments (a kith:// link) to this one and exits.
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            let backend = app.state::<Arc<Backend>>();
            backend.shared.with_window(|w| w.bring_to_front());
            if let Some(link) = invite_in(&argv) {
                backend.shared.emit(AppEvent::InviteLink { link });
            }
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .manage(backend)
        .register_asynchronous_uri_scheme_protocol(media_protocol::SCHEME, |ctx, request, responder| {
            let backend = ctx.app_handle().state::<Arc<Backend>>();
            let Some(profile) = backend.try_profile() else {
                responder.respond(media_protocol::respond_without_profile());
                return;
            };
            let path = request.uri().path().to_owned();
            let range = request
                .headers()
                .get(tauri::http::header::RANGE)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            let origin = request
                .headers()
                .get(tauri::http::header::ORIGIN)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            // Reading a file is blocking work: off the webview's thread.
            tauri::async_runtime::spawn_blocking(move || {
                responder.respond(media_protocol::respond(
                    &profile,
                    &path,
                    range.as_deref(),
                    origin.as_deref(),
                ));
            });
        })
        .invoke_handler(handler())
        .setup(move |app| {
            setup(app, start_invite)?;
            Ok(())
        })
        .build(tauri::generate_context!("../tauri.conf.json"));
    match app {
        Ok(app) => app.run(|_, _| {}),
        Err(err) => {
            tracing::error!(%err, "Kith could not start");
            eprintln!("Kith could not start: {err}");
            std::process::exit(1);
        }
    }
}

fn setup<R: Runtime>(app: &mut tauri::App<R>, start_invite: Option<String>) -> Result<(), Box<dyn std::error::Error>> {
    use tauri_plugin_deep_link::DeepLinkExt;
    let backend = app.state::<Arc<Backend>>();
    if let Some(window) = app.get_webview_window("main") {
        backend.shared.set_window(Box::new(MainWindow(window)));
    }
    // Register `kith://` with the OS where that happens at run time.
    #[cfg(any(target_os = "linux", windows))]
    if let Err(err) = app.deep_link().register_all() {
        tracing::warn!(%err, "could not register kith:// links");
    }
    let shared = Arc::clone(&backend.shared);
    app.deep_link().on_open_url(move |event| {
        for url in event.urls() {
            if url.as_str().starts_with("kith://invite/") {
                shared.emit(AppEvent::InviteLink { link: url.to_string() });
            }
        }
    });
    if let Some(link) = start_invite {
        backend.shared.emit(AppEvent::InviteLink { link });
    }
    backend.restart_sync()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_registered_commands_are_exactly_the_api_commands() {
        let registered: BTreeSet<&str> = REGISTERED.iter().copied().collect();
        let api: BTreeSet<&str> = kith_api::COMMANDS.iter().copied().collect();
        assert_eq!(REGISTERED.len(), registered.len(), "a command is registered twice");
        assert_eq!(
            api.difference(&registered).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "in kith-api but not registered"
        );
        assert_eq!(
            registered.difference(&api).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "registered but not in kith-api"
        );
    }

    #[test]
    fn profile_dir_comes_from_the_arguments_first() {
        let args = vec!["kith-desktop".to_owned(), "--profile".to_owned(), "/tmp/p".to_owned()];
        assert_eq!(profile_dir(&args), PathBuf::from("/tmp/p"));
    }

    #[test]
    fn an_invite_link_among_the_arguments_is_found() {
        let args = vec!["kith-desktop".to_owned(), "kith://invite/a.b.c".to_owned()];
        assert_eq!(invite_in(&args).as_deref(), Some("kith://invite/a.b.c"));
        assert_eq!(invite_in(&args[..1]), None);
    }
}
