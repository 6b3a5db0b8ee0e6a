"""Applicability criteria read as regions: the interval arithmetic the threshold lints need.

:class:`Applicability` reads a statement's criterion tree (gkg:AllOf, gkg:AnyOf, gkg:Not over thresholds
and other leaves) as a disjunction of :class:`Region`: conjunctions of per-measure :class:`Interval` plus
opaque leaves (a diagnosis, a medication exposure) taken as true or false. Thresholds on the same measure in
different units are kept on separate axes (no conversion). SPARQL cannot do this arithmetic;
:mod:`guidelinekg.checks.bands` turns the regions into findings.

Where a measure's axis starts (its *floor*, :meth:`Applicability.floor`): at 0, unless the content says the
measure can be negative: its plausible minimum (gkg:plausibleMin of its gkg:plausibleRange, or of the
measure itself, as rule 11 reads it) is below 0, or one of its thresholds is (a DXA T-score "<= -2.5"). Such
an axis is unbounded below, so "T <= -2.5" is every value up to -2.5 and meets "-2.5 <= T <= -1.0". Age
starts at 0. A plausible minimum is not itself the start: a result below it is rejected as implausible
before any band is read, and a positive one (calcium from 2 mg/dL) leaves the bands read from 0 as they
always were. A band "< t" runs from the floor; each interval carries its axis' floor, which says what "from
the bottom" means when it is described ("<= 75", not ">= 0 and <= 75"; on an unbounded axis a band from 0
keeps its ">= 0"), where :func:`gaps` starts and where a complement begins.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from pyoxigraph import Literal, NamedNode

from guidelinekg.content.loading import Content
from guidelinekg.patients.ucum import unity

GKG = "https://w3id.org/guidelinekg/ontology#"
RDF_TYPE = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
RDFS_SUBCLASSOF = NamedNode("http://www.w3.org/2000/01/rdf-schema#subClassOf")


def g(local: str) -> NamedNode:
    return NamedNode(GKG + local)


# --- Intervals and regions -------------------------------------------------------------------------


NEG_INF, POS_INF = Decimal("-Infinity"), Decimal("Infinity")
Floor = Decimal | None  # where an axis starts; None: unbounded below


def _lowest(*floors: Floor) -> Floor:
    return None if any(f is None for f in floors) else min(floors)


@dataclass(frozen=True)
class Interval:
    """A set of values ``lo .. hi``; ``lo=None`` is unbounded below, ``hi=None`` unbounded above. ``floor``
    is where the interval's axis starts (0, or None for a measure that can be negative): not part of the set
    (two intervals with the same bounds are equal), it says whether ``lo`` is the start of the axis."""

    lo: Decimal | None = Decimal(0)
    lo_closed: bool = True
    hi: Decimal | None = None
    hi_closed: bool = False
    floor: Floor = field(default=Decimal(0), compare=False)

    def __post_init__(self):
        if self.lo is None and self.lo_closed:  # an infinite end is never included: one form for each set
            object.__setattr__(self, "lo_closed", False)
        if self.hi is None and self.hi_closed:
            object.__setattr__(self, "hi_closed", False)

    @property
    def low(self) -> Decimal:
        return NEG_INF if self.lo is None else self.lo

    @property
    def high(self) -> Decimal:
        return POS_INF if self.hi is None else self.hi

    def from_bottom(self) -> bool:
        """Whether the interval starts where its axis does ("< 15" from 0, or unbounded below)."""
        return self.lo is None or (self.floor is not None and self.lo == self.floor and self.lo_closed)

    def key(self) -> tuple:
        return (self.low, not self.lo_closed, self.high, self.hi_closed)

    def is_empty(self) -> bool:
        return self.low > self.high or (self.low == self.high and not (self.lo_closed and self.hi_closed))

    def meet(self, other: Interval) -> Interval | None:
        lo = max((self.low, not self.lo_closed), (other.low, not other.lo_closed))
        hi = min((self.high, self.hi_closed), (other.high, other.hi_closed))
        result = Interval(None if lo[0].is_infinite() else lo[0], not lo[1],
                          None if hi[0].is_infinite() else hi[0], hi[1], _lowest(self.floor, other.floor))
        return None if result.is_empty() else result

    def within(self, other: Interval) -> bool:
        return self.meet(other) == self


def whole(floor: Floor) -> Interval:
    """The whole axis that starts at ``floor``."""
    return Interval(floor, floor is not None, floor=floor)


COMPARATORS = {  # comparator -> (interval for "value <op> t", comparator of its negation); from -inf
    "LessThan": (lambda t: Interval(None, False, t, False), "GreaterOrEqual"),
    "LessOrEqual": (lambda t: Interval(None, False, t, True), "GreaterThan"),
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
    """``<measure> <= 75 ng/mL``, ``... = 75 ng/mL``, ``... >= 75 and <= 100 ng/mL``: a bound at the start
    of the axis is not shown."""
    _, label, unit = axis
    unit = f" {unit}" if unit and not unity(unit) else ""  # a score in 1: "T-score <= -2.5", not "<= -2.5 1"
    if iv.lo is None and iv.hi is None:
        return f"any {label}"
    low = "" if iv.lo is None else f"{'>=' if iv.lo_closed else '>'} {_num(iv.lo)}"
    if iv.hi is None:
        return f"{label} {low}{unit}"
    high = f"{'<=' if iv.hi_closed else '<'} {_num(iv.hi)}"
    if iv.lo == iv.hi:
        return f"{label} = {_num(iv.hi)}{unit}"
    if iv.from_bottom():
        return f"{label} {high}{unit}"
    return f"{label} {low} and {high}{unit}"


def describe_region(region: Region) -> str:
    parts = [describe(axis, iv) for axis, iv in region.bounds]
    parts += sorted(label if holds else f"not {label}" for _, label, holds in region.literals)
    return " and ".join(parts) or "always (no criterion separates them)"


_FROM_INTERVALS = object()


def gaps(intervals: list[Interval], floor=_FROM_INTERVALS) -> list[Interval]:
    """The parts of the axis from ``floor`` (by default the intervals' own: 0, or unbounded below) that no
    interval covers."""
    floor = _lowest(*(iv.floor for iv in intervals)) if floor is _FROM_INTERVALS else floor
    start = NEG_INF if floor is None else floor
    result, reach = [], (start, False)  # covered up to reach[0], inclusive when reach[1]
    for iv in sorted(intervals, key=Interval.key):
        if reach[0] == POS_INF:
            break
        after = iv.low > reach[0] or (iv.low == reach[0] and not reach[1] and not iv.lo_closed)
        if iv.lo is not None and after:
            lo = None if reach[0] == NEG_INF else reach[0]
            result.append(Interval(lo, not reach[1], iv.lo, not iv.lo_closed, floor))
        top = (iv.high, iv.hi_closed)
        if top > reach:
            reach = top
    if reach[0] != POS_INF:
        result.append(Interval(None if reach[0] == NEG_INF else reach[0], not reach[1], floor=floor))
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
        self._negative: set[str] | None = None  # measures (axis form) that can be negative

    def floor(self, measure: str) -> Floor:
        """Where the axis of ``measure`` (an axis' first element) starts: None (unbounded below) when its
        plausible minimum or one of its thresholds is below 0, else 0 (see the module notes)."""
        if self._negative is None:
            objects = self.content.objects
            low = {n for n in self.content.subjects_with(g("plausibleMin"))  # a measure or its range
                   if any(_below_zero(m) for m in objects(n, g("plausibleMin")))}
            low |= {m for m in self.content.subjects_with(g("plausibleRange"))
                    if low.intersection(objects(m, g("plausibleRange")))}
            negative = {str(n) for n in low}
            for criterion in self.content.subjects_with(g("onMeasure")):
                if any(_below_zero(v) for v in objects(criterion, g("thresholdValue"))):
                    negative.update(str(m) for m in objects(criterion, g("onMeasure")))
            self._negative = negative
        return None if measure in self._negative else Decimal(0)

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
        band = COMPARATORS[COMPARATORS[name][1] if negated else name][0](value)
        interval = band.meet(whole(self.floor(axis[0])))
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


def _below_zero(value) -> bool:
    try:
        return isinstance(value, Literal) and Decimal(value.value) < 0
    except InvalidOperation:
        return False


def product(left: tuple[Region, ...], right: tuple[Region, ...]) -> tuple[Region, ...]:
    """The conjunction of two disjunctions of regions: every non-empty meet of a left and a right region."""
    joint = (a.meet(b) for a, b in itertools.product(left, right))
    return tuple(dict.fromkeys(r for r in joint if r is not None))


def beyond(mine: tuple[Region, ...], theirs: tuple[Region, ...], limit: int = 64) -> list[Region]:
    """Where ``mine`` reaches and ``theirs`` does not: each of my regions minus every one of theirs, as a
    union of regions (they may overlap). Beyond ``limit`` pieces the rest is given as is (approximate)."""
    out = []
    for region in mine:
        pieces = [region]
        for other in theirs:
            if len(pieces) > limit:
                break
            pieces = [q for piece in pieces for q in without(piece, other)]
        out += pieces
    # a piece inside another piece says nothing more
    unique = list(dict.fromkeys(out))
    return [p for p in unique if not any(p != q and p.within(q) for q in unique)]


def without(a: Region, b: Region) -> list[Region]:
    """``a`` minus ``b`` as a union of regions (each axis of ``b`` outside its interval, or a literal of ``b``
    not holding)."""
    out = []
    for axis, iv in b.bounds:
        for part in complement(iv):
            piece = a.meet(Region(((axis, part),)))
            if piece is not None:
                out.append(piece)
    for node, name, holds in b.literals:
        piece = a.meet(Region(literals=frozenset({(node, name, not holds)})))
        if piece is not None:
            out.append(piece)
    return out


def complement(iv: Interval) -> list[Interval]:
    """The rest of the axis: from its start (0, or unbounded below for a measure that can be negative)."""
    parts = []
    if not iv.from_bottom():
        parts.append(Interval(iv.floor, iv.floor is not None, iv.lo, not iv.lo_closed, iv.floor))
    if iv.hi is not None:
        parts.append(Interval(iv.hi, not iv.hi_closed, floor=iv.floor))
    return [p for p in parts if not p.is_empty()]
