"""Monitoring intervals in the report: each way of writing one is shown, in one unit (issue #16).

The JSON shape is ``monitoring[].interval: {min, max, unit}`` (docs/recommend.schema.json); a bound not
given is null. Before, the report read the unit from the minimum, so an interval with a maximum only
("at least every 3 months") was dropped.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import jsonschema
import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.report.patient import build_report
from test_reasoner import madeup_patient

MADEUP = Path(__file__).parent / "fixtures" / "madeup"
SCHEMA = Path(__file__).parents[1] / "docs" / "recommend.schema.json"
ACTION = "urn:example:madeup:mon-"


@pytest.fixture(scope="module", params=["oxigraph", "rdflib"])
def report(request) -> dict:
    kb = KnowledgeBase.load([MADEUP / "guideline.ttl", MADEUP / "monitoring.ttl"])
    # the widget level is low, so a recommendation is made and monitoring follows
    evaluation = evaluate(kb, [madeup_patient("41.9")], as_of=date(2026, 1, 5), engine=request.param)
    return build_report(evaluation, "urn:example:Patient/w1", kb.version())


@pytest.mark.parametrize(("action", "interval"), [
    ("both", {"min": 6, "max": 12, "unit": "mo"}),
    ("max", {"min": None, "max": 3, "unit": "mo"}),  # "at least every 3 months"
    ("min", {"min": 2, "max": None, "unit": "wk"}),
    ("units", {"min": 6, "max": 12, "unit": "mo"}),  # 1 a in the minimum's unit
    ("mass", {"min": 1, "max": None, "unit": "mo"}),  # 2 mg is no time: lint interval-not-duration
    ("none", None),
])  # fmt: skip
def test_interval_is_shown_in_one_unit(report, action, interval):
    (item,) = [m for m in report["monitoring"] if m["iri"] == ACTION + action]
    assert item["interval"] == interval


def test_report_with_intervals_matches_the_schema(report):
    jsonschema.validate(json.loads(json.dumps(report)), json.loads(SCHEMA.read_text(encoding="utf-8")))


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
@pytest.mark.parametrize(("value", "treated"), [("41.9", True), ("500", False), (None, False)])
def test_monitoring_on_the_patients_state_needs_no_recommendation(engine, value, treated):
    """gkg:monitoringBasis gkg:OnPatientState: planned for every covered patient in that state; the default
    (after treatment) only when a recommendation of the guideline is made."""
    kb = KnowledgeBase.load([MADEUP / "guideline.ttl", Path(__file__).parent / "fixtures" / "monitoring" / "on-state.ttl"])
    evaluation = evaluate(kb, [madeup_patient(value)], as_of=date(2026, 1, 5), engine=engine)
    report = build_report(evaluation, "urn:example:Patient/w1", kb.version())
    planned = {m["iri"].removeprefix(ACTION) for m in report["monitoring"]}
    assert planned == ({"on-state", "after-treatment"} if treated else {"on-state"})


def test_fhir_and_hooks_word_an_interval_as_the_text_report_does():
    """"at least every 1 a" (a UCUM code) in FHIR's occurrenceTiming, "1 year" in the text: one wording."""
    from guidelinekg.report.fhirrequests import interval_text, monitoring_requests

    assert interval_text({"min": None, "max": 1, "unit": "a"}) == "at least every 1 year"
    assert interval_text({"min": 3, "max": 6, "unit": "mo"}) == "every 3-6 months"
    # found by an author: "every 2-2 years", and a FHIR period with a periodMax of the same
    assert interval_text({"min": 2, "max": 2, "unit": "a"}) == "every 2 years"
    assert interval_text({"min": 1, "max": 1, "unit": "a"}) == "every 1 year"
    item = {"iri": "urn:x:m", "loinc": ["2132-9"], "action": "Check it.", "interval": {"min": None, "max": 1, "unit": "a"}}
    [request] = monitoring_requests(item, {"reference": "Patient/p"}, "2026-01-15")
    assert request["occurrenceTiming"] == {"code": {"text": "at least every 1 year"}}
    [exact] = monitoring_requests({**item, "interval": {"min": 2, "max": 2, "unit": "a"}}, {"reference": "Patient/p"},
                                  "2026-01-15")
    assert exact["occurrenceTiming"]["repeat"] == {"frequency": 1, "period": 2, "periodUnit": "a"}


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
@pytest.mark.parametrize(("value", "planned"), [
    ("41.9", {"after-examplomab", "after-gizmo", "after-any"}),  # both recommendations made
    ("500", {"after-gizmo", "after-any"}),  # examplomab not recommended
    (None, {"after-gizmo", "after-any"}),  # examplomab undetermined: nothing follows it yet
])  # fmt: skip
def test_monitoring_that_names_its_recommendations_follows_only_them(engine, value, planned):
    """Found by an author (osteoporosis): "repeat DXA 2 years after starting a bisphosphonate" was planned for a
    patient given only vitamin D, as any treatment recommendation started it. gkg:followsRecommendation names
    the ones it follows; an action without it follows any, as before."""
    kb = KnowledgeBase.load([MADEUP / "guideline.ttl", Path(__file__).parent / "fixtures" / "monitoring" / "follows.ttl"])
    evaluation = evaluate(kb, [madeup_patient(value)], as_of=date(2026, 1, 5), engine=engine)
    report = build_report(evaluation, "urn:example:Patient/w1", kb.version())
    assert {m["iri"].removeprefix(ACTION) for m in report["monitoring"]} == planned


def test_render_says_which_recommendations_a_monitoring_action_follows(capsys):
    """Found in review: render still said "a recommendation of this version for a treatment"."""
    from guidelinekg.cli import main

    fixtures = [MADEUP / "guideline.ttl", Path(__file__).parent / "fixtures" / "monitoring" / "follows.ttl"]
    assert main(["render", *(a for f in fixtures for a in ("--data", str(f))), "urn:example:madeup:v1"]) == 0
    planned = [line for line in capsys.readouterr().out.splitlines() if line.startswith("- Planned:")]
    assert sorted(planned) == sorted([
        "- Planned: after treatment: for a patient who gets one of these recommendations: examplomab for low widget level",
        "- Planned: after treatment: for a patient who gets one of these recommendations: gizmo supplement for everyone",
        "- Planned: after treatment: for a patient who gets a recommendation of this version for a treatment"])
