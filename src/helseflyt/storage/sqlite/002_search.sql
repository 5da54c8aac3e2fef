-- Search index tables (one per search parameter type) of current, non-deleted
-- resources, written by put in the same transaction as the resource; see docs/search.md.
-- Token rows stay in token_index (001).
CREATE TABLE string_index (
  res_type TEXT NOT NULL,
  res_id   TEXT NOT NULL,
  param    TEXT NOT NULL,
  norm     TEXT NOT NULL,   -- case-folded, accents removed: default and :contains
  exact    TEXT NOT NULL    -- as written: :exact
);
CREATE INDEX string_index_lookup ON string_index (res_type, param, norm);
CREATE INDEX string_index_resource ON string_index (res_type, res_id);

CREATE TABLE date_index (
  res_type TEXT    NOT NULL,
  res_id   TEXT    NOT NULL,
  param    TEXT    NOT NULL,
  low      INTEGER NOT NULL,  -- epoch microseconds, first instant of the value's range
  high     INTEGER NOT NULL   -- last instant (inclusive)
);
CREATE INDEX date_index_lookup ON date_index (res_type, param, low, high);
CREATE INDEX date_index_high ON date_index (res_type, param, high);
CREATE INDEX date_index_resource ON date_index (res_type, res_id);

CREATE TABLE number_index (
  res_type TEXT NOT NULL,
  res_id   TEXT NOT NULL,
  param    TEXT NOT NULL,
  value    REAL NOT NULL,
  system   TEXT,             -- quantities: unit system and code; NULL for numbers
  code     TEXT
);
CREATE INDEX number_index_lookup ON number_index (res_type, param, value);
CREATE INDEX number_index_resource ON number_index (res_type, res_id);

CREATE TABLE reference_index (
  res_type    TEXT NOT NULL,
  res_id      TEXT NOT NULL,
  param       TEXT NOT NULL,
  target_type TEXT,           -- relative references: Type/id
  target_id   TEXT,
  url         TEXT            -- absolute and canonical references, version stripped
);
CREATE INDEX reference_index_lookup ON reference_index (res_type, param, target_id, target_type);
CREATE INDEX reference_index_url ON reference_index (res_type, param, url);
CREATE INDEX reference_index_resource ON reference_index (res_type, res_id);
CREATE INDEX reference_index_target ON reference_index (target_id, target_type);

CREATE TABLE uri_index (
  res_type TEXT NOT NULL,
  res_id   TEXT NOT NULL,
  param    TEXT NOT NULL,
  value    TEXT NOT NULL
);
CREATE INDEX uri_index_lookup ON uri_index (res_type, param, value);
CREATE INDEX uri_index_resource ON uri_index (res_type, res_id);
