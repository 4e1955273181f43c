-- Delivery receipts: how far each account's devices have received a chat
-- (the largest message timestamp they hold), from `dlv/ACCOUNT` in segments.
CREATE TABLE delivered_positions (
    chat_id    TEXT    NOT NULL,
    account_id TEXT    NOT NULL,
    ts         INTEGER NOT NULL,
    PRIMARY KEY (chat_id, account_id)
) STRICT, WITHOUT ROWID;
