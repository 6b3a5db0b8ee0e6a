"""A made recommendation for what the patient already takes is warned about (rule 79), never withdrawn.

Found by a trial author: a patient with an active atorvastatin prescription got "prescribe a moderate-intensity
statin" with nothing saying they already take it (only the loader's exposure-end-unknown note). The warning
(already-taking-recommended) names the product as recorded, since when, and the recommendation. A course the
record says is finished without its end (an assumed end), or a product only an unverified code names, is
worded "may be taking"; an exposure that ended before the end of the as-of date, or begins after it, gives
none. Shown on the fictional examplomab guideline of docs/examples/authoring (case 001's patient).
"""

from __future__ import annotations

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
CASE = GUIDE / "cases" / "001-adult-hba1c-8.6-dosed" / "patient.json"
REC = "https://example.org/guidelinekg/examplomab/rec-examplomab"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NAMED = {"text": "Examplix (examplomab) 30 mg"}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    files = sorted(GUIDE.glob("*.ttl")) + [HOME / "tests" / "fixtures" / "possible-substance" / "unverified-code.ttl"]
    return KnowledgeBase.load(files)


def _statement(status: str, period: dict, concept: dict = NAMED, **extra) -> dict:
    return {"resourceType": "MedicationStatement", "id": "med-1", "status": status,
            "medicationCodeableConcept": concept, "subject": {"reference": "Patient/t2dm-1"},
            "effectivePeriod": period, **extra}


def _request(end: str) -> dict:
    return {"resourceType": "MedicationRequest", "id": "rx-1", "status": "active", "intent": "order",
            "medicationCodeableConcept": NAMED, "subject": {"reference": "Patient/t2dm-1"},
            "authoredOn": "2026-01-10T09:00:00+01:00",
            "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": "2026-01-10T09:00:00+01:00",
                                                                           "end": end}}}}]}


def _warnings(kb, medication: dict, tmp_path: Path, engine: str = "oxigraph") -> tuple[list[str], dict]:
    """The already-taking-recommended messages for case 001's patient (examplomab made, as of 2026-01-15)
    with ``medication`` added, and the report."""
    bundle = json.loads(CASE.read_text(encoding="utf-8"))
    bundle["entry"].append({"resource": medication})
    path = tmp_path / f"{engine}.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    evaluation = evaluate(kb, [patient], as_of=date(2026, 1, 15), engine=engine)
    report = build_report(evaluation, patient.patient_iri, kb.version())
    assert REC in [r["iri"] for r in report["recommendations"]]  # made, whatever the warning says
    return [w["message"] for w in report["warnings"] if w["code"] == "already-taking-recommended"], report


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_a_patient_on_the_recommended_drug_is_told_so(kb, engine, tmp_path):
    messages, _ = _warnings(kb, _statement("active", {"start": "2026-01-10T08:00:00+01:00"}), tmp_path, engine)
    # a product of the substance, perhaps at another dose (a dose-adjustment guideline): compare, never "again"
    assert messages == ["The patient is already taking Examplix (examplomab) 30 mg (since 2026-01-10), a product of "
                        "examplomab, while 'IV examplomab 0.5 mg/kg' is recommended: compare the current dose and "
                        "course with this recommendation before starting or changing it."], messages


def test_a_course_finished_without_its_end_may_still_be_taken(kb, tmp_path):
    """The loader assumes a year after the start (no meta.lastUpdated): not read as taken, only "may be"."""
    [message], _ = _warnings(kb, _statement("completed", {"start": "2026-01-10T08:00:00+01:00"}), tmp_path)
    assert message == ("The patient may still be taking Examplix (examplomab) 30 mg (since 2026-01-10; recorded as "
                       "finished without the date it ended), a product of examplomab, while 'IV examplomab 0.5 mg/kg' is "
                       "recommended: check whether it is still taken, and compare the current dose and course with "
                       "this recommendation before starting or changing it."), \
        message


