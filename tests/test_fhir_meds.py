"""Medication records read as exposure (patients/fhirmeds.py): which count, and the period each gives. The
vignettes 140-146 cover the clinical outcomes end to end (labs drawn on iron, a course within 3 months);
here: every branch of the period (the order of preference of the ends a request states; a finished record
without an end), the skips, refusals of ill-typed input, and the shipped guideline's report for a
prescription finished years before the draw.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from guidelinekg.errors import InputError, Location
from guidelinekg.patients.decode import parse_json
from guidelinekg.patients.fhir import patients_from_json
from guidelinekg.patients.fhirmeds import dispense_period, duration_days, request_period
from guidelinekg.patients.model import GKG, PatientData

XSD = "http://www.w3.org/2001/XMLSchema#"
NODE = "urn:guidelinekg:MedicationRequest/rx"


def fhir(*resources: dict) -> PatientData:
    doc = {"resourceType": "Bundle", "type": "collection",
           "entry": [{"resource": {"resourceType": "Patient", "id": "p1"}}, *({"resource": r} for r in resources)]}
    (patient,) = patients_from_json(parse_json(json.dumps(doc), Location("<test>")))
    return patient


def request(**fields) -> dict:
    return {"resourceType": "MedicationRequest", "id": "rx", "status": "active", "intent": "order",
            "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": {"text": "Drug X"}, **fields}


def values(p: PatientData, subject: str, prop: str) -> list[str]:
    return sorted(t.object.value for t in p.triples() if t.subject.value == subject and t.predicate.value == GKG + prop)


def notes(p: PatientData) -> list[str]:
    return sorted(n.code for n in p.notes)


def bounds(**repeat) -> list[dict]:
    return [{"timing": {"repeat": repeat}}]


@pytest.mark.parametrize("fields, start, end, note", [
    # bounds: the earliest start and the latest end of all dosage instructions
    ({"authoredOn": "2026-01-01", "dosageInstruction": [
        {"timing": {"repeat": {"boundsPeriod": {"start": "2026-01-03", "end": "2026-01-10"}}}},
        {"timing": {"repeat": {"boundsPeriod": {"start": "2026-01-02T08:00:00Z", "end": "2026-02-01"}}}}]},
     "2026-01-02T08:00:00Z", "2026-02-02T00:00:00", None),  # a date-only end covers its whole day
    # a duration from authoredOn (UCUM code, or unit spelt out)
    ({"authoredOn": "2026-01-01T09:00:00+01:00",
      "dosageInstruction": bounds(boundsDuration={"value": 2, "system": "http://unitsofmeasure.org", "code": "wk"})},
     "2026-01-01T09:00:00+01:00", "2026-01-15T09:00:00+01:00", None),
    ({"authoredOn": "2026-01-01", "dosageInstruction": bounds(boundsDuration={"value": 1.5, "unit": "days"})},
     "2026-01-01T00:00:00", "2026-01-02T12:00:00", None),
    # the supply times (1 + repeats)
    ({"authoredOn": "2026-01-01", "dispenseRequest": {
        "numberOfRepeatsAllowed": 2, "expectedSupplyDuration": {"value": 30, "unit": "days", "code": "d"}}},
     "2026-01-01T00:00:00", "2026-04-01T00:00:00", None),  # 90 days
    # one instruction closed, another open (no end, no duration): ongoing, whatever the closed one says
    ({"authoredOn": "2026-01-01", "dosageInstruction": [
        {"timing": {"repeat": {"boundsPeriod": {"start": "2026-01-01", "end": "2026-01-14"}}}},
        {"timing": {"repeat": {"boundsPeriod": {"start": "2026-01-15"}}}}]},
     "2026-01-01T00:00:00", None, "exposure-end-unknown"),
    # one closed by its bounds, another by its own start plus its duration: the later end
    ({"authoredOn": "2026-01-01", "dosageInstruction": [
        {"timing": {"repeat": {"boundsPeriod": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-07T00:00:00Z"}}}},
        {"timing": {"repeat": {"boundsDuration": {"value": 90, "code": "d"}}}}]},
     "2026-01-01T00:00:00Z", "2026-04-01T00:00:00+00:00", None),
    # ends compared as instants, not as text: 20:00 at -10:00 is later than 02:00 at +00:00 the next day
    ({"authoredOn": "2026-01-01", "dosageInstruction": [
        {"timing": {"repeat": {"boundsPeriod": {"end": "2026-01-05T20:00:00-10:00"}}}},
        {"timing": {"repeat": {"boundsPeriod": {"end": "2026-01-06T02:00:00+00:00"}}}}]},
     "2026-01-01T00:00:00", "2026-01-05T20:00:00-10:00", None),
    # an unparsable bounds start does not hide a valid authoredOn
    ({"authoredOn": "2025-12-01", "dosageInstruction": bounds(
        boundsPeriod={"start": "2025-12-1"}, boundsDuration={"value": 90, "code": "d"})},
     "2025-12-01T00:00:00", "2026-03-01T00:00:00", "invalid-time"),
    # no end anywhere: ongoing, said so
    ({"authoredOn": "2026-01-01"}, "2026-01-01T00:00:00", None, "exposure-end-unknown"),
    # a duration in a unit that is no time: not used, and said
    ({"authoredOn": "2026-01-01", "dosageInstruction": bounds(boundsDuration={"value": 3, "code": "mg"})},
     "2026-01-01T00:00:00", None, "unsupported-duration"),
    # no authoredOn: the validity period's start
    ({"dispenseRequest": {"validityPeriod": {"start": "2026-01-05"}}}, "2026-01-05T00:00:00", None,
     "exposure-end-unknown"),
])  # fmt: skip
def test_request_period(fields, start, end, note):
    p = fhir(request(**fields))
    assert values(p, NODE, "exposureStart") == [start]
    assert values(p, NODE, "exposureEnd") == ([end] if end else [])
    assert values(p, NODE, "exposureKind") == ["request"]
    if note:
        assert note in notes(p)
    else:
        assert not {"exposure-end-unknown", "unsupported-duration"} & set(notes(p))


@pytest.mark.parametrize("fields, why", [
    ({"status": "cancelled"}, "has status cancelled"),
    ({"status": "draft"}, "has status draft"),
    ({"status": "entered-in-error"}, "has status entered-in-error"),
    ({"intent": "proposal"}, "has intent proposal, not an order"),
    ({"intent": "plan"}, "has intent plan, not an order"),
    ({"intent": "plan", "reportedBoolean": False}, "has intent plan, not an order"),
    ({"intent": "proposal", "reportedBoolean": True}, "has intent proposal, not an order"),
    ({"doNotPerform": True}, "is doNotPerform"),
])
def test_requests_that_are_no_exposure_are_skipped_with_a_note(fields, why):
    p = fhir(request(authoredOn="2026-01-01", **fields))
    assert values(p, NODE, "exposureStart") == []
    (message,) = [n.message for n in p.notes if n.code == "skipped-status"]
    assert message.startswith(f"MedicationRequest/rx {why}") and message.endswith("; skipped")


@pytest.mark.parametrize("reported", [{"reportedBoolean": True}, {"reportedReference": {"reference": "Patient/p1"}}])
def test_a_reported_plan_is_a_medication_taken(reported):
    """Oracle Health records a home medication as a MedicationRequest of intent plan, reported: skipped as 'not
    an order', the oral iron a patient took left their iron studies used as if drawn off iron."""
    p = fhir(request(intent="plan", authoredOn="2026-01-01", **reported))
    assert values(p, NODE, "exposureStart") == ["2026-01-01T00:00:00"]
    assert not [n for n in p.notes if n.code == "skipped-status"]


