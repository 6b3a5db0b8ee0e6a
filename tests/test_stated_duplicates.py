"""Results at one instant that are equal in the canonical unit but compared differently (rules 30 and 31).

Found by an author (gout): urate 6.0 mg/dL and 356.88 umol/L at one instant are the same value in mg/dL, so they
were taken as duplicates and the one with the smaller id was used; but "< 6 mg/dL", also stated as "< 360 umol/L"
(gkg:alsoStatedAs), compares a umol/L result in umol/L, where 356.88 is below 360. Which recommendation was
made depended on an Observation id. They now differ: neither is used, the test is ordered, and the warning
shows both. Made-up content: the widget guideline, "< 42 mg/dL" also stated as "< 2.3 mmol/L"
(tests/fixtures/two-units/two-units.ttl; 2.3 mmol/L is 41.4368 mg/dL).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients import units
from guidelinekg.patients.model import GKG, RDF_TYPE, XSD, PatientData
from guidelinekg.report.patient import build_report

FIXTURES = Path(__file__).parent / "fixtures"
REC = "urn:example:madeup:rec-examplomab"
P = "<urn:example:Patient/u1>"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load([FIXTURES / "madeup" / "guideline.ttl", FIXTURES / "two-units" / "two-units.ttl"])


def _patient(kb, results: list[tuple[str, str, str]]) -> PatientData:
    lines = [f"{P} <{RDF_TYPE}> <{GKG}Patient> .", f'{P} <{GKG}birthDate> "1980-01-01"^^<{XSD}date> .',
             f"<urn:example:Condition/u1> <{RDF_TYPE}> <{GKG}Condition> .",
             f"<urn:example:Condition/u1> <{GKG}subject> {P} .",
             f"<urn:example:Condition/u1> <{GKG}conditionCode> <urn:example:madeup:code-widgetitis> ."]
    for name, value, unit in results:
        o = f"<urn:example:Observation/{name}>"
        lines += [f"{o} <{RDF_TYPE}> <{GKG}Observation> .", f"{o} <{GKG}subject> {P} .",
                  f"{o} <{GKG}observedMeasure> <urn:example:madeup:widget-level> .",
                  f'{o} <{GKG}value> "{value}"^^<{XSD}decimal> .', f'{o} <{GKG}unit> "{unit}" .',
                  f'{o} <{GKG}effectiveTime> "2026-01-02T09:00:00Z"^^<{XSD}dateTime> .']
    return units.normalise(PatientData.build("urn:example:Patient/u1", lines), kb.measures)


def _report(kb, data: PatientData, engine: str) -> dict:
    return build_report(evaluate(kb, [data], as_of=date(2026, 1, 5), engine=engine), data.patient_iri, kb.version())


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
@pytest.mark.parametrize("names", [("a", "b"), ("b", "a")])
def test_one_value_compared_in_two_units_is_not_a_duplicate(kb, engine, names):
    # 41.4368 mg/dL: below 42 (made); 2.3 mmol/L: the same value, not below 2.3 as published (not made)
    report = _report(kb, _patient(kb, [(names[0], "41.4368", "mg/dL"), (names[1], "2.3", "mmol/L")]), engine)
    assert [r["iri"] for r in report["undetermined"]] == [REC] and report["recommendations"] == []
    assert [o["loinc"] for o in report["orders"]] == ["99999-9"]
    [warning] = [w for w in report["warnings"] if w["code"] == "simultaneous-results-differ"]
    assert "41.4368 mg/dL (urn:example:Observation/" in warning["message"], warning["message"]
    assert "41.4368 mg/dL as 2.3 mmol/L (urn:example:Observation/" in warning["message"], warning["message"]


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
@pytest.mark.parametrize(("first", "second", "made"), [
    (("2.3", "mmol/L"), ("2.3", "mmol/l"), False),  # one stated unit however spelled: duplicates
    (("41.9", "mg/dL"), ("41.90", "mg/dL"), True),  # the canonical unit twice: duplicates
])  # fmt: skip
def test_equal_results_compared_alike_are_duplicates(kb, engine, first, second, made):
    report = _report(kb, _patient(kb, [("a", *first), ("b", *second)]), engine)
    assert ([r["iri"] for r in report["recommendations"]] == [REC]) is made
    assert report["undetermined"] == [] and report["orders"] == []
    assert not [w for w in report["warnings"] if w["code"] == "simultaneous-results-differ"]
