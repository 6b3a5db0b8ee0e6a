"""Insufficient-evidence statements (USPSTF "I statements", gkg:InsufficientEvidenceStatement; rule 73).

Found by a trial author encoding a statin prevention guideline (adults 76 years or older: I statement): the
only directions are for and against, and the 76-year-old's report said "none of its statements applies",
hiding the guideline's actual answer. Now a patient the statement applies to gets it in every rendering as
"the guideline makes no recommendation for or against <intervention> for this patient", with its grade and
citations, never as a recommendation to act (no dose, order or request); a patient it does not apply to does
not. Made-up content: tests/fixtures/insufficient-evidence/guideline.ttl; FHIR input built here.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import jsonschema
import pytest

from guidelinekg.checks.validate import validate
from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.report.fhirout import fhir_bundle
from guidelinekg.report.patient import build_report
from guidelinekg.report.views import NONE_APPLIES, render, render_patient
from test_fhir_output import check_valid
from test_report_text import nesting

FIXTURE = Path(__file__).parent / "fixtures" / "insufficient-evidence" / "guideline.ttl"
SCHEMA = json.loads((Path(__file__).parents[1] / "docs" / "recommend.schema.json").read_text(encoding="utf-8"))
NS = "urn:example:ie:"
SAYS = ("Insufficient evidence: the guideline makes no recommendation for or against widgetstatin for this "
        "patient")
HEADING = "No recommendation: insufficient evidence"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load([FIXTURE])


def report_of(kb: KnowledgeBase, birth: str, *, facts: bool = False) -> dict:
    """The report (with its ``patient_view``; with ``facts``, what the FHIR rendering needs besides the
    documented JSON)."""
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "birthDate": birth}}]}
    patient = load_patient_input("p.json", matcher=kb.matcher, measures=kb.measures, reads=kb.reads,
                                 raw=json.dumps(bundle).encode())
    evaluation = evaluate(kb, [patient], as_of=date(2026, 1, 15))
    return build_report(evaluation, patient.patient_iri, kb.version(), facts=facts, patient_lang="en")


def test_a_patient_the_i_statement_applies_to_gets_it_never_as_a_recommendation(kb):
    report = report_of(kb, "1945-06-01")  # 80 years
    [item] = report["insufficient_evidence"]
    assert item["iri"] == NS + "ie-76" and item["interventions"] == [
        {"iri": NS + "int-widgetstatin", "label": "widgetstatin", "kind": "medication"}]
    assert [(g["grade"], g["system"]) for g in item["grades"]] == [("I", "Example task force grades")]
    assert item["because"] == ["age 76 years or older: true (age 80 years, born 1945-06-01)"]
    assert [c["title"] for c in item["citations"]] == ["Widgetstatin for prevention: an example"]
    # the guideline's answer for this patient: not "none of its statements applies", and nothing to act on
    assert report["applicable"] and not report["no_statement_applies"]
    assert report["recommendations"] == report["orders"] == report["monitoring"] == report["undetermined"] == []
    jsonschema.validate(report, SCHEMA)


def test_text_and_markdown_say_no_recommendation_with_grade_and_citation(kb):
    report = report_of(kb, "1945-06-01")
    text = render(report)
    assert NONE_APPLIES not in text and "Recommended" not in text
    line = next(line for line in text.splitlines() if SAYS in line)
    assert "I statement (insufficient evidence) (Example task force grades)" in line
    assert "Widgetstatin for prevention: an example (2026)" in line and "dose" not in line
    assert text.index(HEADING) < text.index(SAYS)
    markdown = render(report, markdown=True)
    assert f"## {HEADING}" in markdown
    items = nesting(markdown)
    depth = next(d for d, t in items if t.startswith(SAYS))
    assert (depth + 1, "age 76 years or older: true (age 80 years, born 1945-06-01)") in items
    assert any(d == depth + 1 and t.startswith("the guideline: The current evidence is insufficient") for d, t in items)


def test_fhir_says_it_in_a_note_and_requests_nothing(kb):
    bundle = fhir_bundle([report_of(kb, "1945-06-01", facts=True)])
    check_valid(bundle)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert not {"MedicationRequest", "ServiceRequest", "CommunicationRequest", "Task"} & set(kinds)
    [guidance] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "GuidanceResponse"]
    [note] = [n["text"] for n in guidance["note"]]
    assert note.startswith(SAYS) and "I statement" in note and "Widgetstatin for prevention" in note
    assert guidance["status"] == "success" and NONE_APPLIES not in note
    [group] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "RequestGroup"]
    assert "action" not in group


def test_the_report_for_patients_says_neither_suggested_nor_advised_against(kb):
    report = report_of(kb, "1945-06-01")
    [item] = report["patient_view"]["sections"]["no_recommendation"]
    assert item["iri"] == NS + "ie-76" and item["grading"] == "I statement (insufficient evidence)"
    text = render_patient(report)
    assert "Neither suggested nor advised against" in text and "none of its suggestions" not in text
    jsonschema.validate(report, SCHEMA)


@pytest.mark.parametrize(("birth", "made"), [("1966-06-01", True), ("1996-06-01", False)])
def test_a_patient_outside_its_population_does_not_get_it(kb, birth, made):
    report = report_of(kb, birth)  # 59 years: the grade B recommendation; 29 years: not covered
    assert "insufficient_evidence" not in report
    assert [r["iri"] for r in report["recommendations"]] == ([NS + "rec-40-75"] if made else [])
    assert report["applicable"] is made
    text = render(report)
    assert HEADING not in text and SAYS not in text
    assert "no_recommendation" not in report["patient_view"]["sections"]
    jsonschema.validate(report, SCHEMA)
    assert not any(SAYS in n["text"] for e in fhir_bundle([report_of(kb, birth, facts=True)])["entry"]
                   for n in e["resource"].get("note", []))


def test_an_unknown_age_shows_no_i_statement(kb):
    """No birth date: whether the guideline applies is unknown; nothing is said for or against."""
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1"}}]}
    patient = load_patient_input("p.json", matcher=kb.matcher, measures=kb.measures, reads=kb.reads,
                                 raw=json.dumps(bundle).encode())
    report = build_report(evaluate(kb, [patient], as_of=date(2026, 1, 15)), patient.patient_iri, kb.version())
    assert "insufficient_evidence" not in report and report["applicability"] == "unknown"


def test_the_fixture_validates_and_the_shapes_refuse_a_direction(tmp_path):
    report = validate([FIXTURE], owl=False)
    assert not [f for f in report["findings"] if f["severity"] == "error"], report["findings"]
    bad = tmp_path / "directed.ttl"
    bad.write_text(FIXTURE.read_text(encoding="utf-8")
                   + "\nex:ie-76 gkg:direction gkg:For .\n", encoding="utf-8")
    found = [f for f in validate([bad], owl=False)["findings"] if f["kind"] == "shacl"]
    assert any("makes no recommendation: remove gkg:direction" in f["message"] for f in found), found


def test_cds_hooks_show_an_info_card_without_suggestions(kb):
    from guidelinekg.hooks.cards import CardContext, patient_view_cards

    ctx = CardContext("hook-1", {"reference": "Patient/p1"}, "2026-01-15")
    [card] = patient_view_cards(ctx, [report_of(kb, "1945-06-01")], [])
    assert card["indicator"] == "info" and "suggestions" not in card and len(card["summary"]) < 140
    assert card["source"]["topic"]["code"] == "no-recommendation" and SAYS in card["detail"]
    other = patient_view_cards(ctx, [report_of(kb, "1966-06-01")], [])  # the grade B recommendation's card
    assert other and "no-recommendation" not in {c["source"]["topic"]["code"] for c in other}


def _variant(tmp_path: Path, *edits: tuple[str, str], extra: str = "") -> Path:
    """The fixture with ``edits`` (old, new) applied and ``extra`` Turtle appended."""
    text = FIXTURE.read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "guideline.ttl"
    path.write_text(text + extra, encoding="utf-8")
    return path


def test_an_undecided_i_statement_is_listed_as_not_decided_never_as_none_applies(tmp_path):
    """Covered whatever the age (gkg:Always) but no birth date: whether the I statement applies is unknown.
    The report lists it under 'Cannot decide yet' with what is missing, never 'none of its statements
    applies'; it is not an answer (no insufficient_evidence item) and orders nothing of its own."""
    path = _variant(tmp_path, ("gkg:coversCondition ex:crit-40-or-older", "gkg:coversCondition ex:always"),
                    extra='\nex:always a gkg:Always ; rdfs:label "every adult"@en .\n')
    kb = KnowledgeBase.load([path])
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "gender": "male"}}]}
    patient = load_patient_input("p.json", matcher=kb.matcher, measures=kb.measures, reads=kb.reads,
                                 raw=json.dumps(bundle).encode())
    evaluation = evaluate(kb, [patient], as_of=date(2026, 1, 15))
    report = build_report(evaluation, patient.patient_iri, kb.version(), facts=True, patient_lang="en")
    assert "insufficient_evidence" not in report and not report["no_statement_applies"]
    [item] = [u for u in report["undetermined"] if u["iri"] == NS + "ie-76"]
    assert item["because"] == ["age 76 years or older: unknown (no usable birth date)",
                               "if it applies: the guideline makes no recommendation for or against "
                               "widgetstatin for this patient"]
    assert [m["kind"] for m in item["missing"]] and not report["recommendations"]
    text = render(report)
    assert "Cannot decide yet" in text and "if it applies: the guideline makes no recommendation" in text
    assert NONE_APPLIES not in text and HEADING not in text
    check_valid(fhir_bundle([report]))
    jsonschema.validate(build_report(evaluation, patient.patient_iri, kb.version(), patient_lang="en"), SCHEMA)


