"""Criteria on coded results (gkg:CodedResultCriterion, rule 36): the latest coded result of a measure
(Observation.valueCodeableConcept, e.g. pregnancy status) decides it; no coded result, or results of one
instant that disagree, leave it unknown and order the measure. Read from FHIR: the codes become
gkg:valueCodeToken. Made-up content: tests/fixtures/coded/coded.ttl beside tests/fixtures/madeup/guideline.ttl."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.report.patient import build_report

FIXTURES = Path(__file__).parent / "fixtures"
NS = "urn:example:madeup:"
SCT = "http://snomed.info/sct"
PREGNANT, NOT_PREGNANT = "77386006", "60001007"
AS_OF = date(2026, 3, 31)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load([FIXTURES / "madeup" / "guideline.ttl", FIXTURES / "coded" / "coded.ttl"])


def bundle(tmp_path: Path, *statuses: tuple[str | None, str]) -> Path:
    """A patient with widgetitis and pregnancy status results (SNOMED code or None for a concept without
    coding, date)."""
    entries = [{"resource": {"resourceType": "Patient", "id": "c1", "birthDate": "1990-01-01", "gender": "female"}},
               {"resource": {"resourceType": "Condition", "id": "w", "subject": {"reference": "Patient/c1"},
                             "code": {"coding": [{"system": SCT, "code": "999999999"}]}}}]
    for i, (code, when) in enumerate(statuses):
        value = {"coding": [{"system": SCT, "code": code}]} if code else {"text": "unsure"}
        entries.append({"resource": {
            "resourceType": "Observation", "id": f"s{i}", "status": "final", "subject": {"reference": "Patient/c1"},
            "code": {"coding": [{"system": "http://loinc.org", "code": "82810-3"}]},
            "effectiveDateTime": when, "valueCodeableConcept": value}})
    path = tmp_path / "patient.json"
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}), encoding="utf-8")
    return path


def _report(kb, path: Path, engine: str) -> dict:
    data = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    return build_report(evaluate(kb, [data], as_of=AS_OF, engine=engine), data.patient_iri, kb.version())


def _status(report: dict) -> str:
    for status in ("recommendations", "undetermined"):
        if NS + "rec-pregnancy-advice" in {r["iri"] for r in report[status]}:
            return status
    return "not applicable"


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
@pytest.mark.parametrize(("statuses", "expected"), [
    ([(PREGNANT, "2026-03-01")], "recommendations"),
    ([(NOT_PREGNANT, "2026-03-01")], "not applicable"),
    ([(PREGNANT, "2025-12-01"), (NOT_PREGNANT, "2026-03-01")], "not applicable"),  # the latest decides
    ([(NOT_PREGNANT, "2025-12-01"), (PREGNANT, "2026-03-01")], "recommendations"),
    ([], "undetermined"),  # nothing recorded: unknown, the status is ordered
    ([(PREGNANT, "2026-04-10")], "undetermined"),  # after the as-of date: not used
    ([(PREGNANT, "2025-01-01")], "undetermined"),  # older than the criterion's 300 days
    ([(PREGNANT, "2026-03-01T10:00:00Z"), (NOT_PREGNANT, "2026-03-01T10:00:00Z")], "undetermined"),  # disagree
    ([(None, "2026-03-01")], "undetermined"),  # a concept without a coding
    # timed in UTC the day after: perhaps of the as-of date where it was taken (found in review: the older
    # "not pregnant" decided, with no warning)
    ([(NOT_PREGNANT, "2026-03-01"), (PREGNANT, "2026-04-01T01:30:00Z")], "undetermined"),
    ([(PREGNANT, "2026-03-01"), (NOT_PREGNANT, "2026-04-01T13:00:00Z")], "recommendations"),  # the 1st everywhere
])
def test_the_latest_coded_result_decides(kb, tmp_path, engine, statuses, expected):
    report = _report(kb, bundle(tmp_path, *statuses), engine)
    assert _status(report) == expected
    if expected == "undetermined":
        assert "82810-3" in {o["loinc"] for o in report["orders"]}


def test_the_explanation_names_the_result(kb, tmp_path):
    report = _report(kb, bundle(tmp_path, (NOT_PREGNANT, "2025-12-01"), (PREGNANT, "2026-03-01")), "oxigraph")
    [made] = [r for r in report["recommendations"] if r["iri"] == NS + "rec-pregnancy-advice"]
    assert any(f"latest pregnancy status on 2026-03-01: {SCT}|{PREGNANT}" in line for line in made["because"]), \
        made["because"]


def test_a_coded_result_timed_in_utc_the_day_after_says_why_it_is_unknown(kb, tmp_path):
    report = _report(kb, bundle(tmp_path, (NOT_PREGNANT, "2026-03-01"), (PREGNANT, "2026-04-01T01:30:00Z")), "oxigraph")
    [item] = [r for r in report["undetermined"] if r["iri"] == NS + "rec-pregnancy-advice"]
    assert any("timed 2026-04-01T01:30:00Z in UTC, without its local date" in line for line in item["because"])


def test_a_concept_without_coding_is_noted(kb, tmp_path):
    report = _report(kb, bundle(tmp_path, (None, "2026-03-01")), "oxigraph")
    assert "missing-value" in {w["code"] for w in report["warnings"]}


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_a_result_too_old_is_said_to_be_too_old(kb, tmp_path, engine):
    report = _report(kb, bundle(tmp_path, (PREGNANT, "2025-01-01")), engine)
    [undetermined] = [u for u in report["undetermined"] if u["iri"] == NS + "rec-pregnancy-advice"]
    assert any("no pregnancy status recorded within the 300 days this guideline accepts; an older one is not used"
               in line for line in undetermined["because"]), undetermined["because"]
    fresh = _report(kb, bundle(tmp_path), engine)
    [none] = [u for u in fresh["undetermined"] if u["iri"] == NS + "rec-pregnancy-advice"]
    assert any(line.endswith("(no pregnancy status recorded)") for line in none["because"]), none["because"]
