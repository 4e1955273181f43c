//! How a peer is connected right now.

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use serde::{Deserialize, Serialize};

/// The route to a peer, best first: a user can tell a LAN link from a hop
/// through the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Route {
    /// A direct connection to a private, link-local or loopback address.
    Lan,
    /// A direct connection to a public address (possibly hole-punched).
    Direct,
    /// Through the circuit relay of a `kith-server`.
    Relayed,
    /// Not connected peer-to-peer; the sync server still carries changes.
    ServerOnly,
    /// Not reachable at all.
    Offline,
}

impl Route {
    /// The route of a connection with this remote address.
    pub fn of_address(address: &Multiaddr) -> Route {
        let mut route = Route::Direct;
        for protocol in address.iter() {
            match protocol {
                Protocol::P2pCircuit => return Route::Relayed,
                Protocol::Ip4(ip) if ip.is_private() || ip.is_loopback() || ip.is_link_local() => {
                    route = Route::Lan;
                }
                Protocol::Ip6(ip) if ip.is_loopback() || ip.is_unique_local() || ip.is_unicast_link_local() => {
                    route = Route::Lan;
                }
                _ => {}
            }
        }
        route
    }

    /// The name the CLI and the UI show.
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Lan => "lan",
            Route::Direct => "direct",
            Route::Relayed => "relayed",
            Route::ServerOnly => "server-only",
            Route::Offline => "offline",
        }
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_the_address() {
        let cases = [
            ("/ip4/127.0.0.1/tcp/4001", Route::Lan),
            ("/ip4/192.168.1.20/udp/4001/quic-v1", Route::Lan),
            ("/ip4/8.8.8.8/tcp/4001", Route::Direct),
            ("/ip6/::1/tcp/1", Route::Lan),
            (
                "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit",
                Route::Relayed,
            ),
        ];
        for (address, expected) in cases {
            let address: Multiaddr = address.parse().unwrap();
            assert_eq!(Route::of_address(&address), expected, "{address}");
        }
    }
}
