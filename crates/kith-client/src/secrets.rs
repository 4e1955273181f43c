//! Where a device's secret keys live: the OS keyring, or a 0600 file in the
//! profile when no keyring service exists (headless Linux, CI).

use crate::error::ClientError;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

const SERVICE: &str = "kith";
const SECRET_FILE: &str = "device.secret";
/// A keyring service that does not answer within this time counts as absent.
const KEYRING_TIMEOUT: Duration = Duration::from_secs(5);

/// Which storage holds a profile's secrets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretStorage {
    /// The OS keyring (Secret Service, Keychain, Credential Manager).
    Keyring,
    /// A file readable only by the owner, inside the profile directory.
    File,
}

fn with_timeout<T: Send + 'static>(f: impl FnOnce() -> Result<T, String> + Send + 'static) -> Result<T, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // The receiver may have given up; then nobody needs the answer.
        let _ = tx.send(f());
    });
    rx.recv_timeout(KEYRING_TIMEOUT)
        .map_err(|_| "the keyring service did not answer".to_string())?
}

fn keyring_set(user: &str, secret: &[u8]) -> Result<(), String> {
    let user = user.to_owned();
    let secret = secret.to_vec();
    with_timeout(move || {
        let entry = keyring::Entry::new(SERVICE, &user).map_err(|e| e.to_string())?;
        entry.set_secret(&secret).map_err(|e| e.to_string())?;
        // Read back: some stores accept writes they cannot return.
        match entry.get_secret() {
            Ok(read) if read == secret => Ok(()),
            Ok(_) => Err("the keyring returned a different secret".into()),
            Err(e) => Err(e.to_string()),
        }
    })
}

fn keyring_get(user: &str) -> Result<Vec<u8>, String> {
    let user = user.to_owned();
    with_timeout(move || {
        let entry = keyring::Entry::new(SERVICE, &user).map_err(|e| e.to_string())?;
        entry.get_secret().map_err(|e| e.to_string())
    })
}

/// Creates a new file readable by its owner only (0600); an existing file
/// at `path` is an error.
pub(crate) fn create_private_file(path: &Path) -> Result<std::fs::File, ClientError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map_err(ClientError::io(format!("creating {}", path.display())))
}

/// Writes `bytes` to a new file readable by its owner only (0600) and
/// flushes it to disk.
pub(crate) fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), ClientError> {
    use std::io::Write;
    let mut file = create_private_file(path)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(ClientError::io(format!("writing {}", path.display())))
}

/// Stores a new device's secrets: in the keyring unless `KITH_SECRET_STORAGE=file`
/// or no keyring answers, else in a 0600 file (and says so in the log).
pub fn store_secret(dir: &Path, user: &str, secret: &[u8]) -> Result<SecretStorage, ClientError> {
    let forced_file = std::env::var("KITH_SECRET_STORAGE").is_ok_and(|v| v == "file");
    if !forced_file {
        match keyring_set(user, secret) {
            Ok(()) => return Ok(SecretStorage::Keyring),
            Err(reason) => tracing::warn!(
                "no usable OS keyring ({reason}); keeping this device's secret keys in {} with 0600 permissions",
                dir.join(SECRET_FILE).display()
            ),
        }
    } else {
        tracing::info!("KITH_SECRET_STORAGE=file: keeping secret keys in the profile directory");
    }
    write_private_file(&dir.join(SECRET_FILE), secret)?;
    Ok(SecretStorage::File)
}

/// Erases a device's secrets (account deletion). The file, if any, is
/// overwritten before it is removed.
pub fn delete_secret(dir: &Path, user: &str, storage: SecretStorage) -> Result<(), ClientError> {
    match storage {
        SecretStorage::Keyring => {
            let user = user.to_owned();
            with_timeout(move || {
                let entry = keyring::Entry::new(SERVICE, &user).map_err(|e| e.to_string())?;
                entry.delete_credential().map_err(|e| e.to_string())
            })
            .map_err(|reason| {
                ClientError::Identity(format!(
                    "cannot remove this device's keys from the OS keyring: {reason}"
                ))
            })
        }
        SecretStorage::File => {
            let path = dir.join(SECRET_FILE);
            if let Ok(len) = std::fs::metadata(&path).map(|m| m.len()) {
                let zeros = vec![0u8; usize::try_from(len).unwrap_or(0)];
                std::fs::write(&path, zeros).map_err(ClientError::io(format!("overwriting {}", path.display())))?;
                std::fs::remove_file(&path).map_err(ClientError::io(format!("removing {}", path.display())))?;
            }
            Ok(())
        }
    }
}

/// Reads a device's secrets from where they were stored.
pub fn load_secret(dir: &Path, user: &str, storage: SecretStorage) -> Result<Vec<u8>, ClientError> {
    match storage {
        SecretStorage::Keyring => keyring_get(user).map_err(|reason| {
            ClientError::Identity(format!("cannot read this device's keys from the OS keyring: {reason}"))
        }),
        SecretStorage::File => {
            let path = dir.join(SECRET_FILE);
            std::fs::read(&path).map_err(ClientError::io(format!("reading {}", path.display())))
        }
    }
}
