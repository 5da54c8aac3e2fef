-- Emergency access grants (helseflyt.access.policy, docs/access.md): a practitioner who
-- declares AKUTT or FORHOYET_AKUTT (with a reason) for a patient may see that patient's
-- data until expires, without declaring again. Written by the server only; not a FHIR
-- resource, so no client can create or change one through the API.
CREATE TABLE access_grant (
  actor      text    NOT NULL,  -- "hpr:<HPR-number>" (or "pid:<fnr>" without one)
  patient_id text    NOT NULL,  -- Patient id
  basis      text    NOT NULL,  -- AKUTT | FORHOYET_AKUTT
  reason     text    NOT NULL,
  granted    bigint  NOT NULL,  -- epoch microseconds, UTC
  expires    bigint  NOT NULL
);
CREATE INDEX access_grant_lookup ON access_grant (actor, patient_id, expires);
