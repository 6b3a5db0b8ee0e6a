"""A read-only SPARQL 1.1 Protocol endpoint over the provenance store: the WSGI app and its query workers.

Why not ``oxigraph serve-read-only`` (the server binary on PyPI)? It is read-only, has a query timeout and
binds where told, but it evaluates ``SERVICE`` by calling the named endpoint over HTTP (checked: it
connects to any host a query names), and it reports a timeout inside an already started ``200`` response.
So this endpoint is a small WSGI application served by waitress (:mod:`guidelinekg.endpoint.serve`), with:

* **loopback by default**, and **no DNS rebinding**: a request whose ``Host`` header names anything but
  the bound address, ``127.0.0.1``, ``localhost``, ``[::1]`` or an ``--allow-host`` name gets ``403``;
* **read-only**: the store is opened with ``pyoxigraph.Store.read_only`` (no write path exists), and update
  requests (``update=`` or ``application/sparql-update``) get ``403``;
* **a time limit that holds**: queries run in worker processes; one that overruns is killed with its
  worker (``503``) and a fresh worker takes its place. Oxigraph cannot be interrupted from Python, so a
  thread or a flag would not stop it;
* **a memory limit that holds**: each worker may allocate at most ``--max-memory`` (``RLIMIT_DATA``: its
  heap and anonymous mappings); a query that needs more (a cartesian product sorted for ``ORDER BY``
  grows by gigabytes a second) makes the allocation fail, the worker ends, the answer is ``503`` and a
  fresh worker takes its place, so no query can take the machine's memory;
* **no cross-site requests** (CSRF: any page a user visits could send a query, ``GET`` or a form
  ``POST``): a request with an ``Origin`` header that neither ``--cors`` allows nor is the endpoint's own,
  or without one but with ``Sec-Fetch-Site: cross-site`` or ``same-site``, gets ``403``;
* **no federation**: a query that uses ``SERVICE`` anywhere in its parsed form is refused (``403``) by the
  worker before it reaches the engine (:func:`guidelinekg.endpoint.protocol.federation`);
* **CORS only when asked** (``--cors ORIGIN``), with ``OPTIONS`` preflight; ``HEAD`` as ``GET``.

Requests: ``GET /query?query=...``, ``POST /query`` with a form (``query=``) or ``application/sparql-query``
body, UTF-8 only (a leading byte order mark is dropped; a UTF-16 body is refused as such); an update sent
as a query is refused as an update (``403``). The dataset: ``default-graph-uri`` and ``named-graph-uri`` as
in the protocol (``named-graph-uri`` alone: an empty default graph), which win over the query's own
``FROM``/``FROM NAMED`` as the protocol says; without them the query's ``FROM``/``FROM NAMED``; without
either the default graph is the merge of all graphs, each triple once (a load writes it into the store's
default graph; a store no load of this version has merged: Oxigraph's union). ``GET
/query`` without a query answers the SPARQL Service Description.
Relative IRIs in a query resolve against the endpoint's URL. Results are negotiated from ``Accept``: SPARQL
JSON (default), XML, CSV, TSV; graphs as Turtle (default), N-Triples, RDF/XML or JSON-LD. Each request is
logged on stderr (method, path, status, bytes, duration) unless ``--quiet``.
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
from collections.abc import Callable
from pathlib import Path

import pyoxigraph as ox

from guidelinekg.endpoint.description import service_description
from guidelinekg.endpoint.protocol import (
    OUT_OF_MEMORY,
    BadRequest,
    QueryRequest,
    Reply,
    check_charset,
    decode_form,
    execute,
    graph_iris,
    media_type,
    text_reply,
    utf8,
)

MAX_BODY = 1 << 20  # bytes of a POSTed query
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def _worker_main(store_dir: str, lock_path: str, conn, max_memory: int | None = None) -> None:
    """A worker process: the store opened read-only, one query at a time, until the pipe closes; with
    ``max_memory``, an allocation beyond that many bytes fails (Oxigraph then aborts the process)."""
    import fcntl
    import resource

    from guidelinekg.endpoint.protocol import federation

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server stops its workers itself
    if max_memory:
        hard = resource.getrlimit(resource.RLIMIT_DATA)[1]
        limit = max_memory if hard == resource.RLIM_INFINITY else min(max_memory, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the abort of a query over the limit dumps no core
    lock = os.open(lock_path, os.O_RDWR)
    fcntl.flock(lock, fcntl.LOCK_SH)  # no load may start while this process still reads
    federation("ASK {}")  # the SERVICE check's parser loaded before the first query's time starts
    try:
        store: ox.Store | None = ox.Store.read_only(store_dir)
        failure = None
    except (OSError, RuntimeError) as exc:  # RuntimeError: "Corruption: ..." from the database
        store, failure = None, f"cannot open the store: {exc}"
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        try:
            conn.send(text_reply(500, failure) if store is None else execute(store, request))
        except MemoryError:  # the reply itself over the limit
            conn.send(text_reply(503, OUT_OF_MEMORY))


class _Worker:
    def __init__(self, ctx, store_dir: Path, lock_path: Path, max_memory: int | None = None):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_worker_main,
            args=(str(store_dir), str(lock_path), child, max_memory),
            daemon=True,
            name="guidelinekg-sparql-worker",
        )
        self.process.start()
        child.close()

    def kill(self, *, ending: bool = False) -> int | None:
        """Stop the process; its exit code (negative: the signal that ended it). ``ending``: its pipe has
        closed, so it is exiting on its own: its own exit code is awaited before it is killed."""
        if ending:
            self.process.join(5)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join(5)
        self.conn.close()
        return self.process.exitcode


class QueryPool:
    """Worker processes that each hold the store open read-only; a query that overruns the time limit is
    stopped by killing its worker, which is then replaced; one that needs more than ``max_memory`` bytes
    ends its worker, which is replaced too. ``run`` is called from the server's threads.
    """

    def __init__(self, store_dir: Path, *, size: int, timeout: float, lock_path: Path,
                 max_memory: int | None = None):
        self._ctx = multiprocessing.get_context("spawn")  # no fork of a threaded server
        self._store_dir, self._lock_path, self.max_memory = store_dir, lock_path, max_memory
        self.timeout = timeout
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: set[_Worker] = set()
        self._guard = threading.Lock()
        for _ in range(size):
            self._idle.put(self._spawn())

    def _spawn(self) -> _Worker:
        worker = _Worker(self._ctx, self._store_dir, self._lock_path, self.max_memory)
        with self._guard:
            self._all.add(worker)
        return worker

    def _retire(self, worker: _Worker, *, ending: bool = False) -> int | None:
        code = worker.kill(ending=ending)
        with self._guard:
            self._all.discard(worker)
        self._idle.put(self._spawn())
        return code

    def run(self, request: QueryRequest) -> Reply:
        deadline = time.monotonic() + self.timeout
        try:
            worker = self._idle.get(timeout=self.timeout)
        except queue.Empty:
            return text_reply(
                503, f"all query workers stayed busy for the time limit ({self.timeout:g} s); retry later"
            )
        try:
            worker.conn.send(request)
            if worker.conn.poll(max(0.0, deadline - time.monotonic())):
                reply = worker.conn.recv()
                self._idle.put(worker)
                return reply
        except (EOFError, OSError):
            code = self._retire(worker, ending=True)
            if code in (-signal.SIGABRT, -signal.SIGKILL) and self.max_memory:  # a failed allocation aborts
                return text_reply(503, f"{OUT_OF_MEMORY}; the limit is {self.max_memory >> 20} MiB per query")
            return text_reply(500, f"the query worker stopped unexpectedly (exit code {code}); it has been replaced")
        self._retire(worker)
        return text_reply(503, f"query stopped: it ran longer than the time limit of {self.timeout:g} s")

    def close(self) -> None:
        with self._guard:
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            worker.kill()


# --- HTTP -----------------------------------------------------------------------------------------------

_HELP = """guidelinekg read-only SPARQL 1.1 endpoint

