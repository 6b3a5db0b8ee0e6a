"""SERVICE (federation) is refused by ``query`` and ``serve`` on the parsed query, never on its text alone.

A real TCP listener on 127.0.0.1 (port 0, in a thread) is named in every SERVICE IRI: it must see no
connection. The bypasses of the old token scanner (SERVICE right after ``.``, after an escaped local name
such as ``ex:a\\#`` or ``ex:a\\'``) are checked one by one, through the ``query`` command and through the
serve WSGI app in-process; Hypothesis then embeds SERVICE clauses in varied contexts and checks texts
without one are let through. No network beyond loopback; no timed assertion.
"""

from __future__ import annotations

import io
import socket
import threading

import pyoxigraph as ox
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guidelinekg import cli
from guidelinekg.endpoint.protocol import QueryRequest, Reply, execute, federation, uses_service
from guidelinekg.endpoint.server import SparqlApp


class Listener:
    """A loopback TCP listener that records (and closes) every connection made to it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/sparql"
        self.connections: list[tuple] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            self.connections.append(peer)
            conn.close()

    def pending(self) -> list:
        """Connections made so far. An engine that called out has had its connection accepted (and closed,
        which is how its call ended) before it returned, so this needs no waiting."""
        return list(self.connections)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join()


@pytest.fixture(scope="module")
def listener():
    server = Listener()
    yield server
    server.close()
    assert server.connections == [], "a SERVICE call reached the listener"


def bypasses(url: str) -> dict[str, str]:
    """The forms that got past the token scanner, and the plain forms, each naming ``url``."""
    ex = "PREFIX ex: <https://example.org/>\n"
    return {
        "after-dot": f"SELECT * WHERE {{ ?s ?p ?o .SERVICE <{url}> {{ ?s ?p ?o }} }}",
        "after-dot-space": f"SELECT * WHERE {{ ?s ?p ?o . SERVICE <{url}> {{ ?s ?p ?o }} }}",
        "after-escaped-hash": ex + f"SELECT * WHERE {{ ?s ex:a\\# ?o . SERVICE <{url}> {{ ?s ?p ?o }} }}",
        "after-escaped-hash-newline": ex + f"SELECT * WHERE {{ ?s ?p ex:a\\#\nSERVICE <{url}> {{ ?s ?p ?o }} }}",
        "after-escaped-quote": ex + f"SELECT * WHERE {{ ?s ex:a\\' ?o . SERVICE <{url}> {{ ?s ?p ?o }} }} # '",
        "after-escaped-dquote": ex + f"SELECT * WHERE {{ ?s ex:a\\\" ?o . SERVICE <{url}> {{ ?s ?p ?o }} }} # \"",
        "unicode-escaped": f"SELECT * WHERE {{ \\u0053ERVICE <{url}> {{ ?s ?p ?o }} }}",
        "in-filter-exists": f"SELECT * WHERE {{ ?s ?p ?o FILTER EXISTS {{ SERVICE <{url}> {{ ?s ?p ?o }} }} }}",
        "in-sub-select": f"SELECT * WHERE {{ {{ SELECT * WHERE {{ SERVICE SILENT <{url}> {{ ?s ?p ?o }} }} }} }}",
        "variable-target": f"SELECT * WHERE {{ BIND(<{url}> AS ?e) SERVICE ?e {{ ?s ?p ?o }} }}",
    }


BYPASSES = sorted(bypasses("http://127.0.0.1:9/"))


@pytest.mark.parametrize("name", BYPASSES)
def test_query_refuses_each_bypass(listener, tmp_path, capsys, name):
    path = tmp_path / "q.rq"
    path.write_text(bypasses(listener.url)[name], encoding="utf-8")
    code = cli.main(["query", str(path), "--no-guidelines"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert "SERVICE" in err and "refused" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2  # the message and its hint
    assert listener.pending() == []


class InProcessPool:
    """The serve app's pool, with the worker's ``execute`` run in this process on a small store."""

    def __init__(self):
        self.store = ox.Store()
        self.store.add(ox.Quad(ox.NamedNode("urn:a"), ox.NamedNode("urn:b"), ox.Literal("c"), ox.NamedNode("urn:g")))
        self.requests: list[QueryRequest] = []

    def run(self, request: QueryRequest) -> Reply:
        self.requests.append(request)
        return execute(self.store, request)


def call(app, method: str, path: str = "/query", *, query: str = "", body: bytes = b"", headers=None):
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "7878", "HTTP_HOST": "127.0.0.1:7878", "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http", "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": "127.0.0.1",
    }
    environ.update(headers or {})
    status: list = []
    chunks = app(environ, lambda s, h: status.extend([s, dict(h)]))
    return int(status[0].split()[0]), status[1], b"".join(chunks)


@pytest.mark.parametrize("name", BYPASSES)
def test_serve_app_refuses_each_bypass(listener, name):
    from urllib.parse import urlencode

    pool = InProcessPool()
    app = SparqlApp(pool, log=None)
    text = bypasses(listener.url)[name]
    for method, kwargs in (
        ("GET", {"query": urlencode({"query": text})}),
        ("POST", {"body": text.encode(), "headers": {"CONTENT_TYPE": "application/sparql-query"}}),
        ("POST", {"body": urlencode({"query": text}).encode(),
                  "headers": {"CONTENT_TYPE": "application/x-www-form-urlencoded"}}),
    ):
        status, _, body = call(app, method, **kwargs)
        assert status == 403 and b"SERVICE" in body, (method, body)
    assert pool.requests and listener.pending() == []  # the worker's own check refused them
    status, _, body = call(app, "GET", query=urlencode({"query": 'SELECT ?o { GRAPH ?g { ?s ?p ?o } } # SERVICE'}),
                           headers={"HTTP_ACCEPT": "text/csv"})
    assert (status, body) == (200, b"o\r\nc\r\n")


def test_the_listener_would_see_a_call(listener):
    """The harness works: an unchecked engine does call the listener (then the connection is forgotten)."""
    before = len(listener.connections)
    with pytest.raises(Exception):  # noqa: B017 - the listener closes the connection at once
        list(ox.Store().query(f"SELECT * WHERE {{ SERVICE <{listener.url}> {{ ?s ?p ?o }} }}"))
    assert len(listener.connections) == before + 1
    del listener.connections[before:]


# --- Hypothesis: SERVICE in varied contexts -------------------------------------------------------------

ESCAPED_LOCALS = ["\\#", "\\'", '\\"', "\\.x", "\\-", "\\~", "\\(", "\\)", "\\/", "\\?", "\\@", "\\%", "\\,",
                  "\\;", "\\=", "\\!", "\\$", "\\&", "\\*", "\\+", "\\_"]
COMMENTS = ["", " ", "\n", "\t", "# SERVICE <http://127.0.0.1:1/> { ?s ?p ?o }\n", "#'\n", '#"\n', "# }\n"]
# Each a whole pattern (ending with '.' where a triple follows) that mentions 'service' or quotes oddly;
# {n} makes its variables fresh.
PATTERNS = [
    ' FILTER(?o != "SERVICE <x> {") ', " FILTER(?o != '''a ' SERVICE ''') ", ' BIND("""\n"SERVICE\n""" AS ?z{n}) ',
    " ?s <http://example.org/service#SERVICE> ?o . ", " ?s ex:service ?o . ", " ?s ex:SERVICE ?service{n} . ",
    " ?s ex:a\\# ?o . ", " ?s ex:a\\' ?o . ", ' ?s ex:a\\" ?o . ', " ?s ?p ex:a\\#\n. ", " OPTIONAL { ?s ?p 'x#' } ",
    " ?s ?p 'SERVICE' . ", ' ?s ?p "\\"SERVICE" . ', " ?s ?p ex:a\\#SERVICE . ", " ?s ?p <urn:service:x> . ",
    " ?s ex:a\\'SERVICE ?o . ", " ?s ?p ?o FILTER(?o <?s) ", " { ?s ?p ?o } UNION { ?s ?p 'service' } ",
    " ?s ?p '''a''b''' . ", ' ?s ?p """a""b""" . ', " ?s ?p 'a\\'b' . ", ' ?s ?p "a\\\\" . ', " ?s ?p <urn:a#b> . ",
    " ?s ?p ex:a%23b . ", " ?s ?p ex:service\\# . ", " ?s ?p 1.5e0 . ", ' ?s ?p "x"@en . ', ' ?s ?p "x"^^ex:service . ',
]


