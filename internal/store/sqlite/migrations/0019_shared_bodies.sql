-- The part of a payload every partner gets the same (its items) is stored
-- once however many partners are owed it: a delivery's body row keeps its
-- own part (the envelope), and the shared part, by hash, goes in at split.
CREATE TABLE shared_bodies (
    hash    TEXT PRIMARY KEY,
    content BLOB NOT NULL
);
ALTER TABLE delivery_bodies ADD COLUMN shared TEXT;
ALTER TABLE delivery_bodies ADD COLUMN split INTEGER NOT NULL DEFAULT 0;
