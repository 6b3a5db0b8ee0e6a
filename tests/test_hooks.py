"""guidelinekg hooks: a CDS Hooks 2.0 service, tested over loopback with a real HTTP client.

Servers are started in threads (waitress, ``--port 0``) on the guidelines loaded once for the module; one
subprocess test runs the command itself. Every response is checked against the JSON Schema written from
the CDS Hooks 2.0 specification (``tests/fixtures/hooks/cds-hooks-2.0.schema.json``): discovery, cards,
feedback, and the OperationOutcome of every error.

The vignettes (``tests/cases``): each FHIR Bundle is sent as an EHR would send it (the Patient, and a
``searchset`` Bundle per prefetch key, with ``urn:uuid`` references resolved to ``Type/id`` as a FHIR server
serves them), and the cards must carry the decisions ``recommend`` makes on the file: the same
recommendations, not-indicated statements, statements not decided, orders, monitoring and warnings; the
report behind them equals ``recommend``'s but for the provenance. A vignette of bad input gets the
unreadable-record card, or a 400 when it is not even JSON; the RDF vignettes have no FHIR form to send.
"""

from __future__ import annotations

import copy
import http.client
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import jsonschema
import jwt
import pyoxigraph as ox
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guidelinekg import cli
from guidelinekg.commands.recommend import evaluate_guidelines
from guidelinekg.engine.guidelines import load_guidelines
from guidelinekg.errors import InputError
from guidelinekg.hooks import markdown
from guidelinekg.hooks.advice import Advisor, advise
from guidelinekg.hooks.cards import EXTENSION
from guidelinekg.hooks.feedback import CardLog
from guidelinekg.hooks.prefetch import gather
from guidelinekg.hooks.protocol import ALLERGIES, PROCEDURES, SEARCHES, parse_call, services, templates
from guidelinekg.hooks.serve import HooksOptions, make_server
from vignettes import CONTENT_NS, load_vignettes

HERE = Path(__file__).parent
SCHEMA = json.loads((HERE / "fixtures" / "hooks" / "cds-hooks-2.0.schema.json").read_text(encoding="utf-8"))
VIEW, SELECT = "guidelinekg-patient-view", "guidelinekg-order-select"
FHIR = "https://ehr.example.org/fhir"
KEYS = list(templates(True, True))  # what as_ehr_sends sends: every key, procedures and allergies included
VIGNETTES = {v.name: v for v in load_vignettes()}
# A vignette that is one page of a search (a "next" link) has no CDS Hooks form: the prefetch is a searchset per
# type, and a paged one is refused (tests of prefetch paging below), so what it tests is not a hook's decision.
FHIR_VIGNETTES = [v for v in VIGNETTES.values() if v.patient.suffix == ".json"
                  and '"relation": "next"' not in v.patient.read_text(encoding="utf-8")]
RLS = CONTENT_NS


def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({**SCHEMA, "$ref": f"#/$defs/{name}"},
                                           format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


CHECK = {name: validator(name) for name in ("discovery", "request", "response", "feedback", "feedbackReply",
                                            "operationOutcome")}


def conforms(name: str, document) -> None:
    errors = sorted(CHECK[name].iter_errors(document), key=lambda e: list(e.path))
    assert not errors, f"{name}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


# --- servers and the client ---------------------------------------------------------------------------------


class Running:
    """A service on 127.0.0.1 in a thread; ``request`` checks every answer against the schema."""

    def __init__(self, advisor: Advisor, **options):
        self.lines: list[str] = []
        self.cards = CardLog(options.get("feedback"))
        self.server = make_server(HooksOptions(port=0, **options), advisor, self.cards, log=self.lines.append)
        self.port = self.server.effective_port
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        """waitress's loop, one poll at a time, until told to stop; the server is closed in this thread
        (closing its sockets from another thread while it polls them would race)."""
        while not self.stopping:
            self.server.asyncore.loop(timeout=0.02, map=self.server._map, count=1)
        self.server.close()

    def close(self) -> None:
        self.stopping = True
        self.thread.join(10)
        self.cards.close()

    def request(self, method: str, path: str, body=None, headers: dict | None = None) -> tuple[int, dict, object]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        sent = {"Content-Type": "application/json"} if body is not None else {}
        sent.update(headers or {})
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            status, got, raw = response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()
        assert status != 500, raw
        if status == 204 or (method == "GET" and path == "/" and status == 200):
            return status, got, raw
        assert got["content-type"].startswith("application/json"), got
        document = json.loads(raw)
        if status >= 400:
            conforms("operationOutcome", document)
        elif path.endswith("/feedback"):
            conforms("feedbackReply", document)
        elif path.rstrip("/") == "/cds-services":
            conforms("discovery", document)
        else:
            conforms("response", document)
            check_cards(document["cards"])
        return status, got, document

    def call(self, service: str, body: dict, headers: dict | None = None) -> list[dict]:
        conforms("request", body)
        status, _, document = self.request("POST", f"/cds-services/{service}", body, headers)
        assert status == 200, document
        return document["cards"]


def check_cards(cards: list[dict]) -> None:
    """What the schema cannot say: unique uuids, Markdown that is not empty, a patient-bound request."""
    assert len({c["uuid"] for c in cards}) == len(cards)
    for card in cards:
        assert card["summary"] == " ".join(card["summary"].split()) and len(card["summary"]) < 140
        assert card["detail"].strip() and card["extension"][EXTENSION]["kind"] == card["source"]["topic"]["code"]
        for s in card.get("suggestions", []):
            for action in s["actions"]:
                if action["type"] == "create":
                    subject = action["resource"].get("subject") or action["resource"].get("for")
                    assert subject and subject["reference"].startswith("Patient/")


@pytest.fixture(scope="module")
def guidelines():
    return load_guidelines()


@pytest.fixture(scope="module")
def advisors(guidelines):
    """The guidelines as of each as-of date of the vignettes (a service decides as of one date)."""
    return {day: Advisor(guidelines, as_of=date.fromisoformat(day)) for day in sorted({v.as_of for v in VIGNETTES.values()})}


@pytest.fixture(scope="module")
def servers(advisors):
    """One service per as-of date."""
    running = {day: Running(advisor) for day, advisor in advisors.items()}
    yield running
    for server in running.values():
        server.close()


@pytest.fixture(scope="module")
def server(servers):
    return servers["2026-02-01"]


# --- the EHR side: a vignette as prefetch -------------------------------------------------------------------


def as_ehr_sends(bundle: dict) -> tuple[str, dict]:
    """(patient id, prefetch) of a vignette's Bundle, as a FHIR server would answer the templates."""
    by_url = {e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}"
              for e in bundle["entry"] if e.get("fullUrl") and e["resource"].get("id")}

    def served(node):
        if isinstance(node, dict):
            return {k: (by_url.get(v, v) if k == "reference" and isinstance(v, str) else served(v))
                    for k, v in node.items()}
        return [served(n) for n in node] if isinstance(node, list) else node

    resources = [served(e["resource"]) for e in bundle["entry"]]
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    searches = {**SEARCHES, **PROCEDURES, **ALLERGIES}  # a key the service does not ask for is not read
    kinds = {kind: key for key, kind in searches.items()}
    assert {r["resourceType"] for r in resources} <= {"Patient", *kinds}, "a resource no prefetch key fetches"
    prefetch = {"patient": patients[0]}
    for key, kind in searches.items():
        found = [r for r in resources if r["resourceType"] == kind]
        if key == "observations":
            found += patients[1:]  # a second Patient (bad input): as an _include would bring it
        prefetch[key] = {"resourceType": "Bundle", "type": "searchset", "total": len(found),
                         "entry": [{"fullUrl": f"{FHIR}/{r['resourceType']}/{r.get('id')}", "resource": r,
                                    "search": {"mode": "match"}} for r in found]}
    return patients[0]["id"], prefetch


