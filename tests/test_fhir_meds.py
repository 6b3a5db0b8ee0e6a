"""MedicationRequest and MedicationDispense read as exposure (patients/fhirmeds.py): which count, and the
period each gives. The vignettes 140-146 cover the clinical outcomes end to end (labs drawn on iron, a
course within 3 months); here: every branch of the period, the skips, and refusals of ill-typed input.
"""

from __future__ import annotations

import json
from decimal import Decimal

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
    ({"doNotPerform": True}, "is doNotPerform"),
])
def test_requests_that_are_no_exposure_are_skipped_with_a_note(fields, why):
    p = fhir(request(authoredOn="2026-01-01", **fields))
    assert values(p, NODE, "exposureStart") == []
    (message,) = [n.message for n in p.notes if n.code == "skipped-status"]
    assert message.startswith(f"MedicationRequest/rx {why}") and message.endswith("; skipped")


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
    p = fhir(dispense(whenPrepared="2026-01-01"))
    assert values(p, node, "exposureStart") == ["2026-01-01T00:00:00"]
    assert values(p, node, "exposureEnd") == []
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
    p = fhir({**res, "effectivePeriod": None, "effectiveDateTime": "2026-01-14T10:00:00Z"})
    assert values(p, node, "exposureEnd") == ["2026-01-14T10:00:00Z"]
