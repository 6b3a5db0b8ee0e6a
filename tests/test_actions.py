"""Interventions that are not medicines: a test order, a referral, a diagnosis to record, advice.

They are first-class kinds (gkg:TestOrder, gkg:Referral, gkg:DiagnosisRecord, gkg:Advice, gkg:Procedure, all
gkg:NonMedicationIntervention): made like any recommendation, reported with their kind and codes (a test
order's LOINC code), never dosed or matched against medications, and restricted by a not-indicated
statement about the same intervention (rule 05). Made-up content: tests/fixtures/actions/actions.ttl.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from guidelinekg.checks.validate import validate
from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.report.patient import build_report
from guidelinekg.report.views import render
from test_reasoner import madeup_patient

FIXTURES = Path(__file__).parent / "fixtures"
CONTENT = [FIXTURES / "madeup" / "guideline.ttl", FIXTURES / "actions" / "actions.ttl"]
NS = "urn:example:madeup:"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load(CONTENT)


def _report(kb, value, engine="oxigraph"):
    evaluation = evaluate(kb, [madeup_patient(value)], as_of=date(2026, 1, 5), engine=engine)
    return build_report(evaluation, "urn:example:Patient/w1", kb.version())


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_actions_are_made_with_their_kind_and_codes(kb, engine):
    report = _report(kb, "30", engine)
    made = {r["iri"].removeprefix(NS): r for r in report["recommendations"]}
    assert set(made) == {"rec-examplomab", "rec-order-gizmo", "rec-refer", "rec-record", "rec-advice"}
    kinds = {name: r["intervention"]["kind"] for name, r in made.items()}
    assert kinds == {"rec-examplomab": "medication", "rec-order-gizmo": "test", "rec-refer": "referral",
                     "rec-record": "diagnosis", "rec-advice": "advice"}
    assert made["rec-order-gizmo"]["intervention"]["codes"] == [
        {"system": "http://loinc.org", "code": "99998-1", "status": "UNVERIFIED"}]
    assert made["rec-refer"]["intervention"]["codes"] == [
        {"system": "http://snomed.info/sct", "code": "999999998", "status": "UNVERIFIED"}]
    assert [c["code"] for c in made["rec-record"]["intervention"]["codes"]] == ["999999999"]
    assert made["rec-advice"]["intervention"]["codes"] == []
    assert all(made[n]["dose"] is None for n in kinds if n != "rec-examplomab")
    text = render(report)
    assert "[referral]" in text and "[test]" in text and "[diagnosis]" in text and "[advice]" in text
    assert "[medication]" not in text
    # a diagnosis to record is a finding, listed before what to do
    findings, recommended = text.index("Findings to record"), text.index("Recommended")
    assert findings < text.index("widget deficiency below 42") < recommended < text.index("referral for low")


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_a_not_indicated_statement_restricts_the_same_action(kb, engine):
    report = _report(kb, "5", engine)
    made = {r["iri"].removeprefix(NS) for r in report["recommendations"]}
    assert "rec-advice" not in made and {"rec-refer", "rec-record"} <= made
    [restricted] = report["not_recommended"]
    assert restricted["iri"] == NS + "rec-advice" and restricted["suppressed_by"] == [NS + "ni-advice"]


def test_missing_data_orders_the_test_the_actions_need(kb):
    report = _report(kb, None)
    assert not report["recommendations"]
    assert {u["iri"].removeprefix(NS) for u in report["undetermined"]} >= {"rec-refer", "rec-record"}
    assert [o["loinc"] for o in report["orders"]] == ["99999-9"]


def _shape_errors(tmp_path: Path, extra: str) -> list[dict]:
    path = tmp_path / "extra.ttl"
    path.write_text("@prefix gkg: <https://w3id.org/guidelinekg/ontology#> .\n@prefix ex: <urn:example:madeup:> .\n"
                    "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n" + extra, encoding="utf-8")
    report = validate([*CONTENT, path], owl=False)
    return [f for f in report["findings"] if f["kind"] == "shacl" and f["file"].endswith("extra.ttl")]


def test_shapes_say_what_an_action_needs(tmp_path):
    assert _shape_errors(tmp_path, 'ex:x a gkg:Referral ; rdfs:label "refer"@en .\n') == []
    # a test order without its test
    [error] = _shape_errors(tmp_path, 'ex:x a gkg:TestOrder ; rdfs:label "order"@en .\n')
    assert "gkg:ordersMeasure" in error["message"]
    # neither a medicine nor a kind of action; or both
    for extra in ('ex:x a gkg:Intervention ; rdfs:label "something"@en .\n',
                  'ex:x a gkg:Advice ; rdfs:label "advice"@en ; gkg:substance ex:examplomab .\n'):
        errors = _shape_errors(tmp_path, extra)
        assert any("gkg:DiagnosisRecord" in e["message"] for e in errors), (extra, errors)


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_a_restriction_on_another_order_of_the_same_test_applies(tmp_path, engine):
    """Rule 05 matches test orders by the test they order, not only by node."""
    extra = tmp_path / "ni.ttl"
    extra.write_text("""@prefix gkg: <https://w3id.org/guidelinekg/ontology#> .
