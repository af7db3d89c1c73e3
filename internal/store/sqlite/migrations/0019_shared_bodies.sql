-- The part of a payload every partner gets the same (its items) is stored
-- once however many partners are owed it, by hash; a delivery that shares
-- one keeps its own part (the envelope) in delivery_parts, and the shared
-- part goes in at split. Such a delivery has no row in delivery_bodies, so
-- a crier from before this migration, finding no body, leaves it alone
-- rather than send half of it.
CREATE TABLE shared_bodies (
    hash    TEXT PRIMARY KEY,
    content BLOB NOT NULL
);
CREATE TABLE delivery_parts (
    delivery_id INTEGER PRIMARY KEY REFERENCES deliveries(id) ON DELETE CASCADE,
    own         BLOB NOT NULL,
    shared      TEXT NOT NULL,
    split       INTEGER NOT NULL
);
