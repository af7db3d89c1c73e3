-- WebSub subscriptions. Each has a row in subscribers too (same id,
-- "websub:..."), so that its content goes through the same outbox, with
-- the same cursor, retries and attempts as webhooks.
CREATE TABLE websub (
    id           TEXT PRIMARY KEY REFERENCES subscribers(id) ON DELETE CASCADE,
    topic        TEXT NOT NULL,
    callback     TEXT NOT NULL,
    secret       TEXT NOT NULL DEFAULT '',
    content_type TEXT NOT NULL,
    lease_until  TEXT NOT NULL,
    created      TEXT NOT NULL,
    UNIQUE (topic, callback)
);
