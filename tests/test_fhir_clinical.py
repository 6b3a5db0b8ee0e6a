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
from guidelinekg.patients.model import GKG, PatientData

RLS = {"coding": [{"system": "http://snomed.info/sct", "code": "32914008", "display": "Restless legs syndrome"}]}
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
AS_OF = date(2026, 1, 15)


def fhir(*resources: dict) -> PatientData:
    doc = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    (patient,) = patients_from_json(parse_json(json.dumps(doc), Location("<test>")))
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
    assert notes(p, "imprecise-time") == ["Condition/c1 onsetDateTime '2024-02' has no day; taken as 2024-02-01T00:00:00"]
    period = fhir(patient(), condition(onsetPeriod={"start": "2023-05-04", "end": "2023-06-01"}))
    assert values(period, C, "onsetTime") == [("2023-05-04T00:00:00", XSD + "dateTime")]


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
    assert message.startswith(f"Condition/c1 has {element}, which gives no date and is not read")


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
