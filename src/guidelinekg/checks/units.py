"""Lint: a threshold must be written in the unit its measure's results are compared in.

The loader converts every result to its measure group's ``gkg:canonicalUnit`` (UCUM, plus the graph's
substance-specific factors), and rule 40 compares that number with the threshold as written. So a
threshold is an error unless its unit is the canonical one, or the same unit spelled otherwise (UCUM
converts one to the other with factor 1, e.g. ``ug/L`` and ``ng/mL``): "0.075 mg/L" on a measure in ng/mL
would be compared as 0.075 ng/mL. Conversions follow the loader's (:func:`guidelinekg.patients.units.convert`: the
graph's substance factors, then UCUM). Done in Python, not SPARQL, because it needs UCUM and the measure
groups (a measure may take its canonical unit from an equivalent one).

Also ``interval-not-duration``: a monitoring interval bound (gkg:intervalMin, gkg:intervalMax) in a unit
that is not a duration, the one interval the report cannot show (it shows a bound alone, and converts a
maximum in another unit of time to the minimum's).
"""

from __future__ import annotations

from decimal import Decimal

from pyoxigraph import Literal, NamedNode

from guidelinekg.content.loading import Content, Finding
from guidelinekg.patients.ucum import ucum_conversion
from guidelinekg.patients.units import MeasureCatalog, UnitConversionError, convert

GKG = "https://w3id.org/guidelinekg/ontology#"
ON_MEASURE, THRESHOLD_UNIT = NamedNode(GKG + "onMeasure"), NamedNode(GKG + "thresholdUnit")


def threshold_unit_findings(content: Content) -> list[Finding]:
    """``threshold-unit-mismatch`` errors (measures without one canonical unit are left to other checks)."""
    catalog = MeasureCatalog.from_graph(content.store)
    findings = []
    for node in content.subjects_with(ON_MEASURE):
        measures = content.objects(node, ON_MEASURE)
        units = [u.value for u in content.objects(node, THRESHOLD_UNIT) if isinstance(u, Literal)]
        group = catalog.groups.get(measures[0].value) if len(measures) == 1 else None
        if group is None or len(units) != 1 or len(group.canonical_units) != 1:
            continue  # the shapes report a missing or repeated measure or unit
        unit, canonical = units[0], next(iter(group.canonical_units))
        if unit == canonical:
            continue
        try:  # as results are converted: the graph's factors, then UCUM
            one = convert(Decimal(1), unit, group, canonical)
        except UnitConversionError as exc:
            message = f"results are compared in the measure's unit {canonical}; {unit} does not convert to it: {exc}"
        else:
            if one.value == 1 and convert(Decimal(2), unit, group, canonical).value == 2:
                continue  # the same unit written otherwise (no offset either)
            message = (f"results are compared in the measure's unit {canonical}, not {unit}: write the value in "
                       f"{canonical} ({one.note})")
        findings.append(content.finding(node, "error", "lint", "threshold-unit-mismatch", message,
                                        path="gkg:thresholdUnit", value=unit))
    return findings


INTERVAL_BOUNDS = (NamedNode(GKG + "intervalMin"), NamedNode(GKG + "intervalMax"))
UNIT = NamedNode(GKG + "unit")
TIME_UNITS = {"s", "min", "h", "d", "wk", "mo", "a"}  # UCUM units of time: no need to build the registry


def interval_unit_findings(content: Content) -> list[Finding]:
    """``interval-not-duration`` warnings: a monitoring interval bound whose unit is not a duration UCUM
    converts to days. The report gives an interval in one unit, converting the maximum to the minimum's;
    a bound that is no duration cannot be converted or read as a time between checks."""
    findings = []
    for bound in INTERVAL_BOUNDS:
        for action in content.subjects_with(bound):
            for quantity in content.objects(action, bound):
                for unit in (u.value for u in content.objects(quantity, UNIT) if isinstance(u, Literal)):
                    if unit in TIME_UNITS:
                        continue
                    try:
                        ucum_conversion(unit, "d")
                    except UnitConversionError as exc:
                        message = (f"the interval is in {unit!r}, which is not a duration ({exc}), so a "
                                   "report cannot show it as a time between checks: write it in a UCUM unit "
                                   "of time (d, wk, mo, a)")
                        findings.append(content.finding(action, "warning", "lint", "interval-not-duration",
                                                        message, path=content.compact(bound), value=unit))
    return findings


CANONICAL_UNIT = NamedNode(GKG + "canonicalUnit")


def cross_guideline_findings(contents: list[Content]) -> list[Finding]:
    """``measure-unit-clash`` errors: one measure (a LOINC IRI, shared by every guideline that reads the
    test) whose canonical units in two guidelines do not convert into each other. Units that convert are
    no clash: each guideline reads results in its own unit (evaluated apart, :mod:`guidelinekg.engine.guidelines`)."""
    declared: dict[str, list[tuple[Content, str, MeasureCatalog]]] = {}
    for content in contents:
        catalog = MeasureCatalog.from_graph(content.store)
        for measure in content.subjects_with(CANONICAL_UNIT):
            for unit in content.objects(measure, CANONICAL_UNIT):
                if isinstance(unit, Literal):
                    declared.setdefault(measure.value, []).append((content, unit.value, catalog))
    findings = []
    for measure, uses in sorted(declared.items()):
        for i, (content, unit, catalog) in enumerate(uses):
            for other, other_unit, _ in uses[:i]:
                group = catalog.groups.get(measure)
                if other is content or other_unit == unit or group is None:
                    continue
                try:
                    convert(Decimal(1), other_unit, group, unit)
                except UnitConversionError as exc:
                    where, line = other.locate(NamedNode(measure))
                    findings.append(content.finding(
                        NamedNode(measure), "error", "lint", "measure-unit-clash",
                        f"this guideline reads {content.label(NamedNode(measure))} in {unit}, another "
                        f"({where}{f':{line}' if line else ''}) in {other_unit}, and the units do not convert "
                        f"({exc}): the same test cannot be both; check which unit each source gives",
                        path="gkg:canonicalUnit", value=unit))
    return findings
