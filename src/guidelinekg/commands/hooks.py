"""Serve the loaded guidelines as a CDS Hooks 2.0 service: GET /cds-services (discovery), POST
/cds-services/guidelinekg-patient-view and /cds-services/guidelinekg-order-select (cards), POST
/cds-services/{id}/feedback.

Each hook call's prefetch (Patient, Observation, Condition, the medication resources, Specimen) is
evaluated as 'recommend' evaluates a file, with the knowledge loaded once at start; the FHIR server a
request names is never called, so a call without the prefetch gets a card naming the data needed. Bound
to 127.0.0.1 unless --host says otherwise; a request whose Host header names another host is refused
(403) unless --allow-host NAME. CORS headers only with --cors ORIGIN. With --jwks FILE every request needs
a bearer JWT signed by a key of that JWK Set, from an --issuer, for --audience; without it nothing is
authenticated (said on start). With --feedback DIR the cards issued, the runs behind them and the
feedback on them are appended to DIR as PROV-O N-Quads; its files are checked first (one that is not
N-Quads is refused and left as it is; a last line a crash left incomplete is moved aside into
NAME.torn-TIME, never deleted). Each request is logged on stderr unless --quiet.
Stops on Ctrl-C or SIGTERM.

Exit codes: 0 stopped normally, 2 a bad option, content, --jwks or --feedback, or the port is taken.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from urllib.parse import urlsplit

from guidelinekg.commands.recommend import _as_of  # one --as-of grammar (YYYY-MM-DD) for every command
from guidelinekg.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    parser.add_argument("--port", default="8787", help="port, 0 to 65535 (default: 8787; 0 picks a free port)")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="also accept requests whose Host header names NAME (repeatable)")
    parser.add_argument("--cors", action="append", default=[], metavar="ORIGIN",
                        help="allow cross-origin requests from ORIGIN (a browser-based EHR or sandbox), or '*' "
                             "(repeatable; default: no CORS headers)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no access log line per request on stderr")
    parser.add_argument("--as-of", type=_as_of, default=None, metavar="DATE",
                        help="decide as of this date (default: the day of each call), e.g. to replay calls")
    parser.add_argument("--guideline", metavar="IRI", action="append",
                        help="serve only this guideline version (IRI, label or a unique part of the IRI); repeatable")
    parser.add_argument("--content", metavar="TTL", type=Path, action="append",
                        help="guideline content file or directory, repeatable, instead of the shipped guidelines")
    parser.add_argument("--feedback", metavar="DIR", type=Path,
                        help="append the cards issued, their runs and the feedback on them to DIR (PROV-O N-Quads)")
    parser.add_argument("--jwks", metavar="FILE", type=Path,
                        help="require a bearer JWT signed by a key of this JWK Set file (the EHR's public keys)")
    parser.add_argument("--issuer", action="append", default=[], metavar="ISS",
                        help="a trusted JWT issuer (iss), repeatable; required with --jwks")
    parser.add_argument("--audience", metavar="URL",
                        help="this service's base URL as the EHR calls it (the JWT's aud); required with --jwks")


def _audience(text: str | None) -> str | None:
    if text is None:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise InputError(f"--audience {text!r} is not a base URL: give scheme://host[:port][/path]")
    return text.rstrip("/")


def run(args: argparse.Namespace) -> int:
    from guidelinekg.commands.recommend import choose_guidelines
    from guidelinekg.endpoint.serve import check_host, check_origin, check_port
    from guidelinekg.hooks.advice import Advisor
    from guidelinekg.hooks.feedback import CardLog
    from guidelinekg.hooks.serve import HooksOptions, serve

    options = HooksOptions(  # every option checked before the knowledge is loaded
        host=check_host(args.host), port=check_port(str(args.port)),
        allow_hosts=tuple(check_host(name, "--allow-host") for name in args.allow_host),
        cors=tuple(check_origin(origin) for origin in args.cors), quiet=args.quiet, feedback=args.feedback,
        jwks=args.jwks, issuers=tuple(args.issuer), audience=_audience(args.audience),
    )
    if args.jwks is None and (args.issuer or args.audience):
        raise InputError("--issuer and --audience check bearer JWTs", hint="give the EHR's keys with --jwks FILE")
    if args.jwks is not None and (not args.issuer or not args.audience):
        raise InputError("--jwks needs --issuer ISS (repeatable) and --audience URL (this service's base URL)")
    if args.feedback is not None and args.feedback.exists() and not args.feedback.is_dir():
        raise InputError(f"--feedback {args.feedback} is not a directory")
    if args.feedback is not None:  # the files appended to: none may be a file read, nor in a folder read
        from guidelinekg.commands import refuse_overwriting_input
        from guidelinekg.hooks.feedback import FEEDBACK_FILE, RUNS_FILE

        content, read = list(args.content or []), [*(args.content or []), *([args.jwks] if args.jwks else [])]
        for name in (RUNS_FILE, FEEDBACK_FILE):
            refuse_overwriting_input("--feedback", args.feedback / name, read, folders=content)
    cards = CardLog(args.feedback)  # its files checked (a file that is not N-Quads refused) before loading
    try:
        advisor = Advisor(choose_guidelines(args.guideline, args.content), as_of=args.as_of)
    except BaseException:
        cards.close()
        raise
    serve(options, advisor, cards=cards)
    return 0
