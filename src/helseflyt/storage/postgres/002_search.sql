-- Search index tables (one per search parameter type) of current, non-deleted
-- resources, written by put in the same transaction as the resource; see docs/search.md.
-- Token rows stay in token_index (001).
CREATE TABLE string_index (
  res_type text NOT NULL,
  res_id   text NOT NULL,
  param    text NOT NULL,
  norm     text COLLATE "C" NOT NULL,  -- case-folded, accents removed: default and :contains
  exact    text NOT NULL    -- as written: :exact
);
CREATE INDEX string_index_lookup ON string_index (res_type, param, norm);
CREATE INDEX string_index_resource ON string_index (res_type, res_id);

CREATE TABLE date_index (
  res_type text    NOT NULL,
  res_id   text    NOT NULL,
  param    text    NOT NULL,
  low      bigint  NOT NULL,  -- epoch microseconds, first instant of the value's range
  high     bigint  NOT NULL   -- last instant (inclusive)
);
CREATE INDEX date_index_lookup ON date_index (res_type, param, low, high);
CREATE INDEX date_index_high ON date_index (res_type, param, high);
CREATE INDEX date_index_resource ON date_index (res_type, res_id);

CREATE TABLE number_index (
  res_type text NOT NULL,
  res_id   text NOT NULL,
  param    text NOT NULL,
  value    double precision NOT NULL,
  system   text,             -- quantities: unit system and code; NULL for numbers
  code     text
);
CREATE INDEX number_index_lookup ON number_index (res_type, param, value);
CREATE INDEX number_index_resource ON number_index (res_type, res_id);

CREATE TABLE reference_index (
  res_type    text NOT NULL,
  res_id      text NOT NULL,
  param       text NOT NULL,
  target_type text,           -- relative references: Type/id
  target_id   text,
  url         text            -- absolute and canonical references, version stripped
);
CREATE INDEX reference_index_lookup ON reference_index (res_type, param, target_id, target_type);
CREATE INDEX reference_index_url ON reference_index (res_type, param, url);
CREATE INDEX reference_index_resource ON reference_index (res_type, res_id);
CREATE INDEX reference_index_target ON reference_index (target_id, target_type);

CREATE TABLE uri_index (
  res_type text NOT NULL,
  res_id   text NOT NULL,
  param    text NOT NULL,
  value    text COLLATE "C" NOT NULL
);
CREATE INDEX uri_index_lookup ON uri_index (res_type, param, value);
CREATE INDEX uri_index_resource ON uri_index (res_type, res_id);