def hook_body(hook: str, patient: str, prefetch: dict | None, **context) -> dict:
    body = {"hook": hook, "hookInstance": str(uuid.uuid4()), "fhirServer": FHIR,
            "context": {"userId": "Practitioner/example", "patientId": patient, **context}}
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def vignette_body(name: str | Path, hook: str = "patient-view", **context) -> dict:
    """A call about a vignette (by name, or the path of its patient file)."""
    path = VIGNETTES[name].patient if isinstance(name, str) else name
    patient, prefetch = as_ehr_sends(json.loads(path.read_text(encoding="utf-8")))
    return hook_body(hook, patient, prefetch, **context)


def meta(card: dict) -> dict:
    return card["extension"][EXTENSION]


def decisions_of_cards(cards: list[dict]) -> dict:
    out: dict = {"orders": set(), "warnings": set()}
    for card in cards:
        m = meta(card)
        if m["kind"] == "order":
            (action,) = card["suggestions"][0]["actions"]
            out["orders"].add(action["resource"]["code"]["coding"][0]["code"])
        elif m["kind"] == "warning":
            out["warnings"].add(m["code"])
        else:
            out.setdefault(m["kind"], set()).update(m["statements"])
    return out


def decisions_of_report(report: dict) -> dict:
    made = report["recommendations"]
    out = {"orders": {o["loinc"] for o in report["orders"]}, "warnings": {w["code"] for w in report["warnings"]},
           "recommendation": {r["iri"] for r in made if r["direction"] != "against"},
           "recommendation-against": {r["iri"] for r in made if r["direction"] == "against"},
           "not-indicated": {n["iri"] for n in report["not_indicated"]},
           "population-not-met": {n["iri"] for n in report["population_not_met"]},
           "data-required": {u["iri"] for u in report["undetermined"]},
           "monitoring": {m["iri"] for m in report["monitoring"]}}
    return {k: v for k, v in out.items() if v or k in ("orders", "warnings")}


# --- discovery ----------------------------------------------------------------------------------------------


def test_discovery_lists_both_services_with_their_prefetch(server, advisors):
    procedures = advisors["2026-02-01"].reads_procedures  # whether a loaded guideline has a procedure criterion
    status, headers, document = server.request("GET", "/cds-services")
    assert status == 200 and headers["cache-control"] == "no-store"
    by_id = {s["id"]: s for s in document["services"]}
    assert {k: s["hook"] for k, s in by_id.items()} == {VIEW: "patient-view", SELECT: "order-select"}
    for s in by_id.values():
        assert s["prefetch"] == {
            "patient": "Patient/{{context.patientId}}", "observations": "Observation?patient={{context.patientId}}",
            "conditions": "Condition?patient={{context.patientId}}",
            "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
            "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
            "medicationAdministrations": "MedicationAdministration?patient={{context.patientId}}",
            "medicationDispenses": "MedicationDispense?patient={{context.patientId}}",
            "specimens": "Specimen?patient={{context.patientId}}",
            **({"procedures": "Procedure?patient={{context.patientId}}"} if procedures else {}),
            # the shipped guideline recommends medicines: an allergy to one is warned of (rule 77)
            "allergyIntolerances": "AllergyIntolerance?patient={{context.patientId}}"}
        assert "never queries the FHIR server" in s["usageRequirements"] and "2026-02-01" in s["usageRequirements"]
    assert server.request("GET", "/cds-services/")[2] == document  # a trailing slash is the same resource


# --- patient-view: every vignette, the decisions of recommend -----------------------------------------------


@pytest.mark.parametrize("name", [v.name for v in FHIR_VIGNETTES])
def test_patient_view_makes_the_decisions_of_recommend(servers, advisors, guidelines, name):
    vignette = VIGNETTES[name]
    server = servers[vignette.as_of]
    as_of = date.fromisoformat(vignette.as_of)
    if vignette.expected["expect"].get("error"):
        raw = vignette.patient.read_bytes()
        try:
            bundle = json.loads(raw)
        except ValueError:
            bundle = None
        if not (isinstance(bundle, dict) and bundle.get("resourceType") == "Bundle"):
            # not JSON, or JSON that is no FHIR: sent as the patient, as it is, the request is malformed
            text = b'{"hook": "patient-view", "hookInstance": "' + str(uuid.uuid4()).encode() + \
                b'", "context": {"patientId": "p1"}, "prefetch": {"patient": ' + raw + b"}}"
            status, _, document = server.request("POST", f"/cds-services/{VIEW}", text)
            assert status == 400 and document["issue"][0]["code"] == "invalid"
            return
        (card,) = server.call(VIEW, vignette_body(name))  # two patients: the second as an _include brings it
        assert meta(card)["kind"] == "record-unreadable" and card["indicator"] == "warning"
        assert "could not be read" in card["summary"] and "expected exactly one patient" in card["detail"]
        return
    body = vignette_body(name)
    cards = server.call(VIEW, body)
    (_, report), = evaluate_guidelines(vignette.patient, guidelines, as_of=as_of, facts=True)
    assert decisions_of_cards(cards) == decisions_of_report(report)
    # the report behind the cards is recommend's, but for the provenance of the raw bytes read
    call = parse_call(json.dumps(body).encode(), services()[VIEW])
    (mine,) = advise(call, advisors[vignette.as_of], KEYS).reports
    assert {k: v for k, v in mine.items() if k != "provenance"} == {k: v for k, v in report.items() if k != "provenance"}
    assert mine["provenance"]["input_sha256"] == report["provenance"]["input_sha256"]  # the same facts
    for card in cards:
        assert card["uuid"] == str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:uuid:{body['hookInstance']} "
                                                                 f"{card_key(card, report)}"))


def card_key(card: dict, report: dict) -> str:
    m, version = meta(card), report["guideline"]["version_iri"]
    kind = m["kind"]
    if kind in ("recommendation", "recommendation-against", "not-indicated", "population-not-met"):
        return m["statements"][0]
    measure = {o["loinc"]: o["measure"] for o in report["orders"]}
    return {"order": lambda: f"order {version} {measure.get(m.get('code'))}",
            "warning": lambda: f"warning {version} {m['code']}",
            "data-required": lambda: f"data-required {version}",
            "monitoring": lambda: f"monitoring {version}"}[kind]()


