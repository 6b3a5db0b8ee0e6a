"""UCUM units: syntax (the UCUM grammar of ``ucumvert``) and conversion factors (Pint through ``ucumvert``).

Units come from untrusted input, so nothing here raises anything but :class:`UnitConversionError`: an odd
unit (``10*1000.ug/L``, whose factor overflows a float; a deeply nested one; a lone annotation) is simply
not convertible. The parser and the registry (about half a second to build) are built only when needed,
once per process; results, failures included, are cached.
"""

from __future__ import annotations

import functools
import re
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

_FACTOR_CONTEXT = Context(prec=12, rounding=ROUND_HALF_EVEN)


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
        if _HUGE_EXPONENT.search(unit):  # 10*999999999999 would be computed exactly: hours, not an error
            return f"{shown(unit)} is not a usable UCUM unit (an exponent of more than three digits)"
        # The UCUM parser and Pint raise many kinds of error on odd input (an InvalidUcumError, a
        # LarkError, an OverflowError for "10*1000.ug/L", a RecursionError for deep nesting, an
        # AttributeError for a lone annotation): every one means the unit cannot be used.
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
        return at(1.0) - offset, offset
    except pint.errors.DimensionalityError as exc:
        return (
            f"UCUM cannot convert {from_text} ({exc.dim1 or 'dimensionless'}) to {to_text} "
            f"({exc.dim2 or 'dimensionless'})"
        )
    except pint.errors.PintError as exc:
        return f"UCUM cannot convert {from_text} to {to_text}: {exc}"
    except (ArithmeticError, ValueError, TypeError, RecursionError) as exc:
        return f"the factor from {from_text} to {to_text} is out of range ({exc or type(exc).__name__})"
