//! A device's Ed25519 signing key is its libp2p identity: the PeerId names
//! the device, and the device certificate binds it to an account.

use super::P2pError;
use kith_core::identity::DeviceKeys;
use kith_proto::DeviceId;
use libp2p::PeerId;
use libp2p::identity::{Keypair, PublicKey, ed25519};

/// The libp2p keypair of a device.
pub fn keypair_of(device: &DeviceKeys) -> Result<Keypair, P2pError> {
    let mut seed = device.signing_seed();
    let secret =
        ed25519::SecretKey::try_from_bytes(&mut seed).map_err(|err| P2pError::Start(format!("device key: {err}")))?;
    Ok(Keypair::from(ed25519::Keypair::from(secret)))
}

/// The PeerId a device must have: the one derived from its certificate's key.
pub fn peer_id_of_device(device: &DeviceId) -> Result<PeerId, P2pError> {
    let key = ed25519::PublicKey::try_from_bytes(device.as_bytes())
        .map_err(|err| P2pError::Start(format!("device id is not an Ed25519 key: {err}")))?;
    Ok(PublicKey::from(key).to_peer_id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_id_is_the_device_key() {
        let device = DeviceKeys::from_seeds([7; 32], [8; 32]);
        let keypair = keypair_of(&device).unwrap();
        assert_eq!(keypair.public().to_peer_id(), peer_id_of_device(&device.id()).unwrap());
        let other = DeviceKeys::from_seeds([9; 32], [8; 32]);
        assert_ne!(keypair.public().to_peer_id(), peer_id_of_device(&other.id()).unwrap());
    }
}
