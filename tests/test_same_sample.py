"""Two different tests abnormal in one sample (issue #16, item 3): gkg:SameSampleAllOf (rule 29) on a
made-up guideline (tests/fixtures/madeup/same-sample.ttl, not clinical knowledge), from FHIR input to the
report, its orders and its provenance, on both engines (one run per engine, a module fixture)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.report.patient import build_reports
from madeup import run_documents

FIXTURE = Path(__file__).parent / "fixtures" / "madeup" / "same-sample.ttl"
AS_OF = date(2026, 2, 1)
EX = "urn:example:sample:"
A, B, D = ("99991-2", "%"), ("99992-0", "mg/dL"), ("99994-6", "mg/dL")
T1, T2 = "2026-01-10T08:00:00Z", "2026-01-20T08:00:00Z"


def result(test, value, when, comparator=None) -> dict:
    (code, unit) = test
    quantity = {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
    if comparator:
        quantity["comparator"] = comparator
    return {"resourceType": "Observation", "status": "final", "effectiveDateTime": when,
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]}, "valueQuantity": quantity}


# (name, results, statement standing, tests ordered)
CASES = [
    ("no-results", [], "undetermined", ["99991-2", "99992-0"]),
    ("both-high-one-sample", [result(A, 7.0, T1), result(B, 130, T1)], "made", []),
    # each high, but in different samples: neither sample has both, so both are ordered, to be done together
    ("both-high-two-samples", [result(A, 7.0, T1), result(B, 130, T2)], "undetermined", ["99991-2", "99992-0"]),
    ("one-normal", [result(A, 7.0, T1), result(B, 100, T1)], "no", []),
    ("a-normal-alone", [result(A, 6.0, T1)], "no", []),
    ("a-high-alone", [result(A, 7.0, T1)], "undetermined", ["99991-2", "99992-0"]),
    ("earlier-sample-decides", [result(A, 7.0, T1), result(B, 130, T1), result(A, 6.0, T2), result(B, 100, T2)],
     "made", []),
    ("differing-simultaneous", [result(A, 7.0, T1), result(B, 130, T1), result(B, 100, T1)], "undetermined",
     ["99991-2", "99992-0"]),
    # a censored result decides what its bound decides (as rule 40): "> 7" meets ">= 6.5", "< 7" cannot say
    ("censored-decides", [result(A, 7.0, T1, ">"), result(B, 130, T1)], "made", []),
    ("censored-cannot-decide", [result(A, 7.0, T1, "<"), result(B, 130, T1)], "undetermined", ["99991-2", "99992-0"]),
    # B is also published as >= 6.9 mmol/L (124.3 mg/dL): a result in mmol/L is compared as published
    ("unit-as-published", [result(A, 7.0, T1), result(("99992-0", "mmol/L"), 6.9, T1)], "made", []),
    # widget A has a 365-day result age limit: a sample of 2024 has no usable A
    ("a-too-old", [result(A, 7.0, "2024-06-01T08:00:00Z"), result(B, 130, "2024-06-01T08:00:00Z")], "undetermined",
     ["99991-2", "99992-0"]),
]  # fmt: skip


# (name, results, rec-screen standing, tests ordered): widget D counts as not met when not done
SCREEN_CASES = [
    ("d-not-done", [result(A, 7.0, T1)], "no", []),
    ("d-done-high", [result(A, 7.0, T1), result(D, 60, T1)], "made", []),
    # T1: D not done, so not met (false); T2: A not done (unknown): both are ordered, for one sample
    ("d-done-other-sample", [result(A, 7.0, T1), result(D, 60, T2)], "undetermined", ["99994-6"]),
    ("nothing", [], "no", []),
    # done but unusable (implausible: above 2000 mg/dL) is not "not done": unknown, and the test is ordered
    ("d-implausible", [result(A, 7.0, T1), result(D, 5000, T1)], "undetermined", ["99994-6"]),
    ("d-implausible-alone", [result(D, 5000, T1)], "undetermined", ["99994-6"]),
]  # fmt: skip


def bundle(pid: str, results: list[dict]) -> dict:
    resources = [{"resourceType": "Patient", "id": pid, "birthDate": "1970-01-01"}]
    for i, res in enumerate(results):
        resources.append({**res, "id": f"{pid}-{i}", "subject": {"reference": f"Patient/{pid}"}})
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


@pytest.fixture(scope="module", params=["oxigraph", "rdflib"])
def run(request, tmp_path_factory):
    docs = {name: bundle(name, results) for name, results, _, _ in CASES + SCREEN_CASES}
    done = run_documents(FIXTURE, docs, tmp_path_factory.mktemp("sample"), AS_OF, request.param)
    return done.reports, done.evaluation


def standing(report: dict, statement: str = "rec-record") -> str:
    for key, word in (("recommendations", "made"), ("undetermined", "undetermined")):
        if any(r["iri"] == EX + statement for r in report[key]):
            return word
    return "no"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_two_tests_in_one_sample(run, case):
    name, _, expected, ordered = case
    reports, _ = run
    report = reports[name]
    assert standing(report) == expected
    assert sorted(o["loinc"] for o in report["orders"]) == ordered


@pytest.mark.parametrize("case", SCREEN_CASES, ids=[c[0] for c in SCREEN_CASES])
def test_a_member_not_done_counts_as_not_met_when_it_says_so(run, case):
    name, _, expected, ordered = case
    reports, _ = run
    assert standing(reports[name], "rec-screen") == expected
    assert sorted(o["loinc"] for o in reports[name]["orders"] if "99994-6" in o["loinc"]) == ordered


def test_explanation_names_the_deciding_sample(run):
    reports, _ = run
    lines = [line for r in reports["earlier-sample-decides"]["recommendations"] for line in r["because"]]
    assert any("all 2 met by results of one sample, taken on 2026-01-10" in line for line in lines), lines
    lines = [line for r in reports["both-high-two-samples"]["undetermined"] for line in r["because"]]
    assert any("no sample decides all 2 (latest undecided sample 2026-01-20" in line
               for line in lines), lines


def test_decided_outcome_rests_on_the_results(run):
    _, evaluation = run
    rows = evaluation.store.select("""PREFIX gkg: <https://w3id.org/guidelinekg/ontology#>
        PREFIX prov: <http://www.w3.org/ns/prov#>
        SELECT ?id WHERE { ?r a gkg:RecommendationResult ; gkg:forPatient <urn:guidelinekg:Patient/both-high-one-sample> ;
                           prov:wasDerivedFrom ?o . ?o a gkg:Observation ; gkg:identifier ?id }""")
    ids = sorted(str(getattr(r["id"], "value", r["id"])) for r in rows)
    assert ids == ["Observation/both-high-one-sample-0", "Observation/both-high-one-sample-1"]


def test_a_decided_outcome_rests_on_its_sample_alone(tmp_path):
    """The outcome derives from the results of the sample that decided it, not from a later sample."""
    kb = KnowledgeBase.load([FIXTURE])
    later = [{**result(A, 5.0, T2), "status": "preliminary"}, {**result(B, 100, T2), "status": "preliminary"}]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(bundle("p", [result(A, 7.0, T1), result(B, 130, T1), *later])), encoding="utf-8")
    patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    evaluation = evaluate(kb, [patient], as_of=AS_OF)
    (report,) = build_reports(evaluation, kb.version(), [patient.patient_iri]).values()
    assert standing(report) == "made"
    rows = evaluation.store.select(f"""PREFIX gkg: <https://w3id.org/guidelinekg/ontology#>
        PREFIX prov: <http://www.w3.org/ns/prov#>
        SELECT ?id WHERE {{ ?out gkg:criterion <{EX}both-one-sample> ; prov:wasDerivedFrom ?o . ?o gkg:identifier ?id }}""")
    assert sorted(str(getattr(r["id"], "value", r["id"])) for r in rows) == ["Observation/p-0", "Observation/p-1"]


def test_members_must_be_thresholds(tmp_path):
    from guidelinekg.cli import main

    text = FIXTURE.read_text(encoding="utf-8").replace(
        "gkg:member ex:a-high , ex:b-high .", "gkg:member ex:a-high , ex:always .")
    path = tmp_path / "g.ttl"
    path.write_text(text, encoding="utf-8")
    assert main(["validate", str(path)]) == 1
