"""How old a result may be to count (issue #15): result age limits are guideline data.

A made-up guideline (tests/fixtures/madeup/result-age.ttl) has a measure-level limit (widget level 30 days,
widget weight 90 days), criteria with limits of their own (400 days: longer than the measure's; 7 days:
shorter) and a measure without a limit. The RLS vignettes 130-136 (tests/cases) pin the shipped limits;
here the explanation of those reports is checked too: every fact used shows its date.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.patients.model import PatientData
from guidelinekg.report.patient import build_report
from guidelinekg.report.views import render
from vignettes import load_vignettes

FIXTURE = Path(__file__).parent / "fixtures" / "madeup" / "result-age.ttl"
GKG = "https://w3id.org/guidelinekg/ontology#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
XSD = "http://www.w3.org/2001/XMLSchema#"
EX = "urn:example:age:"
PATIENT = "urn:example:Patient/a1"
AS_OF = date(2026, 3, 1)
ENGINES = ["oxigraph", "rdflib"]
WIDGET, WEIGHT, GADGET = "99999-9", "99998-1", "99997-3"


@pytest.fixture(scope="module")
def age_kb() -> KnowledgeBase:
    return KnowledgeBase.load([FIXTURE])


def patient(*results: tuple[str, str, int]) -> PatientData:
    """A patient with (measure local name, value, age in days on AS_OF) results, drawn at 09:00 +01:00."""
    lines = [f"<{PATIENT}> <{RDF_TYPE}> <{GKG}Patient> .",
             f'<{PATIENT}> <{GKG}birthDate> "1980-01-01"^^<{XSD}date> .']
    for n, (measure, value, age) in enumerate(results):
        o = f"<urn:example:Observation/{measure}-{n}>"
        day = (AS_OF - timedelta(days=age)).isoformat()
        lines += [f"{o} <{RDF_TYPE}> <{GKG}Observation> .", f"{o} <{GKG}subject> <{PATIENT}> .",
                  f"{o} <{GKG}observedMeasure> <{EX}{measure}> .",
                  f'{o} <{GKG}normalizedValue> "{value}"^^<{XSD}decimal> .',
                  f'{o} <{GKG}effectiveTime> "{day}T09:00:00+01:00"^^<{XSD}dateTime> .']
    return PatientData.build(PATIENT, lines)


def report_for(kb: KnowledgeBase, data: PatientData, engine: str = "oxigraph") -> dict:
    evaluation = evaluate(kb, [data], as_of=AS_OF, engine=engine)
    return build_report(evaluation, PATIENT, kb.version())


def names(items: list[dict]) -> set[str]:
    return {i["iri"].removeprefix(EX) for i in items}


def stale(report: dict) -> list[str]:
    return sorted(w["message"] for w in report["warnings"] if w["code"] == "stale-result")


def because(report: dict, rec: str) -> list[str]:
    [item] = [r for r in report["recommendations"] + report["undetermined"] if r["iri"] == EX + rec]
    return item["because"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("age", "used"), [(30, True), (31, False)])
def test_measure_limit_is_inclusive(age_kb, engine, age, used):
    """A widget level exactly 30 days old counts; 31 days old it is not used, the test is ordered and the
    warning names the result, its date, its age and the limit. The 400-day criterion still reads it."""
    report = report_for(age_kb, patient(("widget-level", "10", age), ("widget-weight", "70", 1)), engine)
    assert ("rec-alpha" in names(report["recommendations"])) is used
    assert ("rec-alpha" in names(report["undetermined"])) is not used
    assert "rec-beta" in names(report["recommendations"])  # its own limit: 400 days
    assert "rec-gamma" in names(report["undetermined"])  # its own limit: 7 days
    assert {o["loinc"] for o in report["orders"]} == {WIDGET, GADGET}  # gamma (and alpha when stale); delta
    drawn = (AS_OF - timedelta(days=age)).isoformat()
    general = (f"widget level 10 mg/dL of {drawn} (urn:example:Observation/widget-level-0) is {age} days old on "
               f"{AS_OF.isoformat()}, older than the 30 days this guideline accepts; it is not used, and no newer result is recorded.")
    assert (general in stale(report)) is not used, stale(report)
    if used:
        assert report["recommendations"][0]["dose"] == {"value": 700, "unit": "mg"}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_criterion_limit_overrides_its_measure_limit(age_kb, engine):
    """100 days old: too old for the measure's 30 days (alpha waits, widget level ordered), but the
    criterion of beta accepts 400 days and decides on it; gamma's own 7 days make it wait too. Each unknown
    criterion is explained by the limit it applies, not by another criterion's."""
    report = report_for(age_kb, patient(("widget-level", "50", 100), ("widget-weight", "70", 1)), engine)
    assert names(report["recommendations"]) == {"rec-beta"}
    assert names(report["undetermined"]) >= {"rec-alpha", "rec-gamma"}
    drawn = (AS_OF - timedelta(days=100)).isoformat()
    result = f"widget level 50 mg/dL of {drawn} (urn:example:Observation/widget-level-0) is 100 days (about 3 months)"
    assert stale(report) == [
        f"{result} old on 2026-03-01, older than the 30 days this guideline accepts; it is not used, and no newer result is recorded.",
        (f"{result} old on 2026-03-01, older than the 7 days this guideline accepts for 'widget level <200 mg/dL "
         "(a result of the last week)'; it is not used, and no newer result is recorded."),
    ]
    assert because(report, "rec-beta") == [f"widget level < 100 mg/dL: true (measured 50 mg/dL on {drawn})"]
    [alpha] = because(report, "rec-alpha")
    assert "older than the 30 days" in alpha and "7 days" not in alpha
    [gamma] = because(report, "rec-gamma")
    assert "older than the 7 days" in gamma and "30 days" not in gamma