def test_request_without_any_start_decides_nothing():
    p = fhir(request())
    assert values(p, NODE, "exposureStart") == []
    assert "missing-time" in notes(p)


def dispense(**fields) -> dict:
    return {"resourceType": "MedicationDispense", "id": "d", "status": "completed",
            "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": {"text": "Drug X"}, **fields}


def test_dispense_period_from_hand_over_and_days_supply():
    node = "urn:guidelinekg:MedicationDispense/d"
    p = fhir(dispense(whenPrepared="2026-01-01", whenHandedOver="2026-01-02T10:00:00Z",
                      daysSupply={"value": 10, "unit": "day", "system": "http://unitsofmeasure.org", "code": "d"}))
    assert values(p, node, "exposureStart") == ["2026-01-02T10:00:00Z"]
    assert values(p, node, "exposureEnd") == ["2026-01-12T10:00:00+00:00"]
    assert values(p, node, "exposureKind") == ["dispense"]
    p = fhir(dispense(whenHandedOver="01/01/2026", whenPrepared="2026-01-01", daysSupply={"value": "10", "code": "d"}))
    assert values(p, node, "exposureStart") == ["2026-01-01T00:00:00"]  # the valid one, not a hidden exposure
    assert values(p, node, "exposureEnd") == ["2026-01-11T00:00:00"]  # a number written as a string is read
    assert "invalid-time" in notes(p)
    # no daysSupply: the supply handed over ran out at a time not recorded (see test_finished_...)
    p = fhir(dispense(whenPrepared="2026-01-01"))
    assert values(p, node, "exposureStart") == ["2026-01-01T00:00:00"]
    assert values(p, node, "exposureEnd") == ["2027-01-01T00:00:00"]
    assert "exposure-end-unknown" in notes(p)
    for status in ("preparation", "in-progress", "cancelled", "on-hold", "stopped", "declined", "unknown"):
        p = fhir(dispense(status=status, whenHandedOver="2026-01-02"))
        assert values(p, node, "exposureStart") == [], status
        assert "skipped-status" in notes(p)


