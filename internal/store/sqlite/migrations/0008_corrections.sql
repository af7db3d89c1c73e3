-- Corrections and retractions. change is the items counter when an item
-- last changed (its text corrected, or retracted): subscribers follow it
-- with a second cursor to receive items.updated and items.deleted. A
-- retracted item leaves every feed; its row stays so that Atom feeds can
-- carry a tombstone for it and partners can be told.
ALTER TABLE items ADD COLUMN change INTEGER NOT NULL DEFAULT 0;
ALTER TABLE items ADD COLUMN retracted TEXT NOT NULL DEFAULT '';
CREATE INDEX items_change ON items(change);
CREATE INDEX items_retracted ON items(retracted);
-- A subscriber's deliveries are numbered 1, 2, 3… (payload "sequence").
ALTER TABLE subscribers ADD COLUMN change_cursor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subscribers ADD COLUMN sequence INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN sequence INTEGER NOT NULL DEFAULT 0;
UPDATE subscribers SET change_cursor = (SELECT value FROM counters WHERE name = 'items');
