"""Points scores and "at least N of M" rules (gkg:PointsAtLeast; rule 55).

A guideline that says "anticoagulate at a score of 2 or more" (CHA2DS2-VASc and the like) or "with at least
two of these findings" is encoded as one criterion: members with points (1 unless gkg:memberPoints says
otherwise) and a gkg:minimumPoints. Three-valued: with T the points of the true members and U those of the
unknown ones, true when T reaches the minimum, false when T + U cannot, else unknown; the tests that keep it
unknown are ordered, and no test is ordered for a score that no result could bring to its minimum.

The oracle here is independent of rule 55's sums: every way the unknown members could turn out is tried
(true for all: true; for none: false; else unknown), for every combination of age, sex and a lab result, on
both engines. Made-up content: tests/fixtures/points/guideline.ttl (a "widget score": age >= 65 1 point,
age >= 75 1 more, female 1, alpha level > 10 mg/dL 1.5; widgetcoagulant at 2 or more, against at 0; a
plain "at least two of three").
"""

from __future__ import annotations

import itertools
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from guidelinekg.checks.validate import validate
from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.report.patient import build_report
from madeup import truths
from guidelinekg.report.views import render
from guidelinekg.content import resources
from guidelinekg.render.guideline import render_markdown

FIXTURE = Path(__file__).parent / "fixtures" / "points" / "guideline.ttl"
SCHEMA = json.loads((Path(__file__).parents[1] / "docs" / "recommend.schema.json").read_text(encoding="utf-8"))
NS = "urn:example:pts:"
AS_OF = date(2026, 1, 15)
# (member, points) of each score, and its minimum, as the fixture states them
SCORES = {
    "crit-score-2": ({"crit-65": 1, "crit-75": 1, "crit-female": 1, "crit-alpha-high": Decimal("1.5")}, 2),
    "crit-score-1": ({"crit-65": 1, "crit-75": 1, "crit-female": 1, "crit-alpha-high": Decimal("1.5")}, 1),
    "crit-two-of-three": ({"crit-65": 1, "crit-female": 1, "crit-alpha-high": 1}, 2),
    "crit-score-2-5": ({"crit-65": 1, "crit-female": 1, "crit-alpha-high": Decimal("1.5")}, Decimal("2.5")),
}
BIRTHS = {"80": "1945-06-01", "70": "1955-06-01", "36": "1990-01-01", None: None}
SEXES = ("female", "male", "unknown", None)
ALPHAS = (Decimal("5"), Decimal("10"), Decimal("20"), None)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load([FIXTURE])


def bundle(pid: str, birth: str | None, sex: str | None, alpha: Decimal | None) -> dict:
    patient = {"resourceType": "Patient", "id": pid}
    if birth:
        patient["birthDate"] = birth
    if sex:
        patient["gender"] = sex
    entries = [{"resource": patient}]
    if alpha is not None:
        entries.append({"resource": {
            "resourceType": "Observation", "id": f"{pid}-alpha", "status": "final",
            "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": "2026-01-02",
            "code": {"coding": [{"system": "http://loinc.org", "code": "99991-2"}]},
            "valueQuantity": {"value": float(alpha), "unit": "mg/dL", "system": "http://unitsofmeasure.org",
                              "code": "mg/dL"}}})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def load(kb, pid, birth, sex, alpha):
    raw = json.dumps(bundle(pid, birth, sex, alpha)).encode()
    return load_patient_input(f"{pid}.json", matcher=kb.matcher, measures=kb.measures, reads=kb.reads, raw=raw)


def leaf_truths(age: str | None, sex: str | None, alpha: Decimal | None) -> dict[str, str]:
    """The members' truths, from the fixture's criteria (age on the as-of date, sex, alpha > 10)."""
    years = None if age is None else int(age)
    return {
        "crit-65": "unknown" if years is None else str(years >= 65).lower(),
        "crit-75": "unknown" if years is None else str(years >= 75).lower(),
        "crit-female": {"female": "true", "male": "false"}.get(sex, "unknown"),
        "crit-alpha-high": "unknown" if alpha is None else str(alpha > 10).lower(),
    }


