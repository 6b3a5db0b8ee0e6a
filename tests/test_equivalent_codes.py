"""Equivalent codes (gkg:equivalentMeasure) declared in any direction, and the as-of day boundary.

The docs call gkg:equivalentMeasure symmetric and transitive, so an author may declare it from the primary
code to its aliases, from the aliases to the primary, or both ways (a cycle). Whichever way, a future,
implausible or simultaneous-and-different result must be excluded with exactly one warning naming one code:
a cycle once left no code to name, so the exclusions (and their warnings) were silently dropped and the
excluded value decided. Also here: "after the as-of date" compares calendar dates as recorded, as every
date the report shows does; and a result without a date may be newer than every dated one, so none is the
latest (the test is ordered, never decided on an older result).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.report.patient import build_report

MADEUP = Path(__file__).parent / "fixtures" / "madeup" / "guideline.ttl"
PRIMARY, ALIAS = "99999-9", "99998-1"
AS_OF = date(2026, 1, 15)
REC = "urn:example:madeup:rec-examplomab"
LINKS = {
    "outward": "loinc:99999-9 gkg:equivalentMeasure loinc:99998-1 .",
    "inward": "loinc:99998-1 gkg:equivalentMeasure loinc:99999-9 .",
    "cycle": "loinc:99999-9 gkg:equivalentMeasure loinc:99998-1 . loinc:99998-1 gkg:equivalentMeasure loinc:99999-9 .",
}


def kb_with(tmp_path: Path, links: str) -> KnowledgeBase:
    """The made-up guideline with its widget level named by its LOINC IRI (as FHIR results are mapped), a
    plausible maximum on it, and a second code for it linked by ``links``."""
    guideline = tmp_path / "guideline.ttl"
    guideline.write_text(MADEUP.read_text(encoding="utf-8").replace("ex:widget-level", "<https://loinc.org/99999-9>"),
                         encoding="utf-8")
    extra = tmp_path / "alias.ttl"
    extra.write_text(f"""@prefix gkg: <https://w3id.org/guidelinekg/ontology#> .
