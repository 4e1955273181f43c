//! Where a `kith-server` runs its libp2p side (rendezvous, circuit relay,
//! AutoNAT): `GET /p2p` on its HTTP address answers
//! `{"peer_id": "...", "addresses": ["/ip4/.../tcp/.../p2p/..."]}`.

use super::P2pError;
use crate::tls::{ServerTrust, host_and_port, require_tls_off_loopback};
use libp2p::{Multiaddr, PeerId};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest answer read (a handful of addresses).
const MAX_ANSWER: u64 = 64 * 1024;

#[derive(serde::Deserialize)]
struct Answer {
    peer_id: String,
    addresses: Vec<String>,
}

/// Asks the server at `server` (`https://HOST[:PORT]`, or `http://` on
/// loopback) for its libp2p identity and addresses. Each address ends in
/// `/p2p/PEER_ID`.
pub async fn server_p2p_info(server: &str, trust: &ServerTrust) -> Result<(PeerId, Vec<Multiaddr>), P2pError> {
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

fn parse(server: &str, answer: &[u8]) -> Result<(PeerId, Vec<Multiaddr>), P2pError> {
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
