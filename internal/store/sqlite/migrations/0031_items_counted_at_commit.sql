-- As the facet rows in 0030: the store counts the items it inserts in Go
-- and adds them to item_count as its transaction commits; the trigger ran
-- a statement for every release. A migration that inserts items must
-- count them itself. Deleted items are still counted by items_uncounted.
DROP TRIGGER items_counted;
