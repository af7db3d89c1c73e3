-- item_bands becomes a table ordered by its key alone (WITHOUT ROWID):
-- a merge (Store.MergeBands) then inserts each key once, where the
-- rowid table also appended a row and an entry by item, three inserts
-- a key; and the store is smaller by both. An item's keys are removed
-- by their values, computed from its stored signature. Items are never
-- deleted (a retraction keeps the row), so no foreign key is needed.
CREATE TABLE item_bands_sorted (
    band    INTEGER NOT NULL,
    key     INTEGER NOT NULL,
    item_id INTEGER NOT NULL,
    PRIMARY KEY (band, key, item_id)
) WITHOUT ROWID;
INSERT INTO item_bands_sorted (band, key, item_id)
SELECT band, key, item_id FROM item_bands ORDER BY band, key, item_id;
DROP TABLE item_bands;
ALTER TABLE item_bands_sorted RENAME TO item_bands;
