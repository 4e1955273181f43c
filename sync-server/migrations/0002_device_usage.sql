-- Per-device write budget: bytes of ciphertext each device has stored. Only
-- the total is kept, never which entries a device wrote (the server does not
-- persist who wrote what).
ALTER TABLE devices ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0;
