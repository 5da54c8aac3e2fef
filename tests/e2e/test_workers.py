"""``helseflyt serve --workers 2``: real server processes sharing one port.

Which worker serves a connection is found in ``/proc`` (the worker process holding the
server side of that TCP connection), so the tests do not rely on luck to cross workers.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from helseflyt.cli import app as cli

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")


class Server:
    def __init__(self, store_url: str, data_dir: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.database = store_url
        cmd = [sys.executable, "-m", "helseflyt.cli", "serve", "--workers", "2", "--port", str(self.port)]
        env = {**os.environ, "HELSEFLYT_DATABASE": store_url, "HELSEFLYT_DATA_DIR": str(data_dir)}
        self.log = data_dir.parent / "server.log"
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(cmd, env=env, stderr=log)
        deadline = time.monotonic() + 60
        while len(self.workers()) < 2 or not self.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the server did not start: {self.log.read_text()}")
            time.sleep(0.2)

    def ready(self) -> bool:
        try:
            return self.request(self.connect(), "GET", "/fhir/metadata")[0] == 200
        except OSError:
            return False

    def workers(self) -> list[int]:
        """The worker processes: children of the server holding sockets."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.proc.pid and _sockets(int(stat.parent.name)):
                    found.append(int(stat.parent.name))
            except (OSError, ValueError, IndexError):
                continue
        return found

    def worker_of(self, conn: http.client.HTTPConnection) -> int:
        """The worker holding the server side of ``conn`` (connected, one request made)."""
        client_port = conn.sock.getsockname()[1]
        pattern = re.compile(rf"^\s*\d+: 0100007F:{self.port:04X} 0100007F:{client_port:04X} ")
        inodes = {
            line.split()[9] for line in Path("/proc/net/tcp").read_text().splitlines() if pattern.match(line)
        }
        owners = [pid for pid in self.workers() if _sockets(pid) & inodes]
        assert len(owners) == 1, (inodes, owners)
        return owners[0]

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    @staticmethod
    def request(
        conn: http.client.HTTPConnection,
        method: str,
        path: str,
        body: Any = None,
        form: bool = False,
        prefer: str | None = None,
    ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/x-www-form-urlencoded" if form else "application/fhir+json"}
        if prefer:
            headers["Prefer"] = prefer
        data = body if form else (json.dumps(body) if body is not None else None)
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else None

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


def _sockets(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


@pytest.fixture
def server(store_url: str, tmp_path: Path) -> Iterator[Server]:
    running = Server(store_url, tmp_path / "data-dir")
    yield running
    running.stop()


def one_per_worker(server: Server) -> dict[int, http.client.HTTPConnection]:
    """A keep-alive connection to each worker (new connections until both are seen)."""
    conns: dict[int, http.client.HTTPConnection] = {}
    for _ in range(200):
        conn = server.connect()
        assert server.request(conn, "GET", "/fhir/metadata")[0] == 200
        pid = server.worker_of(conn)
        if pid in conns:
            conn.close()
        else:
            conns[pid] = conn
        if len(conns) == 2:
            return conns
    raise AssertionError("200 connections all went to one worker")


def test_post_search_pages_cross_workers(server: Server) -> None:
    conns = one_per_worker(server)
    first, second = conns.values()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {"resourceType": "Patient", "name": [{"family": "Arbeider", "given": [f"P{i}"]}]},
                "request": {"method": "POST", "url": "Patient"},
            }
            for i in range(9)
        ],
    }
    assert server.request(first, "POST", "/fhir", bundle)[0] == 200
    for sealer, follower in ((first, second), (second, first)):
        query = "family=Arbeider&_count=2"
        status, page = server.request(sealer, "POST", "/fhir/Patient/_search", query, form=True)
        assert status == 200 and page["total"] == 9
        seen = [e["resource"]["id"] for e in page["entry"]]
        for turn in range(4):  # the next link, sealed by one worker, followed on the other and back
            link = next(x["url"] for x in page["link"] if x["relation"] == "next")
            assert "Arbeider" not in link and "_page=" in link
            conn = (follower, sealer)[turn % 2]
            status, page = server.request(conn, "GET", link.split("127.0.0.1:" + str(server.port), 1)[1])
            assert status == 200, page
            seen += [e["resource"]["id"] for e in page["entry"]]
        assert len(set(seen)) == 9


def test_concurrent_writes_land_and_audit_verifies(server: Server) -> None:
    clients, each = 16, 10
    workers: set[int] = set()
    pinned = list(one_per_worker(server).values())  # the kernel may give every new one to one worker

    def write(n: int) -> list[int]:
        conn = pinned[n] if n < len(pinned) else server.connect()
        statuses = []
        for i in range(each):
            body = {"resourceType": "Observation", "status": "final", "code": {"text": f"c{n}-{i}"}}
            statuses.append(server.request(conn, "POST", "/fhir/Observation", body)[0])
        workers.add(server.worker_of(conn))
        conn.close()
        return statuses

    with ThreadPoolExecutor(clients) as pool:
        statuses = [s for batch in pool.map(write, range(clients)) for s in batch]
    assert statuses == [201] * (clients * each)
    assert workers == set(server.workers())  # both workers wrote (and audited) concurrently
    status, found = server.request(server.connect(), "GET", "/fhir/Observation?_summary=count")
    assert status == 200 and found["total"] == clients * each
    server.stop()  # each worker flushes its audit events on shutdown
    result = CliRunner().invoke(cli, ["audit", "verify", "--database", server.database])
    assert result.exit_code == 0, result.output
    records = int(re.search(r"intact \((\d+) records", result.output).group(1))  # type: ignore[union-attr]
    assert records >= clients * each


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--workers", "0"], {}, "'0' is out of range"),
        (["--workers", "two"], {}, "'two' is not valid"),
        ([], {"HELSEFLYT_WORKERS": "65"}, "'65' is out of range"),
    ],
)
def test_workers_validation(args: list[str], env: dict[str, str], message: str) -> None:
    result = CliRunner().invoke(cli, ["serve", *args], env=env)
    assert result.exit_code == 2
    assert "--workers (or HELSEFLYT_WORKERS)" in result.output and message in result.output
    assert "whole number of processes from 1 to 64" in result.output


def test_a_worker_needs_the_shared_page_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from helseflyt.http.workers import PAGE_KEY_ENV, worker_app

    monkeypatch.delenv(PAGE_KEY_ENV, raising=False)
    with pytest.raises(RuntimeError, match="serve --workers"):
        worker_app()


def test_custom_parameter_reaches_the_other_worker(server: Server, birth_order: dict[str, Any]) -> None:
    (a, conn_a), (b, conn_b) = one_per_worker(server).items()
    query, strict = "/fhir/Patient?birth-order=2", "handling=strict"
    assert server.request(conn_b, "GET", query, prefer=strict)[0] == 400  # unknown parameter (b loaded)
    assert server.request(conn_a, "PUT", "/fhir/SearchParameter/birth-order", birth_order)[0] == 201
    time.sleep(1.2)  # reads look for new parameters at most once a second
    status, found = server.request(conn_b, "GET", query, prefer=strict)
    assert status == 200 and found["total"] == 0, found
    patient = {"resourceType": "Patient", "id": "p2", "multipleBirthInteger": 2}
    assert server.request(conn_b, "PUT", "/fhir/Patient/p2", patient)[0] == 201  # indexed by b
    status, found = server.request(conn_a, "GET", query, prefer=strict)
    assert status == 200 and [e["resource"]["id"] for e in found["entry"]] == ["p2"]
    assert server.worker_of(conn_b) == b
    assert server.worker_of(conn_a) == a
