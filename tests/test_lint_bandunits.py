"""Threshold bands of one measure (or of age) stated in different units are compared in one unit.

Fixtures: ``tests/fixtures/validate/bandunits/*.ttl``, each loaded on top of the lint-clean example guideline.
"""

from __future__ import annotations

from pathlib import Path

from guidelinekg.checks import lint
from guidelinekg.content import resources
from guidelinekg.content.loading import Finding, load_files

FIXTURES = Path(__file__).parent / "fixtures" / "validate"
EXAMPLE = FIXTURES / "example"
BANDUNITS = FIXTURES / "bandunits"


def lints(name: str, code: str) -> list[Finding]:
    content, problems = load_files([*resources.vocabulary_files(), EXAMPLE, BANDUNITS / name])
    assert problems == []
    return [f for f in lint.run_lints(content) if f.code == code]


def test_a_gap_between_bands_in_one_unit_is_still_reported():
    (gap,) = lints("age-gap-one-unit.ttl", "threshold-gap")
    assert "gap at age >= 4 and < 5 a in population 'children'" in gap.message
    assert "stated as" not in gap.message


def test_bands_in_months_and_years_that_meet_leave_no_gap():
    """< 60 mo and >= 5 a meet exactly (UCUM: 1 mo = 30.4375 d, 1 a = 365.25 d); read apart, the bands in
    years alone seemed to leave everything below 5 a uncovered."""
    assert lints("age-meet.ttl", "threshold-gap") == []
    assert lints("age-meet.ttl", "threshold-units-incomparable") == []


def test_a_real_gap_across_units_is_reported_in_one_unit_with_the_band_as_stated():
    (gap,) = lints("age-gap.ttl", "threshold-gap")
    assert "gap at age >= 5 and < 6 a in population 'children'" in gap.message
    assert "(bands: age < 5 a; age >= 6 and < 10 a; age >= 10 a)" in gap.message
    assert "age < 5 a (children: under five, stated as age < 60 mo)" in gap.message
    assert " mo " not in gap.message.replace("stated as age < 60 mo", "")


def test_bands_in_two_spellings_of_a_mass_concentration_meet():
    """10000-20000 ug/L between < 10 mg/L and > 20 mg/L: no gap (their unit is threshold-unit-mismatch)."""
    assert lints("level-meet.ttl", "threshold-gap") == []
    assert len(lints("level-meet.ttl", "threshold-unit-mismatch")) == 2


def test_an_overlap_across_units_is_found_and_shown_in_the_measure_unit():
    (overlap,) = lints("level-overlap.ttl", "threshold-overlap")
    assert overlap.message.startswith(
        "threshold bands overlap at widget level >= 5 and < 10 mg/L in population 'children': widget level < 10 "
        "mg/L (children: drug A for low widget) and widget level >= 5 and <= 20 mg/L (children: drug A for "
        "middle widget, stated as widget level >= 5000 and <= 20000 ug/L)")


def test_no_conflict_where_bands_in_two_units_only_touch():
    """Drug A under 60 mo and no widget drug from 5 a never both apply."""
    assert lints("age-conflict.ttl", "recommendation-conflict") == []


def test_units_that_do_not_convert_are_said_so_not_taken_for_a_gap():
    assert lints("level-incomparable.ttl", "threshold-gap") == []
    (finding,) = lints("level-incomparable.ttl", "threshold-units-incomparable")
    assert finding.severity == "warning" and finding.line == 8 and finding.value == "mmol/L"
    assert finding.message.startswith("thresholds on widget level are stated in mmol/L and in mg/L, which do not convert")
    assert "no gap is checked where both are used" in finding.message and "\n" not in finding.message


def test_bands_in_weeks_and_months_are_compared_in_the_smaller_unit_they_are_stated_in():
    """As many thresholds in wk as in mo, whole in neither once converted: the gap reads in weeks, as the
    author wrote it (before: in months, the unit first by name, 'gap at age >= 4.59959 and < 5.97947 mo')."""
    (gap,) = lints("age-weeks-months.ttl", "threshold-gap")
    assert "gap at age >= 20 and < 26 wk in population 'infants'" in gap.message
    assert "age < 20 wk (infants: under 20 weeks)" in gap.message
