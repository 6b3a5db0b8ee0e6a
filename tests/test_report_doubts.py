"""Doubts recorded as data reach the report, next to the statement they concern (a clinician reviewer found
that they never did): each statement's verification status as recorded, and each gkg:Discrepancy about it,
its dosing, its cautions or a pre-test requirement, with what the source says, what the primary text says
instead and what it cites; in the JSON, the text, the Markdown, the FHIR Bundle and the report for
patients. "Checked against" says how far the statement was checked, never more.

Made-up content: tests/fixtures/doubts/guideline.ttl (a recommendation whose dosing, caution and pre-test
requirement are in doubt, a not-indicated statement in doubt that sets it aside at a very low value, an
unverified monitoring action in doubt) and wording.ttl (wording for patients of one doubt). Three patients:
the recommendation made (30 mg/dL), set aside (5 mg/dL), undecided with the test ordered (no result).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import jsonschema
import pytest
from markdown_it import MarkdownIt

from guidelinekg.content import resources
from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.model import PatientData
from guidelinekg.report import patient as report_patient
from guidelinekg.report.fhirout import fhir_bundle
from guidelinekg.report.patient import build_reports
from guidelinekg.report.views import render, render_patient

FIXTURE = Path(__file__).parent / "fixtures" / "doubts"
SCHEMA = json.loads((Path(__file__).parents[1] / "docs" / "recommend.schema.json").read_text(encoding="utf-8"))
EX = "urn:example:doubts:"
GKG = "https://w3id.org/guidelinekg/ontology#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
XSD = "http://www.w3.org/2001/XMLSchema#"


def gadget_patient(name: str, value: str | None) -> PatientData:
    """A patient with the covered diagnosis and, unless None, one gadget level."""
    p = f"<urn:example:Patient/{name}>"
    lines = [f"{p} <{RDF_TYPE}> <{GKG}Patient> .", f'{p} <{GKG}birthDate> "1980-01-01"^^<{XSD}date> .',
             f"<urn:example:Condition/{name}> <{RDF_TYPE}> <{GKG}Condition> .",
             f"<urn:example:Condition/{name}> <{GKG}subject> {p} .",
             f"<urn:example:Condition/{name}> <{GKG}conditionCode> <{EX}code-gadgetosis> ."]
    if value is not None:
        o = f"<urn:example:Observation/{name}>"
        lines += [f"{o} <{RDF_TYPE}> <{GKG}Observation> .", f"{o} <{GKG}subject> {p} .",
                  f"{o} <{GKG}observedMeasure> <{EX}gadget-level> .",
                  f'{o} <{GKG}normalizedValue> "{value}"^^<{XSD}decimal> .',
                  f'{o} <{GKG}effectiveTime> "2026-01-02T09:00:00Z"^^<{XSD}dateTime> .']
    return PatientData.build(f"urn:example:Patient/{name}", lines)


PATIENTS = {"made": "30", "aside": "5", "undecided": None}


def _reports(engine: str = "oxigraph", **options) -> dict[str, dict]:
    kb = KnowledgeBase.load([FIXTURE / "guideline.ttl", FIXTURE / "wording.ttl"])
    evaluation = evaluate(kb, [gadget_patient(n, v) for n, v in PATIENTS.items()], as_of=date(2026, 1, 5),
                          engine=engine)
    built = build_reports(evaluation, kb.version(), **options)
    return {iri.rsplit("/", 1)[1]: report for iri, report in built.items()}


@pytest.fixture(scope="module")
def reports() -> dict[str, dict]:
    return _reports(patient_lang="en")


@pytest.fixture(scope="module")
def for_fhir() -> dict[str, dict]:
    return _reports(facts=True)  # what --format fhir builds (with the fields its rendering needs)


def _status(item: dict) -> str | None:
    return (item.get("verification") or {}).get("status")


def _doubts(item: dict) -> list[tuple[str, str]]:
    return [(d["iri"].removeprefix(EX), d["concerns"].removeprefix(EX)) for d in item["doubts"]]


def test_every_report_matches_the_documented_schema(reports):
    for report in reports.values():
        jsonschema.validate(json.loads(json.dumps(report)), SCHEMA)


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_a_recommendation_carries_its_status_its_dosing_and_the_doubts_about_them(engine):
    (rec,) = _reports(engine)["made"]["recommendations"]
    assert rec["verification"] == {"iri": GKG + "VerifiedSecondary", "status": "SECONDARY",
                                   "label": "seen in secondary sources only", "note": "AUTHOR NOTE: seen in the review only."}
    # the doubt about its dosing statement, with what the source and the primary text say and what it cites
    assert _doubts(rec) == [("disc-dose", "dosing-gadgetomab")]
    (doubt,) = rec["doubts"]
    assert doubt["about"] == "The daily dose of gadgetomab" and doubt["verification"]["status"] == "SOURCE-ONLY"
    assert doubt["source_text"] == "Take 7 mg of gadgetomab with food."
    (primary,) = doubt["primary"]
    assert primary["text"] == "The recommended dose is 5 mg once daily." and primary["verification"]["status"] == "PRIMARY"
    assert [(c["kind"], c["title"], c["source"]) for c in primary["citations"]] == [
        ("citation", "Gadgetomab: product label.", "primary")]
    assert [(d["iri"].removeprefix(EX), d["administration"], _status(d)) for d in rec["dosing"]] == [
        ("dosing-gadgetomab", ["Take with food."], "SOURCE-ONLY")]
    (caution,) = rec["cautions"]
    assert _status(caution) == "PRIMARY" and _doubts(caution) == [("disc-caution", "caution-dizzy")]


def test_checked_against_says_how_far_the_statement_was_checked(reports):
    (rec,) = reports["made"]["recommendations"]
    (checked,) = [c for c in rec["citations"] if c["kind"] == "verified-against"]
    # the work is a primary source; the statement was seen in secondary sources only: both said, neither lost
    assert checked["source"] == "primary" and checked["status"] == "SECONDARY"
    text = render(reports["made"])
    assert "checked against: Gadgetomab: product label. (2025) — seen in secondary sources only (SECONDARY)" in text
    # the author's note stays in the JSON
    assert "AUTHOR NOTE" not in text


def test_the_text_shows_each_doubt_under_the_statement_it_concerns(reports):
    text = render(reports["made"])
    item = text[text.index("  - gadgetomab for a low gadget level"):text.index("\nMonitoring")]
    assert '    dosing "gadgetomab 7 mg with food": stated by the source only (SOURCE-ONLY)\n' in item
    assert ('    doubt: The daily dose of gadgetomab: the source says "Take 7 mg of gadgetomab with food."; '
            'Gadgetomab: product label (2025): "The recommended dose is 5 mg once daily." (verified in a primary text) '
            "[disc-dose]\n") in item
    assert "    caution: Gadgetomab may cause dizziness. — verified in a primary text (PRIMARY)\n" in item
    assert "    doubt: Whether dizziness is common: " in item
    monitoring = text[text.index("\nMonitoring"):]
    assert "    verification: unverified (UNVERIFIED)\n" in monitoring
    assert "    doubt: How often the gadget level is checked: " in monitoring


def test_a_not_indicated_statement_in_doubt_and_what_it_set_aside(reports):
    report = reports["aside"]
    (ni,) = report["not_indicated"]
    assert _status(ni) == "SOURCE-ONLY" and _doubts(ni) == [("disc-floor", "ni-very-low")]
    (aside,) = report["not_recommended"]
    assert aside["suppressed_by_verification"] == [{"iri": EX + "ni-very-low", "verification": ni["verification"]}]
    assert _doubts(aside) == [("disc-dose", "dosing-gadgetomab")]  # in the JSON; its dose is not given
    text = render(report)
    section = text[text.index("Not indicated for this patient"):text.index("Not recommended for this patient")]
    assert "    verification: stated by the source only (SOURCE-ONLY)\n" in section
    assert "    doubt: Whether gadgetomab is not indicated below 10 mg/dL: " in section
    aside_text = text[text.index("Not recommended for this patient"):]
    assert "    what sets them aside: stated by the source only (SOURCE-ONLY)\n" in aside_text
    assert "The daily dose" not in aside_text  # the doubts about a dose not given are not said


def test_an_order_carries_the_status_of_its_instructions_and_the_doubts_about_them(reports):
    report = reports["undecided"]
    (undecided,) = report["undetermined"]
    assert _status(undecided) == "SECONDARY" and _doubts(undecided) == [("disc-dose", "dosing-gadgetomab")]
    (order,) = report["orders"]
    assert [(r["instruction"], _status(r)) for r in order["requirements"]] == [("Draw after an overnight fast.", "ASSUMPTION")]
    assert _doubts(order) == [("disc-fasting", "gps-tests")]
    text = render(report)
    assert '    "Draw after an overnight fast.": project assumption (ASSUMPTION)\n' in text
    assert "    doubt: Whether the gadget test must be drawn fasting: " in text


def test_markdown_nests_the_doubts_under_their_statement(reports):
    items, depth = [], 0
    for token in MarkdownIt("commonmark").parse(render(reports["made"], markdown=True)):
        depth += token.nesting if token.type in ("bullet_list_open", "bullet_list_close") else 0
        if token.type == "inline" and depth:
            items.append((depth, token.content))
    head = next(i for i, (d, t) in enumerate(items) if d == 1 and t.startswith("gadgetomab for a low gadget level"))
    under = [t for d, t in items[head + 1:] if d == 2][:8]
    assert any(t.startswith("doubt: The daily dose of gadgetomab") for t in under)
    assert any(t.startswith('dosing "gadgetomab 7 mg with food"') for t in under)


def test_the_patient_is_told_to_have_the_doubtful_points_checked_without_internals(reports):
    view = reports["made"]["patient_view"]
    (rec,) = view["sections"]["recommended"]
    # the doubt with wording for patients is named in it; the one without is not named in clinician wording
    assert rec["check"] == [{"iri": EX + "disc-dose", "text": "how much gadgetomab to take each day"},
                            {"iri": EX + "disc-caution", "text": None}]
    (follow_up,) = view["sections"]["follow_up"]
    assert follow_up["unconfirmed"] is True  # an unverified statement is not said as a certainty
    assert not any(m.startswith(EX + "disc-") for m in view["missing_wording"])
    text = render_patient(reports["made"])
    assert "your clinician should check: how much gadgetomab to take each day\n" in text
    assert "The guideline's sources differ on part of this; your clinician should check it.\n" in text
    assert "This is not confirmed in the guideline's sources; your clinician should check it.\n" in text
    for internal in ("SOURCE-ONLY", "verified in a primary text", "AUTHOR NOTE", "disc-", "product label"):
        assert internal not in text


def test_fhir_requests_carry_the_status_and_the_doubts_as_notes(for_fhir):
    bundle = fhir_bundle([for_fhir["made"]])
    resources_ = [e["resource"] for e in bundle["entry"]]
    (request,) = [r for r in resources_ if r["resourceType"] == "MedicationRequest"]
    notes = [n["text"] for n in request["note"]]
    assert "Verification: seen in secondary sources only (SECONDARY)" in notes
    assert 'Dosing "gadgetomab 7 mg with food": stated by the source only (SOURCE-ONLY)' in notes
    assert any(n.startswith("Doubt: The daily dose of gadgetomab: ") for n in notes)
    assert any(n.startswith("Doubt: Whether dizziness is common: ") for n in notes)
    (group,) = [r for r in resources_ if r["resourceType"] == "RequestGroup"]
    labels = [d.get("label") for g in group["action"] for a in g["action"] for d in a.get("documentation", [])]
    assert "checked against (SECONDARY)" in labels
    monitoring = [r for r in resources_ if r["resourceType"] == "ServiceRequest"]
    assert any(n["text"].startswith("Doubt: How often the gadget level is checked") for r in monitoring for n in r["note"])
    order_bundle = fhir_bundle([for_fhir["undecided"]])
    (order,) = [e["resource"] for e in order_bundle["entry"] if e["resource"]["resourceType"] == "ServiceRequest"]
    first, second = (n["text"] for n in order["note"])
    assert first == 'Instruction "Draw after an overnight fast.": project assumption (ASSUMPTION)'
    assert second.startswith("Doubt: Whether the gadget test must be drawn fasting: ")


def test_doubts_are_read_once_per_guideline_version_not_per_patient(monkeypatch):
    calls = []
    real = report_patient.read_doubts
    monkeypatch.setattr(report_patient, "read_doubts", lambda *a: calls.append(1) or real(*a))
    kb = KnowledgeBase.load([FIXTURE / "guideline.ttl"])
    for name, value in PATIENTS.items():  # one evaluation per patient, as a cohort's chunks or recommend do
        evaluation = evaluate(kb, [gadget_patient(name, value)], as_of=date(2026, 1, 5))
        build_reports(evaluation, kb.version())
    assert len(calls) == 1


def test_a_guideline_without_statuses_or_doubts_reports_none():
    kb = KnowledgeBase.load([Path(__file__).parent / "fixtures" / "madeup" / "guideline.ttl"])
    from test_reasoner import madeup_patient

    evaluation = evaluate(kb, [madeup_patient("41.9")], as_of=date(2026, 1, 5))
    (report,) = build_reports(evaluation, kb.version()).values()
    (rec,) = report["recommendations"]
    assert rec["verification"] is None and rec["doubts"] == [] and rec["dosing"] == []
    text = render(report)
    assert "doubt:" not in text and "verification:" not in text
    report = build_reports(evaluation, kb.version(), patient_lang="en")[report["patient"]]
    (item,) = report["patient_view"]["sections"]["recommended"]
    assert "check" not in item and "unconfirmed" not in item  # nothing to check: no keys added


@pytest.mark.parametrize("path", sorted((resources.queries_dir() / "reports").glob("report-*.rq")), ids=lambda p: p.stem)
def test_the_report_queries_have_their_header(path):
    name = path.stem
    header = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    assert header[0] == f"# report: {name}"
    for field in ("# purpose:", "# encodes:", "# used by:", "# returns:"):
        assert any(line.startswith(field) for line in header), f"{path.name} lacks {field!r}"
