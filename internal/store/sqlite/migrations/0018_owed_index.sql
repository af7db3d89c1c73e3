-- Only owed deliveries are indexed by state: claiming a delivery and
-- giving a claim back change no index, and a sent delivery leaves one.
-- A subscriber's owed deliveries in order (its queue and its head), and
-- the outbox's depth, are read from this partial index alone.
CREATE INDEX deliveries_owed ON deliveries(subscriber_id, id) WHERE status IN ('due', 'sending');
DROP INDEX deliveries_pending;
DROP INDEX deliveries_due;
DROP INDEX deliveries_status;
