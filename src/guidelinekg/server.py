"""A read-only SPARQL 1.1 Protocol endpoint over the provenance store (``guidelinekg serve``).

Why not ``oxigraph serve-read-only`` (the server binary on PyPI)? It is read-only, has a query timeout and
binds where told, but it evaluates ``SERVICE`` by calling the named endpoint over HTTP (checked: it
connects to any host a query names), and it reports a timeout inside an already started ``200`` response.
So this endpoint is a small WSGI application served by waitress (a production WSGI server), with:

* **loopback by default**: ``127.0.0.1``; any other ``--host`` prints a warning;
* **read-only**: the store is opened with ``pyoxigraph.Store.read_only`` (no write path exists), and update
  requests (``update=`` or ``application/sparql-update``) get ``403``;
* **a time limit that holds**: queries run in worker processes; one that overruns is killed with its
  worker (``503``) and a fresh worker takes its place. Oxigraph cannot be interrupted from Python, so a
  thread or a flag would not stop it;
* **no federation**: a query that uses ``SERVICE`` is refused (``403``) before it reaches the engine.
  :func:`uses_service` reads the query's tokens (strings, IRIs and comments skipped; ``\\u`` escapes
  decoded first, as SPARQL does), so the keyword cannot hide in another token.

Requests: ``GET /query?query=...``, ``POST /query`` with a form (``query=``) or ``application/sparql-query``
body; ``default-graph-uri`` and ``named-graph-uri`` as in the protocol. Without ``default-graph-uri`` the
default graph is the union of all graphs (the store keeps everything in named graphs). Results are
negotiated from ``Accept``: SPARQL JSON (default), XML, CSV, TSV; graphs as Turtle (default), N-Triples,
RDF/XML or JSON-LD.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import pyoxigraph as ox

MAX_BODY = 1 << 20  # bytes of a POSTed query
LOOPBACK = ("127.0.0.1", "::1", "localhost")

RESULT_FORMATS = {
    "application/sparql-results+json": ox.QueryResultsFormat.JSON,
    "application/json": ox.QueryResultsFormat.JSON,
    "application/sparql-results+xml": ox.QueryResultsFormat.XML,
    "application/xml": ox.QueryResultsFormat.XML,
    "text/csv": ox.QueryResultsFormat.CSV,
    "text/tab-separated-values": ox.QueryResultsFormat.TSV,
}
GRAPH_FORMATS = {
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
    "application/ld+json": ox.RdfFormat.JSON_LD,
}


# --- SERVICE detection ----------------------------------------------------------------------------------

_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
_SKIP = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""'  # long strings
    r"|'''(?:[^'\\]|\\.|'(?!''))*'''"
    r'|"(?:[^"\\\n\r]|\\.)*"'  # short strings
    r"|'(?:[^'\\\n\r]|\\.)*'"
    r'|<[^<>"{}|^`\\\x00-\x20]*>'  # IRI references
    r"|#[^\n\r]*",  # comments
    re.DOTALL,
)
_SERVICE = re.compile(r"(?<![\w?$@:.\-])SERVICE(?![\w:\-])", re.IGNORECASE)


def uses_service(query: str) -> bool:
    """Whether the SPARQL text uses the ``SERVICE`` keyword (federation).

    >>> uses_service('SELECT * WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } }')
    True
    >>> uses_service('SELECT * WHERE { ?s <http://example.org/SERVICE> "SERVICE" } # SERVICE')
    False
    >>> uses_service(r'SELECT * WHERE { \\u0053ERVICE <http://example.org/> { ?s ?p ?o } }')
    True
    """

    def decode(m: re.Match) -> str:
        try:
            return chr(int(m.group(1) or m.group(2), 16))
        except ValueError:  # beyond Unicode: the engine rejects the query anyway
            return "\ufffd"

    text = _ESCAPE.sub(decode, query)
    return bool(_SERVICE.search(_SKIP.sub(" ", text)))


# --- content negotiation --------------------------------------------------------------------------------


def negotiate(accept: str | None, offers: dict) -> str | None:
    """The offered media type the ``Accept`` header prefers (first offer for ``*/*`` or no header)."""
    if not accept or not accept.strip():
        return next(iter(offers))
    ranked = []
    for i, part in enumerate(accept.split(",")):
        fields = [f.strip() for f in part.split(";")]
        media, q = fields[0].lower(), 1.0
        for f in fields[1:]:
            if f.startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        ranked.append((-q, i, media))
    for neg_q, _, media in sorted(ranked):
        if neg_q == 0:
            break
        if media in offers:
            return media
        if media in ("*/*", "application/*", "text/*"):
            prefix = media.split("/")[0]
            for offer in offers:
                if media == "*/*" or offer.startswith(prefix + "/"):
                    return offer
    return None


# --- workers --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryRequest:
    query: str
    accept: str | None = None
    default_graphs: tuple[str, ...] = ()
    named_graphs: tuple[str, ...] = ()
    union_default_graph: bool = True


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes


def _text(status: int, message: str) -> Reply:
    return Reply(status, "text/plain; charset=utf-8", (message.rstrip() + "\n").encode())


def execute(store: ox.Store, request: QueryRequest) -> Reply:
    """Run one query on an open store and serialise the result as negotiated."""
    kwargs: dict = {}
    if request.default_graphs:
        kwargs["default_graph"] = [ox.NamedNode(g) for g in request.default_graphs]
    elif request.union_default_graph:
        kwargs["use_default_graph_as_union"] = True
    if request.named_graphs:
        kwargs["named_graphs"] = [ox.NamedNode(g) for g in request.named_graphs]
    try:
        result = store.query(request.query, **kwargs)
        offers = GRAPH_FORMATS if isinstance(result, ox.QueryTriples) else RESULT_FORMATS
        media = negotiate(request.accept, offers)
        if media is None:
            return _text(406, f"none of the accepted types is available; offered: {', '.join(offers)}")
        body = result.serialize(format=offers[media])
    except SyntaxError as exc:
        return _text(400, f"query syntax error: {exc.msg or exc}")
    except ValueError as exc:
        return _text(400, f"bad request: {exc}")
    except Exception as exc:  # noqa: BLE001 - evaluation errors of any kind become a 500 with the message
        return _text(500, f"query failed: {exc}")
    return Reply(200, media + ("; charset=utf-8" if media.startswith("text/") else ""), body)


def _worker_main(store_dir: str, lock_path: str, conn) -> None:
    """A worker process: the store opened read-only, one query at a time, until the pipe closes."""
    import fcntl

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server stops its workers itself
    lock = os.open(lock_path, os.O_RDWR)
    fcntl.flock(lock, fcntl.LOCK_SH)  # no load may start while this process still reads
    try:
        store: ox.Store | None = ox.Store.read_only(store_dir)
        failure = None
    except OSError as exc:
        store, failure = None, f"cannot open the store: {exc}"
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        conn.send(_text(500, failure) if store is None else execute(store, request))


class _Worker:
    def __init__(self, ctx, store_dir: Path, lock_path: Path):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_worker_main,
            args=(str(store_dir), str(lock_path), child),
            daemon=True,
            name="guidelinekg-sparql-worker",
        )
        self.process.start()
        child.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()


