"""A resource skipped because its patient cannot be told may be the patient's own: the input may lack it.

A Condition, result or medication record whose subject is a Patient not in the input (a merged record's old
id named by the Patient's ``link``, an id from another system, a transaction's conditional reference) or no
reference at all (only a display) is skipped with an ``unknown-patient`` or ``missing-subject`` note. Before,
nothing else changed: an RLS diagnosis filed under the merged patient's old id gave a confident "this
guideline does not apply". Now the note lacks the resource's record class (patients/gaps.py), so a
diagnosis not shown is unknown (rule 44) and a newer result may be missing (rule 19); a resource no loaded
guideline reads (a heart rate, a hypertension diagnosis) changes nothing. Both engines, both loaders.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients import loader
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.patients.model import MAY_LACK, MAY_LACK_ANY, PatientData
from guidelinekg.report.patient import build_report

AS_OF = date(2026, 1, 15)
ENGINES = ["oxigraph", "rdflib"]
FCM = "https://w3id.org/guidelinekg/guideline/rls-iron/rec-fcm"
CONFIRMED = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]}


def rls(subject: dict) -> dict:
    return {"resourceType": "Condition", "id": "c1", "subject": subject, "verificationStatus": CONFIRMED,
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "32914008"}]}}


def result(oid: str, loinc: str, value: float, unit: str, subject: str = "Patient/p1", day: str = "2026-01-08") -> dict:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]}, "subject": {"reference": subject},
            "effectiveDateTime": f"{day}T08:15:00-05:00",
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}


def labs() -> list[dict]:
    """Ferritin 45 ng/mL, transferrin saturation 18%, 70 kg: an adult with RLS gets FCM 1000 mg."""
    return [result("fer1", "2276-4", 45, "ng/mL"), result("tsat1", "2502-3", 18, "%"), result("wt1", "29463-7", 70, "kg")]


def bundle(*resources: dict, patient: dict | None = None) -> bytes:
    me = patient or {"resourceType": "Patient", "id": "p1", "birthDate": "1970-05-01", "gender": "female"}
    return json.dumps({"resourceType": "Bundle", "type": "collection",
                       "entry": [{"resource": r} for r in (me, *resources)]}).encode()


def load(kb, raw: bytes, strict: bool = False, monkeypatch=None) -> PatientData:
    if strict:
        monkeypatch.setattr(loader, "_lazy_fhir", lambda *args: None)
    return load_patient_input("in.json", matcher=kb.matcher, measures=kb.measures, reads=kb.reads, raw=raw)


def report(kb, raw: bytes, engine: str) -> dict:
    patient = load(kb, raw)
    return build_report(evaluate(kb, [patient], as_of=AS_OF, engine=engine), patient.patient_iri, kb.version())


MERGED = {"resourceType": "Patient", "id": "pB", "birthDate": "1970-05-01", "gender": "female",
          "link": [{"other": {"reference": "Patient/pA"}, "type": "replaces"}]}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("subject", "patient", "code"), [
    ({"reference": "Patient/pA"}, MERGED, "unknown-patient"),  # the merged record's old id
    ({"reference": "Patient/p0"}, None, "unknown-patient"),  # another id
    ({"reference": "Patient?identifier=urn:mrn|123"}, None, "unknown-patient"),  # a conditional reference
    ({"display": "Jane Doe"}, None, "missing-subject"),  # a display only
])  # fmt: skip
def test_a_diagnosis_skipped_for_its_subject_leaves_the_guideline_undecided(kb, engine, subject, patient, code):
    pid = (patient or {}).get("id", "p1")
    own = [{**r, "subject": {"reference": f"Patient/{pid}"}} for r in labs()]
    rep = report(kb, bundle(rls(subject), *own, patient=patient), engine)
    assert rep["applicability"] == "unknown" and not rep["recommendations"]
    messages = {w["code"]: w["message"] for w in rep["warnings"]}
    assert messages[code].startswith("Condition/c1 ") and messages[code].endswith(MAY_LACK)
    assert "the input may lack some of the patient's records" in messages["guideline-not-applicable"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_result_skipped_for_its_subject_is_named_but_sets_nothing_aside(kb, engine):
    """A result is not closed-world (none read: its test is ordered), and one skipped for its subject may be
    older than those read (a reviewer's case: an old display-only weight set aside every result): named by
    its note, it leaves the record as read."""
    stray = result("fer2", "2276-4", 160, "ng/mL", subject="Patient/p0", day="2026-01-12")
    weight = {**result("wt0", "29463-7", 71, "kg", day="2025-03-01"), "subject": {"display": "Jane Doe"}}
    rep = report(kb, bundle(rls({"reference": "Patient/p1"}), *labs(), stray, weight), engine)
    assert FCM in {r["iri"] for r in rep["recommendations"]}
    assert not any(w["code"] == "result-may-be-superseded" for w in rep["warnings"])
    (note,) = [w["message"] for w in rep["warnings"] if w["code"] == "unknown-patient"]
    assert note.startswith("Observation/fer2 refers to 'Patient/p0'") and note.endswith("; skipped")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("stray", [
    result("hr1", "8867-4", 72, "/min", subject="Patient/p0"),  # a heart rate: no guideline reads it
    {"resourceType": "MedicationRequest", "id": "mr9", "status": "active", "intent": "order",  # no read substance
     "subject": {"reference": "Patient/old-id-77"}, "authoredOn": "2025-12-01",
     "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                               "code": "314076"}], "text": "lisinopril 10 mg oral tablet"}},
    {**rls({"reference": "Patient/p0"}), "id": "c2", "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]}},
])  # fmt: skip
def test_a_skipped_resource_no_guideline_reads_changes_nothing(kb, engine, stray):
    rep = report(kb, bundle(rls({"reference": "Patient/p1"}), *labs(), stray), engine)
    assert FCM in {r["iri"] for r in rep["recommendations"]}
    assert rep["applicability"] == "true"


def test_both_loaders_note_what_the_input_may_lack(kb, monkeypatch):
    stray_med = {"resourceType": "MedicationStatement", "id": "ms1", "status": "active",
                 "subject": {"reference": "Patient/p0"}, "effectiveDateTime": "2026-01-01",
                 "medicationCodeableConcept": {"text": "ferrous sulfate 325 mg tablet"}}
    raw = bundle(rls({"reference": "Patient/p0"}), result("fer2", "2276-4", 160, "ng/mL", subject="Patient/p0"),
                 stray_med, *labs())
    lazy = load(kb, raw)
    strict = load(kb, raw, strict=True, monkeypatch=monkeypatch)
    for p in (lazy, strict):
        (note,) = [n for n in p.notes if n.code == "unknown-patient"]
        assert note.lacks == ("Condition", "MedicationExposure")  # a result: named, not lacked
        assert note.message.startswith("3 resources (Condition/c1, MedicationStatement/ms1, Observation/fer2) refer "
                                       "to 'Patient/p0'")
    assert lazy.ntriples == strict.ntriples


# --- medication records taken at no known time, or of no readable product -------------------------------------


def statement(product: dict, **fields) -> dict:
    return {"resourceType": "MedicationStatement", "id": "ms1", "status": "active",
            "subject": {"reference": "Patient/p1"}, **product, **fields}


IRON = {"medicationCodeableConcept": {"text": "ferrous sulfate 325 mg oral tablet"}}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("record", [
    statement(IRON),  # active, no effective[x]
    statement(IRON, dateAsserted="2025-11-02"),  # only when it was asserted
    {"resourceType": "MedicationRequest", "id": "mr1", "status": "active", "intent": "order",
     "subject": {"reference": "Patient/p1"}, **IRON},  # an order without authoredOn or bounds
    statement({"medicationReference": {"reference": "Medication/not-here"}}, effectiveDateTime="2026-01-01"),
])  # fmt: skip
def test_a_medication_taken_at_no_known_time_or_of_no_known_product_leaves_the_draw_unclear(kb, engine, record):
    """An iron tablet the patient takes (since when unknown), or a product the record does not let one read:
    the iron studies may have been drawn on iron, so they do not drive a recommendation (rule 18)."""
    rep = report(kb, bundle(rls({"reference": "Patient/p1"}), *labs(), record), engine)
    assert FCM not in {r["iri"] for r in rep["recommendations"]}
    assert any(w["code"] in ("missing-time", "missing-product") and "not ruled out" in w["message"]
               for w in rep["warnings"])


@pytest.mark.parametrize("engine", ENGINES)
def test_an_undated_medication_of_no_substance_a_guideline_reads_changes_nothing(kb, engine):
    record = statement({"medicationCodeableConcept": {"text": "lisinopril 10 mg oral tablet"}})
    rep = report(kb, bundle(rls({"reference": "Patient/p1"}), *labs(), record), engine)
    assert FCM in {r["iri"] for r in rep["recommendations"]}
