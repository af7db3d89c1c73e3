-- Only owed deliveries are indexed by state: a sent delivery leaves the
-- index of its subscriber's queue. A subscriber's owed deliveries in
-- order (its queue and its head), and the outbox's depth, are read from
-- this partial index alone.
CREATE INDEX deliveries_owed ON deliveries(subscriber_id, id) WHERE status IN ('due', 'sending');
-- The deliveries claimed by a sender, found without walking the queue:
-- whether one of a subscriber's is in flight, and the claims a sender
-- renews or gives back.
CREATE INDEX deliveries_sending ON deliveries(subscriber_id, claimed_until) WHERE status = 'sending';
DROP INDEX deliveries_pending;
DROP INDEX deliveries_due;
DROP INDEX deliveries_status;