@prefix ex: <urn:example:madeup:> .
@prefix loinc: <https://loinc.org/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
loinc:99999-9 gkg:plausibleMax 1000.0 .
loinc:99998-1 a gkg:Measure ; rdfs:label "widget level (second code)"@en ; gkg:loincCode "99998-1" ;
    gkg:canonicalUnit "mg/dL" .
{links}
""", encoding="utf-8")
    return KnowledgeBase.load([guideline, extra])


def widget(n: int, code: str, value: float, when: str) -> dict:
    return {"resource": {"resourceType": "Observation", "id": f"w{n}", "status": "final",
                         "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                         "subject": {"reference": "Patient/p1"}, "effectiveDateTime": when,
                         "valueQuantity": {"value": value, "unit": "mg/dL", "system": "http://unitsofmeasure.org",
                                           "code": "mg/dL"}}}


def report(kb: KnowledgeBase, tmp_path: Path, *results: dict, engine: str = "oxigraph") -> dict:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "birthDate": "1980-01-01"}},
        {"resource": {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
                      "clinicalStatus": {"coding": [{"code": "active"}]},
                      "code": {"coding": [{"system": "http://snomed.info/sct", "code": "999999999"}]}}},
        *results]}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    return build_report(evaluate(kb, [patient], as_of=AS_OF, engine=engine), patient.patient_iri, kb.version())


def codes(rep: dict, code: str) -> list[str]:
    return [w["message"] for w in rep["warnings"] if w["code"] == code]


def made(rep: dict) -> bool:
    return REC in {r["iri"] for r in rep["recommendations"]}


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
@pytest.mark.parametrize("direction", sorted(LINKS))
def test_future_result_of_an_alias_code_is_excluded_once(tmp_path, direction, engine):
    kb = kb_with(tmp_path, LINKS[direction])
    rep = report(kb, tmp_path, widget(1, PRIMARY, 30, "2026-01-02"), widget(2, ALIAS, 80, "2026-02-01"),
                 engine=engine)
    assert made(rep), rep["warnings"]  # 30 < 42 decides; the result of 2026-02-01 is not used
    assert len(codes(rep, "future-result")) == 1


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
@pytest.mark.parametrize("direction", sorted(LINKS))
def test_implausible_result_is_excluded_once_whichever_code_holds_the_range(tmp_path, direction, engine):
    kb = kb_with(tmp_path, LINKS[direction])
    rep = report(kb, tmp_path, widget(1, PRIMARY, 30, "2026-01-02"), widget(2, ALIAS, 5000, "2025-12-20"),
                 engine=engine)
    assert made(rep), rep["warnings"]  # an older implausible result is superseded by the 30
    assert len(codes(rep, "implausible-value")) == 1
    # newer than the 30, it leaves the widget level unknown (rule 21): one warning for the one result
    rep = report(kb, tmp_path, widget(1, PRIMARY, 30, "2026-01-02"), widget(2, ALIAS, 5000, "2026-01-10"),
                 engine=engine)
    assert not made(rep), rep["warnings"]
    assert len(codes(rep, "implausible-value")) == 1
    assert len(codes(rep, "newer-result-unusable")) == 1


@pytest.mark.parametrize("direction", sorted(LINKS))
def test_simultaneous_different_results_warned_once(tmp_path, direction):
    kb = kb_with(tmp_path, LINKS[direction])
    rep = report(kb, tmp_path, widget(1, PRIMARY, 30, "2026-01-10T09:00:00Z"),
                 widget(2, ALIAS, 50, "2026-01-10T09:00:00Z"))
    assert not made(rep)
    assert len(codes(rep, "simultaneous-results-differ")) == 1
    assert [o["loinc"] for o in rep["orders"]] == [PRIMARY]
    # the explanation says why the criterion is unknown: the results differ (not "no usable result")
    [item] = rep["undetermined"]
    assert "differ: 30 mg/dL" in item["because"][0] and "no usable result" not in item["because"][0]


@pytest.mark.parametrize("direction", sorted(LINKS))
def test_the_warning_names_the_code_the_guideline_uses_whichever_way_the_links_point(tmp_path, direction):
    """Two results of the primary code (the one the threshold is written in) that differ are named by it, never
    by an alias the guideline only declares equivalent: links from an alias to the primary (as the authoring
    guide's example declares them) named two CKD-EPI eGFRs 'eGFR (MDRD)'."""
    kb = kb_with(tmp_path, LINKS[direction])
    rep = report(kb, tmp_path, widget(1, PRIMARY, 30, "2026-01-10T09:00:00Z"),
                 widget(2, PRIMARY, 50, "2026-01-10T09:00:00Z"))
    [message] = codes(rep, "simultaneous-results-differ")
    assert message.startswith("widget level results at ") and "second code" not in message


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
@pytest.mark.parametrize(("when", "used"), [
    ("2026-01-15T20:00:00-05:00", True),   # the as-of date where it was drawn (01:00 UTC the next day)
    ("2026-01-16T00:30:00+01:00", False),  # the next day where it was drawn (23:30 UTC on the as-of date)
    ("2026-01-15", True),
    ("2026-01-16", False),
])
def test_after_the_as_of_date_compares_dates_as_recorded(tmp_path, when, used, engine):
    kb = kb_with(tmp_path, "")
    rep = report(kb, tmp_path, widget(1, PRIMARY, 30, when), engine=engine)
    assert made(rep) is used
    assert len(codes(rep, "future-result")) == (0 if used else 1)


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
@pytest.mark.parametrize("links", ["", LINKS["cycle"]])
def test_a_result_without_a_date_leaves_the_measure_unknown(tmp_path, engine, links):
    kb = kb_with(tmp_path, links)
    undated = widget(2, ALIAS if links else PRIMARY, 30, "2026-01-10")
    del undated["resource"]["effectiveDateTime"]
    undated["resource"]["issued"] = "2026-01-12T10:00:00Z"
    rep = report(kb, tmp_path, widget(1, PRIMARY, 50, "2026-01-02"), undated, engine=engine)
    assert not made(rep) and REC in {r["iri"] for r in rep["undetermined"]}
    assert [o["loinc"] for o in rep["orders"]] == [PRIMARY]
    [message] = codes(rep, "undated-result")
    assert "Observation/w2" in message and message.endswith("so none is used as the latest.")
    assert "repeat" not in message  # what the data lack; the order says what to do
    # without the undated result, the dated 50 (not < 42) decides: the recommendation is not made, no order
    dated = report(kb, tmp_path, widget(1, PRIMARY, 50, "2026-01-02"), engine=engine)
    assert dated["orders"] == [] and not codes(dated, "undated-result")