def test_a_recommendation_card_says_why_with_source_dose_and_its_order(server):
    cards = server.call(VIEW, vignette_body("001-iron-deficient-45kg"))
    fcm = next(c for c in cards if meta(c)["statements"] == [RLS + "rec-fcm"])
    assert fcm["indicator"] == "info" and fcm["selectionBehavior"] == "at-most-one"
    assert fcm["source"]["label"].startswith("Iron Infusion for Restless Legs Syndrome 2025-12-23 (review status")
    assert "**Why**" in fcm["detail"] and "- serum ferritin" in fcm["detail"] and "675 mg" in fcm["detail"]
    (suggestion,) = fcm["suggestions"]
    (action,) = suggestion["actions"]
    assert action["type"] == "create" and action["resource"]["resourceType"] == "MedicationRequest"
    assert action["resource"]["instantiatesCanonical"] == [RLS + "rec-fcm"]
    assert {r["code"] for r in fcm["overrideReasons"]} >= {"patient-preference", "contraindication", "already-done"}
    with_doi = [c for c in cards if c["source"].get("url")]
    assert with_doi and all(c["source"]["url"].startswith("https://doi.org/") for c in with_doi)


def test_orders_and_undecided_statements_get_cards_that_order_the_tests(server):
    cards = server.call(VIEW, vignette_body("021-no-iron-studies"))
    orders = [c for c in cards if meta(c)["kind"] == "order"]
    assert {c["summary"].split(":")[0] for c in orders} == {"Order serum ferritin", "Order transferrin saturation"}
    for card in orders:
        (action,) = card["suggestions"][0]["actions"]
        assert action["resource"]["resourceType"] == "ServiceRequest" and action["resource"]["code"]["coding"]
    (waiting,) = [c for c in cards if meta(c)["kind"] == "data-required"]
    assert waiting["summary"].startswith("Data required: 6 statements not decided yet")


# --- order-select -------------------------------------------------------------------------------------------


def draft(ident: str, text: str | None = None, **extra) -> dict:
    resource = {"resourceType": "MedicationRequest", "id": ident, "status": "draft", "intent": "order",
                "subject": {"reference": "Patient/p010"}, **extra}
    if text:
        resource["medicationCodeableConcept"] = {"text": text}
    return resource


def select_body(name: str, *orders: dict, selections: list[str] | None = None) -> dict:
    chosen = selections if selections is not None else [f"{o['resourceType']}/{o['id']}" for o in orders]
    return vignette_body(name, "order-select", selections=chosen,
                         draftOrders={"resourceType": "Bundle", "type": "collection",
                                      "entry": [{"resource": o} for o in orders]})


def test_order_select_warns_against_oral_iron_at_ferritin_80_and_suggests_iv_iron(server):
    cards = server.call(SELECT, select_body("010-ferritin-80-tsat-30-iv-only", draft("d1", "Ferrous sulfate 325 mg tablet")))
    (card,) = cards
    assert card["indicator"] == "warning" and meta(card)["kind"] == "drafted-order"
    assert set(meta(card)["statements"]) == {RLS + "ni-oral-75-100", RLS + "pit-oral-75-100"}
    assert "not indicated for this patient" in card["summary"]
    assert "Avoid oral iron for ferritin 75-100 ng/mL" in card["detail"] and "measured 80 ng/mL" in card["detail"]
    replace = card["suggestions"][0]
    delete, create = replace["actions"]
    assert delete == {"type": "delete", "description": "Remove the draft order Ferrous sulfate 325 mg tablet",
                      "resourceId": "MedicationRequest/d1"}
    assert create["type"] == "create" and create["resource"]["instantiatesCanonical"] == [RLS + "rec-fcm-75-100"]
    assert create["resource"]["dosageInstruction"][0]["route"] == {"text": "intravenous"}
    assert [a["type"] for a in card["suggestions"][-1]["actions"]] == ["delete"]
    assert card["selectionBehavior"] == "at-most-one"


def test_order_select_is_silent_for_what_the_guideline_recommends_or_does_not_know(server):
    name = "010-ferritin-80-tsat-30-iv-only"
    assert server.call(SELECT, select_body(name, draft("d2", "Injectafer 750 mg/15 mL IV"))) == []
    assert server.call(SELECT, select_body(name, draft("d3", "Metformin 500 mg tablet"))) == []
    service = {"resourceType": "ServiceRequest", "id": "s1", "status": "draft", "intent": "order",
               "subject": {"reference": "Patient/p010"}, "code": {"text": "Ferrous sulfate level"}}
    assert server.call(SELECT, select_body(name, service)) == []  # only medication orders are checked
    unselected = select_body(name, draft("d4", "Ferrous sulfate 325 mg"), selections=[])
    assert server.call(SELECT, unselected) == []


def test_order_select_reads_a_contained_medication_and_a_class_statement(server):
    medication = {"resourceType": "Medication", "id": "m1", "code": {"text": "Ferric carboxymaltose 50 mg/mL"}}
    order = draft("d5", medicationReference={"reference": "#m1"}, contained=[medication])
    (card,) = server.call(SELECT, select_body("147-ferritin-150-tsat-30-not-indicated", order))
    assert card["indicator"] == "warning" and "not indicated" in card["summary"]
    assert [s["label"] for s in card["suggestions"]] == ["Remove the draft order Ferric carboxymaltose 50 mg/mL"]


def test_order_select_says_a_draft_named_by_code_only_was_not_checked(server):
    """Found in a trial: a draft coded RxNorm 310325 (ferrous sulfate 325 mg) with no text, for a patient at
    ferritin 80 for whom oral iron is not indicated, got {"cards": []}, which reads as "no concerns"."""
    coded = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "310325"}]}
    (card,) = server.call(SELECT, select_body("010-ferritin-80-tsat-30-iv-only",
                                              draft("d7", medicationCodeableConcept=coded)))
    assert card["indicator"] == "info" and meta(card)["kind"] == "drafted-order-not-recognised"
    assert "RxNorm 310325" in card["detail"] and "not checked" in card["detail"]
    # the shipped terms list 310325 (ferrous sulfate 325 mg) only as unverified: not "no product is coded so"
    assert "the guideline lists that code only as unverified, so it is not used" in card["detail"]
    unresolved = draft("d9", medicationReference={"reference": "Medication/m9"})  # not in the request
    (card,) = server.call(SELECT, select_body("010-ferritin-80-tsat-30-iv-only", unresolved))
    assert meta(card)["kind"] == "drafted-order-not-recognised" and "names no medicine" in card["detail"]
    named = {**coded, "text": "lisinopril 10 mg"}  # a name the guideline does not know: nothing about it
    assert server.call(SELECT, select_body("010-ferritin-80-tsat-30-iv-only",
                                           draft("d8", medicationCodeableConcept=named))) == []


def test_order_select_without_iron_studies_says_the_order_cannot_be_checked_yet(server):
    (card,) = server.call(SELECT, select_body("021-no-iron-studies", draft("d6", "ferrous sulphate 200 mg")))
    assert card["indicator"] == "info" and meta(card)["kind"] == "drafted-order-not-checked"
    assert "not checked yet" in card["summary"]
    (suggestion,) = card["suggestions"]
    assert {a["resource"]["code"]["coding"][0]["code"] for a in suggestion["actions"]} == {"2276-4", "2502-3"}


# --- missing and unusable prefetch --------------------------------------------------------------------------


def test_without_prefetch_one_card_names_the_data_needed(server):
    body = vignette_body("010-ferritin-80-tsat-30-iv-only")
    del body["prefetch"]
    (card,) = server.call(VIEW, body)
    assert meta(card)["kind"] == "data-missing" and card["indicator"] == "info"
    assert "patient data needed" in card["summary"] and "never queries the FHIR server" in card["detail"]
    for key, template in templates(False).items():
        assert f"**{markdown.text(key)}** ({markdown.text(template)}): not sent" in card["detail"]


