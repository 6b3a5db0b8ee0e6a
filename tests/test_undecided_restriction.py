"""Not-indicated statements that may apply to a patient no recommendation applies to (rule 71).

A made-up guideline (tests/fixtures/madeup/undecided-restriction.ttl): start examplomab at a widget level
>= 45; no examplomab below 30; do not start it at 30-44. A result reported as "< 45" decides the
recommendation (false) but neither restriction: before, the report said "none of its statements applies"
and ordered nothing. Each is now listed as not decided yet, with what it would say, and the test is ordered;
a restriction that keeps a recommendation undetermined (rule 65) is not listed twice. A patient taking the
drug a statement that applies says is not indicated is warned (taking-not-indicated, rule 89).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.report.fhirout import fhir_bundle
from guidelinekg.report.patient import build_report
from guidelinekg.report.views import render
from madeup import run_documents

FIXTURE = Path(__file__).parent / "fixtures" / "madeup" / "undecided-restriction.ttl"
AS_OF = date(2026, 1, 15)


def _bundle(pid: str, value: float | None, comparator: str | None = None, taking: bool = False) -> dict:
    entries = [{"fullUrl": f"urn:uuid:{pid}", "resource": {"resourceType": "Patient", "id": pid,
                                                            "birthDate": "1970-01-01"}}]
    if taking:
        entries.append({"fullUrl": f"urn:uuid:{pid}-m", "resource": {
            "resourceType": "MedicationStatement", "id": f"{pid}-m", "status": "active",
            "medicationCodeableConcept": {"text": "examplomab 10 mg tablet"},
            "subject": {"reference": f"urn:uuid:{pid}"}, "effectivePeriod": {"start": "2025-06-01"}}})
    if value is not None:
        quantity = {"value": value, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}
        if comparator:
            quantity["comparator"] = comparator
        entries.append({"fullUrl": f"urn:uuid:{pid}-w", "resource": {
            "resourceType": "Observation", "id": f"{pid}-w", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "99999-5"}]},
            "subject": {"reference": f"urn:uuid:{pid}"}, "effectiveDateTime": "2026-01-10",
            "valueQuantity": quantity}})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


# patient -> (widget level, comparator, recommended, undetermined, not indicated, tests ordered)
CASES = {
    "censored-below-45": (45, "<", [], ["ni-30-44", "ni-below-30"], [], ["99999-5"]),
    "low-20": (20, None, [], [], ["ni-below-30"], []),
    "band-38": (38, None, [], [], ["ni-30-44"], []),
    "high-50": (50, None, ["rec-start"], [], [], []),
    "censored-above-45": (45, ">", ["rec-start"], [], [], []),
    # no result: the recommendation is undetermined (both restrictions keep it so); they are not listed twice
    "no-result": (None, None, [], ["rec-start"], [], ["99999-5"]),
}
# patient on examplomab -> (widget level, comparator, warned that it is not indicated)
TAKING = {"taking-low-20": (20, None, True), "taking-censored-below-45": (45, "<", False),
          "taking-high-50": (50, None, False),
          # "do not start at 30-44" applies, but names "continue examplomab" (made) as its exception
          "taking-band-38": (38, None, False)}


@pytest.fixture(scope="module", params=["oxigraph", "rdflib"])
def run(request, tmp_path_factory):
    docs = {name: _bundle(name, value, comparator) for name, (value, comparator, *_) in CASES.items()}
    docs |= {name: _bundle(name, value, comparator, taking=True) for name, (value, comparator, _) in TAKING.items()}
    return run_documents(FIXTURE, docs, tmp_path_factory.mktemp("undecided"), AS_OF, engine=request.param)


def _listed(report: dict, key: str) -> list[str]:
    return sorted(item["iri"].rsplit(":", 1)[1] for item in report[key])


@pytest.mark.parametrize("name", CASES)
def test_what_the_report_lists(run, name):
    _, _, recommended, undetermined, not_indicated, orders = CASES[name]
    report = run.reports[name]
    assert _listed(report, "recommendations") == recommended
    assert _listed(report, "undetermined") == undetermined
    assert _listed(report, "not_indicated") == not_indicated
    assert sorted(o["loinc"] for o in report["orders"]) == orders
    assert report["no_statement_applies"] is False


def test_an_undecided_restriction_says_why_and_what_it_would_say(run):
    report = run.reports["censored-below-45"]
    item = next(u for u in report["undetermined"] if u["iri"].endswith("ni-below-30"))
    assert item["statement"] == "Made up: examplomab is contraindicated below 30."
    assert any("cannot decide this" in line for line in item["because"]), item["because"]
    assert item["because"][-1] == "if it applies: not indicated: examplomab"
    [order] = report["orders"]
    assert sorted(order["needed_for"]) == sorted(u["iri"] for u in report["undetermined"])
    text = render(report)
    assert "Cannot decide yet" in text and "none of its statements applies" not in text
    full = build_report(run.evaluation, report["patient"], KnowledgeBase.load([FIXTURE]).version(), facts=True)
    resources = [e["resource"] for e in fhir_bundle([full])["entry"]]
    [guidance] = [r for r in resources if r["resourceType"] == "GuidanceResponse"]
    assert guidance["status"] == "data-required"
    assert [c.get("display") for r in guidance["dataRequirement"] for f in r.get("codeFilter", [])
            for c in f.get("code", [])] == ["widget level"]  # the code itself only when verified
    assert sorted(n["text"] for n in guidance["note"]) == ["undecided: do not start examplomab at 30-44",
                                                            "undecided: no examplomab below 30"]


@pytest.mark.parametrize("name", TAKING)
def test_taking_what_a_statement_says_is_not_indicated_is_warned(run, name):
    """A contraindication written as a not-indicated statement: a patient already on the drug is told so
    (rule 89's taking-not-indicated), not only shown "not indicated"; never for one not decided yet."""
    warned = [w["message"] for w in run.reports[name]["warnings"] if w["code"] == "taking-not-indicated"]
    if name == "taking-band-38":
        report = run.reports[name]
        assert [r["iri"].rsplit(":", 1)[1] for r in report["recommendations"]] == ["rec-continue"]
        assert [n["iri"].rsplit(":", 1)[1] for n in report["not_indicated"]] == ["ni-30-44"]
    if TAKING[name][2]:
        assert warned == ["The patient is taking examplomab 10 mg tablet (since 2025-06-01), which 'no examplomab "
                          "below 30' says is not indicated for this patient: review it."]
    else:
        assert warned == []


def test_an_undecided_restriction_is_recorded_and_replayed_as_undecided(tmp_path, capsys):
    """The provenance records it with its status; the audit replays it and names it as undetermined."""
    import json

    from guidelinekg.cli import main

    patient = tmp_path / "p.json"
    patient.write_text(json.dumps(_bundle("p", 45, "<")), encoding="utf-8")
    provenance = tmp_path / "p.ttl"
    assert main(["recommend", str(patient), "--content", str(FIXTURE), "--as-of", AS_OF.isoformat(),
                 "--provenance", str(provenance)]) == 0
    capsys.readouterr()
    assert main(["audit", str(provenance), "--format", "json"]) == 0
    audit = json.loads(capsys.readouterr().out)
    summaries = sorted(r["summary"] for run in audit["runs"] for r in run["results"] if r["kind"] == "restriction")
    assert summaries == ["undetermined urn:example:undecided:ni-30-44", "undetermined urn:example:undecided:ni-below-30"]
    assert {r["replay"] for run in audit["runs"] for r in run["results"]} == {"same"}
