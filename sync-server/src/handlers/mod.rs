//! One module per frame family. Each handler takes the connection and the
//! fields of one client frame, calls the store, and answers with a server
//! frame or an `Error` frame; the dispatch that picks one lives in
//! [`connection`](crate::connection).

pub(crate) mod auth;
pub(crate) mod blobs;
pub(crate) mod directory;
pub(crate) mod logs;
pub(crate) mod manage;
pub(crate) mod nudges;
pub(crate) mod signals;

use crate::state::AppState;
use crate::store::Quotas;

/// The storage quotas `state`'s settings give every write.
fn quotas(state: &AppState) -> Quotas {
    Quotas {
        per_log: state.settings.quota_bytes,
        per_device: state.settings.device_quota_bytes,
    }
}
