-- Pair facets: for every item, one row per two facets of different kinds
-- among country, language and topic ("p:c:mr&t:climate"). A filter on two
-- kinds walks the items that have both, so a rare intersection costs what
-- it returns, not what its rarer side holds. facet_counts counts them too,
-- through the existing triggers.
INSERT INTO item_facets (facet, item_id)
SELECT 'p:' || a.facet || '&' || b.facet, a.item_id
FROM item_facets a JOIN item_facets b ON b.item_id = a.item_id AND b.facet > a.facet
WHERE substr(a.facet, 1, 2) IN ('c:', 'l:', 't:')
  AND substr(b.facet, 1, 2) IN ('c:', 'l:', 't:')
  AND substr(a.facet, 1, 1) != substr(b.facet, 1, 1)
ON CONFLICT DO NOTHING;
