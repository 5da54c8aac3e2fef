-- Every version of every resource; seq is the store-wide write order.
CREATE TABLE resource_history (
  seq          INTEGER PRIMARY KEY,
  res_type     TEXT    NOT NULL,
  res_id       TEXT    NOT NULL,
  version      INTEGER NOT NULL,
  last_updated INTEGER NOT NULL,  -- microseconds since the epoch, UTC
  deleted      INTEGER NOT NULL,
  body         BLOB,              -- FHIR JSON with meta; NULL for a deletion marker
  UNIQUE (res_type, res_id, version)
);
CREATE INDEX resource_history_type_seq ON resource_history (res_type, seq);

-- The newest version of each resource, pointing into the history.
CREATE TABLE resource_current (
  res_type     TEXT    NOT NULL,
  res_id       TEXT    NOT NULL,
  version      INTEGER NOT NULL,
  last_updated INTEGER NOT NULL,
  deleted      INTEGER NOT NULL,
  seq          INTEGER NOT NULL,
  PRIMARY KEY (res_type, res_id)
) WITHOUT ROWID;

-- Token search index of current, non-deleted resources.
CREATE TABLE token_index (
  res_type TEXT NOT NULL,
  res_id   TEXT NOT NULL,
  param    TEXT NOT NULL,
  system   TEXT,
  value    TEXT NOT NULL
);
CREATE INDEX token_index_lookup ON token_index (res_type, param, value, system);
CREATE INDEX token_index_resource ON token_index (res_type, res_id);