def _keyword(draw, word: str) -> str:
    """``word`` in mixed case, some letters possibly written as ``\\u`` or ``\\U`` escapes."""
    out, escaped = [], draw(st.sampled_from([False, False, True]))  # the engine itself reads no escape here
    for c in word:
        c = draw(st.sampled_from([c.lower(), c.upper()]))
        form = draw(st.sampled_from(["plain", "plain", "u", "U"])) if escaped else "plain"
        if form == "u":
            c = "\\u" + draw(st.sampled_from(["%04X", "%04x"])) % ord(c)
        elif form == "U":
            c = "\\U" + draw(st.sampled_from(["%08X", "%08x"])) % ord(c)
        out.append(c)
    return "".join(out)


@st.composite
def patterns(draw, most: int = 3) -> str:
    """Harmless patterns and comments: strings, IRIs, names and comments that mention 'service'."""
    picked = draw(st.lists(st.sampled_from(PATTERNS + COMMENTS), max_size=most))
    return "".join(p.replace("{n}", str(i)) for i, p in enumerate(picked))


@st.composite
def service_clause(draw, url: str) -> str:
    target = draw(st.sampled_from([f"<{url}>", "?endpoint", "lo:sparql"]))
    silent = draw(st.sampled_from(["", " " + _keyword(draw, "silent")]))
    space = draw(st.sampled_from([" ", "\n", "\t", "  ", " # c\n", "#'\n"]))
    return f"{_keyword(draw, 'service')}{silent}{space}{target} {{ ?s ?p ?o }}"


