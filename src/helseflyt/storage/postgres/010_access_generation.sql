-- The access generation (storage/access/sets.py): bumped by every transaction that
-- changes what the per-request access sets read (citizen-control Consents, Patients,
-- practitioners, organisations, emergency grants), just before it commits. Readers
-- reuse the sets they computed at the same generation. ``epoch`` is new per database,
-- so a database recreated under the same URL never matches an older one's sets.
CREATE TABLE access_generation (
  id    integer PRIMARY KEY CHECK (id = 1),
  epoch text    NOT NULL,
  n     bigint  NOT NULL
);
INSERT INTO access_generation (id, epoch, n)
  VALUES (1, md5(random()::text || clock_timestamp()::text || txid_current()::text), 0);
