-- A delivery's success no longer rewrites its row at once. The senders'
-- commits append the delivering attempts to sent_log and move the
-- subscriber's sent_through past them: a partner's deliveries go one at a
-- time and in order, so what was delivered is a prefix of its queue. A
-- delivery whose row says due (or sending) at or below its subscriber's
-- sent_through is sent, and its delivering attempt is in sent_log. When
-- the senders are idle, or the log grows long, the log is settled into
-- the rows (status sent, sent_at, sent_status, ...) in bulk and emptied.
-- A commit so writes a few pages, not a page of the table and one of the
-- owed index for each partner sending.
ALTER TABLE subscribers ADD COLUMN sent_through INTEGER NOT NULL DEFAULT 0;
CREATE TABLE sent_log (
    id          INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL,
    webhook_id  TEXT NOT NULL,
    at          TEXT NOT NULL,
    status      INTEGER NOT NULL,
    latency_ms  INTEGER NOT NULL,
    response    BLOB
);
