-- The audit trail (helseflyt.audit, docs/audit.md): append-only, hash-chained.
-- body is the AuditEvent's canonical JSON (served verbatim); hash = SHA-256(previous
-- hash || body) as hex; seq is gapless (1, 2, 3, ...) so a deleted row shows as a gap.
-- recorded, org, review are derived from body for the review list and date filters.
CREATE TABLE audit_event (
  seq      INTEGER PRIMARY KEY,
  id       TEXT    NOT NULL UNIQUE,
  recorded INTEGER NOT NULL,   -- epoch microseconds, UTC
  org      TEXT,               -- the agent's organisation number, if any
  review   INTEGER NOT NULL,   -- 1: emergency or self-declared access, to follow up
  body     BLOB    NOT NULL,
  hash     TEXT    NOT NULL
);
CREATE INDEX audit_event_recorded ON audit_event (recorded);
CREATE INDEX audit_event_review ON audit_event (review, org, recorded);

-- The patients each record concerns (derived from body, for the access log).
CREATE TABLE audit_patient (
  patient  TEXT    NOT NULL,   -- Patient id
  recorded INTEGER NOT NULL,
  seq      INTEGER NOT NULL
);
CREATE INDEX audit_patient_lookup ON audit_patient (patient, recorded);

CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER audit_patient_no_update BEFORE UPDATE ON audit_patient
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER audit_patient_no_delete BEFORE DELETE ON audit_patient
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
