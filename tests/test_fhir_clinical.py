"""Patient death and Condition status and time: mapped as facts (patients/fhirclinical.py), judged by the
rules against the as-of date (queries/rules/15-deceased.rq, 39-condition-present.rq, 44, 45, 60, 87).

The vignettes 080-094 cover the clinical outcomes end to end; here: what the mapper states and refuses,
and each standing of rule 39 (gkg:presentAsOf) on one patient, so every combination is pinned, on both
engines.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from guidelinekg.engine.reasoning import evaluate
from guidelinekg.errors import InputError, Location
from guidelinekg.patients.decode import parse_json
from guidelinekg.patients.fhir import patients_from_json
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.patients.model import GKG, PatientData
from guidelinekg.patients.relevance import ReadCodes

RLS = {"coding": [{"system": "http://snomed.info/sct", "code": "32914008", "display": "Restless legs syndrome"}]}
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
AS_OF = date(2026, 1, 15)


def fhir(*resources: dict, reads: ReadCodes | None = None) -> PatientData:
    doc = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    (patient,) = patients_from_json(parse_json(json.dumps(doc), Location("<test>")), reads=reads)
    return patient


def patient(**fields) -> dict:
    return {"resourceType": "Patient", "id": "p1", "birthDate": "1970-05-20", **fields}


def condition(cid: str = "c1", clinical: str | None = None, verification: str | None = None, **fields) -> dict:
    res = {"resourceType": "Condition", "id": cid, "subject": {"reference": "Patient/p1"}, "code": RLS, **fields}
    if clinical:
        res["clinicalStatus"] = {"coding": [{"system": CLINICAL, "code": clinical}]}
    if verification:
        res["verificationStatus"] = {"coding": [{"system": VERIFICATION, "code": verification}]}
    return res


def values(p: PatientData, subject: str, prop: str) -> list[tuple[str, str | None]]:
    """(lexical form, datatype IRI) of ``subject gkg:prop``, sorted."""
    return sorted(
        (t.object.value, getattr(getattr(t.object, "datatype", None), "value", None))
        for t in p.triples()
        if t.subject.value == subject and t.predicate.value == GKG + prop
    )


def notes(p: PatientData, code: str) -> list[str]:
    return [n.message for n in p.notes if n.code == code]


XSD = "http://www.w3.org/2001/XMLSchema#"
P = "urn:guidelinekg:Patient/p1"
C = "urn:guidelinekg:Condition/c1"


# --- the mapping ----------------------------------------------------------------------------------------


def test_deceased_flag_and_time_are_mapped_as_typed_facts() -> None:
    assert values(fhir(patient(deceasedBoolean=True)), P, "deceased") == [("true", XSD + "boolean")]
    assert values(fhir(patient(deceasedBoolean=False)), P, "deceased") == [("false", XSD + "boolean")]
    died = fhir(patient(deceasedDateTime="2026-01-10T14:30:00-05:00"))
    assert values(died, P, "deceasedTime") == [("2026-01-10T14:30:00-05:00", XSD + "dateTime")]
    assert values(fhir(patient()), P, "deceased") == values(fhir(patient()), P, "deceasedTime") == []


def test_a_bad_time_of_death_is_noted_and_not_used() -> None:
    p = fhir(patient(deceasedDateTime="yesterday"))
    assert values(p, P, "deceasedTime") == []
    assert notes(p, "invalid-time") == ["Patient/p1 deceasedDateTime 'yesterday' is not a FHIR dateTime; not used"]


@pytest.mark.parametrize("fields, fragment", [
    ({"deceasedBoolean": "true"}, "deceasedBoolean: must be a JSON boolean, not a string"),
    ({"deceasedBoolean": 1}, "deceasedBoolean: must be a JSON boolean, not a number"),
    ({"deceasedDateTime": 20260110}, "deceasedDateTime: must be a JSON string"),
])
def test_a_deceased_element_of_the_wrong_json_type_is_refused(fields, fragment) -> None:
    with pytest.raises(InputError, match=fragment):
        fhir(patient(**fields))


def test_condition_statuses_onset_and_abatement_are_mapped() -> None:
    p = fhir(patient(), condition(clinical="resolved", verification="confirmed", onsetDateTime="2024-02",
                                  abatementPeriod={"start": "2025-01-01", "end": "2025-03-01T10:00:00Z"}))
    assert values(p, C, "clinicalStatus") == [("resolved", XSD + "string")]
    assert values(p, C, "conditionVerificationStatus") == [("confirmed", XSD + "string")]
    assert values(p, C, "onsetTime") == [("2024-02-01T00:00:00", XSD + "dateTime")]
    assert values(p, C, "abatementTime") == [("2025-03-01T10:00:00Z", XSD + "dateTime")]
    assert values(p, C, "onsetSpanEnd") == [("2024-02-29T23:59:59", XSD + "dateTime")]  # a span: tests/test_partial_dates.py
    assert notes(p, "imprecise-time") == ["Condition/c1 onsetDateTime '2024-02' has no day: some time from 2024-02-01 to "
                                          "2024-02-29; the condition counts as begun only when the whole span is on or "
                                          "before the as-of date (unknown while the span reaches past it)"]
    period = fhir(patient(), condition(onsetPeriod={"start": "2023-05-04", "end": "2023-06-01"}))
    assert values(period, C, "onsetTime") == [("2023-05-04T00:00:00", XSD + "dateTime")]
    # begun some time in the period: its end is the latest it can have begun (a month: its last instant)
    assert values(period, C, "onsetSpanEnd") == [("2023-06-01T00:00:00", XSD + "dateTime")]
    months = fhir(patient(), condition(onsetPeriod={"start": "2023-05", "end": "2023-07"}))
    assert values(months, C, "onsetSpanEnd") == [("2023-07-31T23:59:59", XSD + "dateTime")]
    end_only = fhir(patient(), condition(onsetPeriod={"end": "2023-07-02"}))
    assert values(end_only, C, "onsetTime") == [] and values(end_only, C, "onsetSpanEnd") == [
        ("2023-07-02T00:00:00", XSD + "dateTime")]
    backwards = fhir(patient(), condition(onsetPeriod={"start": "2023-07-02", "end": "2023-05-01"}))
    assert values(backwards, C, "onsetSpanEnd") == []
    assert notes(backwards, "invalid-time") == [
        "Condition/c1 onsetPeriod ends 2023-05-01, before it starts 2023-07-02; its end is not used"]
    # instants compared, not text: 20:00 at -05:00 is after 23:00 UTC the same day
    offsets = fhir(patient(), condition(onsetPeriod={"start": "2023-07-02T23:00:00+00:00",
                                                     "end": "2023-07-02T20:00:00-05:00"}))
    assert notes(offsets, "invalid-time") == [] and values(offsets, C, "onsetSpanEnd") == [
        ("2023-07-02T20:00:00-05:00", XSD + "dateTime")]


def test_refuted_and_entered_in_error_conditions_are_facts_not_skipped() -> None:
    p = fhir(patient(), condition("c1", verification="refuted"), condition("c2", verification="entered-in-error"))
    assert values(p, C, "conditionVerificationStatus") == [("refuted", XSD + "string")]
    assert values(p, "urn:guidelinekg:Condition/c2", "conditionVerificationStatus") == [
        ("entered-in-error", XSD + "string")]
    assert notes(p, "skipped-status") == []


@pytest.mark.parametrize("element, value", [
    ("onsetAge", {"value": 40, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"}),
    ("onsetString", "in her forties"),
    ("abatementRange", {"low": {"value": 50}}),
])
def test_onset_and_abatement_without_a_date_are_noted_and_not_read(element, value) -> None:
    p = fhir(patient(), condition(**{element: value}))
    assert values(p, C, "onsetTime") == values(p, C, "abatementTime") == []
    (message,) = notes(p, "unsupported-time")
    assert message.startswith(f"Condition/c1 has {element}, which gives no date")
    # an abatement without a date still says the condition is over, at a time not recorded (rule 39: unknown)
    undated = values(p, C, "abatementUndated")
    assert undated == ([("true", XSD + "boolean")] if element.startswith("abatement") else [])
    assert ("over at a time not recorded" in message) is element.startswith("abatement")


def test_an_onset_period_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InputError, match="onsetPeriod: must be a JSON object"):
        fhir(patient(), condition(onsetPeriod="2024-01-01"))


# --- the rules: each standing of a condition record, and the diagnosis it gives -------------------------

STANDINGS = [  # (condition fields, gkg:presentAsOf, truth of the RLS criterion)
    ({}, "True", "true"),  # no status at all: counts, as before
    ({"clinical": "active"}, "True", "true"),
    ({"clinical": "relapse", "verification": "confirmed"}, "True", "true"),
    ({"clinical": "inactive"}, "False", "false"),
    ({"clinical": "remission"}, "False", "false"),
    ({"verification": "refuted"}, "False", "false"),
    ({"verification": "entered-in-error"}, "False", "false"),
    ({"verification": "unconfirmed"}, "Unknown", "unknown"),
    ({"verification": "provisional"}, "Unknown", "unknown"),
    ({"verification": "differential"}, "Unknown", "unknown"),
    ({"verification": "differential", "clinical": "resolved"}, "False", "false"),
    ({"onsetDateTime": "2026-01-16"}, "False", "false"),  # the day after the as-of date
    ({"onsetDateTime": "2026-01-15T23:59:00-08:00"}, "True", "true"),  # the as-of date, as recorded
    ({"abatementDateTime": "2026-01-15"}, "False", "false"),  # over on the as-of date
    ({"abatementDateTime": "2026-01-16"}, "True", "true"),
    ({"verification": "unconfirmed", "onsetDateTime": "2027-01-01"}, "False", "false"),
]


def _outcome(evaluation, query: str) -> list[str]:
    return sorted(row["x"].value.rsplit("#", 1)[-1] for row in evaluation.store.select(query))


# every standing on the default engine, every fourth on rdflib too (an rdflib evaluation takes seconds; the
# engines run the same rule files, and the made-up guidelines' tables run every case on both)
RUNS = [(*s, "oxigraph") for s in STANDINGS] + [(*s, "rdflib") for s in STANDINGS[::4]]


@pytest.mark.parametrize("fields, standing, truth, engine", RUNS, ids=[f"{r[0]}-{r[3]}" for r in RUNS])
def test_each_standing_of_a_condition_record(kb, engine, fields, standing, truth) -> None:
    evaluation = evaluate(kb, [fhir(patient(), condition(**fields))], as_of=AS_OF, engine=engine)
    assert _outcome(evaluation, f"SELECT ?x WHERE {{ <{C}> <{GKG}presentAsOf> ?x }}") == [standing]
    crit = "https://w3id.org/guidelinekg/guideline/rls-iron/crit-rls"
    got = _outcome(evaluation, f"SELECT ?x WHERE {{ ?o <{GKG}criterion> <{crit}> ; <{GKG}truth> ?t . "
                               f"?t <http://www.w3.org/2004/02/skos/core#notation> ?x }}")
    assert got == [truth]
    # the outcome rests on the record that decided it (rule 45), whatever its standing
    derived = f"SELECT ?x WHERE {{ ?o <{GKG}criterion> <{crit}> ; <http://www.w3.org/ns/prov#wasDerivedFrom> ?x }}"
    assert _outcome(evaluation, derived) == ["urn:guidelinekg:Condition/c1"]


def test_the_best_record_decides_and_alone_is_cited(kb) -> None:
    records = [condition("c1", clinical="resolved"), condition("c2", verification="provisional"),
               condition("c3", clinical="recurrence")]
    evaluation = evaluate(kb, [fhir(patient(), *records)], as_of=AS_OF)
    crit = "https://w3id.org/guidelinekg/guideline/rls-iron/crit-rls"
    derived = f"SELECT ?x WHERE {{ ?o <{GKG}criterion> <{crit}> ; <http://www.w3.org/ns/prov#wasDerivedFrom> ?x }}"
    assert _outcome(evaluation, derived) == ["urn:guidelinekg:Condition/c3"]
    without = evaluate(kb, [fhir(patient(), *records[:2])], as_of=AS_OF)
    assert _outcome(without, derived) == ["urn:guidelinekg:Condition/c2"]


@pytest.mark.parametrize("fields, deceased", [
    ({"deceasedBoolean": True}, True),
    ({"deceasedBoolean": False}, False),
    ({"deceasedDateTime": "2026-01-15T23:00:00+14:00"}, True),  # the as-of date, as recorded
    ({"deceasedDateTime": "2026-01-16T00:30:00-10:00"}, False),  # the day after, as recorded
    ({"deceasedDateTime": "2027"}, False),
])
def test_deceased_on_or_before_the_as_of_date(kb, fields, deceased) -> None:
    evaluation = evaluate(kb, [fhir(patient(**fields), condition(clinical="active"))], as_of=AS_OF)
    why = _outcome(evaluation, f"SELECT ?x WHERE {{ <{P}> <{GKG}notEvaluatedBecause> ?x }}")
    assert bool(why) == deceased
    applies = _outcome(evaluation, f"SELECT ?x WHERE {{ ?a a <{GKG}Applicability> ; <{GKG}truth> ?x }}")
    assert applies == ["False" if deceased else "True"]


# --- a Condition no guideline can match is named, not passed over (uncoded-condition) -----------------------

EPIC = "urn:oid:1.2.840.114350.1.13.0.1.7.2.696871"  # an Epic local code system, as real exports carry it


@pytest.mark.parametrize("code, fragment", [
    ({"text": "Restless legs syndrome"}, ("Condition/c1 'Restless legs syndrome' has no code (no coding with a "
                                          "system and a code) and is not read: it is never matched as a diagnosis")),
    ({"coding": [{"display": "Restless legs syndrome"}, {"code": "G25.81"}]}, "'Restless legs syndrome' has no code"),
    ({"text": "Restless legs syndrome", "coding": [{"system": EPIC, "code": "1234", "display": "RLS"}]},
     (f"Condition/c1 'Restless legs syndrome' is coded only in {EPIC}, not in a system diagnoses are matched in "
      "(SNOMED CT, ICD-10-CM, ICD-10, ICD-9-CM): it is never matched as a diagnosis; code it in one of them")),
    ({"coding": [{"system": "http://example.org/local", "code": "7", "display": "RLS"}]}, "'RLS' is coded only in"),
    ({"coding": [{"system": EPIC, "code": "1234"}]}, "Condition/c1 (no text either) is coded only in"),
])  # fmt: skip
def test_a_condition_without_a_standard_code_is_named_in_a_note(code, fragment) -> None:
    (message,) = notes(fhir(patient(), condition(code=code)), "uncoded-condition")
    assert fragment in message


def test_a_condition_coded_in_a_system_the_guidelines_read_gives_no_note(kb) -> None:
    assert kb.reads.diagnosis_systems == {"http://snomed.info/sct", "http://hl7.org/fhir/sid/icd-10-cm"}
    icd9 = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-9-cm", "code": "333.94", "display": "RLS"}],
            "text": "Restless legs syndrome"}
    for reads in (None, kb.reads):
        assert notes(fhir(patient(), condition(), reads=reads), "uncoded-condition") == []
        icd10cm = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "G25.81"}]}
        assert notes(fhir(patient(), condition(code=icd10cm), reads=reads), "uncoded-condition") == []
    assert notes(fhir(patient(), condition(code=icd9)), "uncoded-condition") == []  # a standard system
    (message,) = notes(fhir(patient(), condition(code=icd9), reads=kb.reads), "uncoded-condition")
    assert "is coded only in ICD-9-CM, not in a system diagnoses are matched in (SNOMED CT, ICD-10-CM)" in message
    # no loaded guideline reads a diagnosis: a coded Condition cannot be missed, only one without a code is noted
    none = ReadCodes(loinc=frozenset(), diagnosis_systems=frozenset())
    assert notes(fhir(patient(), condition(code=icd9), reads=none), "uncoded-condition") == []
    assert notes(fhir(patient(), condition(code={"text": "RLS"}), reads=none), "uncoded-condition") != []


def test_the_local_code_note_reaches_the_report_that_says_no_diagnosis_is_recorded(tmp_path, capsys) -> None:
    from guidelinekg.cli import main

    local = {"text": "Restless legs syndrome", "coding": [{"system": EPIC, "code": "1234"}]}
    doc = {"resourceType": "Bundle", "type": "collection",
           "entry": [{"resource": r} for r in (patient(), condition(code=local, clinical="active"))]}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    capsys.readouterr()
    assert main(["recommend", str(path), "--as-of", "2026-01-15", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["applicable"] is False
    [warning] = [w for w in out["warnings"] if w["code"] == "uncoded-condition"]
    assert "Condition/c1 'Restless legs syndrome' is coded only in " + EPIC in warning["message"]


# --- Patient.link and active: an obsolete record is said so; two records of one person are refused ----------


def test_a_patient_replaced_by_another_is_evaluated_with_a_warning() -> None:
    link = {"other": {"reference": "Patient/p2"}, "type": "replaced-by"}
    p = fhir(patient(link=[link], active=False), condition())
    (message,) = notes(p, "patient-replaced")
    assert message == ("Patient/p1 was replaced by Patient/p2 (Patient.link replaced-by) and is marked not in "
                       "active use (active: false): this record is no longer in use and its data may be "
                       "incomplete (what is recorded under Patient/p2 is not here); evaluate Patient/p2")
    assert values(p, C, "codeToken")  # still mapped: the clinician is told, the record is not hidden
    (inactive,) = notes(fhir(patient(active=False)), "patient-inactive")
    assert inactive.startswith("Patient/p1 is marked not in active use (active: false)")
    for quiet in (patient(), patient(active=True), patient(link=[{**link, "type": "seealso"}]),
                  patient(link=[{**link, "type": "replaces"}])):
        assert not notes(fhir(quiet), "patient-replaced") and not notes(fhir(quiet), "patient-inactive")


@pytest.mark.parametrize("side", ["replaced-by", "replaces", "both"])
def test_two_patients_linked_as_one_person_are_refused_naming_the_one_to_evaluate(tmp_path, side) -> None:
    old = patient(active=False)
    new = {"resourceType": "Patient", "id": "p2", "birthDate": "1970-05-20"}
    if side in ("replaced-by", "both"):
        old["link"] = [{"other": {"reference": "Patient/p2"}, "type": "replaced-by"}]
    if side in ("replaces", "both"):
        new["link"] = [{"other": {"reference": "Patient/p1"}, "type": "replaces"}]
    doc = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in (old, new, condition())]}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    with pytest.raises(InputError) as refused:
        load_patient_input(path)
    message = str(refused.value)
    assert "the input holds 2 Patients, and Patient/p1 was replaced by Patient/p2 (Patient.link " in message
    assert "evaluate Patient/p2, the record in use," in message and "found 2" not in message
    assert message.count("was replaced by") == 1
    assert '"type"' in path.read_text().splitlines()[refused.value.location.line - 1]


def test_two_unlinked_patients_are_refused_as_before(tmp_path) -> None:
    other = {"resourceType": "Patient", "id": "p2", "link": [{"other": {"reference": "Patient/p1"}, "type": "seealso"}]}
    doc = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in (patient(), other)]}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InputError, match="exactly one patient, found 2"):
        load_patient_input(path)


def test_a_patient_link_of_the_wrong_json_type_is_refused() -> None:
    with pytest.raises(InputError, match=r"link\[0\]\.type: must be a JSON string"):
        fhir(patient(link=[{"other": {"reference": "Patient/p2"}, "type": 3}]))
    with pytest.raises(InputError, match="active: must be a JSON boolean"):
        fhir(patient(active="false"))