class QueryPool:
    """Worker processes that each hold the store open read-only; a query that overruns the time limit is
    stopped by killing its worker, which is then replaced. ``run`` is called from the server's threads.
    """

    def __init__(self, store_dir: Path, *, size: int, timeout: float, lock_path: Path):
        self._ctx = multiprocessing.get_context("spawn")  # no fork of a threaded server
        self._store_dir, self._lock_path = store_dir, lock_path
        self.timeout = timeout
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: set[_Worker] = set()
        self._guard = threading.Lock()
        for _ in range(size):
            self._idle.put(self._spawn())

    def _spawn(self) -> _Worker:
        worker = _Worker(self._ctx, self._store_dir, self._lock_path)
        with self._guard:
            self._all.add(worker)
        return worker

    def _retire(self, worker: _Worker) -> None:
        worker.kill()
        with self._guard:
            self._all.discard(worker)
        self._idle.put(self._spawn())

    def run(self, request: QueryRequest) -> Reply:
        deadline = time.monotonic() + self.timeout
        try:
            worker = self._idle.get(timeout=self.timeout)
        except queue.Empty:
            return _text(
                503, f"all query workers stayed busy for the time limit ({self.timeout:g} s); retry later"
            )
        try:
            worker.conn.send(request)
            if worker.conn.poll(max(0.0, deadline - time.monotonic())):
                reply = worker.conn.recv()
                self._idle.put(worker)
                return reply
        except (EOFError, OSError):
            self._retire(worker)
            return _text(500, "the query worker stopped unexpectedly (out of memory?); it has been replaced")
        self._retire(worker)
        return _text(503, f"query stopped: it ran longer than the time limit of {self.timeout:g} s")

    def close(self) -> None:
        with self._guard:
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            worker.kill()


# --- HTTP -----------------------------------------------------------------------------------------------

_HELP = """guidelinekg read-only SPARQL 1.1 endpoint

Query:  GET /query?query=...  or  POST /query (form 'query=' or application/sparql-query body)
Graphs: every run and guideline version is a named graph; the default graph is their union unless
        default-graph-uri is given. Updates and SERVICE (federation) are refused.
"""


