"""Hardening of ``serve`` and ``hooks`` (second round of attacks).

* ``serve``: ``FROM``/``FROM NAMED`` in the query set the dataset when the request gives no
  ``default-graph-uri``/``named-graph-uri`` (the request's win when both are given, as SPARQL 1.1 Protocol
  2.1.4 says); an update sent as ``application/sparql-query`` is refused as an update (403); a UTF-16 body is
  said to be one; a leading UTF-8 byte order mark is dropped.
* ``hooks``: a feedback text field over 64 Ki characters is a 400 (a 17 MiB comment was recorded, and the
  service then could not read its own file back); a line too long to read back is never written; a file
  with such a line is refused naming the line; a JWT whose ``exp`` is more than 5 minutes (plus leeway)
  after ``iat`` or now is refused (so a replay after a restart has a bounded window); an Observation about
  ``Patient/<the same id>`` on another server is not merged into the context patient's data.

No network beyond loopback; servers on ephemeral ports.
"""

from __future__ import annotations

import copy
import io
import json
import time
import uuid
from datetime import UTC, date, datetime
from urllib.parse import quote

import jwt
import pyoxigraph as ox
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from test_hooks import VIEW, Running
from test_serve import VERSION, Server, store  # noqa: F401  (store: test_serve's fixture, a recommend run loaded)

from guidelinekg import cli
from guidelinekg.content.resources import project_home
from guidelinekg.endpoint.protocol import Reply, execute, names_dataset, update_keyword
from guidelinekg.endpoint.server import SparqlApp
from guidelinekg.engine.guidelines import load_guidelines
from guidelinekg.errors import InputError
from guidelinekg.hooks.advice import Advisor, advise
from guidelinekg.hooks.auth import JwtVerifier
from guidelinekg.hooks.feedback import MAX_LINE, CardLog
from guidelinekg.hooks.protocol import MAX_TEXT, Feedback, HookError, parse_call, parse_feedback, services, templates

# --- serve: the dataset, updates, encodings (the app over an in-memory store, as a worker runs it) ---------

G1, G2 = "urn:test:g1", "urn:test:g2"


class LocalPool:
    """What a worker does (``execute`` on an open store), in this process."""

    def __init__(self):
        self.store = ox.Store()
        for n, graph in enumerate([G1, G2, G2]):
            self.store.add(ox.Quad(ox.NamedNode("urn:test:s"), ox.NamedNode("urn:test:p"), ox.Literal(str(n)),
                                   ox.NamedNode(graph)))

    def run(self, request) -> Reply:
        return execute(self.store, request)


def wsgi(app, method="GET", query="", body=b"", **headers):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": "/query", "QUERY_STRING": query, "wsgi.input": io.BytesIO(body),
               "CONTENT_LENGTH": str(len(body)), "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "7878",
               "wsgi.url_scheme": "http", "HTTP_HOST": "127.0.0.1:7878", **headers}
    got = []
    out = b"".join(app(environ, lambda status, hdrs: got.append(int(status.split()[0]))))
    return got[0], out


@pytest.fixture(scope="module")
def app():
    return SparqlApp(LocalPool(), log=None)


def count(app, query: str, params: str = "") -> int:
    status, body = wsgi(app, query=f"query={quote(query)}{params}", HTTP_ACCEPT="text/csv")
    assert status == 200, body
    return int(body.decode().split()[1])


@pytest.mark.parametrize(("query", "params", "expected"), [
    ("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", "", 3),  # no dataset anywhere: the union of all graphs
    ("SELECT (COUNT(*) AS ?n) FROM <urn:nonexistent> WHERE { ?s ?p ?o }", "", 0),
    (f"SELECT (COUNT(*) AS ?n) FROM <{G1}> WHERE {{ ?s ?p ?o }}", "", 1),
    (f"select (count(*) as ?n) from <{G2}> where {{ ?s ?p ?o }}", "", 2),
    (f"SELECT (COUNT(*) AS ?n) FROM NAMED <{G1}> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}", "", 1),
    (f"SELECT (COUNT(*) AS ?n) FROM NAMED <{G1}> WHERE {{ ?s ?p ?o }}", "", 0),  # FROM NAMED alone: empty default
    (f"SELECT (COUNT(*) AS ?n) FROM <{G1}> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}", "", 0),  # FROM alone: no named
    # the protocol's parameters win over the query's FROM (SPARQL 1.1 Protocol, 2.1.4)
    (f"SELECT (COUNT(*) AS ?n) FROM <{G1}> WHERE {{ ?s ?p ?o }}", f"&default-graph-uri={quote(G2, safe='')}", 2),
    (f"SELECT (COUNT(*) AS ?n) FROM <{G1}> WHERE {{ ?s ?p ?o }}", f"&named-graph-uri={quote(G2, safe='')}", 0),
    # "from" as a name, in a string or a comment is no dataset clause
    ('PREFIX ex: <urn:test:> SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o FILTER(?o != ex:from && ?o != "FROM <x>") }'
     " # FROM <urn:nonexistent>", "", 3),
])
def test_from_in_the_query_sets_the_dataset_unless_the_request_does(app, query, params, expected):
    assert count(app, query, params) == expected


