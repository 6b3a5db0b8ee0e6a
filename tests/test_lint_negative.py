"""Threshold band lints on measures that can be negative (DXA T-scores "T <= -2.5").

Before, every axis started at 0: "T <= -2.5" became an empty interval (so an opaque leaf, never compared),
"T > -2.5" became "T >= 0", and "-2.5 <= T <= 1.0" was shown as "<= 1". Now a measure whose plausible
minimum or one of whose thresholds is below 0 has an axis unbounded below (guidelinekg.checks.regions).
Fixtures: small made-up guidelines written here, after the shape of a trial author's osteoporosis probes.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from guidelinekg.checks import lint
from guidelinekg.checks.regions import COMPARATORS, Interval, complement, describe, gaps, whole
from guidelinekg.content import resources
from guidelinekg.content.loading import Finding, load_files

PREFIXES = """\
@prefix gkg:  <https://w3id.org/guidelinekg/ontology#> .
@prefix ex:   <https://example.org/guideline/neg/> .
@prefix loinc: <https://loinc.org/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
"""

COMMON = """
ex:guideline a gkg:Guideline ; rdfs:label "Negative thresholds"@en .
ex:v1 a gkg:GuidelineVersion ; rdfs:label "Negative thresholds v1"@en ;
    gkg:versionOf ex:guideline ; gkg:versionLabel "1" ; gkg:reviewStatus gkg:Submitted .
ex:cit a gkg:Citation ; rdfs:label "A trial"@en ; gkg:title "A trial" ; gkg:sourceKind gkg:PrimarySource .
ex:drug a gkg:Substance ; rdfs:label "drug A"@en .
ex:int-drug a gkg:Intervention ; rdfs:label "drug A 70 mg"@en ; gkg:substance ex:drug .
"""

TSCORE = """
loinc:38267-1 a gkg:Measure ; rdfs:label "spine T-score"@en ; gkg:canonicalUnit "1" ;
    gkg:plausibleRange ex:tscore-range .
ex:tscore-range a gkg:PlausibleRange ; rdfs:label "plausible T-score"@en ;
    gkg:plausibleMin -8 ; gkg:plausibleMax 8 .
