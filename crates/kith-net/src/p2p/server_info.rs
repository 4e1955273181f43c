//! Where a `kith-server` runs its libp2p side (rendezvous, circuit relay,
//! AutoNAT): `GET /p2p` on its HTTP address answers
//! `{"peer_id": "...", "addresses": ["/ip4/.../tcp/.../p2p/..."],
//! "gateways": [{"peer_id": "...", "addresses": [...]}, ...]}`; `gateways`
//! lists every gateway of a service on one database (older servers leave
//! it out), since each runs a rendezvous point of its own.

use super::P2pError;
use crate::tls::{ServerTrust, host_and_port, require_tls_off_loopback};
use libp2p::{Multiaddr, PeerId};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest answer read (a handful of addresses).
const MAX_ANSWER: u64 = 64 * 1024;

#[derive(serde::Deserialize)]
struct Gateway {
    peer_id: String,
    addresses: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Answer {
    #[serde(flatten)]
    asked: Gateway,
    #[serde(default)]
    gateways: Vec<Gateway>,
}

/// One gateway's libp2p side: its PeerId and addresses.
pub type GatewayP2p = (PeerId, Vec<Multiaddr>);

/// Asks the server at `server` (`https://HOST[:PORT]`, or `http://` on
/// loopback) for the libp2p identity and addresses of itself (first) and
/// of every other gateway of its service. Each address ends in
/// `/p2p/PEER_ID`.
pub async fn server_p2p_info(server: &str, trust: &ServerTrust) -> Result<Vec<GatewayP2p>, P2pError> {
    let bad = |why: &str| P2pError::Address(server.to_owned(), why.to_owned());
    let (host, port) = host_and_port(server).ok_or_else(|| bad("expected https://HOST[:PORT]"))?;
    let secure = server.starts_with("https://") || server.starts_with("wss://");
    if !secure {
        require_tls_off_loopback(&format!("ws://{host}:{port}/")).map_err(|err| bad(&err.to_string()))?;
    }
    let fail = |err: String| P2pError::Start(format!("asking {server} for its p2p address: {err}"));
    let authority = format!("{host}:{port}");
    let answer = if secure {
        let stream = trust.connect(&host, port).await.map_err(|err| fail(err.to_string()))?;
        ask(stream, &authority).await
    } else {
        let stream = tokio::net::TcpStream::connect(authority.as_str())
            .await
            .map_err(|err| fail(err.to_string()))?;
        ask(stream, &authority).await
    }
    .map_err(|err| fail(err.to_string()))?;
    parse(server, &answer)
}

/// Sends `GET /p2p` and reads the whole answer (HTTP/1.0: the server
/// closes the connection after it).
async fn ask<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, authority: &str) -> std::io::Result<Vec<u8>> {
    let request = format!("GET /p2p HTTP/1.0\r\nHost: {authority}\r\nAccept: application/json\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    match stream.take(MAX_ANSWER).read_to_end(&mut answer).await {
        Ok(_) => Ok(answer),
        // A TLS peer that closes without close_notify still sent it all.
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof && !answer.is_empty() => Ok(answer),
        Err(err) => Err(err),
    }
}

fn parse(server: &str, answer: &[u8]) -> Result<Vec<GatewayP2p>, P2pError> {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| P2pError::Start(format!("{server} sent no HTTP answer")))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        let status = head.lines().next().unwrap_or_default();
        return Err(P2pError::Start(format!("{server} has no p2p side ({status})")));
    }
    let parsed: Answer =
        serde_json::from_str(body).map_err(|err| P2pError::Start(format!("{server} sent a bad p2p answer: {err}")))?;
    let mut gateways = vec![gateway(parsed.asked)?];
    for other in parsed.gateways {
        let other = gateway(other)?;
        if gateways.iter().all(|(peer, _)| *peer != other.0) {
            gateways.push(other);
        }
    }
    Ok(gateways)
}

fn gateway(gateway: Gateway) -> Result<GatewayP2p, P2pError> {
    let peer: PeerId = gateway
        .peer_id
        .parse()
        .map_err(|err| P2pError::Address(gateway.peer_id.clone(), format!("{err}")))?;
    let mut addresses = Vec::new();
    for address in gateway.addresses {
        let address: Multiaddr = address
            .parse()
            .map_err(|err| P2pError::Address(address.clone(), format!("{err}")))?;
        addresses.push(address);
    }
    Ok((peer, addresses))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const A: &str = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";

    fn peer() -> String {
        libp2p::identity::Keypair::generate_ed25519()
            .public()
            .to_peer_id()
            .to_string()
    }

    fn http(body: &str) -> Vec<u8> {
        format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{body}").into_bytes()
    }

    #[test]
    fn an_older_server_names_only_itself() {
        let body = format!(r#"{{"peer_id":"{A}","addresses":["/ip4/127.0.0.1/tcp/4001/p2p/{A}"]}}"#);
        let gateways = parse("s", &http(&body)).unwrap();
        assert_eq!(gateways.len(), 1);
        assert_eq!(gateways[0].0.to_string(), A);
    }

    #[test]
    fn every_gateway_is_learned_once_with_the_asked_one_first() {
        let b = peer();
        let body = format!(
            r#"{{"peer_id":"{A}","addresses":["/ip4/127.0.0.1/tcp/1/p2p/{A}"],
                "gateways":[{{"peer_id":"{A}","addresses":["/ip4/127.0.0.1/tcp/1/p2p/{A}"]}},
                            {{"peer_id":"{b}","addresses":["/ip4/127.0.0.1/tcp/2/p2p/{b}"]}}]}}"#
        );
        let gateways = parse("s", &http(&body)).unwrap();
        let peers: Vec<String> = gateways.iter().map(|(peer, _)| peer.to_string()).collect();
        assert_eq!(peers, vec![A.to_owned(), b.clone()]);
        assert_eq!(gateways[1].1[0].to_string(), format!("/ip4/127.0.0.1/tcp/2/p2p/{b}"));
    }

    #[test]
    fn a_bad_gateway_entry_is_an_error_not_a_guess() {
        let body =
            format!(r#"{{"peer_id":"{A}","addresses":[],"gateways":[{{"peer_id":"not a peer","addresses":[]}}]}}"#);
        assert!(matches!(parse("s", &http(&body)), Err(P2pError::Address(..))));
        assert!(matches!(
            parse("s", b"HTTP/1.1 404 Not Found\r\n\r\nthis server runs no p2p side"),
            Err(P2pError::Start(_))
        ));
    }
}
