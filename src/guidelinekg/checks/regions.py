"""Applicability criteria read as regions: the interval arithmetic the threshold lints need.

:class:`Applicability` reads a statement's criterion tree (gkg:AllOf, gkg:AnyOf, gkg:Not over thresholds
and other leaves) as a disjunction of :class:`Region`: conjunctions of per-measure :class:`Interval` over
[0, +inf) plus opaque leaves (a diagnosis, a medication exposure) taken as true or false. Thresholds on the
same measure in different units are kept on separate axes (no conversion). SPARQL cannot do this
arithmetic; :mod:`guidelinekg.checks.bands` turns the regions into findings.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from pyoxigraph import Literal, NamedNode

from guidelinekg.content.loading import Content

GKG = "https://w3id.org/guidelinekg/ontology#"
RDF_TYPE = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
RDFS_SUBCLASSOF = NamedNode("http://www.w3.org/2000/01/rdf-schema#subClassOf")


def g(local: str) -> NamedNode:
    return NamedNode(GKG + local)


# --- Intervals and regions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A set of values ``lo .. hi`` over [0, +inf); ``hi=None`` is unbounded."""

    lo: Decimal = Decimal(0)
    lo_closed: bool = True
    hi: Decimal | None = None
    hi_closed: bool = False

    def key(self) -> tuple:
        return (self.lo, not self.lo_closed, self.hi is None, self.hi or 0, self.hi_closed)

    def is_empty(self) -> bool:
        return self.hi is not None and (
            self.lo > self.hi or (self.lo == self.hi and not (self.lo_closed and self.hi_closed))
        )

    def meet(self, other: Interval) -> Interval | None:
        lo = max((self.lo, not self.lo_closed), (other.lo, not other.lo_closed))
        highs = [(i.hi, i.hi_closed) for i in (self, other) if i.hi is not None]
        hi = min(highs) if highs else (None, False)
        result = Interval(lo[0], not lo[1], hi[0], hi[1])
        return None if result.is_empty() else result

    def within(self, other: Interval) -> bool:
        return self.meet(other) == self


COMPARATORS = {  # comparator -> (interval for "value <op> t", comparator of its negation)
    "LessThan": (lambda t: Interval(Decimal(0), True, t, False), "GreaterOrEqual"),
    "LessOrEqual": (lambda t: Interval(Decimal(0), True, t, True), "GreaterThan"),
    "GreaterThan": (lambda t: Interval(t, False), "LessOrEqual"),
    "GreaterOrEqual": (lambda t: Interval(t, True), "LessThan"),
}

Axis = tuple[str, str, str]  # (measure IRI or "age", label, unit)


@dataclass(frozen=True)
class Region:
    """A conjunction: one interval per axis and opaque leaves required true (or false)."""

    bounds: tuple[tuple[Axis, Interval], ...] = ()
    literals: frozenset[tuple[str, str, bool]] = frozenset()  # (node, label, holds)

    def meet(self, other: Region) -> Region | None:
        bounds = dict(self.bounds)
        for axis, interval in other.bounds:
            joint = bounds[axis].meet(interval) if axis in bounds else interval
            if joint is None:
                return None
            bounds[axis] = joint
        literals = self.literals | other.literals
        if {(n, not h) for n, _, h in literals} & {(n, h) for n, _, h in literals}:
            return None
        return Region(tuple(sorted(bounds.items(), key=lambda b: b[0])), literals)

    def within(self, other: Region) -> bool:
        mine = dict(self.bounds)
        return other.literals <= self.literals and all(
            axis in mine and mine[axis].within(interval) for axis, interval in other.bounds
        )


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f")


def describe(axis: Axis, iv: Interval) -> str:
    """``<measure> <= 75 ng/mL``, ``... = 75 ng/mL``, ``... >= 75 and <= 100 ng/mL``."""
    _, label, unit = axis
    unit = f" {unit}" if unit else ""
    low = f"{'>=' if iv.lo_closed else '>'} {_num(iv.lo)}"
    if iv.hi is None:
        return f"{label} {low}{unit}"
    high = f"{'<=' if iv.hi_closed else '<'} {_num(iv.hi)}"
    if iv.lo == iv.hi:
        return f"{label} = {_num(iv.lo)}{unit}"
    if iv.lo == 0 and iv.lo_closed:
        return f"{label} {high}{unit}"
    return f"{label} {low} and {high}{unit}"


def describe_region(region: Region) -> str:
    parts = [describe(axis, iv) for axis, iv in region.bounds]
    parts += sorted(label if holds else f"not {label}" for _, label, holds in region.literals)
    return " and ".join(parts) or "always (no criterion separates them)"


def gaps(intervals: list[Interval]) -> list[Interval]:
    """The parts of [0, +inf) that no interval covers."""
    result, reach = [], (Decimal(0), False)  # covered up to reach[0], inclusive when reach[1]
    for iv in sorted(intervals, key=Interval.key):
        if reach[0] is None:
            break
        if iv.lo > reach[0] or (iv.lo == reach[0] and not reach[1] and not iv.lo_closed):
            result.append(Interval(reach[0], not reach[1], iv.lo, not iv.lo_closed))
        top = (iv.hi, iv.hi_closed)
        if iv.hi is None or top > reach:
            reach = top
    if reach[0] is not None:
        result.append(Interval(reach[0], not reach[1]))
    return [gap for gap in result if not gap.is_empty()]