def test_a_course_recorded_as_finished_before_the_as_of_date_gives_none(kb, tmp_path):
    """Its meta.lastUpdated (2026-01-12) already said it was finished: the assumed end lies before 2026-01-15."""
    medication = _statement("completed", {"start": "2026-01-10T08:00:00+01:00"},
                            meta={"lastUpdated": "2026-01-12T10:00:00Z"})
    assert _warnings(kb, medication, tmp_path)[0] == []


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_a_product_only_an_unverified_code_names_may_be_it(kb, engine, tmp_path):
    coded = {"coding": [{"system": RXNORM, "code": "999", "display": "Product 999"}]}
    [message], _ = _warnings(kb, _statement("active", {"start": "2026-01-10T08:00:00+01:00"}, coded), tmp_path,
                             engine)
    assert message == ("The patient may be taking Product 999 (since 2026-01-10; only a code the guideline lists as "
                       "unverified names it as examplomab) while 'IV examplomab 0.5 mg/kg' is recommended: check what the "
                       "product is, and compare the current dose and course with this recommendation before starting "
                       "or changing it."), message


def test_both_doubts_are_said_and_a_recognised_product_outweighs_them(kb, tmp_path):
    coded = {"coding": [{"system": RXNORM, "code": "999", "display": "Product 999"}]}
    [message], _ = _warnings(kb, _statement("stopped", {"start": "2026-01-10T08:00:00+01:00"}, coded), tmp_path)
    assert "(since 2026-01-10; only a code the guideline lists as unverified names it as examplomab; recorded as " \
           "finished without the date it ended)" in message and "check what the product is and whether it is " \
           "still taken, and compare" in message, message
    named = {"text": "Examplix", "coding": [{"system": RXNORM, "code": "999"}]}  # by name: taken, whatever its code
    [message], _ = _warnings(kb, _statement("active", {"start": "2026-01-10T08:00:00+01:00"}, named), tmp_path)
    assert message.startswith("The patient is already taking Examplix (since 2026-01-10), a product of examplomab, while"), message


@pytest.mark.parametrize(("end", "warned"), [
    ("2026-01-14T09:00:00+01:00", False),  # ended the day before the as-of date
    ("2026-01-20T09:00:00+01:00", True),  # runs past the end of the as-of date
])
def test_a_prescription_counts_while_its_course_covers_the_end_of_the_as_of_date(kb, end, warned, tmp_path):
    messages, _ = _warnings(kb, _request(end), tmp_path)
    assert bool(messages) == warned, messages


def test_a_course_begun_after_the_as_of_date_gives_none(kb, tmp_path):
    assert _warnings(kb, _statement("active", {"start": "2026-01-20T08:00:00+01:00"}), tmp_path)[0] == []


def test_an_unrelated_product_gives_none(kb, tmp_path):
    medication = _statement("active", {"start": "2026-01-10T08:00:00+01:00"}, {"text": "Metformin 500 mg"})
    assert _warnings(kb, medication, tmp_path)[0] == []


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_a_recommendation_about_the_therapy_taken_gives_no_warning(engine, tmp_path):
    """Found by a trial author (lithium): "on lithium, level on target: continue the current dose" warned on every
    patient it applied to. A recommendation whose criterion holds through a medication-exposure criterion of the
    substance's class is about that therapy; the other recommendation of the same drug still warns."""
    files = sorted(GUIDE.glob("*.ttl")) + [HOME / "tests" / "fixtures" / "current-therapy" / "continue.ttl"]
    messages, report = _warnings(KnowledgeBase.load(files), _statement("active", {"start": "2026-01-10T08:00:00+01:00"}),
                                 tmp_path, engine)
    assert "https://example.org/guidelinekg/examplomab/rec-continue-examplomab" in [
        r["iri"] for r in report["recommendations"]]
    assert len(messages) == 1 and "while 'IV examplomab 0.5 mg/kg' is recommended" in messages[0], messages