def test_durations():
    assert duration_days({"value": Decimal(3), "code": "mo"}) == Decimal("91.3125")
    assert duration_days({"value": 1, "unit": "Years"}) == Decimal("365.25")
    assert duration_days({"value": -1, "code": "d"}) is None  # a negative duration is no duration
    assert duration_days({"value": True, "code": "d"}) is None
    assert duration_days({"value": 1, "system": "http://snomed.info/sct", "code": "d"}) is None  # not UCUM
    assert duration_days("3 days") is None
    # an end beyond what a date can hold is no end (not a crash)
    assert request_period(request(authoredOn="2026-01-01", dosageInstruction=bounds(
        boundsDuration={"value": Decimal("1e30"), "code": "a"}))).end is None
    assert dispense_period(dispense(whenHandedOver="9999-12-31", daysSupply={"value": 5, "code": "d"})).end is None


@pytest.mark.parametrize("bad", [
    {"dosageInstruction": 5},
    {"dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": 2026}}}}]},
    {"dispenseRequest": {"expectedSupplyDuration": 30}},
    {"doNotPerform": "yes"},
    {"authoredOn": ["2026-01-01"]},
])
def test_ill_typed_elements_are_refused_with_their_path(bad):
    with pytest.raises(InputError) as err:
        fhir(request(**bad))
    assert "MedicationRequest" in str(err.value) or next(iter(bad)) in str(err.value)


def test_a_duration_value_that_is_not_a_number_is_noted_not_used():
    p = fhir(request(authoredOn="2026-01-01", dispenseRequest={"expectedSupplyDuration": {"value": "ten", "code": "d"}}))
    assert values(p, NODE, "exposureEnd") == []
    assert {"unsupported-duration", "exposure-end-unknown"} <= set(notes(p))


def test_a_date_only_statement_end_covers_its_whole_day():
    """FHIR Period.end "2026-01-14" includes that day: a draw on the 15th at 08:00 is under 24 h after it."""
    res = {"resourceType": "MedicationStatement", "id": "s", "status": "active", "subject": {"reference": "Patient/p1"},
           "medicationCodeableConcept": {"text": "Drug X"}, "effectivePeriod": {"start": "2026-01-01", "end": "2026-01-14"}}
    p = fhir(res)
    node = "urn:guidelinekg:MedicationStatement/s"
    assert values(p, node, "exposureStart") == ["2026-01-01T00:00:00"]
    assert values(p, node, "exposureEnd") == ["2026-01-15T00:00:00"]
    p = fhir({**res, "effectivePeriod": {"start": "2026-01-01", "end": "2026-01"}})
    assert values(p, node, "exposureEnd") == ["2026-02-01T00:00:00"]
    # a moment with a time is itself (an active statement's effectiveDateTime is its start: test_ehr_trial2.py)
    p = fhir({**res, "status": "completed", "effectivePeriod": None, "effectiveDateTime": "2026-01-14T10:00:00Z"})
    assert values(p, node, "exposureEnd") == ["2026-01-14T10:00:00Z"]


# --- the ends a request states, in their order of preference -------------------------------------------


SUPPLY_30 = {"value": 30, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}


