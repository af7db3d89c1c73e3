-- Every query the server and the pipeline make is served by an index.

-- A source's most recent documents (frame learning) without sorting them.
CREATE INDEX documents_source_fetched ON documents(source_id, fetched);
-- The sources of an item, and the items of a source, read from the index
-- alone.
DROP INDEX documents_item;
CREATE INDEX documents_item ON documents(item_id, source_id);
CREATE INDEX documents_source_item ON documents(source_id, item_id);
-- Backfill of a subscriber by age.
CREATE INDEX items_created ON items(created);
-- Owed deliveries in order, and the due time of each subscriber's head;
-- a subscriber's deliveries newest first.
CREATE INDEX deliveries_status ON deliveries(status, subscriber_id, id);
CREATE INDEX deliveries_subscriber ON deliveries(subscriber_id, id);

-- A counter that moves whenever items change, in any process: caches of
-- rendered feeds compare it, and a write that changes no item (a source's
-- health, a delivery) leaves them alone.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('items', 0);

-- A delivery is never given up on: one that used every retry keeps being
-- retried at the longest wait, so later batches never overtake it.
UPDATE deliveries SET status = 'due' WHERE status = 'failed';

-- A delivery's body lives apart from its state, so that claiming and
-- finishing a delivery rewrite a small row, not the whole payload.
CREATE TABLE delivery_bodies (
    delivery_id INTEGER PRIMARY KEY REFERENCES deliveries(id) ON DELETE CASCADE,
    body        BLOB NOT NULL
);
INSERT INTO delivery_bodies (delivery_id, body) SELECT id, body FROM deliveries;
ALTER TABLE deliveries DROP COLUMN body;

-- Moves whenever anything a feed shows of an item changes (a correction,
-- one more source merged in): feeds whose items' versions are unchanged
-- are not rendered again.
ALTER TABLE items ADD COLUMN version INTEGER NOT NULL DEFAULT 0;

-- What each item can be filtered by, one row per value: "c:BE" (country),
-- "l:fr" (language), "t:refugees" (topic), "s:iom-be" (source). A filtered
-- feed walks one facet's rows in arrival order and stops at its page size,
-- whatever the size of the store; facet_counts says which facet of a
-- query is the rarest, to walk that one.
CREATE TABLE item_facets (
    facet   TEXT NOT NULL,
    item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    PRIMARY KEY (facet, item_id)
) WITHOUT ROWID;
CREATE INDEX item_facets_item ON item_facets(item_id);

CREATE TABLE facet_counts (
    facet TEXT PRIMARY KEY,
    n     INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER item_facets_counted AFTER INSERT ON item_facets BEGIN
    INSERT INTO facet_counts (facet, n) VALUES (new.facet, 1)
        ON CONFLICT (facet) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER item_facets_uncounted AFTER DELETE ON item_facets BEGIN
    UPDATE facet_counts SET n = n - 1 WHERE facet = old.facet;
END;

INSERT OR IGNORE INTO item_facets (facet, item_id) SELECT 'c:' || country, id FROM items WHERE country != '';
INSERT OR IGNORE INTO item_facets (facet, item_id) SELECT 'l:' || language, id FROM items WHERE language != '';
INSERT OR IGNORE INTO item_facets (facet, item_id) SELECT 't:' || topic, item_id FROM item_topics;
INSERT OR IGNORE INTO item_facets (facet, item_id) SELECT 's:' || source_id, item_id FROM documents;

-- The number of items, kept as they come and go.
INSERT INTO counters (name, value) SELECT 'item_count', count(*) FROM items;
CREATE TRIGGER items_counted AFTER INSERT ON items BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'item_count';
END;
CREATE TRIGGER items_uncounted AFTER DELETE ON items BEGIN
    UPDATE counters SET value = value - 1 WHERE name = 'item_count';
END;
-- The latest change, for the index page and OPML.
CREATE INDEX items_updated ON items(updated);
DROP TABLE item_topics;
