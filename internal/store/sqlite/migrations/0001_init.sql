-- Sources: the state crier keeps per configured source (conditional GET
-- validators, health). The config stays the authority on what sources exist.
CREATE TABLE sources (
    id            TEXT PRIMARY KEY,
    etag          TEXT NOT NULL DEFAULT '',
    last_modified TEXT NOT NULL DEFAULT '',
    last_attempt  TEXT NOT NULL DEFAULT '',
    last_success  TEXT NOT NULL DEFAULT '',
    failures      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT NOT NULL DEFAULT '',
    next_run      TEXT NOT NULL DEFAULT '',
    items_added   INTEGER NOT NULL DEFAULT 0
);

-- Items: one per release, however many sources published it. id orders
-- items by arrival and serves as a cursor; uid is the public, stable id.
CREATE TABLE items (
    id           INTEGER PRIMARY KEY,
    uid          TEXT NOT NULL UNIQUE,
    title        TEXT NOT NULL,
    summary      TEXT NOT NULL DEFAULT '',
    content_text TEXT NOT NULL DEFAULT '',
    content_html TEXT NOT NULL DEFAULT '',
    url          TEXT NOT NULL DEFAULT '',
    language     TEXT NOT NULL DEFAULT '',
    country      TEXT NOT NULL DEFAULT '',
    city         TEXT NOT NULL DEFAULT '',
    topics       TEXT NOT NULL DEFAULT '[]',
    contacts     TEXT NOT NULL DEFAULT '[]',
    published    TEXT NOT NULL,
    date_known   INTEGER NOT NULL DEFAULT 0,
    updated      TEXT NOT NULL,
    created      TEXT NOT NULL,
    fingerprint  TEXT NOT NULL
);
CREATE INDEX items_published ON items(published DESC, id DESC);
CREATE INDEX items_fingerprint ON items(fingerprint);
CREATE INDEX items_country ON items(country);
CREATE INDEX items_language ON items(language);

-- Documents: every copy of a release as a source delivered it, raw, keyed by
-- the source's own key (a file's path, an entry's guid, a page's URL).
CREATE TABLE documents (
    source_id    TEXT NOT NULL,
    key          TEXT NOT NULL,
    item_id      INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    url          TEXT NOT NULL DEFAULT '',
    content_hash TEXT NOT NULL,
    raw          BLOB NOT NULL,
    fetched      TEXT NOT NULL,
    PRIMARY KEY (source_id, key)
);
CREATE INDEX documents_item ON documents(item_id);

CREATE TABLE item_topics (
    item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    topic   TEXT NOT NULL,
    PRIMARY KEY (topic, item_id)
);
