"""Threshold bands in one unit: the regions of :mod:`guidelinekg.checks.regions` with every threshold on a
measure (or on age) converted to one unit before the band lints compare them.

:class:`~guidelinekg.checks.regions.Applicability` keeps a threshold in the unit it is written in, one axis
per unit; bands of one measure stated in two units ("< 60 mo" and ">= 5 a") would then never be compared,
and a banding read in one of them alone shows a gap the other unit covers. Here each measure's thresholds
are put on one axis: the measure's canonical unit when thresholds use it, else the unit most thresholds
use among those that convert to most others (between units used as often, the one in which most thresholds
are whole numbers, then the smallest: as many bands in wk as in mo read in wk, not in the unit first by
name); values are converted as the loader converts results
(:func:`guidelinekg.patients.units.convert`: the graph's unit factors of the measure, then UCUM; 1 mo =
30.4375 d and 1 a = 365.25 d, so 60 mo = 5 a exactly). An age threshold without a unit is in years (rule
43). The start of the axis (0, or unbounded below for a measure that can be negative: a band "< t" starts
there, :meth:`~guidelinekg.checks.regions.Applicability.floor`) is not converted.

A unit that does not convert to the chosen one stays on an axis of its own and is reported once
(``threshold-units-incomparable``); the measure's gaps are then not computed in a population whose bands
are in both, since bands in one unit alone would show gaps the others may cover. A unit that is no UCUM
code is left to ``unit-not-ucum``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal

from pyoxigraph import Literal

from guidelinekg.checks.regions import Applicability, Axis, Interval, Region, describe, g
from guidelinekg.content.loading import Finding
from guidelinekg.patients.units import MeasureCatalog, MeasureGroup, UnitConversionError, convert, is_ucum

AGE, AGE_UNIT = "age", "a"  # an age criterion without a unit counts completed years (rule 43)


class OneUnit:
    """Every statement's regions with each measure's thresholds in one unit (see the module notes)."""

    def __init__(self, model: Applicability):
        self.model = model
        self.catalog = MeasureCatalog.from_graph(model.content.store)
        used: dict[str, Counter] = defaultdict(Counter)  # measure -> unit -> thresholds using it
        written: dict[str, set] = defaultdict(set)  # measure -> units as written ("" and "a" for age)
        values: dict[str, set] = defaultdict(set)  # measure -> (value, unit) of each threshold
        for stmt in model.statements():
            for region in model.statement(stmt):
                for (measure, _, unit), iv in region.bounds:
                    used[measure][self._unit(measure, unit)] += 1
                    written[measure].add(unit)
                    start = iv.from_bottom()  # the start of the axis, no threshold
                    values[measure].update((v, self._unit(measure, unit)) for v in
                                           ((iv.hi,) if start else (iv.lo, iv.hi)) if v is not None)
        self.written = written
        self.target: dict[str, str] = {}  # measure -> the unit its bands are compared in
        self.incomparable: dict[str, dict[str, str]] = {}  # measure -> unit -> why it does not convert
        for measure, units in used.items():
            if len(written[measure]) > 1:
                self._choose(measure, units, values[measure])
        self.stated: dict[tuple[Axis, Interval], set[str]] = defaultdict(set)  # converted -> as written
        self._regions: dict = {}

    def whole_units(self, measure: str) -> bool:
        """Whether the axis holds whole numbers only: ages, counted in completed units (rule 43), with every
        threshold written in one unit (none converted: 6 mo is half a year)."""
        return measure == AGE and len(self.written.get(measure, ())) == 1

    @staticmethod
    def _unit(measure: str, unit: str) -> str:
        return AGE_UNIT if measure == AGE and not unit else unit

    def _measure_group(self, measure: str) -> MeasureGroup | None:
        """The measure's group; an axis names a measure by its IRI in N-Triples form (``<...>``)."""
        return self.catalog.groups.get(measure[1:-1] if measure.startswith("<") else measure)

    def _group(self, measure: str, target: str) -> MeasureGroup:
        group = self._measure_group(measure)
        if group is None:
            return MeasureGroup(frozenset(), frozenset({target}), ())
        return MeasureGroup(group.measures, frozenset({target}), group.factors)

    def _convert(self, measure: str, value: Decimal, unit: str, target: str) -> Decimal:
        """``value`` ``unit`` in ``target``; raises UnitConversionError."""
        if unit == target:
            return value
        if not unit or not target or not is_ucum(unit) or not is_ucum(target):
            raise UnitConversionError(f"{unit or 'no unit'} is no UCUM unit")
        return convert(value, unit, self._group(measure, target), target).value

    def _choose(self, measure: str, units: Counter, values: set[tuple[Decimal, str]]) -> None:
        """The measure's unit (see the module notes); between units used as often, the one in which most
        thresholds are whole numbers, then the smallest (26 wk and 6 mo are compared in wk, not in a)."""
        group = self._measure_group(measure)
        canonical = next(iter(group.canonical_units)) if group and len(group.canonical_units) == 1 else None
        reasons: dict[str, dict[str, str]] = {}  # target -> unit -> why it does not convert to it
        larger: Counter = Counter()  # unit -> units it converts to that are smaller than it
        for target in units:
            reasons[target] = {}
            for unit in units:
                try:
                    larger[unit] += self._convert(measure, Decimal(1), unit, target) > 1
                except UnitConversionError as exc:
                    reasons[target][unit] = str(exc)

        def fractions(target: str) -> int:
            """How many thresholds that convert to ``target`` are not whole numbers in it."""
            count = 0
            for value, unit in values:
                if unit not in reasons[target]:
                    converted = self._convert(measure, value, unit, target)
                    count += converted != converted.to_integral_value()
            return count

        target = min(units, key=lambda u: (len(reasons[u]), u != canonical, -units[u], fractions(u), larger[u], u))
        self.target[measure] = target
        if reasons[target]:
            self.incomparable[measure] = reasons[target]

    def statement(self, stmt) -> tuple[Region, ...]:
        """The statement's regions (:meth:`Applicability.statement`) with bounds in one unit per measure;
        a region whose bounds on one measure, converted, cannot hold at once is left out."""
        if stmt not in self._regions:
            regions = (self.region(r) for r in self.model.statement(stmt))
            self._regions[stmt] = tuple(dict.fromkeys(r for r in regions if r is not None))
        return self._regions[stmt]

    def region(self, region: Region) -> Region | None:
        bounds: dict[Axis, Interval] = {}
        for axis, iv in region.bounds:
            new_axis, new_iv = self._bound(axis, iv)
            joint = bounds[new_axis].meet(new_iv) if new_axis in bounds else new_iv
            if joint is None:
                return None
            bounds[new_axis] = joint
        return Region(tuple(sorted(bounds.items(), key=lambda b: b[0])), region.literals)

    def _bound(self, axis: Axis, iv: Interval) -> tuple[Axis, Interval]:
        measure, label, unit = axis
        target = self.target.get(measure)
        unit = self._unit(measure, unit) if target else unit
        if target is None or unit in self.incomparable.get(measure, {}):
            return axis, iv
        if unit == target:
            return (measure, label, target), iv
        lo = iv.lo if iv.from_bottom() else self._convert(measure, iv.lo, unit, target)
        hi = None if iv.hi is None else self._convert(measure, iv.hi, unit, target)
        new_axis, new_iv = (measure, label, target), Interval(lo, iv.lo_closed, hi, iv.hi_closed, iv.floor)
        self.stated[(new_axis, new_iv)].add(describe(axis, iv))
        return new_axis, new_iv

    def as_stated(self, axis: Axis, iv: Interval) -> str:
        """``, stated as age >= 6 a`` for a band converted from another unit, else ``""``."""
        stated = self.stated.get((axis, iv))
        return f", stated as {' or '.join(sorted(stated))}" if stated else ""

    def findings(self) -> list[Finding]:
        """``threshold-units-incomparable``: one per measure and unit that does not convert."""
        content, findings = self.model.content, []
        for measure, reasons in sorted(self.incomparable.items()):
            target = self.target[measure]
            for unit, reason in sorted(reasons.items()):
                if not is_ucum(unit):
                    continue  # unit-not-ucum
                criteria = self._criteria(measure, unit)
                if not criteria:
                    continue
                node = criteria[0]
                label = AGE if measure == AGE else content.label(content.objects(node, g("onMeasure"))[0])
                message = (
                    f"thresholds on {label} are stated in {unit} and in {target}, which do not convert "
                    f"({reason}): their bands are not compared, so no gap is checked where both are used; "
                    f"state the thresholds on {label} in one unit ({target}), or give the measure a "
                    "gkg:UnitFactor between them"
                )
                findings.append(content.finding(node, "warning", "lint", "threshold-units-incomparable",
                                                message, path="gkg:thresholdUnit", value=unit))
        return findings

    def _criteria(self, measure: str, unit: str) -> list:
        """The threshold criteria on ``measure`` written in ``unit``, by label."""
        content, model = self.model.content, self.model
        if measure == AGE:
            nodes = model.statements("AgeCriterion")
        else:
            nodes = [n for n in content.subjects_with(g("onMeasure"))
                     if [str(m) for m in content.objects(n, g("onMeasure"))] == [measure]]
        return model.by_label(n for n in nodes if [self._unit(measure, u.value) for u in
                                                   content.objects(n, g("thresholdUnit"))
                                                   if isinstance(u, Literal)] == [unit])
