//! Raw protocol clients for the server benchmarks: a WebSocket from a chosen
//! 127.0.x.y source address, signing in as a benchmark device, and sending
//! and reading frames.

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use kith_core::identity::DeviceKeys;
use kith_proto::{Capability, ClientFrame, Envelope, EnvelopeId, LogId, ServerFrame, auth_message};
use std::net::{Ipv4Addr, SocketAddr};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// One benchmark WebSocket.
pub(crate) type Socket = WebSocketStream<TcpStream>;

/// Small client buffers, so the benchmark process holds many sockets.
pub(crate) fn small_buffers() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
}

/// A TCP connection to `addr` from `source` (port chosen by the OS).
pub(crate) async fn tcp_from(addr: SocketAddr, source: Ipv4Addr) -> Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    let tcp = socket.connect(addr).await.context("connecting")?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// A WebSocket to the server's (or the echo server's) `/v1/ws` from `source`.
pub(crate) async fn websocket(addr: SocketAddr, source: Ipv4Addr) -> Result<Socket> {
    let tcp = tcp_from(addr, source).await?;
    let (ws, _) = tokio_tungstenite::client_async_with_config(format!("ws://{addr}/v1/ws"), tcp, Some(small_buffers()))
        .await
        .context("WebSocket handshake")?;
    Ok(ws)
}

/// Benchmark device number `n` of family `family` (families keep the
/// benchmarks' devices apart).
pub(crate) fn device(family: u8, n: u64) -> DeviceKeys {
    let mut seed = [family; 32];
    seed[..8].copy_from_slice(&n.to_le_bytes());
    DeviceKeys::from_seeds(seed, [9; 32])
}

/// Push number `n` of one benchmark device: one envelope into `log`.
pub(crate) fn push_of(log: LogId, capability: Capability, n: usize, ciphertext: Vec<u8>) -> ClientFrame {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&(n as u64).to_le_bytes());
    ClientFrame::Push {
        log,
        capability,
        envelopes: vec![Envelope {
            id: EnvelopeId(id),
            epoch: 0,
            ciphertext,
        }],
    }
}

/// Sends one frame.
pub(crate) async fn send(ws: &mut Socket, frame: &ClientFrame) -> Result<()> {
    ws.send(Message::Binary(frame.encode()?.into())).await?;
    Ok(())
}

/// The next frame (pings and other control messages skipped); `None` once
/// the server closed the connection.
pub(crate) async fn recv(ws: &mut Socket) -> Result<Option<ServerFrame>> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(bytes))) => return Ok(Some(ServerFrame::decode(&bytes)?)),
            Some(Ok(Message::Close(_))) | None => return Ok(None),
            Some(Ok(_)) => continue,
            Some(Err(err)) => return Err(err.into()),
        }
    }
}

/// Reads the challenge and answers it as `device`; `signature` replaces the
/// real signature when given (a forged sign-in).
pub(crate) async fn sign_in_with(
    ws: &mut Socket,
    device: &DeviceKeys,
    signature: Option<Vec<u8>>,
) -> Result<ServerFrame> {
    let Some(ServerFrame::Challenge {
        nonce,
        audience,
        server_time_ms,
        ..
    }) = recv(ws).await?
    else {
        bail!("the first frame was not a challenge");
    };
    let signature = signature.unwrap_or_else(|| device.sign(&auth_message(&audience, &nonce, server_time_ms)).to_vec());
    let auth = ClientFrame::Auth {
        device: device.id(),
        timestamp_ms: server_time_ms,
        nonce,
        signature,
    };
    send(ws, &auth).await?;
    recv(ws).await?.context("the server closed the connection at sign-in")
}

/// A signed-in WebSocket from `source` as `device`.
pub(crate) async fn signed_in(addr: SocketAddr, source: Ipv4Addr, device: &DeviceKeys) -> Result<Socket> {
    let mut ws = websocket(addr, source).await?;
    match sign_in_with(&mut ws, device, None).await? {
        ServerFrame::Authenticated => Ok(ws),
        other => bail!("sign-in refused: {other:?}"),
    }
}
