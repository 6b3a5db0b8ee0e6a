"""A recommended substance while the patient takes another member of its class: ``taking-same-class``.

Found by an author: a patient on enalapril was told to start lisinopril (both ACE inhibitors) with no warning;
``already-taking-recommended`` named only the same substance. Rule 79's second operation warns of another
member of a class the recommended substance belongs to, taken at the end of the as-of date.
Guideline: tests/fixtures/madeup/allergy.ttl (examplicillin and otheracillin are examplicillins; examplicillin
is recommended to the non-allergic, latexium to everyone).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from madeup import run_documents

FIXTURE = Path(__file__).parent / "fixtures" / "madeup" / "allergy.ttl"
AS_OF = date(2026, 1, 15)


def _on(pid: str, product: str, **period) -> dict:
    statement = {"resourceType": "MedicationStatement", "id": f"{pid}-m", "status": "active",
                 "subject": {"reference": f"Patient/{pid}"}, "medicationCodeableConcept": {"text": product},
                 "effectivePeriod": period or {"start": "2025-06-01"}}
    return {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": pid, "birthDate": "1970-01-01"}}, {"resource": statement}]}


CASES = {  # name -> (document, the codes of rule 79 the patient gets)
    "other-member": (_on("other-member", "otheracillin 250 mg"), ["taking-same-class"]),
    "same-substance": (_on("same-substance", "examplicillin 500 mg"), ["already-taking-recommended"]),
    "no-class": (_on("no-class", "latexium 5 mg"), ["already-taking-recommended"]),  # latexium is recommended
    "other-member-stopped": (_on("other-member-stopped", "otheracillin 250 mg", start="2025-01-01",
                                 end="2025-06-01"), []),
}


@pytest.fixture(scope="module", params=["oxigraph", "rdflib"])
def run(request, tmp_path_factory):
    docs = {name: doc for name, (doc, _) in CASES.items()}
    return run_documents(FIXTURE, docs, tmp_path_factory.mktemp("same-class"), AS_OF, engine=request.param)


@pytest.mark.parametrize("name", CASES)
def test_another_member_of_the_class_is_warned_of(run, name):
    codes = sorted(w["code"] for w in run.reports[name]["warnings"]
                   if w["code"] in ("taking-same-class", "already-taking-recommended"))
    assert codes == CASES[name][1]


def test_the_warning_names_the_product_the_class_and_the_recommendation(run):
    [message] = [w["message"] for w in run.reports["other-member"]["warnings"] if w["code"] == "taking-same-class"]
    assert message.startswith("The patient is taking otheracillin 250 mg (since 2025-06-01), of the same class "
                              "(examplicillins) as examplicillin, while 'examplicillin unless allergic' is recommended")
