"""Serve the store (see 'load') as a read-only SPARQL 1.1 Protocol endpoint: GET or POST /query.

Bound to 127.0.0.1 unless --host says otherwise; updates and SERVICE (federated) queries are refused
(403); a query running longer than --timeout is stopped (503). Every run and guideline version is a named
graph; the default graph is the union of all of them. Stops on Ctrl-C or SIGTERM.

Exit codes: 0 stopped normally, 2 no store, store busy (a load is writing it) or the port is taken.
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
    parser.add_argument("--port", type=int, default=7878, help="port (default: 7878; 0 picks a free port)")
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


def run(args: argparse.Namespace) -> int:
    from guidelinekg.endpoint.server import ServeOptions, serve

    serve(
        ServeOptions(
            store=args.store,
            host=args.host,
            port=args.port,
            timeout=args.timeout,
            workers=args.workers,
        )
    )
    return 0
