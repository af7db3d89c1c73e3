-- Full-text search over title and body (?q=): a tsvector in each item's
-- language (french, english, spanish, else simple), so that word forms
-- match, over text lower-cased and stripped of accents, kept in step by
-- PostgreSQL itself (a generated column).
ALTER TABLE items ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector(
        CASE language WHEN 'fr' THEN 'french'::regconfig WHEN 'en' THEN 'english'::regconfig
                      WHEN 'es' THEN 'spanish'::regconfig ELSE 'simple'::regconfig END,
        translate(lower(title || ' ' || content_text),
            'àáâãäåçèéêëìíîïñòóôõöùúûüýÿœæ', 'aaaaaaceeeeiiiinooooouuuuyyoa'))
) STORED;
CREATE INDEX items_search ON items USING gin (search);
