-- Near-duplicate detection: each item's MinHash signature, and its LSH band
-- keys, so that a new document finds the items it may copy in an index.
ALTER TABLE items ADD COLUMN signature BLOB;

CREATE TABLE item_bands (
    band    INTEGER NOT NULL,
    key     INTEGER NOT NULL,
    item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    PRIMARY KEY (band, key, item_id)
);
CREATE INDEX item_bands_item ON item_bands(item_id);
