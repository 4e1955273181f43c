//! TLS: the real `kith-server` started with `--tls-cert`/`--tls-key` and a
//! self-signed certificate, and the real client (kith-net) that trusts it
//! only once that certificate is pinned.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{CAP, LOG, Server, envelope};
use kith_core::identity::DeviceKeys;
use kith_net::p2p::server_p2p_info;
use kith_net::{NetError, RelayConnection, ServerTrust};
use std::path::Path;
use std::time::Duration;

/// A self-signed certificate for `names`, written as PEM files in `dir`;
/// returns the certificate's PEM text.
fn self_signed(dir: &Path, names: &[&str]) -> String {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let rcgen::CertifiedKey { cert, key_pair } = rcgen::generate_simple_self_signed(names).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key_pair.serialize_pem()).unwrap();
    cert.pem()
}

fn tls_server(dir: &Path, extra: &[&str]) -> Server {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let mut args = vec!["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()];
    args.extend_from_slice(extra);
    Server::start(&dir.join("data"), &args)
}

fn device() -> DeviceKeys {
    DeviceKeys::from_seeds([1; 32], [2; 32])
}

#[tokio::test]
async fn a_self_signed_server_is_reached_over_wss_once_its_certificate_is_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let pem = self_signed(dir.path(), &["localhost", "127.0.0.1"]);
    let server = tls_server(dir.path(), &["--no-p2p"]);
    let url = format!("https://{}", server.addr);

    // The platform's roots do not vouch for it: a clear refusal that says
    // what to do.
    let err = RelayConnection::connect(&url, &device()).await.unwrap_err();
    assert!(matches!(err, NetError::Tls(_)), "{err}");
    assert!(err.to_string().contains("--server-cert"), "{err}");
    assert!(
        !err.is_transient(),
        "a certificate problem does not go away by retrying"
    );

    // Pinned, it works: push and pull through TLS.
    let trust = ServerTrust::with_pinned_pem(pem.as_bytes()).unwrap();
    let connection = RelayConnection::connect_with(&url, &trust, &device()).await.unwrap();
    connection.push(LOG, CAP, vec![envelope(1, b"sealed")]).await.unwrap();
    let (entries, _) = connection.pull(LOG, CAP, 0, 10).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].1.ciphertext, b"sealed");
    // So does the wss:// form, and the name the certificate carries.
    let port = server.addr.rsplit(':').next().unwrap();
    for other in [format!("wss://{}", server.addr), format!("https://localhost:{port}")] {
        RelayConnection::connect_with(&other, &trust, &device())
            .await
            .unwrap_or_else(|err| panic!("{other}: {err}"));
    }

    // Some other pinned certificate does not vouch for this server.
    let elsewhere = tempfile::tempdir().unwrap();
    let other_pem = self_signed(elsewhere.path(), &["localhost", "127.0.0.1"]);
    let wrong = ServerTrust::with_pinned_pem(other_pem.as_bytes()).unwrap();
    let err = RelayConnection::connect_with(&url, &wrong, &device())
        .await
        .unwrap_err();
    assert!(matches!(err, NetError::Tls(_)), "{err}");

    // Plain WebSocket to the TLS port gets nowhere.
    let plain = format!("http://{}", server.addr);
    assert!(RelayConnection::connect(&plain, &device()).await.is_err());
}

#[tokio::test]
async fn a_client_that_never_finishes_its_handshake_holds_up_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let pem = self_signed(dir.path(), &["127.0.0.1"]);
    let server = tls_server(dir.path(), &["--no-p2p"]);
    // Ten connections that say nothing at all.
    let mut silent = Vec::new();
    for _ in 0..10 {
        silent.push(tokio::net::TcpStream::connect(&server.addr).await.unwrap());
    }
    let trust = ServerTrust::with_pinned_pem(pem.as_bytes()).unwrap();
    let connected = tokio::time::timeout(
        Duration::from_secs(5),
        RelayConnection::connect_with(&format!("https://{}", server.addr), &trust, &device()),
    )
    .await
    .expect("not held up by the silent connections");
    connected.unwrap();
    drop(silent);
}

#[tokio::test]
async fn the_p2p_address_is_asked_for_over_tls_too() {
    let dir = tempfile::tempdir().unwrap();
    let pem = self_signed(dir.path(), &["127.0.0.1"]);
    let server = tls_server(dir.path(), &[]);
    let trust = ServerTrust::with_pinned_pem(pem.as_bytes()).unwrap();
    let gateways = server_p2p_info(&format!("https://{}", server.addr), &trust)
        .await
        .unwrap();
    // One gateway (SQLite): itself, listed once.
    assert_eq!(gateways.len(), 1);
    let (peer, addresses) = &gateways[0];
    assert!(!addresses.is_empty());
    assert!(addresses.iter().all(|a| a.to_string().ends_with(&peer.to_string())));
    // Without the pin: refused, not read in the clear.
    assert!(
        server_p2p_info(&format!("https://{}", server.addr), &ServerTrust::platform())
            .await
            .is_err()
    );
}

/// Starts `kith-server` with `cert` and `key`, expects it to refuse to
/// start, and returns what it said.
fn refused_start(data: &Path, cert: &Path, key: &Path) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kith-server"))
        .arg("--data")
        .arg(data)
        .args(["--listen", "127.0.0.1:0", "--no-p2p", "--tls-cert"])
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .output()
        .unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_key_that_does_not_match_its_certificate_stops_the_server_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    self_signed(dir.path(), &["127.0.0.1"]);
    let other = tempfile::tempdir().unwrap();
    self_signed(other.path(), &["127.0.0.1"]);
    let (data, cert) = (dir.path().join("data"), dir.path().join("cert.pem"));
    let stderr = refused_start(&data, &cert, &other.path().join("key.pem"));
    assert!(stderr.contains("TLS") && stderr.contains("key.pem"), "{stderr}");
    std::fs::write(&cert, "not a certificate").unwrap();
    let stderr = refused_start(&data, &cert, &dir.path().join("key.pem"));
    assert!(stderr.contains("cert.pem"), "{stderr}");
}

/// A self-signed certificate as `openssl req -x509` makes it is a CA
/// certificate, which webpki will not take as a server's own: pinned, it is
/// trusted exactly, by its bytes.
#[tokio::test]
async fn a_pinned_self_signed_ca_certificate_is_trusted_by_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
    let server = tls_server(dir.path(), &["--no-p2p"]);
    let trust = ServerTrust::with_pinned_pem(cert.pem().as_bytes()).unwrap();
    RelayConnection::connect_with(&format!("https://{}", server.addr), &trust, &device())
        .await
        .unwrap();
}
