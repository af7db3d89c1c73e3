-- Near-duplicate band keys in two levels: new keys go to item_bands_new
-- and Store.MergeBands moves them into item_bands in sorted batches (see
-- the SQLite migration 0016 for why). bands_new counts the keys waiting.
CREATE TABLE item_bands_new (
    band    BIGINT NOT NULL,
    key     BIGINT NOT NULL,
    item_id BIGINT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    PRIMARY KEY (band, key, item_id)
);
CREATE INDEX item_bands_new_item ON item_bands_new(item_id);
INSERT INTO counters (name, value) VALUES ('bands_new', 0);
