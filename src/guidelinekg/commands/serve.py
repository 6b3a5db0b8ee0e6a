"""Serve the store (see 'load') as a read-only SPARQL 1.1 Protocol endpoint: GET or POST /query.

Bound to 127.0.0.1 unless --host says otherwise; a request whose Host header names another host (DNS
rebinding) is refused (403) unless --allow-host NAME; updates and SERVICE (federated) queries are refused
(403); a query running longer than --timeout, or needing more memory than --max-memory, is stopped (503)
and its worker replaced. A request from a web page of another origin (CSRF) is refused (403) unless --cors
allows that origin. Every run and guideline version is a named
graph; the default graph is the merge of all of them, each triple once. GET /query without a query describes the endpoint
(SPARQL Service Description). CORS headers only with --cors ORIGIN. Each request is logged on stderr
unless --quiet. Stops on Ctrl-C or SIGTERM.

Exit codes: 0 stopped normally, 2 a bad --port, --host, --allow-host, --cors or --max-memory, no store, store busy (a
load is writing it) or the port is taken.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from guidelinekg.provenance.store import DEFAULT_STORE

    parser.add_argument(
        "--store",
        type=Path,
        default=DEFAULT_STORE,
        metavar="DIR",
        help=f"store directory written by 'load' (default: {DEFAULT_STORE})",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)"
    )
    parser.add_argument("--port", default="7878", help="port, 0 to 65535 (default: 7878; 0 picks a free port)")
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also accept requests whose Host header names NAME (repeatable); by default only the bound "
        "address, 127.0.0.1, localhost and [::1]",
    )
    parser.add_argument(
        "--cors",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow cross-origin requests from ORIGIN, e.g. https://yasgui.org, or '*' (repeatable; "
        "default: none: a request a page of another origin sends is refused)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no access log line per request on stderr")
    parser.add_argument(
        "--timeout",
        type=_positive,
        default=30.0,
        metavar="SECONDS",
        help="time limit per query; a longer query is stopped (default: 30)",
    )
    parser.add_argument(
        "--workers",
        type=_at_least_one,
        default=2,
        metavar="N",
        help="query worker processes, i.e. queries run at once (default: 2)",
    )
    parser.add_argument(
        "--max-memory",
        default="2G",
        metavar="SIZE",
        help="memory each query worker may allocate, e.g. 2G or 768M; a query needing more is stopped (503). "
        "At most --workers times this is used (default: 2G; 0: no limit)",
    )


def run(args: argparse.Namespace) -> int:
    from guidelinekg.endpoint.serve import (
        ServeOptions,
        check_host,
        check_memory,
        check_origin,
        check_port,
        serve,
    )

    options = ServeOptions(  # every option checked before the store is touched
        store=args.store,
        port=check_port(str(args.port)),
        host=check_host(args.host),
        allow_hosts=tuple(check_host(name, "--allow-host") for name in args.allow_host),
        cors=tuple(check_origin(origin) for origin in args.cors),
        quiet=args.quiet,
        timeout=args.timeout,
        workers=args.workers,
        max_memory=check_memory(str(args.max_memory)),
    )
    serve(options)
    return 0
