//! Where a `kith-server` runs its libp2p side (rendezvous, circuit relay,
//! AutoNAT): `GET /p2p` on its HTTP address answers
//! `{"peer_id": "...", "addresses": ["/ip4/.../tcp/.../p2p/..."]}`.

use super::P2pError;
use libp2p::{Multiaddr, PeerId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest answer read (a handful of addresses).
const MAX_ANSWER: u64 = 64 * 1024;

#[derive(serde::Deserialize)]
struct Answer {
    peer_id: String,
    addresses: Vec<String>,
}

/// Asks the server at `server` (`http://HOST:PORT`) for its libp2p identity
/// and addresses. Each address ends in `/p2p/PEER_ID`.
pub async fn server_p2p_info(server: &str) -> Result<(PeerId, Vec<Multiaddr>), P2pError> {
    let authority = server
        .strip_prefix("http://")
        .or_else(|| server.strip_prefix("ws://"))
        .map(|rest| rest.split('/').next().unwrap_or(rest))
        .ok_or_else(|| P2pError::Address(server.to_owned(), "expected http://HOST:PORT".into()))?;
    let fail = |err: std::io::Error| P2pError::Start(format!("asking {server} for its p2p address: {err}"));
    let mut stream = tokio::net::TcpStream::connect(authority).await.map_err(fail)?;
    let request = format!("GET /p2p HTTP/1.0\r\nHost: {authority}\r\nAccept: application/json\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(fail)?;
    let mut answer = Vec::new();
    stream.take(MAX_ANSWER).read_to_end(&mut answer).await.map_err(fail)?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| P2pError::Start(format!("{server} sent no HTTP answer")))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        let status = head.lines().next().unwrap_or_default();
        return Err(P2pError::Start(format!("{server} has no p2p side ({status})")));
    }
    let parsed: Answer =
        serde_json::from_str(body).map_err(|err| P2pError::Start(format!("{server} sent a bad p2p answer: {err}")))?;
    let peer: PeerId = parsed
        .peer_id
        .parse()
        .map_err(|err| P2pError::Address(parsed.peer_id.clone(), format!("{err}")))?;
    let mut addresses = Vec::new();
    for address in parsed.addresses {
        let address: Multiaddr = address
            .parse()
            .map_err(|err| P2pError::Address(address.clone(), format!("{err}")))?;
        addresses.push(address);
    }
    Ok((peer, addresses))
}
