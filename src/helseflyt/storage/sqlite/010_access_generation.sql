-- The access generation (storage/access/sets.py): bumped by every transaction that
-- changes what the per-request access sets read (citizen-control Consents, Patients,
-- practitioners, organisations, emergency grants), just before it commits. Readers
-- reuse the sets they computed at the same generation. ``epoch`` is new per database,
-- so a database recreated under the same URL never matches an older one's sets.
CREATE TABLE access_generation (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  epoch TEXT    NOT NULL,
  n     INTEGER NOT NULL
);
INSERT INTO access_generation (id, epoch, n) VALUES (1, lower(hex(randomblob(16))), 0);
