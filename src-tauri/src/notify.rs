//! Desktop notifications for new messages. With no notification service
//! (headless Linux, a locked-down desktop) showing one fails quickly; that is
//! logged and never an error of the message path.

/// Shows a notification; `on_click` runs if the person clicks it (where the
/// platform reports clicks: freedesktop notifications on Linux and BSD).
pub fn show(title: &str, body: &str, on_click: impl FnOnce() + Send + 'static) {
    let mut notification = notify_rust::Notification::new();
    notification.summary(title).body(body).appname("Kith");
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        notification.action("default", "Open");
        let notification = notification.clone();
        // Waiting for the click blocks, so it gets its own short-lived thread.
        let spawned = std::thread::Builder::new()
            .name("kith-notification".into())
            .spawn(move || match notification.show() {
                Ok(handle) => handle.wait_for_action(|action| {
                    if action == "default" {
                        on_click();
                    }
                }),
                Err(err) => tracing::debug!(%err, "notifications unavailable"),
            });
        if let Err(err) = spawned {
            tracing::debug!(%err, "could not start the notification thread");
        }
    }
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    {
        // Windows and macOS report clicks by activating the app instead.
        drop(on_click);
        if let Err(err) = notification.show() {
            tracing::debug!(%err, "notifications unavailable");
        }
    }
}
