"""guidelinekg serve: a standard SPARQL 1.1 endpoint on loopback, read-only, time-limited, never federated.

The server runs as a subprocess on a free loopback port (``--port 0``; it announces the port it got) and
is queried with SPARQLWrapper, a standard client. No network beyond loopback is used.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from SPARQLWrapper import JSON, POST, SPARQLWrapper
from SPARQLWrapper.SPARQLExceptions import QueryBadFormed

from guidelinekg.cli import main
from guidelinekg.content.resources import project_home
from guidelinekg.endpoint.protocol import negotiate, uses_service

EXAMPLE = project_home() / "examples" / "patient-ferritin-45.json"
GKG = "https://w3id.org/guidelinekg/ontology#"
VERSION = "https://w3id.org/guidelinekg/guideline/rls-iron/v2025-12-23"
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"


class Server:
    def __init__(self, store: Path, *extra: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "guidelinekg.cli", "serve", "--store", str(store), "--port", "0", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        self.lines: list[str] = []
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                raise AssertionError(f"the server stopped: {''.join(self.lines)}")
            self.lines.append(line)
            if line.startswith("listening on "):
                self.url = line.split()[2]
                return
        raise AssertionError("the server did not announce itself in time")

    def client(self, query: str, *, method: str | None = None) -> SPARQLWrapper:
        sparql = SPARQLWrapper(self.url)
        sparql.setQuery(query)
        sparql.setReturnFormat(JSON)
        if method:
            sparql.setMethod(method)
        sparql.setTimeout(60)
        return sparql

    def select(self, query: str) -> list[dict]:
        return self.client(query).queryAndConvert()["results"]["bindings"]

    def children(self) -> list[int]:
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                pids.append(int(stat.parent.name))
        return pids

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        finally:
            self.proc.stdout.close()
            self.proc.stderr.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("serve")
    assert (
        main(
            [
                "recommend",
                str(EXAMPLE),
                "--as-of",
                "2026-01-15",
                "--provenance",
                str(root / "run.ttl"),
                "--format",
                "json",
            ]
        )
        == 0
    )
    assert main(["load", "--store", str(root / "store"), "--guidelines", str(root / "run.ttl")]) == 0
    return root / "store"


@pytest.fixture(scope="module")
def server(store):
    s = Server(store, "--timeout", "2")
    yield s
    s.stop()


def test_binds_loopback_by_default_and_answers_a_select(server):
    assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/query")
    rows = server.select(f"""PREFIX gkg: <{GKG}>
        SELECT ?statement ?status WHERE {{ ?r a gkg:RecommendationResult ; gkg:instantiates ?statement ;
        gkg:status ?status ; gkg:guidelineVersion <{VERSION}> }} ORDER BY ?statement""")
    assert len(rows) == 4 and {r["status"]["value"] for r in rows} == {GKG + "Made"}
    graphs = {r["g"]["value"] for r in server.select("SELECT DISTINCT ?g WHERE { GRAPH ?g { } }")}
    assert VERSION in graphs and any(g.startswith("urn:guidelinekg:run:") for g in graphs)


def test_get_and_content_negotiation(server):
    from urllib.parse import quote

    construct = quote(
        f"CONSTRUCT {{ <{VERSION}> ?p ?o }} WHERE {{ GRAPH <{VERSION}> {{ <{VERSION}> ?p ?o }} }}"
    )
    with urllib.request.urlopen(f"{server.url}?query={construct}", timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/turtle")
        assert b"reviewStatus" in response.read()
    request = urllib.request.Request(
        f"{server.url}?query={quote('ASK { ?s ?p ?o }')}",
        headers={"Accept": "text/csv;q=0.5, application/sparql-results+xml"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Content-Type"] == "application/sparql-results+xml"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{server.url}?query={quote('SELEC nothing')}", timeout=30)
    assert err.value.code == 400


def test_updates_are_rejected_and_change_nothing(server):
    before = server.select(COUNT)[0]["n"]["value"]
    update = server.client("INSERT DATA { GRAPH <urn:x> { <urn:a> <urn:b> <urn:c> } }", method=POST)
    with pytest.raises(urllib.error.HTTPError) as err:
        update.query()
    assert err.value.code == 403 and b"read-only" in err.value.read()
    body = b"DROP ALL"
    request = urllib.request.Request(
        server.url, data=body, headers={"Content-Type": "application/sparql-update"}
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=30)
    assert err.value.code == 403
    assert server.select(COUNT)[0]["n"]["value"] == before


def test_a_query_over_the_time_limit_is_stopped(server):
    expensive = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?p ?b . ?c ?q ?d . ?e ?r ?f . ?g ?s ?h }"
    started = time.monotonic()
    with pytest.raises(urllib.error.HTTPError) as err:
        server.client(expensive).query()
    elapsed = time.monotonic() - started
    assert err.value.code == 503 and b"time limit" in err.value.read()
    assert 1.5 < elapsed < 15
    assert int(server.select(COUNT)[0]["n"]["value"]) > 0  # a fresh worker answers the next query


def test_service_is_refused_without_any_connection(server):
    """A SERVICE call would be an HTTP request from the server: it is refused before evaluation. A loopback
    listener named in the query proves that no connection is even attempted."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(1)
    port = listener.getsockname()[1]
    connections: list = []

    def accept():
        try:
            connections.append(listener.accept())
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        for endpoint in (f"http://127.0.0.1:{port}/sparql", "http://example.org/sparql"):
            for query in (
                f"SELECT * WHERE {{ SERVICE <{endpoint}> {{ ?s ?p ?o }} }}",
                f"SELECT * WHERE {{ SERVICE SILENT <{endpoint}> {{ ?s ?p ?o }} }}",
                f"SELECT * WHERE {{ \\u0053ERVICE <{endpoint}> {{ ?s ?p ?o }} }}",
                f"SELECT * WHERE {{ BIND(<{endpoint}> AS ?e) SERVICE ?e {{ ?s ?p ?o }} }}",
            ):
                with pytest.raises(urllib.error.HTTPError) as err:
                    server.client(query).query()
                assert err.value.code == 403 and b"SERVICE" in err.value.read()
        thread.join()
    finally:
        listener.close()
    assert connections == []


