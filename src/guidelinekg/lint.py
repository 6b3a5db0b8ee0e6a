"""Lints: content checks beyond SHACL, as SPARQL files plus the interval arithmetic SPARQL cannot do.

Each registered ``queries/checks/<name>.rq`` starts with a ``#`` header (``purpose:``, ``returns:``)
and selects ``?severity ?code ?focus ?message`` and optionally ``?path ?related``. Rows that differ
only in ``?related`` become one finding whose message ends with the related nodes' labels, sorted.

The Python checks read applicability criteria (gkg:AllOf, gkg:AnyOf, gkg:Not over thresholds and other
leaves) as regions: a disjunction of conjunctions of per-measure intervals over [0, +inf) plus opaque
leaves (a diagnosis, a medication exposure) taken as true or false. Thresholds on the same measure in
different units are kept on separate axes (no conversion); a measure constrained by a single interval
in a population, or used by one statement only, is a threshold, not a banding, so its complement is
not reported as a gap.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from pyoxigraph import Literal, NamedNode

from . import resources
from .codecheck import code_findings
from .errors import ConfigurationError
from .loading import SEVERITIES, Content, Finding
from .unitcheck import threshold_unit_findings

GKG = "https://w3id.org/guidelinekg/ontology#"
RDF_TYPE = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
RDFS_SUBCLASSOF = NamedNode("http://www.w3.org/2000/01/rdf-schema#subClassOf")

# The registry: SPARQL checks run in this order; every file in queries/checks/ must be listed here.
# Then code_findings (code-check-digit, code-iri-mismatch), threshold_unit_findings
# (threshold-unit-mismatch), band_findings (threshold-overlap, threshold-gap) and conflict_findings
# (recommendation-conflict).
SPARQL_CHECKS: tuple[str, ...] = (
    "unresolved-reference",  # (a) gkg:Unresolved source references and who cites them
    "dangling-citation",  # (a) citation links to undescribed or mistyped targets
    "secondary-support-only",  # (c) statements without primary or resolvable support
    "discrepancy",  # (d) recorded discrepancies, as information
    "unverified-content",  # (d) gkg:Unverified and gkg:ProjectAssumption
    "derived-property-written",  # properties only knowledge-scope rules may state
    "criterion-cycle",  # criteria that contain themselves (never decided)
    "disjoint-types",  # a node of two disjoint classes (what HermiT finds, located)
)
REQUIRED_VARIABLES = ("severity", "code", "focus", "message")
OPTIONAL_VARIABLES = ("path", "related")


def g(local: str) -> NamedNode:
    return NamedNode(GKG + local)


@dataclass(frozen=True)
class SparqlCheck:
    name: str
    path: Path
    text: str


def load_checks(directory: Path | None = None) -> list[SparqlCheck]:
    """The registered SPARQL checks (``queries/checks/`` by default), each with its header verified."""
    checks = []
    for name in SPARQL_CHECKS:
        path = (directory or resources.queries_dir() / "checks") / f"{name}.rq"
        if not path.is_file():
            raise ConfigurationError(f"lint check {name!r} is registered but {path} does not exist")
        text = path.read_text(encoding="utf-8")
        header = "".join(itertools.takewhile(lambda line: line.startswith("#"), text.splitlines(True)))
        if "# purpose:" not in header or "# returns:" not in header:
            raise ConfigurationError(f"{path}: a check starts with a '#' header with purpose: and returns:")
        checks.append(SparqlCheck(name, path, text))
    return checks


def run_lints(content: Content, *, checks: list[SparqlCheck] | None = None) -> list[Finding]:
    """Run every SPARQL check and the threshold checks over ``content``; findings of kind ``lint``, sorted.

    Raises:
        ConfigurationError: a check is missing, malformed, or returns the wrong variables or severities.
    """
    findings: list[Finding] = []
    for check in load_checks() if checks is None else checks:
        findings.extend(_run_sparql(content, check))
    findings.extend(code_findings(content))
    findings.extend(threshold_unit_findings(content))
    model = Applicability(content)
    findings.extend(band_findings(model))
    findings.extend(conflict_findings(model))
    return sorted(findings, key=Finding.sort_key)


def _run_sparql(content: Content, check: SparqlCheck) -> list[Finding]:
    try:
        solutions = content.store.query(check.text, use_default_graph_as_union=True)
    except SyntaxError as exc:
        raise ConfigurationError(f"{check.path}: SPARQL syntax error: {exc}") from exc
    names = {v.value for v in solutions.variables}
    missing = [v for v in REQUIRED_VARIABLES if v not in names]
    if missing:
        raise ConfigurationError(f"{check.path}: must select ?{' ?'.join(missing)}")
    grouped: dict[tuple, set] = defaultdict(set)
    for row in solutions:
        cells = {v: row[v] for v in REQUIRED_VARIABLES + OPTIONAL_VARIABLES if v in names}
        severity = cells["severity"].value if cells["severity"] is not None else ""
        if severity not in SEVERITIES:
            raise ConfigurationError(f"{check.path}: ?severity must be one of {SEVERITIES}, got {severity!r}")
        key = (severity, cells["code"].value, cells["focus"], cells.get("path"), cells["message"].value)
        related = grouped[key]
        if cells.get("related") is not None:
            related.add(cells["related"])
    findings = []
    for (severity, code, focus, path, message), related in grouped.items():
        if related:
            message += ": " + "; ".join(sorted({content.label(r) for r in related}))
        path_text = content.compact(path) if path is not None else ""
        findings.append(content.finding(focus, severity, "lint", code, message, path=path_text))
    return findings


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
            regions = _product(regions, self.regions(criterion))
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
                    result = _product(result, part)
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


def _product(left: tuple[Region, ...], right: tuple[Region, ...]) -> tuple[Region, ...]:
    joint = (a.meet(b) for a, b in itertools.product(left, right))
    return tuple(dict.fromkeys(r for r in joint if r is not None))


def _minimal(regions: list[Region]) -> list[Region]:
    """Drop regions inside another one, so a witness lists only the largest joint regions."""
    unique = list(dict.fromkeys(regions))
    return [r for r in unique if not any(o != r and r.within(o) for o in unique)]


# --- The threshold checks --------------------------------------------------------------------------


def _finding(model: Applicability, code: str, focus, message: str) -> Finding:
    return model.content.finding(focus, "warning", "lint", code, message, path="gkg:applicability")


def band_findings(model: Applicability) -> list[Finding]:
    """Overlaps between distinct threshold intervals, and gaps in banded measures, per population."""
    uses: dict[tuple[str, Axis], dict[Interval, set]] = defaultdict(lambda: defaultdict(set))
    for stmt in model.statements():
        for region in model.statement(stmt):
            for axis, interval in region.bounds:
                for population in model.populations(stmt):
                    uses[(population, axis)][interval].add(stmt)
    findings, names = [], lambda nodes: "; ".join(sorted(model.content.label(n) for n in nodes))
    for (population, axis), by_interval in sorted(uses.items(), key=lambda u: (u[0][0], u[0][1])):
        intervals = sorted(by_interval, key=Interval.key)
        for a, b in itertools.combinations(intervals, 2):
            common = a.meet(b)
            if common is None or by_interval[a] == by_interval[b] and len(by_interval[a]) == 1:
                continue
            involved = model.by_label(by_interval[a] | by_interval[b])
            message = (
                f"threshold bands overlap at {describe(axis, common)} in population '{population}': "
                f"{describe(axis, a)} ({names(by_interval[a])}) and {describe(axis, b)} ({names(by_interval[b])})"
            )
            findings.append(_finding(model, "threshold-overlap", involved[0], message))
        involved = model.by_label(set().union(*by_interval.values()))
        if len(intervals) < 2 or len(involved) < 2:  # a threshold, or one statement's own disjunction
            continue
        for gap in gaps(intervals):
            bands = "; ".join(describe(axis, iv) for iv in intervals)
            below = [iv for iv in intervals if iv.hi is not None and iv.hi == gap.lo]
            above = [iv for iv in intervals if gap.hi is not None and iv.lo == gap.hi]
            edges = [f"{describe(axis, iv)} ({names(by_interval[iv])})" for iv in below + above]
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


def conflict_findings(model: Applicability) -> list[Finding]:
    """A recommendation for an intervention that a not-indicated statement covers, in the same
    population, where both applicabilities can hold at once; the message gives the joint regions."""
    objects = model.content.objects
    findings = []
    not_indicated = model.statements("NotIndicatedStatement")
    for rec in model.statements("Recommendation"):
        if g("For") not in objects(rec, g("direction")):
            continue
        recommended = set().union(
            *(model.reach(i, with_classes=True) for i in objects(rec, g("intervention")))
        )
        for ni in not_indicated:
            interventions = objects(ni, g("notIndicatedIntervention"))
            covered = set().union(*(model.reach(i, with_classes=False) for i in interventions))
            populations = sorted(model.populations(rec) & model.populations(ni))
            if ni == rec or not populations or not recommended & covered:
                continue
            joint = _minimal(list(_product(model.statement(rec), model.statement(ni))))
            if not joint:
                continue
            described = sorted(describe_region(r) for r in joint)
            where = " or ".join(f"({d})" for d in described) if len(described) > 1 else described[0]
            for population in populations:
                message = (
                    f"conflicts with not-indicated statement '{model.content.label(ni)}' in population "
                    f"'{population}': both apply when {where}"
                )
                findings.append(_finding(model, "recommendation-conflict", rec, message))
    return findings
