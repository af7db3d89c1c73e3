-- items_change and items_retracted held an entry for every item, though
-- only the items corrected or retracted have a change or a retraction to
-- find. As partial indexes they hold those alone, and every release
-- stored writes two index entries fewer. The queries that read them say
-- change > 0 and retracted > '' (SQLite uses a partial index only for a
-- query whose conditions include the index's own).
DROP INDEX items_change;
DROP INDEX items_retracted;
CREATE INDEX items_change ON items(change) WHERE change > 0;
CREATE INDEX items_retracted ON items(retracted) WHERE retracted > '';
