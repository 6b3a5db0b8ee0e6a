"""Dates without a day in the rules that read a result's instant or day besides rules 10, 28 and 30 (found by a
reviewer): rule 13 (drawn on an exposure), 29 (one sample), 37 and 38 (results on separate days).

A result of "2026-01" starts at 2026-01-01T00:00: read as that instant, it was not drawn on an iron course
started on the 10th, two such results were "one sample", and it and a result of the 20th were "two days".
Inputs: tests/fixtures/partial-dates/review/ (FHIR, as the reviewer ran them) and the made-up guidelines.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.patients.model import GKG, RDF_TYPE, XSD, PatientData
from guidelinekg.report.patient import build_report

FIXTURES = Path(__file__).parent / "fixtures"
REVIEW = FIXTURES / "partial-dates" / "review"


def _report(kb: KnowledgeBase, patient: PatientData, as_of: date, engine: str = "oxigraph") -> dict:
    return build_report(evaluate(kb, [patient], as_of=as_of, engine=engine), patient.patient_iri, kb.version())


def _fhir(kb: KnowledgeBase, name: str) -> PatientData:
    return load_patient_input(REVIEW / name, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_a_draw_of_a_month_may_be_on_an_iron_course_started_in_it(engine):
    kb = KnowledgeBase.load()  # the shipped guideline: ferritin and TSAT of "2026-01", oral iron from the 10th
    report = _report(kb, _fhir(kb, "a-span-on-iron.json"), date(2026, 2, 15), engine)
    assert report["recommendations"] == [] and {o["loinc"] for o in report["orders"]} >= {"2276-4", "2502-3"}
    warned = [w["message"] for w in report["warnings"] if w["code"] == "lab-drawn-on-iron"]
    assert any("dated without a day, perhaps drawn" in m for m in warned), report["warnings"]


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_two_results_of_a_month_are_no_sample(engine, tmp_path):
    kb = KnowledgeBase.load([FIXTURES / "madeup" / "same-sample.ttl"])
    report = _report(kb, _fhir(kb, "b-same-sample.json"), date(2026, 2, 15), engine)
    assert "urn:example:sample:rec-record" not in {r["iri"] for r in report["recommendations"]}
    # the same two results of one instant are one sample, as before
    precise = tmp_path / "precise.json"
    precise.write_text((REVIEW / "b-same-sample.json").read_text().replace('"2026-01"', '"2026-01-20T08:00:00Z"'))
    report = _report(kb, load_patient_input(precise, matcher=kb.matcher, measures=kb.measures, reads=kb.reads),
                     date(2026, 2, 15), engine)
    assert "urn:example:sample:rec-record" in {r["iri"] for r in report["recommendations"]}


def _widgets(results: list[tuple[str, str, str | None]]) -> PatientData:
    p = "<urn:example:Patient/r1>"
    lines = [f"{p} <{RDF_TYPE}> <{GKG}Patient> .", f'{p} <{GKG}birthDate> "1980-01-01"^^<{XSD}date> .',
             f"<urn:example:Condition/c1> <{RDF_TYPE}> <{GKG}Condition> .",
             f"<urn:example:Condition/c1> <{GKG}subject> {p} .",
             f"<urn:example:Condition/c1> <{GKG}conditionCode> <urn:example:madeup:code-widgetitis> ."]
    for i, (value, when, end) in enumerate(results):
        o = f"<urn:example:Observation/o{i}>"
        lines += [f"{o} <{RDF_TYPE}> <{GKG}Observation> .", f"{o} <{GKG}subject> {p} .",
                  f"{o} <{GKG}observedMeasure> <urn:example:madeup:widget-level> .",
                  f'{o} <{GKG}normalizedValue> "{value}"^^<{XSD}decimal> .',
                  f'{o} <{GKG}effectiveTime> "{when}"^^<{XSD}dateTime> .']
        if end:
            lines.append(f'{o} <{GKG}effectiveSpanEnd> "{end}"^^<{XSD}dateTime> .')
    return PatientData.build("urn:example:Patient/r1", lines)


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
@pytest.mark.parametrize(("value", "rec"), [("40", "rec-confirmed"), ("60", "rec-high")])
def test_a_result_of_a_month_and_one_of_a_day_in_it_are_not_two_days(engine, value, rec):
    kb = KnowledgeBase.load([FIXTURES / "madeup" / "guideline.ttl", FIXTURES / "repeated" / "repeated.ttl"])
    month = (value, "2026-03-01T00:00:00", "2026-03-31T23:59:59")
    report = _report(kb, _widgets([month, (value, "2026-03-20T09:00:00Z", None)]), date(2026, 3, 31), engine)
    assert "urn:example:madeup:" + rec not in {r["iri"] for r in report["recommendations"]}
    # two results of separate days still count, as before
    days = [(value, "2026-03-10T09:00:00Z", None), (value, "2026-03-20T09:00:00Z", None)]
    report = _report(kb, _widgets(days), date(2026, 3, 31), engine)
    assert "urn:example:madeup:" + rec in {r["iri"] for r in report["recommendations"]}
