-- The store counts the facet rows it inserts in Go and adds the counts to
-- facet_counts as its transaction commits, a statement for many facets;
-- the trigger ran a statement for every row (13 a release). A migration
-- that inserts facet rows must count them itself. Deleted rows are still
-- counted by item_facets_uncounted.
DROP TRIGGER item_facets_counted;
