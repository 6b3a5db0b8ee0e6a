"""Running the CDS Hooks service (``guidelinekg hooks``): waitress serving the Falcon app.

:func:`make_server` loads nothing: it is given the :class:`~guidelinekg.hooks.advice.Advisor` (the
guidelines, loaded once) and warms it, and the feedback log; it builds the app and binds the socket
(``--port 0``: a free port, named by the server's ``effective_port``) with :data:`CONNECTION_LIMITS`, those
of ``serve`` (a silent or half-sent connection is closed after 15 s, up to 500 at once). :func:`serve` announces ``listening
on http://HOST:PORT/cds-services`` and serves until SIGINT or SIGTERM. Tests call :func:`make_server` and
run the server in a thread.
"""

from __future__ import annotations

import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from guidelinekg.errors import InputError

# waitress's settings for connections, as guidelinekg.endpoint.serve.CONNECTION_LIMITS (this layer cannot
# import that one; tests/test_hooks.py checks that they are equal): an idle or half-sent connection is closed
# after channel_timeout seconds, checked every cleanup_interval seconds (waitress: 120 and 30, so 101 silent
# sockets blocked the service for two minutes); poll(), not select(), so that sockets above 1023 work.
CONNECTION_LIMITS = {"channel_timeout": 15, "cleanup_interval": 5, "connection_limit": 500, "asyncore_use_poll": True}


@dataclass(frozen=True)
class HooksOptions:
    host: str = "127.0.0.1"
    port: int = 8787
    allow_hosts: tuple[str, ...] = ()
    cors: tuple[str, ...] = ()
    quiet: bool = False
    feedback: Path | None = None
    jwks: Path | None = None
    issuers: tuple[str, ...] = ()
    audience: str | None = None
    threads: int = 4

    def url(self, port: int) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{port}/cds-services"


def make_server(options: HooksOptions, advisor, cards, *, log=None):
    """The waitress server of the app, bound; ``cards``: the :class:`~guidelinekg.hooks.feedback.CardLog`
    (its caller closes it after the server); ``log``: the access log (default stderr, none if quiet)."""
    from waitress import create_server

    from guidelinekg.hooks.app import MAX_BODY, create_app, stderr_log
    from guidelinekg.hooks.auth import JwtVerifier

    verifier = None
    if options.jwks is not None:
        if not options.issuers or not options.audience:
            raise InputError("--jwks needs --issuer (the trusted issuers) and --audience (this service's base URL)")
        verifier = JwtVerifier(options.jwks, options.issuers, options.audience)
    advisor.warm()
    if options.quiet:  # waitress's own "Task queue depth" notes too (a busy service says so otherwise)
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    app = create_app(advisor, cards, allowed_hosts=(options.host, *options.allow_hosts), cors=options.cors,
                     verifier=verifier, log=None if options.quiet else (log or stderr_log))
    try:
        return create_server(app, host=options.host, port=options.port, threads=options.threads,
                             ident="guidelinekg", max_request_body_size=MAX_BODY, **CONNECTION_LIMITS)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot listen on {options.host}:{options.port}: {getattr(exc, 'strerror', None) or exc}",
                         hint="choose another --port (0 picks a free one) or --host") from None


def serve(options: HooksOptions, advisor, *, cards=None,
          announce=lambda line: print(line, file=sys.stderr, flush=True)) -> None:
    """Serve until SIGINT or SIGTERM (see the module docstring); ``cards``: the feedback log, opened (and
    its files checked) by the caller before the guidelines were loaded, else here. It is closed here."""
    from guidelinekg.hooks.feedback import CardLog

    cards = cards if cards is not None else CardLog(options.feedback)
    try:
        server = make_server(options, advisor, cards)
    except BaseException:
        cards.close()
        raise
    if options.jwks is None:
        announce("warning: no --jwks: requests are not authenticated (any caller that reaches this address "
                 "gets patient advice)")
    if options.host not in ("127.0.0.1", "localhost", "::1"):
        announce(f"warning: serving on {options.host}, not loopback: put it behind TLS (CDS Hooks requires HTTPS)")
    if options.feedback is None:
        announce("note: no --feedback DIR: issued cards and feedback are kept in memory only, not recorded")
    labels = "; ".join(g.version.label for g in advisor.guidelines)
    when = advisor.as_of.isoformat() if advisor.as_of else "the day of each call"
    announce(f"listening on {options.url(server.effective_port)} (guidelines: {labels}; as of {when})")

    def stop(signum, frame):
        for sig in (signal.SIGTERM, signal.SIGINT):
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
        cards.close()  # the runs of the last calls are written
