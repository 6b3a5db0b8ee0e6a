"""Lint: a threshold must be written in the unit its measure's results are compared in.

The loader converts every result to its measure group's ``gkg:canonicalUnit`` (UCUM, plus the graph's
substance-specific factors), and rule 40 compares that number with the threshold as written. So a
threshold is an error unless its unit is the canonical one, or the same unit spelled otherwise (UCUM
converts one to the other with factor 1, e.g. ``ug/L`` and ``ng/mL``): "0.075 mg/L" on a measure in ng/mL
would be compared as 0.075 ng/mL. Conversions follow the loader's (:func:`guidelinekg.patients.units.convert`: the
graph's substance factors, then UCUM; annotations count, so "mL/min" on a measure in "mL/min/{1.73_m2}"
is a mismatch though UCUM ignores them). Done in Python, not SPARQL, because it needs UCUM and the measure
groups (a measure may take its canonical unit from an equivalent one).

Also ``interval-not-duration``: a monitoring interval bound (gkg:intervalMin, gkg:intervalMax) in a unit
that is not a duration, the one interval the report cannot show (it shows a bound alone, and converts a
maximum in another unit of time to the minimum's).

And ``unit-not-ucum``: every unit the content states (gkg:unit of doses and quantities, gkg:thresholdUnit,
gkg:canonicalUnit, gkg:fromUnit, gkg:toUnit) must be a UCUM code, checked with the UCUM grammar of
ucumvert. The shapes check only its form (a plain string without spaces), so "mcg" would pass them, be
unconvertible for the loader and be exported to FHIR as a UCUM code it is not. The finding is on the line
that writes the unit and names the UCUM spelling when a common one is meant (mcg: ug, IU: [iU], hrs: h;
first the code results so written are read as, ontology/unit-spellings.tsv: mL/min/1.73m2: mL/min/{1.73_m2}).
"""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal

from pyoxigraph import Literal, NamedNode

from guidelinekg.checks.terms import statement_line
from guidelinekg.content.loading import Content, Finding
from guidelinekg.patients.ucum import _ucum_parser, is_ucum, ucum_conversion, ucum_for_spelling
from guidelinekg.patients.units import MeasureCatalog, MeasureGroup, UnitConversionError, convert

GKG = "https://w3id.org/guidelinekg/ontology#"
ON_MEASURE, THRESHOLD_UNIT = NamedNode(GKG + "onMeasure"), NamedNode(GKG + "thresholdUnit")
THRESHOLD_VALUE = NamedNode(GKG + "thresholdValue")


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
        if unit == canonical or not is_ucum(unit) or not is_ucum(canonical):
            continue  # the same unit, or one that is no UCUM (unit-not-ucum)
        try:  # as results are converted: the graph's factors, then UCUM
            one = convert(Decimal(1), unit, group, canonical)
        except UnitConversionError as exc:
            message = f"results are compared in the measure's unit {canonical}; {unit} does not convert to it: {exc}"
        else:
            if one.value == 1 and convert(Decimal(2), unit, group, canonical).value == 2:
                continue  # the same unit written otherwise (no offset either)
            message = (f"results are compared in the measure's unit {canonical}, not {unit}: write the value in "
                       f"{canonical} ({_threshold_in(content, node, unit, group, canonical) or one.note})")
        findings.append(content.finding(node, "error", "lint", "threshold-unit-mismatch", message,
                                        path="gkg:thresholdUnit", value=unit))
    return findings