@prefix ex: <urn:example:madeup:> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:int-gizmo-again a gkg:TestOrder ; rdfs:label "gizmo level"@en ; gkg:ordersMeasure ex:gizmo-level .
ex:ni-gizmo a gkg:NotIndicatedStatement ; rdfs:label "no gizmo below 10"@en ;
    gkg:inVersion ex:v1 ; gkg:section ex:sec ; gkg:order 9 ; gkg:sourceText "No gizmo below 10." ;
    gkg:notIndicatedIntervention ex:int-gizmo-again ; gkg:applicability ex:crit-very-low-widget ;
    gkg:reason "not below 10" ; gkg:citation ex:cit .
""", encoding="utf-8")
    kb = KnowledgeBase.load([*CONTENT, extra])
    report = _report(kb, "5", engine)
    assert NS + "rec-order-gizmo" in {n["iri"] for n in report["not_recommended"]}
    assert NS + "rec-order-gizmo" in {r["iri"] for r in _report(kb, "30", engine)["recommendations"]}


# Monitoring follows treatment (rule 84): a recommendation against the treatment, a test to order, a
# referral, a diagnosis to record start none; a made recommendation for a medicine (or advice) does.
MONITORING_TTL = """
@prefix gkg:  <https://w3id.org/guidelinekg/ontology#> .
@prefix ex:   <urn:example:madeup:> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:crit-high-widget a gkg:LabThreshold ; rdfs:label "widget level >=42 mg/dL"@en ;
    gkg:onMeasure ex:widget-level ; gkg:comparator gkg:GreaterOrEqual ; gkg:thresholdValue 42.0 ;
    gkg:thresholdUnit "mg/dL" .
ex:rec-against-examplomab a gkg:Recommendation ; rdfs:label "no examplomab for a normal widget level"@en ;
    gkg:inVersion ex:v1 ; gkg:section ex:sec ; gkg:order 7 ; gkg:sourceText "Do not give examplomab." ;
    gkg:direction gkg:Against ; gkg:gradingNotStated "made up" ; gkg:intervention ex:int-examplomab ;
    gkg:applicability ex:crit-high-widget ; gkg:citation ex:cit .
ex:rec-gizmo-high a gkg:Recommendation ; rdfs:label "gizmo level for a normal widget level"@en ;
    gkg:inVersion ex:v1 ; gkg:section ex:sec ; gkg:order 8 ; gkg:sourceText "Order a gizmo level." ;
    gkg:direction gkg:For ; gkg:gradingNotStated "made up" ; gkg:intervention ex:int-order-gizmo ;
    gkg:applicability ex:crit-high-widget ; gkg:citation ex:cit .
ex:rec-refer-high a gkg:Recommendation ; rdfs:label "referral for a normal widget level"@en ;
    gkg:inVersion ex:v1 ; gkg:section ex:sec ; gkg:order 9 ; gkg:sourceText "Refer." ;
    gkg:direction gkg:For ; gkg:gradingNotStated "made up" ; gkg:intervention ex:int-refer ;
    gkg:applicability ex:crit-high-widget ; gkg:citation ex:cit .
