"""Normalise observation values to the canonical unit of their measure, as the guideline graph states it.

Everything comes from the graph (:mod:`guidelinekg.patients.measures`): a ``gkg:Measure`` has a ``gkg:canonicalUnit`` (UCUM) and may have
``gkg:unitFactor`` nodes (``gkg:fromUnit``, ``gkg:toUnit``, ``gkg:divideBy``) for conversions UCUM cannot do
(molar to mass units of one substance). ``gkg:equivalentMeasure`` (symmetric) groups codes for the same
quantity; the groups are closed transitively.

Choices:

* Equivalent codes: an observation coded with any member of a group gets ``gkg:observedMeasure`` of every
  member the graph declares, so a threshold on any code of the group sees it. The group shares canonical
  unit and factors (a member without ``gkg:canonicalUnit`` takes the group's).
* Arithmetic is decimal, never binary floating point: a factor from the graph is used as written; a UCUM
  factor (computed by pint through ucumvert) is rounded to 12 significant digits, so ug/L -> ng/mL is
  exactly 1. A converted value keeps ``max(6, digits given + 2)`` significant digits (half-even), and at
  most 11 after a UCUM factor (no more than the factor holds: 84.00000000000000 d is 12 wk, not
  11.999999999988), written without exponent and without trailing zeros. An unconverted value keeps its lexical form.
* Conversion paths, first that applies: same unit; a factor from the unit to the canonical unit (or the
  inverse of one the other way); UCUM alone; UCUM to a factor's ``fromUnit``, the factor, UCUM from its
  ``toUnit``. The UCUM registry (about half a second to build) is built only when needed, once per process.
* Equivalents and osmoles are no moles, though UCUM equates them (``meq/L`` to ``mmol/L`` is refused:
  :func:`guidelinekg.patients.ucum.counted_apart`); the graph's factor (the valence) relates them.
* Annotations count, though UCUM ignores them: a unit lacking an annotation of the unit it is converted to
  (``mL/min``, a clearance, to ``mL/min/{1.73_m2}``, an eGFR) is not converted; an extra one
  (``%{saturation}`` to ``%``) is no matter.
* A unit given only as text that is no UCUM code is read as the UCUM code ``ontology/unit-spellings.tsv``
  gives for it (``mL/min/1.73m2``: ``mL/min/{1.73_m2}``), with a conversion note that shows it as written.
* A unit that cannot be converted gives ``gkg:unitProblem`` and no ``gkg:normalizedValue``: the rules then
  treat the result as missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation

from guidelinekg.patients.model import (
    DECIMAL_PLACES,
    GKG,
    INVALID,
    XSD,
    IngestNote,
    PatientData,
    decimal_problem,
    iri,
    literal,
    number_text,
    triple,
    xsd_decimal,
)
from guidelinekg.patients.ucum import (  # noqa: F401 - is_ucum and the registry stay importable from here
    FACTOR_DIGITS,
    UnitConversionError,
    _ucum_registry,
    is_ucum,
    missing_annotations,
    short,
    ucum_conversion,
    ucum_for_spelling,
    unity,
)
from guidelinekg.patients.ucum import annotated_only
from guidelinekg.patients.ucum import pure_number as _pure_number
from guidelinekg.patients.literals import unusable_values
from guidelinekg.patients.measures import MeasureCatalog, MeasureGroup, UnitFactor  # noqa: F401 - importable from here
from guidelinekg.patients.stated import as_stated


# --- conversion -----------------------------------------------------------------------------------------

GRAPH_FACTOR = "factor from the guideline graph"


def fmt(value: Decimal) -> str:
    """Deterministic plain notation without trailing zeros (``45.000`` -> ``45``)."""
    text = xsd_decimal(value) or str(value)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class Conversion:
    """A converted value: ``value`` rounded (see the module notes) and the steps as text."""

    value: Decimal
    steps: tuple[str, ...]

    @property
    def note(self) -> str:
        return "; ".join(self.steps)


class _Steps:
    """Collects conversion steps; each is written with its result rounded to ``digits``."""

    def __init__(self, digits: int):
        self.context = Context(prec=max(6, digits + 2), rounding=ROUND_HALF_EVEN)
        self.texts: list[str] = []

    def ucum(self, value: Decimal, from_unit: str, to_unit: str) -> Decimal:
        if from_unit == to_unit:
            return value
        # {T-score} is the unity 1, named: 1 (as a result without a unit) or {T-score} read as 1 is the same number
        if unity(from_unit) and unity(to_unit) and (from_unit.strip() == "1" or not missing_annotations(from_unit, to_unit)):
            shown = f" {to_unit}" if to_unit.strip() != "1" else ""  # "2 {score} = 2", never "2 1"
            self.texts.append(f"{fmt(value)} {from_unit} = {fmt(self.round(value))}{shown} (a plain number, as the "
                              "measure is)")
            return value
        if missing := missing_annotations(from_unit, to_unit):
            raise UnitConversionError(
                f"{short(to_unit)} is annotated {' '.join(missing)} and {short(from_unit)} is not: UCUM ignores "
                "annotations, but the two need not measure the same thing (mL/min is no mL/min/{1.73_m2}); "
                "the guideline graph must give a gkg:UnitFactor between them if they do")
        if annotated_only(from_unit, to_unit):  # mg/g{creat} is mg/g, a note of what it is of added
            self.texts.append(f"{fmt(value)} {from_unit} = {fmt(self.round(value))} {to_unit} (an annotation only)")
            return value
        if ("/" in from_unit or "/" in to_unit) and _pure_number(from_unit) and _pure_number(to_unit):
            raise UnitConversionError(
                f"UCUM relates {short(from_unit)} and {short(to_unit)} only as pure numbers, which need not "
                "measure the same thing (an HbA1c in mmol/mol is not a % ÷ 10); the guideline graph must "
                "give a gkg:UnitFactor between them if they do")
        scale, offset = ucum_conversion(from_unit, to_unit)
        if scale != 1 and unity(to_unit) and _pure_number(from_unit):
            raise UnitConversionError(
                f"{short(to_unit)} is a plain number (a score, an index, a ratio) and {short(from_unit)} a scaled "
                "one: a percentage of a score means nothing, so the value is not rescaled (a T-score of -2.6 % "
                "is no -0.026); the guideline graph must give a gkg:UnitFactor between them if they are the same")
        if scale != 1 and unity(from_unit) and from_unit.strip() != "1" and _pure_number(to_unit):
            raise UnitConversionError(
                f"{short(from_unit)} is a count or a score and {short(to_unit)} a scaled number: it is not rescaled "
                "(7 {#} is no 700 %); the guideline graph must give a gkg:UnitFactor between them if they are the same")
        result = value * scale + offset
        if scale != 1 or offset:  # no more digits than the factor has: 84 d is 12 wk, not 11.999999999988
            self.context = Context(prec=min(self.context.prec, FACTOR_DIGITS - 1), rounding=ROUND_HALF_EVEN)
        op = f" × {fmt(scale)}" if scale != 1 and not offset else ""
        self.texts.append(f"{fmt(value)} {from_unit}{op} = {fmt(self.round(result))} {to_unit} (UCUM)")
        return result

    def factor(
        self, value: Decimal, from_unit: str, to_unit: str, divisor: Decimal, *, inverse: bool,
        add: Decimal = Decimal(0),
    ) -> Decimal:
        if inverse:  # (value - add) x divisor
            result = (value - add) * divisor
            shown = f"({fmt(value)} {from_unit} - {fmt(add)}) × {fmt(divisor)}" if add else \
                f"{fmt(value)} {from_unit} × {fmt(divisor)}"
        else:  # value / divisor + add
            result = value / divisor + add
            shown = f"{fmt(value)} {from_unit} ÷ {fmt(divisor)}" + (f" + {fmt(add)}" if add else "")
        self.texts.append(f"{shown} = {fmt(self.round(result))} {to_unit} ({GRAPH_FACTOR})")
        return result

    def round(self, value: Decimal) -> Decimal:
        return self.context.create_decimal(value)


def convert(value: Decimal, unit: str, group: MeasureGroup, canonical: str) -> Conversion:
    """Convert ``value`` in ``unit`` to ``canonical`` (paths in the module notes).

    >>> factor = UnitFactor("pmol/L", "ng/mL", Decimal("2.247"))
    >>> g = MeasureGroup(frozenset(), frozenset({"ng/mL"}), (factor,))
    >>> c = convert(Decimal("101.1"), "pmol/L", g, "ng/mL")
    >>> c.value, c.note
    (Decimal('44.9933'), '101.1 pmol/L ÷ 2.247 = 44.9933 ng/mL (factor from the guideline graph)')

    Raises:
        UnitConversionError: with the reason when no path exists.
    """
    digits = len(value.as_tuple().digits)
    for f in group.factors:
        for src, dst, inverse in ((f.from_unit, f.to_unit, False), (f.to_unit, f.from_unit, True)):
            if src == unit and dst == canonical:
                steps = _Steps(digits)
                result = steps.factor(value, src, dst, f.divide_by, inverse=inverse, add=f.add)
                return Conversion(steps.round(result), tuple(steps.texts))
    steps = _Steps(digits)
    try:
        result = steps.ucum(value, unit, canonical)
        return Conversion(steps.round(result), tuple(steps.texts))
    except UnitConversionError as exc:
        reason = str(exc)
    for f in group.factors:
        for src, dst, inverse in ((f.from_unit, f.to_unit, False), (f.to_unit, f.from_unit, True)):
            steps = _Steps(digits)
            try:
                v = steps.ucum(value, unit, src)
                v = steps.factor(v, src, dst, f.divide_by, inverse=inverse, add=f.add)
                v = steps.ucum(v, dst, canonical)
            except UnitConversionError:
                continue
            return Conversion(steps.round(v), tuple(steps.texts))
    if not group.factors:
        reason += "; the guideline graph gives no unit factor for this measure"
    raise UnitConversionError(reason)


def normalise(patient: PatientData, measures: MeasureCatalog) -> PatientData:
    """Add ``gkg:normalizedValue`` / ``gkg:normalizedUnit`` (and ``gkg:conversionNote`` when converted) or
    ``gkg:unitProblem`` to every observation with a value of a measure the catalog knows, and
    ``gkg:observedMeasure`` of the equivalent measures.

    Observations of measures the catalog does not know are left as they are. What only this function writes
    (a normalised value or unit, a conversion note, a unit problem, a value as stated), given with the data, is
    taken out and written again from the value and unit; a line it does not write again gets a note (patient RDF stating
    ``gkg:unitProblem "..."`` would otherwise void a result and word a warning). Normalising twice, or
    reading the tool's own output of patient facts, changes nothing.
    """
    given = [line for line in patient.ntriples if _WRITTEN_HERE.search(line)]
    if not given:
        return _normalised(patient, measures)
    dropped = set(given)
    out = _normalised(replace(patient, ntriples=[line for line in patient.ntriples if line not in dropped]), measures)
    kept = {_same_value(line) for line in out.ntriples if _WRITTEN_HERE.search(line)}
    unexplained: dict[str, list[str]] = {}
    for line in given:
        if _same_value(line) not in kept:
            unexplained.setdefault(line.split(" ", 1)[0], []).append(line)
    notes = [IngestNote(INVALID, f"{len(lines)} statement(s) of the patient data state what only the loader writes "
                        f"(first: {lines[0][:200]}): not used; give the value and its unit (gkg:value, gkg:unit) "
                        f"and the loader normalises them (focus {subject.strip('<>')}, path "
                        f"gkg:{lines[0].split(' ', 2)[1][len(GKG) + 1:-1]})", subject.strip("<>"))
             for subject, lines in unexplained.items()]
    return out.extended((), notes) if notes else out


def _same_value(line: str) -> str:
    """A line with a decimal object in one form (``"45.0"`` is ``"45"``): the data's own normalised value,
    written in another form, is still the one the loader writes."""
    s, p, o = line.split(" ", 2)
    lexical, sep, datatype = o[:-2].rpartition('"^^')
    if sep and datatype == f"<{XSD}decimal>":
        try:
            o = f'"{fmt(Decimal(lexical[1:]))}"^^{datatype} .'
        except InvalidOperation:
            pass
    return f"{s} {p} {o}"


def _normalised(patient: PatientData, measures: MeasureCatalog) -> PatientData:
    lines: list[str] = []
    texts = unusable_values(patient.ntriples)
    plain: set[str] = set()  # records of a plain-number measure given without a unit: read as the number
    for subject, props in patient.facts("Observation").items():
        if subject in texts:  # gkg:value "50": a string, never read as a number (the patient shapes say so)
            props = {k: v for k, v in props.items() if k != "value"}
        found = _normalise_one(subject, props, measures)
        if any(_NO_UNIT_READ in line for line in found):
            plain.add(subject.strip("<>").removeprefix("urn:guidelinekg:"))
        lines.extend(found)
    if plain:  # the loader's missing-unit note is then no warning: the explanation says how it was read
        patient = replace(patient, notes=[n for n in patient.notes if not (n.code == "missing-unit" and n.record in plain)])
    notes = [IngestNote(INVALID, f"Observation gkg:value {why}: not used (focus {subject.strip('<>')}, path gkg:value)",
                        subject.strip("<>")) for subject, why in sorted(texts.items()) if why]
    return patient.extended(lines, notes) if lines or notes else patient


_NO_UNIT_READ = "no unit given: read as"
_WRITTEN_HERE = re.compile(
    f" <{re.escape(GKG)}(?:normalizedValue|normalizedUnit|conversionNote|unitProblem|statedUnit|statedValue)> ")




def _normalise_one(subject: str, props: Mapping[str, list[str]], catalog: MeasureCatalog) -> list[str]:
    observed = set(props.get("observedMeasure", []))
    groups = {id(g): g for m in observed if (g := catalog.groups.get(m))}
    if not groups:
        return []
    members = frozenset().union(*(g.measures for g in groups.values()))
    lines = [triple(subject, iri(GKG + "observedMeasure"), iri(m)) for m in sorted(members - observed)]
    values = props.get("value", [])
    units = frozenset().union(*(g.canonical_units for g in groups.values()))
    if not values and (tokens := props.get("valueCodeToken")) and units:  # "positive" for a number: unusable
        shown = tokens[0].strip('"')[:80]
        return [*lines, triple(subject, iri(GKG + "unitProblem"), literal(
            f"a coded value ({shown}) where a number in {', '.join(sorted(units))} is read"))]
    if not values:
        return lines
    group = MeasureGroup(
        members,
        frozenset().union(*(g.canonical_units for g in groups.values())),
        tuple(f for g in groups.values() for f in g.factors),
        frozenset().union(*(g.stated_units for g in groups.values())),
    )

    def problem(reason: str) -> list[str]:
        return [*lines, triple(subject, iri(GKG + "unitProblem"), literal(reason))]

    if len(group.canonical_units) != 1:
        shown = ", ".join(sorted(group.canonical_units)) or "none"
        return problem(
            f"the guideline graph gives {len(group.canonical_units)} canonical units ({shown}) "
            "for this measure"
        )
    canonical = next(iter(group.canonical_units))
    if len(values) > 1:
        return problem(f"{len(values)} values given; an observation carries one value")
    try:
        value = Decimal(values[0])
        lexical = xsd_decimal(value)
    except InvalidOperation:
        lexical = None
    if lexical is None:
        return problem(f"value {values[0][:40]!r} is not a number")
    if why := decimal_problem(value):
        return problem(f"value {number_text(value)} is out of range ({why})")
    units = props.get("unit", [])
    texts = props.get("unitText", [])
    if len(units) > 1:
        return problem(
            f"{len(units)} units given ({', '.join(sorted(units))}); an observation carries one unit"
        )
    if not units:
        if texts and is_ucum(texts[0].strip()):  # a UCUM display kept apart from a code naming another unit
            return problem(f"unit {short(texts[0])!r} contradicts the UCUM code given with it: which unit the value "
                           "is in cannot be told")
        if not texts and not unity(canonical):
            return problem(f"no unit given; the guideline's unit for this measure is {canonical}")
        if texts and (spelled := ucum_for_spelling(texts[0])) is None:
            return problem(f"unit {short(texts[0])!r} is not a UCUM unit and cannot be converted to {canonical}")
    if units:
        unit, written, shown = units[0], (), short(units[0])
    elif not texts:  # a score, index or ratio: a plain number, which its unit would only annotate
        unit, written, shown = canonical, (f"{_NO_UNIT_READ} {canonical}, a plain number as the measure is",), ""
    else:
        unit, written, shown = _spelled(value, texts[0], spelled)
    out = [*lines, triple(subject, iri(GKG + "normalizedUnit"), literal(canonical)),
           *_as_stated(subject, value, unit, group.stated_units, canonical)]
    if unit == canonical:
        # in the one form Oxigraph writes ("41.90" is "41.9"): every engine then sees one value as one term
        return [*out, triple(subject, iri(GKG + "normalizedValue"), literal(fmt(value), XSD + "decimal")),
                *(triple(subject, iri(GKG + "conversionNote"), literal(note)) for note in written)]
    try:
        conversion = convert(value, unit, group, canonical)
    except UnitConversionError as exc:
        return problem(f"cannot convert {shown} to {canonical}: {exc}")
    converted = _storable(conversion.value)
    if converted is None:
        return problem(
            f"{number_text(value)} {shown} is {number_text(conversion.value)} {canonical}, out of range "
            f"({decimal_problem(conversion.value)})"
        )
    return [
        *out,
        triple(subject, iri(GKG + "normalizedValue"), literal(fmt(converted), XSD + "decimal")),
        triple(subject, iri(GKG + "conversionNote"), literal("; ".join((*written, conversion.note)))),
    ]


def _as_stated(subject: str, value: Decimal, unit: str, stated: frozenset[str], canonical: str) -> list[str]:
    """``gkg:statedUnit`` / ``gkg:statedValue`` (:func:`guidelinekg.patients.stated.as_stated`), if any."""
    found = as_stated(value, unit, stated, canonical)
    stored = _storable(found[1]) if found else None
    if stored is None:
        return []
    return [triple(subject, iri(GKG + "statedUnit"), literal(found[0])),
            triple(subject, iri(GKG + "statedValue"), literal(fmt(stored), XSD + "decimal"))]


def _spelled(value: Decimal, text: str, code: str) -> tuple[str, tuple[str, ...], str]:
    """A unit written as no UCUM code, read as ``code``: the code, the note that shows the unit as written,
    and the unit for a message."""
    note = f"{fmt(value)} {text.strip()} read as {fmt(value)} {code} (a common spelling of that UCUM unit)"
    return code, (note,), f"{short(text.strip())} (read as {code})"


def _storable(value: Decimal) -> Decimal | None:
    """A converted value as the store can hold it: rounded to :data:`DECIMAL_PLACES` places when it has
    more; ``None`` when out of range or when rounding would leave nothing of it (an absurd conversion)."""
    if decimal_problem(value) is None:
        return value
    if value.copy_abs() >= 1:
        return None
    rounded = value.quantize(Decimal(1).scaleb(-DECIMAL_PLACES), context=Context(prec=60))
    return None if rounded.is_zero() else rounded
