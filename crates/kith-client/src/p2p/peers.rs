//! `kith peers`: every device this profile may sync with, and how it is
//! connected now.

use super::driver::ROUTE_FRESH_MS;
use crate::error::ClientError;
use crate::profile::Profile;
use kith_core::docs::contact::ContactState;
use kith_net::p2p::{Route, peer_id_of_device};
use kith_proto::{AccountId, DeviceId};
use serde::Serialize;
use std::collections::BTreeMap;

/// One peer device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeerView {
    /// Its libp2p PeerId.
    pub peer_id: String,
    /// Its account.
    pub account: AccountId,
    /// The account's name, if known.
    pub name: Option<String>,
    /// The device.
    pub device: DeviceId,
    /// One of this account's own devices.
    pub own: bool,
    /// `lan`, `direct`, `relayed`, `server-only` or `offline`.
    pub route: Route,
    /// The address of the current connection, if connected peer-to-peer.
    pub address: Option<String>,
}

impl Profile {
    /// Own other devices and accepted contacts' devices, with their routes
    /// as the running sync process (if any) last recorded them.
    pub fn peers(&self) -> Result<Vec<PeerView>, ClientError> {
        let me = self.identity().account_id();
        let now = i64::try_from(self.now_ms()).unwrap_or(i64::MAX);
        let routes: BTreeMap<String, (String, Option<String>, i64)> = self
            .store()
            .peer_routes()?
            .into_iter()
            .map(|r| (r.peer_id, (r.route, r.address, r.updated_ms)))
            .collect();
        let fallback = if self.relay().last_server()?.is_some() {
            Route::ServerOnly
        } else {
            Route::Offline
        };
        let mut accounts = vec![me];
        accounts.extend(
            self.contacts()
                .records()?
                .into_iter()
                .filter(|(_, r)| !r.blocked && r.state == ContactState::Accepted)
                .map(|(a, _)| a),
        );
        let mut out = Vec::new();
        for account in accounts {
            let name = self.store().profile_name(&account)?;
            for device in self.store().devices(&account)? {
                if device.revoked_at.is_some() || device.cert.device == self.identity().device_id() {
                    continue;
                }
                let Ok(peer) = peer_id_of_device(&device.cert.device) else {
                    continue;
                };
                let peer_id = peer.to_string();
                let (route, address) = match routes.get(&peer_id) {
                    Some((route, address, updated)) if now - updated <= ROUTE_FRESH_MS => match parse_route(route) {
                        Some(Route::Offline) | None => (fallback, None),
                        Some(route) => (route, address.clone()),
                    },
                    _ => (fallback, None),
                };
                out.push(PeerView {
                    peer_id,
                    account,
                    name: name.clone(),
                    device: device.cert.device,
                    own: account == me,
                    route,
                    address,
                });
            }
        }
        Ok(out)
    }
}

fn parse_route(route: &str) -> Option<Route> {
    Some(match route {
        "lan" => Route::Lan,
        "direct" => Route::Direct,
        "relayed" => Route::Relayed,
        "server-only" => Route::ServerOnly,
        "offline" => Route::Offline,
        _ => return None,
    })
}
