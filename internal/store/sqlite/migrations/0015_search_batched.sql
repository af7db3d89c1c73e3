-- Items stored in a transaction are indexed for search once, at its end
-- (Store.flushSearch), rather than one by one. FTS5 writes what it holds
-- in memory to disk as a new segment at every statement that follows an
-- index write in the same transaction, so indexing item by item made one
-- segment per item, and merging those segments cost more than the rest of
-- an ingest into a store of a million items. The insert trigger now only
-- notes the item; corrections and retractions of items already indexed
-- are applied at once, as before.
CREATE TABLE fts_pending (id INTEGER PRIMARY KEY);

DROP TRIGGER items_fts_insert;
CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
    INSERT OR IGNORE INTO fts_pending (id) VALUES (new.id);
END;

DROP TRIGGER items_fts_update;
CREATE TRIGGER items_fts_update AFTER UPDATE OF title, content_text, retracted ON items
WHEN NOT EXISTS (SELECT 1 FROM fts_pending WHERE id = old.id) BEGIN
    DELETE FROM items_fts WHERE rowid = old.id;
    INSERT INTO items_fts (rowid, title, body) SELECT new.id, new.title, new.content_text WHERE new.retracted = '';
END;

DROP TRIGGER items_fts_delete;
CREATE TRIGGER items_fts_delete AFTER DELETE ON items
WHEN NOT EXISTS (SELECT 1 FROM fts_pending WHERE id = old.id) BEGIN
    DELETE FROM items_fts WHERE rowid = old.id;
END;
CREATE TRIGGER items_fts_delete_pending AFTER DELETE ON items
WHEN EXISTS (SELECT 1 FROM fts_pending WHERE id = old.id) BEGIN
    DELETE FROM fts_pending WHERE id = old.id;
END;