CONTEXTS = [
    "{p} .{c}", "{p} . {c}", "{p} . ?s ex:a\\# ?o . {c}", "?s ?p ?o ; ex:a\\# ?o .{c}", "?s ?p ex:a\\#\n{c}",
    "?s ex:a\\' ?o {c}", "?s ex:a\\' ?o .{c}", '?s ex:a\\" ?o {c}', "?s ex:a{esc} ?o . {c}", "?s ?p ex:a{esc}{c}",
    "{{ {c} }}", "{{ {{ {p} {c} }} }}", "OPTIONAL {{ {c} }}", "{{ {p} }} UNION {{ {c} }}", "{p} MINUS {{ {c} }}",
    "GRAPH ?g {{ {c} }}", "FILTER EXISTS {{ {c} }}", "FILTER NOT EXISTS {{ {p} {c} }}", "BIND(EXISTS {{ {c} }} AS ?x)",
    "{{ SELECT * WHERE {{ {c} }} }}", "{p} FILTER(?o<?s) {c}", "{p} FILTER(?o<?s) .{c}",
    "FILTER(EXISTS {{ {{ SELECT ?s {{ {p} . {c} }} }} }})", "{p} OPTIONAL {{ {p} FILTER NOT EXISTS {{ {c} }} }}",
    "?s ?p 'a\\'' {c}", "?s ?p '''a'''{c}", '?s ?p "a\\\\"{c}', "?s ?p <urn:a#b>{c}", "?s ?p 1{c}", "?s ?p 1 {c}",
    "?s ?p 1. {c}", "?s ?p ?o.{c}", "?s ?p ex:a.{c}", "?s ?p ex:{c}", "?s ?p ex:a\\%{c}", "?s ?p true {c}",
    "?s ?p 'x'@en{c}", "?s ?p ()\n{c}", "?s ?p [] {c}", "[ ?p ?o ] {c}",
]
FORMS = ["SELECT *", "select ?s", "ASK", "CONSTRUCT { ?s ?p ?o }", "SELECT DISTINCT ?s"]


