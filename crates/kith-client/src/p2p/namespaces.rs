//! Rendezvous namespaces, derived from secrets the peers share: the server
//! sees random-looking names and cannot tell whose devices meet there or who
//! talks to whom.

use crate::error::ClientError;
use crate::profile::Profile;

/// The namespaces this device registers under and looks up: one for the
/// account's own devices, one per contact channel, one per conversation key.
pub fn rendezvous_namespaces(profile: &Profile) -> Result<Vec<String>, ClientError> {
    let mut out = vec![name(
        "kith rendezvous account v1",
        &profile.identity().account_keys().derive_secret("kith p2p rendezvous"),
    )];
    for record in profile.contacts().records()?.values() {
        if record.is_connected() {
            out.push(name("kith rendezvous contact v1", &record.channel_secret));
        }
    }
    for key in profile.relay().chat_keys()?.values() {
        out.push(name("kith rendezvous chat v1", key.as_bytes()));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn name(context: &str, secret: &[u8]) -> String {
    let derived = blake3::derive_key(context, secret);
    data_encoding::HEXLOWER.encode(&derived[..16])
}