# --- Criteria as regions ---------------------------------------------------------------------------


class Applicability:
    """Reads criterion trees of ``content`` as disjunctions of :class:`Region`."""

    MAX_REGIONS = 256

    def __init__(self, content: Content):
        self.content = content
        parents: dict = defaultdict(set)
        for q in content.store.quads_for_pattern(None, RDFS_SUBCLASSOF, None, None):
            parents[q.subject].add(q.object)
        self._parents = parents
        self._cache: dict = {}

    def types(self, node) -> set[str]:
        """Local names of the gkg classes ``node`` belongs to, superclasses included."""
        seen, todo = set(), list(self.content.objects(node, RDF_TYPE))
        while todo:
            cls = todo.pop()
            if cls not in seen:
                seen.add(cls)
                todo.extend(self._parents.get(cls, ()))
        return {c.value[len(GKG) :] for c in seen if isinstance(c, NamedNode) and c.value.startswith(GKG)}

    def statement(self, node) -> tuple[Region, ...]:
        """All of the statement's gkg:applicability criteria hold (none: always)."""
        regions: tuple[Region, ...] = (Region(),)
        for criterion in self.content.objects(node, g("applicability")):
            regions = product(regions, self.regions(criterion))
        return regions

    def regions(self, node, negated: bool = False, _stack: tuple = ()) -> tuple[Region, ...]:
        key = (node, negated)
        if key not in self._cache:
            self._cache[key] = self._regions(node, negated, _stack + (node,))
        return self._cache[key]

    def _regions(self, node, negated: bool, stack: tuple) -> tuple[Region, ...]:
        types, objects = self.types(node), self.content.objects
        members = [m for m in objects(node, g("member")) if m not in stack]
        if "Always" in types:
            return () if negated else (Region(),)
        operands = [n for n in objects(node, g("negates")) if n not in stack]
        if "Not" in types and len(operands) == 1:
            return self.regions(operands[0], not negated, stack)
        if ("AllOf" in types or "AnyOf" in types) and members:
            parts = [self.regions(m, negated, stack) for m in members]
            if ("AllOf" in types) != negated:  # all of, or the negation of any of
                result: tuple[Region, ...] = (Region(),)
                for part in parts:
                    result = product(result, part)
            else:
                result = tuple(dict.fromkeys(r for part in parts for r in part))
            if len(result) <= self.MAX_REGIONS:
                return result
        threshold = self._threshold(node, types, negated)
        if threshold is not None:
            return (threshold,)
        return (Region(literals=frozenset({(str(node), self.content.label(node), not negated)})),)

    def _threshold(self, node, types: set[str], negated: bool) -> Region | None:
        objects = self.content.objects
        comparators, values, measures = (
            objects(node, g(p)) for p in ("comparator", "thresholdValue", "onMeasure")
        )
        units = [u.value for u in objects(node, g("thresholdUnit")) if isinstance(u, Literal)]
        name = comparators[0].value.removeprefix(GKG) if len(comparators) == 1 else ""
        if name not in COMPARATORS or len(values) != 1 or len(units) > 1:
            return None
        try:
            value = Decimal(values[0].value)
        except InvalidOperation:
            return None
        unit = units[0] if units else ""
        if "ObservationThreshold" in types and len(measures) == 1:
            axis = (str(measures[0]), self.content.label(measures[0]), unit)
        elif "AgeCriterion" in types:
            axis = ("age", "age", unit)
        else:
            return None
        interval = COMPARATORS[COMPARATORS[name][1] if negated else name][0](value).meet(Interval())
        return Region(((axis, interval),)) if interval else None

    def by_label(self, nodes) -> list:
        return sorted(nodes, key=lambda s: (self.content.label(s), str(s)))

    def statements(self, cls: str = "Statement") -> list:
        """Instances of gkg ``cls`` (subclasses included), sorted by label."""
        return self.by_label(s for s in self.content.subjects(RDF_TYPE, None) if cls in self.types(s))

    def populations(self, node) -> set[str]:
        return {p.value for p in self.content.objects(node, g("population")) if isinstance(p, Literal)}

    def reach(self, intervention, *, with_classes: bool) -> set:
        """The intervention, its substances, its classes and (``with_classes``) its substances' classes."""
        objects = self.content.objects
        substances = objects(intervention, g("substance"))
        reach = {intervention, *substances, *objects(intervention, g("interventionClass"))}
        if with_classes:
            reach.update(c for s in substances for c in objects(s, g("memberOfClass")))
        return reach


def product(left: tuple[Region, ...], right: tuple[Region, ...]) -> tuple[Region, ...]:
    """The conjunction of two disjunctions of regions: every non-empty meet of a left and a right region."""
    joint = (a.meet(b) for a, b in itertools.product(left, right))
    return tuple(dict.fromkeys(r for r in joint if r is not None))