def oracle(points: dict[str, Decimal], minimum, truths: dict[str, str]) -> str:
    """Every completion of the unknown members tried: reached in all, none, or some."""
    unknown = [m for m in points if truths[m] == "unknown"]
    reached = set()
    for values in itertools.product((True, False), repeat=len(unknown)):
        chosen = dict(zip(unknown, values))
        total = sum(p for m, p in points.items() if truths[m] == "true" or chosen.get(m))
        reached.add(total >= minimum)
    return "true" if reached == {True} else "false" if reached == {False} else "unknown"


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_every_combination_agrees_with_trying_every_completion(kb, engine):
    cases = list(itertools.product(BIRTHS, SEXES, ALPHAS))
    patients = [load(kb, f"p{i}", BIRTHS[age], sex, alpha) for i, (age, sex, alpha) in enumerate(cases)]
    evaluation = evaluate(kb, patients, as_of=AS_OF, engine=engine)
    got = truths(evaluation)
    outcomes = set()
    for patient, (age, sex, alpha) in zip(patients, cases):
        leaves = leaf_truths(age, sex, alpha)
        for score, (points, minimum) in SCORES.items():
            expected = oracle(points, minimum, leaves)
            outcomes.add(expected)
            assert got[(patient.patient_iri, NS + score)] == expected, (age, sex, alpha, score)
        # the negation of a score is its opposite; a score in an all-of, and in a score, as its truth says
        of = {c: got[(patient.patient_iri, NS + c)] for c in ("crit-score-1", "crit-score-2", "crit-score-0",
                                                              "crit-score-2-and-alpha", "crit-nested")}
        assert of["crit-score-0"] == {"true": "false", "false": "true"}.get(of["crit-score-1"], "unknown")
        pair = {of["crit-score-2"], leaves["crit-alpha-high"]}
        assert of["crit-score-2-and-alpha"] == ("false" if "false" in pair else "true" if pair == {"true"} else "unknown")
        nested = {**leaves, "crit-score-2": of["crit-score-2"]}
        assert of["crit-nested"] == oracle({"crit-score-2": 2, "crit-female": 1, "crit-65": 1}, 2, nested)
    assert outcomes == {"true", "false", "unknown"}  # the grid reaches all three


def report_of(kb, birth, sex, alpha, **kwargs) -> dict:
    patient = load(kb, "p1", birth, sex, alpha)
    evaluation = evaluate(kb, [patient], as_of=AS_OF)
    return build_report(evaluation, patient.patient_iri, kb.version(), **kwargs)


def test_a_score_reached_exactly_is_met_and_explained_with_each_members_points(kb):
    # 36 years, sex not recorded, alpha 20: 1.5 points, and the unknown sex could add 1: unknown for ">= 2";
    # a woman of 36 with alpha 20 has 2.5: met
    report = report_of(kb, "1990-01-01", "female", Decimal("20"))
    made = {r["iri"]: r for r in report["recommendations"]}
    assert set(made) == {NS + "rec-score-2", NS + "rec-two-of-three"}
    because = made[NS + "rec-score-2"]["because"]
    assert because[0] == ("widget score 2 or more (at least 2 points; 2.5 points from criteria met): true")
    assert "  alpha level > 10 mg/dL: true (measured 20 mg/dL on 2026-01-02, Observation/p1-alpha) [1.5 points]" in because
    assert "  female: true [1 point]" in because
    assert "  age 65 years or older: false (age 36 years, born 1990-01-01) [1 point]" in because
    jsonschema.validate(report, SCHEMA)


def test_an_unknown_score_orders_what_can_decide_it_and_says_what_is_missing(kb):
    report = report_of(kb, "1990-01-01", None, Decimal("20"))
    undetermined = {u["iri"]: u for u in report["undetermined"]}
    assert set(undetermined) == {NS + "rec-score-2", NS + "rec-two-of-three"}
    because = undetermined[NS + "rec-score-2"]["because"]
    assert because[0] == ("widget score 2 or more (at least 2 points; 1.5 points from criteria met, up to 1 point "
                          "more from criteria not known): unknown")
    assert report["orders"] == []  # the missing sex is no test: a missing-data warning names it
    assert [w["code"] for w in report["warnings"]] == ["missing-data"] and "female" in report["warnings"][0]["message"]


