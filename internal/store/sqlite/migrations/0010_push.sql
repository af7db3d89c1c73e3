-- WebSub subscriptions crier holds as a subscriber: a feed source whose
-- feed names a hub is pushed to, and polled less.
CREATE TABLE push_subscriptions (
    source_id   TEXT PRIMARY KEY,
    hub         TEXT NOT NULL,
    topic       TEXT NOT NULL,
    token       TEXT NOT NULL,          -- in the callback's path
    secret      TEXT NOT NULL,          -- hub.secret: X-Hub-Signature's key
    state       TEXT NOT NULL,          -- requested | live | denied
    requested   TEXT NOT NULL,
    lease_until TEXT NOT NULL DEFAULT '',
    last_push   TEXT NOT NULL DEFAULT '',
    last_error  TEXT NOT NULL DEFAULT ''
);
