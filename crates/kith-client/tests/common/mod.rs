//! What the in-process server tests share: a real kith-server on a free
//! port of 127.0.0.1 and profiles on real SQLite files.
#![allow(clippy::unwrap_used, dead_code)]

use kith_client::{Profile, RelayOptions, RelayReport};
use kith_core::Identity;
use kith_server::{AppState, Settings, SqliteStore, serve};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::oneshot;

/// A server on a free port; it stops when the sender is dropped.
pub async fn start_server(dir: &Path) -> (String, oneshot::Sender<()>) {
    let store = SqliteStore::open(dir).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let state = AppState::new(Arc::new(store), Settings::default());
    tokio::spawn(async move {
        serve(listener, state, async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (url, stop)
}

/// A profile on a real SQLite file (keys in memory: no keyring in tests).
pub fn persona(dir: &Path, seed: u8, name: &str) -> Profile {
    let identity = Identity::create(
        [[seed; 32], [seed + 100; 32], [seed + 150; 32]],
        kith_client::system_now_ms(),
    );
    let store = kith_store::SqliteStore::open(&dir.join(format!("{name}.db"))).unwrap();
    Profile::with_store(identity, Arc::new(store), name).unwrap()
}

/// One full relay pass of `profile` against the server at `url`.
pub async fn sync(profile: &Profile, url: &str) -> RelayReport {
    let connection = profile.relay().connect(url).await.unwrap();
    profile
        .relay()
        .sync(&connection, RelayOptions::default())
        .await
        .unwrap()
}

/// `forger` writes into `doc` a change whose actor is `victim`'s device
/// (nothing but a signature can tell it apart): whatever `write` puts.
pub fn forge_as(
    forger: &Profile,
    victim: &kith_proto::DeviceId,
    doc: kith_client::DocId,
    write: impl FnOnce(&mut kith_core::automerge::AutoCommit),
) {
    use kith_core::docs::actor_of;
    let own = actor_of(&forger.identity().device_id());
    let victim = actor_of(victim);
    forger
        .docs()
        .tamper(doc, |raw| {
            raw.set_actor(victim);
            write(raw);
            raw.commit();
            raw.set_actor(own);
        })
        .unwrap();
}

/// Makes `account` an admin of `chat` and renames it, written into the
/// conversation's head document as raw operations.
pub fn promote_and_rename(
    account: kith_proto::AccountId,
    name: &'static str,
) -> impl FnOnce(&mut kith_core::automerge::AutoCommit) {
    use kith_core::automerge::ROOT;
    use kith_core::automerge::transaction::Transactable;
    move |raw| {
        raw.put(
            ROOT,
            kith_core::schema::member_key(&account),
            kith_core::Role::Admin.as_str(),
        )
        .unwrap();
        raw.put(ROOT, kith_core::schema::HEAD_NAME, name).unwrap();
    }
}