def test_names_dataset_reads_the_keyword_only():
    assert names_dataset("SELECT * FROM <urn:g> {}") and names_dataset("ASK FROM NAMED <urn:g> {}")
    assert names_dataset("CONSTRUCT { ?s ?p ?o } FROM <urn:g> WHERE { ?s ?p ?o }")
    for query in ("SELECT * { ?s <urn:from> ?o }", "SELECT * { ?s ex:from ?o }", "SELECT ?from {}",
                  "SELECT $from {}", "ASK { ?s ?p 'x'@from }", "SELECT * { _:from ?p 'FROM' }",
                  "SELECT * {} # FROM <x>", "SELECT * { ?s ex:a.from ?o }"):
        assert not names_dataset(query), query


@pytest.mark.parametrize("update", [
    "INSERT DATA { <urn:a> <urn:b> <urn:c> }",
    "PREFIX ex: <urn:test:> # a comment\ndelete where { ex:a ?p ?o }",
    "BASE <urn:test:> DROP ALL",
    "LOAD <http://127.0.0.1:9/data.ttl>",
    "WITH <urn:g> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }",
])
def test_an_update_sent_as_a_query_is_refused_as_read_only(app, update):
    for status, body in (wsgi(app, "POST", body=update.encode(), CONTENT_TYPE="application/sparql-query"),
                         wsgi(app, query="query=" + quote(update))):
        assert status == 403 and b"read-only" in body and b"update" in body, body
    assert len(app.pool.store) == 3


def test_a_query_with_a_syntax_error_is_still_a_400(app):
    for query in ("SELEC * {}", "ASK { ?s ?p }", "INSERTED {}"):
        status, body = wsgi(app, query="query=" + quote(query))
        assert status == 400 and b"syntax error" in body, (query, body)
    assert update_keyword("SELECT * { ?s ?p 'INSERT' }") is None
    assert update_keyword("#" * 50_000 + "x") is None  # no backtracking blow-up


@pytest.mark.parametrize(("body", "said"), [
    ("ASK {}".encode("utf-16-le"), b"NUL bytes (UTF-16?)"),
    ("ASK {}".encode("utf-16-be"), b"NUL bytes (UTF-16?)"),
    ("ASK {}".encode("utf-16"), b"UTF-16 byte order mark"),
])
def test_a_utf16_body_is_said_to_be_one(app, body, said):
    status, reply = wsgi(app, "POST", body=body, CONTENT_TYPE="application/sparql-query")
    assert status == 400 and b"not UTF-8" in reply and said in reply, reply


def test_a_leading_utf8_byte_order_mark_is_dropped(app):
    for ctype, body in (("application/sparql-query", b"\xef\xbb\xbfASK { ?s ?p ?o }"),
                        ("application/x-www-form-urlencoded", b"query=%EF%BB%BFASK%20%7B%20%3Fs%20%3Fp%20%3Fo%20%7D")):
        status, reply = wsgi(app, "POST", body=body, CONTENT_TYPE=ctype, HTTP_ACCEPT="application/sparql-results+json")
        assert status == 200 and json.loads(reply)["boolean"] is True, reply


def test_the_running_server_honours_from_and_refuses_an_update_sent_as_a_query(store):  # noqa: F811
    server = Server(store, "--timeout", "10", "--workers", "1", "--quiet")
    try:
        def n(query: str) -> int:
            status, _, body = server.request("/query?query=" + quote(query), headers={"Accept": "text/csv"})
            assert status == 200, body
            return int(body.decode().split()[1])

        everything = n("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
        version = n(f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{VERSION}> {{ ?s ?p ?o }} }}")
        assert everything > version > 0
        assert n("SELECT (COUNT(*) AS ?n) FROM <urn:nonexistent> WHERE { ?s ?p ?o }") == 0
        assert n(f"SELECT (COUNT(*) AS ?n) FROM <{VERSION}> WHERE {{ ?s ?p ?o }}") == version
        status, _, body = server.request("/query", method="POST", data=b"INSERT DATA { <urn:a> <urn:b> <urn:c> }",
                                         headers={"Content-Type": "application/sparql-query"})
        assert status == 403 and b"read-only" in body, body
        status, _, body = server.request("/query", method="POST", data="ASK {}".encode("utf-16-le"),
                                         headers={"Content-Type": "application/sparql-query"})
        assert status == 400 and b"UTF-16" in body, body
        status, _, body = server.request("/query", method="POST", data=b"\xef\xbb\xbfASK {}",
                                         headers={"Content-Type": "application/sparql-query"})
        assert status == 200 and b"true" in body, body
    finally:
        server.stop()