class SparqlApp:
    """The WSGI application: the SPARQL 1.1 Protocol query operation over a :class:`QueryPool`."""

    def __init__(self, pool: QueryPool, *, union_default_graph: bool = True):
        self.pool = pool
        self.union_default_graph = union_default_graph

    def __call__(self, environ, start_response):
        reply = self.handle(environ)
        headers = [
            ("Content-Type", reply.content_type),
            ("Content-Length", str(len(reply.body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
        ]
        if reply.status == 405:
            headers.append(("Allow", "GET, POST"))
        start_response(f"{reply.status} {_REASONS.get(reply.status, 'Error')}", headers)
        return [reply.body]

    def handle(self, environ) -> Reply:
        path, method = environ.get("PATH_INFO", "/"), environ.get("REQUEST_METHOD", "GET")
        if path == "/" and method == "GET" and not environ.get("QUERY_STRING"):
            return _text(200, _HELP)
        if path == "/update":
            return _text(403, "this endpoint is read-only: updates are not accepted")
        if path not in ("/query", "/sparql", "/"):
            return _text(404, f"no such resource: {path}; the endpoint is /query")
        if method not in ("GET", "POST"):
            return _text(405, f"method {method} not allowed")
        params = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        query: list[str] = []
        if method == "POST":
            ctype = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return _text(400, "bad Content-Length")
            if length > MAX_BODY:
                return _text(413, f"query larger than {MAX_BODY} bytes")
            body = environ["wsgi.input"].read(length).decode("utf-8", errors="replace")
            if ctype == "application/x-www-form-urlencoded":
                for key, values in parse_qs(body, keep_blank_values=True).items():
                    params.setdefault(key, []).extend(values)
            elif ctype == "application/sparql-query":
                query = [body]
            elif ctype == "application/sparql-update":
                return _text(403, "this endpoint is read-only: updates are not accepted")
            else:
                return _text(415, "POST a form (query=...) or an application/sparql-query body")
        if "update" in params:
            return _text(403, "this endpoint is read-only: updates are not accepted")
        query += params.get("query", [])
        if len(query) != 1:
            return _text(
                400, "give exactly one query (parameter 'query' or an application/sparql-query body)"
            )
        if uses_service(query[0]):
            return _text(
                403, "SERVICE (federated query) is refused: this endpoint never calls other endpoints"
            )
        return self.pool.run(
            QueryRequest(
                query[0],
                environ.get("HTTP_ACCEPT"),
                tuple(params.get("default-graph-uri", [])),
                tuple(params.get("named-graph-uri", [])),
                self.union_default_graph,
            )
        )


_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class ServeOptions:
    store: Path
    host: str = "127.0.0.1"
    port: int = 7878
    timeout: float = 30.0
    workers: int = 2
    union_default_graph: bool = True


def serve(options: ServeOptions, *, announce=lambda line: print(line, file=sys.stderr, flush=True)) -> None:
    """Serve the store until SIGINT or SIGTERM. Announces ``listening on http://HOST:PORT/query`` once the
    socket is bound (``--port 0`` picks a free port; the line names it).

    Raises:
        InputError: no store at the path; StoreBusyError: a load is writing the store.
    """
    from waitress import create_server

    from .errors import InputError
    from .provstore import LOCK_NAME, database_path, open_read_only, store_lock

    with store_lock(options.store, exclusive=False):
        open_read_only(
            options.store
        )  # fail fast, with a hint, when there is no store (the handle is dropped)
        pool = QueryPool(
            database_path(options.store),
            size=options.workers,
            timeout=options.timeout,
            lock_path=options.store / LOCK_NAME,
        )
        try:
            try:
                server = create_server(
                    SparqlApp(pool, union_default_graph=options.union_default_graph),
                    host=options.host,
                    port=options.port,
                    threads=options.workers + 2,
                    ident="guidelinekg",
                    max_request_body_size=MAX_BODY,
                )
            except OSError as exc:
                raise InputError(
                    f"cannot listen on {options.host}:{options.port}: {exc.strerror or exc}",
                    hint="choose another --port (0 picks a free one)",
                ) from None
            host = options.host if ":" not in options.host else f"[{options.host}]"
            if options.host not in LOOPBACK:
                announce(
                    f"warning: serving on {options.host}, not loopback: anyone who can reach this address "
                    "can read every recorded patient fact"
                )
            announce(
                f"listening on http://{host}:{server.effective_port}/query "
                f"(read-only, time limit {options.timeout:g} s, SERVICE refused)"
            )

            def stop(signum, frame):
                for sig in (signal.SIGTERM, signal.SIGINT):  # a second signal must not break the clean-up
                    signal.signal(sig, signal.SIG_IGN)
                raise KeyboardInterrupt

            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
            try:
                server.run()
            except KeyboardInterrupt:
                pass
            finally:
                server.close()
        finally:
            pool.close()