Query:  GET /query?query=...  or  POST /query (form 'query=' or application/sparql-query body, UTF-8)
Graphs: every run and guideline version is a named graph; the default graph is their merge unless
        default-graph-uri or named-graph-uri is given, or else the query has FROM or FROM NAMED.
        Updates and SERVICE (federation) are refused.
About:  GET /query without a query: the SPARQL Service Description (Turtle).
"""
_ENDPOINTS = ("/query", "/sparql", "/")
_METHODS = "GET, HEAD, POST, OPTIONS"
_HOST = re.compile(r"\[(?P<v6>[0-9A-Fa-f:.]+)\](?::\d*)?|(?P<name>[^:\[\]\s]+)(?::\d*)?")
_REASONS = {
    200: "OK", 204: "No Content", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 413: "Payload Too Large", 415: "Unsupported Media Type",
    500: "Internal Server Error", 503: "Service Unavailable",
}


def host_name(header: str) -> str | None:
    """The name in a ``Host`` header, without port or brackets, lower case, no trailing dot; ``None`` when
    the header is malformed.

    >>> host_name("LOCALHOST.:7878"), host_name("[::1]:80"), host_name("a b")
    ('localhost', '::1', None)
    """
    m = _HOST.fullmatch(header.strip())
    if m is None:
        return None
    return (m["v6"] or m["name"]).lower().rstrip(".")


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() and c not in '"\\' else f"\\x{ord(c):02x}" for c in text[:200])


def stderr_log(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class SparqlApp:
    """The WSGI application: the SPARQL 1.1 Protocol query operation over a :class:`QueryPool` (or any
    object with ``run(QueryRequest) -> Reply``)."""

    def __init__(self, pool, *, union_default_graph: bool = True, base_iri: str | None = None,
                 allowed_hosts: tuple[str, ...] = (), cors: tuple[str, ...] = (),
                 log: Callable[[str], None] | None = stderr_log):
        self.pool = pool
        self.union_default_graph = union_default_graph
        self.base_iri = base_iri
        self.allowed_hosts = frozenset((*LOOPBACK_NAMES, *(h.lower().strip("[]").rstrip(".") for h in allowed_hosts)))
        self.cors = tuple(cors)
        self.log = log

    def __call__(self, environ, start_response):
        started = time.monotonic()
        method = environ.get("REQUEST_METHOD", "GET")
        reply, extra = self.handle(environ)
        headers = [
            *([("Content-Type", reply.content_type), ("Content-Length", str(len(reply.body)))]
              if reply.status != 204 else []),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            *extra,
            *self._cors_headers(environ),
        ]
        if reply.status == 405:
            headers.append(("Allow", _METHODS))
        start_response(f"{reply.status} {_REASONS.get(reply.status, 'Error')}", headers)
        body = b"" if method == "HEAD" else reply.body
        if self.log is not None:
            path = _printable(environ.get("PATH_INFO", "/"))
            self.log(f'{environ.get("REMOTE_ADDR", "-")} "{_printable(method)} {path}" {reply.status} '
                     f"{len(body)} {(time.monotonic() - started) * 1000:.1f}ms")
        return [body]

    # -- checks ------------------------------------------------------------------------------------------

    def host_refusal(self, environ) -> Reply | None:
        """``403`` unless the ``Host`` header names this endpoint (DNS rebinding: a browser on another
        site's page sends that site's name). A request without ``Host`` comes from no browser."""
        header = environ.get("HTTP_HOST")
        if header is None or host_name(header) in self.allowed_hosts:
            return None
        names = ", ".join(sorted(f"[{h}]" if ":" in h else h for h in self.allowed_hosts))
        return text_reply(403, f"Host {_printable(header)!r} is not a name of this endpoint ({names}); "
                               "start serve with --allow-host NAME to accept it")

    def site_refusal(self, environ) -> Reply | None:
        """``403`` for a request a page of another site sent (CSRF: a link, an image, a form or a script of
        any page the user visits): an ``Origin`` that ``--cors`` does not allow and that is not this
        endpoint's own, or no ``Origin`` but ``Sec-Fetch-Site`` ``cross-site`` or ``same-site`` (another port of
        this host is another origin). Clients that are no browser send neither header."""
        origin = environ.get("HTTP_ORIGIN")
        if "*" in self.cors or (origin is not None and self._origin(environ) is not None):
            return None
        own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}".lower()
        if origin is not None and origin.rstrip("/").lower() == own:
            return None  # same origin
        site = (environ.get("HTTP_SEC_FETCH_SITE") or "").strip().lower()
        if origin is None and site not in ("cross-site", "same-site"):
            return None
        return text_reply(403, f"cross-site request refused (Origin {_printable(origin or 'not sent')!r}, Sec-Fetch-"
                               f"Site {_printable(site or 'not sent')!r}); start serve with --cors ORIGIN to let "
                               "pages of ORIGIN query this endpoint")

    def _origin(self, environ) -> str | None:
        """The CORS ``Access-Control-Allow-Origin`` value for this request, if any."""
        origin = environ.get("HTTP_ORIGIN")
        if not self.cors or origin is None:
            return None
        if "*" in self.cors:
            return "*"
        return origin if origin.rstrip("/").lower() in {o.rstrip("/").lower() for o in self.cors} else None

    def _cors_headers(self, environ) -> list[tuple[str, str]]:
        origin = self._origin(environ)
        if origin is None:
            return []
        return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]

    def base(self, environ) -> str:
        if self.base_iri:
            return self.base_iri
        host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', '127.0.0.1')}:{environ.get('SERVER_PORT', '')}"
        return f"{environ.get('wsgi.url_scheme', 'http')}://{host}/query"

    # -- requests ----------------------------------------------------------------------------------------

    def handle(self, environ) -> tuple[Reply, list[tuple[str, str]]]:
        """The reply to a request and its extra headers."""
        refusal = self.host_refusal(environ) or self.site_refusal(environ)
        if refusal is not None:
            return refusal, []
        path, method = environ.get("PATH_INFO", "/"), environ.get("REQUEST_METHOD", "GET")
        if path == "/" and method in ("GET", "HEAD") and not environ.get("QUERY_STRING"):
            return text_reply(200, _HELP), []
        if path == "/update":
            return text_reply(403, "this endpoint is read-only: updates are not accepted"), []
        if path not in _ENDPOINTS:
            return text_reply(404, f"no such resource: {_printable(path)}; the endpoint is /query"), []
        if method == "OPTIONS":
            return self.preflight(environ)
        if method not in ("GET", "HEAD", "POST"):
            return text_reply(405, f"method {_printable(method)} not allowed"), []
        try:
            return self.query(environ, method), []
        except BadRequest as exc:
            return text_reply(400, str(exc)), []

    def preflight(self, environ) -> tuple[Reply, list[tuple[str, str]]]:
        """``OPTIONS``: the methods; with ``--cors`` and an allowed ``Origin``, a CORS preflight answer."""
        if environ.get("HTTP_ORIGIN") is not None and self._origin(environ) is None:
            return text_reply(403, "cross-origin requests from this origin are not allowed; start serve with "
                                   "--cors ORIGIN to allow them"), []
        headers = [("Allow", _METHODS)]
        if self._origin(environ) is not None:
            headers += [("Access-Control-Allow-Methods", _METHODS),
                        ("Access-Control-Allow-Headers", "Accept, Content-Type"),
                        ("Access-Control-Max-Age", "600")]
        return Reply(204, "text/plain; charset=utf-8", b""), headers

    def query(self, environ, method: str) -> Reply:
        query_string = environ.get("QUERY_STRING", "")
        params = decode_form(query_string)
        query: list[str] = []
        if method == "POST":
            ctype, charset = media_type(environ.get("CONTENT_TYPE", ""))
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return text_reply(400, "bad Content-Length")
            if length > MAX_BODY or length < 0:
                return text_reply(413, f"query larger than {MAX_BODY} bytes")
            if ctype == "application/sparql-update":
                return text_reply(403, "this endpoint is read-only: updates are not accepted")
            if ctype not in ("application/x-www-form-urlencoded", "application/sparql-query"):
                return text_reply(415, "POST a form (query=...) or an application/sparql-query body")
            body = environ["wsgi.input"].read(length)
            if ctype == "application/x-www-form-urlencoded":
                check_charset(charset)
                for key, values in decode_form(body.decode("latin-1")).items():  # bytes kept, then UTF-8
                    params.setdefault(key, []).extend(values)
            else:
                query = [utf8(body, charset)]
        if "update" in params:
            return text_reply(403, "this endpoint is read-only: updates are not accepted")
        query += params.get("query", [])
        if not query and not query_string and method != "POST":
            return service_description(self.base(environ), environ.get("HTTP_ACCEPT"),
                                       union_default_graph=self.union_default_graph)
        if len(query) != 1:
            return text_reply(
                400, "give exactly one query (parameter 'query' or an application/sparql-query body)"
            )
        return self.pool.run(
            QueryRequest(
                query[0].removeprefix("\ufeff"),  # a byte order mark is no part of the query
                environ.get("HTTP_ACCEPT"),
                graph_iris(params, "default-graph-uri"),
                graph_iris(params, "named-graph-uri"),
                self.union_default_graph,
                self.base(environ),
            )
        )