@pytest.mark.parametrize("change, why", [
    (lambda p: p.pop("observations"), "observations** (Observation?patient={{context.patientId}}): not sent"),
    (lambda p: p.update(patient=None), "patient** (Patient/{{context.patientId}}): null"),
    (lambda p: p.update(conditions={"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "timeout", "diagnostics": "search timed out"}]}), "search timed out"),
    (lambda p: p["observations"].update(link=[{"relation": "next", "url": f"{FHIR}/Observation?page=2"}]),
     "the Bundle is one page of a search; later pages were not read"),
    (lambda p: p["observations"].update(link=[{"relation": "previous", "url": f"{FHIR}/Observation?page=1"}]),
     "it is a later page, and the earlier ones were not read"),
    (lambda p: p["observations"].update(type="searchset", total=40), "a search that matched 40 resources, of which it holds"),
    (lambda p: p["patient"].update(id="someone-else"), "not the context's patient"),
])
def test_incomplete_prefetch_gets_the_data_needed_card(server, change, why):
    body = vignette_body("010-ferritin-80-tsat-30-iv-only")
    change(body["prefetch"])
    (card,) = server.call(VIEW, body)
    assert meta(card)["kind"] == "data-missing" and why in card["detail"].replace("\\", "")


def test_null_for_a_search_means_no_such_data(server):
    body = vignette_body("010-ferritin-80-tsat-30-iv-only")
    for key in ("medicationStatements", "medicationRequests", "medicationAdministrations", "medicationDispenses"):
        body["prefetch"][key] = None
    kinds = {meta(c)["kind"] for c in server.call(VIEW, body)}
    assert "recommendation" in kinds and "data-missing" not in kinds


# An EHR's OperationOutcome in the prefetch: whatever JSON its issues hold, a card naming the data, never a 500.
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=8)
ISSUE = st.fixed_dictionaries({}, optional={
    "severity": st.sampled_from(["fatal", "error", "warning", "information"]) | JSON,
    "code": st.sampled_from(["timeout", "exception"]) | JSON,
    "diagnostics": JSON,
    "details": JSON | st.lists(JSON, max_size=2) | st.fixed_dictionaries({}, optional={"text": JSON, "coding": JSON}),
})
OUTCOME = st.fixed_dictionaries({"resourceType": st.just("OperationOutcome")},
                                optional={"issue": JSON | st.lists(ISSUE | JSON, max_size=3)})


def _errors(outcome: dict) -> bool:
    issues = outcome.get("issue")
    return isinstance(issues, list) and any(isinstance(i, dict) and i.get("severity") in ("error", "fatal")
                                            for i in issues)


def _place(prefetch: dict, where: str, outcome: dict) -> None:
    if where == "in a searchset":
        prefetch["observations"]["entry"].insert(0, {"resource": outcome, "search": {"mode": "outcome"}})
    else:
        prefetch[where] = outcome


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(outcome=OUTCOME, where=st.sampled_from(["patient", "conditions", "in a searchset"]))
def test_fuzz_an_operation_outcome_of_any_shape_in_the_prefetch_names_the_data(outcome, where):
    body = _valid()
    _place(body["prefetch"], where, outcome)
    gathered = gather(parse_call(json.dumps(body).encode(), services()[VIEW]), KEYS)
    missing = dict(gathered.missing)
    if where == "in a searchset":
        assert ("observations" in missing) == _errors(outcome), missing
        if _errors(outcome):
            assert "the search results are incomplete" in missing["observations"]
    else:
        assert missing[where].startswith("the EHR reported an error fetching it") and gathered.raw is None


@pytest.mark.parametrize("outcome", [
    {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "details": "boom"}]},
    {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "details": ["x", {"text": "y"}]}]},
    {"resourceType": "OperationOutcome", "issue": [{"severity": "fatal", "details": {"text": 5}, "diagnostics": []}]},
    {"resourceType": "OperationOutcome", "issue": "x"},
    {"resourceType": "OperationOutcome", "issue": 5},
    {"resourceType": "OperationOutcome", "issue": ["x", 5, None]},
], ids=["details-string", "details-list", "no-text", "issue-string", "issue-number", "issues-not-objects"])
@pytest.mark.parametrize("where", ["patient", "conditions", "in a searchset"])
def test_an_operation_outcome_of_any_shape_gets_a_card_over_http(server, outcome, where):
    body = _valid()
    _place(body["prefetch"], where, copy.deepcopy(outcome))
    kinds = [meta(c)["kind"] for c in server.call(VIEW, body)]  # server.request asserts there is no 500
    assert (kinds == ["data-missing"]) == (where != "in a searchset" or _errors(outcome)), kinds


@pytest.mark.parametrize(("outcome", "said"), [
    ({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "details": "boom"}]}, "(boom)"),
    ({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "details": [{"text": "a b"}, "c"]}]},
     "(a b)"),
    ({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}, "(timeout)"),
])
def test_what_an_operation_outcome_says_is_shown(server, outcome, said):
    body = _valid()
    body["prefetch"]["conditions"] = outcome
    (card,) = server.call(VIEW, body)
    assert said in card["detail"].replace("\\", "")


# --- malformed requests: 4xx with an OperationOutcome, never a 500 ------------------------------------------


def _valid() -> dict:
    return vignette_body("010-ferritin-80-tsat-30-iv-only")


