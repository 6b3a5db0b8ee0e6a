"""A result's value in a unit its threshold is also published in (``gkg:alsoStatedAs``), for rules 29 and 40.

A threshold published in two units that do not convert exactly (126 mg/dL and 7.0 mmol/L) is compared in
the unit the result came in, as published. A result is in such a unit when UCUM relates the two by a
factor of exactly 1 (``mmol/l``; ``µmol/L`` read as ``umol/L``), or, when UCUM cannot relate the result's
unit to the canonical one (a molar result of a mass threshold), by a power of ten (``6995 umol/L`` is
``6.995 mmol/L``): an exact rescaling, never a rounded one. A result UCUM relates to the canonical unit is
compared there, as the threshold itself is published. Ratios of like units and other pure numbers are
never related (an HbA1c in mmol/mol is no % / 10).
"""

from __future__ import annotations

from decimal import Decimal

from guidelinekg.patients.ucum import UnitConversionError, missing_annotations, pure_number, ucum_conversion


def as_stated(value: Decimal, unit: str, stated: frozenset[str], canonical: str) -> tuple[str, Decimal] | None:
    """``(stated unit, value in it)`` for a result of ``value`` in the UCUM ``unit``, or None; with several
    stated units, one the result is in (factor 1) first, then the first by code.

    >>> as_stated(Decimal("6995"), "umol/L", frozenset({"mmol/L"}), "mg/dL")
    ('mmol/L', Decimal('6.99500000000000'))
    >>> as_stated(Decimal("1.26"), "g/L", frozenset({"mmol/L"}), "mg/dL") is None  # compared in mg/dL
    True
    """
    if not stated or unit == canonical:
        return None
    found = []
    for s in sorted(stated - {canonical}):
        try:
            scale, offset = (Decimal(1), Decimal(0)) if s == unit else _exact(unit, s)
        except UnitConversionError:
            continue
        if offset == 0 and scale > 0 and scale.normalize().as_tuple().digits == (1,):  # a power of ten
            found.append((scale != 1, s, value * scale))
    if not found:
        return None
    rescaled, s, v = min(found, key=lambda f: (f[0], f[1]))
    if rescaled:
        try:
            _exact(unit, canonical)
            return None  # the canonical unit is the published one it converts to
        except UnitConversionError:
            pass
    return s, v


def _exact(from_unit: str, to_unit: str) -> tuple[Decimal, Decimal]:
    """UCUM's ``(scale, offset)`` between two units that measure the same thing: an annotation of ``to_unit``
    that ``from_unit`` lacks keeps them apart; an extra one of ``from_unit`` is no matter (``mmol/L{gluc}`` is
    in ``mmol/L``), as in every conversion (:func:`guidelinekg.patients.ucum.missing_annotations`)."""
    if missing_annotations(from_unit, to_unit):
        raise UnitConversionError("the annotations differ")
    if pure_number(from_unit) or pure_number(to_unit):
        raise UnitConversionError("pure numbers")
    return ucum_conversion(from_unit, to_unit)
