"""Threshold lints over applicability regions: overlapping and gapped bands, conflicting statements.

``threshold-overlap`` and ``threshold-gap`` compare the intervals of one measure within a population.

An overlap is reported only where it can do harm: two recommendations (or two dosing statements) about the
same intervention (the same intervention node, substance or class) whose bands differ and overlap, with
applicability regions that can hold at once (so an OR branch, or a branch ruled out by another measure or
criterion, is not taken for an overlap). Recommendations of different interventions in overlapping bands
are alternatives; a statement's own OR branches never overlap each other, nor does a band another
statement also has; statements that give nothing (good practice, assessment, monitoring) are not
compared; and a recommendation against a not-indicated statement is ``recommendation-conflict``.

A gap is a part of the axis no statement covers between bands, or beyond a band bounded on both sides
("5-8" with nothing above 8). A measure constrained by a single interval in a population, or used by one
statement only, is a threshold, not a banding; and what lies above the highest of several thresholds
that start at the bottom of the axis ("< 15", "<= 100") or below the lowest of several that run to infinity
is outside every statement by design, so neither is reported. The axis starts at 0, or is unbounded below
for a measure that can be negative (a plausible minimum or a threshold below 0: DXA T-scores "<= -2.5"),
as :mod:`guidelinekg.checks.regions` says; so "<= -2.5" and "-2.5 to -1.0" overlap at -2.5, and a gap
below a band "-2.5 to -1.0" lies under -2.5, not between 0 and it. ``recommendation-conflict`` names the
region where a recommendation and a not-indicated statement about the same intervention both apply.

Thresholds on one measure (or on age) in different units are compared in one unit
(:mod:`guidelinekg.checks.bandunits`: "< 60 mo" and ">= 5 a" meet); a band converted from the unit it is
written in is shown in the compared unit with its stated form. Units that do not convert are
``threshold-units-incomparable``, and the measure's gaps are not computed in a population whose bands
use two of them.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from dataclasses import replace
from decimal import Decimal, InvalidOperation

from pyoxigraph import Literal

from guidelinekg.checks.bandunits import OneUnit
from guidelinekg.checks.regions import (
    Applicability,
    Axis,
    Interval,
    Region,
    _num,
    describe,
    describe_region,
    g,
    gaps,
    product,
)
from guidelinekg.checks.terms import statement_line
from guidelinekg.content.loading import Finding
from guidelinekg.patients.units import MeasureCatalog, UnitConversionError, convert, is_ucum


def _minimal(regions: list[Region]) -> list[Region]:
    """Drop regions inside another one, so a witness lists only the largest joint regions."""
    unique = list(dict.fromkeys(regions))
    return [r for r in unique if not any(o != r and r.within(o) for o in unique)]


# --- The threshold checks --------------------------------------------------------------------------


def _finding(model: Applicability, code: str, focus, message: str) -> Finding:
    return model.content.finding(focus, "warning", "lint", code, message, path="gkg:applicability")


def band_findings(model: Applicability) -> list[Finding]:
    """Overlaps between the bands of statements about the same intervention, and gaps in banded measures,
    per population."""
    one = OneUnit(model)  # each measure's bands in one unit
    uses: dict[tuple[str, Axis], list[tuple]] = defaultdict(list)  # -> [(statement, region, interval)]
    for stmt in model.statements():
        for region in one.statement(stmt):
            for axis, interval in region.bounds:
                for population in model.populations(stmt):
                    uses[(population, axis)].append((stmt, region, interval))
    findings, axes = one.findings(), Counter((population, axis[0]) for population, axis in uses)
    for (population, axis), used in sorted(uses.items(), key=lambda u: (u[0][0], u[0][1])):
        findings += _overlaps(model, population, axis, used, one)
        if axes[(population, axis[0])] == 1:  # else units that do not convert: the others may cover its gaps
            findings += _gaps(model, population, axis, used, one)
    return findings + _unit_mismatches(model) + _stated_as_unusable(model)


GKG_NS = "https://w3id.org/guidelinekg/ontology#"
_SIDE = {"LessThan": "below", "LessOrEqual": "below", "GreaterThan": "above", "GreaterOrEqual": "above"}


def _stated_as(model: Applicability, criterion) -> dict[str, set]:
    """The criterion's threshold as the source also states it (gkg:alsoStatedAs), by unit: unit -> values."""
    objects, out = model.content.objects, defaultdict(set)
    for quantity in objects(criterion, g("alsoStatedAs")):
        for unit in objects(quantity, g("unit")):
            out[unit.value].update(v.value for v in objects(quantity, g("value")))
    return out


