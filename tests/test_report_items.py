"""What the text and Markdown report must tell apart (found by a trial author encoding a lipid guideline):

- two monitoring actions quoting one source sentence showed as two identical lines (the sentence): each now
  shows its label, its interval in words and its trigger, as JSON and FHIR carry them;
- "Not recommended" named the intervention once per recommendation set aside ("betamab, betamab: ..."):
  each recommendation is now named by its label, and the report for patients counts recommendations set
  aside as JSON's ``not_recommended`` lists them (two recommendations of one intervention are two);
- a result dated to the month only ("2025-12", a span: gkg:effectiveSpanEnd) was explained as measured on
  its first day ("on 2025-12-01"): it is shown as recorded ("in 2025-12").

Made-up content: tests/fixtures/report-items/guideline.ttl; FHIR input built here; both engines.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import jsonschema
import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.report.graphread import dated, recorded_date
from guidelinekg.report.patient import build_report
from guidelinekg.report.views import render, render_patient
from test_report_text import nesting  # CommonMark list nesting, as the text report's tests read it

FIXTURE = Path(__file__).parent / "fixtures" / "report-items" / "guideline.ttl"
SCHEMA = json.loads((Path(__file__).parents[1] / "docs" / "recommend.schema.json").read_text(encoding="utf-8"))
NS = "urn:example:items:"
SENTENCE = "Check the widget level 4 to 12 weeks after starting, then every 3 to 12 months."


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load([FIXTURE])


def widget(effective: str, value: float = 30) -> dict:
    return {"resourceType": "Observation", "id": "o1", "status": "final", "effectiveDateTime": effective,
            "code": {"coding": [{"system": "http://loinc.org", "code": "99999-9"}]},
            "subject": {"reference": "Patient/p1"},
            "valueQuantity": {"value": value, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}}


def report_of(kb: KnowledgeBase, effective: str = "2025-12", engine: str = "oxigraph") -> dict:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "birthDate": "1980-01-01"}},
        {"resource": widget(effective)}]}
    patient = load_patient_input("items.json", matcher=kb.matcher, measures=kb.measures, reads=kb.reads,
                                 raw=json.dumps(bundle).encode())
    evaluation = evaluate(kb, [patient], as_of=date(2026, 1, 15), engine=engine)
    return build_report(evaluation, patient.patient_iri, kb.version(), patient_lang="en")


@pytest.fixture(scope="module", params=["oxigraph", "rdflib"])
def report(request, kb) -> dict:
    return report_of(kb, engine=request.param)


def section(text: str, heading: str) -> list[str]:
    """The lines of one section of a text report."""
    part = text[text.index(heading + "\n") + len(heading) + 1:]
    return part.split("\n\n", 1)[0].splitlines()


def test_the_report_matches_the_schema(report):
    jsonschema.validate(json.loads(json.dumps(report)), SCHEMA)


# --- 1. monitoring items quoting one sentence ---------------------------------------------------------


def test_monitoring_items_carry_their_labels(report):
    labels = {m["iri"].removeprefix(NS): m["label"] for m in report["monitoring"]}
    assert labels == {"mon-after-start": "widget level 4-12 weeks after starting",
                      "mon-ongoing": "widget level every 3-12 months on treatment"}
    assert {m["action"] for m in report["monitoring"]} == {SENTENCE}


@pytest.mark.parametrize("markdown", [False, True])
def test_monitoring_items_quoting_one_sentence_read_as_two(report, markdown):
    text = render(report, markdown=markdown)
    lines = [line for line in text.splitlines() if SENTENCE in line]
    assert len(lines) == 2 and len(set(lines)) == 2
    assert any("widget level 4-12 weeks after starting (every 4-12 weeks; when: starting treatment): "
               + SENTENCE in line for line in lines)
    assert any("widget level every 3-12 months on treatment (every 3-12 months; when: while on treatment): "
               + SENTENCE in line for line in lines)


def test_follow_ups_for_patients_say_how_often_and_when(report):
    text = render_patient(report)
    follow = section(text, "Follow-up")
    assert "    How often: every 4-12 weeks" in follow and "    How often: every 3-12 months" in follow
    assert "    When: starting treatment [clinician wording]" in follow


# --- 2. recommendations set aside -----------------------------------------------------------------------


def test_each_recommendation_set_aside_is_named(report):
    assert sorted(n["label"] for n in report["not_recommended"]) == ["betamab, first course", "betamab, repeat course"]
    aside = section(render(report), "Not recommended for this patient")
    assert aside[0] == ("  - betamab, first course; betamab, repeat course: "
                        "A low widget level calls for alphamab, not betamab.")
    items = [t for d, t in nesting(render(report, markdown=True)) if "calls for alphamab" in t]
    assert items == ["betamab, first course; betamab, repeat course: A low widget level calls for alphamab, not betamab."]


def test_the_patient_view_counts_what_the_clinician_report_lists(report):
    assert report["patient_view"]["set_aside"] == len(report["not_recommended"]) == 2
    assert "2 other recommendation(s) of the guideline are set aside" in render_patient(report)


def test_two_statements_with_one_label_are_told_apart():
    report = {"patient": "p", "as_of": "2026-01-15", "applicable": True, "recommendations": [],
              "guideline": {"label": "G", "version": "1", "status": "approved"},
              "not_recommended": [{"iri": f"https://example.org/x/{n}", "label": "same", "intervention": "i", "reason": "r"}
                                  for n in ("a", "b")],
              "undetermined": [], "orders": [], "monitoring": [], "warnings": [], "provenance": {"run": "r"}}
    assert "  - same [a]; same [b]: r" in render(report)


# --- 3. dates recorded without a day ---------------------------------------------------------------------


def test_a_result_dated_to_the_month_is_shown_as_recorded(report):
    [rec] = report["recommendations"]
    assert rec["iri"] == NS + "rec-low"
    assert rec["because"] == ["widget level < 42 mg/dL: true (measured 30 mg/dL in 2025-12, Observation/o1)"]
    for text in (render(report), render(report, markdown=True), render_patient(report)):  # the warning says the span
        assert "2025-12-01" not in text.split("Warnings")[0]
    assert "widget level 30 mg/dL (2025-12)" in render_patient(report)


def test_a_result_with_a_day_keeps_it(kb):
    rep = report_of(kb, "2025-12-20")
    assert rep["recommendations"][0]["because"] == [
        "widget level < 42 mg/dL: true (measured 30 mg/dL on 2025-12-20, Observation/o1)"]


@pytest.mark.parametrize(("time", "end", "shown", "said"), [
    ("2026-10-05T08:00:00Z", None, "2026-10-05", "on 2026-10-05"),
    ("2026-10-01T00:00:00", "2026-10-31T23:59:59", "2026-10", "in 2026-10"),
    ("2026-02-01T00:00:00", "2026-02-28T23:59:59", "2026-02", "in 2026-02"),
    ("2025-01-01T00:00:00", "2025-12-31T23:59:59", "2025", "in 2025"),
    ("2026-10-01T00:00:00", "2026-11-15T23:59:59", "2026-10-01 to 2026-11-15", "some time from 2026-10-01 to 2026-11-15"),
])  # fmt: skip
def test_recorded_dates(time, end, shown, said):
    assert recorded_date(time, end) == shown
    assert dated(time, end) == said


