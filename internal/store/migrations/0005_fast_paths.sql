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
-- Owed deliveries in order, and the due time of each subscriber's head.
CREATE INDEX deliveries_status ON deliveries(status, subscriber_id, id);

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
