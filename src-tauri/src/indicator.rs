//! The sync indicator: one status from two sources. The server loop says
//! whether the server is reachable; the peer-to-peer loop says which devices
//! are connected and how. The best route wins (LAN, then direct, then the
//! server), so a person sees "2 devices nearby" rather than "Offline" when
//! the server is down but the laptop next to them is not.

use kith_api::{SyncRoute, SyncStatus};
use kith_net::p2p::Route;
use std::collections::BTreeMap;

/// What the two loops last said.
#[derive(Debug, Default)]
pub struct SyncIndicator {
    /// The server loop's status (`None`: no server set).
    server: Option<SyncStatus>,
    /// Connected peers and their routes, by PeerId.
    peers: BTreeMap<String, Route>,
}

impl SyncIndicator {
    /// A new indicator; `server` tells whether a sync server is set.
    pub fn new(server: bool) -> Self {
        SyncIndicator {
            server: server.then(|| SyncStatus {
                route: SyncRoute::Offline,
                detail: "Connecting to the sync server".to_owned(),
                busy: true,
            }),
            peers: BTreeMap::new(),
        }
    }

    /// The server loop's news; returns the status to show.
    pub fn server_status(&mut self, status: SyncStatus) -> SyncStatus {
        self.server = Some(status);
        self.current()
    }

    /// A peer's route changed (`Offline` when it left); returns the status to show.
    pub fn peer_route(&mut self, peer_id: &str, route: Route) -> SyncStatus {
        match route {
            Route::Offline | Route::ServerOnly => {
                self.peers.remove(peer_id);
            }
            other => {
                self.peers.insert(peer_id.to_owned(), other);
            }
        }
        self.current()
    }

    /// The status to show now.
    pub fn current(&self) -> SyncStatus {
        let count = |wanted: Route| self.peers.values().filter(|r| **r == wanted).count();
        let (lan, direct, relayed) = (count(Route::Lan), count(Route::Direct), count(Route::Relayed));
        let devices = |n: usize| {
            if n == 1 {
                "1 device".to_owned()
            } else {
                format!("{n} devices")
            }
        };
        let server_note = match &self.server {
            Some(status) if status.route == SyncRoute::Server => "; server reachable",
            Some(_) => "; server unreachable",
            None => "",
        };
        if lan > 0 {
            return SyncStatus {
                route: SyncRoute::Lan,
                detail: format!("{} on this network{server_note}", devices(lan + direct + relayed)),
                busy: false,
            };
        }
        if direct > 0 {
            return SyncStatus {
                route: SyncRoute::Direct,
                detail: format!("{} connected directly{server_note}", devices(direct + relayed)),
                busy: false,
            };
        }
        match &self.server {
            Some(status) if relayed > 0 && status.route != SyncRoute::Server => SyncStatus {
                route: SyncRoute::Server,
                detail: format!("{} through the server's relay", devices(relayed)),
                busy: false,
            },
            Some(status) => status.clone(),
            None => SyncStatus {
                route: SyncRoute::Offline,
                detail: "No sync server set and no device nearby: messages stay on this device".to_owned(),
                busy: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(route: SyncRoute) -> SyncStatus {
        SyncStatus {
            route,
            detail: "from the server loop".to_owned(),
            busy: false,
        }
    }

    #[test]
    fn with_no_server_and_no_peer_it_is_offline() {
        let indicator = SyncIndicator::new(false);
        assert_eq!(indicator.current().route, SyncRoute::Offline);
        assert!(indicator.current().detail.contains("stay on this device"));
    }

    #[test]
    fn the_best_route_wins_and_leaving_peers_fall_back() {
        let mut indicator = SyncIndicator::new(true);
        assert_eq!(
            indicator.server_status(server(SyncRoute::Server)).route,
            SyncRoute::Server
        );
        let status = indicator.peer_route("phone", Route::Direct);
        assert_eq!(status.route, SyncRoute::Direct);
        assert_eq!(status.detail, "1 device connected directly; server reachable");
        let status = indicator.peer_route("laptop", Route::Lan);
        assert_eq!(status.route, SyncRoute::Lan);
        assert_eq!(status.detail, "2 devices on this network; server reachable");
        // The server going away does not hide the peers.
        let status = indicator.server_status(server(SyncRoute::Offline));
        assert_eq!(status.route, SyncRoute::Lan);
        assert!(status.detail.ends_with("server unreachable"), "{}", status.detail);
        indicator.peer_route("laptop", Route::Offline);
        assert_eq!(indicator.current().route, SyncRoute::Direct);
        indicator.peer_route("phone", Route::Offline);
        assert_eq!(indicator.current(), server(SyncRoute::Offline));
    }

    #[test]
    fn relayed_peers_count_as_the_server_route() {
        let mut indicator = SyncIndicator::new(true);
        indicator.server_status(server(SyncRoute::Offline));
        let status = indicator.peer_route("bob", Route::Relayed);
        assert_eq!(status.route, SyncRoute::Server);
        assert_eq!(status.detail, "1 device through the server's relay");
    }
}
