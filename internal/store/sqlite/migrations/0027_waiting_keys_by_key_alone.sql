-- item_bands_new loses its index by item and its foreign key, as
-- item_bands did in 0017: an item's keys are removed by their values,
-- computed from its stored signature, and items are never deleted. Each
-- key stored then writes one entry instead of two and checks no parent
-- row, and a merge that moves a range of keys deletes them from one
-- ordered tree, not also from an index whose entries for those keys lie
-- at random places (a backlog of 14 million keys made that index 289 MB).
CREATE TABLE item_bands_waiting (
    band    INTEGER NOT NULL,
    key     INTEGER NOT NULL,
    item_id INTEGER NOT NULL,
    PRIMARY KEY (band, key, item_id)
) WITHOUT ROWID;
INSERT INTO item_bands_waiting (band, key, item_id)
SELECT band, key, item_id FROM item_bands_new ORDER BY band, key, item_id;
DROP TABLE item_bands_new;
ALTER TABLE item_bands_waiting RENAME TO item_bands_new;