@pytest.mark.parametrize("engine", ENGINES)
def test_a_shorter_criterion_limit_makes_only_its_criterion_wait(age_kb, engine):
    """10 days old: within the measure's 30 days (alpha and beta are decided: 150 is not below 42 or 100)
    but not within gamma's own 7 days: gamma waits and the widget level is ordered."""
    report = report_for(age_kb, patient(("widget-level", "150", 10)), engine)
    assert names(report["recommendations"]) == set()
    assert "rec-gamma" in names(report["undetermined"])
    assert not {"rec-alpha", "rec-beta"} & names(report["undetermined"])
    assert WIDGET in {o["loinc"] for o in report["orders"]}
    assert len(stale(report)) == 1 and "for 'widget level <200" in stale(report)[0]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_recent_result_after_an_old_one_is_used_without_a_warning(age_kb, engine):
    report = report_for(age_kb, patient(("widget-level", "5", 400), ("widget-level", "150", 2)), engine)
    assert names(report["recommendations"]) == {"rec-gamma"}
    assert "rec-alpha" not in names(report["undetermined"])  # 150 is not below 42: decided false
    assert stale(report) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_a_measure_without_a_limit_uses_its_latest_result_whatever_its_age(age_kb, engine):
    report = report_for(age_kb, patient(("gadget-level", "9", 3650)), engine)
    assert "rec-delta" in names(report["recommendations"])
    assert stale(report) == [] and GADGET not in {o["loinc"] for o in report["orders"]}
    drawn = (AS_OF - timedelta(days=3650)).isoformat()
    assert because(report, "rec-delta") == [f"gadget level > 5 U/L: true (measured 9 U/L on {drawn})"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("age", "used"), [(90, True), (91, False)])
def test_a_dose_is_computed_only_from_a_weight_within_its_limit(age_kb, engine, age, used):
    report = report_for(age_kb, patient(("widget-level", "10", 1), ("widget-weight", "70", age)), engine)
    [alpha] = [r for r in report["recommendations"] if r["iri"] == EX + "rec-alpha"]  # made either way
    weighed = (AS_OF - timedelta(days=age)).isoformat()
    if used:
        assert alpha["dose"] == {"value": 700, "unit": "mg"}
        assert f"dose: 10 mg/kg x 70 kg (weighed on {weighed}) = 700 mg (Alphamab 10 mg/kg.)" \
            in alpha["because"]
        assert WEIGHT not in {o["loinc"] for o in report["orders"]} and stale(report) == []
    else:
        assert alpha["dose"] is None
        assert {o["loinc"] for o in report["orders"]} - {GADGET} == {WEIGHT}
        assert (f"dose: weight-based; the latest body weight, 70 kg on {weighed}, is older than the 90 days "
                "accepted, so it is not used and the dose is not computed (body weight ordered)") in alpha["because"]
        assert stale(report) == [
            (f"widget weight 70 kg of {weighed} (urn:example:Observation/widget-weight-1) is 91 days (about 3 "
             "months) old on 2026-03-01, older than the 90 days this guideline accepts; it is not used, and no "
             "newer result is recorded.")]