def _unit_mismatches(model: Applicability) -> list[Finding]:
    """``boundary-unit-mismatch``: thresholds of one measure at one value (the two sides of one boundary,
    "< 148" and ">= 148") of which some also state the value in another unit and others do not, or state
    another value there. A result in that unit is compared as published by the first and after conversion
    by the others, so bands that touch in the threshold's unit can leave a gap or overlap in that one
    (rule 40), which the threshold-gap lint, on the threshold's unit, cannot see."""
    objects = model.content.objects
    boundaries: dict[tuple, list] = defaultdict(list)  # (measure, unit, value) -> criteria
    for criterion in model.statements("ObservationThreshold"):
        measures, values = objects(criterion, g("onMeasure")), objects(criterion, g("thresholdValue"))
        units = tuple(sorted(u.value for u in objects(criterion, g("thresholdUnit"))))
        try:
            value = Decimal(values[0].value) if len(values) == 1 else None
        except InvalidOperation:
            value = None
        if len(measures) == 1 and value is not None:
            boundaries[(measures[0].value, units, value)].append(criterion)
    findings, catalog = [], MeasureCatalog.from_graph(model.content.store)
    for (measure, units, value), criteria in sorted(boundaries.items(), key=lambda b: (b[0][0], b[0][1], b[0][2])):
        sides = {_SIDE.get(cmp.value.removeprefix(GKG_NS)) for c in criteria for cmp in objects(c, g("comparator"))}
        if not {"below", "above"} <= sides:
            continue  # thresholds on one side of the value (two "< 5" of two populations): no boundary between them
        stated = {c: _stated_as(model, c) for c in criteria}
        where = f"{_num(value)} {' '.join(units)}".strip()
        for unit in sorted({u for by_unit in stated.values() for u in by_unit}):
            if not _converts(catalog, measure, unit):
                continue  # no result in that unit is usable: stated-unit-unusable says so
            given = {c: by_unit[unit] for c, by_unit in stated.items() if unit in by_unit}
            if len(criteria) < 2 or (len(given) == len(criteria) and len({frozenset(v) for v in given.values()}) == 1):
                continue
            shown = "; ".join(f"'{model.content.label(c)}': {' or '.join(sorted(v))} {unit}" for c, v in given.items())
            lacking = [c for c in criteria if c not in given]
            message = (
                f"thresholds at {where} on one measure state it in {unit} differently ({shown}"
                + (f"; not stated in {unit}: {_names(model, lacking)}" if lacking else "")
                + f"): a result reported in {unit} is compared with "
                + ("the value stated there where there is one and after conversion where there is not"
                   if lacking else "a different value by each")
                + f", so the bands can leave a gap or overlap at that boundary for results in {unit}; state "
                f"the same value in {unit} on each (gkg:alsoStatedAs), or on none"
            )
            focus = model.by_label(lacking or list(given))[0]
            findings.append(model.content.finding(focus, "warning", "lint", "boundary-unit-mismatch", message,
                                                  path="gkg:alsoStatedAs"))
    return findings


STATED_TOLERANCE = Decimal("0.05")  # a value also stated this far (relative) from the threshold is suspect


