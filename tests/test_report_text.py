"""The patient report as a clinician reads it (issue #17): every applicable not-indicated statement
reported, cautions with the recommendation they concern, why a special population's statement is not
made, no notes meant for authors, identifiers of the works cited, units on every number, one line per
reason, and Markdown that a CommonMark parser reads as the nested explanation it is."""

from __future__ import annotations

from datetime import date

import pytest
from markdown_it import MarkdownIt

from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.report.patient import build_report
from guidelinekg.report.views import render
from vignettes import load_vignettes

CASES = {v.name: v for v in load_vignettes()}


def report_of(kb, name: str) -> dict:
    vignette = CASES[name]
    data = load_patient_input(vignette.patient, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    evaluation = evaluate(kb, [data], as_of=date.fromisoformat(vignette.as_of))
    return build_report(evaluation, data.patient_iri, kb.version())


def nesting(markdown: str) -> list[tuple[int, str]]:
    """(list depth, text) of every list item's paragraph, as CommonMark reads the Markdown."""
    depth, out = 0, []
    for token in MarkdownIt("commonmark").parse(markdown):
        if token.type == "bullet_list_open":
            depth += 1
        elif token.type == "bullet_list_close":
            depth -= 1
        elif token.type == "inline" and depth:
            out.append((depth, token.content))
    return out


@pytest.mark.parametrize("name", ["149-esrd-ferritin-250-iron-sucrose-not-met", "150-oral-iron-with-its-cautions",
                                  "147-ferritin-150-tsat-30-not-indicated"])
def test_markdown_explanations_are_nested_lists(kb, name):
    report = report_of(kb, name)
    items = nesting(render(report, markdown=True))
    if report["population_not_met"] or report["recommendations"]:
        first = (report["population_not_met"] or report["recommendations"])[0]
        head = first["label"]
    else:
        first = report["not_indicated"][0]
        head = first["statement"]
    # the item, then each line of its explanation one level deeper per level of the tree (never folded
    # into the item's paragraph, as indented lines under a list item are)
    start = next(i for i, (d, text) in enumerate(items) if d == 1 and text.startswith(head[:20]))
    for offset, line in enumerate(first["because"], start=1):
        depth, text = items[start + offset]
        assert text == line.strip()
        assert depth == 2 + (len(line) - len(line.lstrip(" "))) // 2


def test_cautions_travel_with_their_recommendation_in_text(kb):
    text = render(report_of(kb, "150-oral-iron-with-its-cautions"))
    oral = text[text.index("oral ferrous sulfate"):]
    oral = oral[:oral.index("\n  - ")] if "\n  - " in oral else oral
    assert "caution: Common side effect: constipation" in oral
    dextran = text[text.index("IV low molecular weight iron dextran"):]
    assert "caution: Give a test dose before the first therapeutic dose of iron dextran (product label)." in dextran


def test_not_indicated_is_said_even_when_it_suppresses_nothing(kb):
    report = report_of(kb, "147-ferritin-150-tsat-30-not-indicated")
    assert report["recommendations"] == [] and report["not_recommended"] == []
    [above] = [n for n in report["not_indicated"] if n["iri"].endswith("/ni-iron-above-100")]
    assert above["suppresses"] == []
    assert above["because"] == ["serum ferritin > 100 ng/mL: true (measured 150 ng/mL on 2026-01-20, Observation/p147-ferritin-1)"]
    text = render(report)
    assert "Not indicated for this patient\n  - Iron supplementation generally not indicated" in text


def test_what_a_restriction_set_aside_is_listed(kb):
    report = report_of(kb, "007-ferritin-150-tsat-15-conflict")
    [above] = [n for n in report["not_indicated"] if n["iri"].endswith("/ni-iron-above-100")]
    assert [s.rsplit("/", 1)[1] for s in above["suppresses"]] == [
        "rec-fcm", "rec-ferumoxytol", "rec-lmw-iron-dextran", "rec-oral-ferrous-sulfate"]


def test_one_line_per_reason_not_per_intervention(kb):
    text = render(report_of(kb, "149-esrd-ferritin-250-iron-sucrose-not-met"))
    section = text[text.index("Not recommended for this patient"):].split("\n\n")[0]
    assert section.count("Patients with end-stage renal disease are a special population") == 1
    assert section.count("\n  - ") == 1


def test_no_author_notes_and_identifiers_of_works(kb):
    report = report_of(kb, "020-child-with-esrd")
    text = render(report)
    assert "clinical-facts.md" not in text and ".." not in text
    assert "grading not stated in the source" in text
    assert report["recommendations"][0]["grading_note"]  # kept in the JSON, for authors and auditors
    assert "(2018, PMID 29425576)" in text


def test_an_age_has_its_unit(kb):
    text = render(report_of(kb, "020-child-with-esrd"))
    assert "child (age <18 years): true (age 11 years, born 2014-03-03)" in text


def test_a_long_reason_is_said_once(kb, tmp_path):
    """A ferritin in a unit that does not convert makes every criterion on ferritin unknown: the text says
    why once (and in the warning), then "as above"; the JSON keeps every explanation whole."""
    import json

    doc = json.loads(CASES["148-ferritin-80-avoid-oral-iron-reported"].patient.read_text(encoding="utf-8"))
    for entry in doc["entry"]:
        res = entry["resource"]
        if res["resourceType"] == "Observation" and res["code"]["coding"][0]["code"] == "2276-4":
            res["valueQuantity"].update(unit="kg", code="kg")
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    data = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    report = build_report(evaluate(kb, [data], as_of=date(2026, 2, 1)), data.patient_iri, kb.version())
    text = render(report)
    assert text.count("cannot convert kg to ng/mL") == 2  # one explanation, one warning
    assert text.count("unknown (as above)") >= 3
    assert sum("cannot convert kg to ng/mL" in line for u in report["undetermined"] for line in u["because"]) >= 4


def test_patient_data_never_becomes_lines_markup_or_terminal_commands(kb, tmp_path):
    """A result status with line breaks and HTML, a unit with an ESC sequence: the text and Markdown reports
    keep each on its line, escape the tag, and print no control character."""
    import json

    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "birthDate": "1970-01-01"}},
        {"resource": {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
                      "clinicalStatus": {"coding": [{"code": "active"}]},
                      "code": {"coding": [{"system": "http://snomed.info/sct", "code": "32914008"}]}}},
        {"resource": {"resourceType": "Observation", "id": "f1", "status": "bogus\n\n## Injected\n<iframe src=//evil>",
                      "code": {"coding": [{"system": "http://loinc.org", "code": "2276-4"}]},
                      "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-01-10T08:00:00+01:00",
                      "valueQuantity": {"value": 45, "unit": "ng/mL\u001b[2J\u001b[31m"}}}]}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    report = build_report(evaluate(kb, [patient], as_of=date(2026, 1, 15)), patient.patient_iri, kb.version())
    for markdown in (False, True):
        text = render(report, markdown=markdown)
        assert "\u001b" not in text and not any(line.startswith("## Injected") for line in text.splitlines())
        assert ("<iframe" not in text) if markdown else True
    assert "&lt;iframe" in render(report, markdown=True)
