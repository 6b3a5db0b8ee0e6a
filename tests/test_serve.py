"""guidelinekg serve: a standard SPARQL 1.1 endpoint on loopback, read-only, time-limited, never federated.

The server runs as a subprocess on a free loopback port (``--port 0``; it announces the port it got) and
is queried with SPARQLWrapper, a standard client. No network beyond loopback is used.
"""

from __future__ import annotations

import http.client
import queue
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pyoxigraph as ox
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
    def __init__(self, store: Path, *extra: str, data_limit: int | None = None):
        """``data_limit``: an RLIMIT_DATA for the server and its workers (a test that could grow a worker
        without bound stays bounded even when the server's own limit fails); set at once, long before the
        server has started its workers, which inherit it."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "guidelinekg.cli", "serve", "--store", str(store), "--port", "0", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if data_limit:
            resource.prlimit(self.proc.pid, resource.RLIMIT_DATA, (data_limit, data_limit))
        deadline = time.monotonic() + 60
        self.lines: list[str] = []
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                raise AssertionError(f"the server stopped: {''.join(self.lines)}")
            self.lines.append(line)
            if line.startswith("listening on "):
                self.url = line.split()[2]
                self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])
                self.log: queue.Queue[str] = queue.Queue()  # the access log, read as it comes (a full pipe blocks)
                self.drain = threading.Thread(target=self._drain, daemon=True)
                self.drain.start()
                return
        raise AssertionError("the server did not announce itself in time")

    def _drain(self) -> None:
        for line in self.proc.stderr:
            self.log.put(line)

    def log_line(self, fragment: str) -> str:
        """The next access log line containing ``fragment`` (waits for it; the server writes it before it
        answers, the pipe may lag)."""
        while True:
            line = self.log.get(timeout=30)
            if fragment in line:
                return line

    def request(self, path: str = "/query", *, method: str = "GET", data: bytes | None = None,
                headers: dict | None = None) -> tuple[int, dict, bytes]:
        """One HTTP request with any headers (Host included); the status, headers and body, errors too."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=data, headers=headers or {})
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

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
            self.drain.join(30)  # the pipe ends once the server and its workers are gone
            self.proc.stdout.close()
            self.proc.stderr.close()

    def logged(self) -> list[str]:
        lines = []
        while not self.log.empty():
            lines.append(self.log.get())
        return lines


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


@pytest.mark.parametrize("text", [
    "SELECT * WHERE { ?s foo:bar ?o }",  # was a 400 with the parser's wall of Unicode character ranges
    "SELECT * WHERE { ?s ?p }\n",  # was "expected OPTIONAL" at 2:1
    "SELECT * WHERE { ?s ?p ?o } GROUP BY ?s",
    "",  # was "expected [_]"
])
def test_a_syntax_error_reads_as_it_does_on_the_command_line(server, tmp_path, capsys, text):
    """The endpoint's 400 is the message 'guidelinekg query' gives (the same code makes it), located in "query"."""
    path = tmp_path / "q.rq"
    path.write_text(text, encoding="utf-8")
    assert main(["query", str(path), "--no-guidelines"]) == 2
    cli = capsys.readouterr().err.removeprefix(f"guidelinekg query: error: {path}")
    status, headers, body = server.request("/query", method="POST", data=text.encode(),
                                           headers={"Content-Type": "application/sparql-query"})
    reply = body.decode()
    assert status == 400 and headers["content-type"].startswith("text/plain"), reply
    assert reply.splitlines()[0] == "query" + cli.splitlines()[0]
    assert len(reply.splitlines()) <= 2 and "expected" not in reply and "\\u{" not in reply
    if text.startswith("SELECT * WHERE { ?s foo:"):
        assert reply == "query:1:21: SPARQL syntax error: unknown prefix 'foo:'\n  hint: declare it with PREFIX foo: <...>\n"
    if not text:
        assert reply.startswith("query: the query is empty\n  hint: write a SELECT, ASK, CONSTRUCT or DESCRIBE query")