def _stated_as_unusable(model: Applicability) -> list[Finding]:
    """``stated-unit-unusable`` and ``stated-value-differs``: a threshold's gkg:alsoStatedAs that can never
    apply, or that says another thing. Rule 40 compares the stated value with a *usable* result in that unit:
    one the loader converted to the measure's canonical unit (its factors, then UCUM), so a unit that does not
    convert makes every result in it unusable and the stated value is never read. And a stated value that,
    converted, lies more than 5 % from the threshold (beyond the rounding of its last digit) decides a result
    in that unit otherwise than the threshold would: a typo, or a value of another threshold."""
    content, objects = model.content, model.content.objects
    catalog, findings, texts = MeasureCatalog.from_graph(content.store), [], {}
    for criterion in content.subjects_with(g("alsoStatedAs")):
        measures, values = objects(criterion, g("onMeasure")), objects(criterion, g("thresholdValue"))
        units = [u.value for u in objects(criterion, g("thresholdUnit")) if isinstance(u, Literal)]
        group = catalog.groups.get(measures[0].value) if len(measures) == 1 else None
        if group is None or len(values) != 1 or len(units) != 1 or len(group.canonical_units) != 1:
            continue  # the shapes, threshold-unit-mismatch or equivalent-measure-units say why
        canonical, unit = next(iter(group.canonical_units)), units[0]
        try:
            stated = Decimal(values[0].value)
            threshold = stated if unit == canonical else convert(stated, unit, group, canonical).value
        except (InvalidOperation, UnitConversionError):
            continue  # threshold-unit-mismatch
        for quantity in objects(criterion, g("alsoStatedAs")):
            for alt_unit, alt in itertools.product(objects(quantity, g("unit")), objects(quantity, g("value"))):
                if not isinstance(alt_unit, Literal) or not is_ucum(alt_unit.value):
                    continue  # unit-not-ucum
                try:
                    value = Decimal(alt.value)
                except InvalidOperation:
                    continue
                message = _stated_problem(group, canonical, f"{_num(stated)} {unit}", threshold, value, alt_unit.value)
                if message is None:
                    continue
                code, text = message
                quad = next(iter(content.store.quads_for_pattern(criterion, g("alsoStatedAs"), quantity, None)))
                finding = content.finding(criterion, "warning", "lint", code, text, path="gkg:alsoStatedAs",
                                          value=f"{_num(value)} {alt_unit.value}")
                file, line = statement_line(content, quad, texts)
                findings.append(replace(finding, file=file or finding.file, line=line or finding.line))
    return findings


def _converts(catalog: MeasureCatalog, measure: str, unit: str) -> bool:
    """Whether a result of ``measure`` in ``unit`` is converted to its canonical unit (usable)."""
    group = catalog.groups.get(measure)
    if group is None or len(group.canonical_units) != 1 or not is_ucum(unit):
        return True  # other checks report it; the boundary check goes on as before
    try:
        convert(Decimal(1), unit, group, next(iter(group.canonical_units)))
    except UnitConversionError:
        return False
    return True


def _stated_problem(group, canonical: str, shown: str, threshold: Decimal, value: Decimal,
                    unit: str) -> tuple[str, str] | None:
    """``(code, message)`` when ``value`` ``unit`` can never apply, or is far from ``threshold``."""
    also = f"the threshold {shown} is also stated as {_num(value)} {unit}"
    try:
        converted = convert(value, unit, group, canonical)
    except UnitConversionError as exc:
        return "stated-unit-unusable", (
            f"{also}, but no result in {unit} is ever compared with it: {unit} does not convert to the measure's "
            f"unit {canonical} ({exc}), so a result in {unit} is unusable (unit-not-convertible) and rule 40 "
            f"never reads the stated value: give the measure a gkg:UnitFactor between {unit} and {canonical} if "
            "the source gives one, or remove the gkg:alsoStatedAs")
    half = Decimal(5).scaleb(value.as_tuple().exponent - 1)  # half a unit of the last digit written
    try:
        rounding = abs(convert(value + half, unit, group, canonical).value - converted.value)
    except UnitConversionError:
        rounding = Decimal(0)
    if abs(converted.value - threshold) <= max(abs(threshold) * STATED_TOLERANCE, rounding):
        return None
    away = f", {_num(round(abs(converted.value - threshold) / abs(threshold) * 100, 1))} % away" if threshold else ""
    return "stated-value-differs", (
        f"{also}, which is {_num(converted.value)} {canonical} ({converted.note}){away}: a result in {unit} is "
        f"compared with {_num(value)} and one in {canonical} with the threshold, so the unit a laboratory reports "
        f"in decides the outcome: check the value the source states in {unit} (a typo, or another threshold's)")


