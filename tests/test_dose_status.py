"""A dose's own verification status reaches every rendering of the report (report/doses.py, report/doubts.py).

Found by a guideline author: a fixed dose marked ``gkg:verificationStatus gkg:ProjectAssumption`` (with a
``gkg:verificationNote``) was shown as a plain "dose 50 mg" beside a "strong" grade, in text, JSON and FHIR.
The status and note of the dose node now travel with the dose: the intervention's own ``gkg:dose``, a dosing
statement's fixed dose (several that agree: the least checked status), and a weight-based dose. A dose without
a status is unchanged, and a recommendation against gives neither dose nor its status. Made-up content:
tests/fixtures/dose-status/guideline.ttl.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.model import PatientData
from guidelinekg.report.fhirout import fhir_bundle
from guidelinekg.report.patient import build_report
from guidelinekg.report.views import render

FIXTURE = Path(__file__).parent / "fixtures" / "dose-status" / "guideline.ttl"
SCHEMA = json.loads((Path(__file__).parents[1] / "docs" / "recommend.schema.json").read_text(encoding="utf-8"))
EX = "urn:example:dosestatus:"
GKG = "https://w3id.org/guidelinekg/ontology#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
XSD = "http://www.w3.org/2001/XMLSchema#"
PATIENT = "urn:example:Patient/d1"
AS_OF = date(2026, 1, 15)
ASSUMED = "The source says 'a low dose' without a number; 7 mg is this encoding's choice."


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load([FIXTURE])


def _patient() -> PatientData:
    lines = [f"<{PATIENT}> <{RDF_TYPE}> <{GKG}Patient> .", f'<{PATIENT}> <{GKG}birthDate> "1980-01-01"^^<{XSD}date> .']
    day = (AS_OF - timedelta(days=3)).isoformat()
    for n, (measure, value) in enumerate((("widget-level", "30"), ("widget-weight", "70"))):
        o = f"<urn:example:Observation/{measure}-{n}>"
        lines += [f"{o} <{RDF_TYPE}> <{GKG}Observation> .", f"{o} <{GKG}subject> <{PATIENT}> .",
                  f"{o} <{GKG}observedMeasure> <{EX}{measure}> .",
                  f'{o} <{GKG}normalizedValue> "{value}"^^<{XSD}decimal> .',
                  f'{o} <{GKG}effectiveTime> "{day}T09:00:00Z"^^<{XSD}dateTime> .']
    return PatientData.build(PATIENT, lines)


def _report(kb: KnowledgeBase, engine: str = "oxigraph") -> dict:
    evaluation = evaluate(kb, [_patient()], as_of=AS_OF, engine=engine)
    return build_report(evaluation, PATIENT, kb.version(), facts=True)


@pytest.fixture(scope="module")
def report(kb) -> dict:
    return _report(kb)


def _rec(report: dict, name: str) -> dict:
    [rec] = [r for r in report["recommendations"] if r["iri"] == EX + name]
    return rec


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_the_interventions_own_dose_carries_its_status_and_note(kb, engine):
    dose = _rec(_report(kb, engine), "rec-alpha")["dose"]
    assert dose["value"] == 7 and dose["unit"] == "mg"
    assert dose["verification"] == {"iri": GKG + "ProjectAssumption", "status": "ASSUMPTION",
                                    "label": "project assumption", "note": ASSUMED}


def test_agreeing_dosing_statements_give_the_least_checked_status(report):
    dose = _rec(report, "rec-beta")["dose"]
    assert (dose["value"], dose["unit"]) == (2, "mg")
    assert dose["verification"]["status"] == "UNVERIFIED"  # not PRIMARY: one of the two was not checked
    assert dose["verification"]["note"] == "Not found in the product information."


def test_a_weight_based_dose_carries_its_status(report):
    dose = _rec(report, "rec-gamma")["dose"]
    assert (dose["value"], dose["unit"]) == (35, "mg")  # 0.5 mg/kg x 70 kg
    assert dose["verification"]["status"] == "SECONDARY"
    assert dose["verification"]["note"] == "Seen in a review only."


def test_a_dose_without_a_status_is_unchanged(report):
    assert _rec(report, "rec-delta")["dose"] == {"value": 5, "unit": "mg"}


def test_each_dose_follows_the_schema(report):
    jsonschema = pytest.importorskip("jsonschema")
    dose = SCHEMA["properties"]["recommendations"]["items"]["properties"]["dose"]
    validator = jsonschema.Draft202012Validator({"$defs": SCHEMA["$defs"], **dose})
    for rec in report["recommendations"]:
        validator.validate(json.loads(json.dumps(rec["dose"])))
    with pytest.raises(jsonschema.ValidationError):  # the status is the documented object, nothing else
        validator.validate({"value": 7, "unit": "mg", "verification": "ASSUMPTION"})


@pytest.mark.parametrize("markdown", [False, True])
def test_text_and_markdown_show_the_status_beside_the_dose_and_the_note_under_it(report, markdown):
    out = render(report, markdown=markdown)
    [alpha] = [line for line in out.splitlines() if "alphamab for a low widget level" in line]
    assert "dose 7 mg (project assumption), oral: strong recommendation" in alpha
    assert f"dose 7 mg: project assumption (ASSUMPTION) — {ASSUMED}" in out
    [beta] = [line for line in out.splitlines() if "betamab for everyone" in line]
    assert "dose 2 mg (unverified)" in beta
    [gamma] = [line for line in out.splitlines() if "gammamab for everyone" in line]
    assert "dose 35 mg (seen in secondary sources only), intravenous" in gamma
    assert "dose 35 mg: seen in secondary sources only (SECONDARY) — Seen in a review only." in out
    [delta] = [line for line in out.splitlines() if "deltamab for everyone" in line]
    assert "dose 5 mg, oral" in delta  # no status recorded: nothing added
    assert "Assumed epsilomab amount." not in out and "dose 3 mg" not in out  # against: no dose given


def _requests(report: dict) -> dict[str, dict]:
    bundle = fhir_bundle([report])
    return {r["instantiatesCanonical"][0]: r for e in bundle["entry"] if (r := e["resource"])["resourceType"]
            == "MedicationRequest" and r.get("instantiatesCanonical")}


def test_fhir_medication_request_says_the_status_in_its_dosage_and_a_note(report):
    requests = _requests(report)
    alpha = requests[EX + "rec-alpha"]
    [dosage] = alpha["dosageInstruction"]
    assert dosage["text"].startswith("7 mg (project assumption)")
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 7
    assert {"text": f"Dose 7 mg: project assumption (ASSUMPTION) — {ASSUMED}"} in alpha["note"]
    gamma = requests[EX + "rec-gamma"]
    assert any(n["text"].startswith("Dose 35 mg: ") and "Seen in a review only." in n["text"] for n in gamma["note"])
    delta = requests[EX + "rec-delta"]
    assert not any(n["text"].startswith("Dose ") for n in delta.get("note", []))
    epsilon = requests[EX + "rec-epsilon"]  # against: no dosage, no dose status
    assert "dosageInstruction" not in epsilon
    assert not any("epsilomab amount" in n["text"] for n in epsilon.get("note", []))
