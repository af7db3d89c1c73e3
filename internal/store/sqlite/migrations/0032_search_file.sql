-- The search index moves to a database file of its own beside the
-- store's (sqlite.SearchPath), written by a connection of its own: its
-- indexing and merges no longer hold the store's one writer, which a
-- source's run waited for (0.9 ms a run on average in the ingest bench,
-- up to 31 ms). The store now logs each item whose text may have changed
-- in search_log, in its own transaction; the search index applies the
-- log in order and records the last entry it applied. changed is 0 for
-- an item just inserted, which the index cannot hold yet, and 1 for an
-- item updated or deleted, whose old entries the index deletes first.
-- The index is made again from the items when it is missing, is of
-- another store (search_epoch) or is behind what the log still holds:
-- this migration leaves it to be made (the old index in this file is
-- dropped).
DROP TRIGGER items_fts_insert;
DROP TRIGGER items_fts_update;
DROP TRIGGER items_fts_delete;
DROP TRIGGER items_fts_delete_pending;
DROP TABLE fts_pending;
DROP TABLE items_fts;
CREATE TABLE search_log (
    seq     INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL,
    changed INTEGER NOT NULL
);
CREATE TRIGGER search_log_insert AFTER INSERT ON items BEGIN
    INSERT INTO search_log (item_id, changed) VALUES (new.id, 0);
END;
CREATE TRIGGER search_log_update AFTER UPDATE OF title, content_text, retracted ON items BEGIN
    INSERT INTO search_log (item_id, changed) VALUES (new.id, 1);
END;
CREATE TRIGGER search_log_delete AFTER DELETE ON items BEGIN
    INSERT INTO search_log (item_id, changed) VALUES (old.id, 1);
END;
-- Names this store for its search index: a copy of the index beside
-- another store is not taken for this one's.
INSERT INTO counters (name, value) VALUES ('search_epoch', abs(random()) % 1000000000000);
