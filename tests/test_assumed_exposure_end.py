"""A medication record that says it is finished but not when: its end is assumed, and says so.

A completed or stopped MedicationStatement or MedicationRequest without an end (a completed MedicationDispense
without daysSupply) is read as ended by its meta.lastUpdated or a year after its start
(guidelinekg.patients.fhirmeds). That is the safe side for a result drawn on it (rule 13), but not for a
medication-exposure criterion: "examplomab within the last 28 days" was true for up to a year after the start
of a course the record says is over, on a guess. The loader now marks such an end (gkg:exposureEndAssumed), and
rule 46 leaves the criterion unknown when the course began before the window and only its assumed end reaches
into it; a recorded end, an ongoing course or a start within the window decide as before. A monitoring action
whose trigger is left unknown is named in a warning (rule 84), not dropped in silence.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.report.explain import Criteria, Explainer

HOME = Path(__file__).resolve().parents[1]
GUIDE = HOME / "docs" / "examples" / "authoring"
EXPOSURE = "https://example.org/guidelinekg/examplomab/crit-examplomab-28-days"  # "within the last 28 days"
GKG = "https://w3id.org/guidelinekg/ontology#"
AS_OF = date(2026, 1, 15)  # the window: from 2025-12-19 (28 days before the end of the as-of date)
PRODUCT = {"text": "Examplix (examplomab) 30 mg IV"}
SUBJECT = {"reference": "Patient/p1"}


def bundle(*medications: dict) -> dict:
    """An adult with type 2 diabetes and HbA1c 8.6 % (the authoring example's recommendation is made), with
    ``medications``."""
    coded = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9"}]}
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in (
        {"resourceType": "Patient", "id": "p1", "birthDate": "1971-05-20"},
        {"resourceType": "Condition", "id": "dx", "code": coded, "subject": SUBJECT},
        {"resourceType": "Observation", "id": "hba1c", "status": "final", "subject": SUBJECT,
         "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
         "effectiveDateTime": "2025-12-02T09:10:00+01:00",
         "valueQuantity": {"value": 8.6, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}},
        {"resourceType": "Observation", "id": "weight", "status": "final", "subject": SUBJECT,
         "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
         "effectiveDateTime": "2026-01-08T07:30:00+01:00",
         "valueQuantity": {"value": 71.3, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}},
        *medications)]}


def statement(status: str, period: dict, rid: str = "course", **extra) -> dict:
    return {"resourceType": "MedicationStatement", "id": rid, "status": status, "subject": SUBJECT,
            "medicationCodeableConcept": PRODUCT, "effectivePeriod": period, **extra}


def request(status: str, authored: str) -> dict:
    return {"resourceType": "MedicationRequest", "id": "rx", "status": status, "intent": "order",
            "subject": SUBJECT, "medicationCodeableConcept": PRODUCT, "authoredOn": authored}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load(sorted(GUIDE.glob("*.ttl")))


def run(kb, tmp_path: Path, doc: dict, engine: str = "oxigraph"):
    path = tmp_path / f"patient-{engine}.json"
    path.write_text(json.dumps(doc))
    patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures)
    evaluation = evaluate(kb, [patient], as_of=AS_OF, engine=engine)
    truth = evaluation.store.select_values(
        f"PREFIX gkg: <{GKG}> SELECT ?t WHERE {{ ?o gkg:criterion <{EXPOSURE}> ; gkg:truth ?t }}")
    explainer = Explainer(Criteria.read(evaluation.store),
                          Explainer.outcome_rows(evaluation.store, None).get(patient.patient_iri, []))
    return patient, truth[0]["t"].rsplit("#", 1)[1], " ".join(explainer.lines(EXPOSURE))


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_a_finished_course_begun_before_the_window_without_an_end_leaves_the_criterion_unknown(kb, tmp_path, engine):
    """Completed, started 100 days before: read as ended a year after its start; before, "within 28 days" was
    true on that guess."""
    patient, truth, text = run(kb, tmp_path, bundle(statement("completed", {"start": "2025-10-07"})), engine)
    assert truth == "Unknown"
    exposure = patient.facts("MedicationExposure")["<urn:guidelinekg:MedicationStatement/course>"]
    assert exposure["exposureEnd"] == ["2026-10-07T00:00:00"] and exposure["exposureEndAssumed"] == ["true"]
    assert "unknown (a course begun before the span and recorded as finished, but not when" in text, text
    assert "record when it ended to decide: MedicationStatement/course (examplomab, from 2025-10-07, finished on " \
           "a date not recorded)" in text, text


@pytest.mark.parametrize(("medication", "expected"), [
    (statement("completed", {"start": "2025-10-07", "end": "2026-01-05"}), "True"),  # a recorded end in the window
    (statement("active", {"start": "2025-10-07"}), "True"),  # in force, no end: ongoing
    (statement("stopped", {"start": "2025-10-07", "end": "2025-11-01"}), "False"),  # a recorded end before it
    (request("completed", "2026-01-05"), "True"),  # finished, no end, but its start lies within the window
    (request("completed", "2025-10-07"), "Unknown"),  # finished, no end, begun before the window
    # finished by its meta.lastUpdated (an end it cannot have passed), before the window: not within it
    (statement("completed", {"start": "2025-10-07"}, meta={"lastUpdated": "2025-11-01T10:00:00Z"}), "False"),
    ({"resourceType": "MedicationDispense", "id": "d", "status": "completed", "subject": SUBJECT,
      "medicationCodeableConcept": PRODUCT, "whenHandedOver": "2025-10-07"}, "Unknown"),  # no daysSupply
    # one instruction bounded to 2026-01-05 (in the window), another open: the assumed end is later, but the
    # record itself says the course ran until 2026-01-05 (found by a reviewer: was unknown)
    (dict(request("completed", "2025-10-07"), dosageInstruction=[
        {"timing": {"repeat": {"boundsPeriod": {"start": "2025-10-07", "end": "2026-01-05"}}}},
        {"text": "as needed"}]), "True"),
    # the same with the stated end before the window: nothing recorded reaches it
    (dict(request("completed", "2025-10-07"), dosageInstruction=[
        {"timing": {"repeat": {"boundsPeriod": {"start": "2025-10-07", "end": "2025-11-05"}}}},
        {"text": "as needed"}]), "Unknown"),
])
def test_recorded_ends_ongoing_courses_and_starts_in_the_window_decide_as_before(kb, tmp_path, medication, expected):
    _, truth, _ = run(kb, tmp_path, bundle(medication))
    assert truth == expected


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
@pytest.mark.parametrize(("medication", "expected"), [
    (request("unknown", "2025-10-07"), "Unknown"),  # in force or over, begun before the window: either may hold
    (request("unknown", "2026-01-05"), "True"),  # begun within the window
    (request("unknown", "2024-06-01"), "False"),  # its assumed end (2025-06-01) before the window, as a finished one
    # its lastUpdated before the window does not end it (the record did not say it was over then)
    (dict(request("unknown", "2025-10-07"), meta={"lastUpdated": "2025-11-01T10:00:00Z"}), "Unknown"),
])
def test_a_request_of_status_unknown_without_an_end_is_read_as_a_finished_one(kb, tmp_path, engine, medication,
                                                                              expected):
    """Status unknown may be in force or over: it was read as ongoing for ever (a request from 2019 was taken
    now); it gets the assumed end of a finished one, never its lastUpdated."""
    patient, truth, text = run(kb, tmp_path, bundle(medication), engine)
    assert truth == expected
    (exposure,) = patient.facts("MedicationExposure").values()
    assert exposure["exposureEndAssumed"] == ["true"]
    if expected != "False":  # the explanation names the record, and its status, not "finished"
        assert "MedicationRequest/rx (examplomab, from 20" in text and ", status unknown, no end recorded)" in text, text
        assert "finished" not in text, text
    if expected == "Unknown":
        assert "unknown (a course begun before the span, of status unknown and without an end: it may have ended " \
               "before the span; record when it ended, or that it goes on, to decide" in text, text


def test_an_end_recorded_or_dated_by_its_instructions_is_not_marked_assumed(kb, tmp_path):
    patient, _, _ = run(kb, tmp_path, bundle(statement("completed", {"start": "2025-10-07", "end": "2026-01-05"}),
                                             request("active", "2025-10-07")))
    for node in patient.facts("MedicationExposure").values():
        assert "exposureEndAssumed" not in node


def test_a_true_criterion_names_an_assumed_end_as_such(kb, tmp_path):
    """A course recorded in the window decides; a finished one beside it is named as ending on a date not
    recorded, not "to 2026-10-07"."""
    doc = bundle(statement("completed", {"start": "2025-10-07"}),
                 statement("completed", {"start": "2026-01-02", "end": "2026-01-03"}, rid="infusion"))
    _, truth, text = run(kb, tmp_path, doc)
    assert truth == "True"
    assert "MedicationStatement/course (examplomab, from 2025-10-07, finished on a date not recorded)" in text, text
    assert "MedicationStatement/infusion (examplomab, from 2026-01-02 to 2026-01-03)" in text, text
    assert "2026-10-07" not in text


def test_the_clinician_is_told_why_the_monitoring_it_triggers_is_not_listed(tmp_path):
    """recommend: the note says the end is assumed and what it leaves unknown; the monitoring that a course
    within 28 days triggers is named in a warning, not listed on a guess nor dropped in silence."""
    drawn = "2026-01-08T07:40:00+01:00"  # fasting, after the course's last possible day: usable
    doc = bundle(statement("completed", {"start": "2025-10-07"}, meta={"lastUpdated": "2025-12-30T10:00:00Z"}),
                 {"resourceType": "Specimen", "id": "plasma", "subject": SUBJECT, "collection": {
                     "collectedDateTime": drawn, "fastingStatusCodeableConcept": {"coding": [
                         {"system": "http://terminology.hl7.org/CodeSystem/v2-0916", "code": "F"}]}}},
                 {"resourceType": "Observation", "id": "glucose", "status": "final", "subject": SUBJECT,
                  "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]}, "effectiveDateTime": drawn,
                  "specimen": {"reference": "Specimen/plasma"},
                  "valueQuantity": {"value": 7.2, "unit": "mmol/L", "system": "http://unitsofmeasure.org",
                                    "code": "mmol/L"}})
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(doc))
    done = subprocess.run([sys.executable, "-m", "guidelinekg.cli", "recommend", "--as-of", "2026-01-15",
                           "--content", str(GUIDE), str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "[exposure-end-unknown] MedicationStatement/course is completed but gives no end" in out
    assert ("a criterion on taking it within a recent span that begins after all the record states (its start, "
            "and any instruction's end) is unknown, not taken as met") in out
    assert ("[monitoring-undecided] Cannot tell whether to monitor 'plasma glucose after a recent examplomab "
            "infusion' (an examplomab infusion within the last 28 days): 'examplomab within the last 28 days' "
            "is unknown") in out, out
    monitoring = out.split("Monitoring", 1)[1].split("Warnings", 1)[0]
    assert "HbA1c" in monitoring and "glucose" not in monitoring, monitoring