MALFORMED = {
    "not json": b"{hook: patient-view",
    "an array": b"[]",
    "duplicate key": b'{"hook": "patient-view", "hook": "order-select"}',
    "no hook": lambda b: b.pop("hook"),
    "wrong hook": lambda b: b.update(hook="order-sign"),
    "no hookInstance": lambda b: b.pop("hookInstance"),
    "hookInstance not a uuid": lambda b: b.update(hookInstance="1234"),
    "no context": lambda b: b.pop("context"),
    "context not an object": lambda b: b.update(context="p010"),
    "no patientId": lambda b: b["context"].pop("patientId"),
    "patientId not a FHIR id": lambda b: b["context"].update(patientId="../../etc/passwd"),
    "prefetch not an object": lambda b: b.update(prefetch=[]),
    "prefetch value not a resource": lambda b: b["prefetch"].update(patient="Patient/p010"),
    "fhirAuthorization without fhirServer": lambda b: (b.pop("fhirServer"), b.update(fhirAuthorization={
        "access_token": "x", "token_type": "Bearer", "expires_in": 30, "scope": "patient/*.read", "subject": "c"})),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_call_is_a_400_with_an_operation_outcome(server, case):
    spoil = MALFORMED[case]
    body = spoil if isinstance(spoil, bytes) else _valid()
    if not isinstance(spoil, bytes):
        spoil(body)
    status, _, document = server.request("POST", f"/cds-services/{VIEW}", body)
    assert status == 400 and document["issue"][0]["severity"] == "error" and document["issue"][0]["diagnostics"]


def test_order_select_needs_its_context(server):
    for spoil in (lambda c: c.pop("selections"), lambda c: c.pop("draftOrders"),
                  lambda c: c.update(selections="MedicationRequest/d1"),
                  lambda c: c.update(selections=["MedicationRequest/not-there"])):
        body = select_body("010-ferritin-80-tsat-30-iv-only", draft("d1", "Ferrous sulfate"))
        spoil(body["context"])
        status, _, document = server.request("POST", f"/cds-services/{SELECT}", body)
        assert status == 400, document


def test_unknown_service_method_type_and_path(server):
    assert server.request("POST", "/cds-services/no-such-service", _valid())[0] == 404
    assert server.request("GET", f"/cds-services/{VIEW}")[0] == 405
    assert server.request("POST", "/elsewhere", _valid())[0] == 404
    status, _, document = server.request("POST", f"/cds-services/{VIEW}", json.dumps(_valid()).encode(),
                                         {"Content-Type": "text/plain"})
    assert status == 415 and "application/json" in document["issue"][0]["diagnostics"]


ADVERSARIAL = {
    "nested 300 deep": b'{"hook": "patient-view", "context": ' + b'{"a": ' * 300 + b"1" + b"}" * 301,
    "a lone surrogate": b'{"hook": "patient-view", "hookInstance": "\\ud800"}',
    "a huge number": b'{"hook": "patient-view", "hookInstance": 1e999999}',
    "not UTF-8": b'{"hook": "\xff\xfe"}',
    "empty": b"",
}


@pytest.mark.parametrize("case", sorted(ADVERSARIAL))
def test_adversarial_bodies_are_refused_cleanly(server, case):
    assert server.request("POST", f"/cds-services/{VIEW}", ADVERSARIAL[case])[0] == 400


@pytest.mark.parametrize("spoil", [
    lambda p: p["observations"]["entry"][0]["resource"]["code"].update(coding=5),
    lambda p: p["observations"]["entry"][0]["resource"].update(valueQuantity=80),
    lambda p: p["conditions"]["entry"].append({"resource": {"resourceType": "Condition", "id": "x" * 70}}),
], ids=["coding a number", "valueQuantity a number", "id too long"])
def test_unusable_patient_data_get_the_unreadable_record_card(server, spoil):
    body = _valid()
    spoil(body["prefetch"])
    (card,) = server.call(VIEW, body)
    assert meta(card)["kind"] == "record-unreadable" and "Traceback" not in card["detail"]


# --- security: Host, CORS, JWT ------------------------------------------------------------------------------


def test_the_host_header_must_name_this_service(server, guidelines):
    status, _, document = server.request("GET", "/cds-services", headers={"Host": "evil.example:80"})
    assert status == 403 and "--allow-host" in document["issue"][0]["diagnostics"]
    assert server.request("GET", "/cds-services", headers={"Host": f"localhost:{server.port}"})[0] == 200
    other = Running(Advisor(guidelines), allow_hosts=("cds.lab.example",))
    try:
        assert other.request("GET", "/cds-services", headers={"Host": "cds.lab.example"})[0] == 200
    finally:
        other.close()


def test_cors_only_when_asked(server, guidelines):
    origin = {"Origin": "https://sandbox.cds-hooks.org"}
    _, headers, _ = server.request("GET", "/cds-services", headers=origin)
    assert "access-control-allow-origin" not in headers
    assert server.request("OPTIONS", f"/cds-services/{VIEW}", headers=origin)[0] == 403
    cors = Running(Advisor(guidelines), cors=("https://sandbox.cds-hooks.org",), quiet=True)
    try:
        status, headers, _ = cors.request("OPTIONS", f"/cds-services/{VIEW}", headers={
            **origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization",
            "Access-Control-Request-Private-Network": "true"})
        assert status == 204 and headers["access-control-allow-origin"] == "https://sandbox.cds-hooks.org"
        assert headers["access-control-allow-private-network"] == "true"
        assert "POST" in headers["access-control-allow-methods"]
        assert "Authorization" in headers["access-control-allow-headers"]
        assert cors.request("GET", "/cds-services", headers=origin)[1]["access-control-allow-origin"] == origin["Origin"]
        assert "access-control-allow-origin" not in cors.request("GET", "/cds-services",
                                                                headers={"Origin": "https://evil.example"})[1]
        assert cors.request("OPTIONS", "/cds-services", headers={"Origin": "https://evil.example"})[0] == 403
        assert cors.lines == []  # --quiet
    finally:
        cors.close()


def test_the_connection_limits_reach_waitress(server):
    """Slowloris: with waitress's defaults (100 connections, a silent one closed after 120 s) 101 half-sent
    requests stopped the service; it has the limits of serve."""
    from guidelinekg.endpoint.serve import CONNECTION_LIMITS as SERVE_LIMITS
    from guidelinekg.hooks.serve import CONNECTION_LIMITS

    adj = server.server.adj
    assert (adj.channel_timeout, adj.cleanup_interval, adj.connection_limit, adj.asyncore_use_poll) == (15, 5, 500, True)
    assert CONNECTION_LIMITS == SERVE_LIMITS


def test_many_half_sent_requests_do_not_stop_the_service(server):
    idle = []
    try:
        for _ in range(150):
            conn = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            conn.sendall(f"POST /cds-services/{VIEW} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
            idle.append(conn)
        assert server.request("GET", "/cds-services")[0] == 200
    finally:
        for conn in idle:
            conn.close()


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps({"keys": [{**public, "kid": "ehr-1", "use": "sig"}]}), encoding="utf-8")
    return key, path


AUDIENCE = "https://cds.example.org"  # the service's base URL as the EHR calls it (behind TLS, say)


def token(key, path: str, *, kid="ehr-1", alg="RS384", **claims) -> str:
    now = int(time.time())
    payload = {"iss": "https://ehr.example.org", "aud": AUDIENCE + path, "iat": now,
               "exp": now + 300, "jti": str(uuid.uuid4()), **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid, "typ": "JWT"})


def test_a_bearer_jwt_is_required_when_configured(guidelines, keys):
    key, jwks = keys
    secured = Running(Advisor(guidelines, as_of=date(2026, 2, 1)), jwks=jwks, issuers=("https://ehr.example.org",),
                      audience=AUDIENCE, quiet=True)
    try:
        path = f"/cds-services/{VIEW}"
        status, headers, document = secured.request("GET", "/cds-services")
        assert status == 401 and headers["www-authenticate"].startswith("Bearer error=")
        ok = token(key, "/cds-services")
        assert secured.request("GET", "/cds-services", headers={"Authorization": f"Bearer {ok}"})[0] == 200
        assert secured.request("GET", "/cds-services", headers={"Authorization": f"Bearer {ok}"})[0] == 401  # replay
        assert secured.call(VIEW, _valid(), {"Authorization": f"Bearer {token(key, path)}"})
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        refused = {
            "wrong issuer": token(key, path, iss="https://evil.example"),
            "wrong audience": token(key, path, aud="https://elsewhere.example/cds-services"),
            "expired": token(key, path, exp=int(time.time()) - 600, iat=int(time.time()) - 900),
            "no jti": token(key, path, jti=None),
            "unknown kid": token(key, path, kid="ehr-9"),
            "another key": token(other, path),
            "a shared secret": jwt.encode({"iss": "https://ehr.example.org", "aud": AUDIENCE + path, "jti": "x",
                                           "iat": int(time.time()), "exp": int(time.time()) + 60},
                                          "secret-secret-secret-secret-secret!", algorithm="HS256",
                                          headers={"kid": "ehr-1"}),
        }
        for case, bad in refused.items():
            status, _, document = secured.request("POST", path, _valid(), {"Authorization": f"Bearer {bad}"})
            assert status == 401 and document["issue"][0]["code"] == "security", case
    finally:
        secured.close()


