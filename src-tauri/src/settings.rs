//! Device settings kept beside the profile as a small JSON file (they are
//! this device's choices, not synced to the account).

use kith_api::Settings;
use std::path::{Path, PathBuf};

const FILE: &str = "desktop-settings.json";

/// Where the settings of the profile in `dir` live. Beside, not inside, the
/// profile directory: onboarding needs a server URL before a profile exists.
pub fn path(profile_dir: &Path) -> PathBuf {
    let name = profile_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "profile".to_owned());
    profile_dir.with_file_name(format!("{name}.{FILE}"))
}

/// The saved settings; defaults when none were saved or the file is unreadable
/// (logged: a corrupt settings file must not keep the app from starting).
pub fn load(profile_dir: &Path) -> Settings {
    let path = path(profile_dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|err| {
            tracing::warn!(path = %path.display(), %err, "unreadable settings file; using defaults");
            defaults()
        }),
        Err(_) => defaults(),
    }
}

/// Settings of a fresh install: notifications on, theme from the system, no server.
pub fn defaults() -> Settings {
    Settings {
        server_url: None,
        notifications: true,
        request_notifications: true,
        theme: kith_api::Theme::System,
    }
}

/// Saves settings atomically (write a temporary file, then rename over).
pub fn save(profile_dir: &Path, settings: &Settings) -> std::io::Result<()> {
    let path = path(profile_dir);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(settings).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, &path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_settings_load_back_and_a_corrupt_file_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let profile = dir.path().join("profile");
        assert_eq!(load(&profile), defaults());
        let settings = Settings {
            server_url: Some("ws://127.0.0.1:9".into()),
            notifications: false,
            request_notifications: false,
            theme: kith_api::Theme::Dark,
        };
        save(&profile, &settings).unwrap();
        assert_eq!(load(&profile), settings);
        std::fs::write(path(&profile), b"{not json").unwrap();
        assert_eq!(load(&profile), defaults());
    }
}
