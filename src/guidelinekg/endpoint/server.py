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
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import pyoxigraph as ox

from guidelinekg.endpoint.protocol import QueryRequest, Reply, execute, text_reply, uses_service

MAX_BODY = 1 << 20  # bytes of a POSTed query
LOOPBACK = ("127.0.0.1", "::1", "localhost")

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
        conn.send(text_reply(500, failure) if store is None else execute(store, request))


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
            self._retire(worker)
            return text_reply(500, "the query worker stopped unexpectedly (out of memory?); it has been replaced")
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
            return text_reply(200, _HELP)
        if path == "/update":
            return text_reply(403, "this endpoint is read-only: updates are not accepted")
        if path not in ("/query", "/sparql", "/"):
            return text_reply(404, f"no such resource: {path}; the endpoint is /query")
        if method not in ("GET", "POST"):
            return text_reply(405, f"method {method} not allowed")
        params = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        query: list[str] = []
        if method == "POST":
            ctype = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return text_reply(400, "bad Content-Length")
            if length > MAX_BODY:
                return text_reply(413, f"query larger than {MAX_BODY} bytes")
            body = environ["wsgi.input"].read(length).decode("utf-8", errors="replace")
            if ctype == "application/x-www-form-urlencoded":
                for key, values in parse_qs(body, keep_blank_values=True).items():
                    params.setdefault(key, []).extend(values)
            elif ctype == "application/sparql-query":
                query = [body]
            elif ctype == "application/sparql-update":
                return text_reply(403, "this endpoint is read-only: updates are not accepted")
            else:
                return text_reply(415, "POST a form (query=...) or an application/sparql-query body")
        if "update" in params:
            return text_reply(403, "this endpoint is read-only: updates are not accepted")
        query += params.get("query", [])
        if len(query) != 1:
            return text_reply(
                400, "give exactly one query (parameter 'query' or an application/sparql-query body)"
            )
        if uses_service(query[0]):
            return text_reply(
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

    from guidelinekg.errors import InputError
    from guidelinekg.provenance.store import LOCK_NAME, database_path, open_read_only, store_lock

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
