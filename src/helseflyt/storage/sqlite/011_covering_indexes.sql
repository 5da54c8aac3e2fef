-- Covering search indexes (docs/search.md, "Covering indexes"): each index that a search
-- walks carries every column the search reads from it, so that the database answers
-- from the index alone and never visits the table row (a random page per row in a large
-- database). Lookup indexes (a driver: the rows matching a value) end in res_id;
-- resource indexes (a probe of one resource's rows, _include, deletes) carry the
-- tested and returned columns after (res_type, res_id).
DROP INDEX IF EXISTS token_index_lookup;
CREATE INDEX token_index_lookup ON token_index (res_type, param, value, system, res_id);
DROP INDEX IF EXISTS token_index_resource;
CREATE INDEX token_index_resource ON token_index (res_type, res_id, param, value, system);
DROP INDEX IF EXISTS string_index_lookup;
CREATE INDEX string_index_lookup ON string_index (res_type, param, norm, res_id);
DROP INDEX IF EXISTS reference_index_lookup;
CREATE INDEX reference_index_lookup ON reference_index (res_type, param, target_id, target_type, res_id);
DROP INDEX IF EXISTS reference_index_resource;
CREATE INDEX reference_index_resource ON reference_index (res_type, res_id, param, target_type, target_id);
DROP INDEX IF EXISTS date_index_span;
CREATE INDEX date_index_span ON date_index (res_type, param, span, low, high, res_id);
DROP INDEX IF EXISTS date_index_resource;
CREATE INDEX date_index_resource ON date_index (res_type, res_id, param, low, high);
