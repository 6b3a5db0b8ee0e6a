"""The CDS Hooks service as a Falcon (WSGI) application: its routes, checks and log.

Routes:

* ``GET /cds-services``: discovery (:func:`guidelinekg.hooks.protocol.discovery`);
* ``POST /cds-services/{id}``: a hook call, answered ``200 {"cards": [...]}``;
* ``POST /cds-services/{id}/feedback``: feedback on cards, answered ``200 {"recorded": N}``;
* ``GET /``: a short text saying where discovery is.

Every request, before its route: a ``Host`` header naming another host than the bound address,
``127.0.0.1``, ``localhost``, ``[::1]`` or an ``--allow-host`` name gets 403 (DNS rebinding); an
``OPTIONS`` request is answered here (with ``--cors`` and an allowed ``Origin``, a CORS preflight: methods
``GET, POST, OPTIONS`` and headers ``Authorization, Content-Type``, and private-network access when the
browser asks; from an origin not allowed, 403); with
``--jwks`` a request to ``/cds-services`` without a valid bearer JWT gets 401
(:class:`~guidelinekg.hooks.auth.JwtVerifier`). A POST body must be JSON (``Content-Type``
``application/json`` or ``+json``; else 415) of at most :data:`MAX_BODY` bytes (else 413). Every error is
JSON (a FHIR ``OperationOutcome``), a 500 included, whose traceback goes to the log only. Responses are
never cached (``Cache-Control: no-store``). Each request is logged on stderr as ``ADDRESS "METHOD PATH"
STATUS BYTES DURATION`` unless ``--quiet``.
"""

from __future__ import annotations

import re
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime

import falcon
import msgspec

from guidelinekg.hooks.advice import Advisor, advise
from guidelinekg.hooks.cards import CardContext, missing_card, patient_view_cards, unreadable_card
from guidelinekg.hooks.feedback import CardLog
from guidelinekg.hooks.orders import draft_cards, drafts
from guidelinekg.hooks.protocol import (
    ORDER_SELECT,
    HookError,
    discovery,
    operation_outcome,
    parse_call,
    parse_feedback,
    services,
    templates,
)
from guidelinekg.report.fhirrequests import subject_of

MAX_BODY = 64 << 20  # bytes of a request: prefetch holds a patient's record
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
METHODS = "GET, POST, OPTIONS"
_HOST = re.compile(r"\[(?P<v6>[0-9A-Fa-f:.]+)\](?::\d*)?|(?P<name>[^:\[\]\s]+)(?::\d*)?")
_ENCODER = msgspec.json.Encoder(decimal_format="number")
_HELP = ("guidelinekg CDS Hooks service\n\nDiscovery: GET /cds-services\nHook call: POST /cds-services/{id}\n"
         "Feedback:  POST /cds-services/{id}/feedback\n")


def host_name(header: str) -> str | None:
    """The name in a ``Host`` header, without port or brackets, lower case; ``None`` when malformed."""
    m = _HOST.fullmatch(header.strip())
    return None if m is None else (m["v6"] or m["name"]).lower().rstrip(".")


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() and c not in '"\\' else f"\\x{ord(c):02x}" for c in text[:200])


def stderr_log(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _json(resp: falcon.Response, status: int, document: object) -> None:
    resp.status = status
    resp.content_type = "application/json"
    resp.data = _ENCODER.encode(document)


class Guard:
    """Host check, CORS, authentication, and the access log (Falcon middleware)."""

    def __init__(self, *, allowed_hosts, cors, verifier, log):
        self.allowed = frozenset((*LOOPBACK_NAMES, *(h.lower().strip("[]").rstrip(".") for h in allowed_hosts)))
        self.cors, self.verifier, self.log = tuple(cors), verifier, log

    def _origin(self, req: falcon.Request) -> str | None:
        origin = req.get_header("Origin")
        if not self.cors or origin is None:
            return None
        if "*" in self.cors:
            return "*"
        return origin if origin.rstrip("/").lower() in {o.rstrip("/").lower() for o in self.cors} else None

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.monotonic()
        host = req.get_header("Host")
        if host is not None and host_name(host) not in self.allowed:
            names = ", ".join(sorted(f"[{h}]" if ":" in h else h for h in self.allowed))
            raise HookError(403, "forbidden", f"Host {_printable(host)!r} is not a name of this service ({names}); "
                                              "start it with --allow-host NAME to accept it")
        if req.method == "OPTIONS":
            if req.get_header("Origin") is not None and self._origin(req) is None:
                raise HookError(403, "forbidden", "cross-origin requests from this origin are not allowed; start "
                                                  "the service with --cors ORIGIN to allow them")
            resp.status = 204
            resp.set_header("Allow", METHODS)
            if self._origin(req) is not None:
                resp.set_header("Access-Control-Allow-Methods", METHODS)
                resp.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type")
                resp.set_header("Access-Control-Max-Age", "600")
                if (req.get_header("Access-Control-Request-Private-Network") or "").lower() == "true":
                    # a page of an allowed origin (a public sandbox) calling this service on the user's machine
                    resp.set_header("Access-Control-Allow-Private-Network", "true")
            resp.complete = True
            return
        if self.verifier is not None and req.path.startswith("/cds-services"):
            req.context.claims = self.verifier.check(req.get_header("Authorization"), req.path)

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource, req_succeeded: bool) -> None:
        resp.set_header("Cache-Control", "no-store")
        resp.set_header("X-Content-Type-Options", "nosniff")
        origin = self._origin(req)
        if origin is not None:
            resp.set_header("Access-Control-Allow-Origin", origin)
            resp.set_header("Vary", "Origin")
        if self.log is not None:
            started = getattr(req.context, "started", time.monotonic())
            size = len(resp.data or b"") if resp.text is None else len(resp.text.encode())
            self.log(f'{req.remote_addr or "-"} "{_printable(req.method)} {_printable(req.path)}" '
                     f"{str(resp.status).split()[0]} {size} {(time.monotonic() - started) * 1000:.1f}ms")


