"""`guidelinekg render` shows a weight-based dose's rounding beside the dose, as the report does, and lists a
work added to the source's list under "Works added from verified facts" only when its verification status
says it was verified (render/statements.py, render/references.py; queries/reports/render-dose-rounding.rq).

Made-up content: tests/fixtures/render/mini-guideline.ttl with rounding-and-unverified-work.ttl.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from guidelinekg.content import resources
from guidelinekg.render.guideline import render_markdown

FIXTURES = Path(__file__).parent / "fixtures" / "render"
MINI = FIXTURES / "mini-guideline.ttl"
EXTRA = FIXTURES / "rounding-and-unverified-work.ttl"


@pytest.fixture(scope="module")
def markdown() -> str:
    return render_markdown([*resources.vocabulary_files(), MINI, EXTRA])


def section(markdown: str, heading: str) -> str:
    """The lines under ``### heading`` up to the next heading."""
    text = markdown.split(f"\n### {heading}\n", 1)[1]
    return text.split("\n#", 1)[0]


def test_a_rounded_dose_shows_its_rounding_and_status_beside_it(markdown):
    lines = markdown.splitlines()
    dose = ("- Dose: 0.25 mg/kg, at most 20 mg; per kg of body weight [LOINC 29463-7]; rounded down to a whole "
            "milligram (a multiple of 1 mg, down; project assumption (ASSUMPTION))")
    assert dose in lines
    assert lines[lines.index(dose) + 1] == (
        "  - rounding: The source says 'in whole milligrams' without a direction; down is this fixture's choice.")


def test_a_dose_without_rounding_is_unchanged(markdown):
    assert "- Dose: 0.5 mg/kg, at most 40 mg; per kg of body weight [LOINC 29463-7]\n" in markdown


def test_an_unverified_added_work_is_not_listed_among_verified_works(markdown):
    verified = section(markdown, "Works added from verified facts")
    assert "**Example trial 2018**" in verified
    assert "Example cohort 2017" not in verified and "Example letter 2016" not in verified
    unverified = section(markdown, "Works added, not verified")
    assert "- **Example cohort 2017**" in unverified
    assert ("  - Verification: unverified (UNVERIFIED): Named in a secondary summary; the paper was not found."
            in unverified)
    assert "- **Example letter 2016**" in unverified and "  - Verification: not recorded" in unverified
    assert "Example trial 2018" not in unverified


def test_without_unverified_works_there_is_no_such_heading():
    assert "Works added, not verified" not in render_markdown([*resources.vocabulary_files(), MINI])