# --- hooks: feedback text limits, lines too long to read back ------------------------------------------------


def feedback_body(card: str, comment: str, **reason) -> bytes:
    override = {"userComment": comment, **({"reason": reason} if reason else {})}
    return json.dumps({"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-02-01T10:00:00Z",
                                     "overrideReason": override}]}).encode()


def test_a_feedback_text_field_over_the_limit_is_refused():
    card = str(uuid.uuid4())
    assert parse_feedback(feedback_body(card, "x" * MAX_TEXT))[0].comment == "x" * MAX_TEXT
    for body, field in ((feedback_body(card, "x" * (MAX_TEXT + 1)), "userComment"),
                        (feedback_body(card, "ok", code="c" * (MAX_TEXT + 1)), "reason.code"),
                        (feedback_body(card, "ok", code="c", display="d" * (MAX_TEXT + 1)), "reason.display"),
                        (feedback_body("c" * (MAX_TEXT + 1), "ok"), "card")):
        with pytest.raises(HookError) as refused:
            parse_feedback(body)
        assert refused.value.status == 400 and field in refused.value.message
        assert "at most 65536 (64 Ki)" in refused.value.message


def _issue(cards: CardLog) -> str:
    card = str(uuid.uuid4())
    cards.issued(VIEW, "patient-view", str(uuid.uuid4()), [{"uuid": card, "summary": "s", "indicator": "info"}], [],
                 datetime.now(UTC))
    return card


def test_a_line_too_long_to_read_back_is_never_written(tmp_path):
    cards = CardLog(tmp_path / "log")
    card = _issue(cards)
    with pytest.raises(HookError) as refused:
        cards.feedback(VIEW, [Feedback(card, "overridden", (), None, "A" * (MAX_LINE + 1), "2026-02-01T10:00:00Z")])
    assert refused.value.status == 413 and "read back" in refused.value.message
    assert cards.feedback(VIEW, [Feedback(card, "overridden", (), None, "fine", "2026-02-01T10:00:00Z")]) == 1
    cards.close()
    CardLog(tmp_path / "log").close()  # the files read back


