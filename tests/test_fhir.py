"""FHIR R4 JSON -> patient triples (src/guidelinekg/patients/fhir.py), on the fixtures in tests/fixtures/fhir/."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pyoxigraph as ox
import pytest
import rdflib

from guidelinekg.errors import InputError, Location
from guidelinekg.patients.fhir import fhir_datetime, load_patient, load_patients, patients_from_json
from guidelinekg.patients.medmatch import SubstanceMatcher
from guidelinekg.patients.model import GKG, RDF_TYPE, PatientData
from guidelinekg.patients.decode import parse_json

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
PATIENT = "urn:guidelinekg:Patient/"


@pytest.fixture(scope="module")
def matcher() -> SubstanceMatcher:
    return SubstanceMatcher.from_graph(rdflib.Graph().parse(FIXTURES / "test-guideline.ttl"))


@pytest.fixture(scope="module")
def collection(matcher: SubstanceMatcher) -> PatientData:
    return load_patient(FIXTURES / "bundle-collection.json", matcher=matcher)


def objects(patient: PatientData, subject: str, prop: str) -> list[str]:
    """Values (IRI or lexical form) of ``subject`` ``gkg:prop``, sorted."""
    return sorted(
        t.object.value
        for t in patient.triples()
        if t.subject.value == subject and t.predicate.value == GKG + prop
    )


def of_type(patient: PatientData, cls: str) -> list[str]:
    return sorted(
        t.subject.value
        for t in patient.triples()
        if t.predicate.value == RDF_TYPE and t.object.value == GKG + cls
    )


def datatype(patient: PatientData, subject: str, prop: str) -> str:
    (lit,) = [
        t.object for t in patient.triples() if t.subject.value == subject and t.predicate.value == GKG + prop
    ]
    return lit.datatype.value


def codes(patient: PatientData, code: str) -> list[str | None]:
    return [n.record for n in patient.notes if n.code == code]


def bundle(*resources: dict, kind: str = "collection") -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": [{"resource": r} for r in resources]}


def fhir(obj: dict) -> dict:
    """JSON as the loader parses it (numbers as Decimal)."""
    return parse_json(json.dumps(obj), Location("<test>"))


P1 = {"resourceType": "Patient", "id": "p1", "birthDate": "1970-05-20"}


def obs(oid: str, **fields) -> dict:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "2276-4"}]},
        "effectiveDateTime": "2025-01-10T08:00:00Z",
        **fields,
    }


# --- the collection fixture -----------------------------------------------------------------------------


def test_patient_iri_identifier_and_birth_date(collection: PatientData) -> None:
    assert collection.patient_iri == PATIENT + "p1"
    assert objects(collection, PATIENT + "p1", "identifier") == ["Patient/p1"]
    assert objects(collection, PATIENT + "p1", "birthDate") == ["1970-05-20"]
    assert datatype(collection, PATIENT + "p1", "birthDate").endswith("#date")


def test_observations_are_mapped_and_statuses_skipped(collection: PatientData) -> None:
    observations = of_type(collection, "Observation")
    assert "urn:guidelinekg:Observation/ferritin-pmol" in observations
    assert "urn:guidelinekg:Observation/ferritin-error" not in observations
    assert codes(collection, "skipped-status") == ["Observation/ferritin-error"]
    for o in observations:
        assert objects(collection, o, "subject") == [collection.patient_iri]
        assert all(m.startswith("https://loinc.org/") for m in objects(collection, o, "observedMeasure"))


def test_specimen_gives_time_and_fasting_status(collection: PatientData) -> None:
    o = "urn:guidelinekg:Observation/ferritin-pmol"
    assert objects(collection, o, "effectiveTime") == ["2025-01-10T08:15:00+01:00"]
    assert datatype(collection, o, "effectiveTime").endswith("#dateTime")
    assert objects(collection, o, "fastingStatus") == [GKG + "Fasting"]
    assert objects(collection, "urn:guidelinekg:Observation/tsat", "fastingStatus") == []


def test_value_keeps_its_lexical_form_and_ucum_code(collection: PatientData) -> None:
    o = "urn:guidelinekg:Observation/tsat"
    assert objects(collection, o, "value") == ["18.50"]
    assert datatype(collection, o, "value").endswith("#decimal")
    assert objects(collection, o, "unit") == ["%"]


def test_observation_without_value_is_kept_without_value(collection: PatientData) -> None:
    o = "urn:guidelinekg:Observation/ferritin-novalue"
    assert o in of_type(collection, "Observation")
    assert objects(collection, o, "value") == []
    (note,) = [n for n in collection.notes if n.code == "missing-value"]
    assert note.record == "Observation/ferritin-novalue" and "haemolysed" in note.message


def test_free_text_unit_that_is_not_ucum_is_kept_as_text(collection: PatientData) -> None:
    o = "urn:guidelinekg:Observation/ferritin-furlongs"
    assert objects(collection, o, "unit") == []
    assert objects(collection, o, "unitText") == ["furlongs"]
    assert codes(collection, "unit-not-ucum") == ["Observation/ferritin-furlongs"]


def test_unknown_resource_types_give_one_note_per_type(collection: PatientData) -> None:
    (note,) = [n for n in collection.notes if n.code == "ignored-resource"]
    assert "2 Encounter" in note.message and note.record is None
    assert not [s for s in of_type(collection, "Patient") if "Encounter" in s]


def test_condition_snomed_code_and_clinical_status(collection: PatientData) -> None:
    c = "urn:guidelinekg:Condition/cond-1"
    # a refuted condition is mapped with its verification status; the rules never count it (rule 39)
    refuted = "urn:guidelinekg:Condition/cond-refuted"
    assert of_type(collection, "Condition") == [c, refuted]
    assert objects(collection, refuted, "conditionVerificationStatus") == ["refuted"]
    assert objects(collection, c, "conditionCode") == ["http://snomed.info/id/38341003"]
    assert objects(collection, c, "clinicalStatus") == ["active"]


def test_free_text_medication_matched_by_name(collection: PatientData) -> None:
    e = "urn:guidelinekg:MedicationStatement/ms-1"
    assert objects(collection, e, "productText") == ["Injectafer 750 mg"]
    assert objects(collection, e, "exposureSubstance") == [
        "https://example.org/test-guideline#TestCarboxymaltose"
    ]
    assert objects(collection, e, "matchedBy") == ["name"]
    assert objects(collection, e, "exposureKind") == ["statement"]
    assert objects(collection, e, "exposureStart") == ["2025-01-08T10:00:00+01:00"]
    assert objects(collection, e, "exposureEnd") == ["2025-01-08T10:30:00+01:00"]
    assert objects(collection, e, "exposureStatus") == ["completed"]


def test_contained_medication_matched_by_verified_code_with_dose(collection: PatientData) -> None:
    e = "urn:guidelinekg:MedicationAdministration/ma-1"
    assert objects(collection, e, "exposureSubstance") == ["https://example.org/test-guideline#Examplomab"]
    assert "code" in objects(collection, e, "matchedBy")
    assert objects(collection, e, "exposureKind") == ["administration"]
    assert (
        objects(collection, e, "exposureStart")
        == objects(collection, e, "exposureEnd")
        == ["2025-01-09T10:00:00Z"]
    )
    assert objects(collection, e, "value") == ["100"] and objects(collection, e, "unit") == ["mg"]


def test_unverified_code_is_not_used(collection: PatientData) -> None:
    e = "urn:guidelinekg:MedicationStatement/ms-unverified"
    assert e in of_type(collection, "MedicationExposure")
    assert objects(collection, e, "exposureSubstance") == []


def test_without_matcher_no_substance_is_claimed() -> None:
    patient = load_patient(FIXTURES / "bundle-collection.json")
    assert not [line for line in patient.ntriples if "exposureSubstance" in line]


def test_lines_are_sorted_unique_valid_ntriples(collection: PatientData) -> None:
    assert collection.ntriples == sorted(set(collection.ntriples))
    assert len(list(collection.triples())) == len(collection.ntriples)


def test_graph_and_store_helpers_hold_the_same_triples(collection: PatientData) -> None:
    store = ox.Store()
    collection.load_into(store)
    graph = collection.to_rdflib()
    assert len(store) == len(graph) == len(collection.ntriples)
    query = f"SELECT ?o WHERE {{ ?o a <{GKG}Observation> ; <{GKG}fastingStatus> <{GKG}Fasting> }}"
    assert [s["o"].value for s in store.query(query)] == [str(r[0]) for r in graph.query(query)]


# --- other bundle types ---------------------------------------------------------------------------------


def test_searchset_resolves_absolute_references(matcher: SubstanceMatcher) -> None:
    patient = load_patient(FIXTURES / "bundle-searchset.json", matcher=matcher)
    assert patient.patient_iri == PATIENT + "p2"
    o = "urn:guidelinekg:Observation/o-ss"
    assert objects(patient, o, "subject") == [PATIENT + "p2"]
    assert objects(patient, o, "effectiveTime") == ["2025-02-03T07:45:00-05:00"]  # effectivePeriod.start
    assert [n.message for n in patient.notes if n.code == "ignored-resource"] == [
        "1 OperationOutcome resource ignored: type not used"
    ]


def test_transaction_resolves_urn_uuid_and_hashes_missing_ids(matcher: SubstanceMatcher) -> None:
    patient = load_patient(FIXTURES / "bundle-transaction.json", matcher=matcher)
    (o,) = of_type(patient, "Observation")
    assert objects(patient, o, "subject") == [patient.patient_iri]
    assert objects(patient, o, "fastingStatus") == [GKG + "NotFasting"]
    assert objects(patient, o, "effectiveTime") == ["2025-03-04T07:30:00Z"]
    assert patient == load_patient(FIXTURES / "bundle-transaction.json", matcher=matcher)
    doc = parse_json((FIXTURES / "bundle-transaction.json").read_text(), Location("<t>"))
    doc["entry"][0]["resource"]["birthDate"] = "1990-02-01"
    (changed,) = patients_from_json(doc, matcher=matcher)
    assert changed.patient_iri != patient.patient_iri


def test_verified_secondary_code_and_name_both_match(matcher: SubstanceMatcher) -> None:
    patient = load_patient(FIXTURES / "bundle-transaction.json", matcher=matcher)
    (e,) = of_type(patient, "MedicationExposure")
    assert objects(patient, e, "exposureSubstance") == [
        "https://example.org/test-guideline#Examplomab",
        "https://example.org/test-guideline#Otherol",
    ]
    assert objects(patient, e, "matchedBy") == ["code", "name"]


def test_several_patients_are_split_and_notes_shared() -> None:
    patients = load_patients(FIXTURES / "bundle-two-patients.json")
    assert [p.patient_iri for p in patients] == [PATIENT + "pa", PATIENT + "pb"]
    pa, pb = patients
    assert of_type(pa, "Observation") == ["urn:guidelinekg:Observation/oa"]
    assert of_type(pb, "Observation") == ["urn:guidelinekg:Observation/ob"]
    for p in patients:
        assert codes(p, "unknown-patient") == ["Observation/o-stranger"]
        assert codes(p, "missing-subject") == ["Condition/c-nosubject"]


def test_load_patient_refuses_several_patients() -> None:
    with pytest.raises(InputError, match="2 patients") as err:
        load_patient(FIXTURES / "bundle-two-patients.json")
    assert "bundle-two-patients.json" in str(err.value) and "load_patients" in str(err.value)


def test_bare_patient_is_accepted() -> None:
    (patient,) = load_patients(FIXTURES / "patient-only.json")
    assert patient.patient_iri == PATIENT + "solo"


# --- details of the mapping -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2025-03-01", ("2025-03-01T00:00:00", True)),
        ("2025-03-01T08:30:00.250Z", ("2025-03-01T08:30:00.250Z", True)),
        ("2025-03-01T08:30", ("2025-03-01T08:30:00", True)),
        ("2025-03", ("2025-03-01T00:00:00", False)),
        ("2025-02-30", None),
        ("2025-03-01T08:30:00+15:00", None),
        ("yesterday", None),
        (20250301, None),
    ],
)
def test_fhir_datetime(given: object, expected: object) -> None:
    assert fhir_datetime(given) == expected


def test_imprecise_times_and_birth_dates_are_noted() -> None:
    doc = fhir(
        bundle(
            {**P1, "birthDate": "1970"},
            obs("o1", effectiveDateTime="2024-06"),
            obs("o2", effectiveDateTime="soon"),
        )
    )
    (p,) = patients_from_json(doc)
    assert objects(p, p.patient_iri, "birthDate") == []  # a year alone is the range of dates it allows
    assert objects(p, p.patient_iri, "birthDateEarliest") == ["1970-01-01"]
    assert objects(p, p.patient_iri, "birthDateLatest") == ["1970-12-31"]
    assert codes(p, "imprecise-birthdate") == ["Patient/p1"]
    assert objects(p, "urn:guidelinekg:Observation/o1", "effectiveTime") == ["2024-06-01T00:00:00"]
    assert codes(p, "imprecise-time") == ["Observation/o1"]
    assert objects(p, "urn:guidelinekg:Observation/o2", "effectiveTime") == []
    assert codes(p, "invalid-time") == ["Observation/o2"]


def test_censored_values_keep_their_bound_and_non_numeric_values_are_missing() -> None:
    """A censored value ("<5") is its bound with a gkg:valueComparator (the rules decide what it decides;
    tests/test_fhir_components.py); a comparator FHIR R4 does not define leaves the value missing."""
    doc = fhir(
        bundle(
            P1,
            obs(
                "lt",
                valueQuantity={
                    "value": 5,
                    "comparator": "<",
                    "system": "http://unitsofmeasure.org",
                    "code": "ng/mL",
                },
            ),
            obs("ad", valueQuantity={"value": 5, "comparator": "ad", "system": "http://unitsofmeasure.org",
                                     "code": "ng/mL"}),
            obs("txt", valueString="high"),
            obs("word", valueQuantity={"value": "high", "system": "http://unitsofmeasure.org", "code": "ng/mL"}),
        )
    )
    (p,) = patients_from_json(doc)
    assert objects(p, "urn:guidelinekg:Observation/lt", "value") == ["5"]
    assert objects(p, "urn:guidelinekg:Observation/lt", "valueComparator") == [GKG + "LessThan"]
    for o in ("ad", "txt", "word"):
        assert objects(p, f"urn:guidelinekg:Observation/{o}", "value") == []
    assert codes(p, "censored-value") == ["Observation/ad"]
    assert codes(p, "unsupported-value") == ["Observation/txt"]
    assert codes(p, "invalid-value") == ["Observation/word"]


def test_a_value_of_the_wrong_json_type_is_refused_where_it_stands() -> None:
    """A boolean where FHIR has a decimal is not FHIR JSON: refused with its line and column."""
    quantity = {"value": True, "system": "http://unitsofmeasure.org", "code": "ng/mL"}
    with pytest.raises(InputError, match=r"Observation/bool valueQuantity.value: must be a JSON number") as err:
        patients_from_json(fhir(bundle(P1, obs("bool", valueQuantity=quantity))))
    assert err.value.location.line == 1 and err.value.location.column > 1


def test_numbers_are_written_as_valid_decimals() -> None:
    doc = fhir(bundle(P1, obs("e", valueQuantity={"value": 1.5e2, "unit": "ng/mL"})))
    doc["entry"][1]["resource"]["valueQuantity"]["value"] = Decimal("1.5E+2")
    (p,) = patients_from_json(doc)
    o = "urn:guidelinekg:Observation/e"
    assert objects(p, o, "value") == ["150"]
    assert objects(p, o, "unit") == ["ng/mL"] and objects(p, o, "unitText") == [
        "ng/mL"
    ]  # free text parsed as UCUM


def test_skipped_exposures_and_conditions_without_status() -> None:
    med = {
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": "Brandex"},
        "effectiveDateTime": "2025-01-01",
    }
    doc = fhir(
        bundle(
            P1,
            {"resourceType": "MedicationStatement", "id": "nt", "status": "not-taken", **med},
            {"resourceType": "MedicationStatement", "id": "in", "status": "intended", **med},
            {"resourceType": "MedicationAdministration", "id": "nd", "status": "not-done", **med},
            {"resourceType": "MedicationStatement", "id": "ok", "status": "active", **med},
            {
                "resourceType": "Condition",
                "id": "c",
                "subject": {"reference": "Patient/p1"},
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]},
            },
            {
                "resourceType": "Condition",
                "id": "icd",
                "subject": {"reference": "Patient/p1"},
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10"}]},
            },
            {
                "resourceType": "Condition",
                "id": "text-only",
                "subject": {"reference": "Patient/p1"},
                "code": {"text": "Hypertension", "coding": [{"display": "Hypertension"}, {"code": "I10"}]},
            },
        )
    )
    (p,) = patients_from_json(doc)
    assert of_type(p, "MedicationExposure") == ["urn:guidelinekg:MedicationStatement/ok"]
    assert sorted(codes(p, "skipped-status")) == [
        "MedicationAdministration/nd", "MedicationStatement/in", "MedicationStatement/nt"]
    # a condition in any code system is kept with its system|code token; one without a system and a code
    # in any coding (text, a display, a code without its system) cannot match anything and is skipped
    assert of_type(p, "Condition") == ["urn:guidelinekg:Condition/c", "urn:guidelinekg:Condition/icd"]
    assert objects(p, "urn:guidelinekg:Condition/c", "clinicalStatus") == []  # "active" is not assumed
    assert objects(p, "urn:guidelinekg:Condition/icd", "codeToken") == ["http://hl7.org/fhir/sid/icd-10|I10"]
    assert objects(p, "urn:guidelinekg:Condition/icd", "conditionCode") == []
    assert objects(p, "urn:guidelinekg:Condition/c", "codeToken") == ["http://snomed.info/sct|38341003"]
    assert codes(p, "uncoded-condition") == ["Condition/text-only"]  # named by its text, never read
    assert codes(p, "unmapped-code") == []


def test_condition_tokens_keep_every_coding_and_dot_icd10() -> None:
    from guidelinekg.patients.fhirclinical import condition_tokens

    icd = "http://hl7.org/fhir/sid/icd-10-cm"
    res = {"code": {"coding": [
        {"system": icd, "code": "G2581"}, {"system": icd, "code": "N18.6"}, {"system": icd, "code": "I10"},
        {"system": "http://snomed.info/sct", "code": "32914008"}, {"system": "urn:oid:1.2", "code": "X 1"},
        {"system": "", "code": "G25.81"}, {"system": icd, "code": 5}, "not a coding",
    ]}}
    assert condition_tokens(res) == sorted([
        f"{icd}|G2581", f"{icd}|G25.81", f"{icd}|N18.6", f"{icd}|I10",
        "http://snomed.info/sct|32914008", "urn:oid:1.2|X 1",
    ])
    # an ICD code in lower case is also read in capitals (and dotted); no other system's codes change case
    assert condition_tokens({"code": {"coding": [{"system": icd, "code": "g2581"}]}}) == [
        f"{icd}|G25.81", f"{icd}|G2581", f"{icd}|g2581"]
    snomed_like = {"code": {"coding": [{"system": "urn:oid:1.2", "code": "abc"}]}}
    assert condition_tokens(snomed_like) == ["urn:oid:1.2|abc"]
    # only the ICD-10 systems are dotted: the same letters in another system stay as sent
    assert condition_tokens({"code": {"coding": [{"system": "urn:oid:1.2", "code": "G2581"}]}}) == ["urn:oid:1.2|G2581"]


def test_unsafe_ids_are_percent_encoded() -> None:
    doc = fhir(bundle({**P1, "id": "a b/ç"}, {**obs("x y"), "subject": {"reference": "Patient/a b/ç"}}))
    (p,) = patients_from_json(doc)
    assert p.patient_iri == PATIENT + "a%20b%2F%C3%A7"
    # the reference has an extra "/" and so does not resolve: the observation is not attributed
    assert codes(p, "unknown-patient") == ["Observation/x y"]


def test_duplicate_resources_are_noted_and_resolved_independently_of_order() -> None:
    a, b = (
        obs("d", valueQuantity={"value": 1, "unit": "ng/mL"}),
        obs("d", valueQuantity={"value": 2, "unit": "ng/mL"}),
    )
    (first,) = patients_from_json(fhir(bundle(P1, a, b)))
    (second,) = patients_from_json(fhir(bundle(P1, b, a)))
    assert first == second
    assert codes(first, "duplicate-resource") == ["Observation/d"]


def test_doctests_of_the_fhir_modules():
    import doctest

    from guidelinekg.patients import fhir
    from guidelinekg.patients import fhirbundle

    assert doctest.testmod(fhir).failed == 0
    result = doctest.testmod(fhirbundle)
    assert result.failed == 0 and result.attempted >= 1  # fhir_datetime's examples


@pytest.mark.parametrize(("unit", "code", "contradicts"), [
    ("mg/L", "ng/mL", True),     # a thousand times apart: which one the value is in cannot be told
    ("G/L", "10*9/L", False),    # UCUM reads gauss per litre: another kind, so a local spelling of 10^9/L
    ("K/uL", "10*3/uL", False),  # kelvin per microlitre, likewise
    ("ng/ml", "ng/mL", False),   # the same unit spelled otherwise
    ("ug/L", "ng/mL", False),    # the same scale
    ("mcg/L", "ng/mL", False),   # a display that is no UCUM code: a spelling, never a contradiction
    ("ng/mL", "ng/mL", False),
    # found by a trial author: a weight written in pounds but coded kg, a creatinine written mg/dL but coded
    # umol/L, were read in the code's unit and flipped an apixaban dose
    ("lb", "kg", True),          # a well-known spelling of [lb_av] (unit-spellings.tsv)
    ("pounds", "kg", True),
    ("lbs", "[lb_av]", False),
    ("kilograms", "kg", False),
    ("mg/dL", "umol/L", True),   # mass against substance: which one cannot be told
    ("mmol/L", "mg/dL", True),
    ("U/L", "[IU]/L", False),    # an enzyme unit against an international unit: no amount of matter to compare
    ("mg/mmol", "mg/g", True),   # albumin/creatinine: a ratio of masses is not mass per substance (a reviewer)
    ("mg/g", "mg/mmol", True),
    ("ug/mg", "mg/g", False),    # the same ratio
    ("x10^9/L", "10*9/L", False),
    # equivalents against moles (a trial author): UCUM's 1 eq = 1 mol holds only for a charge of 1
    ("mEq/L", "mmol/L", True),
    ("mmol/L", "meq/L", True),
    ("mEq/L", "meq/L", False),
])  # fmt: skip
def test_a_unit_text_contradicting_its_ucum_code_makes_the_value_unusable(unit, code, contradicts) -> None:
    from guidelinekg.patients.fhirobs import quantity_lines

    notes: list[tuple[str, str]] = []
    q = {"value": Decimal("150"), "unit": unit, "system": "http://unitsofmeasure.org", "code": code}
    lines = quantity_lines("<urn:x:o>", q, lambda c, text: notes.append((c, text)))
    assert any("#value>" in line for line in lines)
    assert any("#unit>" in line for line in lines) is not contradicts
    assert [c for c, _ in notes] == (["unit-code-mismatch"] if contradicts else [])


def test_resources_referring_to_one_unknown_patient_give_one_note() -> None:
    strangers = [obs(f"o{i}", subject={"reference": "Patient/stranger"}) for i in range(7)]
    (p,) = patients_from_json(fhir(bundle(P1, *strangers)))
    (note,) = [n for n in p.notes if n.code == "unknown-patient"]
    assert note.message.startswith("7 resources (Observation/o0, Observation/o1, Observation/o2, Observation/o3, "
                                   "Observation/o4 and 2 more) refer to 'Patient/stranger'")


def test_an_absolute_reference_to_another_server_is_not_this_bundles_patient() -> None:
    """FHIR ids are unique per server: Patient/example-1 of ehr-b is not the Bundle's ehr-a Patient/example-1.
    The same absolute URL as the fullUrl, a relative reference, or an absolute one to a Bundle without
    fullUrls still resolve."""
    def doc(patient_url, subject):
        patient = {"resourceType": "Patient", "id": "example-1"}
        return {"resourceType": "Bundle", "type": "collection", "entry": [
            {**({"fullUrl": patient_url} if patient_url else {}), "resource": patient},
            {"resource": {"resourceType": "Condition", "id": "c", "subject": {"reference": subject},
                          "code": {"coding": [{"system": "http://snomed.info/sct", "code": "32914008"}]}}}]}
    a, b = "http://ehr-a.example/fhir/Patient/example-1", "http://ehr-b.example/fhir/Patient/example-1"
    for patient_url, subject, used in ((a, b, False), (a, a, True), (a, "Patient/example-1", True),
                                       (None, b, True), (a, a + "/_history/3", True)):
        (p,) = patients_from_json(doc(patient_url, subject))
        assert (of_type(p, "Condition") != []) is used, (patient_url, subject)
        assert bool(codes(p, "unknown-patient")) is not used
