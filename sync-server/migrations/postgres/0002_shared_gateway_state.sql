-- State every gateway on this database shares.

-- The new-device token bucket of each source address (a hash of it). A row
-- goes once its bucket is full again.
CREATE TABLE new_device_buckets (
    address_hash BYTEA PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX new_device_buckets_by_time ON new_device_buckets (updated_ms);

-- Each gateway's libp2p side (rendezvous, relay): its PeerId and addresses
-- (one multiaddr per line), announced again every few seconds; clients
-- learn every gateway from any one of them.
CREATE TABLE gateways (
    peer_id TEXT PRIMARY KEY,
    addresses TEXT NOT NULL,
    seen_ms BIGINT NOT NULL
);
