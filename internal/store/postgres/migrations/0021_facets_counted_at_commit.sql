-- As SQLite's 0030: the store counts the facet rows it inserts, as its
-- transaction commits; the trigger counts deleted rows only.
DROP TRIGGER item_facets_counted ON item_facets;
CREATE TRIGGER item_facets_uncounted AFTER DELETE ON item_facets
    FOR EACH ROW EXECUTE FUNCTION count_facets();
