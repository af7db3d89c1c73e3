-- Corrections and retractions (see the SQLite migration 0008).
ALTER TABLE items ADD COLUMN change BIGINT NOT NULL DEFAULT 0;
ALTER TABLE items ADD COLUMN retracted TEXT COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX items_change ON items(change);
CREATE INDEX items_retracted ON items(retracted);
ALTER TABLE subscribers ADD COLUMN change_cursor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE subscribers ADD COLUMN sequence BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN sequence BIGINT NOT NULL DEFAULT 0;
UPDATE subscribers SET change_cursor = (SELECT value FROM counters WHERE name = 'items');