class Discovery:
    def __init__(self, document: dict):
        self.document = document

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _json(resp, 200, self.document)


class Root:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = "text/plain; charset=utf-8"
        resp.text = _HELP


def _body(req: falcon.Request) -> bytes:
    ctype = (req.content_type or "").split(";")[0].strip().lower()
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise HookError(415, "not-supported", "the body must be JSON (Content-Type: application/json)")
    if req.content_length is not None and req.content_length > MAX_BODY:
        raise HookError(413, "too-costly", f"the body is larger than {MAX_BODY >> 20} MiB")
    data = req.bounded_stream.read(MAX_BODY + 1)
    if len(data) > MAX_BODY:
        raise HookError(413, "too-costly", f"the body is larger than {MAX_BODY >> 20} MiB")
    return data


class Hooks:
    """``POST /cds-services/{id}``: a hook call; ``POST /cds-services/{id}/feedback``: feedback."""

    def __init__(self, advisor: Advisor, cards: CardLog, log: Callable[[str], None] | None):
        self.advisor, self.cards, self.log = advisor, cards, log
        self.services = services()
        self.templates = templates(advisor.reads_procedures, advisor.reads_allergies)
        self.labels = [g.version.label for g in advisor.guidelines]

    def _service(self, service_id: str):
        service = self.services.get(service_id)
        if service is None:
            raise HookError(404, "not-found", f"no CDS service {_printable(service_id)!r}; see GET /cds-services")
        return service

    def on_post(self, req: falcon.Request, resp: falcon.Response, service_id: str) -> None:
        service = self._service(service_id)
        call = parse_call(_body(req), service)
        started = datetime.now(UTC)
        selected = drafts(call) if service.hook == ORDER_SELECT else []
        if service.hook == ORDER_SELECT and not selected:
            _json(resp, 200, {"cards": []})  # no medication order among the selections: nothing to check
            return
        advice = advise(call, self.advisor, list(self.templates), log=self.log or stderr_log)
        patient = f"urn:guidelinekg:Patient/{call.patient_id}"
        ctx = CardContext(call.hook_instance, subject_of(patient), advice.as_of.isoformat(), patient)
        if advice.missing:
            cards = [missing_card(ctx, advice.missing, self.templates, self.labels)]
        elif advice.unreadable is not None:
            cards = [unreadable_card(ctx, advice.unreadable, self.labels)]
        elif service.hook == ORDER_SELECT:
            cards = [c for d in selected for g, _, report in advice.evaluated for c in draft_cards(ctx, d, g, report)]
        else:
            cards = patient_view_cards(ctx, advice.reports, advice.disagreements)
        self.cards.issued(service.id, service.hook, call.hook_instance, cards,
                          [e for _, e, _ in advice.evaluated], started, advice.disagreements)
        _json(resp, 200, {"cards": cards})

    def on_post_feedback(self, req: falcon.Request, resp: falcon.Response, service_id: str) -> None:
        service = self._service(service_id)
        recorded = self.cards.feedback(service.id, parse_feedback(_body(req)))
        _json(resp, 200, {"recorded": recorded})


def _hook_error(req, resp, error: HookError, params) -> None:
    for name, value in error.headers:
        resp.set_header(name, value)
    _json(resp, error.status, operation_outcome(error.code, error.message))


def _serializer(req, resp, error: falcon.HTTPError) -> None:
    codes = {404: "not-found", 405: "not-supported", 413: "too-costly", 415: "not-supported"}
    message = error.description or error.title or "request refused"
    if error.status_code == 404:
        message = f"no such resource: {_printable(req.path)}; discovery is GET /cds-services"
    elif error.status_code == 405:
        message = f"method {_printable(req.method)} is not allowed on {_printable(req.path)}"
    resp.content_type = "application/json"
    resp.data = _ENCODER.encode(operation_outcome(codes.get(error.status_code, "invalid"), message))


def create_app(advisor: Advisor, cards: CardLog, *, allowed_hosts: tuple[str, ...] = (), cors: tuple[str, ...] = (),
               verifier=None, log: Callable[[str], None] | None = stderr_log) -> falcon.App:
    """The WSGI application (see the module docstring)."""
    app = falcon.App(middleware=[Guard(allowed_hosts=allowed_hosts, cors=cors, verifier=verifier, log=log)])
    app.req_options.strip_url_path_trailing_slash = True
    app.resp_options.default_media_type = "application/json"
    hooks = Hooks(advisor, cards, log)
    app.add_route("/", Root())
    app.add_route("/cds-services", Discovery(discovery(hooks.templates, advisor.as_of and advisor.as_of.isoformat())))
    app.add_route("/cds-services/{service_id}", hooks)
    app.add_route("/cds-services/{service_id}/feedback", hooks, suffix="feedback")
    app.set_error_serializer(_serializer)

    def unexpected(req, resp, error: Exception, params) -> None:
        (log or stderr_log)(f"error answering {_printable(req.method)} {_printable(req.path)}:\n"
                            + traceback.format_exc())
        _json(resp, 500, operation_outcome("exception", "the service failed on this request (logged)"))

    app.add_error_handler(Exception, unexpected)  # the most specific handler wins: Falcon's own errors keep
    app.add_error_handler(HookError, _hook_error)  # theirs (with the serializer above)
    return app
