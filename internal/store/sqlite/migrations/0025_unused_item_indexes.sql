-- items_country and items_language date from the first schema, when feeds
-- filtered items by their columns. Filters walk item_facets now, and no
-- statement reads either index (PostgreSQL's schema never had them: the
-- EXPLAIN test passes on both engines without them), yet every release
-- stored wrote an entry in each.
DROP INDEX IF EXISTS items_country;
DROP INDEX IF EXISTS items_language;