def test_a_feedback_file_with_a_line_longer_than_the_parser_reads_is_refused_naming_it(tmp_path, capsys):
    logged = tmp_path / "log"
    logged.mkdir()
    whole = '<urn:x:a> <urn:x:b> "c" <urn:guidelinekg:cds-hooks:response:1> .\n'
    content = (whole + '<urn:x:a> <urn:x:b> "' + "A" * (17 << 20) + '" <urn:x:g> .\n' + whole).encode()
    (logged / "feedback.nq").write_bytes(content)
    with pytest.raises(InputError) as refused:
        CardLog(logged)
    message = str(refused.value)
    assert "line 2 is 17.0 MiB long, longer than the N-Quads parser reads (16 MiB)" in message, message
    assert "not an N-Quads file" not in message and refused.value.location.line == 2
    assert cli.main(["hooks", "--port", "0", "--feedback", str(logged), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"{logged / 'feedback.nq'}:2: " in err and "line 2 is" in err
    assert (logged / "feedback.nq").read_bytes() == content


@pytest.fixture(scope="module")
def advisor():
    return Advisor(load_guidelines(), as_of=date(2026, 2, 1))


def test_an_oversize_comment_is_a_400_over_http_and_the_service_restarts(advisor, tmp_path):
    logged = tmp_path / "log"
    service = Running(advisor, feedback=logged, quiet=True)
    try:
        cards = service.call(VIEW, ehr_call(base_prefetch()))
        path = f"/cds-services/{VIEW}/feedback"
        status, _, document = service.request("POST", path, feedback_body(cards[0]["uuid"], "A" * (17 << 20)))
        assert status == 400 and "userComment" in document["issue"][0]["diagnostics"], document
        status, _, document = service.request("POST", path, feedback_body(cards[0]["uuid"], "A" * MAX_TEXT))
        assert status == 200 and document == {"recorded": 1}
    finally:
        service.close()
    again = Running(advisor, feedback=logged, quiet=True)
    again.close()


# --- hooks: the JWT's lifetime ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def verifier(tmp_path_factory):
    key = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps({"keys": [{**public, "kid": "ehr-1"}]}), encoding="utf-8")
    return key, JwtVerifier(path, ("https://ehr.example.org",), "https://cds.example.org")


def bearer(key, **claims) -> str:
    now = int(time.time())
    payload = {"iss": "https://ehr.example.org", "aud": "https://cds.example.org/cds-services", "iat": now,
               "exp": now + 300, "jti": str(uuid.uuid4()), **claims}
    return "Bearer " + jwt.encode(payload, key, algorithm="ES256", headers={"kid": "ehr-1", "typ": "JWT"})


def test_a_jwt_valid_for_longer_than_five_minutes_is_refused(verifier):
    key, check = verifier
    now = int(time.time())
    assert check.check(bearer(key), "/cds-services")["iss"] == "https://ehr.example.org"
    assert check.check(bearer(key, exp=now + 360), "/cds-services")  # 5 minutes and the leeway
    for claims in ({"exp": now + 10 * 365 * 86400}, {"exp": 1e300}, {"exp": now + 600},
                   {"iat": now - 3000, "exp": now + 120}):  # issued 50 minutes ago, for 52 minutes
        with pytest.raises(HookError) as refused:
            check.check(bearer(key, **claims), "/cds-services")
        assert refused.value.status == 401 and "5 minutes" in refused.value.message, claims
    replayed = bearer(key)
    check.check(replayed, "/cds-services")
    with pytest.raises(HookError, match="replay"):
        check.check(replayed, "/cds-services")


# --- hooks: a Patient of the same id on another server ------------------------------------------------------

EXAMPLE = json.loads((project_home() / "examples" / "patient-ferritin-45.json").read_text(encoding="utf-8"))
EHR = "https://ehr.example.org/fhir"


def base_prefetch(full_urls: str | None = None) -> dict:
    resources = [e["resource"] for e in EXAMPLE["entry"]]

    def search(kind: str) -> dict:
        return {"resourceType": "Bundle", "type": "searchset", "entry": [
            {**({"fullUrl": f"{full_urls}/{kind}/{r['id']}"} if full_urls else {}), "resource": r}
            for r in resources if r["resourceType"] == kind]}

    out = {key: None for key in templates(True)}
    out.update(patient=next(r for r in resources if r["resourceType"] == "Patient"), observations=search("Observation"),
               conditions=search("Condition"), specimens=search("Specimen"))
    return out


def ehr_call(prefetch: dict, server: str | None = None) -> dict:
    return {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), **({"fhirServer": server} if server else {}),
            "context": {"userId": "Practitioner/1", "patientId": prefetch["patient"]["id"]}, "prefetch": prefetch}


def with_ferritin_about(subject: str, prefetch: dict) -> dict:
    """A later ferritin of 500 ng/mL whose subject is ``subject``."""
    out = copy.deepcopy(prefetch)
    entries = out["observations"]["entry"]
    ferritin = copy.deepcopy(next(e["resource"] for e in entries if "valueQuantity" in e["resource"]))
    ferritin.update(id="f-elsewhere", subject={"reference": subject}, effectiveDateTime="2026-01-10T08:00:00Z")
    ferritin["valueQuantity"]["value"] = 500
    entries.append({"resource": ferritin})
    return out


def advised(advisor, body: dict):
    call = parse_call(json.dumps(body).encode(), services()[VIEW])
    advice = advise(call, advisor, list(templates(advisor.reads_procedures)))
    assert advice.unreadable is None and not advice.missing
    (report,) = advice.reports
    return sorted(r["iri"] for r in report["recommendations"]), [w for w in report["warnings"]
                                                                  if w["code"] == "unknown-patient"], report


@pytest.mark.parametrize(("server", "full_urls", "subject", "used"), [
    (None, None, "http://other.example/fhir/Patient/example-1", False),  # the attacker's case
    (None, EHR, "http://other.example/fhir/Patient/example-1", False),
    (None, EHR, f"{EHR}/Patient/example-1", True),  # the one server the fullUrls name
    (EHR, EHR, "http://other.example/fhir/Patient/example-1", False),
    (EHR, None, f"{EHR}/Patient/example-1", True),  # the request's fhirServer
    (EHR, None, f"{EHR}/Patient/example-1/_history/2", True),
    (EHR, None, "Patient/example-1", True),
])
def test_an_observation_of_a_patient_on_another_server_is_not_the_context_patients(advisor, server, full_urls,
                                                                                   subject, used):
    prefetch = base_prefetch(full_urls)
    plain, _, _ = advised(advisor, ehr_call(prefetch, server))
    recommendations, unknown, report = advised(advisor, ehr_call(with_ferritin_about(subject, prefetch), server))
    if used:
        assert not unknown and recommendations != plain  # a ferritin of 500 changes the advice
    else:
        assert recommendations == plain
        (warning,) = unknown
        assert "f-elsewhere" in warning["message"] and "skipped" in warning["message"]
        assert json.dumps(report).count("f-elsewhere") == 1  # named by its note only, used nowhere