@st.composite
def federated_query(draw, url: str) -> str:
    """A query with a SERVICE call to ``url`` (only ``url``: the listener) somewhere in it."""
    context = draw(st.sampled_from(CONTEXTS))
    body = context.format(p="?s ?p ?o", c=draw(service_clause(url)), esc=draw(st.sampled_from(ESCAPED_LOCALS)))
    loopback = url.rsplit("/", 1)[0] + "/"  # lo:sparql is the listener too: no other host is ever named
    return (f"PREFIX ex: <https://example.org/>\nPREFIX lo: <{loopback}>\n{draw(st.sampled_from(COMMENTS))}"
            f"{draw(st.sampled_from(FORMS))} WHERE {{ VALUES ?endpoint {{ <{url}> }} {draw(patterns())}{body}"
            f" {draw(patterns())} }}")


@st.composite
def plain_query(draw) -> str:
    """A query without SERVICE whose strings, IRIs, names and comments say 'service'."""
    form = draw(st.sampled_from([*FORMS, "SELECT ?service"]))
    return (f"PREFIX ex: <https://example.org/>\nPREFIX service: <https://example.org/service/>\n"
            f"{draw(st.sampled_from(COMMENTS))}{form} WHERE {{ ?s ?p ?o . ?service service:SERVICE ?o . "
            f"{draw(patterns(5))} }}")


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(data=st.data())
def test_fuzz_service_in_any_context_is_refused(listener, data):
    text = data.draw(federated_query(listener.url))
    assert uses_service(text), text


@FUZZ
@given(text=plain_query())
def test_fuzz_service_only_in_strings_iris_comments_names_is_let_through(text):
    from rdflib.plugins.sparql.parser import parseQuery

    try:
        parseQuery(text)
    except Exception:  # noqa: BLE001 - only texts rdflib parses are promised to pass
        return
    assert federation(text) is None, text


SOUP = ["SERVICE", "service", "SILENT", " ", "\n", "{", "}", "?s", "?p", "?o", ".", ";", "'", '"', "'''", '"""',
        "\\", "#", "<", ">", "ex:a", "ex:", "\\#", "\\'", '\\"', "lo:sparql", "?endpoint", "OPTIONAL", "FILTER", "(",
        ")", "EXISTS", "NOT", "SELECT", "*", "WHERE", "1", "a", "UNION", "GRAPH", "\\u0053", "%", "@en", "^^", "[", "]"]


@st.composite
def mutated(draw, url: str) -> str:
    """A federated query with tokens spliced in anywhere: mostly nonsense, sometimes a new reading."""
    text = draw(federated_query(url))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(SOUP)) + text[at:]
    return text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_what_is_let_through_never_calls_out(listener, data):
    """Differential: any text the check lets through, the engine runs without connecting anywhere."""
    text = data.draw(st.one_of(federated_query(listener.url), plain_query(), mutated(listener.url)))
    if federation(text) is not None:
        return
    try:
        result = ox.Store().query(text)
        if not isinstance(result, ox.QueryBoolean):
            list(result)
    except (SyntaxError, OSError, RuntimeError, ValueError):
        pass
    assert listener.pending() == [], text


def test_unparseable_text_with_service_is_refused_and_without_is_left_to_the_engine():
    assert federation("SELECT * WHERE { " + "{" * 60 + " ?s ?p ?o " + "}" * 60 + " } # service") is not None
    assert federation("SELECT * WHERE { " + "{" * 60 + " ?s ?p ?o " + "}" * 60 + " }") is None
    assert federation("INSERT DATA { <urn:a> <urn:b> <urn:\\u0073ervice> }") is not None
    assert federation("SELEC nothing") is None


def test_query_allow_service_skips_the_check(tmp_path, capsys):
    path = tmp_path / "q.rq"
    path.write_text("SELECT * WHERE { ?s ?p ?o .SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o } }")
    assert cli.main(["query", str(path), "--no-guidelines"]) == 2
    assert "refused" in capsys.readouterr().err
    assert cli.main(["query", str(path), "--no-guidelines", "--allow-service"]) == 2  # port 9: the call fails
    assert "the query failed" in capsys.readouterr().err


def test_docstring_examples():
    import doctest

    from guidelinekg.endpoint import protocol

    assert doctest.testmod(protocol).failed == 0
