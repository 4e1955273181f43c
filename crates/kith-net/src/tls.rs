//! How the client trusts a `wss://` (or `https://`) sync server: the
//! platform's root certificates, plus certificates the user pinned for a
//! self-hosted server (a self-signed one, or one from a private CA). Plain
//! `ws://` is only spoken to loopback addresses: every frame carries log
//! capabilities, which anyone on the path could read and replay.

use crate::relay::NetError;
use rustls::DigitallySignedStruct;
use rustls::SignatureScheme;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::{Arc, OnceLock};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Certificates trusted for the sync server besides the platform's roots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerTrust {
    pinned: Vec<CertificateDer<'static>>,
    /// The PEM text the pinned certificates came from, to store it.
    pem: Vec<u8>,
}

impl ServerTrust {
    /// Only the platform's root certificates.
    pub fn platform() -> ServerTrust {
        ServerTrust::default()
    }

    /// Also trusts the certificates in `pem` (one or more PEM certificates,
    /// for example the server's self-signed certificate file).
    pub fn with_pinned_pem(pem: &[u8]) -> Result<ServerTrust, NetError> {
        let pinned = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| NetError::Tls(format!("not a PEM certificate: {err}")))?;
        if pinned.is_empty() {
            return Err(NetError::Tls("no PEM certificate in the file".into()));
        }
        let trust = ServerTrust {
            pinned,
            pem: pem.to_vec(),
        };
        // Refuse what rustls would refuse later, now, with the file in mind.
        trust.client_config()?;
        Ok(trust)
    }

    /// Whether certificates beyond the platform's roots are trusted.
    pub fn is_pinned(&self) -> bool {
        !self.pinned.is_empty()
    }

    /// The PEM text of the pinned certificates, if any.
    pub fn pinned_pem(&self) -> Option<&[u8]> {
        self.is_pinned().then_some(self.pem.as_slice())
    }

    /// The rustls configuration for connections to the server.
    pub(crate) fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, NetError> {
        let mut roots = platform_roots().clone();
        for cert in &self.pinned {
            roots
                .add(cert.clone())
                .map_err(|err| NetError::Tls(format!("the pinned certificate cannot be trusted: {err}")))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|err| NetError::Tls(err.to_string()))?;
        let verifier = Arc::new(PinnedOrRoots {
            pinned: self.pinned.clone(),
            roots,
        });
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| NetError::Tls(err.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// A TLS connection to `host:port` (for plain HTTP requests such as
    /// `GET /p2p`).
    pub(crate) async fn connect(&self, host: &str, port: u16) -> Result<TlsStream<TcpStream>, NetError> {
        let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']').to_owned())
            .map_err(|err| NetError::BadUrl(format!("{host}: {err}")))?;
        let tcp = TcpStream::connect((host.trim_start_matches('[').trim_end_matches(']'), port))
            .await
            .map_err(|err| NetError::Connection(err.to_string()))?;
        TlsConnector::from(self.client_config()?)
            .connect(name, tcp)
            .await
            .map_err(|err| self.explain(&err.to_string()))
    }

    /// A TLS failure, with a hint where the usual cause is an untrusted
    /// self-hosted certificate.
    pub(crate) fn explain(&self, error: &str) -> NetError {
        let hint = if error.contains("certificate") && !self.is_pinned() {
            " (for a self-hosted server with its own certificate, pass that certificate: --server-cert FILE)"
        } else {
            ""
        };
        NetError::Tls(format!("{error}{hint}"))
    }
}

/// A server whose certificate is exactly a pinned one is trusted as it is
/// (a self-signed certificate made with `openssl req -x509` is a CA
/// certificate, which webpki refuses as a server's own); any other goes
/// through webpki against the platform's roots and the pinned ones (a
/// private CA). The handshake signatures are checked either way.
#[derive(Debug)]
struct PinnedOrRoots {
    pinned: Vec<CertificateDer<'static>>,
    roots: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for PinnedOrRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.pinned.iter().any(|pin| pin.as_ref() == end_entity.as_ref()) {
            return Ok(ServerCertVerified::assertion());
        }
        self.roots
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.roots.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.roots.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.roots.supported_verify_schemes()
    }
}

/// The platform's root certificates, read and parsed once per process.
fn platform_roots() -> &'static rustls::RootCertStore {
    static ROOTS: OnceLock<rustls::RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for err in &found.errors {
            tracing::debug!(%err, "a platform root certificate could not be read");
        }
        let mut roots = rustls::RootCertStore::empty();
        // The platform may hold certificates rustls cannot parse: skip them.
        let (_added, _skipped) = roots.add_parsable_certificates(found.certs);
        roots
    })
}

/// The host and port of a `scheme://host[:port]/...` URL (brackets kept
/// around an IPv6 host).
pub(crate) fn host_and_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let default_port = match scheme {
        "https" | "wss" => 443,
        "http" | "ws" => 80,
        _ => return None,
    };
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(port) => port.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        return Some((format!("[{host}]"), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_owned(), port.parse().ok()?)),
        None => Some((authority.to_owned(), default_port)),
    }
}

