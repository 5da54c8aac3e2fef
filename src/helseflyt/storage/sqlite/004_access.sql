-- Emergency access grants (helseflyt.access.policy, docs/access.md): a practitioner who
-- declares AKUTT or FORHOYET_AKUTT (with a reason) for a patient may see that patient's
-- data until expires, without declaring again. Written by the server only; not a FHIR
-- resource, so no client can create or change one through the API.
CREATE TABLE access_grant (
  actor      TEXT    NOT NULL,  -- "hpr:<HPR-number>" (or "pid:<fnr>" without one)
  patient_id TEXT    NOT NULL,  -- Patient id
  basis      TEXT    NOT NULL,  -- AKUTT | FORHOYET_AKUTT
  reason     TEXT    NOT NULL,
  granted    INTEGER NOT NULL,  -- epoch microseconds, UTC
  expires    INTEGER NOT NULL
);
CREATE INDEX access_grant_lookup ON access_grant (actor, patient_id, expires);
