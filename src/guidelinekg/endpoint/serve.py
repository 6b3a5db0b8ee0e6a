"""Running the endpoint (``guidelinekg serve``): its options checked, the store held, waitress serving.

:class:`ServeOptions` are checked by :func:`check_port`, :func:`check_host`, :func:`check_origin` and
:func:`check_memory` before anything is opened, so a bad ``--port``, ``--host``, ``--allow-host``,
``--cors`` or ``--max-memory`` is one line of error, never a traceback nor a port taken modulo 65536.
:func:`serve` holds the store's shared lock, starts the query workers
(:class:`~guidelinekg.endpoint.server.QueryPool`) and serves
:class:`~guidelinekg.endpoint.server.SparqlApp` until SIGINT or SIGTERM.

:func:`make_server` binds waitress with :data:`CONNECTION_LIMITS` (``serve`` and ``hooks`` alike), so that
connections that send nothing, or a request's head and then nothing (slowloris), are closed after
``channel_timeout`` seconds instead of waitress's 120, and 500 connections at once, not 100, are needed to
make the server stop accepting more.
"""

from __future__ import annotations

import ipaddress
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from guidelinekg.errors import InputError

# waitress's settings for connections: an idle or half-sent connection is closed after channel_timeout
# seconds, checked every cleanup_interval seconds (waitress: 120 and 30, so 101 silent sockets blocked the
# server for two minutes); poll(), not select(), so that sockets numbered above 1023 work.
CONNECTION_LIMITS = {"channel_timeout": 15, "cleanup_interval": 5, "connection_limit": 500, "asyncore_use_poll": True}
DEFAULT_MAX_MEMORY = 2 << 30  # bytes a query worker may allocate

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=[^\s]{{1,253}}$)(?:{_LABEL}\.)*{_LABEL}\.?")


def check_port(text: str) -> int:
    """A TCP port, 0 to 65535 (0: any free port).

    >>> check_port("7878"), check_port("0")
    (7878, 0)
    """
    value = text.strip()
    if not re.fullmatch(r"[+-]?\d{1,10}", value, re.ASCII) or not 0 <= int(value) <= 65535:
        raise InputError(f"--port {text!r} is not a port: give a number from 0 to 65535 (0 picks a free one)")
    return int(value)


def check_host(text: str, option: str = "--host") -> str:
    """An IP address (IPv6 with or without brackets) or a host name, as written (brackets dropped).

    >>> check_host("127.0.0.1"), check_host("[::1]"), check_host("Example.org")
    ('127.0.0.1', '::1', 'example.org')
    """
    value = text.strip()
    bare = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    try:
        return str(ipaddress.ip_address(bare)) if ":" in bare else str(ipaddress.IPv4Address(bare))
    except ValueError:
        pass
    if _HOSTNAME.fullmatch(bare) and not re.fullmatch(r"[\d.]+", bare, re.ASCII):
        return bare.lower().rstrip(".")
    raise InputError(f"{option} {text!r} is not an IP address or a host name")


def check_origin(text: str) -> str:
    """A CORS origin: ``*`` or ``http(s)://HOST[:PORT]``.

    >>> check_origin("https://yasgui.org"), check_origin("*")
    ('https://yasgui.org', '*')
    """
    value = text.strip()
    if value == "*":
        return value
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        parts = None
    if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/")
            or parts.query or parts.fragment or parts.username or parts.password):
        raise InputError(f"--cors {text!r} is not an origin: give '*' or scheme://host[:port], e.g. "
                         "https://yasgui.org")
    return value.rstrip("/")


def check_memory(text: str) -> int | None:
    """Bytes from ``--max-memory``: a number of MiB, or with a unit ``M``/``MiB`` or ``G``/``GiB``; ``0``: no
    limit. At least 256 MiB (a worker needs about 100 MiB before its first query).

    >>> check_memory("2G"), check_memory("512MiB"), check_memory("1024"), check_memory("0")
    (2147483648, 536870912, 1073741824, None)
    """
    m = re.fullmatch(r"\s*(\d{1,7}(?:\.\d+)?)\s*(?:([MG])(?:i?B)?)?\s*", text, re.IGNORECASE | re.ASCII)
    value = int(float(m[1]) * (1 << (30 if (m[2] or "M").upper() == "G" else 20))) if m else -1
    if value == 0:
        return None
    if value < 256 << 20:
        raise InputError(f"--max-memory {text!r} is not a memory size of at least 256 MiB: give e.g. 2G, 768M "
                         "or 0 for no limit")
    return value


def make_server(app, *, host: str, port: int, threads: int, max_body: int):
    """waitress serving ``app`` on ``host:port`` (bound: ``--port 0`` picks a free port, its
    ``effective_port``), with :data:`CONNECTION_LIMITS`.

    Raises:
        InputError: the address cannot be bound.
    """
    from waitress import create_server

    try:
        return create_server(app, host=host, port=port, threads=threads, ident="guidelinekg",
                             max_request_body_size=max_body, **CONNECTION_LIMITS)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot listen on {host}:{port}: {getattr(exc, 'strerror', None) or exc}",
                         hint="choose another --port (0 picks a free one) or --host") from None


@dataclass(frozen=True)
class ServeOptions:
    store: Path
    host: str = "127.0.0.1"
    port: int = 7878
    timeout: float = 30.0
    workers: int = 2
    max_memory: int | None = DEFAULT_MAX_MEMORY
    union_default_graph: bool = True
    allow_hosts: tuple[str, ...] = ()
    cors: tuple[str, ...] = ()
    quiet: bool = False

    def url(self, port: int) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{port}/query"


def serve(options: ServeOptions, *, announce=lambda line: print(line, file=sys.stderr, flush=True)) -> None:
    """Serve the store until SIGINT or SIGTERM. Announces ``listening on http://HOST:PORT/query`` once the
    socket is bound (``--port 0`` picks a free port; the line names it).

    Raises:
        InputError: no store at the path, or the address cannot be bound; StoreBusyError: a load is writing
            the store.
    """
    from guidelinekg.endpoint.server import LOOPBACK_NAMES, MAX_BODY, QueryPool, SparqlApp, stderr_log
    from guidelinekg.provenance.store import LOCK_NAME, database_path, open_read_only, store_lock

    with store_lock(options.store, exclusive=False):
        open_read_only(options.store)  # fail fast, with a hint, when there is no store (the handle is dropped)
        pool = QueryPool(
            database_path(options.store),
            size=options.workers,
            timeout=options.timeout,
            lock_path=options.store / LOCK_NAME,
            max_memory=options.max_memory,
        )
        try:
            app = SparqlApp(
                pool,
                union_default_graph=options.union_default_graph,
                allowed_hosts=(options.host, *options.allow_hosts),
                cors=options.cors,
                log=None if options.quiet else stderr_log,
            )
            server = make_server(app, host=options.host, port=options.port, threads=options.workers + 2,
                                 max_body=MAX_BODY)
            url = options.url(server.effective_port)
            app.base_iri = url
            if options.host not in LOOPBACK_NAMES:
                announce(
                    f"warning: serving on {options.host}, not loopback: anyone who can reach this address "
                    "can read every recorded patient fact (requests naming another host need --allow-host)"
                )
            memory = f"{options.max_memory >> 20} MiB" if options.max_memory else "no memory limit"
            announce(
                f"listening on {url} "
                f"(read-only, time limit {options.timeout:g} s, {memory} per query worker, SERVICE refused)"
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