# Statements compared for overlaps: what they give (the property naming it) and with what they compete.
GIVING = (("Recommendation", "intervention"), ("DosingStatement", "dosingFor"))


def _gives(model: Applicability, stmt) -> tuple[str, set, set] | None:
    """``(kind, interventions, reach)`` of a recommendation or dosing statement; ``None`` for the others."""
    types = model.types(stmt)
    for kind, prop in GIVING:
        if kind in types:
            given = set(model.content.objects(stmt, g(prop)))
            reach = set().union(*(model.reach(i, with_classes=False) for i in given))
            return (kind, given, reach) if reach else None
    return None


def _names(model: Applicability, nodes) -> str:
    return "; ".join(sorted({model.content.label(n) for n in nodes}))


def _overlaps(model: Applicability, population: str, axis: Axis, used: list[tuple], one: OneUnit) -> list[Finding]:
    bands: dict = defaultdict(set)  # statement -> its intervals on the axis
    for stmt, _, interval in used:
        bands[stmt].add(interval)
    gives = {stmt: _gives(model, stmt) for stmt in bands}
    pairs: dict = defaultdict(lambda: (set(), set(), set()))  # (a, b) -> statements at a, at b, shared
    for (s1, r1, a), (s2, r2, b) in itertools.combinations(used, 2):
        if s1 == s2 or a == b or a in bands[s2] or b in bands[s1]:
            continue  # one statement's own branches, or a band both statements have
        g1, g2 = gives[s1], gives[s2]
        if g1 is None or g2 is None or g1[0] != g2[0] or not g1[2] & g2[2] or r1.meet(r2) is None:
            continue  # nothing given twice, or never both at once
        if b.key() < a.key():
            (s1, a, g1), (s2, b, g2) = (s2, b, g2), (s1, a, g1)
        at_a, at_b, shared = pairs[(a, b)]
        at_a.add(s1)
        at_b.add(s2)
        common = g1[2] & g2[2]
        shared.update((common & (g1[1] | g2[1])) or common)  # the interventions, else the substance or class
    findings = []
    for (a, b), (at_a, at_b, shared) in sorted(pairs.items(), key=lambda p: (p[0][0].key(), p[0][1].key())):
        message = (
            f"threshold bands overlap at {describe(axis, a.meet(b))} in population '{population}': "
            f"{describe(axis, a)} ({_names(model, at_a)}{one.as_stated(axis, a)}) and "
            f"{describe(axis, b)} ({_names(model, at_b)}{one.as_stated(axis, b)}), "
            f"both about {_names(model, shared)}: make one limit exclusive (< for <=, > for >=) so that the "
            "bands only touch, unless both statements are meant to apply there"
        )
        findings.append(_finding(model, "threshold-overlap", model.by_label(at_a | at_b)[0], message))
    return findings


def _middle(interval: Interval) -> bool:
    """A band bounded on both sides ("5-8"), not a threshold from the bottom of the axis or to infinity."""
    return interval.hi is not None and not interval.from_bottom()


def _holds_whole_number(iv: Interval) -> bool:
    """Whether a whole number lies in the interval (an unbounded one always holds one)."""
    if iv.lo is None or iv.hi is None:
        return True
    n = math.floor(iv.lo) + 1 if iv.lo == math.floor(iv.lo) and not iv.lo_closed else math.ceil(iv.lo)
    return n < iv.hi or (n == iv.hi and iv.hi_closed)


