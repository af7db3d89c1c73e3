-- The search index's background merge (Store.mergeSearch) merges sixteen
-- segments of a level at a time, not FTS5's default four, and FTS5's own
-- crisis merge inside a writer's commit waits for 32 segments on a level,
-- not 16, so that the background merge reaches a level first. An item's
-- entries are rewritten once a level: with sixteen a merge, about half as
-- many times over the life of the index (log16 against log4 of its size
-- in segments), at the cost of up to sixteen segments a level for a
-- search to read instead of four.
INSERT INTO items_fts (items_fts, rank) VALUES ('usermerge', 16);
INSERT INTO items_fts (items_fts, rank) VALUES ('crisismerge', 32);