ex:crit-every-patient a gkg:Always ; rdfs:label "every treated patient"@en .
ex:mon-widget a gkg:MonitoringAction ; rdfs:label "widget level every month"@en ;
    gkg:inVersion ex:v1 ; gkg:section ex:sec ; gkg:order 10 ; gkg:sourceText "Check the widget level monthly." ;
    gkg:monitors ex:widget-level ; gkg:applicability ex:crit-every-patient ; gkg:citation ex:cit .
"""


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_monitoring_follows_a_treatment_not_a_recommendation_against_or_a_test(tmp_path, engine):
    (tmp_path / "monitoring.ttl").write_text(MONITORING_TTL, encoding="utf-8")
    kb = KnowledgeBase.load([*CONTENT, tmp_path / "monitoring.ttl"])
    untreated, treated = (build_report(evaluate(kb, [madeup_patient(v)], as_of=date(2026, 1, 5), engine=engine),
                                       "urn:example:Patient/w1", kb.version()) for v in ("50", "30"))
    made = {r["iri"].removeprefix(NS): r["direction"] for r in untreated["recommendations"]}
    assert made == {"rec-against-examplomab": "against", "rec-gizmo-high": "for", "rec-refer-high": "for"}
    assert untreated["monitoring"] == []
    assert "rec-examplomab" in {r["iri"].removeprefix(NS) for r in treated["recommendations"]}
    assert [m["iri"].removeprefix(NS) for m in treated["monitoring"]] == ["mon-widget"]


COVERAGE_TTL = """
@prefix gkg:  <https://w3id.org/guidelinekg/ontology#> .
@prefix ex:   <urn:example:madeup:> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:crit-adult a gkg:AgeCriterion ; rdfs:label "adult (age >=18 years)"@en ;
    gkg:comparator gkg:GreaterOrEqual ; gkg:thresholdValue 18 ; gkg:thresholdUnit "a" .
"""


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
@pytest.mark.parametrize(("birth", "says"), [
    (None, "the patient's age on the as-of date is unknown (no usable birth date"),
    ("2015-01-01", "the patient's age on the as-of date is outside it"),
])  # fmt: skip
def test_not_covered_by_age_says_so_not_a_diagnosis(tmp_path, engine, birth, says):
    """The coverage warning is worded for the kind of criterion: an age is no diagnosis."""
    (tmp_path / "coverage.ttl").write_text(COVERAGE_TTL, encoding="utf-8")
    madeup = CONTENT[0].read_text(encoding="utf-8")
    assert "gkg:coversCondition ex:crit-widgetitis" in madeup
    (tmp_path / "guideline.ttl").write_text(
        madeup.replace("gkg:coversCondition ex:crit-widgetitis", "gkg:coversCondition ex:crit-adult"), encoding="utf-8")
    kb = KnowledgeBase.load([tmp_path / "guideline.ttl", *CONTENT[1:], tmp_path / "coverage.ttl"])
    patient = madeup_patient("30")
    lines = [line for line in patient.ntriples if "#birthDate>" not in line]
    if birth:
        lines.append(f'<urn:example:Patient/w1> <https://w3id.org/guidelinekg/ontology#birthDate> '
                     f'"{birth}"^^<http://www.w3.org/2001/XMLSchema#date> .')
    patient = type(patient).build("urn:example:Patient/w1", [line.removesuffix("\n") for line in lines])
    report = build_report(evaluate(kb, [patient], as_of=date(2026, 1, 5), engine=engine),
                          "urn:example:Patient/w1", kb.version())
    assert not report["applicable"] and report["recommendations"] == []
    message = next(w["message"] for w in report["warnings"] if w["code"] == "guideline-not-applicable")
    assert "applies only to patients who meet 'adult (age >=18 years)'" in message and says in message
    assert "diagnosis" not in message
    # the report and its text tell "unknown" from "does not apply"
    assert report["applicability"] == ("unknown" if birth is None else "false")
    assert ("is not known yet" in render(report)) is (birth is None)
    assert ("does not apply to this patient" in render(report)) is (birth is not None)
