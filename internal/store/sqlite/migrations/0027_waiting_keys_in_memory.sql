-- The near-duplicate keys of the items stored since the last merge no
-- longer wait in a table: each process holds them in memory, read from
-- the items' signatures above the watermark bands_merged (waitingKeys in
-- internal/store). item_bands_new took sixteen rows and two index entries
-- a release, each on a random page, so that a source run of fifty
-- releases rewrote most of its pages; a merge then deleted them again.
-- Its keys move into item_bands, and every item's keys are merged.
INSERT INTO item_bands (band, key, item_id)
SELECT band, key, item_id FROM item_bands_new WHERE true ORDER BY band, key, item_id
ON CONFLICT DO NOTHING;
DROP TABLE item_bands_new;
DELETE FROM counters WHERE name = 'bands_new';
INSERT INTO counters (name, value) SELECT 'bands_merged', coalesce(max(id), 0) FROM items;
