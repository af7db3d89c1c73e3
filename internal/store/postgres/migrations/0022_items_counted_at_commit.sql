-- As SQLite's 0031: the store counts the items it inserts, as its
-- transaction commits; the trigger counts deleted items only.
DROP TRIGGER items_counted ON items;
CREATE TRIGGER items_uncounted AFTER DELETE ON items
    FOR EACH ROW EXECUTE FUNCTION count_items();