"""

OPS = {"<": "LessThan", "<=": "LessOrEqual", ">": "GreaterThan", ">=": "GreaterOrEqual"}


def threshold(name: str, op: str, value: str, measure: str = "loinc:38267-1", unit: str = "1") -> str:
    return (f'ex:{name} a gkg:LabThreshold ; rdfs:label "{name}"@en ; gkg:onMeasure {measure} ; '
            f'gkg:comparator gkg:{OPS[op]} ; gkg:thresholdValue {value} ; gkg:thresholdUnit "{unit}" .\n')


def band(name: str, *bounds: tuple[str, str], measure: str = "loinc:38267-1", unit: str = "1") -> str:
    """A criterion ``name``: one threshold, or the gkg:AllOf of several."""
    if len(bounds) == 1:
        return threshold(name, *bounds[0], measure=measure, unit=unit)
    parts = [threshold(f"{name}-{i}", op, v, measure, unit) for i, (op, v) in enumerate(bounds)]
    members = " , ".join(f"ex:{name}-{i}" for i in range(len(bounds)))
    return "".join(parts) + f'ex:{name} a gkg:AllOf ; rdfs:label "{name}"@en ; gkg:member {members} .\n'


def recommendation(name: str, criterion: str, kind: str = "Recommendation") -> str:
    gives = ("gkg:notIndicatedIntervention ex:int-drug" if kind == "NotIndicatedStatement"
             else "gkg:direction gkg:For ; gkg:strength gkg:Strong ; gkg:intervention ex:int-drug")
    return (f'ex:{name} a gkg:{kind} ; rdfs:label "{name}"@en ; gkg:inVersion ex:v1 ; '
            f'gkg:sourceText "{name}" ; {gives} ; gkg:applicability ex:{criterion} ; '
            'gkg:population "women" ; gkg:citation ex:cit .\n')


def two_bands(a: tuple, b: tuple, measure: str = TSCORE) -> str:
    """Recommendations "rec A" and "rec B" of drug A in the bands ``a`` and ``b`` (tuples of (op, value))."""
    return (measure + band("crit-a", *a) + band("crit-b", *b)
            + recommendation("rec-a", "crit-a") + recommendation("rec-b", "crit-b"))


def lints(tmp_path: Path, body: str, code: str) -> list[Finding]:
    path = tmp_path / "guideline.ttl"
    path.write_text(PREFIXES + COMMON + body, encoding="utf-8")
    content, problems = load_files([*resources.vocabulary_files(), path])
    assert problems == []
    return [f for f in lint.run_lints(content) if f.code == code]


# --- the lints on T-score bands ----------------------------------------------------------------------


def test_bands_that_share_a_negative_limit_overlap_there(tmp_path):
    """T <= -2.5 and -2.5 <= T <= -1.0: both at -2.5 (before: nothing reported)."""
    (overlap,) = lints(tmp_path, two_bands((("<=", "-2.5"),), ((">=", "-2.5"), ("<=", "-1.0"))),
                       "threshold-overlap")
    assert overlap.message.startswith(
        "threshold bands overlap at spine T-score = -2.5 in population 'women': spine T-score <= -2.5 "
        "(rec-a) and spine T-score >= -2.5 and <= -1 (rec-b), both about drug A 70 mg")


def test_bands_that_only_touch_at_a_negative_limit_neither_overlap_nor_leave_a_gap(tmp_path):
    body = two_bands((("<=", "-2.5"),), ((">", "-2.5"), ("<=", "-1.0")))
    assert lints(tmp_path, body, "threshold-overlap") == []
    gaps_found = lints(tmp_path, body, "threshold-gap")
    assert [g.message.split(" in population")[0] for g in gaps_found] == [
        "threshold bands leave a gap at spine T-score > -1"]  # above the middle band, as for positive bands


def test_a_gap_between_negative_bands_is_reported(tmp_path):
    """T <= -2.5 and -2.4 < T <= -1.0 leave (-2.5, -2.4] (before: nothing reported)."""
    found = lints(tmp_path, two_bands((("<=", "-2.5"),), ((">", "-2.4"), ("<=", "-1.0"))), "threshold-gap")
    messages = [f.message for f in found]
    assert any(m.startswith("threshold bands leave a gap at spine T-score > -2.5 and <= -2.4 in population "
                            "'women'") for m in messages), messages
    (gap,) = [m for m in messages if "-2.4 in" in m]
    assert "(bands: spine T-score <= -2.5; spine T-score > -2.4 and <= -1)" in gap


def test_a_negative_band_inside_another_overlaps_it(tmp_path):
    """T <= -1.0 holds all of -2.5 < T <= -1.0 (before: nothing reported)."""
    (overlap,) = lints(tmp_path, two_bands((("<=", "-1.0"),), ((">", "-2.5"), ("<=", "-1.0"))),
                       "threshold-overlap")
    assert "overlap at spine T-score > -2.5 and <= -1 in population 'women'" in overlap.message
    assert "spine T-score <= -1 (rec-a) and spine T-score > -2.5 and <= -1 (rec-b)" in overlap.message


def test_a_band_across_zero_keeps_its_negative_limit(tmp_path):
    """T <= 0.5 and -2.5 <= T <= 1.0 (before: B shown as "<= 1", the overlap as "<= 0.5")."""
    (overlap,) = lints(tmp_path, two_bands((("<=", "0.5"),), ((">=", "-2.5"), ("<=", "1.0"))),
                       "threshold-overlap")
    assert "overlap at spine T-score >= -2.5 and <= 0.5 in population 'women'" in overlap.message
    assert "spine T-score <= 0.5 (rec-a) and spine T-score >= -2.5 and <= 1 (rec-b)" in overlap.message


def test_a_negative_threshold_alone_makes_the_axis_unbounded_below(tmp_path):
    """No plausible range: the threshold -2.5 says the measure can be negative."""
    bare = 'loinc:38267-1 a gkg:Measure ; rdfs:label "spine T-score"@en ; gkg:canonicalUnit "1" .\n'
    (overlap,) = lints(tmp_path, two_bands((("<=", "-2.5"),), ((">=", "-2.5"), ("<=", "-1.0")), bare),
                       "threshold-overlap")
    assert "overlap at spine T-score = -2.5" in overlap.message


@pytest.mark.parametrize("bounds", ["gkg:plausibleRange ex:be-range . ex:be-range a gkg:PlausibleRange ; "
                                    "gkg:plausibleMin -30 ; gkg:plausibleMax 30 .",
                                    "gkg:plausibleMin -30 ; gkg:plausibleMax 30 ."])
def test_a_negative_plausible_minimum_puts_a_gap_below_a_band_from_zero(tmp_path, bounds):
    """Base excess can be negative: bands 0-5 and >= 5 leave everything under 0 uncovered, and the band from 0
    is shown with its ">= 0" (on an axis that starts at 0 it would be "< 5" and no gap)."""
    measure = ('ex:base-excess a gkg:Measure ; rdfs:label "base excess"@en ; gkg:canonicalUnit "mmol/L" ; '
               f"{bounds}\n")
    body = (measure + band("crit-a", (">=", "0"), ("<", "5"), measure="ex:base-excess", unit="mmol/L")
            + band("crit-b", (">=", "5"), measure="ex:base-excess", unit="mmol/L")
            + recommendation("rec-a", "crit-a") + recommendation("rec-b", "crit-b"))
    (gap,) = lints(tmp_path, body, "threshold-gap")
    assert gap.message.startswith(
        "threshold bands leave a gap at base excess < 0 mmol/L in population 'women'")
    assert "(bands: base excess >= 0 and < 5 mmol/L; base excess >= 5 mmol/L)" in gap.message


def test_a_measure_that_cannot_be_negative_still_starts_at_zero(tmp_path):
    """The same bands with a plausible minimum of 0: the band from 0 is "< 5" and nothing lies below it."""
    measure = ('ex:level a gkg:Measure ; rdfs:label "level"@en ; gkg:canonicalUnit "mmol/L" ; '
               "gkg:plausibleMin 0 ; gkg:plausibleMax 30 .\n")
    body = (measure + band("crit-a", (">=", "0"), ("<", "5"), measure="ex:level", unit="mmol/L")
            + band("crit-b", (">=", "5"), measure="ex:level", unit="mmol/L")
            + recommendation("rec-a", "crit-a") + recommendation("rec-b", "crit-b"))
    assert lints(tmp_path, body, "threshold-gap") == []


def test_a_conflict_region_keeps_a_negative_lower_limit(tmp_path):
    """Drug A for osteopenia (not T <= -2.5, T <= -1.0), not indicated at eGFR < 35: the joint region is
    "-2.5 < T <= -1.0 and eGFR < 35" (before: "T >= 0 ... and <literal T <= -1.0>", an empty region)."""
    egfr = 'loinc:62238-1 a gkg:Measure ; rdfs:label "eGFR"@en ; gkg:canonicalUnit "mL/min" .\n'
    body = (TSCORE + egfr + threshold("t-le-m2.5", "<=", "-2.5") + threshold("t-le-m1", "<=", "-1.0")
            + 'ex:not-osteoporosis a gkg:Not ; rdfs:label "no T <= -2.5"@en ; gkg:negates ex:t-le-m2.5 .\n'
            + 'ex:osteopenia a gkg:AllOf ; rdfs:label "osteopenia"@en ; '
              "gkg:member ex:not-osteoporosis , ex:t-le-m1 .\n"
            + threshold("egfr-lt-35", "<", "35", "loinc:62238-1", "mL/min")
            + recommendation("rec-osteopenia", "osteopenia")
            + recommendation("ni-renal", "egfr-lt-35", "NotIndicatedStatement"))
    (conflict,) = lints(tmp_path, body, "recommendation-conflict")
    assert conflict.message == (
        "conflicts with not-indicated statement 'ni-renal' in population 'women': both apply when "
        "spine T-score > -2.5 and <= -1 and eGFR < 35 mL/min")


# --- the interval arithmetic ---------------------------------------------------------------------------

AXIS = ("<https://loinc.org/38267-1>", "spine T-score", "")


def on(floor, comparator: str, value: str) -> Interval:
    """The band "value <comparator> t" on an axis starting at ``floor``, as a threshold criterion reads."""
    return COMPARATORS[comparator][0](Decimal(value)).meet(whole(floor))


def test_intervals_with_negative_bounds_meet_and_compare():
    low = on(None, "LessOrEqual", "-2.5")
    mid = on(None, "GreaterOrEqual", "-2.5").meet(on(None, "LessOrEqual", "-1"))
    assert low.lo is None and low.meet(mid) == Interval(Decimal("-2.5"), True, Decimal("-2.5"), True)
    assert on(None, "LessThan", "-2.5").meet(mid) is None
    assert mid.within(on(None, "LessOrEqual", "-1")) and not on(None, "LessOrEqual", "-1").within(mid)
    assert sorted([mid, low], key=Interval.key) == [low, mid]
    assert on(Decimal(0), "LessOrEqual", "-2.5") is None  # below an axis that starts at 0: empty, as before


def test_gaps_on_an_axis_unbounded_below():
    mid = on(None, "GreaterThan", "-2.4").meet(on(None, "LessOrEqual", "-1"))
    assert gaps([mid]) == [Interval(None, False, Decimal("-2.4"), True, None), Interval(Decimal(-1), False)]
    assert gaps([on(None, "LessOrEqual", "-2.5"), mid, on(None, "GreaterThan", "-1")]) == [
        Interval(Decimal("-2.5"), False, Decimal("-2.4"), True)]
    assert gaps([on(None, "LessOrEqual", "-2.5"), on(None, "GreaterThan", "-2.5")]) == []


def test_describe_shows_a_bound_unless_it_is_the_start_of_the_axis():
    assert describe(AXIS, on(None, "LessOrEqual", "-2.5")) == "spine T-score <= -2.5"
    from_zero = on(None, "GreaterOrEqual", "0").meet(on(None, "LessThan", "5"))
    assert describe(AXIS, from_zero) == "spine T-score >= 0 and < 5"
    assert describe(AXIS, on(Decimal(0), "GreaterOrEqual", "0").meet(on(Decimal(0), "LessThan", "5"))) == (
        "spine T-score < 5")
    assert describe(AXIS, on(None, "GreaterThan", "-2.5")) == "spine T-score > -2.5"


def test_the_complement_of_a_negative_band_runs_to_minus_infinity():
    """Cross-guideline conflicts subtract regions: the rest of "-2.5 to -1" includes everything under -2.5."""
    mid = on(None, "GreaterOrEqual", "-2.5").meet(on(None, "LessOrEqual", "-1"))
    assert complement(mid) == [Interval(None, False, Decimal("-2.5"), False), Interval(Decimal(-1), False)]
    assert complement(on(Decimal(0), "GreaterOrEqual", "2.5")) == [Interval(Decimal(0), True, Decimal("2.5"),
                                                                             False)]
    assert complement(on(None, "LessOrEqual", "-2.5")) == [Interval(Decimal("-2.5"), False)]


def test_a_conflict_with_many_joint_regions_stays_one_readable_line(tmp_path):
    """Statin trial: a recommendation over an any-of of five bands against a not-indicated statement gave a
    2,400-character line; the message names the first three regions and how many more."""
    measures = "".join(f'ex:m{i} a gkg:Measure ; rdfs:label "score {i}"@en ; gkg:canonicalUnit "1" .\n'
                       for i in range(5))
    bands = "".join(band(f"b{i}", (">=", "2"), measure=f"ex:m{i}") for i in range(5))
    body = (TSCORE + measures + bands + 'ex:any a gkg:AnyOf ; rdfs:label "any band"@en ; gkg:member '
            + " , ".join(f"ex:b{i}" for i in range(5)) + " .\n" + band("all", ("<=", "8"))
            + recommendation("rec", "any") + recommendation("ni", "all", "NotIndicatedStatement"))
    [finding] = lints(tmp_path, body, "recommendation-conflict")
    assert finding.message.count(" or (") == 2 and "or 2 more region(s)" in finding.message
    assert len(finding.message) < 400
