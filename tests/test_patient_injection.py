"""Patient data state facts, never what the engine derives or what the guideline says.

Patient RDF that asserts a criterion outcome (``gkg:holds``), a derived value (``gkg:usableValue``), a time
index (``gkg:effectiveHours``), a class only the engine types (``gkg:LatestResult``) or a statement about a
guideline node (``crit gkg:thresholdValue 1000``) would otherwise decide the report with no result behind
it. Each is taken out with a ``patient-data-invalid`` note; the report equals the one without it.
"""

from __future__ import annotations

import json

import pytest

from guidelinekg.cli import main

RLS = "https://w3id.org/guidelinekg/guideline/rls-iron/"
PATIENT = """@prefix gkg: <https://w3id.org/guidelinekg/ontology#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix ex:  <https://example.org/inj/> .
ex:p a gkg:Patient ; gkg:birthDate "1970-05-20"^^xsd:date .
ex:c a gkg:Condition ; gkg:subject ex:p ; gkg:conditionCode <http://snomed.info/id/32914008> ;
    gkg:clinicalStatus "active" .
ex:t a gkg:Observation ; gkg:subject ex:p ; gkg:observedMeasure <https://loinc.org/2502-3> ; gkg:value 15 ;
    gkg:unit "%" ; gkg:effectiveTime "2026-01-20T08:15:00+01:00"^^xsd:dateTime .
ex:old a gkg:Observation ; gkg:subject ex:p ; gkg:observedMeasure <https://loinc.org/2276-4> ; gkg:value 40 ;
    gkg:unit "ng/mL" ; gkg:effectiveTime "2010-01-20T08:15:00+01:00"^^xsd:dateTime .
"""
INJECTIONS = {
    "outcome": f"ex:p gkg:holds <{RLS}crit-ferritin-le-75> ; gkg:fails <{RLS}crit-ferritin-gt-100> .",
    "derived value": "ex:old gkg:usableValue 40.0 .",
    "time index": 'ex:old gkg:effectiveHours 491000 ; gkg:effectiveDay "20470"^^xsd:integer .',
    "engine class": "ex:latest a gkg:LatestResult ; gkg:forPatient ex:p ; gkg:measure <https://loinc.org/2276-4> ; "
                    "gkg:observedValue 40 ; gkg:observation ex:old .",
    "guideline node": f"<{RLS}crit-ferritin-le-75> gkg:thresholdValue 1000.0 .",
}


