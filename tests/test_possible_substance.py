"""A product named only by a code the guideline lists as unverified: perhaps of the class, perhaps not.

Found by an author: an anticoagulant exclusion ("not already taking an oral anticoagulant") was decided
false for a patient whose warfarin was coded only by a code the guideline lists as unverified, so the drug
was recommended again. The exposure criterion is now unknown on such a product (rule 46), the records
named in the explanation; a product the text names, or no product of the class, decides as before.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.report.patient import build_report

HOME = Path(__file__).resolve().parents[1]
GUIDE = HOME / "docs" / "examples" / "authoring"
CASE = GUIDE / "cases" / "007-recent-infusion-glucose-monitoring" / "patient.json"
EXPOSURE = "https://example.org/guidelinekg/examplomab/crit-examplomab-28-days"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    files = sorted(GUIDE.glob("*.ttl")) + [HOME / "tests" / "fixtures" / "possible-substance" / "unverified-code.ttl"]
    return KnowledgeBase.load(files)


def _outcome(kb, concept: dict, engine: str, tmp_path: Path) -> tuple[str, str]:
    """The exposure criterion's truth and the explanation text of the criterion, for the case's patient with
    its examplomab product given as ``concept``."""
    from guidelinekg.report.explain import Criteria, Explainer

    bundle = json.loads(CASE.read_text())
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "MedicationAdministration":
            entry["resource"]["medicationCodeableConcept"] = copy.deepcopy(concept)
    path = tmp_path / f"{engine}.json"
    path.write_text(json.dumps(bundle))
    patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures)
    evaluation = evaluate(kb, [patient], as_of=date(2026, 1, 15), engine=engine)
    rows = evaluation.store.select_values(
        f"PREFIX gkg: <https://w3id.org/guidelinekg/ontology#> SELECT ?t WHERE {{ ?o gkg:criterion <{EXPOSURE}> ; "
        "gkg:truth ?t }")
    explainer = Explainer(Criteria.read(evaluation.store),
                          Explainer.outcome_rows(evaluation.store, None).get(patient.patient_iri, []))
    return rows[0]["t"].rsplit("#", 1)[1], " ".join(explainer.lines(EXPOSURE))


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_a_product_coded_only_by_an_unverified_code_leaves_the_exposure_unknown(kb, engine, tmp_path):
    coded = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "999"}]}
    truth, text = _outcome(kb, coded, engine, tmp_path)
    assert truth == "Unknown"
    assert text.endswith("unknown (a product named only by a code the guideline lists as unverified for a substance "
                         "of the class: MedicationAdministration/examplix-1 (perhaps examplomab))"), text


@pytest.mark.parametrize(("concept", "expected"), [
    ({"text": "Examplix (examplomab) 30 mg IV"}, "True"),  # recognised by name: exposure as before
    ({"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "123"}]}, "False"),  # unlisted
    ({"text": "Examplix", "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "999"}]},
     "True"),  # recognised by name, whatever its code
])
def test_a_recognised_or_an_unlisted_product_decides_as_before(kb, concept, expected, tmp_path):
    truth, text = _outcome(kb, concept, "oxigraph", tmp_path)
    assert truth == expected and "perhaps" not in text


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_a_true_exposure_names_the_records_it_rests_on_with_their_dates(kb, engine, tmp_path):
    """Found by an author (children's iron): "already taking iron: true" named no record, so a course that ended
    ten months before, read as lasting a year (no end recorded), could not be seen behind a treatment withheld."""
    truth, text = _outcome(kb, {"text": "Examplix (examplomab) 30 mg IV"}, engine, tmp_path)
    assert truth == "True"
    assert ": true (MedicationAdministration/examplix-1 (examplomab, from 20" in text, text
