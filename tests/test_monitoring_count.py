"""A number of checks on a monitoring action (gkg:checkCount, FHIR Timing.repeat.count).

Found by an author (hypokalaemia): "re-measure potassium 4-6 hours after each IV dose" and "recheck once 24-72 h
after starting oral replacement" could only be written as an interval between checks, so every output said
"every 4-6 hours" and FHIR sent a recurring Timing (frequency 1, period 4, periodMax 6 h) that a receiving
system may schedule with no end. With gkg:checkCount 1 the check is single and its bounds say when it falls
after the start; without it nothing changes. The fixture is made up (tests/fixtures/monitoring/count.ttl).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import jsonschema
import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.report.fhirout import fhir_bundle
from guidelinekg.report.fhirrequests import interval_text
from guidelinekg.report.patient import build_report
from guidelinekg.report.views import render, render_patient
from test_reasoner import madeup_patient

FIXTURES = Path(__file__).parent / "fixtures"
CONTENT = [FIXTURES / "madeup" / "guideline.ttl", FIXTURES / "monitoring" / "count.ttl"]
SCHEMA = Path(__file__).parents[1] / "docs" / "recommend.schema.json"
ACTION = "urn:example:madeup:mon-"


@pytest.fixture(scope="module", params=["oxigraph", "rdflib"])
def report(request) -> dict:
    kb = KnowledgeBase.load(CONTENT)
    # the widget level is low, so a recommendation is made and monitoring follows
    evaluation = evaluate(kb, [madeup_patient("41.9")], as_of=date(2026, 1, 5), engine=request.param)
    return build_report(evaluation, "urn:example:Patient/w1", kb.version(), patient_lang="en")


def _item(report: dict, name: str) -> dict:
    (item,) = [m for m in report["monitoring"] if m["iri"] == ACTION + name]
    return item


@pytest.mark.parametrize(("name", "count", "interval"), [
    ("once-after-dose", 1, {"min": 4, "max": 6, "unit": "h"}),
    ("once-within", 1, {"min": None, "max": 3, "unit": "d"}),
    ("three", 3, {"min": 1, "max": 2, "unit": "wk"}),
    ("once-bare", 1, None),
    ("recurring", None, {"min": 4, "max": 6, "unit": "h"}),  # no gkg:checkCount: recurring, as before
])  # fmt: skip
def test_json_gives_the_number_of_checks(report, name, count, interval):
    item = _item(report, name)
    assert (item["count"], item["interval"]) == (count, interval)
    assert isinstance(item["count"], (int, type(None))) and not isinstance(item["count"], bool)


def test_report_with_counts_matches_the_schema(report):
    jsonschema.validate(json.loads(json.dumps(report)), json.loads(SCHEMA.read_text(encoding="utf-8")))


def test_text_says_once_and_when_not_every(report):
    text = render(report)
    assert ("widget level once after each dose (once, 4-6 hours after the start; when: after each examplomab dose): "
            "Re-measure the widget level 4 to 6 hours after each dose.") in text
    assert "widget level once within 3 days (once, within 3 days of the start)" in text
    assert "widget level three times (3 times, every 1-2 weeks)" in text
    assert "widget level once (once): Check the widget level once after starting." in text
    assert "widget level every 4-6 hours (every 4-6 hours; when: after each examplomab dose)" in text
    # the patient's view (the clinician wording: the made-up guideline has none for patients) says it too
    assert "How often: once, 4-6 hours after the start" in render_patient(report)


def _timings(report: dict) -> dict[str, dict]:
    requests = [e["resource"] for e in fhir_bundle([report])["entry"]
                if e["resource"]["resourceType"] == "ServiceRequest"]
    return {r["instantiatesCanonical"][0].removeprefix(ACTION): r.get("occurrenceTiming") for r in requests
            if r["instantiatesCanonical"][0].startswith(ACTION)}


def test_fhir_timing_counts_the_checks(report):
    """Timing.repeat.count bounds what a receiving system schedules; when a single check falls after the start
    is in Timing.code.text (Timing cannot tie an offset to the guideline's trigger)."""
    timings = _timings(report)
    assert timings["once-after-dose"] == {"code": {"text": "once, 4-6 hours after the start"}, "repeat": {
        "count": 1, "frequency": 1, "period": 4, "periodMax": 6, "periodUnit": "h"}}
    assert timings["once-within"] == {"code": {"text": "once, within 3 days of the start"}, "repeat": {"count": 1}}
    assert timings["three"] == {"code": {"text": "3 times, every 1-2 weeks"}, "repeat": {
        "count": 3, "frequency": 1, "period": 1, "periodMax": 2, "periodUnit": "wk"}}
    assert timings["once-bare"] == {"code": {"text": "once"}, "repeat": {"count": 1}}
    # without a number of checks: recurring, no count, exactly as before
    assert timings["recurring"] == {"code": {"text": "every 4-6 hours"}, "repeat": {
        "frequency": 1, "period": 4, "periodMax": 6, "periodUnit": "h"}}


@pytest.mark.parametrize(("interval", "count", "text"), [
    ({"min": 2, "max": 2, "unit": "a"}, 1, "once, 2 years after the start"),
    ({"min": 2, "max": None, "unit": "wk"}, 1, "once, no sooner than 2 weeks after the start"),
    ({"min": None, "max": 1, "unit": "a"}, 1, "once, within 1 year of the start"),
    ({"min": None, "max": 1, "unit": "a"}, 2, "2 times, at least every 1 year"),
    ({"min": 3, "max": 6, "unit": "mo"}, None, "every 3-6 months"),
    (None, None, None),
])  # fmt: skip
def test_each_kind_of_bound_is_worded_for_a_single_check(interval, count, text):
    assert interval_text(interval, count) == text


def test_render_says_how_many_checks(capsys):
    from guidelinekg.cli import main

    assert main(["render", *(a for f in CONTENT for a in ("--data", str(f))), "urn:example:madeup:v1"]) == 0
    out = capsys.readouterr().out
    blocks = {b.split("\n", 1)[0]: b for b in out.split("\n\n")}
    lines = [line for line in out.splitlines() if line.startswith(("- Checks:", "- Interval:"))]
    assert sorted(lines) == sorted([
        "- Checks: once, 4–6 hours after the start",
        "- Checks: once, within 3 days of the start",
        "- Checks: 3 times", "- Interval: every 1–2 weeks",
        "- Checks: once",
        "- Interval: every 4–6 hours",
    ]), blocks  # fmt: skip
