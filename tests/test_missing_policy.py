"""Missing-data policy per criterion (gkg:whenMissing, rule 41): "a test not done counts as not met".

With gkg:MissingIsNotMet, a threshold is false for a patient with no result of its measure at all, with the
reason in the explanation, and its test is not ordered for it; a result that exists but cannot be used
(implausible, too old) still leaves it unknown; the default (no policy) stays unknown. Made-up content:
tests/fixtures/missing/screening.ttl beside tests/fixtures/madeup/guideline.ttl.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.model import PatientData
from guidelinekg.report.patient import build_report
from test_reasoner import GKG, RDF_TYPE, madeup_patient

FIXTURES = Path(__file__).parent / "fixtures"
NS = "urn:example:madeup:"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load([FIXTURES / "madeup" / "guideline.ttl", FIXTURES / "missing" / "screening.ttl"])


def _report(kb, patient: PatientData, engine: str, as_of=date(2026, 1, 5)) -> dict:
    return build_report(evaluate(kb, [patient], as_of=as_of, engine=engine), patient.patient_iri, kb.version())


def _names(items) -> set[str]:
    return {i["iri"].removeprefix(NS) for i in items}


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_not_done_counts_as_not_met(kb, engine):
    report = _report(kb, madeup_patient(None), engine)
    assert "rec-reassure" in _names(report["recommendations"])
    assert "rec-follow-up" not in _names(report["recommendations"]) | _names(report["undetermined"])
    # the default policy on the same measure: still unknown, and the test is ordered for that statement only
    assert _names(report["undetermined"]) == {"rec-examplomab"}
    [order] = report["orders"]
    assert order["needed_for"] == [NS + "rec-examplomab"]
    [reassure] = [r for r in report["recommendations"] if r["iri"] == NS + "rec-reassure"]
    assert any("widget level < 42 mg/dL: false (no widget level result: counted as not met" in line
               for line in reassure["because"]), reassure["because"]


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
@pytest.mark.parametrize(("value", "low"), [("30", True), ("42", False)])
def test_a_result_decides_as_usual(kb, engine, value, low):
    made = _names(_report(kb, madeup_patient(value), engine)["recommendations"])
    assert ("rec-follow-up" in made) is low and ("rec-reassure" in made) is not low


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_a_result_that_cannot_be_used_stays_unknown(kb, engine):
    """An implausible widget level (below the measure's plausible minimum 0) exists: not "not done"."""
    report = _report(kb, madeup_patient("-5"), engine)
    assert {"rec-follow-up", "rec-reassure"} <= _names(report["undetermined"])
    assert "implausible-value" in {w["code"] for w in report["warnings"]}


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_an_observation_of_another_patient_does_not_count(kb, engine):
    other = madeup_patient("30")
    lines = [line.replace("Patient/w1", "Patient/w2") for line in other.ntriples]
    # w2 has the result; w1 (no result) is evaluated beside it in one store
    both = [madeup_patient(None), PatientData.build("urn:example:Patient/w2", lines)]
    evaluation = evaluate(kb, both, as_of=date(2026, 1, 5), engine=engine)
    w1 = build_report(evaluation, "urn:example:Patient/w1", kb.version())
    assert "rec-reassure" in _names(w1["recommendations"])
    assert f"<urn:example:Patient/w1> <{RDF_TYPE}> <{GKG}Patient> ." in both[0].ntriples
