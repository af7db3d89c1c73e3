-- The webhook outbox. A subscriber's cursor is the last item id it was
-- owed up to; each delivery records the items it carries and its frozen
-- body, so a retry sends the same bytes under the same webhook-id.
CREATE TABLE subscribers (
    id       TEXT PRIMARY KEY,
    cursor   INTEGER NOT NULL DEFAULT 0,
    paused   INTEGER NOT NULL DEFAULT 0,
    failing  INTEGER NOT NULL DEFAULT 0,
    created  TEXT NOT NULL,
    last_fire TEXT NOT NULL DEFAULT ''
);

CREATE TABLE deliveries (
    id            INTEGER PRIMARY KEY,
    webhook_id    TEXT NOT NULL UNIQUE,
    subscriber_id TEXT NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    items         TEXT NOT NULL,           -- JSON array of item ids
    body          BLOB NOT NULL,
    status        TEXT NOT NULL,           -- due | sending | sent | failed
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  TEXT NOT NULL,
    claimed_until TEXT NOT NULL DEFAULT '',
    created       TEXT NOT NULL,
    sent_at       TEXT NOT NULL DEFAULT '',
    last_error    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX deliveries_pending ON deliveries(subscriber_id, status, id);
CREATE INDEX deliveries_due ON deliveries(status, next_attempt);

CREATE TABLE attempts (
    delivery_id INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    at          TEXT NOT NULL,
    status      INTEGER NOT NULL,          -- HTTP status, 0 = no response
    latency_ms  INTEGER NOT NULL,
    error       TEXT NOT NULL DEFAULT '',
    response    BLOB                       -- the first KiB of the response body
);
CREATE INDEX attempts_delivery ON attempts(delivery_id);
