"""A recommendation for an intervention and one against it (gkg:Against) that hold together (rule 92).

Found by a trial author encoding an osteoporosis guideline: "alendronate for osteoporosis" and "no alendronate
at eGFR < 35" were both listed for a patient with both, "Recommended: alendronate" above "Recommended against:
alendronate", with no warning; and with no eGFR the recommendation was made outright while the one against was
undecided. Now both made gives a recommended-for-and-against warning about both results, and the report shows
the pair under a heading of its own, each naming the other (never as a plain recommendation); the one against
undecided gives recommended-against-undecided, and the recommendation is said not to be settled. The linter
reports such a pair in the content (recommendation-for-and-against), unless a not-indicated statement sets the
recommendation aside there. Made-up content: tests/fixtures/for-against/guideline.ttl (widgetronate for alpha
< 10, against it at beta clearance < 35, against its class at alpha < 2; gadgetronate for alpha > 50, against
at beta < 20 with a not-indicated statement of the same criterion); FHIR input built here.

Found in review: a recommendation for a whole class ("a widget drug") and one against a part of it ("no
widgetronate", or a class sharing a member) were reported as a full contradiction, or not at all; now
recommended-except (and lint recommendation-except), the rest staying recommended (class-parts.ttl). A
recommendation against naming two interventions that match gave one warning with two messages
(two-interventions.ttl). CDS Hooks showed a contradicted recommendation as a plain one with its Order
suggestion. A recommendation against made while the one for is not decided said nothing
(recommended-for-undecided).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import jsonschema
import pytest

from guidelinekg.checks.validate import validate
from guidelinekg.engine.patientcheck import validate_patients
from guidelinekg.engine.shapes_sparql import load_patient_shapes
from guidelinekg.hooks.cards import CardContext, patient_view_cards
from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.report.fhirout import fhir_bundle
from guidelinekg.report.patient import build_report
from guidelinekg.report.views import render, render_patient
from test_fhir_output import check_valid
from test_compiled_rules import _derived_on_both
from test_report_text import nesting

FIXTURE = Path(__file__).parent / "fixtures" / "for-against" / "guideline.ttl"
PARTS = FIXTURE.with_name("class-parts.ttl")
TWO = FIXTURE.with_name("two-interventions.ttl")
SCHEMA = json.loads((Path(__file__).parents[1] / "docs" / "recommend.schema.json").read_text(encoding="utf-8"))
NS = "urn:example:fa:"
HEADING = "Recommended and recommended against: the guideline says both (review before acting)"
ALPHA, BETA = "99991-2", "99992-0"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load([FIXTURE])


@pytest.fixture(scope="module")
def parts() -> KnowledgeBase:
    return KnowledgeBase.load([FIXTURE, PARTS])


def _obs(pid: str, code: str, value: float, unit: str) -> dict:
    return {"resource": {"resourceType": "Observation", "id": f"{pid}-{code}", "status": "final",
                         "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": "2026-01-02",
                         "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                         "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org",
                                           "code": unit}}}


def _patient(kb: KnowledgeBase, alpha: float | None, beta: float | None):
    entries = [{"resource": {"resourceType": "Patient", "id": "p1", "birthDate": "1960-03-02", "gender": "female"}}]
    if alpha is not None:
        entries.append(_obs("p1", ALPHA, alpha, "mg/dL"))
    if beta is not None:
        entries.append(_obs("p1", BETA, beta, "mL/min"))
    raw = json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode()
    return load_patient_input("p.json", matcher=kb.matcher, measures=kb.measures, reads=kb.reads, raw=raw)


def report_of(kb: KnowledgeBase, alpha: float | None, beta: float | None, *, engine: str = "oxigraph",
              facts: bool = False) -> dict:
    patient = _patient(kb, alpha, beta)
    evaluation = evaluate(kb, [patient], as_of=date(2026, 1, 15), engine=engine)
    return build_report(evaluation, patient.patient_iri, kb.version(), facts=facts, patient_lang="en")


def _codes(report: dict) -> list[str]:
    return sorted(w["code"] for w in report["warnings"])


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_both_made_warn_and_each_names_the_other(kb, engine):
    report = report_of(kb, 5, 30, engine=engine)  # alpha < 10 (for), beta < 35 (against)
    made = {r["iri"].removeprefix(NS): r for r in report["recommendations"]}
    assert set(made) == {"rec-widgetronate", "rec-against-widgetronate"}
    [warning] = report["warnings"]
    assert warning["code"] == "recommended-for-and-against"
    assert warning["message"] == (
        "'widgetronate for low alpha' recommends what 'no widgetronate at beta clearance < 35' recommends against; "
        "both apply to this patient, so the guideline says both and neither is a plain recommendation: review both "
        "statements and their sources clinically before acting.")
    assert made["rec-widgetronate"]["contradicted_by"] == [
        {"iri": NS + "rec-against-widgetronate", "label": "no widgetronate at beta clearance < 35",
         "status": "recommended against"}]
    assert made["rec-against-widgetronate"]["contradicted_by"] == [
        {"iri": NS + "rec-widgetronate", "label": "widgetronate for low alpha", "status": "recommended"}]
    jsonschema.validate(report, SCHEMA)


def test_the_text_shows_the_pair_under_its_own_heading_never_as_a_plain_recommendation(kb):
    text = render(report_of(kb, 5, 30))
    assert "\nRecommended\n" not in text and "\nRecommended against\n" not in text
    section = text[text.index(HEADING):text.index("Warnings")]
    for_line = next(line for line in section.splitlines() if line.startswith("  - widgetronate for low alpha"))
    assert "dose 70 mg" in for_line and "Widgetronate for low alpha: an example" in for_line
    against_line = next(line for line in section.splitlines() if line.startswith("  - no widgetronate"))
    assert "dose" not in against_line and "Widgetronate and beta clearance: an example" in against_line
    assert section.index(for_line) < section.index(against_line)
    assert ("    CONTRADICTED: 'no widgetronate at beta clearance < 35' recommends against it for this patient too: "
            "review both before acting (warning recommended-for-and-against)") in section
    assert "    CONTRADICTS: 'widgetronate for low alpha', which recommends it for this patient" in section
    assert text.index(HEADING) < text.index("[recommended-for-and-against]")
    items = nesting(render(report_of(kb, 5, 30), markdown=True))
    depth = next(d for d, t in items if t.startswith("widgetronate for low alpha"))
    assert (depth + 1, "CONTRADICTED: 'no widgetronate at beta clearance < 35' recommends against it for this "
                       "patient too: review both before acting (warning recommended-for-and-against)") in items


def test_fhir_implicates_both_requests_and_the_patient_is_told_to_ask(kb):
    report = report_of(kb, 5, 30, facts=True)
    bundle = fhir_bundle([report])
    check_valid(bundle)
    resources = [e["resource"] for e in bundle["entry"]]
    [issue] = [r for r in resources if r["resourceType"] == "DetectedIssue"]
    requests = [r for r in resources if r["resourceType"] == "MedicationRequest"]
    assert sorted(r.get("doNotPerform", False) for r in requests) == [False, True]
    assert sorted(i["reference"] for i in issue["implicated"]) == sorted(f"urn:uuid:{r['id']}" for r in requests)
    text = render_patient(report_of(kb, 5, 30))
    assert "The guideline also advises against this for you; your clinician must decide." in text
    assert "The guideline also suggests this for you; your clinician must decide." in text


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_an_undecided_recommendation_against_leaves_the_one_for_not_settled(kb, engine):
    report = report_of(kb, 5, None, engine=engine)  # no beta clearance: the one against is not decided
    assert [r["iri"] for r in report["recommendations"]] == [NS + "rec-widgetronate"]
    assert NS + "rec-against-widgetronate" in [u["iri"] for u in report["undetermined"]]
    assert _codes(report) == ["recommended-against-undecided"]
    assert "is not decided yet" in report["warnings"][0]["message"]
    [rec] = report["recommendations"]
    assert rec["contradicted_by"] == [{"iri": NS + "rec-against-widgetronate",
                                       "label": "no widgetronate at beta clearance < 35", "status": "not decided yet"}]
    assert [o["loinc"] for o in report["orders"]] == [BETA]
    text = render(report)
    assert "\nRecommended\n" in text and HEADING not in text
    assert ("    NOT SETTLED: 'no widgetronate at beta clearance < 35', which recommends against it, is not decided "
            "yet for this patient (see Cannot decide yet): decide it before acting") in text
    assert "if it applies, it contradicts 'widgetronate for low alpha', which is made (see Recommended)" in text
    assert report["patient_view"]["sections"]["recommended"][0]["contradicted"] == "undecided"
    jsonschema.validate(report, SCHEMA)


def test_a_recommendation_against_its_class_contradicts_it_too(kb):
    report = report_of(kb, 1, 50)  # alpha < 2: against every widget drug; beta not < 35
    assert _codes(report) == ["recommended-for-and-against"]
    assert "recommends what 'no widget drugs at very low alpha' recommends against" in report["warnings"][0]["message"]
    [rec] = [r for r in report["recommendations"] if r["direction"] == "for"]
    assert [c["iri"] for c in rec["contradicted_by"]] == [NS + "rec-against-class"]


@pytest.mark.parametrize(("alpha", "beta"), [(5, 50), (20, 30), (60, 10)])
def test_no_warning_when_they_do_not_hold_together(kb, alpha, beta):
    """Only the one for; only the one against; and a recommendation against paired with a not-indicated
    statement, which sets the recommendation for aside (statements-conflict says so, rule 86)."""
    report = report_of(kb, alpha, beta)
    assert not {"recommended-for-and-against", "recommended-against-undecided"} & set(_codes(report))
    assert not any("contradicted_by" in r for r in report["recommendations"])
    assert HEADING not in render(report) and "CONTRADICT" not in render(report)
    if alpha == 60:
        assert [n["iri"] for n in report["not_recommended"]] == [NS + "rec-gadgetronate"]
        assert _codes(report) == ["statements-conflict"]


def test_the_linter_reports_the_pair_in_the_content_but_not_one_paired_with_a_not_indicated_statement():
    found = [f for f in validate([FIXTURE], owl=False)["findings"] if f["code"] == "recommendation-for-and-against"]
    assert sorted(f["focus"] for f in found) == ["ex:rec-against-class", "ex:rec-against-widgetronate"]
    [f] = [f for f in found if f["focus"] == "ex:rec-against-widgetronate"]
    assert f["severity"] == "warning" and f["file"].endswith("guideline.ttl") and f["line"] == 63
    assert "both apply where alpha level < 10 mg/dL and beta clearance < 35 mL/min" in f["message"]
    assert "add a gkg:NotIndicatedStatement of the same intervention with this applicability" in f["message"]


def _cards(report: dict) -> dict[str, dict]:
    ctx = CardContext("h1", {"reference": "Patient/p1"}, "2026-01-15", report["patient"])
    return {c["extension"][EXT]["statements"][0].removeprefix(NS): c for c in patient_view_cards(ctx, [report], [])
            if c["source"]["topic"]["code"].startswith("recommendation")}


EXT = "org.w3id.guidelinekg"


def test_cds_hooks_never_offers_to_order_a_contradicted_recommendation(kb):
    cards = _cards(report_of(kb, 5, 30))
    card = cards["rec-widgetronate"]
    assert card["indicator"] == "warning" and "suggestions" not in card
    assert card["summary"].startswith("Recommended and recommended against: review before acting: widgetronate")
    assert ("- **CONTRADICTED: 'no widgetronate at beta clearance &lt; 35' recommends against it for this patient "
            "too" in card["detail"])  # Markdown: < escaped
    against = cards["rec-against-widgetronate"]
    assert against["indicator"] == "warning" and against["summary"].startswith("Recommended and recommended against")
    assert "CONTRADICTS: 'widgetronate for low alpha'" in against["detail"]
    pending = _cards(report_of(kb, 5, None))["rec-widgetronate"]  # the one against not decided yet
    assert pending["indicator"] == "warning" and "suggestions" not in pending
    assert pending["summary"].startswith("NOT SETTLED, recommended: widgetronate for low alpha")
    assert "NOT SETTLED: 'no widgetronate at beta clearance &lt; 35'" in pending["detail"]
    plain = _cards(report_of(kb, 5, 50))["rec-widgetronate"]  # nothing against: as before
    assert plain["indicator"] == "info" and [s["label"] for s in plain["suggestions"]] == [
        "Order widgetronate 70 mg weekly"]


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_a_recommendation_against_a_part_of_a_class_leaves_the_rest_recommended(parts, engine):
    """'a widget drug' at alpha 15; 'no widgetronate' (a member) and 'no renally cleared drugs' (a class sharing
    widgetronate) at beta 30: the class stays recommended, with each part excluded named."""
    report = report_of(parts, 15, 30, engine=engine)
    assert _codes(report) == ["recommended-except", "recommended-except"]
    assert ("'a widget drug for alpha 10-20' recommends more than 'no widgetronate at beta clearance < 35' recommends "
            "against, and both apply to this patient: the recommendation stands except for what 'no widgetronate at "
            "beta clearance < 35' recommends against.") in [w["message"] for w in report["warnings"]]
    made = {r["iri"].removeprefix(NS): r for r in report["recommendations"]}
    assert [(c["label"], c["status"], c["except"]) for c in made["rec-class-for"]["contradicted_by"]] == [
        ("no renally cleared drugs at beta < 35", "recommended against in part", "any renally cleared drug"),
        ("no widgetronate at beta clearance < 35", "recommended against in part", "widgetronate 70 mg weekly")]
    assert "contradicted_by" not in made["rec-against-widgetronate"]
    jsonschema.validate(report, SCHEMA)
    text = render(report)
    assert HEADING not in text and "CONTRADICT" not in text
    section = text[text.index("\nRecommended\n"):text.index("\nRecommended against\n")]
    assert "  - a widget drug for alpha 10-20" in section
    assert ("    EXCEPT widgetronate 70 mg weekly: 'no widgetronate at beta clearance < 35' recommends against it for "
            "this patient; the recommendation stands for the rest (warning recommended-except)") in section
    card = _cards(report)["rec-class-for"]
    assert card["summary"].startswith("Recommended, except a part: a widget drug")
    assert card["indicator"] == "warning" and card["suggestions"]  # the rest can be ordered
    assert "EXCEPT any renally cleared drug" in card["detail"]
    assert report["patient_view"]["sections"]["recommended"][0]["contradicted"] == "in part"


def test_a_part_not_decided_yet_is_named_as_perhaps_excluded(parts):
    report = report_of(parts, 15, None)
    assert _codes(report) == ["recommended-except", "recommended-except"]
    text = render(report)
    assert ("    EXCEPT perhaps widgetronate 70 mg weekly: 'no widgetronate at beta clearance < 35', which recommends "
            "against it, is not decided yet for this patient") in text
    assert ("if it applies, widgetronate 70 mg weekly is excluded from 'a widget drug for alpha 10-20', which is "
            "made (see Recommended)") in text


def test_a_whole_class_against_a_substance_recommended_is_a_full_contradiction(parts):
    """'no renally cleared drugs' covers widgetronate, recommended alone at alpha 5."""
    report = report_of(parts, 5, 30)
    assert _codes(report) == ["recommended-for-and-against", "recommended-for-and-against"]


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_a_recommendation_against_made_while_the_one_for_is_undecided_says_so(kb, engine):
    report = report_of(kb, None, 30, engine=engine)  # no alpha: the one for is not decided; beta < 35: against
    assert _codes(report) == ["recommended-for-undecided"]
    [rec] = [r for r in report["recommendations"] if r["iri"] == NS + "rec-against-widgetronate"]
    assert rec["contradicted_by"] == [{"iri": NS + "rec-widgetronate", "label": "widgetronate for low alpha",
                                       "status": "recommended, not decided yet"}]
    text = render(report)
    assert "\nRecommended against\n" in text and HEADING not in text
    assert "    NOT SETTLED: 'widgetronate for low alpha', which recommends it, is not decided yet" in text
    assert ("if it applies, it contradicts 'no widgetronate at beta clearance < 35', which is made (see Recommended "
            "against)") in text
    assert "Whether the guideline also suggests this for you is not decided yet" in render_patient(report)
    jsonschema.validate(report, SCHEMA)


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_two_matching_interventions_give_one_warning_with_one_message(engine):
    report = report_of(KnowledgeBase.load([FIXTURE, TWO]), 5, 30, engine=engine)
    [warning] = report["warnings"]
    assert warning["code"] == "recommended-for-and-against" and warning["message"].startswith(
        "'widgetronate for low alpha' recommends what 'no widgetronate at beta clearance < 35' recommends against;")


def test_the_linter_reads_a_part_as_rule_92_does():
    found = sorted((f["code"], f["focus"], f["message"].split(":")[0]) for f in validate([FIXTURE, PARTS], owl=False)[
        "findings"] if f["code"] in ("recommendation-for-and-against", "recommendation-except"))
    assert found == [
        ("recommendation-except", "ex:rec-against-renal",
         "recommends against any renally cleared drug, a part of what 'a widget drug for alpha 10-20' recommends "
         "(a widget drug)"),
        ("recommendation-except", "ex:rec-against-widgetronate",
         "recommends against widgetronate 70 mg weekly, a part of what 'a widget drug for alpha 10-20' recommends "
         "(a widget drug)"),
        ("recommendation-for-and-against", "ex:rec-against-class",
         "recommends against any widget drug, which 'widgetronate for low alpha' recommends"),
        ("recommendation-for-and-against", "ex:rec-against-renal",
         "recommends against any renally cleared drug, which 'widgetronate for low alpha' recommends"),
        ("recommendation-for-and-against", "ex:rec-against-widgetronate",
         "recommends against widgetronate 70 mg weekly, which 'widgetronate for low alpha' recommends")]


@pytest.mark.parametrize(("alpha", "beta"), [(5, 30), (5, None), (None, 30), (15, 30), (15, None)])
def test_the_compiled_engine_derives_the_same_warnings(parts, alpha, beta):
    patient = validate_patients([_patient(parts, alpha, beta)], parts, load_patient_shapes())[0]
    oxigraph, compiled = _derived_on_both(parts, [patient], date(2026, 1, 15))
    assert compiled == oxigraph, (sorted(oxigraph - compiled)[:5], sorted(compiled - oxigraph)[:5])
    assert any(b"92-for-and-against" in line for line in oxigraph)
