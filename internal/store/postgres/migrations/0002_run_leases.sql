-- A lease on each source's scheduled run (see the SQLite migration 0006).
ALTER TABLE sources ADD COLUMN lease_holder TEXT NOT NULL DEFAULT '';
ALTER TABLE sources ADD COLUMN lease_until TEXT COLLATE "C" NOT NULL DEFAULT '';
