-- Full-text search over title and body (?q=): FTS5, case- and accent-
-- insensitive, kept in step with items by triggers (a correction is
-- indexed again, a retraction leaves the index).
CREATE VIRTUAL TABLE items_fts USING fts5(title, body, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2');
INSERT INTO items_fts (rowid, title, body) SELECT id, title, content_text FROM items WHERE retracted = '';
CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
    INSERT INTO items_fts (rowid, title, body) VALUES (new.id, new.title, new.content_text);
END;
CREATE TRIGGER items_fts_update AFTER UPDATE OF title, content_text, retracted ON items BEGIN
    DELETE FROM items_fts WHERE rowid = old.id;
    INSERT INTO items_fts (rowid, title, body) SELECT new.id, new.title, new.content_text WHERE new.retracted = '';
END;
CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
    DELETE FROM items_fts WHERE rowid = old.id;
END;
