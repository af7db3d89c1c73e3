-- Where an item's date comes from, and when each copy was first seen (see
-- the SQLite migration 0007).
ALTER TABLE items ADD COLUMN date_source TEXT NOT NULL DEFAULT 'stated';
ALTER TABLE documents ADD COLUMN first_seen TEXT COLLATE "C" NOT NULL DEFAULT '';
