"""A made recommendation whose dose is decided by criteria that are unknown for the patient: the dose is not
stated, and what would decide it is asked for, as for an undetermined recommendation (rules 80 and 81).

Found by an author (apixaban 5 mg, or 2.5 mg with two of age >= 80, weight <= 60 kg, creatinine >= 1.5 mg/dL):
with no creatinine, apixaban was recommended with no dose and creatinine was not ordered ("not ordered for the
dose alone"), so the clinician was left to guess. Made-up content: tests/fixtures/missing/dosing.ttl beside
tests/fixtures/madeup/guideline.ttl.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.model import PatientData
from guidelinekg.report.patient import build_report
from test_reasoner import madeup_patient

FIXTURES = Path(__file__).parent / "fixtures"
NS = "urn:example:madeup:"
GIZMO = NS + "rec-gizmomab"


# one more dosing statement, 1 mg in women: the made-up patient has no recorded sex, which no test supplies
WOMEN = """@prefix gkg: <https://w3id.org/guidelinekg/ontology#> . @prefix ex: <urn:example:madeup:> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:dosing-women a gkg:DosingStatement ; rdfs:label "gizmomab 1 mg"@en ; gkg:inVersion ex:v1 ; gkg:section ex:sec ;
  gkg:order 12 ; gkg:sourceText "1 mg in women." ; gkg:dosingFor ex:int-gizmomab ;
  gkg:dose [ a gkg:Dose ; gkg:value 1.0 ; gkg:unit "mg" ] ; gkg:applicability ex:crit-woman ; gkg:citation ex:cit .
"""


def _kb(*extra: Path) -> KnowledgeBase:
    return KnowledgeBase.load([FIXTURES / "madeup" / "guideline.ttl", FIXTURES / "missing" / "dosing.ttl", *extra])


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return _kb()


def _report(kb, patient: PatientData, engine: str) -> dict:
    return build_report(evaluate(kb, [patient], as_of=date(2026, 1, 5), engine=engine), patient.patient_iri,
                        kb.version())


def _gizmo(report: dict) -> dict:
    [rec] = [r for r in report["recommendations"] if r["iri"] == GIZMO]
    return rec


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_an_unknown_dosing_criterion_orders_its_test_for_the_made_recommendation(kb, engine):
    report = _report(kb, madeup_patient(None), engine)
    rec = _gizmo(report)
    assert rec.get("dose") is None
    assert any("dose: not stated yet" in line and "are ordered" in line for line in rec["because"]), rec["because"]
    [order] = [o for o in report["orders"] if o["loinc"] == "99999-9"]
    assert GIZMO in order["needed_for"]  # besides rec-examplomab, undetermined on the same measure


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
@pytest.mark.parametrize(("value", "dose"), [("30", 2), ("50", 4)])
def test_a_known_dosing_criterion_gives_the_dose_and_orders_nothing_for_it(kb, engine, value, dose):
    report = _report(kb, madeup_patient(value), engine)
    assert _gizmo(report)["dose"] == {"value": dose, "unit": "mg"}
    assert all(GIZMO not in o["needed_for"] for o in report["orders"])
    # the dose line is followed by why its dosing statement applies: the measured value and its date
    because = _gizmo(report)["because"]
    at = because.index(f"dose: {dose} mg (gizmomab {dose} mg)")
    assert f"measured {value} " in " ".join(because[at + 1:]) and because[at + 1].startswith("  widget level")


def test_a_dosing_criterion_no_test_decides_gives_a_missing_data_warning(tmp_path):
    (tmp_path / "women.ttl").write_text(WOMEN, encoding="utf-8")
    report = _report(_kb(tmp_path / "women.ttl"), madeup_patient("50"), "oxigraph")
    assert _gizmo(report).get("dose") is None
    missing = [w for w in report["warnings"] if w["code"] == "missing-data"]
    assert any("'female'" in w["message"] for w in missing), report["warnings"]
    assert all(GIZMO not in o["needed_for"] for o in report["orders"])  # the widget level is known


def test_an_interventions_own_dose_needs_no_dosing_criterion(tmp_path):
    # examplomab has its own 7 mg: a dosing statement for it whose criterion is unknown asks for nothing
    (tmp_path / "women.ttl").write_text(WOMEN.replace("gizmomab", "examplomab"), encoding="utf-8")
    report = _report(_kb(tmp_path / "women.ttl"), madeup_patient("30"), "oxigraph")
    [rec] = [r for r in report["recommendations"] if r["iri"] == NS + "rec-examplomab"]
    assert rec["dose"] == {"value": 7, "unit": "mg"}
    assert not [w for w in report["warnings"] if w["code"] == "missing-data"], report["warnings"]


# --- only the tests that can decide ------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_a_test_under_a_member_already_decided_is_not_ordered(engine):
    """Found by an author (children's iron): with "Hb < 11 and (ferritin < 12 or (CRP > 5 and ferritin < 30))",
    ferritin 8 and no Hb, CRP was ordered with Hb, although the any-of was already true: rules 80 and 81 walked
    every unknown leaf under the statement, now only the unknown outcomes that keep it unknown (rule 54)."""
    kb = KnowledgeBase.load([FIXTURES / "madeup" / "guideline.ttl", FIXTURES / "missing" / "deciding.ttl"])
    report = _report(kb, madeup_patient(None), engine)  # widgetitis: the any-of is true; no widget, no gadget
    assert NS + "rec-deciding" in {u["iri"] for u in report["undetermined"]}
    assert {o["loinc"] for o in report["orders"]} == {"99999-9"}  # the widget level, not the gadget level


def test_a_dose_frequency_reaches_the_report_and_the_fhir_timing(tmp_path):
    """gkg:frequency on a dosing statement's gkg:Dose goes with that dose (it was silently dropped)."""
    from guidelinekg.report.fhirout import fhir_bundle

    text = (FIXTURES / "missing" / "dosing.ttl").read_text(encoding="utf-8").replace(
        'gkg:value 2.0 ; gkg:unit "mg" ]',
        'gkg:value 2.0 ; gkg:unit "mg" ; gkg:frequency "twice daily"@en , "zweimal täglich"@de ]')  # one, in English
    assert "twice daily" in text
    (tmp_path / "dosing.ttl").write_text(text, encoding="utf-8")
    kb = KnowledgeBase.load([FIXTURES / "madeup" / "guideline.ttl", tmp_path / "dosing.ttl"])
    patient = madeup_patient("30")  # a low widget level: the 2 mg statement applies
    report = build_report(evaluate(kb, [patient], as_of=date(2026, 1, 5)), patient.patient_iri, kb.version(),
                          facts=True)
    assert (_gizmo(report)["dose"], _gizmo(report)["frequency"]) == ({"value": 2, "unit": "mg"}, "twice daily")
    [request] = [e["resource"] for e in fhir_bundle([report])["entry"]
                 if e["resource"].get("instantiatesCanonical") == [GIZMO]]
    assert request["dosageInstruction"][0]["timing"] == {"code": {"text": "twice daily"}}