@pytest.mark.parametrize("status", ["active", "completed", "on-hold"])  # stopped: below
@pytest.mark.parametrize("fields, end", [
    # the validity period's end: the last day it may be dispensed (a date covers its whole day)
    ({"dispenseRequest": {"validityPeriod": {"start": "2025-01-01", "end": "2025-06-01"}}}, "2025-06-02T00:00:00"),
    # ... and what was handed over that day lasts one supply; preferred to the supply times the repeats
    ({"dispenseRequest": {"validityPeriod": {"end": "2025-06-01"}, "numberOfRepeatsAllowed": 11,
                          "expectedSupplyDuration": SUPPLY_30}}, "2025-07-02T00:00:00"),
    # the dosage bounds come first, whatever the validity period says
    ({"dispenseRequest": {"validityPeriod": {"end": "2025-12-31"}},
      "dosageInstruction": bounds(boundsPeriod={"start": "2025-01-01", "end": "2025-01-31"})}, "2025-02-01T00:00:00"),
    # an instruction with bounds and one without: the later of its end and the validity period's
    ({"dispenseRequest": {"validityPeriod": {"end": "2025-03-01"}}, "dosageInstruction": [
        {"timing": {"repeat": {"boundsPeriod": {"end": "2025-04-30"}}}}, {"timing": {"repeat": {"frequency": 1}}}]},
     "2025-05-01T00:00:00"),
])  # fmt: skip
def test_request_end_stated_by_the_record(status, fields, end):
    p = fhir(request(status=status, authoredOn="2025-01-01", **fields))
    assert values(p, NODE, "exposureStart") == ["2025-01-01T00:00:00"]
    assert values(p, NODE, "exposureEnd") == [end]
    assert "exposure-end-unknown" not in notes(p)


@pytest.mark.parametrize(("updated", "end"), [
    (None, "2026-03-02T00:00:00"),  # the planned end, at the latest
    ("2026-01-05T10:00:00Z", "2026-01-05T10:00:00Z"),  # the record already said stopped then
    ("2026-04-01T10:00:00Z", "2026-03-02T00:00:00"),  # after the planned end: that end
    ("2025-11-01T10:00:00Z", "2026-03-02T00:00:00"),  # before its start: not the end
])
def test_a_stopped_request_was_halted_before_its_planned_end_on_a_date_not_recorded(updated, end):
    """Trial author: a sertraline order stopped, planned until 2026-03-01, gave "is already taking" as of
    2026-01-15 as a certainty (FHIR: stopped is halted before all administrations). Its end is now assumed:
    by meta.lastUpdated when that lies between its start and the planned end, else the planned end."""
    meta = {"meta": {"lastUpdated": updated}} if updated else {}
    p = fhir(request(status="stopped", authoredOn="2025-12-01", **meta,
                     dosageInstruction=bounds(boundsPeriod={"start": "2025-12-01", "end": "2026-03-01"})))
    assert values(p, NODE, "exposureEnd") == [end]
    assert values(p, NODE, "exposureEndAssumed") == ["true"]
    [note] = [n.message for n in p.notes if n.code == "exposure-end-unknown"]
    assert "halted before its planned end (2026-03-02T00:00:00)" in note
    completed = fhir(request(status="completed", authoredOn="2025-12-01", **meta,
                             dosageInstruction=bounds(boundsPeriod={"end": "2026-03-01"})))
    assert values(completed, NODE, "exposureEndAssumed") == []  # ran as planned


def test_an_invalid_validity_end_is_noted_and_the_next_end_used():
    p = fhir(request(authoredOn="2025-01-01", dispenseRequest={
        "validityPeriod": {"end": "June 2025"}, "expectedSupplyDuration": SUPPLY_30}))
    assert values(p, NODE, "exposureEnd") == ["2025-01-31T00:00:00"]
    assert "invalid-time" in notes(p)


def test_a_validity_end_before_the_start_is_noted_not_used():
    """An active request whose validityPeriod.end precedes its start: not an end (it would make the exposure
    end before it began, so no result is ever drawn on it); in force without another end: ongoing."""
    p = fhir(request(authoredOn="2025-06-01", dispenseRequest={"validityPeriod": {"end": "2025-01-31"}}))
    assert values(p, NODE, "exposureEnd") == []
    assert any("validityPeriod.end 2025-01-31 is before the start 2025-06-01; not used" in n.message
               for n in p.notes if n.code == "invalid-time")  # as written: no Python quotes, the start's date


# --- a finished record whose end is not recorded ----------------------------------------------------------


