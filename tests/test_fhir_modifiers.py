"""Modifier extensions and implicitRules (FHIR R4 Extensibility: an application that does not understand a
``modifierExtension`` SHALL NOT use the element as if it were absent): a resource carrying one anywhere is
not used (``unsupported-modifier``, naming it and the extension); a Patient carrying one is refused.
src/guidelinekg/patients/fhirschema.py finds them, src/guidelinekg/patients/fhir.py acts on them, and a lazy
read (fhirlazy) walks only the resources whose text may hold one."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from guidelinekg.cli import main
from guidelinekg.errors import InputError, Location
from guidelinekg.patients import fhir
from guidelinekg.patients.decode import parse_json
from guidelinekg.patients.fhir import patients_from_json
from guidelinekg.patients.fhirlazy import read_bundle
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.patients.model import PatientData

EXAMPLE = json.loads((Path(__file__).parents[1] / "examples" / "patient-ferritin-45.json").read_text())
NEGATED = {"url": "http://example.org/fhir/StructureDefinition/negated", "valueBoolean": True}
FERRITIN, TSAT = "2276-4", "2502-3"


def example(**changes: dict) -> dict:
    """The shipped example patient (RLS, ferritin 45, TSAT 18 %, 45 kg), resources changed by id."""
    doc = copy.deepcopy(EXAMPLE)
    for entry in doc["entry"]:
        entry["resource"].update(changes.get(entry["resource"]["id"].replace("-", "_"), {}))
    return doc


def mapped(doc: dict) -> PatientData:
    (patient,) = patients_from_json(parse_json(json.dumps(doc), Location("<test>")))
    return patient


def notes(p: PatientData, code: str = "unsupported-modifier") -> list[tuple[str | None, str]]:
    return [(n.record, n.message) for n in p.notes if n.code == code]


def identifiers(p: PatientData) -> set[str]:
    return {line.split('"')[1] for line in p.ntriples if "#identifier>" in line}


def report(tmp_path: Path, capsys, doc: dict) -> dict:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    capsys.readouterr()
    assert main(["recommend", str(path), "--as-of", "2026-01-15", "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


# --- each mapped resource ----------------------------------------------------------------------------------


def test_a_negated_condition_is_not_a_diagnosis(tmp_path, capsys) -> None:
    doc = example(rls_1={"modifierExtension": [NEGATED]})
    p = mapped(doc)
    assert "Condition/rls-1" not in identifiers(p)
    [(record, message)] = notes(p)
    assert record == "Condition/rls-1"
    assert message.startswith("Condition/rls-1 has modifierExtension "
                              "'http://example.org/fhir/StructureDefinition/negated', which changes what it means")
    assert message.endswith("; not used")
    out = report(tmp_path, capsys, doc)  # the RLS diagnosis is not read: the guideline does not apply
    assert out["applicable"] is False and not out["recommendations"]
    assert "unsupported-modifier" in {w["code"] for w in out["warnings"]}


def test_a_retracted_result_is_not_used_and_its_test_is_ordered(tmp_path, capsys) -> None:
    retracted = {"url": "http://example.org/fhir/StructureDefinition/retracted", "valueBoolean": True}
    plain = report(tmp_path, capsys, example())
    out = report(tmp_path, capsys, example(ferritin_1={"modifierExtension": [retracted]}))
    assert FERRITIN not in {o["loinc"] for o in plain["orders"]} and plain["recommendations"]
    assert FERRITIN in {o["loinc"] for o in out["orders"]} and not out["recommendations"]
    [warning] = [w for w in out["warnings"] if w["code"] == "unsupported-modifier"]
    assert "Observation/ferritin-1" in warning["message"] and "retracted" in warning["message"]


@pytest.mark.parametrize("where", ["component", "valueQuantity-extension", "implicitRules", "contained"])
def test_a_modifier_anywhere_inside_a_result_sets_it_aside(where: str) -> None:
    ferritin = next(e["resource"] for e in EXAMPLE["entry"] if e["resource"]["id"] == "ferritin-1")
    change = {
        "component": {"component": [{"code": {"text": "note"}, "modifierExtension": [NEGATED]}]},
        # not FHIR (a Quantity has no modifierExtension), but a modifier all the same
        "valueQuantity-extension": {"valueQuantity": {**ferritin["valueQuantity"], "modifierExtension": [NEGATED]}},
        "implicitRules": {"implicitRules": "http://example.org/local-rules"},
        "contained": {"contained": [{"resourceType": "Provenance", "id": "x", "modifierExtension": [NEGATED]}]},
    }[where]
    p = mapped(example(ferritin_1=change))
    assert "Observation/ferritin-1" not in identifiers(p)
    [(_, message)] = notes(p)
    assert ("implicitRules 'http://example.org/local-rules'" if where == "implicitRules"
            else "modifierExtension 'http://example.org/fhir/StructureDefinition/negated' on ") in message


def test_a_dose_not_given_is_no_exposure() -> None:
    administration = {
        "resourceType": "MedicationAdministration", "id": "ma-1", "status": "completed",
        "subject": {"reference": "Patient/example-1"}, "effectiveDateTime": "2026-01-07",
        "medicationCodeableConcept": {"text": "ferrous sulfate 325 mg"},
        "dosage": {"modifierExtension": [{"url": "http://example.org/not-given", "valueBoolean": True}],
                   "dose": {"value": 325, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}},
    }
    doc = example()
    doc["entry"].append({"resource": administration})
    p = mapped(doc)
    assert "MedicationAdministration/ma-1" not in identifiers(p)
    [(record, message)] = notes(p)
    assert record == "MedicationAdministration/ma-1" and "'http://example.org/not-given' on dosage" in message
    del administration["dosage"]["modifierExtension"]
    assert "MedicationAdministration/ma-1" in identifiers(mapped(doc))  # the same record without it is used


def test_a_referenced_specimen_or_medication_with_a_modifier_is_as_if_not_given() -> None:
    p = mapped(example(spec_1={"modifierExtension": [NEGATED]}))
    assert notes(p)[0][0] == "Specimen/spec-1"
    assert not [line for line in p.ntriples if "fastingStatus" in line]  # read from the Specimen otherwise
    assert [line for line in mapped(example()).ntriples if "fastingStatus" in line]


def test_a_patient_with_a_modifier_is_refused_with_its_line(tmp_path) -> None:
    doc = example(example_1={"modifierExtension": [NEGATED]})
    with pytest.raises(InputError, match=r"Patient/example-1 has modifierExtension .*negated.*: the patient "
                                         "cannot be read safely"):
        mapped(doc)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    with pytest.raises(InputError) as refused:
        load_patient_input(path)
    assert refused.value.location.line is not None
    lines = path.read_text().splitlines()
    assert "modifierExtension" in lines[refused.value.location.line - 1]
    implicit = example(example_1={"implicitRules": "http://example.org/rules"})
    with pytest.raises(InputError, match="implicitRules 'http://example.org/rules'"):
        mapped(implicit)


def test_an_empty_modifier_list_is_no_modifier() -> None:
    assert not notes(mapped(example(rls_1={"modifierExtension": []}, example_1={"modifierExtension": []})))


# --- the lazy read: the same answer, walking only what may hold one ------------------------------------------


def lazy(data: bytes, kb) -> list[PatientData]:
    bundle = read_bundle(data, kb.reads)
    assert bundle is not None
    return patients_from_json(bundle.doc, source="x", matcher=kb.matcher, reads=kb.reads, skipped=bundle.skipped)


def strict(data: bytes, kb) -> list[PatientData]:
    doc = parse_json(data.decode(), Location("x"), positions=False)
    return patients_from_json(doc, source="x", matcher=kb.matcher, reads=kb.reads)


def test_the_lazy_read_walks_only_resources_whose_text_may_hold_a_modifier(kb, monkeypatch) -> None:
    walked: list[str] = []

    def counting(res, path=""):
        walked.append(f"{res['resourceType']}/{res['id']}")
        return original(res, path)

    original = fhir.modifiers
    monkeypatch.setattr(fhir, "modifiers", counting)
    data = json.dumps(example(tsat_1={"modifierExtension": [NEGATED]})).encode()
    got = lazy(data, kb)
    assert walked == ["Observation/tsat-1"]
    walked.clear()
    expected = strict(data, kb)
    assert len(walked) == 6  # every resource mapped: Patient, Condition, Specimen, 3 Observations
    assert [(p.ntriples, p.notes) for p in got] == [(p.ntriples, p.notes) for p in expected]
    assert notes(got[0])[0][0] == "Observation/tsat-1"


def test_a_modifier_key_written_with_escapes_is_found_by_the_lazy_read(kb) -> None:
    text = json.dumps(example(tsat_1={"modifierExtension": [NEGATED]}))
    data = text.replace('"modifierExtension"', '"modifier\\u0045xtension"').encode()
    assert b"modifierExtension" not in data
    got, expected = lazy(data, kb), strict(data, kb)
    assert notes(got[0]) == notes(expected[0]) and notes(got[0])[0][0] == "Observation/tsat-1"