def _report(tmp_path, capsys, text: str, name: str) -> dict:
    path = tmp_path / f"{name}.ttl"
    path.write_text(text)
    assert main(["recommend", str(path), "--as-of", "2026-02-01", "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def _decisions(report: dict) -> dict:
    return {key: sorted(item["iri"] for item in report[key]) for key in ("recommendations", "undetermined", "orders")
            if key in report and report[key] and isinstance(report[key][0], dict) and "iri" in report[key][0]}


@pytest.mark.parametrize("kind", INJECTIONS)
def test_patient_data_stating_what_the_engine_derives_is_taken_out_and_said(tmp_path, capsys, kind):
    clean = _report(tmp_path, capsys, PATIENT, "clean")
    injected = _report(tmp_path, capsys, PATIENT + INJECTIONS[kind] + "\n", "injected")
    assert _decisions(injected) == _decisions(clean)
    assert {u["iri"] for u in injected["undetermined"]} >= {RLS + "rec-fcm"}  # no usable ferritin: undecided
    notes = [w["message"] for w in injected["warnings"] if w["code"] == "patient-data-invalid"]
    assert any("only the engine derives or what the guideline says" in n for n in notes), injected["warnings"]
    assert not [w for w in clean["warnings"] if w["code"] == "patient-data-invalid"]


LOADER_INJECTIONS = {  # what only the loader writes (patients/units.py), found by an attacker
    "unit problem": 'ex:t gkg:unitProblem "bogus" .',  # voided the TSAT result and worded the warning
    "normalised value": "ex:t gkg:normalizedValue 99 ; gkg:normalizedUnit \"%\" .",
    "conversion note": 'ex:t gkg:conversionNote "converted by the lab" .',
}


@pytest.mark.parametrize("kind", LOADER_INJECTIONS)
def test_patient_data_stating_what_the_loader_writes_is_taken_out_and_said(tmp_path, capsys, kind):
    clean = _report(tmp_path, capsys, PATIENT, "clean")
    injected = _report(tmp_path, capsys, PATIENT + LOADER_INJECTIONS[kind] + "\n", "injected")
    assert _decisions(injected) == _decisions(clean)
    others = [w for w in injected["warnings"] if w["code"] != "patient-data-invalid"]
    assert others == [w for w in clean["warnings"]], others  # no warning worded by the data
    notes = [w["message"] for w in injected["warnings"] if w["code"] == "patient-data-invalid"]
    assert any("only the loader writes" in n for n in notes), injected["warnings"]


NEW_FERRITIN = ('ex:f a gkg:Observation ; gkg:subject ex:p ; gkg:observedMeasure <https://loinc.org/2276-4> ; '
                'gkg:value {value} ; gkg:unit "ng/mL" ; gkg:effectiveTime "2026-01-20T08:15:00+01:00"^^xsd:dateTime .\n')


@pytest.mark.parametrize("value", [
    '"50"^^<http://example.org/myint>', '" 50 "^^xsd:decimal', '"\u0665\u0660"^^xsd:decimal',
    '"\uff15\uff10"^^xsd:decimal', '"50.0"^^xsd:integer', '"5 0"^^xsd:int',
    '"50"^^<http://www.w3.org/1999/02/22-rdf-syntax-ns#HTML>', '"4_5"^^xsd:decimal',
    '"300"^^xsd:byte', '"50"^^xsd:negativeInteger', '"-50"^^xsd:unsignedInt',  # out of the type's range
])  # fmt: skip
def test_a_value_the_shapes_call_invalid_is_never_used(tmp_path, capsys, value):
    """The patient shapes accept xsd:decimal, integer, double and float in their own lexical forms; Python's
    Decimal reads far more (" 50 ", Arabic or full-width digits, "4_5"), which once decided the report."""
    without = _report(tmp_path, capsys, PATIENT, "without")
    got = _report(tmp_path, capsys, PATIENT + NEW_FERRITIN.format(value=value), "odd")
    assert _decisions(got) == _decisions(without)
    assert any(w["code"] == "patient-data-invalid" and "gkg:value" in w["message"] for w in got["warnings"])


@pytest.mark.parametrize("value", ["50", "50.0", '"5e1"^^xsd:double', '"+50"^^xsd:decimal', '"50"^^xsd:float',
                                   '"50"^^xsd:byte'])
def test_a_number_in_a_form_the_shapes_accept_is_used(tmp_path, capsys, value):
    got = _report(tmp_path, capsys, PATIENT + NEW_FERRITIN.format(value=value), "ok")
    assert RLS + "rec-fcm" not in {u["iri"] for u in got["undetermined"]}
    assert not [w for w in got["warnings"] if w["code"] == "patient-data-invalid"]


def test_a_birth_date_in_other_digits_is_not_after_the_as_of_date(tmp_path, capsys):
    """Found in a re-test: '\u0661\u0669\u0667\u0660-05-20'^^xsd:date in RDF input sorted after any ASCII date,
    and the report said the birth date was after the as-of date (the age stays unknown either way)."""
    text = PATIENT.replace('"1970-05-20"^^xsd:date', '"\u0661\u0669\u0667\u0660-05-20"^^xsd:date')
    got = _report(tmp_path, capsys, text, "arabic-birth")
    codes = {w["code"] for w in got["warnings"]}
    assert "birth-date-after-as-of" not in codes and "patient-data-invalid" in codes
