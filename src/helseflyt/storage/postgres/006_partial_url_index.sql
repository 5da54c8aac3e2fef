-- reference_index.url is set only for absolute and canonical references (NULL for the
-- relative Type/id ones, nearly all rows): the url index holds only the rows that have
-- one. A search by url (`url = ?`) implies `url IS NOT NULL`, so it still uses the index;
-- every insert of a relative reference skips one B-tree (docs/storage.md, bulk load).
DROP INDEX reference_index_url;
CREATE INDEX reference_index_url ON reference_index (res_type, param, url) WHERE url IS NOT NULL;
