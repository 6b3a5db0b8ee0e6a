"""A recommended medicine with no dose in structured form shows the statement's wording under it.

Found by a trial author encoding a renal dose limit ("reduce metformin to at most 1000 mg a day"): the authoring
guide says to give no gkg:dose (a ceiling is no dose to give) and to say it in gkg:sourceText, "which the report
shows"; but text and Markdown showed the source text only for undetermined statements, so a clinician never saw
"at most 1000 mg a day". Now a made recommendation of a medicine without a dose shows it, quoted with its
citations, as the first line under it; one with a dose does not repeat it. Made-up content:
tests/fixtures/dose-in-words/guideline.ttl; FHIR input built here.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.report.patient import build_report
from guidelinekg.report.views import render
from test_report_text import nesting

FIXTURE = Path(__file__).parent / "fixtures" / "dose-in-words" / "guideline.ttl"
QUOTED = ('the guideline: "With a beta clearance of 30 to 45 mL/min, reduce widgetformin to at most 1000 mg a day '
          '[1]." ([1]; cites: Widgetformin and beta clearance: an example)')


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load([FIXTURE])


def report_of(kb: KnowledgeBase, beta: float) -> dict:
    entries = [{"resource": {"resourceType": "Patient", "id": "p1", "birthDate": "1960-03-02"}},
               {"resource": {"resourceType": "Observation", "id": "b1", "status": "final",
                             "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-01-02",
                             "code": {"coding": [{"system": "http://loinc.org", "code": "99992-0"}]},
                             "valueQuantity": {"value": beta, "unit": "mL/min", "system": "http://unitsofmeasure.org",
                                               "code": "mL/min"}}}]
    raw = json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode()
    patient = load_patient_input("p.json", matcher=kb.matcher, measures=kb.measures, reads=kb.reads, raw=raw)
    evaluation = evaluate(kb, [patient], as_of=date(2026, 1, 15))
    return build_report(evaluation, patient.patient_iri, kb.version())


def test_a_recommendation_without_a_dose_shows_the_source_wording_with_its_citation(kb):
    report = report_of(kb, 30)
    [rec] = report["recommendations"]
    assert rec["dose"] is None
    lines = render(report).splitlines()
    head = next(n for n, line in enumerate(lines) if line.startswith("  - widgetformin at a reduced dose"))
    assert lines[head + 1] == "    " + QUOTED  # first under it, where the dose would be
    items = nesting(render(report, markdown=True))
    depth = next(d for d, t in items if t.startswith("widgetformin at a reduced dose"))
    assert (depth + 1, QUOTED) in items


def test_a_recommendation_with_a_dose_does_not_repeat_the_wording(kb):
    report = report_of(kb, 60)
    [rec] = report["recommendations"]
    assert rec["dose"] == {"value": 1000, "unit": "mg"}
    text = render(report)
    assert "dose 1000 mg" in text and "the guideline:" not in text
