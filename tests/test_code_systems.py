"""Code systems named by their HL7 OID (records converted from HL7 v2 or C-CDA): read as the FHIR R4 URI they
stand for, so a diagnosis or a result coded that way is matched as it would be with the URI."""

from __future__ import annotations

import json

import pytest

from guidelinekg.cli import main
from guidelinekg.patients.codesystems import canonical_system

OIDS = {"loinc": "urn:oid:2.16.840.1.113883.6.1", "snomed": "urn:oid:2.16.840.1.113883.6.96",
        "icd10cm": "urn:oid:2.16.840.1.113883.6.90", "ucum": "urn:oid:2.16.840.1.113883.6.8"}


def bundle(diagnosis: dict, loinc_system: str, ucum_system: str) -> dict:
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "1970-03-04"}
    condition = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
                 "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                                "code": "active"}]},
                 "code": {"coding": [diagnosis]}}
    ferritin = {"resourceType": "Observation", "id": "o1", "status": "final", "subject": {"reference": "Patient/p1"},
                "code": {"coding": [{"system": loinc_system, "code": "2276-4"}]},
                "effectiveDateTime": "2026-01-08",
                "valueQuantity": {"value": 45, "unit": "ng/mL", "system": ucum_system, "code": "ng/mL"}}
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in (patient, condition, ferritin)]}


def report_of(tmp_path, capsys, doc: dict) -> dict:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    capsys.readouterr()
    assert main(["recommend", str(path), "--as-of", "2026-01-15", "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("diagnosis", [
    {"system": OIDS["icd10cm"], "code": "G25.81"},
    {"system": OIDS["snomed"], "code": "32914008"},
    {"system": OIDS["snomed"].removeprefix("urn:oid:"), "code": "32914008"},  # the bare OID, as some exports write it
])  # fmt: skip
def test_a_diagnosis_and_a_result_coded_by_oid_are_matched(tmp_path, capsys, diagnosis):
    by_oid = report_of(tmp_path, capsys, bundle(diagnosis, OIDS["loinc"], OIDS["ucum"]))
    uri = {**diagnosis, "system": canonical_system(diagnosis["system"])}
    by_uri = report_of(tmp_path, capsys, bundle(uri, "http://loinc.org", "http://unitsofmeasure.org"))
    assert uri["system"].startswith("http")
    assert by_oid["applicable"] and by_oid["recommendations"]
    assert not any(w["code"] in ("unmapped-code", "guideline-not-applicable") for w in by_oid["warnings"])
    strip = ("provenance", "patient")
    assert {k: v for k, v in by_oid.items() if k not in strip} == {k: v for k, v in by_uri.items() if k not in strip}
