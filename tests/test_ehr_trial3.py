"""What a third trial on real-shaped EHR FHIR showed (inputs in tests/fixtures/ehr-trial3/, README there):

1. a medication record whose period ends before it starts (FHIR per-1: a MedicationStatement's or a
   MedicationAdministration's ``effectivePeriod``, a MedicationRequest's ``boundsPeriod``) was dropped in
   silence, so iron studies drawn on the iron were trusted. It now says ``invalid-time`` and its time is
   unknown, as a record without a start: a result that may have been drawn on it is not used (rule 18);
2. an Observation (or a component) with both a value and a ``dataAbsentReason`` (obs-6), or with two
   ``value[x]``, had its value used: now ``invalid-value``, the value unused and the test ordered;
3. a MedicationRequest of status ``unknown`` was skipped, while a statement or an administration of that
   status counts: it may be active, so it counts (without a stated end: the assumed end of a finished one, a
   year after its start, since it may be over too: test_ehr_trial3_followup.py);
4. an Observation ``effectivePeriod`` that ends before it starts dated the result by its start: now
   ``invalid-time`` and undated (``undated-result``: its test is ordered).
Engine-level outcomes run on both SPARQL engines.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guidelinekg.cli import main
from guidelinekg.errors import Location
from guidelinekg.patients.decode import parse_json
from guidelinekg.patients.fhir import patients_from_json
from guidelinekg.patients.model import GKG, PatientData

FIXTURES = Path(__file__).parent / "fixtures" / "ehr-trial3"
AS_OF = "2026-12-08"
ENGINES = ["oxigraph", "rdflib"]
FERRITIN, TSAT = "2276-4", "2502-3"


def load(name: str, kb=None, change=None) -> PatientData:
    """A fixture mapped (with the shipped guideline's substances and reads when ``kb`` is given), after
    ``change(resource)`` on each of its resources."""
    doc = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    for entry in doc["entry"]:
        if change is not None:
            change(entry["resource"])
    found = {"matcher": kb.matcher, "reads": kb.reads} if kb is not None else {}
    (patient,) = patients_from_json(parse_json(json.dumps(doc), Location("<test>")), **found)
    return patient


def values(p: PatientData, subject: str, prop: str) -> list[str]:
    return sorted(t.object.value for t in p.triples() if t.subject.value == subject and t.predicate.value == GKG + prop)


def notes(p: PatientData, code: str) -> list:
    return [n for n in p.notes if n.code == code]


def recommend(capsys, path: Path, engine: str) -> dict:
    capsys.readouterr()
    assert main(["recommend", str(path), "--as-of", AS_OF, "--format", "json", "--engine", engine]) == 0
    return json.loads(capsys.readouterr().out)


def codes(report: dict) -> list[str]:
    return sorted(w["code"] for w in report["warnings"])


def ordered(report: dict) -> list[str]:
    return sorted(o["loinc"] for o in report["orders"])


# --- 1. a medication period that ends before it starts -------------------------------------------------------

INVERTED = [
    ("H1-ms-period-inverted", "urn:guidelinekg:MedicationStatement/ms1",
     "MedicationStatement/ms1 effectivePeriod ends 2026-10-01, before it starts 2026-11-25; not used as "
     "exposure: it may be a product a guideline reads"),
    ("H3-mr-bounds-inverted", "urn:guidelinekg:MedicationRequest/mr1",
     "MedicationRequest/mr1 dosageInstruction.timing.repeat.boundsPeriod ends 2026-10-01, before it starts "
     "2026-11-25; not used as exposure: it may be a product a guideline reads"),
    ("H4-ma-period-inverted", "urn:guidelinekg:MedicationAdministration/ma1",
     "MedicationAdministration/ma1 effectivePeriod ends 2026-11-01T20:00:00-05:00, before it starts "
     "2026-11-30T20:00:00-05:00; not used as exposure: it may be a product a guideline reads"),
]


@pytest.mark.parametrize("name, node, message", INVERTED, ids=[c[0] for c in INVERTED])
def test_an_inverted_medication_period_is_an_exposure_at_an_unknown_time(kb, name, node, message):
    p = load(name, kb)
    assert values(p, node, "exposureStart") == values(p, node, "exposureEnd") == []
    assert values(p, node, "exposureSubstance")  # ferrous sulfate, recognised: the record is kept, undated
    (note,) = notes(p, "invalid-time")
    assert note.message.startswith(message) and note.record == message.split(" ", 1)[0]
    assert note.lacks == ("MedicationExposure",)  # the input may lack an exposure: rule 18
    assert not notes(p, "missing-time")


def test_an_inverted_period_of_a_product_no_guideline_reads_is_said_and_leaves_nothing_open(kb):
    def other(res: dict) -> None:
        if res["resourceType"] == "MedicationStatement":
            res["medicationCodeableConcept"] = {"text": "Lisinopril 10 mg tablet"}
    (note,) = notes(load("H1-ms-period-inverted", kb, other), "invalid-time")
    assert note.message.endswith("before it starts 2026-11-25; not used as exposure") and note.lacks == ()


@pytest.mark.parametrize("start, end, read", [
    ("2026-11-25T10:00:00-05:00", "2026-11-25", "2026-11-25T10:00:00-05:00"),  # a date-only end: its whole day
    ("2026-11-25", "2026-11-25", "2026-11-25T00:00:00"),
    # an evening start, local time, ending that day: no false alarm from the zone (22:00-05:00 is 03:00 UTC the
    # next day, after the instant the date's end would be without a zone)
    ("2026-11-25T22:00:00-05:00", "2026-11-25", "2026-11-25T22:00:00-05:00"),
    ("2026-11-25", "2026-11-25T00:30:00+14:00", "2026-11-25T00:00:00"),
    # a start date, its zone not written: at UTC+14:00, 2026-11-25 begins before this end (05:00 UTC on it)
    ("2026-11-25", "2026-11-24T23:59:00-05:00", "2026-11-25T00:00:00"),
])
def test_a_period_ending_on_its_start_day_is_no_inverted_period(start, end, read):
    def same_day(res: dict) -> None:
        if res["resourceType"] == "MedicationStatement":
            res["effectivePeriod"] = {"start": start, "end": end}
    p = load("H1-ms-period-inverted", change=same_day)
    assert values(p, "urn:guidelinekg:MedicationStatement/ms1", "exposureStart") == [read]
    assert not notes(p, "invalid-time")


@pytest.mark.parametrize("start, end", [
    ("2026-11-25T22:00:00-05:00", "2026-11-24"),  # a date: the day before the start's, even at UTC-12:00
    ("2026-11-25", "2026-11-24T04:59:00-05:00"),  # 2026-11-24T23:59 at UTC+14:00: before the start in every zone
    ("2026-11-01", "2026-10"),  # a month ends with its last day
])
def test_a_period_ending_the_day_before_it_starts_is_inverted(start, end):
    def before(res: dict) -> None:
        if res["resourceType"] == "MedicationStatement":
            res["effectivePeriod"] = {"start": start, "end": end}
    p = load("H1-ms-period-inverted", change=before)
    assert values(p, "urn:guidelinekg:MedicationStatement/ms1", "exposureStart") == []
    assert [n.code for n in p.notes if n.code in ("invalid-time", "missing-time")] == ["invalid-time"]


def test_one_inverted_instruction_leaves_the_whole_request_undated(kb):
    """Which of its instructions is right cannot be told: the request's time is unknown, not the other's."""
    def two(res: dict) -> None:
        if res["resourceType"] == "MedicationRequest":
            res["dosageInstruction"].insert(0, {"timing": {"repeat": {"boundsPeriod": {"start": "2026-11-01",
                                                                                       "end": "2026-11-10"}}}})
    p = load("H3-mr-bounds-inverted", kb, two)
    assert values(p, "urn:guidelinekg:MedicationRequest/mr1", "exposureStart") == []
    assert [n.lacks for n in notes(p, "invalid-time")] == [("MedicationExposure",)]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", [c[0] for c in INVERTED])
def test_results_that_may_be_drawn_on_an_inverted_record_are_not_used(capsys, name, engine):
    report = recommend(capsys, FIXTURES / f"{name}.json", engine)
    drawn = [w["message"] for w in report["warnings"] if w["code"] == "lab-drawn-on-iron"]
    assert len(drawn) == 2 and all("may lack some of the patient's medication records (invalid-time)" in m
                                   for m in drawn)
    assert ordered(report) == [FERRITIN, TSAT]  # the iron studies again
    assert report["recommendations"] == []  # none made on results that may be drawn on iron


# --- 2. a value beside a dataAbsentReason, or two values ----------------------------------------------------

VALUE_CASES = [
    ("A10-fer-value-and-dar", "urn:guidelinekg:Observation/fer1",
     "Observation/fer1 has both valueQuantity and dataAbsentReason"),
    ("P4b-panel-comp-value-and-dar", f"urn:guidelinekg:Observation/panel1/component/0-{FERRITIN}",
     "Observation/panel1 component[0] has both valueQuantity and dataAbsentReason"),
    ("F2-two-value-x", "urn:guidelinekg:Observation/fer1", "Observation/fer1 has both valueQuantity and valueString"),
]


@pytest.mark.parametrize("name, node, message", VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_a_value_that_contradicts_itself_is_not_used(name, node, message):
    p = load(name)
    assert values(p, node, "value") == []
    assert values(p, node, "observedMeasure") == [f"https://loinc.org/{FERRITIN}"]  # still a (valueless) result
    (note,) = notes(p, "invalid-value")
    assert note.message == message + (" (FHIR: one value[x], or the reason it is absent, never both); which holds "
                                      "cannot be told: treated as missing")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", [c[0] for c in VALUE_CASES])
def test_a_ferritin_whose_value_contradicts_itself_is_ordered(capsys, name, engine):
    report = recommend(capsys, FIXTURES / f"{name}.json", engine)
    assert "invalid-value" in codes(report)
    assert ordered(report) == [FERRITIN] and report["recommendations"] == []


def test_a_value_alone_or_a_reason_alone_is_as_before():
    def reason_only(res: dict) -> None:
        if res.get("id") == "fer1":
            del res["valueQuantity"]
    p = load("A10-fer-value-and-dar", change=reason_only)
    assert [n.code for n in p.notes if n.code in ("invalid-value", "missing-value")] == ["missing-value"]

    def value_only(res: dict) -> None:
        res.pop("dataAbsentReason", None)
    p = load("A10-fer-value-and-dar", change=value_only)
    assert values(p, "urn:guidelinekg:Observation/fer1", "value") == ["45"] and not notes(p, "invalid-value")


# --- 3. a MedicationRequest of status unknown ----------------------------------------------------------------


def test_a_request_of_status_unknown_counts(kb):
    p = load("F8-mr-unknown", kb)
    node = "urn:guidelinekg:MedicationRequest/mr1"
    assert values(p, node, "exposureStart") == ["2026-11-20T00:00:00"]
    assert values(p, node, "exposureEnd") == ["2027-11-20T00:00:00"]  # assumed, as a finished one's
    assert values(p, node, "exposureEndAssumed") == ["true"]
    assert not notes(p, "skipped-status")
    (note,) = notes(p, "exposure-end-unknown")
    assert note.message.startswith("MedicationRequest/mr1 has status unknown (in force or over: the record does "
                                   "not say) and gives no end (")


@pytest.mark.parametrize("engine", ENGINES)
def test_results_drawn_during_a_request_of_status_unknown_are_not_used(capsys, engine):
    report = recommend(capsys, FIXTURES / "F8-mr-unknown.json", engine)
    drawn = [w["message"] for w in report["warnings"] if w["code"] == "lab-drawn-on-iron"]
    assert len(drawn) == 2 and all("while taking Ferrous sulfate 325 mg tablet" in m for m in drawn)
    assert ordered(report) == [FERRITIN, TSAT] and "skipped-status" not in codes(report)


# --- 4. an Observation period that ends before it starts ------------------------------------------------------


def test_an_inverted_observation_period_leaves_the_result_undated():
    p = load("B12-period-inverted")
    assert values(p, "urn:guidelinekg:Observation/fer1", "effectiveTime") == []
    (note,) = notes(p, "invalid-time")
    assert note.message == ("Observation/fer1 effectivePeriod ends 2026-12-01T08:20:00-05:00, before it starts "
                            "2026-12-05T08:00:00-05:00: when it was drawn is unknown; not used")


def test_an_inverted_specimen_collection_period_leaves_the_result_undated():
    def by_specimen(res: dict) -> None:
        if res.get("id") == "fer1":
            period = res.pop("effectivePeriod")
            res["contained"] = [{"resourceType": "Specimen", "id": "s1", "collection": {"collectedPeriod": period}}]
            res["specimen"] = {"reference": "#s1"}
    p = load("B12-period-inverted", change=by_specimen)
    assert values(p, "urn:guidelinekg:Observation/fer1", "effectiveTime") == []
    (note,) = notes(p, "invalid-time")
    assert note.message.startswith("Observation/fer1 Specimen collectedPeriod ends 2026-12-01T08:20:00-05:00, ")


def test_an_observation_period_in_order_is_dated_by_its_start():
    def in_order(res: dict) -> None:
        if res.get("id") == "fer1":
            res["effectivePeriod"] = {"start": "2026-12-01T08:00:00-05:00", "end": "2026-12-01T08:20:00-05:00"}
    p = load("B12-period-inverted", change=in_order)
    assert values(p, "urn:guidelinekg:Observation/fer1", "effectiveTime") == ["2026-12-01T08:00:00-05:00"]
    assert not notes(p, "invalid-time")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_ferritin_of_an_inverted_period_is_ordered_again(capsys, engine):
    report = recommend(capsys, FIXTURES / "B12-period-inverted.json", engine)
    assert {"invalid-time", "undated-result"} <= set(codes(report))
    assert ordered(report) == [FERRITIN] and report["recommendations"] == []


# --- a Procedure's performedPeriod: the same check as a medication record's ------------------------------------


@pytest.mark.parametrize("period, invalid", [
    ({"start": "2026-11-25T10:00:00Z", "end": "2026-11-25"}, False),  # a date ends with its day: was flagged
    ({"start": "2026-11-25T22:00:00-05:00", "end": "2026-11-25"}, False),
    ({"start": "2026-11-25", "end": "2026-11-24"}, True),
])
def test_a_procedure_period_is_inverted_only_when_it_ends_before_it_starts(period, invalid):
    procedure = {"resourceType": "Procedure", "id": "pr1", "status": "completed", "subject": {"reference": "Patient/p1"},
                 "code": {"coding": [{"system": "http://snomed.info/sct", "code": "265764009"}]},
                 "performedPeriod": period}
    doc = {"resourceType": "Bundle", "type": "collection",
           "entry": [{"resource": {"resourceType": "Patient", "id": "p1"}}, {"resource": procedure}]}
    (p,) = patients_from_json(parse_json(json.dumps(doc), Location("<test>")))
    assert bool(notes(p, "invalid-time")) is invalid
    assert bool(values(p, "urn:guidelinekg:Procedure/pr1", "performedStart")) is not invalid
    if invalid:
        assert notes(p, "invalid-time")[0].message == (
            "Procedure/pr1 performedPeriod ends 2026-11-24, before it starts 2026-11-25; not read: when it "
            "was performed is unknown")
