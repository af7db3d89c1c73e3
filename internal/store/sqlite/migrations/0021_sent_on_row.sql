-- The attempt that delivered a delivery is kept on the delivery's row,
-- written by the same update that marks it sent; attempts keeps the
-- others (failures, and a delivering attempt once the delivery is
-- replayed). Deliveries sent before this migration have their attempts
-- in attempts already, and sent_status 0.
ALTER TABLE deliveries ADD COLUMN sent_status INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN sent_latency_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN sent_response BLOB;
