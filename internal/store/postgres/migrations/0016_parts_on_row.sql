-- A delivery that shares its items' part with other partners keeps its
-- own part (the envelope), the hash of the shared part and where it goes
-- on its own row: one row written per delivery, not two, and none joined
-- to read it. Whole bodies stay in delivery_bodies, out of the rows a
-- sender updates.
ALTER TABLE deliveries ADD COLUMN own BYTEA;
ALTER TABLE deliveries ADD COLUMN shared TEXT;
ALTER TABLE deliveries ADD COLUMN split INTEGER;
UPDATE deliveries SET own = p.own, shared = p.shared, split = p.split FROM delivery_parts p WHERE p.delivery_id = deliveries.id;
DROP TABLE delivery_parts;
