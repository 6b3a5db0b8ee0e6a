"""Bad FHIR input gives an InputError with a message a person can act on, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from guidelinekg.errors import InputError
from guidelinekg.patients.fhir import load_patient, load_patients, patients_from_json
from guidelinekg.patients.loader import load_patient_input

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("empty.json", "the file is empty"),
        ("not-fhir.json", "no 'resourceType'"),
        ("encounter-only.json", "a FHIR Encounter is not accepted"),
        ("bundle-empty.json", "the Bundle has no entries"),
        ("bundle-no-patient.json", "no Patient resource"),
        ("bundle-history.json", "Bundle of type 'history' is not accepted"),
    ],
)
@pytest.mark.parametrize("loader", [load_patients, load_patient_input], ids=["fhir", "detecting"])
def test_bad_input_is_refused_with_a_clear_message(loader, fixture: str, expected: str) -> None:
    with pytest.raises(InputError) as err:
        loader(FIXTURES / fixture)
    assert expected in str(err.value)
    assert err.value.location is not None and err.value.location.path.endswith(fixture)
    assert err.value.exit_code == 2


@pytest.mark.parametrize("loader", [load_patients, load_patient_input], ids=["fhir", "detecting"])
def test_not_json_gives_line_and_column(loader) -> None:
    with pytest.raises(InputError, match="not valid JSON") as err:
        loader(FIXTURES / "not-json.json")
    # line 4 starts '"entry"' right after a missing comma at the end of line 3
    assert (err.value.location.line, err.value.location.column) == (4, 3)
    assert "not-json.json:4:3" in str(err.value)


def test_whitespace_only_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "blank.json"
    path.write_text("  \n\t\n")
    with pytest.raises(InputError, match="empty"):
        load_patient(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_patients(tmp_path / "absent.json")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"resourceType": "Patient", "id": "é"}'.encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        load_patients(path)


def test_nan_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "nan.json"
    path.write_text('{"resourceType": "Patient", "id": "x", "n": NaN}')
    with pytest.raises(InputError, match="NaN"):
        load_patients(path)


@pytest.mark.parametrize("doc", [[], "Patient", 3])
def test_top_level_must_be_a_resource(doc: object) -> None:
    with pytest.raises(InputError, match="not a FHIR resource"):
        patients_from_json(doc)


def test_bare_observation_has_no_patient() -> None:
    with pytest.raises(InputError, match="no Patient"):
        patients_from_json({"resourceType": "Observation", "id": "o", "subject": {"reference": "Patient/p"}})


def test_fhir_is_detected_from_content_not_extension(tmp_path: Path) -> None:
    path = tmp_path / "patient.ttl"
    shutil.copy(FIXTURES / "bundle-two-patients.json", path)
    with pytest.raises(InputError, match="exactly one patient, found 2"):
        load_patient_input(path)


# --- elements of the wrong JSON type, values no store can hold (src/guidelinekg/patients/fhirschema.py) ---

OBSERVATION = {
    "resourceType": "Observation", "id": "o1", "status": "final", "subject": {"reference": "Patient/p1"},
    "code": {"coding": [{"system": "http://loinc.org", "code": "2276-4"}]},
    "effectiveDateTime": "2026-01-08", "valueQuantity": {"value": 45, "unit": "ng/mL"},
}


def _bundle_text(**changes) -> str:
    """A bundle of a patient and an observation, one member per line, the observation changed."""
    import json

    observation = {**OBSERVATION, **changes}
    members = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in observation.items())
    return ('{"resourceType": "Bundle", "type": "collection", "entry": [\n'
            '{"resource": {"resourceType": "Patient", "id": "p1"}},\n'
            '{"resource": {\n' + members + "\n}}]}")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"contained": 5}, "Observation/o1 contained: must be a JSON array, not a number (5)"),
        ({"code": {"coding": 5}}, "Observation/o1 code.coding: must be a JSON array"),
        ({"code": []}, "Observation/o1 code: must be a JSON object, not an array"),
        ({"code": {"coding": [{"code": 22764}]}}, "code.coding[0].code: must be a JSON string, not a number"),
        ({"subject": "Patient/p1"}, "subject: must be a JSON object, not a string ('Patient/p1')"),
        ({"effectiveDateTime": 20260108}, "effectiveDateTime: must be a JSON string"),
        ({"valueQuantity": {"value": [45]}}, "valueQuantity.value: must be a JSON number, not an array"),
        ({"valueQuantity": {"value": 45, "unit": {"text": "ng/mL"}}}, "valueQuantity.unit: must be a JSON string"),
        ({"status": ["final"]}, "Observation/o1 status: must be a JSON string"),
        ({"contained": [{"resourceType": "Medication", "id": "m", "code": "iron"}]},
         "Medication/m code: must be a JSON object"),
        ({"id": "x" * 65}, "Observation id: has 65 characters; FHIR allows an id of at most 64"),
        ({"resourceType": "Obs ervation"}, "'Obs ervation' is not a FHIR resource type"),
    ],
)
def test_an_element_of_the_wrong_type_is_refused_on_its_line(tmp_path: Path, changes: dict, message: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(_bundle_text(**changes), encoding="utf-8")
    key = next(iter(changes))
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text.startswith(f'  "{key}"'))
    with pytest.raises(InputError) as err:
        load_patient_input(path)
    assert message in err.value.message
    assert err.value.location.line == line and err.value.location.column > 1


@pytest.mark.parametrize(
    ("value", "shown"),
    [("1e28", "1E+28"), ("200000000000000000000", "200000000000000000000"), ("1e-19", "1E-19"),
     ('"1e400"', "1E+400"), ("9" * 300, "1.000E+300")],
)
def test_a_value_out_of_range_is_refused(tmp_path: Path, value: str, shown: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(_bundle_text(valueQuantity={"value": "@"}).replace('"@"', value), encoding="utf-8")
    with pytest.raises(InputError, match=r"valueQuantity.value: .* is out of range") as err:
        load_patient_input(path)
    assert f"{shown} is out of range" in err.value.message and "must be a number" not in err.value.message


def test_the_largest_value_the_store_holds_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(_bundle_text(valueQuantity={"value": "@", "unit": "ng/mL"}).replace(
        '"@"', "170141183460469231731.687303715884105727"), encoding="utf-8")
    patient = load_patient_input(path)
    assert any("170141183460469231731.687303715884105727" in line for line in patient.ntriples)


def test_null_is_absent_and_strings_of_numbers_are_still_read(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(_bundle_text(specimen=None, valueQuantity={"value": " 45.0 ", "unit": "ng/mL"}))
    patient = load_patient_input(path)
    assert [n.code for n in patient.notes] == ["value-as-string"]


@pytest.mark.parametrize("text", ["\u0661\u0669\u0666\u0668-04-12", "\uff11\uff19\uff16\uff18-04-12"])
def test_a_birth_date_in_other_digits_is_no_fhir_date(tmp_path: Path, text: str) -> None:
    """Found in a trial: Arabic-Indic digits passed a \\d pattern, and the report said the birth date was after
    the as-of date."""
    from guidelinekg.patients.fhirbundle import fhir_datetime

    assert fhir_datetime(text) is None and fhir_datetime(text + "T08:00:00Z") is None
    doc = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "birthDate": text}}]}
    (patient,) = patients_from_json(doc)
    assert [n.code for n in patient.notes] == ["invalid-birthdate"]


@pytest.mark.parametrize("text", ["4_5", "\u0664\u0665", "\uff14\uff15", "NaN", "45 ng/mL", "0x2d"])
def test_a_string_that_python_but_no_ehr_reads_as_a_number_is_not_one(tmp_path: Path, text: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(_bundle_text(specimen=None, valueQuantity={"value": text, "unit": "ng/mL"}))
    patient = load_patient_input(path)
    assert [n.code for n in patient.notes] == ["invalid-value"]
    assert not [line for line in patient.ntriples if "#value>" in line]


def test_a_string_longer_than_fhir_allows_is_refused() -> None:
    doc = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1"}},
        {"resource": {**OBSERVATION, "code": {"text": "x" * (1024 * 1024 + 1)}}}]}
    with pytest.raises(InputError, match="code.text: has 1048577 characters; FHIR allows a string of at most"):
        patients_from_json(doc, source="doc.json")


def test_a_bundle_entry_that_is_not_an_object_is_refused_not_skipped() -> None:
    doc = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Patient",
                                                                                   "id": "p1"}}, 5]}
    with pytest.raises(InputError, match=r"Bundle entry\[1\]: must be a JSON object"):
        patients_from_json(doc)
