-- item_facets without its foreign key: SQLite checked, for each of the
-- ten or so facet rows a release stores, that its item exists, a lookup
-- in items each. Items are never deleted (a retraction keeps the row), so
-- the key's cascade never ran, and a release's facets are inserted after
-- its item, in its transaction.
CREATE TABLE item_facets_new (
    facet   TEXT NOT NULL,
    item_id INTEGER NOT NULL,
    PRIMARY KEY (facet, item_id)
) WITHOUT ROWID;
INSERT INTO item_facets_new (facet, item_id) SELECT facet, item_id FROM item_facets ORDER BY facet, item_id;
DROP TABLE item_facets;
ALTER TABLE item_facets_new RENAME TO item_facets;
CREATE INDEX item_facets_item ON item_facets(item_id);
CREATE TRIGGER item_facets_uncounted AFTER DELETE ON item_facets BEGIN
    UPDATE facet_counts SET n = n - 1 WHERE facet = old.facet;
END;
