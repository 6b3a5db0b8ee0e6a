"""Criteria on several results (rules 37, 38): gkg:RepeatedThreshold, the same test abnormal on two different
days, and gkg:AverageThreshold, the mean of
readings over several occasions. Three-valued: one abnormal result awaits confirmation (unknown, test
ordered), readings on too few days are unknown, a censored reading cannot be averaged. Made-up content:
tests/fixtures/repeated/repeated.ttl beside tests/fixtures/madeup/guideline.ttl."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.model import PatientData
from guidelinekg.report.patient import build_report
from test_reasoner import GKG, RDF_TYPE

FIXTURES = Path(__file__).parent / "fixtures"
NS = "urn:example:madeup:"
XSD = "http://www.w3.org/2001/XMLSchema#"
AS_OF = date(2026, 3, 31)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load([FIXTURES / "madeup" / "guideline.ttl", FIXTURES / "repeated" / "repeated.ttl"])


def patient(*results: tuple[str, str] | tuple[str, str, str]) -> PatientData:
    """Widget levels as (value, ISO instant[, censoring comparator IRI])."""
    p = "<urn:example:Patient/r1>"
    lines = [f"{p} <{RDF_TYPE}> <{GKG}Patient> .", f'{p} <{GKG}birthDate> "1980-01-01"^^<{XSD}date> .',
             f"<urn:example:Condition/c1> <{RDF_TYPE}> <{GKG}Condition> .",
             f"<urn:example:Condition/c1> <{GKG}subject> {p} .",
             f"<urn:example:Condition/c1> <{GKG}conditionCode> <urn:example:madeup:code-widgetitis> ."]
    for i, (value, when, *censor) in enumerate(results):
        o = f"<urn:example:Observation/o{i}>"
        lines += [f"{o} <{RDF_TYPE}> <{GKG}Observation> .", f"{o} <{GKG}subject> {p} .",
                  f"{o} <{GKG}observedMeasure> <urn:example:madeup:widget-level> .",
                  f'{o} <{GKG}normalizedValue> "{value}"^^<{XSD}decimal> .',
                  f'{o} <{GKG}effectiveTime> "{when}"^^<{XSD}dateTime> .']
        lines += [f"{o} <{GKG}valueComparator> <{censor[0]}> ."] if censor else []
    return PatientData.build("urn:example:Patient/r1", lines)


def _report(kb, data: PatientData, engine: str) -> dict:
    return build_report(evaluate(kb, [data], as_of=AS_OF, engine=engine), data.patient_iri, kb.version())


def _status(report: dict, name: str) -> str:
    for status in ("recommendations", "undetermined", "not_recommended"):
        if NS + name in {r["iri"] for r in report[status]}:
            return status
    return "not applicable"


ENGINES = ["oxigraph", "rdflib"]


REPEATED = [
    ([("30", "2026-03-01T09:00:00Z"), ("35", "2026-03-20T09:00:00Z")], "recommendations"),  # two days low
    ([("30", "2026-03-20T09:00:00Z")], "undetermined"),  # one low result: awaits confirmation
    ([("30", "2026-03-20T08:00:00Z"), ("31", "2026-03-20T18:00:00Z")], "undetermined"),  # same day: one
    ([("30", "2026-03-01T09:00:00Z"), ("60", "2026-03-20T09:00:00Z")], "not applicable"),  # not confirmed
    ([("60", "2026-03-01T09:00:00Z"), ("30", "2026-03-20T09:00:00Z")], "undetermined"),  # awaits confirmation
    ([("60", "2026-03-01T09:00:00Z"), ("70", "2026-03-20T09:00:00Z")], "not applicable"),  # none low: false
    ([], "undetermined"),  # nothing at all
    ([("30", "2026-03-01T09:00:00Z"), ("10", "2026-03-20T09:00:00Z", GKG + "LessThan")], "undetermined"),
]


# every case on the default engine, every other on rdflib too (an rdflib evaluation takes seconds)
@pytest.mark.parametrize(("results", "expected", "engine"),
                         [(*c, "oxigraph") for c in REPEATED] + [(*c, "rdflib") for c in REPEATED[::2]])
def test_repeated_threshold(kb, engine, results, expected):
    report = _report(kb, patient(*results), engine)
    assert _status(report, "rec-confirmed") == expected
    if expected == "undetermined":
        assert "99999-9" in {o["loinc"] for o in report["orders"]}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("results", "expected"), [
    ([("40", "2026-03-10T09:00:00Z"), ("60", "2026-03-20T09:00:00Z"), ("56", "2026-03-20T10:00:00Z")],
     "recommendations"),  # mean 52 on two days
    ([("40", "2026-03-10T09:00:00Z"), ("58", "2026-03-20T09:00:00Z")], "not applicable"),  # mean 49
    ([("60", "2026-03-20T09:00:00Z"), ("70", "2026-03-20T10:00:00Z")], "undetermined"),  # one day only
    ([("90", "2026-01-10T09:00:00Z"), ("60", "2026-03-20T09:00:00Z")], "undetermined"),  # one is too old
    ([("60", "2026-03-10T09:00:00Z"), ("60", "2026-03-20T09:00:00Z", GKG + "GreaterThan")], "undetermined"),
])
def test_average_threshold(kb, engine, results, expected):
    report = _report(kb, patient(*results), engine)
    assert _status(report, "rec-high") == expected


@pytest.mark.parametrize("engine", ENGINES)
def test_the_explanation_says_what_was_counted(kb, engine):
    report = _report(kb, patient(("40", "2026-03-10T09:00:00Z"), ("60", "2026-03-20T09:00:00Z"),
                                 ("56", "2026-03-20T10:00:00Z")), engine)
    [high] = [r for r in report["recommendations"] if r["iri"] == NS + "rec-high"]
    assert any("mean of 3 reading(s) on 2 day(s): 52" in line for line in high["because"]), high["because"]
    one = _report(kb, patient(("30", "2026-03-20T09:00:00Z")), engine)
    [confirmed] = [u for u in one["undetermined"] if u["iri"] == NS + "rec-confirmed"]
    assert any("results on 1 of 1 day(s) meet it; 2 day(s) needed: awaiting confirmation" in line
               for line in confirmed["because"]), confirmed["because"]


def test_an_untyped_criterion_with_a_count_is_still_decided(tmp_path):
    """A gkg:LabThreshold that carries gkg:minimumResults (the shapes refuse it) is decided as a threshold on
    the latest result, never left without an outcome (its statement would drop out of the report)."""
    extra = tmp_path / "untyped.ttl"
    extra.write_text("@prefix gkg: <https://w3id.org/guidelinekg/ontology#> .\n@prefix ex: <urn:example:madeup:> .\n"
                     "ex:crit-low-widget gkg:minimumResults 2 .\n", encoding="utf-8")
    kb = KnowledgeBase.load([FIXTURES / "madeup" / "guideline.ttl", extra])
    report = _report(kb, patient(), "oxigraph")
    assert NS + "rec-examplomab" in {u["iri"] for u in report["undetermined"]}


@pytest.mark.parametrize("engine", ENGINES)
def test_zero_days_needed_is_not_true_without_data(tmp_path, engine):
    extra = tmp_path / "zero.ttl"
    extra.write_text("@prefix gkg: <https://w3id.org/guidelinekg/ontology#> .\n@prefix ex: <urn:example:madeup:> .\n"
                     "ex:crit-low-twice gkg:minimumResults 0 . ex:crit-mean-high gkg:minimumOccasions 0 .\n",
                     encoding="utf-8")
    kb = KnowledgeBase.load([FIXTURES / "madeup" / "guideline.ttl", FIXTURES / "repeated" / "repeated.ttl", extra])
    report = _report(kb, patient(), engine)
    assert _status(report, "rec-confirmed") == "undetermined" and _status(report, "rec-high") == "undetermined"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_preliminary_reading_under_a_decided_average_is_warned(kb, engine):
    data = patient(("40", "2026-03-10T09:00:00Z"), ("60", "2026-03-20T09:00:00Z"), ("56", "2026-03-20T10:00:00Z"))
    lines = list(data.ntriples) + ['<urn:example:Observation/o2> <https://w3id.org/guidelinekg/ontology#resultStatus> '
                                   '"preliminary" .']
    report = _report(kb, PatientData.build(data.patient_iri, lines), engine)
    assert _status(report, "rec-high") == "recommendations"
    assert [w["code"] for w in report["warnings"]].count("preliminary-result") == 1, report["warnings"]
