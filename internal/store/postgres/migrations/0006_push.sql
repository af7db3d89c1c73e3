-- WebSub subscriptions crier holds as a subscriber (see the SQLite
-- migration 0010).
CREATE TABLE push_subscriptions (
    source_id   TEXT PRIMARY KEY,
    hub         TEXT NOT NULL,
    topic       TEXT NOT NULL,
    token       TEXT NOT NULL,          -- in the callback's path
    secret      TEXT NOT NULL,          -- hub.secret: X-Hub-Signature's key
    state       TEXT NOT NULL,          -- requested | live | denied
    requested   TEXT NOT NULL,
    lease_until TEXT COLLATE "C" NOT NULL DEFAULT '',
    last_push   TEXT NOT NULL DEFAULT '',
    last_error  TEXT NOT NULL DEFAULT ''
);
