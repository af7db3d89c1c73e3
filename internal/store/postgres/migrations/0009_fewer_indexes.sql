-- No query walks a source's documents by item any more (filters use
-- item_facets): one index fewer to write for every document.
DROP INDEX documents_source_item;
