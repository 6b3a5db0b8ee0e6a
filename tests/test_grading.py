"""Grading systems beyond GRADE: a guideline declares its own (gkg:GradingSystem of gkg:Grade concepts, each on
an axis, optionally mapped to GRADE); reports show the guideline's own grade, and the GRADE equivalent only as
the documented mapping. Made-up content: tests/fixtures/grading/grading.ttl."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import jsonschema
import json
import pytest

from guidelinekg.checks.validate import validate
from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.report.patient import build_report
from guidelinekg.report.views import render
from test_reasoner import madeup_patient

FIXTURES = Path(__file__).parent / "fixtures"
CONTENT = [FIXTURES / "madeup" / "guideline.ttl", FIXTURES / "actions" / "actions.ttl",
           FIXTURES / "grading" / "grading.ttl"]
NS = "urn:example:madeup:"
SCHEMA = json.loads((Path(__file__).parents[1] / "docs" / "recommend.schema.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def report() -> dict:
    kb = KnowledgeBase.load(CONTENT)
    evaluation = evaluate(kb, [madeup_patient("30")], as_of=date(2026, 1, 5))
    return build_report(evaluation, "urn:example:Patient/w1", kb.version())


def test_the_guidelines_own_grade_is_reported(report):
    made = {r["iri"].removeprefix(NS): r for r in report["recommendations"]}
    assert made["rec-advice"]["grades"] == [
        {"iri": NS + "class-2a", "system": "Widget Society grading", "axis": "strength", "grade": "2a",
         "label": "Class 2a", "grade_equivalent": "conditional", "mapping": "close"},
        {"iri": NS + "level-c", "system": "Widget Society grading", "axis": "certainty", "grade": "C",
         "label": "Level C", "grade_equivalent": None, "mapping": None}]
    # the mapping is not passed off as the guideline's GRADE grade
    assert made["rec-advice"]["strength"] is None and made["rec-advice"]["certainty"] is None
    assert made["rec-examplomab"]["grades"] == [] and made["rec-examplomab"]["strength"] == "strong"
    jsonschema.validate(report, SCHEMA)


def test_text_shows_the_own_grade(report):
    text = render(report)
    assert "eat more widgets" in text or "advice for low widget level" in text
    line = next(line for line in text.splitlines() if "advice for low widget level" in line)
    assert "Class 2a, Level C (Widget Society grading)" in line


def _shacl(tmp_path: Path, extra: str) -> list[dict]:
    path = tmp_path / "extra.ttl"
    path.write_text("@prefix gkg: <https://w3id.org/guidelinekg/ontology#> .\n@prefix ex: <urn:example:madeup:> .\n"
                    "@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n" + extra, encoding="utf-8")
    report = validate([*CONTENT, path], owl=False)
    return [f for f in report["findings"] if f["kind"] == "shacl" and ("level-" in f["focus"] or "rec-" in f["focus"])]


def test_shapes_check_grades(tmp_path):
    assert _shacl(tmp_path, "ex:rec-refer gkg:grade ex:level-c .\n") == []
    two = _shacl(tmp_path, 'ex:level-b a gkg:Grade ; skos:inScheme ex:widget-grading ; skos:notation "B" ; '
                           'gkg:gradeAxis gkg:CertaintyAxis .\nex:rec-refer gkg:grade ex:level-c , ex:level-b .\n')
    assert any("at most one gkg:grade on gkg:CertaintyAxis" in f["message"] for f in two), two
    loose = _shacl(tmp_path, 'ex:level-x a gkg:Grade ; skos:notation "X" .\n')
    assert {"sh:minCount"} <= {f["code"].replace("shacl:", "sh:") for f in loose}, loose
    assert any("skos:inScheme" in f["message"] for f in loose) and any("gkg:gradeAxis" in f["message"] for f in loose)


def test_a_grade_with_labels_in_several_languages_is_listed_once(tmp_path):
    extra = tmp_path / "labels.ttl"
    extra.write_text('@prefix ex: <urn:example:madeup:> .\n@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n'
                     '@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n'
                     'ex:class-2a skos:prefLabel "Classe 2a"@fr . ex:widget-grading rdfs:label "Widget-Bewertung"@de .\n',
                     encoding="utf-8")
    kb = KnowledgeBase.load([*CONTENT, extra])
    report = build_report(evaluate(kb, [madeup_patient("30")], as_of=date(2026, 1, 5)), "urn:example:Patient/w1",
                          kb.version())
    [advice] = [r for r in report["recommendations"] if r["iri"] == NS + "rec-advice"]
    assert [(g["grade"], g["label"], g["system"]) for g in advice["grades"]] == [
        ("2a", "Class 2a", "Widget Society grading"), ("C", "Level C", "Widget Society grading")]
