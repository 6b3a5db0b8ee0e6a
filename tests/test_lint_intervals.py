"""The interval arithmetic behind the threshold lints, checked against brute force on sample points."""

from __future__ import annotations

import random
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from guidelinekg.checks.regions import COMPARATORS, Interval, Region, describe, describe_region, gaps

FERRITIN = ("https://loinc.org/2276-4", "serum ferritin", "ng/mL")
TSAT = ("https://loinc.org/2502-3", "transferrin saturation", "%")


def band(comparator: str, value: int) -> Interval:
    return COMPARATORS[comparator][0](Decimal(value))


def contains(interval: Interval, x: Decimal) -> bool:
    return interval.meet(Interval(x, True, x, True)) is not None


@st.composite
def intervals(draw) -> Interval:
    lo = draw(st.integers(0, 12))
    hi = draw(st.one_of(st.none(), st.integers(lo, 12)))
    interval = Interval(
        Decimal(lo), draw(st.booleans()), None if hi is None else Decimal(hi), draw(st.booleans())
    )
    return interval if not interval.is_empty() else Interval(Decimal(lo), True, Decimal(lo), True)


# Every integer and half-integer from 0 to 14: boundaries and the open stretches between them.
SAMPLES = [Decimal(n) / 2 for n in range(29)]


@given(st.lists(intervals(), min_size=1, max_size=5))
def test_gaps_are_exactly_the_uncovered_points(bands):
    found = gaps(bands)
    for x in SAMPLES:
        covered = any(contains(b, x) for b in bands)
        in_gap = any(contains(g, x) for g in found)
        assert covered != in_gap, (x, bands, found)


@given(st.lists(intervals(), min_size=1, max_size=5), st.randoms())
def test_gaps_do_not_depend_on_order(bands, rnd: random.Random):
    shuffled = bands[:]
    rnd.shuffle(shuffled)
    assert gaps(shuffled) == gaps(bands)


@given(intervals(), intervals())
def test_meet_is_the_intersection(a, b):
    both = a.meet(b)
    for x in SAMPLES:
        assert (contains(a, x) and contains(b, x)) == (both is not None and contains(both, x))


@given(st.sampled_from(sorted(COMPARATORS)), st.integers(0, 10))
def test_a_comparator_and_its_negation_partition_the_axis(comparator, value):
    negation = COMPARATORS[comparator][1]
    for x in SAMPLES:
        assert contains(band(comparator, value), x) != contains(band(negation, value), x)


def test_shipped_bands_overlap_at_75_and_leave_no_gap():
    low, mid, high = (
        band("LessOrEqual", 75),
        band("GreaterOrEqual", 75).meet(band("LessOrEqual", 100)),
        band("GreaterThan", 100),
    )
    assert low.meet(mid) == Interval(Decimal(75), True, Decimal(75), True)
    assert mid.meet(high) is None
    assert gaps([low, mid, high]) == []
    assert gaps([band("LessThan", 75), band("GreaterThan", 75)]) == [
        Interval(Decimal(75), True, Decimal(75), True)
    ]


def test_describe():
    assert describe(FERRITIN, band("LessOrEqual", 75)) == "serum ferritin <= 75 ng/mL"
    assert describe(FERRITIN, band("GreaterThan", 100)) == "serum ferritin > 100 ng/mL"
    assert (
        describe(FERRITIN, Interval(Decimal("75.0"), True, Decimal("75.0"), True))
        == "serum ferritin = 75 ng/mL"
    )
    assert (
        describe(FERRITIN, band("GreaterOrEqual", 75).meet(band("LessThan", 100)))
        == "serum ferritin >= 75 and < 100 ng/mL"
    )


def test_regions_meet_and_contradict():
    high_ferritin = Region(((FERRITIN, band("GreaterThan", 100)),))
    low_tsat = Region(((TSAT, band("LessThan", 20)),))
    both = high_ferritin.meet(low_tsat)
    assert describe_region(both) == "serum ferritin > 100 ng/mL and transferrin saturation < 20 %"
    assert high_ferritin.meet(Region(((FERRITIN, band("LessOrEqual", 75)),))) is None
    esrd, no_esrd = (Region(literals=frozenset({("x:esrd", "ESRD", holds)})) for holds in (True, False))
    assert esrd.meet(no_esrd) is None
    assert describe_region(no_esrd.meet(low_tsat)) == "transferrin saturation < 20 % and not ESRD"
    assert both.within(high_ferritin) and not high_ferritin.within(both)
