-- As SQLite's 0029: items_change and items_retracted hold the items
-- corrected or retracted alone, not an entry for every item.
DROP INDEX items_change;
DROP INDEX items_retracted;
CREATE INDEX items_change ON items(change) WHERE change > 0;
CREATE INDEX items_retracted ON items(retracted) WHERE retracted > '';
