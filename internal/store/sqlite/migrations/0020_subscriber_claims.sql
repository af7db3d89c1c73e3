-- A sender's claim on a run of deliveries is its subscriber's: the
-- subscriber's owed deliveries up to claimed_through are in flight until
-- claimed_until, and no other sender takes them meanwhile. A claim then
-- writes one row however long the run, and a delivery's row is written
-- when it is created and when it is sent, not also when it is claimed.
-- Claims taken under the old rule lapse: their deliveries are due again,
-- under the same webhook-ids.
ALTER TABLE subscribers ADD COLUMN claimed_until TEXT NOT NULL DEFAULT '';
ALTER TABLE subscribers ADD COLUMN claimed_through INTEGER NOT NULL DEFAULT 0;
UPDATE deliveries SET status = 'due', claimed_until = '' WHERE status = 'sending';
DROP INDEX deliveries_sending;
