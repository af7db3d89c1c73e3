-- What a subscriber is, as a column rather than read from its id: a
-- partner's webhook, or a WebSub subscription to this hub.
ALTER TABLE subscribers ADD COLUMN kind TEXT NOT NULL DEFAULT 'webhook';
UPDATE subscribers SET kind = 'websub' WHERE id LIKE 'websub:%';
CREATE INDEX subscribers_kind ON subscribers(kind);
