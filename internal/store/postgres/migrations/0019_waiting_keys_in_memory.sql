-- The near-duplicate keys of the items stored since the last merge no
-- longer wait in a table (see the SQLite migration 0027): each process
-- holds them in memory, read from the items' signatures above the
-- watermark bands_merged. item_bands loses its index by item and its
-- foreign key: keys are removed by their values, computed from the
-- item's signature, and items are never deleted.
INSERT INTO item_bands (band, key, item_id)
SELECT band, key, item_id FROM item_bands_new ORDER BY band, key, item_id
ON CONFLICT DO NOTHING;
DROP TABLE item_bands_new;
DELETE FROM counters WHERE name = 'bands_new';
INSERT INTO counters (name, value) SELECT 'bands_merged', coalesce(max(id), 0) FROM items;
ALTER TABLE item_bands DROP CONSTRAINT IF EXISTS item_bands_item_id_fkey;
DROP INDEX IF EXISTS item_bands_item;
