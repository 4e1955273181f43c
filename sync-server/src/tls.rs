//! TLS for the HTTP and WebSocket side (`--tls-cert FILE --tls-key FILE`,
//! PEM). The handshakes themselves run in each connection's own task with
//! a deadline (`listener.rs`), so a client that never finishes its
//! handshake holds up nobody else.

use crate::errors::ServerError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// Reads a PEM certificate chain and its private key into a server
/// configuration (TLS 1.3 and 1.2, HTTP/1.1: WebSockets upgrade over it).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    let bad = |what: &Path, err: String| ServerError::Tls(format!("{}: {err}", what.display()));
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|err| bad(cert, err.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| bad(cert, err.to_string()))?;
    if chain.is_empty() {
        return Err(bad(cert, "no certificate in the file".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|err| bad(key, err.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| ServerError::Tls(err.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|err| bad(key, format!("does not match the certificate: {err}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
