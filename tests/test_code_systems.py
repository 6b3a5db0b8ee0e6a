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
    tsat = {**ferritin, "id": "o2", "code": {"coding": [{"system": loinc_system, "code": "2502-3"}]},
            "valueQuantity": {"value": 18, "unit": "%", "system": ucum_system, "code": "%"}}
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in (patient, condition, ferritin, tsat)]}


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


# --- spellings real exports use: padded codes and units, a system URI with a trailing slash ---------------


@pytest.mark.parametrize("system, expected", [
    ("http://loinc.org/", "http://loinc.org"),
    (" http://snomed.info/sct/ ", "http://snomed.info/sct"),
    ("http://hl7.org/fhir/sid/icd-10-cm/", "http://hl7.org/fhir/sid/icd-10-cm"),
    ("http://unitsofmeasure.org/", "http://unitsofmeasure.org"),
    ("urn:oid:2.16.840.1.113883.6.1 ", "http://loinc.org"),
    ("http://example.org/local/", "http://example.org/local/"),  # a system it does not know: as written
    ("http://loinc.org/x", "http://loinc.org/x"),
])  # fmt: skip
def test_a_known_system_written_with_a_slash_or_padding_is_its_fhir_uri(system, expected):
    assert canonical_system(system) == expected


@pytest.mark.parametrize("spelling", ["loinc-slash", "loinc-code-padded", "ucum-code-padded", "snomed-slash",
                                      "icd10cm-padded"])
def test_padded_codes_and_a_slashed_system_give_the_plain_report(tmp_path, capsys, spelling):
    """Each spelling alone made the result or the diagnosis silently unusable: a ferritin coded " 2276-4" was
    counted among the results no guideline reads (the lazy read compared codes as written), one in
    "http://loinc.org/" was an Observation without a LOINC code, a UCUM code "ng/mL " no unit."""
    diagnosis = {"system": "http://snomed.info/sct", "code": "32914008"}
    plain = report_of(tmp_path, capsys, bundle(diagnosis, "http://loinc.org", "http://unitsofmeasure.org"))
    doc = bundle(diagnosis, "http://loinc.org", "http://unitsofmeasure.org")
    condition, ferritin = (e["resource"] for e in doc["entry"][1:3])
    if spelling == "loinc-slash":
        ferritin["code"]["coding"][0]["system"] = "http://loinc.org/"
    elif spelling == "loinc-code-padded":
        ferritin["code"]["coding"][0]["code"] = " 2276-4 "
    elif spelling == "ucum-code-padded":
        ferritin["valueQuantity"]["code"] = "ng/mL "
    elif spelling == "snomed-slash":
        condition["code"]["coding"][0]["system"] = "http://snomed.info/sct/"
    else:
        condition["code"]["coding"][0] = {"system": OIDS["icd10cm"] + " ", "code": " G25.81"}
    got = report_of(tmp_path, capsys, doc)
    assert got["applicable"] and "2276-4" not in {o["loinc"] for o in got["orders"]}  # diagnosis and result read
    strip = ("provenance", "patient")
    assert {k: v for k, v in got.items() if k not in strip} == {k: v for k, v in plain.items() if k not in strip}