def end_note(p: PatientData) -> str:
    (message,) = [n.message for n in p.notes if n.code == "exposure-end-unknown"]
    return message


@pytest.mark.parametrize("status", ["stopped", "completed"])
def test_a_finished_request_without_an_end_ends_within_a_year_of_its_start(status):
    """A prescription of 2015, stopped or completed, with no end recorded: over, when is not known. Not
    taken as ongoing (every later result would be "drawn on it" for ever): ended 365 days after its start,
    the assumption named in the note."""
    p = fhir(request(status=status, authoredOn="2015-03-01T02:28:07+00:00"))
    assert values(p, NODE, "exposureEnd") == ["2016-02-29T02:28:07+00:00"]  # 2016 is a leap year
    message = end_note(p)
    assert message.startswith(f"MedicationRequest/rx is {status} but gives no end (")
    assert "taken as ended by 2016-02-29T02:28:07+00:00, 365 days after its start (a project assumption" in message
    assert "later ones do not" in message


@pytest.mark.parametrize("status", ["active", "on-hold"])
def test_a_request_in_force_without_an_end_is_ongoing(status):
    p = fhir(request(status=status, authoredOn="2015-03-01"))
    assert values(p, NODE, "exposureEnd") == []
    assert end_note(p).startswith(f"MedicationRequest/rx is {status} and gives no end (")
    assert "taken as ongoing from its start" in end_note(p)


@pytest.mark.parametrize("updated, end, by", [
    ("2015-04-10T09:00:00Z", "2015-04-10T09:00:00Z", "its meta.lastUpdated, when the record already said stopped"),
    ("2025-12-20T00:00:00Z", "2016-02-29T00:00:00", "365 days after its start"),  # a later stamp: the export
    ("2014-01-01T00:00:00Z", "2016-02-29T00:00:00", "365 days after its start"),  # before the start: a fault
    ("2015-04-10", "2016-02-29T00:00:00", "365 days after its start"),  # no instant
    (20150410, "2016-02-29T00:00:00", "365 days after its start"),
])
def test_a_finished_request_ends_by_its_last_update_within_the_year(updated, end, by):
    p = fhir(request(status="stopped", authoredOn="2015-03-01", meta={"lastUpdated": updated}))
    assert values(p, NODE, "exposureEnd") == [end]
    assert f"taken as ended by {end}, {by}" in end_note(p)


def test_a_finished_request_keeps_a_later_end_an_instruction_gives():
    p = fhir(request(status="completed", authoredOn="2015-03-01", dosageInstruction=[
        {"timing": {"repeat": {"boundsPeriod": {"end": "2016-06-30"}}}}, {"timing": {"repeat": {"frequency": 1}}}]))
    assert values(p, NODE, "exposureEnd") == ["2016-07-01T00:00:00"]
    assert "the latest end its dosage instructions give" in end_note(p)


def test_a_dispense_without_days_supply_ends_within_a_year_not_by_its_last_update():
    node = "urn:guidelinekg:MedicationDispense/d"
    p = fhir(dispense(whenHandedOver="2015-03-01", meta={"lastUpdated": "2015-03-02T00:00:00Z"}))
    assert values(p, node, "exposureEnd") == ["2016-02-29T00:00:00"]  # the stamp dates the hand-over only
    assert "is completed but gives no end (no usable daysSupply)" in end_note(p)


@pytest.mark.parametrize("kind", ["MedicationStatement", "MedicationAdministration"])
def test_a_finished_statement_or_administration_without_an_end(kind):
    node = f"urn:guidelinekg:{kind}/s"
    res = {"resourceType": kind, "id": "s", "status": "completed", "subject": {"reference": "Patient/p1"},
           "medicationCodeableConcept": {"text": "Drug X"}, "effectivePeriod": {"start": "2015-03-01"}}
    p = fhir(res)
    assert values(p, node, "exposureEnd") == ["2016-02-29T00:00:00"]
    assert end_note(p).startswith(f"{kind}/s is completed but gives no end (no effectivePeriod.end)")
    p = fhir({**res, "status": "stopped", "meta": {"lastUpdated": "2015-05-01T00:00:00Z"}})
    assert values(p, node, "exposureEnd") == ["2015-05-01T00:00:00Z"]
    # in progress, or an end recorded: as recorded, no note
    in_progress = "active" if kind == "MedicationStatement" else "in-progress"
    p = fhir({**res, "status": in_progress})
    assert values(p, node, "exposureEnd") == []
    assert "exposure-end-unknown" not in notes(p)
    p = fhir({**res, "effectivePeriod": {"start": "2015-03-01", "end": "2015-03-31"}})
    assert values(p, node, "exposureEnd") == ["2015-04-01T00:00:00"]
    assert "exposure-end-unknown" not in notes(p)