def test_jwt_options_are_checked_before_serving(keys, capsys):
    _, jwks = keys
    assert cli.main(["hooks", "--jwks", str(jwks), "--port", "0"]) == 2
    assert "--jwks needs --issuer" in capsys.readouterr().err
    assert cli.main(["hooks", "--port", "70000"]) == 2
    assert "is not a port" in capsys.readouterr().err
    assert cli.main(["hooks", "--issuer", "x", "--port", "0"]) == 2


# --- feedback as PROV-O, and the library query ----------------------------------------------------------------


def test_feedback_is_recorded_as_prov_and_read_by_the_override_rates_query(guidelines, tmp_path, capsys):
    logged = tmp_path / "feedback"
    service = Running(Advisor(guidelines, as_of=date(2026, 2, 1)), feedback=logged, quiet=True)
    try:
        cards = service.call(VIEW, vignette_body("010-ferritin-80-tsat-30-iv-only"))
        fcm = next(c for c in cards if meta(c)["statements"] == [RLS + "rec-fcm-75-100"])
        oral = next(c for c in cards if meta(c)["statements"] == [RLS + "pit-oral-75-100"])
        stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        feedback = {"feedback": [
            {"card": fcm["uuid"], "outcome": "accepted", "acceptedSuggestions": [{"id": fcm["suggestions"][0]["uuid"]}],
             "outcomeTimestamp": stamp},
            {"card": oral["uuid"], "outcome": "overridden", "outcomeTimestamp": stamp,
             "overrideReason": {"reason": {"system": "https://w3id.org/guidelinekg/override-reason",
                                           "code": "patient-preference", "display": "The patient declines"},
                                "userComment": "tried IV before"}}]}
        conforms("feedback", feedback)
        assert service.request("POST", f"/cds-services/{VIEW}/feedback", feedback)[2] == {"recorded": 2}
        unknown = {"feedback": [{**feedback["feedback"][1], "card": str(uuid.uuid4())}]}
        assert service.request("POST", f"/cds-services/{VIEW}/feedback", unknown)[0] == 404
        assert service.request("POST", f"/cds-services/{SELECT}/feedback", feedback)[0] == 404  # not its card
        foreign = copy.deepcopy(feedback)
        foreign["feedback"][0]["acceptedSuggestions"] = [{"id": str(uuid.uuid4())}]
        assert service.request("POST", f"/cds-services/{VIEW}/feedback", foreign)[0] == 400
        no_suggestion = {"feedback": [{"card": fcm["uuid"], "outcome": "accepted", "outcomeTimestamp": stamp}]}
        assert service.request("POST", f"/cds-services/{VIEW}/feedback", no_suggestion)[0] == 400
        # an override reason the card never offered (found in a trial: recorded, and counted by override-rates)
        for reason in ({"system": "https://w3id.org/guidelinekg/override-reason", "code": "x> <urn:evil"},
                       {"system": "http://example.org/other", "code": "patient-preference"}):
            odd = copy.deepcopy(feedback)
            odd["feedback"][1]["overrideReason"]["reason"] = reason
            status, _, body = service.request("POST", f"/cds-services/{VIEW}/feedback", odd)
            assert status == 400 and "offered no override reason" in json.dumps(body), body
        again = service.call(VIEW, vignette_body("010-ferritin-80-tsat-30-iv-only"))  # shown twice, overridden once
        assert len(again) == len(cards)
    finally:
        service.close()
    assert cli.main(["query", "override-rates", "--data", str(logged / "feedback.nq"), "--format", "json"]) == 0
    bindings = json.loads(capsys.readouterr().out)["results"]["bindings"]
    rows = {r["statement"]["value"]: {k: v["value"] for k, v in r.items()} for r in bindings}
    assert rows[RLS + "pit-oral-75-100"]["shown"] == "2" and rows[RLS + "pit-oral-75-100"]["overridden"] == "1"
    assert rows[RLS + "pit-oral-75-100"]["overrideRate"] == "1" and rows[RLS + "pit-oral-75-100"]["reason"] == "patient-preference"
    assert rows[RLS + "rec-fcm-75-100"]["accepted"] == "1" and rows[RLS + "rec-fcm-75-100"]["overrideRate"] == "0"
    # the runs behind the cards are ordinary run provenance: loaded, and replayed by the audit
    assert cli.main(["audit", str(logged / "provenance.nq"), "--allow-unapproved"]) == 0, capsys.readouterr().out
    assert cli.main(["load", "--store", str(tmp_path / "store"), str(logged)]) == 0
    capsys.readouterr()
    # a restarted service knows the cards it issued before
    restarted = Running(Advisor(guidelines, as_of=date(2026, 2, 1)), feedback=logged, quiet=True)
    try:
        late = {"feedback": [{"card": fcm["uuid"], "outcome": "overridden", "outcomeTimestamp": stamp}]}
        assert restarted.request("POST", f"/cds-services/{VIEW}/feedback", late)[2] == {"recorded": 1}
        # and the override reasons each offered
        late["feedback"][0]["overrideReason"] = {"reason": {"system": "http://example.org/other", "code": "x"}}
        assert restarted.request("POST", f"/cds-services/{VIEW}/feedback", late)[0] == 400
    finally:
        restarted.close()


# --- the command, as a process --------------------------------------------------------------------------------


