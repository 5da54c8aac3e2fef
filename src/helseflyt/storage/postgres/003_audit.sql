-- The audit trail (helseflyt.audit, docs/audit.md): append-only, hash-chained.
-- body is the AuditEvent's canonical JSON (served verbatim); hash = SHA-256(previous
-- hash || body) as hex; seq is gapless (1, 2, 3, ...) so a deleted row shows as a gap.
-- recorded, org, review are derived from body for the review list and date filters.
CREATE TABLE audit_event (
  seq      bigint  PRIMARY KEY,
  id       text    NOT NULL UNIQUE,
  recorded bigint  NOT NULL,   -- epoch microseconds, UTC
  org      text,               -- the agent's organisation number, if any
  review   integer NOT NULL,   -- 1: emergency or self-declared access, to follow up
  body     bytea   NOT NULL,
  hash     text    NOT NULL
);
CREATE INDEX audit_event_recorded ON audit_event (recorded);
CREATE INDEX audit_event_review ON audit_event (review, org, recorded);

-- The patients each record concerns (derived from body, for the access log).
CREATE TABLE audit_patient (
  patient  text   NOT NULL,   -- Patient id
  recorded bigint NOT NULL,
  seq      bigint NOT NULL
);
CREATE INDEX audit_patient_lookup ON audit_patient (patient, recorded);

-- The application never updates or deletes audit rows; the database refuses it too.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit records are append-only (% on %)', TG_OP, TG_TABLE_NAME;
END
$$;
CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_patient_append_only BEFORE UPDATE OR DELETE ON audit_patient
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_patient_no_truncate BEFORE TRUNCATE ON audit_patient
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
