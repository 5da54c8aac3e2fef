"""The cost of authorisation + audit on typical searches, per backend.

    .venv/bin/python bench/access_bench.py [--limit N] [--queries Q] [--reuse-tokens]
                                           [--backends sqlite,postgres] [--postgres URL]

Loads the Synthea sample with the full search indexer, gives the organisation with the
most encounters a Norwegian organisasjonsnummer and one of its patients a
fødselsnummer, then runs searches of ``bench/search_bench.py`` through the ASGI app
in-process (``helseflyt.http.testing.Client``), after ``ANALYZE`` (without planner
statistics PostgreSQL picks nested loops that cost seconds here):

* ``open``: open development mode, no audit trail (the baseline);
* ``system`` / ``practitioner`` / ``patient``: bearer token (validated), authorisation
  filter in SQL and the audit trail on (with ``--audit-split`` also system and
  practitioner with the audit trail off: what authorisation alone adds). Each request
  has a new token (its signature is checked every time); with ``--reuse-tokens`` each
  actor keeps one token, as a client does while its token is valid (the validator's
  cache skips the signature). The
  practitioner works at that organisation (care relationship through its encounters;
  ``access_care_days`` is set to 100 years because Synthea's encounters are old); the
  patient token is that one patient's.

The actors take turns request by request (after a few warm-up rounds), so a slower or
busier stretch of the run hits every actor alike. It prints p50/p99 per query and actor
and the added latency at p50 against ``open``; also the median CPU time of this process
per request (``cpu``: all its threads, the audit writer included; not the PostgreSQL
server's), which a machine busy with other work disturbs much less than wall time.
With ``--reader`` it also times ``Reader.search`` with and without the practitioner's
filter, built as a request builds it (the SQL cost alone, CPU time). With ``--build`` it
only times building the access SQL of a practitioner with 600 allowed patients (no
database): the predicate and the per-request sets statement, as a request gets them
(cached per filter) and built afresh.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from storage_bench import POSTGRES, synthea_resources

from helseflyt.access.principal import CLAIM_HPR, CLAIM_ORGNR_CHILD, CLAIM_ORGNR_PARENT, CLAIM_PID
from helseflyt.access.testing import AUDIENCE, ISSUER, TestIssuer
from helseflyt.app import create_app
from helseflyt.http.testing import Client
from helseflyt.search.index import index
from helseflyt.search.parse import parse
from helseflyt.search.plan import build_query
from helseflyt.settings import Settings
from helseflyt.storage import Store, open_store
from helseflyt.storage.access.statements import clear_all
from helseflyt.storage.sql_access import AccessFilter, care_patients, predicate, request_sets
from helseflyt.storage.testing import drop_schema, with_schema

ORGNR, FNR, HPR = "974703475", "13116900216", "565501879"
ACTORS = ("open", "system", "practitioner", "patient")
UNAUDITED = " no audit"
SPLIT = ("system" + UNAUDITED, "practitioner" + UNAUDITED)  # --audit-split: authorisation alone
WARM_UP = 5  # rounds not counted (first plans, caches)
ORGNR_SYSTEM, FNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.101", "urn:oid:2.16.578.1.12.4.1.4.1"
QUERIES = [
    ("Observation", [("code", "http://loinc.org|8302-2"), ("_sort", "-date"), ("_count", "10")]),
    ("Condition", [("clinical-status", "active")]),
    ("Patient", [("name", "a")]),
    ("Encounter", [("date", "ge2015-01-01"), ("date", "lt2016-01-01")]),
    ("Observation", [("value-quantity", "gt100")]),
    ("Encounter", [("date", "ge2015-01-01"), ("date", "lt2016-01-01"), ("_include", "Encounter:subject")]),
]


@contextmanager
def store_for(backend: str, pg: str) -> Iterator[Store]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            store = open_store(f"sqlite:///{tmp}/bench.db", indexer=index)
            try:
                yield store
            finally:
                store.close()
        return
    schema = f"hf_abench_{uuid.uuid4().hex[:12]}"
    store = open_store(with_schema(pg, schema), indexer=index)
    try:
        yield store
    finally:
        store.close()
        drop_schema(pg, schema)


def resolve(items: list[Any]) -> list[Any]:
    """Synthea's ``urn:uuid:`` references as ``Type/id`` (what a transaction would make of
    them), so that resources link to their patients."""
    where = {f"urn:uuid:{i}": f"{t}/{i}" for t, i, _ in items}

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            out = {k: walk(v) for k, v in value.items()}
            ref = out.get("reference")
            if isinstance(ref, str) and ref in where:
                out["reference"] = where[ref]
            return out
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return [(t, i, walk(r)) for t, i, r in items]


def prepare(store: Store, items: list[Any]) -> tuple[str, str]:
    """Load; give the busiest serviceProvider an orgnr and one of its patients an FNR."""
    items = resolve(items)
    for at in range(0, len(items), 1000):
        with store.transaction() as tx:
            tx.put_many(items[at : at + 1000])
    with store.reader() as r:
        conn = r.conn  # type: ignore[attr-defined]
        org, _ = conn.query(
            "SELECT target_id, count(*) FROM reference_index WHERE res_type = 'Encounter'"
            " AND param = 'service-provider' AND target_type = 'Organization'"
            " GROUP BY target_id ORDER BY count(*) DESC LIMIT 1"
        )[0]
        (patient,) = conn.query(
            "SELECT p.target_id FROM reference_index p JOIN reference_index s ON s.res_type = p.res_type"
            " AND s.res_id = p.res_id WHERE p.res_type = 'Encounter' AND p.param = 'patient'"
            " AND s.param = 'service-provider' AND s.target_id = ? ORDER BY p.target_id LIMIT 1",
            [org],
        )[0]
        org_body = json.loads(r.read("Organization", org).body)  # type: ignore[union-attr]
        pat_body = json.loads(r.read("Patient", patient).body)  # type: ignore[union-attr]
    org_body.setdefault("identifier", []).append({"system": ORGNR_SYSTEM, "value": ORGNR})
    pat_body.setdefault("identifier", []).append({"system": FNR_SYSTEM, "value": FNR})
    with store.transaction() as tx:
        tx.put("Organization", org, org_body)
        tx.put("Patient", patient, pat_body)
    with store.transaction() as tx:  # planner statistics, as autovacuum / a served database has them
        conn = tx.conn  # type: ignore[attr-defined]
        (conn.run if hasattr(conn, "run") else conn.query)("ANALYZE")
    return org, patient


def p(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] * 1000


def reader_costs(store: Store, backend: str, n: int) -> None:
    """``Reader.search`` (page and count) without and with the practitioner's filter,
    built as a request builds it (per-request sets, care relationships): the SQL cost
    alone, as CPU time of this thread (the median of ``n``; with SQLite the query runs in
    this thread, with PostgreSQL only the client's part does)."""
    now = int(time.time() * 1e6)
    f = AccessFilter(
        role="practitioner",
        hpr=HPR,
        orgnrs=(ORGNR,),
        actor=f"hpr:{HPR}",
        now=now,
        care_since=now - 36500 * 86_400_000_000,
        postgres=backend == "postgres",
    )
    with store.reader() as r:
        conn = r.conn  # type: ignore[attr-defined]
        care = care_patients(conn, f, 20_000)
        f = replace(request_sets(conn, f, bases=True)[0], care_ids=None if care is None else tuple(care))
    for res_type, pairs in QUERIES[:5]:
        query = build_query(parse(pairs, [res_type]), [res_type])
        row = []
        for q in (query, replace(query, access=f)):
            samples = []
            for _ in range(n):
                with store.reader() as r:
                    start = time.thread_time()
                    r.search(q)
                    samples.append(time.thread_time() - start)
            row.append(p(samples, 50))
        text = "&".join(f"{k}={v}" for k, v in pairs)
        print(
            f"{backend:8} Reader.search {res_type}?{text:58}"
            f" plain {row[0]:7.2f} ms  filtered {row[1]:7.2f} ms CPU"
        )


def build_costs(n: int = 3000) -> None:
    """µs to get the access SQL of one request: cached (as requests get it) and fresh."""

    class Recorder:  # stands in for a connection: the statement is built, not run
        def query(self, sql: str, args: list[Any]) -> list[Any]:
            return []

    now = int(time.time() * 1e6)
    f = AccessFilter(role="practitioner", hpr=HPR, orgnrs=(ORGNR,), actor=f"hpr:{HPR}", now=now)
    known = replace(
        request_sets(Recorder(), f, bases=True)[0], care_ids=tuple(f"p{i:04}" for i in range(600))
    )

    def timed(run: Any) -> float:
        start = time.perf_counter()
        for i in range(n):
            run(i)
        return (time.perf_counter() - start) / n * 1e6

    cases = [
        ("request_sets statement", lambda i: request_sets(Recorder(), replace(f, now=now + i), bases=True)),
        ("predicate Patient", lambda i: predicate(replace(known, now=now + i), "c", ("Patient",), [])),
        (
            "predicate Observation, driving",
            lambda i: predicate(replace(known, now=now + i), "c", ("Observation",), [], drive=True),
        ),
    ]
    for name, run in cases:
        cached = timed(run)
        fresh = timed(lambda i, run=run: (clear_all(), run(i)))
        print(f"{name:32} cached {cached:7.1f} us   built afresh {fresh:7.1f} us")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--postgres", default=POSTGRES)
    ap.add_argument("--reader", action="store_true", help="also time Reader.search with/without the filter")
    ap.add_argument("--build", action="store_true", help="only time building the access SQL (no database)")
    ap.add_argument(
        "--audit-split",
        action="store_true",
        help="also system and practitioner with the audit trail off (authorisation alone)",
    )
    ap.add_argument(
        "--reuse-tokens", action="store_true", help="one token per actor (a client that keeps its token)"
    )
    args = ap.parse_args()
    if args.build:
        build_costs()
        return
    items = synthea_resources(args.limit)
    print(f"{len(items)} resources")
    issuer = TestIssuer()
    tokens = {
        "system": issuer.claims("system", scope="system/*.rs"),
        "practitioner": issuer.claims(
            "practitioner", **{CLAIM_HPR: HPR, CLAIM_ORGNR_PARENT: ORGNR, CLAIM_ORGNR_CHILD: None}
        ),
        "patient": issuer.claims("patient", **{CLAIM_PID: FNR}),
    }
    kept = {a: issuer.token({**c, "jti": a}) for a, c in tokens.items()} if args.reuse_tokens else {}
    for backend in args.backends.split(","):
        with store_for(backend, args.postgres) as store, tempfile.TemporaryDirectory() as tmp:
            org, patient = prepare(store, items)
            jwks = Path(tmp) / "jwks.json"
            jwks.write_text(json.dumps(issuer.jwks()))
            care = 36500  # Synthea's encounters are years old: all count as recent
            open_app = create_app(Settings(data_dir=tmp, access_care_days=care), store=store, audit=False)
            secure = Settings(
                data_dir=tmp,
                auth="jwks",
                auth_jwks=str(jwks),
                auth_issuer=ISSUER,
                auth_audience=AUDIENCE,
                access_care_days=care,
            )
            actors = ACTORS + (SPLIT if args.audit_split else ())
            unaudited = create_app(secure, store=store, audit=False)
            with (
                Client(open_app) as plain,
                Client(create_app(secure, store=store)) as api,
                Client(unaudited) as unlogged,
            ):
                for res_type, pairs in QUERIES:
                    text = "&".join(f"{k}={v}" for k, v in pairs)
                    samples: dict[str, list[float]] = {actor: [] for actor in actors}
                    cpu: dict[str, list[float]] = {actor: [] for actor in actors}
                    hits: dict[str, int] = {}
                    for i in range(WARM_UP + args.queries):  # actors alternate: drift hits all alike
                        for actor in actors:
                            client = plain if actor == "open" else unlogged if actor in SPLIT else api
                            role = actor.removesuffix(UNAUDITED)
                            headers = {}
                            if actor != "open":  # a fresh token per request (validation is part of the cost)
                                fresh = {**tokens[role], "jti": uuid.uuid4().hex}
                                token = kept.get(role) or issuer.token(fresh)
                                headers["authorization"] = f"Bearer {token}"
                            start, start_cpu = time.perf_counter(), time.process_time()
                            response = client.get(res_type, params=pairs, headers=headers)
                            elapsed = time.perf_counter() - start
                            used = time.process_time() - start_cpu
                            assert response.status_code == 200, response.text
                            if i >= WARM_UP:
                                samples[actor].append(elapsed)
                                cpu[actor].append(used)
                            hits[actor] = len(response.json().get("entry", ()))
                    base, base_cpu = p(samples["open"], 50), p(cpu["open"], 50)
                    for actor in actors:
                        p50, p99, c50 = p(samples[actor], 50), p(samples[actor], 99), p(cpu[actor], 50)
                        extra_pct = ""
                        if actor != "open":
                            extra_pct = f"  {100 * (p50 - base) / base:+6.1f}% p50"
                            extra_pct += f"  {100 * (c50 - base_cpu) / base_cpu:+6.1f}% cpu"
                        print(
                            f"{backend:8} {res_type}?{text:58} {actor:21} {hits[actor]:>3} hits"
                            f"  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  cpu {c50:6.2f} ms{extra_pct}"
                        )
                if args.reader:
                    reader_costs(store, backend, args.queries)
            print(f"{backend:8} (organisation {org}, patient {patient})")


if __name__ == "__main__":
    main()
