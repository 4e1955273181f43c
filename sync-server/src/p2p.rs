//! The server's libp2p side: a rendezvous point (devices register under
//! namespaces derived from secrets they share, so the server learns no
//! relationships), a circuit relay with limits sized for chat sync, AutoNAT,
//! identify and ping. It never sees document contents: relayed streams are
//! Noise-encrypted end to end between the two devices.

use crate::errors::ServerError;
use crate::store::GatewayAnnouncement;
use futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, autonat, identify, ping, relay, rendezvous};
use std::path::Path;
use std::time::Duration;

/// How often a gateway announces its libp2p side to the others.
pub(crate) const ANNOUNCE_EVERY: Duration = Duration::from_secs(10);

/// A gateway not heard of for this long is left out of `GET /p2p`.
pub(crate) const GATEWAY_STALE_MS: u64 = 30_000;

/// The server's identity and addresses, served at `GET /p2p`.
#[derive(Clone, Debug)]
pub struct P2pInfo {
    /// The server's PeerId.
    pub peer_id: PeerId,
    /// Where it listens, each ending in `/p2p/PEER_ID`.
    pub addresses: Vec<Multiaddr>,
}

impl P2pInfo {
    /// What this gateway announces to the others on its database.
    pub fn announcement(&self) -> GatewayAnnouncement {
        GatewayAnnouncement {
            peer_id: self.peer_id.to_string(),
            addresses: self.addresses.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// `{"peer_id": "...", "addresses": [...], "gateways": [{"peer_id":
    /// "...", "addresses": [...]}, ...]}`: this gateway, then every gateway
    /// of the service (this one first), so that a client registers at every
    /// rendezvous point whichever gateway it asked.
    pub fn to_json(&self, others: &[GatewayAnnouncement]) -> String {
        let me = self.announcement();
        let gateways: Vec<_> = std::iter::once(&me)
            .chain(others.iter().filter(|other| other.peer_id != me.peer_id))
            .map(|gateway| serde_json::json!({"peer_id": gateway.peer_id, "addresses": gateway.addresses}))
            .collect();
        serde_json::json!({
            "peer_id": me.peer_id,
            "addresses": me.addresses,
            "gateways": gateways,
        })
        .to_string()
    }
}

#[derive(NetworkBehaviour)]
struct ServerBehaviour {
    relay: relay::Behaviour,
    rendezvous: rendezvous::server::Behaviour,
    autonat: autonat::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
}

/// Relay limits for chat sync: a first sync of a long history can move tens
/// of megabytes, far beyond libp2p's 128 KiB default, but a circuit is not a
/// general-purpose tunnel either.
fn relay_config() -> relay::Config {
    relay::Config {
        max_reservations: 1024,
        max_reservations_per_peer: 4,
        reservation_duration: Duration::from_secs(3600),
        max_circuits: 256,
        max_circuits_per_peer: 8,
        max_circuit_duration: Duration::from_secs(30 * 60),
        max_circuit_bytes: 256 * 1024 * 1024,
        ..relay::Config::default()
    }
}

/// The server's libp2p key, kept in the data directory so its PeerId (which
/// clients may have cached) survives restarts.
fn load_key(data: &Path) -> Result<Keypair, ServerError> {
    let path = data.join("p2p.key");
    let seed = match std::fs::read(&path) {
        Ok(bytes) if bytes.len() == 32 => bytes,
        Ok(_) => {
            return Err(ServerError::P2p(format!("{} is not a 32-byte key", path.display())));
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            // With PostgreSQL nothing else makes the data directory.
            create_private_dir(data)?;
            let seed: [u8; 32] = rand::random();
            write_private(&path, &seed)?;
            seed.to_vec()
        }
        Err(err) => return Err(err.into()),
    };
    Keypair::ed25519_from_bytes(seed).map_err(|err| ServerError::P2p(err.to_string()))
}

fn create_private_dir(dir: &Path) -> Result<(), ServerError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|err| ServerError::P2p(format!("cannot create {}: {err}", dir.display())))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ServerError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

/// Starts the swarm on `listen` and returns once it listens.
pub async fn start(data: &Path, listen: Multiaddr) -> Result<P2pInfo, ServerError> {
    let keypair = load_key(data)?;
    let peer_id = keypair.public().to_peer_id();
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default().nodelay(true),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .map_err(|err| ServerError::P2p(err.to_string()))?
        .with_quic()
        .with_behaviour(|key| ServerBehaviour {
            relay: relay::Behaviour::new(key.public().to_peer_id(), relay_config()),
            rendezvous: rendezvous::server::Behaviour::new(rendezvous::server::Config::default()),
            autonat: autonat::Behaviour::new(key.public().to_peer_id(), autonat::Config::default()),
            identify: identify::Behaviour::new(identify::Config::new("/kith-server/1.0.0".into(), key.public())),
            ping: ping::Behaviour::new(ping::Config::new()),
        })
        .map_err(|err| ServerError::P2p(err.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();
    swarm
        .listen_on(listen.clone())
        .map_err(|err| ServerError::P2p(format!("cannot listen on {listen}: {err}")))?;
    let mut addresses = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while addresses.is_empty() {
        let event = tokio::time::timeout_at(deadline, swarm.select_next_some())
            .await
            .map_err(|_| ServerError::P2p(format!("no listening address on {listen} after 5 s")))?;
        if let SwarmEvent::NewListenAddr { address, .. } = event {
            // Relay reservations tell clients these addresses.
            swarm.add_external_address(address.clone());
            addresses.push(address.with(Protocol::P2p(peer_id)));
        }
    }
    tokio::spawn(async move {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::NewListenAddr { address, .. } => swarm.add_external_address(address),
                SwarmEvent::Behaviour(ServerBehaviourEvent::Relay(event)) => tracing::debug!(?event, "relay"),
                SwarmEvent::Behaviour(ServerBehaviourEvent::Rendezvous(event)) => {
                    tracing::debug!(?event, "rendezvous")
                }
                _ => {}
            }
        }
    });
    Ok(P2pInfo { peer_id, addresses })
}