def test_an_unknown_prefix_the_command_line_binds_is_named_with_its_namespace(server):
    """The endpoint binds no prefixes: gkg: must be declared, and the hint says how."""
    status, _, body = server.request("/query", method="POST", data=b"SELECT * { ?s a gkg:Recommendation }",
                                     headers={"Content-Type": "application/sparql-query"})
    assert (status, body.decode()) == (400, "query:1:17: SPARQL syntax error: unknown prefix 'gkg:'\n"
                                            f"  hint: declare it with PREFIX gkg: <{GKG}>\n")


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
        for endpoint in (f"http://127.0.0.1:{port}/sparql", f"http://localhost:{port}/sparql"):
            for query in (
                f"SELECT * WHERE {{ SERVICE <{endpoint}> {{ ?s ?p ?o }} }}",
                f"SELECT * WHERE {{ SERVICE SILENT <{endpoint}> {{ ?s ?p ?o }} }}",
                f"SELECT * WHERE {{ \\u0053ERVICE <{endpoint}> {{ ?s ?p ?o }} }}",
                f"SELECT * WHERE {{ BIND(<{endpoint}> AS ?e) SERVICE ?e {{ ?s ?p ?o }} }}",
                f"SELECT * WHERE {{ ?s ?p ?o .SERVICE <{endpoint}> {{ ?s ?p ?o }} }}",
                f"PREFIX ex: <urn:x:> SELECT * WHERE {{ ?s ex:a\\# ?o . SERVICE <{endpoint}> {{ ?s ?p ?o }} }}",
                f"PREFIX ex: <urn:x:> SELECT * WHERE {{ ?s ex:a\\' ?o . SERVICE <{endpoint}> {{ ?s ?p ?o }} }} #'",
                f"SELECT * WHERE {{ FILTER NOT EXISTS {{ SERVICE <{endpoint}> {{ ?s ?p ?o }} }} }}",
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
    assert f"{tmp_path / 'none'}: no such file or directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()  # a directory that is there but holds no store
    assert main(["serve", "--store", str(tmp_path / "empty")]) == 2
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

    from guidelinekg.endpoint import serve, server

    assert doctest.testmod(server).failed == 0
    assert doctest.testmod(serve).failed == 0


# --- the WSGI app in-process --------------------------------------------------------------------------------


class EchoPool:
    """Stands in for the workers: records each request and answers 200."""

    def __init__(self):
        self.requests = []

    def run(self, request):
        from guidelinekg.endpoint.protocol import Reply

        self.requests.append(request)
        return Reply(200, "text/plain; charset=utf-8", b"ran\n")


def wsgi(app, method="GET", path="/query", query="", body=b"", **headers):
    import io

    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "wsgi.input": io.BytesIO(body),
               "CONTENT_LENGTH": str(len(body)), "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "7878",
               "wsgi.url_scheme": "http", "HTTP_HOST": "127.0.0.1:7878"}
    environ.update({k if k.startswith(("HTTP_", "CONTENT_")) else "HTTP_" + k: v for k, v in headers.items()})
    if environ.get("HTTP_HOST") is None:
        del environ["HTTP_HOST"]
    got = []
    body = b"".join(app(environ, lambda status, hdrs: got.extend([int(status.split()[0]), dict(hdrs)])))
    return got[0], got[1], body


