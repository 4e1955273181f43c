//! The right to delete or compact a relay log: a key only the account that
//! manages the log can derive, apart from the capability every member holds.

use crate::identity::AccountKeys;
use kith_proto::{LogId, ManageKey};

/// Key derivation context of manage keys (never change it: it names the
/// right to existing logs).
const MANAGE_CONTEXT: &str = "kith 2026 relay log manage key v1";

/// The manage key of `log` for `account`: every device of the account
/// derives the same one, nobody else can (a member holds the log's
/// capability, not the account key of its manager).
pub fn manage_key(account: &AccountKeys, log: &LogId) -> ManageKey {
    let secret = account.derive_secret(MANAGE_CONTEXT);
    ManageKey(*blake3::keyed_hash(&secret, &log.0).as_bytes())
}

/// What the server is given to register a manage key: its hash (the server
/// checks a key presented later against it).
pub fn manage_key_hash(key: &ManageKey) -> [u8; 32] {
    *blake3::hash(&key.0).as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manage_keys_differ_by_log_and_account_and_are_not_their_hash() {
        let alice = AccountKeys::from_seed([1; 32]);
        let bob = AccountKeys::from_seed([2; 32]);
        let log = LogId([7; 32]);
        let key = manage_key(&alice, &log);
        assert_eq!(key, manage_key(&AccountKeys::from_seed([1; 32]), &log));
        assert_ne!(key, manage_key(&bob, &log));
        assert_ne!(key, manage_key(&alice, &LogId([8; 32])));
        assert_ne!(manage_key_hash(&key), key.0);
    }
}
