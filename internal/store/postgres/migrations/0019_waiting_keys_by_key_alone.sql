-- The near-duplicate keys lose their indexes by item and their foreign
-- keys (see the SQLite migration 0027): an item's keys are removed by
-- their values, computed from its stored signature, and items are never
-- deleted. Each key stored writes one index entry instead of two and
-- checks no parent row.
ALTER TABLE item_bands_new DROP CONSTRAINT IF EXISTS item_bands_new_item_id_fkey;
DROP INDEX IF EXISTS item_bands_new_item;
ALTER TABLE item_bands DROP CONSTRAINT IF EXISTS item_bands_item_id_fkey;
DROP INDEX IF EXISTS item_bands_item;
