-- Where an item's date comes from: stated, inferred or first_seen (with
-- first_seen, published is when crier first saw it, never shown as a
-- publication date). Items stored before knew only date_known.
ALTER TABLE items ADD COLUMN date_source TEXT NOT NULL DEFAULT 'stated';
UPDATE items SET date_source = 'first_seen' WHERE date_known = 0;
-- When crier first saw each copy of a release (_crier.origins).
ALTER TABLE documents ADD COLUMN first_seen TEXT NOT NULL DEFAULT '';
UPDATE documents SET first_seen = fetched;