def test_validate_reports_a_recommendation_overlapping_an_i_statement(tmp_path):
    """The I statement's population overlapping the grade B recommendation for the same intervention (ages
    40 to 75 in both) is a recommendation-conflict naming the joint region; the fixture as shipped has none."""
    populations = '\nex:rec-40-75 gkg:population "adults" .\nex:ie-76 gkg:population "adults" .\n'
    overlap = _variant(tmp_path, ("gkg:applicability ex:crit-76-or-older", "gkg:applicability ex:crit-40-or-older"),
                       extra=populations)
    found = [f for f in validate([overlap], owl=False)["findings"] if f["code"] == "recommendation-conflict"]
    assert [f["message"] for f in found] == [
        "conflicts with insufficient-evidence statement 'widgetstatin for adults 76 years or older' in population "
        "'adults': both apply when age >= 40 and <= 75 a"]
    apart = _variant(tmp_path, extra=populations)
    assert not [f for f in validate([apart], owl=False)["findings"] if f["code"] == "recommendation-conflict"]


@pytest.mark.parametrize(("birth", "expected", "passes"), [("1945-06-01", ["ie-76"], True),
                                                           ("1966-06-01", ["ie-76"], False),
                                                           ("1966-06-01", [], True)])
def test_a_vignette_can_expect_the_i_statements_that_apply(tmp_path, capsys, birth, expected, passes):
    """`expect` has insufficient_evidence (trial author: the key was refused, and a case naming the statement
    in its checks passed whether or not it applied)."""
    from guidelinekg.cli import main

    case = tmp_path / "cases" / "001-case"
    case.mkdir(parents=True)
    (case / "patient.json").write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "birthDate": birth}}]}), encoding="utf-8")
    (case / "expected.json").write_text(json.dumps({
        "description": "an I statement", "checks": [NS + "ie-76"], "as_of": "2026-01-15",
        "expect": {"insufficient_evidence": expected}}), encoding="utf-8")
    code = main(["vignettes", str(tmp_path / "cases"), "--content", str(FIXTURE)])
    out = capsys.readouterr().out
    assert (code, out.startswith("pass")) == ((0, True) if passes else (1, False)), out
    if not passes:
        assert "insufficient_evidence: expected [ie-76], got []" in out
