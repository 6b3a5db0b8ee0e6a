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
