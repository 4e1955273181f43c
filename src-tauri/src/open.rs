//! Opening a file with the system's default app for its type.

use std::path::Path;
use std::process::{Command, Stdio};

/// Hands `path` to the desktop's opener (`xdg-open`, `open`, `explorer`),
/// which picks the app; does not wait for it.
pub fn with_default_app(path: &Path) -> std::io::Result<()> {
    let mut command = if cfg!(target_os = "macos") {
        Command::new("open")
    } else if cfg!(windows) {
        // Not `cmd /c start`: the path would pass through cmd's parser.
        Command::new("explorer")
    } else {
        Command::new("xdg-open")
    };
    command
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(|mut child| {
            // Reaped in the background, so no zombie stays behind.
            std::thread::spawn(move || {
                let _ = child.wait();
            });
        })
}