/// Whether `host` (from [`host_and_port`]) is this machine.
pub(crate) fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost") || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The audience servers used before they named themselves by address.
const LEGACY_AUDIENCE: &str = "kith-server";

/// Whether a challenge's `audience` names the server dialed at `host`
/// (from [`host_and_port`]) and `port`: `NAME` or `NAME:PORT`, compared
/// without case. On loopback any loopback name (or the legacy default)
/// will do: whoever could relay there already runs on this machine.
pub(crate) fn audience_matches(host: &str, port: u16, audience: &str) -> bool {
    let (named_host, named_port) = split_audience(audience);
    if is_loopback(host) {
        return is_loopback(named_host) || audience == LEGACY_AUDIENCE;
    }
    let bare = |h: &str| h.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    bare(named_host) == bare(host) && named_port.is_none_or(|p| p == port)
}

/// `NAME`, `NAME:PORT`, `[V6]` or `[V6]:PORT`.
fn split_audience(audience: &str) -> (&str, Option<u16>) {
    if audience.starts_with('[') {
        if let Some((host, rest)) = audience.split_once(']') {
            let port = rest.strip_prefix(':').and_then(|p| p.parse().ok());
            return (&audience[..host.len() + 1], port);
        }
        return (audience, None);
    }
    match audience.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (audience, None),
        },
        _ => (audience, None),
    }
}

/// Refuses a plain `ws://` URL to anything but loopback.
pub(crate) fn require_tls_off_loopback(url: &str) -> Result<(), NetError> {
    if let Some(rest) = url.strip_prefix("ws://") {
        let host = host_and_port(url)
            .map(|(host, _)| host)
            .unwrap_or_else(|| rest.to_owned());
        if !is_loopback(&host) {
            return Err(NetError::Insecure(url.to_owned()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_and_port() {
        let cases = [
            ("wss://kith.example/v1/ws", Some(("kith.example", 443))),
            ("ws://127.0.0.1:8787/v1/ws", Some(("127.0.0.1", 8787))),
            ("https://[::1]:9/p2p", Some(("[::1]", 9))),
            ("http://[::1]", Some(("[::1]", 80))),
            ("ftp://x", None),
            ("ws://h:notaport/", None),
        ];
        for (url, expected) in cases {
            let got = host_and_port(url);
            assert_eq!(got.as_ref().map(|(h, p)| (h.as_str(), *p)), expected, "{url}");
        }
    }

    #[test]
    fn plain_websockets_only_reach_loopback() {
        for ok in [
            "ws://127.0.0.1:1/v1/ws",
            "ws://localhost:1/v1/ws",
            "ws://[::1]:1/v1/ws",
            "ws://127.9.9.9/v1/ws",
            "wss://kith.example/v1/ws",
        ] {
            assert!(require_tls_off_loopback(ok).is_ok(), "{ok}");
        }
        for refused in [
            "ws://kith.invalid:8787/v1/ws",
            "ws://127.0.0.1.kith.invalid/v1/ws",
            "ws://localhost.kith.invalid/v1/ws",
            "ws://[2001:db8::1]:1/v1/ws",
        ] {
            let err = require_tls_off_loopback(refused).expect_err(refused);
            assert!(matches!(err, NetError::Insecure(_)), "{refused}: {err}");
            assert!(err.to_string().contains("wss://"), "the error says what to do: {err}");
        }
    }

    #[test]
    fn the_server_must_name_the_host_dialed() {
        assert!(audience_matches("kith.example.org", 443, "kith.example.org"));
        assert!(audience_matches("kith.example.org", 8787, "Kith.Example.org:8787"));
        assert!(audience_matches("kith.example.org", 8787, "kith.example.org"));
        assert!(!audience_matches("kith.example.org", 443, "kith.example.org:8787"));
        assert!(!audience_matches("kith.example.org", 443, "other.example.org"));
        assert!(
            !audience_matches("kith.example.org", 443, "kith-server"),
            "no legacy name off loopback"
        );
        assert!(audience_matches("[2001:db8::1]", 9, "[2001:db8::1]:9"));
        assert!(!audience_matches("[2001:db8::1]", 9, "[2001:db8::2]:9"));
        // On loopback: any loopback name, or the legacy default.
        assert!(audience_matches("127.0.0.1", 5, "127.0.0.1:5"));
        assert!(audience_matches("localhost", 5, "127.0.0.1:5"));
        assert!(audience_matches("127.0.0.1", 5, "kith-server"));
        assert!(!audience_matches("127.0.0.1", 5, "kith.example.org"));
    }

    #[test]
    fn a_pinned_certificate_must_be_a_pem_certificate() {
        assert!(ServerTrust::with_pinned_pem(b"not pem at all").is_err());
        assert!(ServerTrust::with_pinned_pem(b"").is_err());
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(ServerTrust::with_pinned_pem(garbage).is_err());
        assert!(!ServerTrust::platform().is_pinned());
    }
}
