"""UCUM units: syntax (the UCUM grammar of ``ucumvert``) and conversion factors (Pint through ``ucumvert``).

Units come from untrusted input, so nothing here raises anything but :class:`UnitConversionError`: an odd
unit (``10*1000.ug/L``, whose factor overflows a float; a deeply nested one) is simply
not convertible. A lone annotation (``{score}``, ``{T-score}``) is the unity 1, as UCUM defines it. The parser and the registry (about half a second to build) are built only when needed,
once per process; results, failures included, are cached.

Three things UCUM itself does not do:

* Annotations. UCUM gives ``{...}`` no meaning (``mL/min`` converts to ``mL/min/{1.73_m2}`` with factor 1),
  but an annotation may name another quantity (a creatinine clearance is not an eGFR indexed to body
  surface). :func:`missing_annotations` names those of a target unit that a source unit lacks.
* Spellings. Laboratory systems write units that are no UCUM code (``mL/min/1.73m2``, ``mcg/L``, ``lbs``).
  ``ontology/unit-spellings.tsv`` maps the well-known ones, each to the one UCUM code it can mean
  (:func:`ucum_for_spelling`).
* Equivalents and osmoles. UCUM defines ``eq`` and ``osm`` as 1 ``mol``, which holds only of a charge, or a
  count of particles, of 1: 1.2 meq/L of a divalent ion is 0.6 mmol/L, not 1.2. A conversion that changes
  how many eq or osm a unit counts (``meq/L`` to ``mmol/L``, ``meq/mmol`` to ``1``) is refused
  (:func:`counted_apart`); one between prefixes of the same (``meq/L`` to ``eq/L``, ``mmol/L`` to ``umol/L``)
  is UCUM's. The guideline graph gives the factor for a substance (a ``gkg:UnitFactor``).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

FACTOR_DIGITS = 12  # a UCUM factor's significant digits (pint computes it in binary floating point)
_FACTOR_CONTEXT = Context(prec=FACTOR_DIGITS, rounding=ROUND_HALF_EVEN)


def short(unit: str) -> str:
    """A unit for a message, shortened when long."""
    return unit if len(unit) <= 40 else unit[:40] + "..."


def shown(unit: str) -> str:
    """A unit quoted for a message, shortened when long."""
    return repr(short(unit))


@functools.cache
def _ucum_parser() -> Any:
    from ucumvert import get_ucum_parser

    return get_ucum_parser()


@functools.cache
def _ucum_registry() -> Any:
    from ucumvert import PintUcumRegistry

    return PintUcumRegistry()


@functools.cache
def is_ucum(code: str) -> bool:
    """Whether ``code`` is a syntactically valid UCUM unit (case-sensitive), e.g. ``"ng/mL"`` but not
    ``"furlongs"``. Uses the UCUM grammar only (no unit registry)."""
    try:
        _ucum_parser().parse(code)
    except Exception:  # noqa: BLE001 - LarkError, or RecursionError on a deeply nested unit: not UCUM
        return False
    return True


class UnitConversionError(Exception):
    """Raised inside this module when two units cannot be related; the message is the reason."""


def ucum_conversion(from_unit: str, to_unit: str) -> tuple[Decimal, Decimal]:
    """``(scale, offset)`` with ``to = from * scale + offset`` between two UCUM units.

    Raises:
        UnitConversionError: a unit is not valid UCUM, or the units measure different kinds of quantity.
    """
    result = _ucum_conversion(from_unit, to_unit)
    if isinstance(result, str):
        raise UnitConversionError(result)
    return result


_ANNOTATION = re.compile(r"\{[^{}]*\}")


def missing_annotations(from_unit: str, to_unit: str) -> list[str]:
    """The annotations of ``to_unit`` that ``from_unit`` lacks (``["{1.73_m2}"]`` for ``mL/min`` to
    ``mL/min/{1.73_m2}``); an extra one of ``from_unit`` is no matter (``%{saturation}`` to ``%``).

    >>> missing_annotations("mL/min", "mL/min/{1.73_m2}"), missing_annotations("%{saturation}", "%")
    (['{1.73_m2}'], [])
    """
    return sorted((Counter(_ANNOTATION.findall(to_unit)) - Counter(_ANNOTATION.findall(from_unit))).elements())


def annotated_only(from_unit: str, to_unit: str) -> bool:
    """Whether ``from_unit`` is ``to_unit`` with annotations added (``mg/g{creat}`` for ``mg/g``): the same unit,
    whatever it measures, since ``to_unit``'s own annotations are all there (:func:`missing_annotations`).

    >>> annotated_only("mg/g{creat}", "mg/g"), annotated_only("mmol/mol", "%"), annotated_only("%", "%{x}")
    (True, False, False)
    """
    bare = _ANNOTATION.sub("", from_unit)
    return not missing_annotations(from_unit, to_unit) and bare == _ANNOTATION.sub("", to_unit)


def unity(unit: str) -> bool:
    """Whether ``unit`` is the plain number 1, perhaps annotated (``1``, ``{score}``, ``1{T-score}``): a score,
    an index or a ratio, of which a percentage means nothing.

    >>> unity("{T-score}"), unity("1"), unity("%"), unity("%{saturation}")
    (True, True, False, False)
    """
    return _ANNOTATION.sub("", unit).strip() in ("1", "")


def pure_number(unit: str) -> bool:
    """Whether UCUM reads ``unit`` as a pure number (%, mmol/mol, 10*3/10*3, 1 ...). Two such units are
    converted by UCUM only when neither is a ratio of like quantities (mmol/mol, g/g): 1, % and 10*-2 are
    the same number written at another scale; mmol/mol and % may be two scales of different methods."""
    try:
        ucum_conversion(unit, "1")
    except UnitConversionError:
        return False
    return True



# the base dimensions of amounts a laboratory reports (mass, substance, volume, time); a unit of any other
# (temperature, charge, a magnetic field: "K/uL", "C", "G/L" as UCUM reads them) is no laboratory amount
_AMOUNT_DIMENSIONS = frozenset({"[mass]", "[length]", "[time]", "[substance]"})
_MATTER = re.compile(r"(?<![A-Za-z\[])[a-zA-Z]?(?:g|mol)(?![A-Za-z])")  # a gram or a mole, perhaps prefixed


@functools.cache
def amount_kind(unit: str) -> tuple[tuple[str, int], ...] | None:
    """The dimensions of ``unit`` when it is an amount of matter, as mass or as substance, per volume, time or
    mass (``mg/dL``, ``umol/L``, ``U/L``, ``kg``), sorted; ``()`` for a ratio of like amounts (``mg/g``,
    ``mmol/mol``: albumin/creatinine in mg/g is not mg/mmol); None for any other unit (a count per volume,
    ``10*9/L``, ``[IU]/L``; a pure number; ``K/uL`` read as kelvin) or one that is no UCUM. Two units whose
    kinds are given and differ cannot name one value: mass and substance, mass and mass per volume.

    >>> amount_kind("mg/dL"), amount_kind("umol/L"), amount_kind("10*3/uL"), amount_kind("K/uL")
    ((('[length]', -3), ('[mass]', 1)), (('[length]', -3), ('[substance]', 1)), None, None)
    """
    dimensions = _dimensions(unit)
    if dimensions is None:
        return None
    if not dimensions and _MATTER.search(unit):
        return ()  # a ratio of like amounts (mg/g, mmol/mol): a number, but not one of mass per substance
    if not set(dimensions) <= _AMOUNT_DIMENSIONS or not {"[mass]", "[substance]"} & set(dimensions):
        return None
    if any(float(power) != int(power) for power in dimensions.values()):
        return None
    return tuple(sorted((name, int(power)) for name, power in dimensions.items()))


@functools.cache
def per_time(unit: str) -> bool:
    """Whether ``unit`` is an amount per time (``mg/d``, ``ug/kg/h``, ``mL/h``, ``[iU]/d``): a rate, not an amount
    given at once.

    >>> per_time("mg/d"), per_time("ug/kg/h"), per_time("mL/h"), per_time("mg"), per_time("mg/kg"), per_time("d")
    (True, True, True, False, False, False)
    """
    return (_dimensions(unit) or {}).get("[time]", 0) < 0


def _dimensions(unit: str) -> dict | None:
    """``unit``'s base dimensions and their powers (``{"[mass]": 1, "[time]": -1}``), or None when it is no
    UCUM code or cannot be read."""
    if _HUGE_EXPONENT.search(unit) or not is_ucum(unit):
        return None
    try:
        return dict(_ucum_registry().from_ucum(unit).dimensionality)
    except Exception:  # noqa: BLE001 - as in _ucum_conversion: any failure means the unit cannot be used
        return None


# --- spellings that are no UCUM code ---------------------------------------------------------------------

SPELLINGS_FILE = "unit-spellings.tsv"


class Spellings:
    """The table of ``ontology/unit-spellings.tsv``: characters replaced wherever they occur (``char``) and
    whole units as written (``unit``), each to a UCUM code. Whitespace is ignored in a unit as written."""

    def __init__(self, chars: dict[str, str], units: dict[str, str]):
        self.chars = chars
        self.units = {self.key(written): code for written, code in units.items()}

    def replaced(self, text: str) -> str:
        for char, by in self.chars.items():
            text = text.replace(char, by)
        return text

    def key(self, text: str) -> str:
        return re.sub(r"\s+", "", self.replaced(text))

    @classmethod
    def parse(cls, text: str, source: str = SPELLINGS_FILE) -> Spellings:
        """Read the table (tab-separated ``kind``, ``as written``, ``UCUM code``; ``#`` comments).

        Raises:
            ValueError: a malformed line, a code that is no UCUM, a unit as written that UCUM reads already
                (it would never be looked up), or one spelling given two codes.
        """
        chars: dict[str, str] = {}
        units: dict[str, str] = {}
        keys: dict[str, tuple[str, str]] = {}
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = line.split("\t")
            where = f"{source}:{number}"
            if len(fields) != 3 or fields[0] not in ("char", "unit") or not fields[1].strip():
                raise ValueError(f"{where}: expected 'char' or 'unit', the spelling and the UCUM code, tab-separated")
            kind, written, code = fields[0], fields[1].strip(), fields[2].strip()
            if kind == "char":
                if written in chars or len(written) != 1 or re.search(r"\s", code):
                    raise ValueError(f"{where}: a character replaced twice, more than one character, or by space")
                chars[written] = code
                continue
            if not is_ucum(code):
                raise ValueError(f"{where}: {code!r} is not a UCUM code")
            if is_ucum(written):
                raise ValueError(f"{where}: {written!r} is a UCUM code already; a spelling is never looked up")
            if written in units:
                raise ValueError(f"{where}: {written!r} is given twice")
            units[written] = code
        table = cls(chars, {})
        for written, code in units.items():
            key = table.key(written)
            if key in keys:
                raise ValueError(f"{source}: {written!r} and {keys[key][0]!r} are the same spelling (whitespace "
                                 "and the characters replaced aside)" + ("" if keys[key][1] == code else
                                                                         f", given two codes ({code}, {keys[key][1]})"))
            keys[key] = (written, code)
        return cls(chars, units)


@functools.cache
def spelling_table() -> Spellings:
    """The shipped table (``ontology/unit-spellings.tsv``), read once per process; empty if it is absent."""
    from guidelinekg.content.resources import ontology_dir

    path = ontology_dir() / SPELLINGS_FILE
    if not path.is_file():
        return Spellings({}, {})
    return Spellings.parse(path.read_text(encoding="utf-8"), str(path))


@functools.cache
def spelling_table_sha256() -> str | None:
    """SHA-256 of the shipped table's bytes (None if it is absent): a run records it, since the same raw
    input read with another table gives other facts."""
    import hashlib

    from guidelinekg.content.resources import ontology_dir

    path = ontology_dir() / SPELLINGS_FILE
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def ucum_for_spelling(written: str, table: Spellings | None = None) -> str | None:
    """The UCUM code a unit written as no UCUM code means (``mL/min/1.73 m2`` -> ``mL/min/{1.73_m2}``,
    ``µg/L`` -> ``ug/L``), or None: a unit as written in the table (whitespace ignored), else the text
    with the table's characters replaced if that is UCUM. A UCUM code, or a spelling the table lacks
    (``IU/L``: international or enzyme unit), gives None."""
    text = written.strip()
    if not text or len(text) > 100 or is_ucum(text):
        return None
    table = spelling_table() if table is None else table
    if code := table.units.get(table.key(text)):
        return code
    replaced = table.replaced(text)
    return replaced if replaced != text and is_ucum(replaced) else None


# An exponent (after "*", "^" or a unit symbol) of four digits or more: no real unit has one.
_HUGE_EXPONENT = re.compile(r"(?:[*^]|[A-Za-z\])}])[+-]?\d{4,}")


@functools.cache
def _ucum_conversion(from_unit: str, to_unit: str) -> tuple[Decimal, Decimal] | str:
    """As :func:`ucum_conversion`, failures returned as their reason so that they are cached too."""
    import pint

    registry = _ucum_registry()
    from_text, to_text = short(from_unit), short(to_unit)
    quantities = []
    for unit in (from_unit, to_unit):
        if _ANNOTATION.sub("", unit) == "" and unit:  # UCUM reads a lone annotation ({score}) as the unity 1
            unit = "1"
        if _HUGE_EXPONENT.search(unit):  # 10*999999999999 would be computed exactly: hours, not an error
            return f"{shown(unit)} is not a usable UCUM unit (an exponent of more than three digits)"
        # The UCUM parser and Pint raise many kinds of error on odd input (an InvalidUcumError, a
        # LarkError, an OverflowError for "10*1000.ug/L", a RecursionError for deep nesting, an
        # AttributeError): every one means the unit cannot be used.
        try:
            quantity = registry.from_ucum(unit)
            float(quantity.magnitude)
        except Exception:  # noqa: BLE001
            return f"{shown(unit)} is not a valid UCUM unit"
        if not hasattr(quantity, "units"):
            return f"{shown(unit)} is not a valid UCUM unit"
        quantities.append(quantity)
    source, target = quantities

    def at(x: float) -> Decimal:
        # UCUM units may carry a number ("10.uL"); pint keeps it as the magnitude
        value = (
            registry.Quantity(x * source.magnitude, source.units).to(target.units).magnitude
            / target.magnitude
        )
        result = _FACTOR_CONTEXT.create_decimal_from_float(float(value))
        if not result.is_finite():
            raise OverflowError("the conversion factor is out of range")
        return result

    try:
        offset = at(0.0)
        scale = at(1.0) - offset
        return counted_apart(from_unit, to_unit) or (scale, offset)
    except pint.errors.DimensionalityError as exc:
        return (
            f"UCUM cannot convert {from_text} ({exc.dim1 or 'dimensionless'}) to {to_text} "
            f"({exc.dim2 or 'dimensionless'})"
        )
    except pint.errors.PintError as exc:
        return f"UCUM cannot convert {from_text} to {to_text}: {exc}"
    except (ArithmeticError, ValueError, TypeError, RecursionError) as exc:
        return f"the factor from {from_text} to {to_text} is out of range ({exc or type(exc).__name__})"


# --- equivalents and osmoles, which UCUM takes as moles -------------------------------------------------

_COUNTED = ("eq", "osm")  # UCUM atoms defined as 1 mol that are a mole only for a charge or particle count of 1


def counted_apart(from_unit: str, to_unit: str) -> str | None:
    """Why ``from_unit`` and ``to_unit`` cannot be related though UCUM relates them, or None: they count
    equivalents (``eq``) or osmoles (``osm``), any prefix, to other powers (``meq/L`` and ``mmol/L``;
    ``mosm/kg`` and ``mmol/kg``; ``meq/mmol`` and ``1``). UCUM takes 1 eq and 1 osm as 1 mol, true only of an
    ion of charge 1 or a solute that does not dissociate.

    >>> counted_apart("meq/L", "eq/L") is None, counted_apart("meq/(24.h)", "mmol/d") is None
    (True, False)
    """
    if _counts(from_unit) == _counts(to_unit):
        return None
    return (f"{short(from_unit)} and {short(to_unit)} count an amount of substance differently (equivalents "
            "or osmoles against moles), which UCUM equates (1 eq = 1 osm = 1 mol) though that holds only for a "
            "charge, or a count of particles, of 1 (1 mmol of a divalent ion is 2 meq); the guideline graph "
            "must give a gkg:UnitFactor between them for this measure (gkg:divideBy the valence, or the "
            "particles per molecule, with its source)")


@functools.cache
def _counts(unit: str) -> tuple[tuple[str, int], ...]:
    """The powers of eq and osm in ``unit`` (``meq/(24.h)``: eq 1; ``mmol/meq2``: eq -2), from the UCUM
    parse; ``()`` for a unit that counts neither (or is no UCUM: the conversion fails anyway)."""
    try:
        counts = _walk(_ucum_parser().parse(unit))
    except Exception:  # noqa: BLE001 - as in is_ucum: a unit that cannot be parsed counts nothing here
        return ()
    return tuple(sorted((atom, power) for atom, power in counts.items() if power))


def _walk(node: Any, scale: int = 1) -> Counter:
    """Net powers of the counted atoms below one node of the UCUM grammar's parse tree, times ``scale``."""
    out: Counter = Counter()
    children = getattr(node, "children", None)
    if children is None:  # a token: an annotation, an operator
        return out
    if node.data == "simple_unit":
        out[str(children[-1])] += scale if str(children[-1]) in _COUNTED else 0
    elif node.data == "annotatable" and getattr(children[-1], "type", None) == "EXPONENT":
        out.update(_walk(children[0], scale * int(children[-1])))
    else:  # a term (a.b, a/b), a main term (/a), a component, a parenthesised term: what it holds
        for child in children:
            if str(child) == "/" and getattr(child, "type", None):
                scale = -scale  # the right operand of a term, the whole of "/a": one "/" in each
            else:
                out.update(_walk(child, scale))
    return out