def test_stops_cleanly_with_its_workers(store):
    s = Server(store, "--workers", "2")
    workers = s.children()
    assert workers
    assert s.stop() == 0
    time.sleep(0.5)
    assert not [
        pid
        for pid in workers
        if Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    ]


def test_no_store_exits_2(tmp_path, capsys):
    assert main(["serve", "--store", str(tmp_path / "none")]) == 2
    assert "no store here" in capsys.readouterr().err


@pytest.mark.parametrize(
    "query, expected",
    [
        ("SELECT * { SERVICE <http://x/> { ?s ?p ?o } }", True),
        ("select * { service silent <http://x/> { ?s ?p ?o } }", True),
        ("SELECT * { SERVICE ?e { ?s ?p ?o } }", True),
        ("SELECT * {\n  ?s ?p ?o }\n#SERVICE <http://x/>", False),
        ('SELECT * { ?s ?p "SERVICE <http://x/> {}" }', False),
        ("SELECT * { ?s ?p '''a\nSERVICE <http://x/> { }''' }", False),
        ("SELECT * { ?s <http://x/SERVICE> ?o }", False),
        ("PREFIX service: <http://x/> SELECT * { ?s service:SERVICE ?o }", False),
        ("SELECT ?service { ?service ?p ?o }", False),
        ("SELECT * { ?s ?p ?o FILTER(?o<?s) SERVICE<http://x/>{ ?a ?b ?c } }", True),
        (r"SELECT * { \u0053ERVICE <http://x/> { ?s ?p ?o } }", True),
    ],
)
def test_service_detection(query, expected):
    assert uses_service(query) is expected


def test_negotiation():
    offers = {"application/sparql-results+json": 1, "text/csv": 2}
    assert negotiate(None, offers) == "application/sparql-results+json"
    assert negotiate("text/*", offers) == "text/csv"
    assert negotiate("text/csv;q=0.9, application/sparql-results+json;q=0.1", offers) == "text/csv"
    assert negotiate("image/png", offers) is None
    assert negotiate("*/*;q=0", offers) is None


def test_bad_query_is_a_client_error(server):
    with pytest.raises(QueryBadFormed):
        server.client("SELECT WHERE").query()


def test_loading_while_serving_is_refused(server, store, capsys):
    assert main(["load", "--store", str(store), "--guidelines"]) == 2
    assert "stop the server before loading" in capsys.readouterr().err


def test_docstring_examples():
    import doctest

    from guidelinekg.endpoint import server as module

    assert doctest.testmod(module).failed == 0
