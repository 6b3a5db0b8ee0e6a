"""`guidelinekg render` shows what decides real patients and what was assumed, wherever it shows a threshold
or a dose (render/text.py, render/statements.py; queries/reports/render-criteria.rq, render-doses.rq).

Found by a guideline author: a threshold's ``gkg:alsoStatedAs`` ("< 6 mg/dL (360 µmol/L)"), which rule 40
compares results in that unit with, was missing from the rendering; and a dose's own verification status
(a ``gkg:Dose`` marked ``gkg:ProjectAssumption`` with a note) was rendered as a plain "dose 50 mg". Made-up
content: tests/fixtures/dose-status/guideline.ttl.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guidelinekg.content import resources
from guidelinekg.render.guideline import GuidelineGraph, render_markdown
from guidelinekg.render.plandefinition import plan_definitions

FIXTURE = Path(__file__).parent / "fixtures" / "dose-status" / "guideline.ttl"
ASSUMED = "The source says 'a low dose' without a number; 7 mg is this encoding's choice."


@pytest.fixture(scope="module")
def markdown() -> str:
    return render_markdown([*resources.vocabulary_files(), FIXTURE])


def test_a_threshold_shows_the_value_it_is_also_stated_in(markdown):
    assert "- Applies when: widget level [LOINC 99999-9] < 42 mg/dL (also stated as 0.42 g/L)" in markdown


def test_a_threshold_stated_once_is_unchanged(tmp_path):
    plain = tmp_path / "plain.ttl"  # the same content without the second value
    text = FIXTURE.read_text(encoding="utf-8").replace(
        ' ;\n    gkg:alsoStatedAs [ a gkg:Quantity ; gkg:value 0.42 ; gkg:unit "g/L" ] .', " .")
    assert "gkg:alsoStatedAs [" not in text
    plain.write_text(text, encoding="utf-8")
    rendered = render_markdown([*resources.vocabulary_files(), plain])
    assert "- Applies when: widget level [LOINC 99999-9] < 42 mg/dL\n" in rendered
    assert "also stated as" not in rendered


def test_the_fhir_plan_definition_condition_shows_it_too():
    graph = GuidelineGraph.load([*resources.vocabulary_files(), FIXTURE])
    bundle = plan_definitions(graph.view, graph.select_versions(None))
    assert "< 42 mg/dL (also stated as 0.42 g/L)" in json.dumps(bundle, ensure_ascii=False)


def test_an_interventions_dose_shows_its_status_and_note(markdown):
    [line] = [x for x in markdown.splitlines() if x.startswith("- Intervention: *alphamab 7 mg*")]
    assert f"dose 7 mg (project assumption (ASSUMPTION): {ASSUMED})" in line


def test_a_dosing_statements_doses_show_their_status(markdown):
    lines = markdown.splitlines()
    assert "- Dose: 2 mg (unverified (UNVERIFIED): Not found in the product information.)" in lines
    assert any(x.startswith("- Dose: 2 mg (") and x.endswith("(PRIMARY))") for x in lines)
    assert any(x.startswith("- Dose: 0.5 mg/kg") and x.endswith("(SECONDARY): Seen in a review only.)") for x in lines)


def test_a_dose_without_a_status_is_unchanged(markdown):
    [line] = [x for x in markdown.splitlines() if x.startswith("- Intervention: *deltamab 5 mg*")]
    assert line.endswith("; dose 5 mg")