def test_the_limits_in_force_are_derived_once_from_the_knowledge(age_kb):
    """Rule 08 (knowledge scope): a criterion's own limit, else its measure's; a dose its weight's."""
    applied = {}
    for line in age_kb.ntriples.splitlines():
        if f"<{GKG}appliedAgeLimit>" in line and line.startswith(f"<{EX}"):
            s, _, o = line.rstrip(" .").split(" ", 2)
            applied[s.strip("<>").removeprefix(EX)] = o.strip("<>").removeprefix(EX)
    assert applied == {"crit-widget-lt-42": "widget-30-days", "crit-widget-lt-100": "widget-400-days",
                       "crit-widget-lt-200": "widget-7-days", "dose-alpha": "weight-90-days"}


# --- the RLS guideline: the shipped limits, and the date of every fact in the explanation ---------------

RLS_CASES = {v.name: v for v in load_vignettes()}


def rls_report(kb, name: str) -> dict:
    vignette = RLS_CASES[name]
    data = load_patient_input(vignette.patient, matcher=kb.matcher, measures=kb.measures)
    evaluation = evaluate(kb, [data], as_of=date.fromisoformat(vignette.as_of))
    return build_report(evaluation, data.patient_iri, kb.version())


def test_a_27_year_old_weight_gives_no_dose_and_says_why(kb):
    report = rls_report(kb, "130-stale-weight-27-years")
    [fcm] = [r for r in report["recommendations"] if r["iri"].endswith("/rec-fcm")]
    assert fcm["dose"] is None
    assert ("dose: weight-based; the latest body weight, 20 kg on 1999-01-10, is older than the 90 days "
            "accepted, so it is not used and the dose is not computed (body weight ordered)") in fcm["because"]
    assert [w["message"] for w in report["warnings"]] == [
        ("body weight 20 kg of 1999-01-10 (Observation/p130-weight-1) is 9867 days (about 27 years) old on "
         "2026-01-15, older than the 90 days this guideline accepts; it is not used, and no newer result is recorded.")]


def test_ten_year_old_iron_studies_are_named_in_the_explanation(kb):
    report = rls_report(kb, "131-stale-iron-studies-10-years")
    [fcm] = [u for u in report["undetermined"] if u["iri"].endswith("/rec-fcm")]
    assert ("    serum ferritin ≤ 75 ng/mL: unknown (serum ferritin 40 ng/mL of 2016-01-10 "
            "(Observation/p131-ferritin-1) is 3658 days (about 10 years) old on 2026-01-15, older than the "
            "365 days this guideline accepts; it is not used, and no newer result is recorded.)") in fcm["because"]
    assert len(report["warnings"]) == 2  # ferritin and TSAT, each named once


def test_every_fact_used_shows_its_date_in_text_and_json(kb):
    """The explanation dates each lab value and the body weight a dose was computed from, in the JSON
    report and in its text rendering."""
    report = rls_report(kb, "135-weight-90-days-used")
    [fcm] = [r for r in report["recommendations"] if r["iri"].endswith("/rec-fcm")]
    dated = [
        "    serum ferritin ≤ 75 ng/mL: true (measured 45 ng/mL on 2026-01-08, Observation/p135-ferritin-1)",
        "    transferrin saturation < 20%: true (measured 18% on 2026-01-08, Observation/p135-tsat-1)",
        ("dose: 15 mg/kg x 45 kg (weighed on 2025-10-17, Observation/p135-weight-1) = 675 mg "
         "(Patients <50 kg: 15 mg/kg body weight per dose (ferric carboxymaltose US label).)"),
    ]
    assert [line for line in fcm["because"] if line in dated] == dated
    text = render(report)
    for line in dated:
        assert line in text and line in json.dumps(report, ensure_ascii=False)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_one_day_limit_is_worded_in_the_singular(engine, tmp_path):
    """"older than the 1 day this guideline accepts", never "the 1 days" (a limit of 24 hours)."""
    text = FIXTURE.read_text(encoding="utf-8").replace("gkg:maximumAgeDays 7 ;", "gkg:maximumAgeDays 1 ;")
    (tmp_path / "result-age.ttl").write_text(text, encoding="utf-8")
    kb = KnowledgeBase.load([tmp_path / "result-age.ttl"])
    report = report_for(kb, patient(("widget-level", "50", 2), ("widget-weight", "70", 1)), engine)
    result = f"widget level 50 mg/dL of {(AS_OF - timedelta(days=2)).isoformat()} (urn:example:Observation/widget-level-0)"
    assert stale(report) == [f"{result} is 2 days old on 2026-03-01, older than the 1 day this guideline accepts for "
                             "'widget level <200 mg/dL (a result of the last week)'; it is not used, and no newer result is recorded."]