def test_the_command_serves_until_sigterm():
    proc = subprocess.Popen([sys.executable, "-m", "guidelinekg.cli", "hooks", "--port", "0", "--as-of", "2026-02-01"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
            if line.startswith("listening on "):
                break
        assert any("no --jwks" in line for line in lines)
        url = lines[-1].split()[2]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/cds-services")
        conn = http.client.HTTPConnection("127.0.0.1", int(url.split(":")[2].split("/")[0]), timeout=30)
        conn.request("GET", "/cds-services")
        response = conn.getresponse()
        conforms("discovery", json.loads(response.read()))
        conn.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()


def test_summary_and_markdown_helpers():
    long = "word " * 60
    cut = markdown.summary(long)
    assert len(cut) < 140 and cut.endswith("…") and "  " not in cut
    assert markdown.summary("short one") == "short one"
    assert markdown.text("<b>*x*</b>\n# y") == "&lt;b&gt;\\*x\\*&lt;/b&gt; # y"
    assert markdown.text("# heading") == "\\# heading"
    # a list marker escaped at its punctuation, which Markdown honours mid-line too (a version "0.1" in a
    # footer showed as "\\0.1" when the backslash came before the digit)
    assert markdown.text("0.1") == "0\\.1" and markdown.text("12) x") == "12\\) x"
    assert markdown.text("2276-4") == "2276-4"


def test_discovery_names_procedures_only_when_a_guideline_reads_them():
    assert "procedures" not in templates(False) and templates(True)["procedures"] == "Procedure?patient={{context.patientId}}"


# --- the library query on fixed data (tests/fixtures/hooks/feedback.trig) -----------------------------------------

DEMO = "https://example.org/guidelinekg-test/query/demo/"
OVERRIDE_ROWS = [  # statement, label, hook, shown, accepted, overridden, overrideRate, reason, reasonCount
    ("ni-x", "no iron above 200 ug/dL", "order-select", "1", "0", "1", "1", "already-done", "1"),
    ("ni-x", "no iron above 200 ug/dL", "order-select", "1", "0", "1", "1", "contraindication", "1"),
    ("rec-b", "IV iron for mild anaemia", "patient-view", "1", "0", "1", "1", "contraindication", "1"),
    ("rec-a", "oral iron for anaemia", "patient-view", "2", "1", "1", "0.5", "patient-preference", "1"),
    ("rec-a", "oral iron for anaemia", "order-select", "1", "1", "0", "0", None, None),
    ("rec-c", "dietary advice", "patient-view", "1", "0", "0", None, None, None),
]


def test_override_rates_on_fixed_data_and_its_parameters():
    from guidelinekg.endpoint.query import QueryText, load_dataset, parse_params, run_query

    store = load_dataset([HERE / "fixtures" / "query" / "guideline.ttl", HERE / "fixtures" / "hooks" / "feedback.trig"],
                         shipped_guidelines=False)
    query = QueryText.from_library("override-rates")

    def rows(*params: str) -> list[tuple]:
        result = run_query(store, query, parse_params(list(params), query.header))
        return [tuple(None if t is None else t.value.removeprefix(DEMO) for t in row) for row in result.rows]

    assert rows() == OVERRIDE_ROWS
    assert rows(f"statement=<{DEMO}rec-a>") == OVERRIDE_ROWS[3:5]
    assert rows("hook=order-select") == [r for r in OVERRIDE_ROWS if r[2] == "order-select"]
    assert rows(f"statement=<{DEMO}rec-a>", "hook=patient-view") == OVERRIDE_ROWS[3:4]
    assert rows("hook=nothing") == [] and rows("statement=<urn:guidelinekg:test:nothing>") == []


def test_concurrent_calls_give_the_cards_of_calls_one_at_a_time(server):
    names = [v.name for v in FHIR_VIGNETTES if v.as_of == "2026-02-01" and not v.expected["expect"].get("error")][:12]
    bodies = {name: vignette_body(name) for name in names}
    alone = {name: server.call(VIEW, bodies[name]) for name in names}
    together: dict[str, list] = {}
    threads = [threading.Thread(target=lambda chunk: together.update({n: server.call(VIEW, bodies[n]) for n in chunk}),
                                args=(names[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert together == alone  # the same hook instances: the same uuids, the same bytes


# --- several guidelines: each its own cards, and where they disagree ----------------------------------------------

EXAMPLES = HERE.parent / "examples" / "guidelines"
FAMILY = [EXAMPLES / name for name in ("aasm-rls-2024", "irlssg-iron-2018", "aan-rls-2016")]


@pytest.fixture(scope="module")
def family():
    running = Running(Advisor(load_guidelines(FAMILY), as_of=date(2026, 2, 1)), quiet=True)
    yield running
    running.close()


def test_several_guidelines_each_give_their_cards_and_their_disagreements(family, capsys):
    path = EXAMPLES / "irlssg-iron-2018" / "cases" / "008-ferritin-150-tsat-30" / "patient.json"
    cards = family.call(VIEW, vignette_body(path))
    content = [arg for g in FAMILY for arg in ("--content", str(g))]
    assert cli.main(["recommend", str(path), *content, "--as-of", "2026-02-01", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert len(document["reports"]) == 3 and document["disagreements"]
    for report in document["reports"]:
        mine = [c for c in cards if meta(c).get("guideline") == report["guideline"]["version_iri"]]
        assert decisions_of_cards(mine) == decisions_of_report(report)
        assert all(c["source"]["label"].startswith(report["guideline"]["label"].split(" (")[0]) for c in mine)
    disagreeing = {frozenset(meta(c)["statements"]) for c in cards if meta(c)["kind"] == "disagreement"}
    assert disagreeing == {frozenset((d["first"]["statement"], d["second"]["statement"])) for d in document["disagreements"]}


def test_order_select_warns_against_what_a_guideline_recommends_against(family):
    path = EXAMPLES / "aasm-rls-2024" / "cases" / "023-on-pramipexole-against-shown" / "patient.json"
    body = vignette_body(path, "order-select", selections=["MedicationRequest/d7"], draftOrders={
        "resourceType": "Bundle", "entry": [{"resource": draft("d7", "Pramipexole 0.125 mg tablet")}]})
    (card,) = [c for c in family.call(SELECT, body) if "recommended against" in c["summary"]]
    assert card["indicator"] == "warning" and meta(card)["statements"] == [
        "https://w3id.org/guidelinekg/guideline/aasm-rls-2024/rec-against-pramipexole"]


@pytest.mark.parametrize("item", [
    {"outcome": "accepted", "outcomeTimestamp": "2026-02-01T10:00:00Z"},  # no acceptedSuggestions
    {"outcome": "ignored", "outcomeTimestamp": "2026-02-01T10:00:00Z"},
    {"outcome": "overridden", "outcomeTimestamp": "2026-13-01T10:00:00Z"},
    {"outcome": "overridden", "outcomeTimestamp": "2026-02-01"},
    {"outcome": "overridden", "outcomeTimestamp": "2026-02-01T10:00:00Z", "overrideReason": {}},
    {"outcome": "overridden", "outcomeTimestamp": "2026-02-01T10:00:00Z", "overrideReason": {"reason": {"system": "x"}}},
])
def test_a_malformed_feedback_is_a_400(server, item):
    status, _, document = server.request("POST", f"/cds-services/{VIEW}/feedback",
                                         {"feedback": [{"card": str(uuid.uuid4()), **item}]})
    assert status == 400, document


WHOLE = '<urn:x:a> <urn:x:b> "c" <urn:guidelinekg:cds-hooks:response:1> .\n'


@pytest.mark.parametrize("name", ["provenance.nq", "feedback.nq"])
@pytest.mark.parametrize("content", [
    b"My lab notebook",  # no line end: once cut back to its last line end, i.e. to nothing
    b"My lab notebook\nsecond page\n",
    b"<b>My notes</b>",  # starts like an IRI, but is no quad cut short
    WHOLE.encode() + b"not a quad\n" + WHOLE.encode(),
    WHOLE.encode() + b"\xff\xfe" + WHOLE.encode(),
], ids=["one-line", "lines", "html", "bad-middle-line", "not-utf8"])
def test_a_feedback_file_that_is_not_n_quads_is_refused_and_left_as_it_is(tmp_path, name, content):
    logged = tmp_path / "log"
    logged.mkdir()
    (logged / name).write_bytes(content)
    with pytest.raises(InputError) as refused:
        CardLog(logged)
    assert refused.value.location.path == str(logged / name) and refused.value.location.line is not None
    assert "not an N-Quads file" in str(refused.value) and "\n" not in str(refused.value)
    assert (logged / name).read_bytes() == content
    assert {p.name for p in logged.iterdir()} <= {name, "provenance.nq"}  # nothing set aside


def test_the_command_refuses_a_feedback_file_that_is_not_n_quads_in_one_located_line(tmp_path, capsys):
    logged = tmp_path / "log"
    logged.mkdir()
    content = (WHOLE + "not a quad\n" + WHOLE).encode()
    (logged / "feedback.nq").write_bytes(content)
    assert cli.main(["hooks", "--port", "0", "--feedback", str(logged), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"{logged / 'feedback.nq'}:2:1: " in err and "not an N-Quads file" in err
    assert (logged / "feedback.nq").read_bytes() == content


def test_a_whole_last_quad_without_its_line_end_is_kept(tmp_path):
    logged = tmp_path / "log"
    logged.mkdir()
    run = '<urn:x:a> <urn:x:b> "c" <urn:guidelinekg:run:1> .'
    (logged / "provenance.nq").write_text(run, encoding="utf-8")
    (logged / "feedback.nq").write_text(WHOLE + WHOLE.replace("response:1", "response:2").rstrip("\n"),
                                        encoding="utf-8")
    lines: list[str] = []
    cards = CardLog(logged, log=lines.append)
    cards.close()
    assert (logged / "provenance.nq").read_text(encoding="utf-8") == run + "\n"
    assert cards.runs == {"urn:guidelinekg:run:1"}
    assert len(list(ox.parse(path=str(logged / "feedback.nq"), format=ox.RdfFormat.N_QUADS))) == 2
    assert sorted(p.name for p in logged.iterdir()) == ["feedback.nq", "provenance.nq"]
    assert len(lines) == 2 and all("line end" in line for line in lines)


@pytest.mark.parametrize("torn", [b'<urn:x:a> <urn:x:b> "half a li', b"<urn:x:a> <urn:x:b> <urn:x:c> <urn:gui",
                                  b"<urn:x:a> <urn:x:b> \"caf\xc3", b"_:b0 <urn:x:b> _:b1", b"<"])
def test_a_last_line_a_crash_cut_short_is_set_aside_never_deleted(tmp_path, torn):
    logged = tmp_path / "log"
    logged.mkdir()
    (logged / "feedback.nq").write_bytes(WHOLE.encode() + torn)
    lines: list[str] = []
    CardLog(logged, log=lines.append).close()
    assert (logged / "feedback.nq").read_text(encoding="utf-8") == WHOLE
    (aside,) = logged.glob("feedback.nq.torn-*")
    assert aside.read_bytes() == torn
    (line,) = lines
    assert line.startswith("warning: ") and str(aside) in line and "incomplete line" in line
    (logged / "feedback.nq").write_bytes(WHOLE.encode() + torn)  # again: a second file, the first one kept
    CardLog(logged, log=lines.append).close()
    assert sorted(p.read_bytes() for p in logged.glob("feedback.nq.torn-*")) == [torn, torn]


@pytest.mark.parametrize("name", [v.name for v in FHIR_VIGNETTES if not v.expected["expect"].get("error")])
def test_order_select_makes_the_decisions_of_recommend(servers, guidelines, name):
    """Every vignette, a drafted oral iron salt: a warning names only statements recommend's report applies
    against it (not indicated, recommended against, set aside), replacements only recommendations made; a
    not-indicated statement about oral iron or iron supplementation that applies is never missed; no such
    statement, no warning."""
    vignette = VIGNETTES[name]
    (_, report), = evaluate_guidelines(vignette.patient, guidelines, as_of=date.fromisoformat(vignette.as_of),
                                       facts=True)
    body = vignette_body(name, "order-select", selections=["MedicationRequest/dx"])
    order = draft("dx", "Ferrous sulfate 325 mg tablet", subject={"reference": f"Patient/{body['context']['patientId']}"})
    body["context"]["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": order}]}
    cards = servers[vignette.as_of].call(SELECT, body)
    against = ({n["iri"] for n in report["not_indicated"]} | {n["iri"] for n in report["not_recommended"]}
               | {s for n in report["not_recommended"] for s in n["suppressed_by"]}
               | {r["iri"] for r in report["recommendations"] if r["direction"] == "against"})
    made = {r["iri"] for r in report["recommendations"] if r["direction"] != "against"}
    warnings = [c for c in cards if meta(c)["kind"] == "drafted-order"]
    for card in warnings:
        assert set(meta(card)["statements"]) <= against, meta(card)["statements"]
        for suggestion in card["suggestions"]:
            for action in suggestion["actions"]:
                if action["type"] == "create":
                    assert set(action["resource"]["instantiatesCanonical"]) <= made
    about_oral = [n for n in report["not_indicated"]
                  if any(i in ("oral iron", "iron supplementation") for i in n["interventions"])]
    if about_oral:
        assert warnings, f"{[n['iri'] for n in about_oral]} apply and the draft was not warned about"
    if not against:
        assert not warnings


# --- codes only where the content marks them verified -------------------------------------------------------


@pytest.fixture(scope="module")
def ferritin_unverified(tmp_path_factory):
    """The shipped guideline with serum ferritin's LOINC code marked unverified, as a service."""
    folder = tmp_path_factory.mktemp("content") / "rls-iron"
    shutil.copytree(HERE.parent / "ontology" / "guidelines" / "rls-iron", folder)
    terms = folder / "terms.ttl"
    before, after = terms.read_text(encoding="utf-8").split("loinc:2276-4 a gkg:Measure", 1)
    block, rest = after.split("\n\n", 1)
    assert "gkg:verificationStatus gkg:VerifiedPrimary" in block
    block = block.replace("gkg:verificationStatus gkg:VerifiedPrimary", "gkg:verificationStatus gkg:Unverified")
    terms.write_text(before + "loinc:2276-4 a gkg:Measure" + block + "\n\n" + rest, encoding="utf-8")
    running = Running(Advisor(load_guidelines([folder]), as_of=date(2026, 2, 1)), quiet=True)
    yield running
    running.close()


def suggested(cards: list[dict], kind: str) -> list[dict]:
    return [a["resource"] for c in cards if meta(c)["kind"] == kind for s in c["suggestions"] for a in s["actions"]]


def test_cards_suggest_requests_with_verified_codes_only(ferritin_unverified, server):
    for name, kind in (("021-no-iron-studies", "order"), ("010-ferritin-80-tsat-30-iv-only", "monitoring")):
        body = vignette_body(name)
        requests = {r["code"]["text"]: r["code"] for r in suggested(ferritin_unverified.call(VIEW, body), kind)}
        assert requests["serum ferritin"] == {"text": "serum ferritin"}, kind  # the name kept, the code withheld
        assert requests["transferrin saturation"]["coding"] == [{"system": "http://loinc.org", "code": "2502-3"}]
        shipped = {r["code"]["text"]: r["code"] for r in suggested(server.call(VIEW, body), kind)}
        assert shipped["serum ferritin"]["coding"] == [{"system": "http://loinc.org", "code": "2276-4"}]


def test_an_order_card_names_the_code_only_where_verified(ferritin_unverified, server):
    body = vignette_body("021-no-iron-studies")
    for service, shown in ((ferritin_unverified, False), (server, True)):
        cards = [c for c in service.call(VIEW, body) if meta(c)["kind"] == "order" and "ferritin" in c["summary"]]
        assert len(cards) == 1
        assert ("LOINC 2276-4" in cards[0]["detail"]) is shown
        assert (meta(cards[0]).get("code") == "2276-4") is shown