def _threshold_in(content: Content, node, unit: str, group: MeasureGroup, canonical: str) -> str | None:
    """The threshold's own value converted ("102.2 [degF] = 39 Cel (UCUM)"): what to write. A conversion with
    an offset has no factor to multiply by, so "1 [degF] = -17.2222 Cel" would mislead."""
    values = [v.value for v in content.objects(node, THRESHOLD_VALUE) if isinstance(v, Literal)]
    try:
        return convert(Decimal(values[0]), unit, group, canonical).note if len(values) == 1 else None
    except (ArithmeticError, UnitConversionError):  # decimal.InvalidOperation: not a number (the shapes say so)
        return None


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
                    if unit in TIME_UNITS or not is_ucum(unit):
                        continue  # a time, or no UCUM at all (unit-not-ucum)
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
    no clash: each guideline reads results in its own unit (evaluated apart, :mod:`guidelinekg.engine.guidelines`).
    Units that convert one way only clash too: ``mL/min/{1.73_m2}`` converts to ``mL/min``, not back (an
    annotation ``mL/min`` lacks), so one guideline reads an eGFR where the other reads a clearance."""
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
                if not is_ucum(unit) or not is_ucum(other_unit):
                    continue  # unit-not-ucum, in each guideline's own report
                try:  # both ways: a unit without the other's annotation converts one way only
                    convert(Decimal(1), other_unit, group, unit)
                    convert(Decimal(1), unit, group, other_unit)
                except UnitConversionError as exc:
                    where, line = other.locate(NamedNode(measure))
                    findings.append(content.finding(
                        NamedNode(measure), "error", "lint", "measure-unit-clash",
                        f"this guideline reads {content.label(NamedNode(measure))} in {unit}, another "
                        f"({where}{f':{line}' if line else ''}) in {other_unit}, and the units do not convert "
                        f"({exc}): the same test cannot be both; check which unit each source gives",
                        path="gkg:canonicalUnit", value=unit))
    return findings


# Every property whose value is a UCUM unit. gkg:estimateUnit is not one: an evidence estimate's unit may
# be a score's name ("points"), and the engine never converts it.
UNIT_PROPERTIES = tuple(NamedNode(GKG + local) for local in
                        ("unit", "thresholdUnit", "canonicalUnit", "fromUnit", "toUnit"))  # fmt: skip
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
# Spellings of units that are not UCUM codes, for the one each obviously means (case-sensitive first,
# then lower-cased); a word of a unit is replaced and the result used only if it is UCUM.
SPELLINGS = {
    "mcg": "ug", "µg": "ug", "μg": "ug", "mcl": "uL", "mcmol": "umol", "cc": "mL",
    "iu": "[iU]", "miu": "m[iU]", "kiu": "k[iU]", "meq": "meq", "eq": "eq",
    "hr": "h", "hrs": "h", "hour": "h", "hours": "h", "sec": "s", "secs": "s", "mins": "min", "minute": "min",
    "minutes": "min", "day": "d", "days": "d", "week": "wk", "weeks": "wk", "wks": "wk", "month": "mo",
    "months": "mo", "mos": "mo", "year": "a", "years": "a", "yr": "a", "yrs": "a", "y": "a",
    "lb": "[lb_av]", "lbs": "[lb_av]", "mmhg": "mm[Hg]", "kgs": "kg", "gm": "g",
}  # fmt: skip
CASES = {u.lower(): u for u in ("g", "mg", "kg", "ug", "ng", "pg", "L", "mL", "dL", "uL", "mol", "mmol", "umol",
                                "nmol", "pmol", "min", "h", "d", "wk", "mo", "a", "s")}  # fmt: skip


def ucum_spelling(unit: str) -> str | None:
    """The UCUM code ``unit`` obviously means (``mcg/kg`` -> ``ug/kg``, ``IU/L`` -> ``[iU]/L``), or None: the
    code results written so are read as (``ontology/unit-spellings.tsv``: ``mL/min/1.73m2`` ->
    ``mL/min/{1.73_m2}``), else word by word."""
    if spelled := ucum_for_spelling(unit):
        return spelled
    words = re.split(r"([./])", unit)
    for i, word in enumerate(words):
        if word in "./":
            continue
        if word[:1] in "µμ" and word[1:]:
            word = "u" + word[1:]
        words[i] = SPELLINGS.get(word) or SPELLINGS.get(word.lower()) or CASES.get(word.lower()) or word
    spelled = "".join(words)
    return spelled if spelled != unit and is_ucum(spelled) else None


def _ucum_error(unit: str) -> str:
    """Why the UCUM parser rejects ``unit``, e.g. ``unexpected character 'c' at column 2``."""
    from ucumvert import parse_ucum

    try:
        parse_ucum(unit, _ucum_parser())
    except Exception as exc:  # noqa: BLE001 - InvalidUcumError, or anything odd input makes the parser raise
        reason = str(exc).splitlines()[0] if str(exc) else ""
        return reason.split(" is not a valid UCUM unit: ", 1)[-1].rstrip(".") or type(exc).__name__
    return "rejected"


def unit_code_findings(content: Content) -> list[Finding]:
    """``unit-not-ucum`` errors: a unit the content states that the UCUM grammar rejects, on the line that
    writes it, about the nearest named node (a dose's or a bound's blank node is named by its owner)."""
    findings, texts, seen = [], {}, set()
    for prop in UNIT_PROPERTIES:
        for quad in content.store.quads_for_pattern(None, prop, None, None):
            unit = quad.object
            if (not isinstance(unit, Literal) or unit.datatype.value != XSD_STRING
                    or not re.fullmatch(r"\S+", unit.value) or is_ucum(unit.value)):  # fmt: skip
                continue  # the shapes report a unit that is no plain string, or one with spaces
            if (quad.subject, prop, unit) in seen:
                continue
            seen.add((quad.subject, prop, unit))
            node, where, path = quad.subject, (prop, unit), [prop]
            for _ in range(4):  # up to the named node that owns the quantity
                parents = sorted(content.store.quads_for_pattern(None, None, node, None), key=str)
                if isinstance(node, NamedNode) or not parents:
                    break
                link = parents[0]
                node, where, path = link.subject, (link.predicate, node), [link.predicate, *path]
            spelling = ucum_spelling(unit.value)
            fix = (f'write "{spelling}"' if spelling else
                   'write it as a UCUM code, case-sensitive (e.g. "ug", "mL", "[iU]", "h", "mg/kg")')  # fmt: skip
            message = (f"{unit.value!r} is not a UCUM code (UCUM parser: {_ucum_error(unit.value)}); units are "
                       f"converted, and exported to FHIR, as UCUM codes: {fix}")  # fmt: skip
            finding = content.finding(node, "error", "lint", "unit-not-ucum", message, where=where,
                                      path="/".join(content.compact(p) for p in path), value=unit.value)  # fmt: skip
            source = next((s for s in content.files if s.graph == quad.graph_name), None)
            if source is not None:
                start = finding.line if finding.file == source.display else None
                line = _literal_line(texts, source.path, start, unit.value)
                finding = replace(finding, file=source.display, line=line or start)
            findings.append(finding)
    return findings


def _literal_line(texts: dict, path, start: int | None, value: str) -> int | None:
    """The first line at or after ``start`` of the file at ``path`` that writes the string ``value``."""
    pattern = re.compile(rf"""(["']){re.escape(value)}\1""")
    if path not in texts:
        texts[path] = path.read_text(encoding="utf-8", errors="replace").splitlines()
    lines = texts[path]
    return next((n for n in range(start or 1, len(lines) + 1) if pattern.search(lines[n - 1])), None)


EQUIVALENT = NamedNode(GKG + "equivalentMeasure")
_EQUIVALENT_FIX = ("equivalent measures must share one canonical unit: give each the same gkg:canonicalUnit (a result "
                   "in another unit is converted to it, with a gkg:UnitFactor of the measure where UCUM cannot), or "
                   "remove the gkg:equivalentMeasure link if they are not the same quantity")


def equivalent_unit_findings(content: Content) -> list[Finding]:
    """``equivalent-measure-units`` errors: measures linked by gkg:equivalentMeasure (either way,
    transitively) that state more than one canonical unit. The loader converts a result of any of them to
    the group's one unit, so with two it converts none: every result of each is unusable. Located at the
    first link of the group (the line that writes it)."""
    catalog = MeasureCatalog.from_graph(content.store)
    findings, texts, done = [], {}, set()
    for measure, group in sorted(catalog.groups.items()):
        if group.measures in done or len(group.measures) < 2 or len(group.canonical_units) < 2:
            continue
        done.add(group.measures)
        links = sorted((q for m in sorted(group.measures) for q in content.store.quads_for_pattern(
            NamedNode(m), EQUIVALENT, None, None)), key=lambda q: (str(q.subject), str(q.object)))
        if not links:
            continue
        stated = "; ".join(f"{content.label(NamedNode(m))} ({content.compact(NamedNode(m))}) in "
                           + " and ".join(sorted(u.value for u in content.objects(NamedNode(m), CANONICAL_UNIT)))
                           for m in sorted(group.measures) if content.objects(NamedNode(m), CANONICAL_UNIT))
        message = (f"these measures are equivalent (gkg:equivalentMeasure) but state {len(group.canonical_units)} "
                   f"canonical units ({stated}): every result of each is unusable at run time "
                   f"(unit-not-convertible, 'the guideline graph gives {len(group.canonical_units)} canonical units'); "
                   + _EQUIVALENT_FIX)  # fmt: skip
        link = links[0]
        finding = content.finding(link.subject, "error", "lint", "equivalent-measure-units", message,
                                  where=(EQUIVALENT, link.object), path="gkg:equivalentMeasure",
                                  value=", ".join(sorted(group.canonical_units)))  # fmt: skip
        file, line = statement_line(content, link, texts)
        findings.append(replace(finding, file=file or finding.file, line=line or finding.line))
    return findings


def equivalent_cross_findings(contents: list[Content]) -> list[Finding]:
    """``equivalent-measure-units`` errors across guidelines: two measures linked by gkg:equivalentMeasure
    (in any guideline, either way, transitively) that two guidelines read in units that do not convert into
    each other. One measure in two such units is ``measure-unit-clash``; a group with two units within one
    guideline is reported in that guideline's own report."""
    parent: dict[str, str] = {}

    def find(m: str) -> str:
        while parent.setdefault(m, m) != m:
            m = parent[m]
        return m

    declared: list[tuple[Content, str, str, MeasureCatalog]] = []
    for content in contents:
        catalog = MeasureCatalog.from_graph(content.store)
        for quad in content.store.quads_for_pattern(None, EQUIVALENT, None, None):
            parent[find(quad.subject.value)] = find(quad.object.value)
        for measure in content.subjects_with(CANONICAL_UNIT):
            for unit in content.objects(measure, CANONICAL_UNIT):
                if isinstance(unit, Literal) and is_ucum(unit.value):
                    declared.append((content, measure.value, unit.value, catalog))
    findings, reported = [], set()
    for i, (content, measure, unit, catalog) in enumerate(declared):
        for other, other_measure, other_unit, other_catalog in declared[:i]:
            if other is content or measure == other_measure or unit == other_unit:
                continue
            if find(measure) != find(other_measure):
                continue
            joined = [c for c in (catalog, other_catalog) if _joined(c, measure, other_measure)]
            if joined or (find(measure), frozenset((unit, other_unit))) in reported:
                continue  # the same group in one guideline: that guideline's own report says so
            factors = tuple({*_factors(catalog, measure), *_factors(other_catalog, other_measure)})
            group = MeasureGroup(frozenset(), frozenset(), factors)
            try:
                convert(Decimal(1), other_unit, group, unit)
                convert(Decimal(1), unit, group, other_unit)
            except UnitConversionError as exc:
                reported.add((find(measure), frozenset((unit, other_unit))))
                where, line = other.locate(NamedNode(other_measure))
                findings.append(content.finding(
                    NamedNode(measure), "error", "lint", "equivalent-measure-units",
                    f"this guideline reads {content.label(NamedNode(measure))} in {unit}, another ({where}"
                    f"{f':{line}' if line else ''}) reads {other.label(NamedNode(other_measure))}, declared "
                    f"equivalent to it (gkg:equivalentMeasure), in {other_unit}, and the units do not convert "
                    f"({exc}); " + _EQUIVALENT_FIX, path="gkg:canonicalUnit", value=unit))
    return findings


def _joined(catalog: MeasureCatalog, measure: str, other: str) -> bool:
    """Whether one guideline's graph makes the two measures equivalent (its own report then says so)."""
    group = catalog.groups.get(measure)
    return group is not None and other in group.measures


def _factors(catalog: MeasureCatalog, measure: str) -> tuple:
    group = catalog.groups.get(measure)
    return group.factors if group else ()
