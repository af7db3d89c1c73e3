-- Near-duplicate band keys in two levels. A new item's sixteen keys land
-- at random places in item_bands, each on a page of its own once the
-- store is large, so storing a release wrote sixteen pages there and the
-- write load grew with the store. New keys now go to item_bands_new,
-- small enough to stay in memory; Store.MergeBands moves them into
-- item_bands in sorted batches as large as the store, so that each page
-- of item_bands is written once per batch for many keys. Lookups read
-- both. bands_new counts the keys waiting.
CREATE TABLE item_bands_new (
    band    INTEGER NOT NULL,
    key     INTEGER NOT NULL,
    item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    PRIMARY KEY (band, key, item_id)
) WITHOUT ROWID;
CREATE INDEX item_bands_new_item ON item_bands_new(item_id);
INSERT INTO counters (name, value) VALUES ('bands_new', 0);
