-- A deleted log's id stays taken: a later push to it is refused, so a
-- re-created log can never start its sequence numbers again at 1 under
-- clients that still hold a cursor for it.
CREATE TABLE deleted_logs (
    log_id BLOB PRIMARY KEY NOT NULL,
    deleted_ms INTEGER NOT NULL
) STRICT;
