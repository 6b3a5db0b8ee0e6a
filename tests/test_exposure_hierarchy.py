"""A medication-exposure criterion on a class counts a product of a class under it (skos:broader), as allergy
criteria (rule 27), the interventions of rules 05, 77, 79 and 89, and the substance-class-empty lint do.

Before, rules 46 and 47 matched only the class's direct members: a patient taking exemplin (a short-acting
widgetin) was "not on a widgetin", and got what the guideline withholds from patients on one.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from madeup import run_documents, truths

FIXTURE = Path(__file__).parent / "fixtures" / "madeup" / "exposure-hierarchy.ttl"
CRITERION = "urn:example:hierarchy:on-widgetin"


def _bundle(pid: str, product: str | None) -> dict:
    entries = [{"resource": {"resourceType": "Patient", "id": pid, "birthDate": "1970-01-01"}}]
    if product:
        entries.append({"resource": {"resourceType": "MedicationStatement", "id": f"{pid}-m", "status": "active",
                                     "medicationCodeableConcept": {"text": product},
                                     "subject": {"reference": f"Patient/{pid}"},
                                     "effectivePeriod": {"start": "2025-12-20"}}})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


CASES = {"on-exemplin": ("exemplin 5 mg tablet", "true", []), "on-nothing": (None, "false", ["rec-otherol"])}


@pytest.fixture(scope="module", params=["oxigraph", "rdflib"])
def run(request, tmp_path_factory):
    docs = {name: _bundle(name, product) for name, (product, *_) in CASES.items()}
    return run_documents(FIXTURE, docs, tmp_path_factory.mktemp("hierarchy"), date(2026, 1, 15), engine=request.param)


@pytest.mark.parametrize("name", CASES)
def test_a_member_of_a_class_under_the_criterions_counts(run, name):
    _, truth, recommended = CASES[name]
    assert truths(run.evaluation)[(f"urn:guidelinekg:Patient/{name}", CRITERION)] == truth
    assert sorted(r["iri"].rsplit(":", 1)[1] for r in run.reports[name]["recommendations"]) == recommended


def test_the_explanation_names_the_exposure(run):
    report = run.reports["on-exemplin"]
    lines = [line for item in report["undetermined"] + report["recommendations"] for line in item["because"]]
    assert lines == [], "nothing recommended, nothing undetermined"
    rows = run.evaluation.store.select_values(
        "PREFIX gkg: <https://w3id.org/guidelinekg/ontology#> PREFIX prov: <http://www.w3.org/ns/prov#> "
        "SELECT ?e WHERE { ?o gkg:criterion <urn:example:hierarchy:on-widgetin> ; "
        "gkg:forPatient <urn:guidelinekg:Patient/on-exemplin> ; prov:wasDerivedFrom ?e }")
    assert [r["e"] for r in rows] == ["urn:guidelinekg:MedicationStatement/on-exemplin-m"]  # rule 47
