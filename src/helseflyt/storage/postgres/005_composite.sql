-- Composite search parameters (docs/search.md): one row per element instance and
-- combination of its component values, so that all components of a match come from
-- the same element (e.g. one Observation.component). Slot 1 is a token (system1, value1)
-- or a reference (type in system1, id or URL in value1); slot 2 a token (system2,
-- value2), a quantity or number (number2, unit system2, code value2), a date (low2,
-- high2: epoch microseconds, inclusive) or a string (normalised in value2, as written in
-- system2); slot 3 a number (number3).
CREATE TABLE composite_index (
  res_type text NOT NULL,
  res_id   text NOT NULL,
  param    text NOT NULL,
  system1  text,
  value1   text,
  system2  text,
  value2   text COLLATE "C",
  number2  double precision,
  low2     bigint,
  high2    bigint,
  number3  double precision
);
CREATE INDEX composite_index_lookup ON composite_index (res_type, param, value1, system1);
CREATE INDEX composite_index_resource ON composite_index (res_type, res_id);