def test_an_imprecise_statement_end_is_said_as_taken():
    res = {"resourceType": "MedicationStatement", "id": "s", "status": "completed", "subject": {"reference": "Patient/p1"},
           "medicationCodeableConcept": {"text": "Drug X"}, "effectivePeriod": {"start": "2026-01-01", "end": "2026-01"}}
    (message,) = [n.message for n in fhir(res).notes if n.code == "imprecise-time"]
    assert message == ("MedicationStatement/s effectivePeriod.end '2026-01' has no day; taken as "
                       "2026-02-01T00:00:00 (the end of that period)")


# --- end to end: the shipped guideline, a lab drawn years after a finished prescription ---------------------

CASE = Path(__file__).parent / "cases" / "141-oral-iron-request-ended-before-draw" / "patient.json"


def report_with_request(kb, **changes) -> dict:
    """Vignette 141 (iron studies drawn 2026-01-20) with its prescription changed: the report as of 2026-02-01."""
    from guidelinekg.engine.patientcheck import validate_patients
    from guidelinekg.engine.reasoning import evaluate
    from guidelinekg.engine.shapes_sparql import load_patient_shapes
    from guidelinekg.patients.loader import load_patient_input
    from guidelinekg.report.patient import build_report

    doc = json.loads(CASE.read_text(encoding="utf-8"))
    (rx,) = [e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "MedicationRequest"]
    rx.pop("dosageInstruction")
    rx.update(changes)
    patient = load_patient_input("patient.json", matcher=kb.matcher, measures=kb.measures, reads=kb.reads,
                                 raw=json.dumps(doc).encode())
    patient = validate_patients([patient], kb, load_patient_shapes())[0]
    evaluation = evaluate(kb, [patient], as_of=date(2026, 2, 1))
    return build_report(evaluation, patient.patient_iri, kb.version())


@pytest.mark.parametrize("status, authored, drawn_on", [
    ("stopped", "2015-03-01T02:28:07+00:00", False),  # finished years ago: the results are used
    ("completed", "2015-03-01T02:28:07+00:00", False),
    ("completed", "2025-12-01", True),  # finished, end unknown, started within the year: may still be taken
    ("active", "2015-03-01T02:28:07+00:00", True),  # in force: ongoing
])
def test_a_finished_prescription_does_not_make_later_results_drawn_on_it(kb, status, authored, drawn_on):
    report = report_with_request(kb, status=status, authoredOn=authored)
    codes = {w["code"] for w in report["warnings"]}
    assert "exposure-end-unknown" in codes
    assert ("lab-drawn-on-iron" in codes) is drawn_on
    assert bool(report["orders"]) is drawn_on  # the iron studies ordered again only when drawn on it


def test_a_stopped_prescription_ends_with_its_validity_period(kb):
    report = report_with_request(kb, status="stopped", authoredOn="2025-01-01",
                                 dispenseRequest={"validityPeriod": {"start": "2025-01-01", "end": "2025-06-01"}})
    codes = {w["code"] for w in report["warnings"]}
    assert "lab-drawn-on-iron" not in codes  # ended by its planned end at the latest: an assumed end, said so
    assert "exposure-end-unknown" in codes


def test_a_product_given_only_by_an_unlisted_code_is_reported_not_missing(kb):
    """The shipped guideline lists no code of this (made-up) system: the prescription is exposure to none of
    its substances, and the report says so once, naming the code, instead of "names no product"."""
    report = report_with_request(kb, medicationCodeableConcept={"coding": [{"system": "http://example.org/drugs",
                                                                            "code": "X-1"}]})
    (note,) = [w["message"] for w in report["warnings"] if w["code"] == "unrecognised-product"]
    assert note.startswith("1 medication record names a product not recognised as any substance the guideline reads")
    assert note.endswith("product given only by code http://example.org/drugs|X-1, which the guideline's substances "
                         "do not list (MedicationRequest/rx-1, from 2025-12-01)")
    assert not {"missing-product", "lab-drawn-on-iron"} & {w["code"] for w in report["warnings"]}