def test_no_test_is_ordered_for_a_score_no_result_could_bring_to_its_minimum(kb):
    # a man of 36 without an alpha level: ">= 2" cannot be reached (at most 1.5), so it is false and orders
    # nothing; ">= 1" could be (1.5), so "score 0" is undecided and the alpha level is ordered for it alone
    report = report_of(kb, "1990-01-01", "male", None)
    assert [u["iri"] for u in report["undetermined"]] == [NS + "rec-score-0"]
    [order] = report["orders"]
    assert order["measure"] == "https://loinc.org/99991-2"
    assert order["needed_for"] == [NS + "rec-score-0"]
    assert report["recommendations"] == []


def test_a_true_score_rests_on_its_true_members_only(kb):
    patient = load(kb, "p1", "1945-06-01", "male", Decimal("5"))  # 80 years: 2 points from age, alpha false
    evaluation = evaluate(kb, [patient], as_of=AS_OF)
    derived = {r["m"] for r in evaluation.store.select_values(f"""
        PREFIX gkg: <https://w3id.org/guidelinekg/ontology#>
        PREFIX prov: <http://www.w3.org/ns/prov#>
        SELECT ?m WHERE {{ ?o gkg:criterion <{NS}crit-score-2> ; prov:wasDerivedFrom ?mo . ?mo gkg:criterion ?m }}""")}
    assert derived == {NS + "crit-65", NS + "crit-75"}
    report = build_report(evaluation, patient.patient_iri, kb.version(), facts=True)
    [made] = [r for r in report["recommendations"] if r["iri"] == NS + "rec-score-2"]
    assert made["because"][0] == "widget score 2 or more (at least 2 points; 2 points from criteria met): true"


def test_text_report_and_render_show_the_points(kb):
    text = render(report_of(kb, "1990-01-01", "male", Decimal("5")))
    assert "widget score 1 or more (at least 1 point; 0 points from criteria met): false" in text
    rendered = render_markdown([*resources.vocabulary_files(), FIXTURE])
    assert ("Applies when: widget score 2 or more = at least 2 points of: age ≥ 65 years (1 point) + age ≥ 75 years (1 point) + "
            "alpha level [LOINC 99991-2] > 10 mg/dL (1.5 points) + female (1 point)") in rendered
    assert "Applies when: NOT (widget score 1 or more = at least 1 point of: " in rendered


def test_the_made_up_content_validates():
    report = validate([FIXTURE], owl=False)
    assert not [f for f in report["findings"] if f["severity"] == "error"], report["findings"]


def test_render_shows_the_points_of_a_member_written_as_a_blank_node(tmp_path):
    content = tmp_path / "guideline.ttl"
    content.write_text(FIXTURE.read_text(encoding="utf-8") + """
ex:crit-unnamed a gkg:PointsAtLeast ; rdfs:label "score with an unnamed member"@en ;
    gkg:member ex:crit-female , _:old ; gkg:minimumPoints 2 ;
    gkg:memberPoints [ gkg:pointsFor _:old ; gkg:points 2 ] .
_:old a gkg:AgeCriterion ; rdfs:label "age 80 years or older"@en ;
    gkg:comparator gkg:GreaterOrEqual ; gkg:thresholdValue 80 ; gkg:thresholdUnit "a" .
ex:rec-unnamed a gkg:Recommendation ; rdfs:label "widgetcheck with an unnamed member"@en ;
    gkg:inVersion ex:v1 ; gkg:section ex:sec ; gkg:order 4 ; gkg:sourceText "Widgetcheck, again." ;
    gkg:direction gkg:For ; gkg:strength gkg:Conditional ; gkg:certainty gkg:LowCertainty ;
    gkg:intervention ex:int-widgetcheck ; gkg:applicability ex:crit-unnamed ; gkg:citation ex:cit .
""", encoding="utf-8")
    rendered = render_markdown([*resources.vocabulary_files(), content])
    assert ("Applies when: score with an unnamed member = at least 2 points of: age ≥ 80 years (2 points) + "
            "female (1 point)") in rendered
