"""Lints: content checks beyond SHACL, as SPARQL files plus the interval arithmetic SPARQL cannot do.

Each registered ``queries/checks/<name>.rq`` starts with a ``#`` header (``purpose:``, ``returns:``)
and selects ``?severity ?code ?focus ?message`` and optionally ``?path ?related``. Rows that differ
only in ``?related`` become one finding whose message ends with the related nodes' labels, sorted.

The threshold checks that need interval arithmetic are :mod:`guidelinekg.checks.bands` over the regions
of :mod:`guidelinekg.checks.regions`; the vocabulary's terms are checked by :mod:`guidelinekg.checks.terms`
and the criteria against what the rules decide by :mod:`guidelinekg.checks.criteria`.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pyoxigraph import NamedNode

from guidelinekg.content import resources
from guidelinekg.checks.codes import code_findings
from guidelinekg.errors import ConfigurationError
from guidelinekg.content.loading import SEVERITIES, Content, Finding
from guidelinekg.checks.units import (
    equivalent_unit_findings,
    interval_unit_findings,
    threshold_unit_findings,
    unit_code_findings,
)
from guidelinekg.checks.terms import undefined_term_findings
from guidelinekg.checks.criteria import criterion_findings
from guidelinekg.checks.properties import property_kind_findings
from guidelinekg.checks.references import reference_findings
from guidelinekg.checks.bands import band_findings, conflict_findings
from guidelinekg.checks.conflicts import own_findings as for_and_against_findings
from guidelinekg.checks.regions import Applicability

GKG = "https://w3id.org/guidelinekg/ontology#"
RDF_TYPE = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
RDFS_SUBCLASSOF = NamedNode("http://www.w3.org/2000/01/rdf-schema#subClassOf")

# The registry: SPARQL checks run in this order; every file in queries/checks/ must be listed here.
# Then code_findings (code-check-digit, code-iri-mismatch), unit_code_findings (unit-not-ucum),
# threshold_unit_findings (threshold-unit-mismatch), equivalent_unit_findings (equivalent-measure-units),
# interval_unit_findings (interval-not-duration), undefined_term_findings (undefined-term), criterion_findings
# (criterion-not-decided), property_kind_findings (property-wrong-kind), reference_findings
# (undescribed-reference), band_findings (threshold-overlap,
# threshold-gap, threshold-units-incomparable, boundary-unit-mismatch, stated-unit-unusable, stated-value-differs)
# and conflict_findings
# (recommendation-conflict), for_and_against_findings (recommendation-for-and-against, recommendation-except).
SPARQL_CHECKS: tuple[str, ...] = (
    "unresolved-reference",  # (a) gkg:Unresolved source references and who cites them
    "dangling-citation",  # (a) citation links to undescribed or mistyped targets
    "secondary-support-only",  # (c) statements without primary or resolvable support
    "discrepancy",  # (d) recorded discrepancies, as information
    "unverified-content",  # (d) gkg:Unverified and gkg:ProjectAssumption
    "derived-property-written",  # properties only knowledge-scope rules may state
    "criterion-cycle",  # criteria that contain themselves (never decided)
    "points-score",  # points for no member, twice for one, or a minimum no member set reaches
    "code-descendants-unsupported",  # a code whose descendants the engine cannot match
    "disjoint-types",  # a node of two disjoint classes (what HermiT finds, located)
    "measure-without-plausible-range",  # results of the measure are never checked for plausibility
    "unit-factor-unused",  # a substance-specific unit factor no measure points to (never applied)
    "patient-wording-missing",  # a report for patients shows its clinician wording
    "substance-class-empty",  # a criterion's substance class no record can be matched to
    "dosing-statements-differ",  # two doses for one intervention that apply together (no dose is stated)
    "weight-based-dose-units",  # a weight-based dose capped in another unit than its own (compared as numbers)
    "caution-applicability-ignored",  # a caution's applicability, which no rule evaluates (always shown)
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
    findings.extend(unit_code_findings(content))
    findings.extend(threshold_unit_findings(content))
    findings.extend(equivalent_unit_findings(content))
    findings.extend(interval_unit_findings(content))
    findings.extend(undefined_term_findings(content))
    findings.extend(criterion_findings(content))
    findings.extend(property_kind_findings(content))
    findings.extend(reference_findings(content))
    model = Applicability(content)
    findings.extend(band_findings(model))
    findings.extend(conflict_findings(model))
    findings.extend(for_and_against_findings(content))
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
