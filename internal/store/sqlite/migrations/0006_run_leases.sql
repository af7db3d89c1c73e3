-- A lease on each source's scheduled run, so that of several crier
-- processes sharing one database exactly one runs a source at each tick;
-- a lease whose holder died expires and the others take the source over.
ALTER TABLE sources ADD COLUMN lease_holder TEXT NOT NULL DEFAULT '';
ALTER TABLE sources ADD COLUMN lease_until TEXT NOT NULL DEFAULT '';
