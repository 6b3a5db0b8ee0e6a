"""Threshold lints over applicability regions: overlapping and gapped bands, conflicting statements.

``threshold-overlap`` and ``threshold-gap`` compare the intervals of one measure within a population; a
measure constrained by a single interval in a population, or used by one statement only, is a threshold,
not a banding, so its complement is not reported as a gap. ``recommendation-conflict`` names the region
where a recommendation and a not-indicated statement about the same intervention both apply.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

from guidelinekg.checks.regions import (
    Applicability,
    Axis,
    Interval,
    Region,
    describe,
    describe_region,
    g,
    gaps,
    product,
)
from guidelinekg.content.loading import Finding


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
            joint = _minimal(list(product(model.statement(rec), model.statement(ni))))
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