def test_app_hosts_methods_and_cors():
    from guidelinekg.endpoint.server import SparqlApp

    pool = EchoPool()
    app = SparqlApp(pool, allowed_hosts=("sparql.example.org",), cors=("https://yasgui.example",), log=None)
    assert wsgi(app, query="query=ASK%7B%7D", HTTP_HOST="Sparql.Example.Org.:8080")[0] == 200
    assert wsgi(app, query="query=ASK%7B%7D", HTTP_HOST=None)[0] == 200  # no Host: no browser sent it
    assert wsgi(app, query="query=ASK%7B%7D", HTTP_HOST="evil.example")[0] == 403
    assert wsgi(app, "OPTIONS", HTTP_HOST="evil.example")[0] == 403  # the host check comes first
    status, headers, _ = wsgi(app, "PUT", query="query=ASK%7B%7D")
    assert status == 405 and headers["Allow"] == "GET, HEAD, POST, OPTIONS"
    status, headers, body = wsgi(app, "OPTIONS", ORIGIN="https://evil.example", ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert status == 403 and "Access-Control-Allow-Origin" not in headers and b"--cors" in body
    status, headers, _ = wsgi(app, "OPTIONS", ORIGIN="https://yasgui.example", ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert status == 204 and headers["Access-Control-Allow-Origin"] == "https://yasgui.example"
    status, headers, body = wsgi(app, "HEAD", query="query=ASK%7B%7D", ORIGIN="https://yasgui.example")
    assert (status, body, headers["Content-Length"]) == (200, b"", "4")
    assert headers["Access-Control-Allow-Origin"] == "https://yasgui.example" and headers["Vary"] == "Origin"
    star = SparqlApp(pool, cors=("*",), log=None)
    assert wsgi(star, query="query=ASK%7B%7D", ORIGIN="https://any.example")[1]["Access-Control-Allow-Origin"] == "*"
    assert wsgi(app, "POST", body=b"update=DROP%20ALL", CONTENT_TYPE="application/x-www-form-urlencoded")[0] == 403
    assert len(pool.requests) == 4


def test_app_dataset_base_and_log_lines():
    from guidelinekg.endpoint.server import SparqlApp

    pool, lines = EchoPool(), []
    app = SparqlApp(pool, log=lines.append)
    graph = "https%3A%2F%2Fexample.org%2Fg"
    wsgi(app, query=f"query=ASK%7B%7D&named-graph-uri={graph}")
    request = pool.requests[-1]
    assert request.named_graphs == ("https://example.org/g",) and request.default_graphs == ()
    assert request.base_iri == "http://127.0.0.1:7878/query"
    from guidelinekg.endpoint.protocol import dataset

    assert dataset(request) == {"default_graph": [], "named_graphs": [ox.NamedNode("https://example.org/g")],
                                "base_iri": "http://127.0.0.1:7878/query"}
    status, _, body = wsgi(app, query="query=ASK%7B%7D&default-graph-uri=%3Cnot%3E")
    assert status == 400 and b"default-graph-uri" in body
    wsgi(app, "GET", "/a\nb\"c")
    assert lines[0].startswith('- "GET /query" 200 4 ') and lines[-1].startswith('- "GET /a\\x0ab\\x22c" 404 ')


# --- the protocol, through the running server ---------------------------------------------------------------


def test_host_header_must_name_the_endpoint(server):
    """DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 sends Host: evil.example."""
    query = "/query?query=ASK%20%7B%7D"
    for host in ("evil.example", f"evil.example:{server.port}", "127.0.0.1.evil.example", "", "a b"):
        status, _, body = server.request(query, headers={"Host": host})
        assert status == 403 and b"--allow-host" in body, (host, body)
    for host in (f"127.0.0.1:{server.port}", "localhost", f"LOCALHOST:{server.port}", f"[::1]:{server.port}"):
        status, _, body = server.request(query, headers={"Host": host})
        assert status == 200 and b"true" in body, (host, body)


def test_service_description_without_a_query(server):
    status, headers, body = server.request("/query")
    assert status == 200 and headers["content-type"].startswith("text/turtle")
    graph = ox.Store()
    graph.load(body, format=ox.RdfFormat.TURTLE)
    sd = "http://www.w3.org/ns/sparql-service-description#"
    service = ox.NamedNode(server.url)
    assert ox.Quad(service, ox.NamedNode(sd + "endpoint"), service, ox.DefaultGraph()) in graph
    assert ox.Quad(service, ox.NamedNode(sd + "supportedLanguage"), ox.NamedNode(sd + "SPARQL11Query"),
                   ox.DefaultGraph()) in graph
    status, headers, body = server.request("/query", method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0


def test_relative_iris_resolve_against_the_endpoint(server):
    from urllib.parse import quote

    status, _, body = server.request("/query?query=" + quote("CONSTRUCT { <s> <p> 1 } WHERE {}"),
                                     headers={"Accept": "application/n-triples"})
    assert status == 200, body
    base = server.url.rsplit("/", 1)[0]
    assert body.decode().strip() == f'<{base}/s> <{base}/p> "1"^^<http://www.w3.org/2001/XMLSchema#integer> .'


def test_named_graph_uri_alone_leaves_the_default_graph_empty(server):
    from urllib.parse import quote

    count = quote("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
    named = quote("SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }")
    graph = quote(VERSION, safe="")
    rows = {}
    for name, path in {"union": f"/query?query={count}", "default": f"/query?query={count}&named-graph-uri={graph}",
                       "named": f"/query?query={named}&named-graph-uri={graph}",
                       "only-default": f"/query?query={named}&default-graph-uri={graph}"}.items():
        status, _, body = server.request(path, headers={"Accept": "text/csv"})
        assert status == 200, body
        rows[name] = int(body.decode().split()[1])
    assert rows["union"] > rows["named"] > 0
    assert rows["default"] == 0 and rows["only-default"] == 0


@pytest.mark.parametrize(("content_type", "body", "message"), [
    ("application/sparql-query; charset=ISO-8859-1", "ASK { ?s ?p 'caf\u00e9' }".encode("latin-1"), b"UTF-8"),
    ("application/sparql-query", b"ASK { ?s ?p 'caf\xe9' }", b"not valid UTF-8"),
    ("application/sparql-query; charset=utf-16", "ASK {}".encode("utf-16"), b"UTF-8"),
    ("application/x-www-form-urlencoded", b"query=ASK%20%7B%3Fs%20%3Fp%20%27caf%E9%27%7D", b"UTF-8"),
    ("application/x-www-form-urlencoded; charset=windows-1252", b"query=ASK%20%7B%7D", b"UTF-8"),
])
def test_a_body_that_is_not_utf8_is_a_400(server, content_type, body, message):
    status, _, reply = server.request("/query", method="POST", data=body, headers={"Content-Type": content_type})
    assert status == 400 and message in reply, reply


def test_utf8_bodies_and_parameters_are_read(server):
    from urllib.parse import quote

    query = "ASK { FILTER('caf\u00e9' = 'caf\u00e9') }"
    for content_type, body in (("application/sparql-query; charset=UTF-8", query.encode()),
                               ("application/x-www-form-urlencoded", b"query=" + quote(query).encode())):
        status, _, reply = server.request("/query", method="POST", data=body, headers={"Content-Type": content_type})
        assert status == 200 and b"true" in reply, reply
    status, _, reply = server.request("/query?query=ASK%20%7B%7D%FF")
    assert status == 400 and b"UTF-8" in reply


def test_a_bad_graph_iri_is_a_400_and_the_workers_live_on(server):
    for param in ("default-graph-uri", "named-graph-uri"):
        status, _, body = server.request(f"/query?query=ASK%20%7B%7D&{param}=not%20an%20iri")
        assert status == 400 and param.encode() in body, body
    assert int(server.select(COUNT)[0]["n"]["value"]) > 0


def test_each_request_is_logged(server):
    status, _, _ = server.request("/query?query=ASK%20%7B%7D")
    assert status == 200
    line = server.log_line('"GET /query" 200')
    fields = line.split()
    assert fields[0] == "127.0.0.1" and fields[4].isdigit() and fields[5].endswith("ms")
    assert "ASK" not in line  # the query string (which may name a patient) is not logged
    server.request("/nothing%0Ahere")
    assert "\\x0a" in server.log_line(" 404 ")


def test_quiet_allow_host_and_cors(store):
    s = Server(store, "--quiet", "--workers", "1", "--allow-host", "sparql.example.org",
               "--cors", "https://yasgui.example")
    try:
        status, headers, _ = s.request("/query?query=ASK%20%7B%7D", headers={"Host": "sparql.example.org:80",
                                                                              "Origin": "https://yasgui.example"})
        assert status == 200 and headers["access-control-allow-origin"] == "https://yasgui.example"
        status, headers, _ = s.request("/query", method="OPTIONS", headers={
            "Origin": "https://yasgui.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        assert status == 204 and "POST" in headers["access-control-allow-methods"]
        assert "content-type" in headers["access-control-allow-headers"].lower()
        status, headers, body = s.request("/query?query=ASK%20%7B%7D", headers={"Origin": "https://evil.example"})
        assert status == 403 and "access-control-allow-origin" not in headers and b"--cors" in body
    finally:
        assert s.stop() == 0
    assert not [line for line in s.logged() if '"GET' in line or '"OPTIONS' in line]


def test_no_cors_headers_unless_asked(server):
    status, headers, _ = server.request("/query?query=ASK%20%7B%7D", headers={"Origin": "https://yasgui.example"})
    assert status == 403 and not [h for h in headers if h.startswith("access-control-")]
    status, headers, _ = server.request("/query", method="OPTIONS")
    assert status == 204 and "HEAD" in headers["allow"] and "access-control-allow-origin" not in headers
    status, headers, body = server.request("/query?query=ASK%20%7B%7D", method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0


@pytest.mark.parametrize(("argv", "message"), [
    (["--port", "99999"], "--port '99999' is not a port"),
    (["--port", "-1"], "--port '-1' is not a port"),
    (["--port", "65536"], "not a port"),
    (["--port", "http"], "not a port"),
    (["--host", "not a host"], "--host 'not a host' is not an IP address or a host name"),
    (["--host", "999.1.1.1"], "not an IP address"),
    (["--host", ""], "not an IP address"),
    (["--allow-host", "evil.example/x"], "--allow-host"),
    (["--cors", "yasgui.example"], "--cors 'yasgui.example' is not an origin"),
    (["--max-memory", "100"], "--max-memory '100' is not a memory size"),
    (["--max-memory", "2T"], "--max-memory"),
])
def test_bad_options_are_one_line_exit_2(tmp_path, capsys, argv, message):
    assert main(["serve", "--store", str(tmp_path / "none"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


# --- cross-site requests, memory, connections ---------------------------------------------------------------

CARTESIAN = "SELECT * { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i } ORDER BY ?i ?c LIMIT 1"


def test_app_refuses_cross_site_requests_unless_cors_allows_the_origin():
    """CSRF: a link, an image, a form or a script of any page the user visits can send a query; a browser
    says where it comes from (Origin, Sec-Fetch-Site), and only pages of a --cors origin may query."""
    from guidelinekg.endpoint.server import SparqlApp

    pool = EchoPool()
    app = SparqlApp(pool, cors=("https://yasgui.example",), log=None)
    form = {"body": b"query=ASK%7B%7D", "CONTENT_TYPE": "application/x-www-form-urlencoded"}
    refused = [
        ("GET", {"ORIGIN": "https://evil.example"}),
        ("HEAD", {"ORIGIN": "https://evil.example"}),
        ("POST", {"ORIGIN": "https://evil.example", **form}),
        ("POST", {"ORIGIN": "null", **form}),  # a sandboxed frame, a file: page
        ("GET", {"ORIGIN": "http://127.0.0.1:7879"}),  # another port of this host is another origin
        ("GET", {"SEC_FETCH_SITE": "cross-site"}),  # a link or an image: no Origin
        ("GET", {"SEC_FETCH_SITE": "same-site"}),
        ("POST", {"SEC_FETCH_SITE": "cross-site", **form}),
    ]
    for method, headers in refused:
        status, got, body = wsgi(app, method, query="" if method == "POST" else "query=ASK%7B%7D", **headers)
        assert status == 403 and "Access-Control-Allow-Origin" not in got, (method, headers)
        assert method == "HEAD" or b"cross-site request refused" in body
    assert pool.requests == []  # none of them reached a worker
    allowed = [
        ("GET", {}),  # curl, SPARQLWrapper, Jena: no browser headers
        ("GET", {"ORIGIN": "https://yasgui.example", "SEC_FETCH_SITE": "cross-site"}),
        ("POST", {"ORIGIN": "https://yasgui.example", **form}),
        ("POST", {"ORIGIN": "http://127.0.0.1:7878", "SEC_FETCH_SITE": "same-origin", **form}),  # its own origin
        ("GET", {"SEC_FETCH_SITE": "none"}),  # typed into the address bar
        ("GET", {"SEC_FETCH_SITE": "same-origin"}),
    ]
    for method, headers in allowed:
        status, _, _ = wsgi(app, method, query="" if method == "POST" else "query=ASK%7B%7D", **headers)
        assert status == 200, (method, headers)
    star = SparqlApp(pool, cors=("*",), log=None)
    for method, headers in refused:
        assert wsgi(star, method, query="" if method == "POST" else "query=ASK%7B%7D", **headers)[0] == 200


def test_a_cross_site_request_is_refused_by_the_running_server(server):
    from urllib.parse import quote

    status, _, body = server.request(f"/query?query={quote(COUNT)}", headers={"Sec-Fetch-Site": "cross-site"})
    assert status == 403 and b"--cors" in body
    status, _, _ = server.request("/query", method="POST", data=b"query=ASK%7B%7D", headers={
        "Origin": "https://evil.example", "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 403


def test_a_query_over_the_memory_limit_is_stopped_and_its_worker_replaced(store):
    """A cartesian product sorted for ORDER BY grew a worker to 10 GB within the time limit. The server is
    started under a 4 GiB cap of its own, so that this test cannot take the machine's memory if the
    endpoint's limit (512 MiB here) were not applied."""
    s = Server(store, "--workers", "1", "--max-memory", "512M", "--timeout", "120", "--quiet", data_limit=4 << 30)
    try:
        assert "512 MiB per query worker" in "".join(s.lines)
        status, _, body = s.request("/query", method="POST", data=CARTESIAN.encode(),
                                    headers={"Content-Type": "application/sparql-query"})
        assert status == 503 and b"--max-memory" in body and b"512 MiB" in body, body
        assert int(s.select(COUNT)[0]["n"]["value"]) > 0  # a fresh worker answers the next query
        assert len([pid for pid in s.children() if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()]) == 1
    finally:
        assert s.stop() == 0


@pytest.mark.parametrize(("value", "expected"), [("2G", 2 << 30), ("768M", 768 << 20), ("512MiB", 512 << 20),
                                                 ("1024", 1 << 30), ("0", None)])
def test_max_memory_values(value, expected):
    from guidelinekg.endpoint.serve import check_memory

    assert check_memory(value) == expected


def test_the_connection_limits_reach_waitress():
    """Slowloris: waitress's defaults (100 connections, a silent one closed after 120 s, checked every 30 s)
    let 101 half-sent requests stop the server for minutes."""
    from guidelinekg.endpoint.serve import CONNECTION_LIMITS, make_server
    from guidelinekg.endpoint.server import SparqlApp

    server = make_server(SparqlApp(EchoPool(), log=None), host="127.0.0.1", port=0, threads=1, max_body=1 << 20)
    try:
        adj = server.adj
        assert (adj.channel_timeout, adj.cleanup_interval, adj.connection_limit) == (15, 5, 500)
        assert adj.asyncore_use_poll is True and adj.ident == "guidelinekg"
        assert CONNECTION_LIMITS["channel_timeout"] <= 15 and CONNECTION_LIMITS["connection_limit"] >= 500
    finally:
        server.close()


def test_many_half_sent_requests_do_not_stop_the_server(server):
    """150 connections that send the start of a request and then nothing: the server still answers."""
    idle = []
    try:
        for _ in range(150):
            conn = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            conn.sendall(f"GET /query HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n".encode())
            idle.append(conn)
        status, _, body = server.request("/query?query=ASK%20%7B%7D")
        assert status == 200 and b"true" in body
    finally:
        for conn in idle:
            conn.close()