def _gaps(model: Applicability, population: str, axis: Axis, used: list[tuple], one: OneUnit) -> list[Finding]:
    by_interval: dict[Interval, set] = defaultdict(set)
    for stmt, _, interval in used:
        by_interval[interval].add(stmt)
    intervals = sorted(by_interval, key=Interval.key)
    involved = model.by_label(set().union(*by_interval.values()))
    if len(intervals) < 2 or len(involved) < 2:  # a threshold, or one statement's own disjunction
        return []
    findings = []
    for gap in gaps(intervals):
        below = [iv for iv in intervals if iv.hi is not None and iv.hi == gap.lo]
        above = [iv for iv in intervals if gap.hi is not None and iv.lo == gap.hi]
        if not any(_middle(iv) for iv in below + above) and (gap.hi is None or gap.from_bottom()):
            continue  # above the highest threshold from the axis' start, or below the lowest to infinity
        if one.whole_units(axis[0]) and not _holds_whole_number(gap):
            continue  # "<= 23 mo" and ">= 24 mo": no age in completed months lies between them
        bands = "; ".join(describe(axis, iv) for iv in intervals)
        edges = [f"{describe(axis, iv)} ({_names(model, by_interval[iv])}{one.as_stated(axis, iv)})"
                 for iv in below + above]
        fix = (f"; the bands next to it: {' and '.join(edges)}: move one of their thresholds to close it, "
               "unless the guideline means no statement to apply there" if edges else "")
        message = (
            f"threshold bands leave a gap at {describe(axis, gap)} in population '{population}': "
            f"no statement covers it (bands: {bands}){fix}"
        )
        # located at a statement next to the gap (the band below it, else above), not the first by label
        nearest = model.by_label(set().union(*(by_interval[iv] for iv in below + above))) or involved
        findings.append(_finding(model, "threshold-gap", nearest[0], message))
    return findings


SHOWN_REGIONS = 3  # joint regions named in a recommendation-conflict message


def conflict_findings(model: Applicability) -> list[Finding]:
    """A recommendation for an intervention that a not-indicated statement covers (and does not name as its
    gkg:exceptStatement), or that an insufficient-evidence statement is about (no recommendation for or
    against it), in the same population, where both applicabilities can hold at once; the message gives the
    joint regions."""
    objects, one = model.content.objects, OneUnit(model)  # bands in one unit ("< 60 mo" and ">= 5 a" meet)
    findings = []
    others = [(ni, "notIndicatedIntervention", "not-indicated statement")
              for ni in model.statements("NotIndicatedStatement")]
    others += [(ie, "intervention", "insufficient-evidence statement")
               for ie in model.statements("InsufficientEvidenceStatement")]
    for rec in model.statements("Recommendation"):
        if g("For") not in objects(rec, g("direction")):
            continue
        recommended = set().union(
            *(model.reach(i, with_classes=True) for i in objects(rec, g("intervention")))
        )
        for ni, about, kind in others:
            covered = set().union(*(model.reach(i, with_classes=False) for i in objects(ni, g(about))))
            populations = sorted(model.populations(rec) & model.populations(ni))
            if ni == rec or not populations or not recommended & covered or rec in objects(ni, g("exceptStatement")):
                continue  # (a statement the not-indicated one names as its exception is not restricted by it)
            joint = _minimal(list(product(one.statement(rec), one.statement(ni))))
            if not joint:
                continue
            described = sorted(describe_region(r) for r in joint)
            where = " or ".join(f"({d})" for d in described[:SHOWN_REGIONS]) if len(described) > 1 else described[0]
            if len(described) > SHOWN_REGIONS:  # one readable line: the first regions, and how many more
                where += f" or {len(described) - SHOWN_REGIONS} more region(s) (`guidelinekg render` shows both criteria)"
            for population in populations:
                message = (
                    f"conflicts with {kind} '{model.content.label(ni)}' in population "
                    f"'{population}': both apply when {where}"
                )
                findings.append(_finding(model, "recommendation-conflict", rec, message))
    return findings
