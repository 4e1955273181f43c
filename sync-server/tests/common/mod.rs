//! Test helpers: run the real `kith-server` binary and talk to it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use ed25519_dalek::{Signer, SigningKey};
use futures_util::{SinkExt, StreamExt};
use kith_proto::{
    Capability, ClientFrame, DeviceId, Envelope, EnvelopeId, LogId, ManageKey, ServerFrame, auth_message,
};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A running `kith-server` process.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub data: PathBuf,
}

impl Server {
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kith-server"))
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn kith-server");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read listening line");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .or_else(|| line.trim().strip_prefix("listening on https://"))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Server {
            child,
            addr,
            data: data.to_owned(),
        }
    }

    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

pub fn device(key: &SigningKey) -> DeviceId {
    DeviceId::from_bytes(key.verifying_key().to_bytes())
}

pub fn envelope(n: u32, body: &[u8]) -> Envelope {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&n.to_be_bytes());
    Envelope {
        id: EnvelopeId(id),
        epoch: 1,
        ciphertext: body.to_vec(),
    }
}

pub const LOG: LogId = LogId([0x11; 32]);
pub const CAP: Capability = Capability([0x22; 32]);
/// The manage key of [`LOG`] in the tests that register one.
pub const MANAGE: ManageKey = ManageKey([0x66; 32]);

/// What `Register` carries for a manage key.
pub fn manager_of(key: &ManageKey) -> [u8; 32] {
    *blake3::hash(&key.0).as_bytes()
}

/// A WebSocket client that has read the challenge.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub nonce: [u8; 32],
    pub audience: String,
    /// The server's time in its challenge.
    pub server_time_ms: u64,
}

impl Client {
    pub async fn connect(addr: &str) -> Client {
        let tcp = TcpStream::connect(addr).await.expect("tcp");
        Client::over(addr, tcp).await
    }

    /// Connects from source address `source` (any 127.0.0.0/8 address is
    /// this machine).
    pub async fn connect_from(addr: &str, source: &str) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(format!("{source}:0").parse().expect("source"))
            .expect("bind");
        let tcp = socket.connect(addr.parse().expect("addr")).await.expect("tcp");
        Client::over(addr, tcp).await
    }

    async fn over(addr: &str, tcp: TcpStream) -> Client {
        let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/v1/ws"), MaybeTlsStream::Plain(tcp))
            .await
            .expect("connect");
        Client::from_socket(ws).await
    }

    /// A client over an open WebSocket, once it has read the challenge.
    pub async fn from_socket(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Client {
        let mut client = Client {
            ws,
            nonce: [0; 32],
            audience: String::new(),
            server_time_ms: 0,
        };
        match client.recv().await {
            ServerFrame::Challenge {
                version,
                nonce,
                audience,
                server_time_ms,
            } => {
                assert_eq!(version, 1);
                client.nonce = nonce;
                client.audience = audience;
                client.server_time_ms = server_time_ms;
            }
            other => panic!("expected Challenge, got {other:?}"),
        }
        client
    }

    /// Connects and authenticates with `key`.
    pub async fn authed(addr: &str, key: &SigningKey) -> Client {
        let mut client = Client::connect(addr).await;
        let auth = client.auth_frame(key);
        client.send(&auth).await;
        assert_eq!(client.recv().await, ServerFrame::Authenticated);
        client
    }

    pub fn auth_frame(&self, key: &SigningKey) -> ClientFrame {
        self.auth_frame_at(key, now_ms())
    }

    /// An `Auth` frame signed as if the time were `timestamp_ms`.
    pub fn auth_frame_at(&self, key: &SigningKey, timestamp_ms: u64) -> ClientFrame {
        let signature = key.sign(&auth_message(&self.audience, &self.nonce, timestamp_ms));
        ClientFrame::Auth {
            device: device(key),
            timestamp_ms,
            nonce: self.nonce,
            signature: signature.to_bytes().to_vec(),
        }
    }

    pub async fn send(&mut self, frame: &ClientFrame) {
        self.send_raw(frame.encode().expect("encode")).await;
    }

    pub async fn send_raw(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::Binary(bytes.into())).await.expect("send");
    }

    /// Sends raw bytes; `false` when the server already closed the socket.
    pub async fn try_send_raw(&mut self, bytes: Vec<u8>) -> bool {
        self.ws.send(Message::Binary(bytes.into())).await.is_ok()
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).await.expect("send");
    }

    /// Next server frame, or `None` if the connection closed.
    pub async fn try_recv(&mut self) -> Option<ServerFrame> {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(15), self.ws.next())
                .await
                .expect("timed out waiting for a frame");
            match message {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return None,
                Some(Ok(Message::Binary(bytes))) => return Some(ServerFrame::decode(&bytes).expect("decode")),
                Some(Ok(_)) => continue,
            }
        }
    }

    pub async fn recv(&mut self) -> ServerFrame {
        self.try_recv().await.expect("connection closed")
    }

    pub async fn push(&mut self, envelopes: Vec<Envelope>) -> ServerFrame {
        self.send(&ClientFrame::Push {
            log: LOG,
            capability: CAP,
            envelopes,
        })
        .await;
        self.recv().await
    }

    pub async fn pull(&mut self, log: LogId, capability: Capability, after_seq: u64) -> ServerFrame {
        self.send(&ClientFrame::Pull {
            log,
            capability,
            after_seq,
            limit: 1000,
        })
        .await;
        self.recv().await
    }

    /// Pulls everything in [`LOG`].
    pub async fn pull_all(&mut self) -> Vec<(u64, Envelope)> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            match self.pull(LOG, CAP, after).await {
                ServerFrame::Entries { entries, more, .. } => {
                    if let Some((seq, _)) = entries.last() {
                        after = *seq;
                    }
                    all.extend(entries);
                    if !more {
                        return all;
                    }
                }
                other => panic!("expected Entries, got {other:?}"),
            }
        }
    }

    /// Registers [`MANAGE`] for [`LOG`].
    pub async fn register(&mut self) -> ServerFrame {
        self.send(&ClientFrame::Register {
            log: LOG,
            capability: CAP,
            manager: manager_of(&MANAGE),
        })
        .await;
        self.recv().await
    }

    /// Deletes [`LOG`] with `manage`.
    pub async fn delete(&mut self, manage: ManageKey) -> ServerFrame {
        self.send(&ClientFrame::Delete { log: LOG, manage }).await;
        self.recv().await
    }

    pub async fn ping(&mut self, id: u64) {
        self.send(&ClientFrame::Ping { id }).await;
        assert_eq!(self.recv().await, ServerFrame::Pong { id });
    }
}

/// Every file under `dir`, recursively, with its contents.
pub fn read_all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path, bytes));
            }
        }
    }
    out
}
