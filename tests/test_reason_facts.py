"""The results a statement's criterion rests on, as the patient view lists them ("Based on") and as FHIR
requests cite them (``reasonReference``).

Found by a trial author (an osteoporosis encoding): an any-of whose members read the same results (a T-score
at or below -2.5 at a site, or low bone mass at a site with a high FRAX probability) listed each result twice
in the patient view's "Based on", once per criterion that read it, and a MedicationRequest cited results that
only fed the undecided branch of the any-of, not what made its criterion true. Now each result is listed once,
in the criterion tree's order; a request cites the results of the members of a true any-of that are true,
all members of a true all-of, and (as before) never the results under a negation.

Made-up content: tests/fixtures/reason-facts/guideline.ttl; the FHIR input is built here.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.report.fhirout import fhir_bundle
from guidelinekg.report.patient import build_report
from guidelinekg.report.views import render_patient
from test_fhir_output import check_valid

FIXTURE = Path(__file__).parent / "fixtures" / "reason-facts" / "guideline.ttl"
NS = "urn:example:rf:"
LOINC = {"alpha": "99991-1", "beta": "99992-9", "gamma": "99993-7"}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load([FIXTURE])


def observation(oid: str, measure: str, value: float, unit: str) -> dict:
    return {"resource": {"resourceType": "Observation", "id": oid, "status": "final",
                         "code": {"coding": [{"system": "http://loinc.org", "code": LOINC[measure]}]},
                         "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-01-02T09:00:00Z",
                         "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org",
                                           "code": unit}}}


def report_of(kb: KnowledgeBase, *observations: dict) -> dict:
    """The report with its patient view and what the FHIR rendering needs (``facts``)."""
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1960-01-01"}},
        *observations]}
    patient = load_patient_input("p.json", matcher=kb.matcher, measures=kb.measures, reads=kb.reads,
                                 raw=json.dumps(bundle).encode())
    evaluation = evaluate(kb, [patient], as_of=date(2026, 1, 15))
    return build_report(evaluation, patient.patient_iri, kb.version(), facts=True, patient_lang="en")


@pytest.fixture(scope="module")
def report(kb) -> dict:
    # alpha at the threshold (true: alpha ≤ 25); beta middling (beta ≤ 25 false, 25 < beta ≤ 50 true); no gamma
    # risk, so the middling-beta-with-high-gamma branch is unknown
    return report_of(kb, observation("alpha-1", "alpha", 25, "mg/dL"), observation("beta-1", "beta", 40, "mg/dL"))


def cited(report: dict) -> dict[str, list[str]]:
    """Each MedicationRequest's reasonReference, by the statement it instantiates."""
    bundle = fhir_bundle([report])
    check_valid(bundle)
    out = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "MedicationRequest":
            out[resource["instantiatesCanonical"][0]] = [r["reference"] for r in resource.get("reasonReference", [])]
    return out


def test_the_statements_are_made(report):
    assert sorted(r["iri"] for r in report["recommendations"]) == [
        NS + "rec-alpha-only", NS + "rec-both", NS + "rec-high-risk", NS + "rec-low"]


def test_the_patient_view_lists_each_result_once_in_the_trees_order(report):
    items = {i["iri"]: i for i in report["patient_view"]["sections"]["recommended"]}
    facts = items[NS + "rec-high-risk"]["why"]["facts"]  # beta is read by three criteria, alpha by one
    assert [(f["name"], f["value"], f["date"]) for f in facts] == [
        ("alpha level", 25, "2026-01-02"), ("beta level", 40, "2026-01-02")]
    for item in items.values():
        shown = [(f["measure"], f["value"], f["date"]) for f in item["why"]["facts"]]
        assert len(shown) == len(set(shown)), item["iri"]
    text = render_patient(report)
    assert text.count("Based on: alpha level 25 mg/dL (2026-01-02); beta level 40 mg/dL (2026-01-02)\n") == 4
    assert "beta level 40 mg/dL (2026-01-02); beta level" not in text


def test_each_fact_is_one_result_however_many_criteria_read_it(report):
    (item,) = [r for r in report["recommendations"] if r["iri"] == NS + "rec-high-risk"]
    assert [f["record"] for f in item["facts"]] == ["Observation/alpha-1", "Observation/beta-1"]
    # alpha made the any-of true; beta only fed its undecided branch (and a false member)
    assert [f["truth"] for f in item["facts"]] == ["true", "unknown"]


def test_a_request_cites_only_the_results_that_made_its_criterion_true(report):
    reasons = cited(report)
    # a true any-of: its true members' results only, never those of a member left undecided
    assert reasons[NS + "rec-high-risk"] == ["Observation/alpha-1"]
    # a true any-of with a false member: the true member's result
    assert reasons[NS + "rec-low"] == ["Observation/alpha-1"]
    # a true all-of: every member's results
    assert reasons[NS + "rec-both"] == ["Observation/alpha-1", "Observation/beta-1"]
    # a negation: the result it negates (beta not low) is not cited, as before
    assert reasons[NS + "rec-alpha-only"] == ["Observation/alpha-1"]


def test_a_result_that_decides_the_other_branch_is_cited_when_that_branch_made_it_true(kb):
    # alpha not low, beta middling, gamma risk high: the any-of is true by its second member only
    report = report_of(kb, observation("alpha-1", "alpha", 30, "mg/dL"), observation("beta-1", "beta", 40, "mg/dL"),
                       observation("gamma-1", "gamma", 25, "%"))
    assert cited(report)[NS + "rec-high-risk"] == ["Observation/beta-1", "Observation/gamma-1"]
    (item,) = [r for r in report["recommendations"] if r["iri"] == NS + "rec-high-risk"]
    assert [(f["record"], f["truth"]) for f in item["facts"]] == [
        ("Observation/alpha-1", "unknown"), ("Observation/beta-1", "true"), ("Observation/gamma-1", "true")]
