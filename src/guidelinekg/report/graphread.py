"""Reading results back out of a store: small helpers shared by the report and explanation builders."""

from __future__ import annotations

import calendar
from collections import defaultdict
from decimal import Decimal, InvalidOperation

from guidelinekg.engine.store import RuleStore
from guidelinekg.patients.ucum import unity

PREFIXES = """PREFIX gkg: <https://w3id.org/guidelinekg/ontology#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX bibo: <http://purl.org/ontology/bibo/>
"""


def _iri(value: str) -> str:
    if any(c in value for c in '<>"{} \n'):
        raise ValueError(f"not an IRI: {value!r}")
    return f"<{value}>"


def rows(
    store: RuleStore, query: str, *, patients: list[str] | None = None, **iris: str
) -> list[dict[str, str]]:
    """Run a SELECT with ``$name`` placeholders bound to IRIs (validated, never user text); values as str.

    ``patients`` restricts ``?patient`` with a VALUES block (None: every patient in the store).
    """
    for name, value in iris.items():
        query = query.replace(f"${name}", _iri(value))
    if patients is not None and "?patient" in query:
        values = " ".join(_iri(p) for p in patients)
        head, _, body = query.partition("WHERE {")
        query = f"{head}WHERE {{ VALUES ?patient {{ {values} }} {body}"
    return store.select_values(PREFIXES + query)


def grouped(items: list[dict[str, str]], key: str) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = defaultdict(list)
    for item in items:
        out[item[key]].append(item)
    return out


def number(text: str | None) -> str | None:
    """Format a numeric lexical form without trailing zeros: '75.0' -> '75', '0.0930' -> '0.093'."""
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text
    if not value.is_finite():
        return text
    text = format(value, "f")  # exact, whatever the size (quantize and normalize round to 28 digits)
    return text.rstrip("0").rstrip(".") if "." in text else text


def json_number(text: str | None) -> int | float | None:
    formatted = number(text)
    if formatted is None:
        return None
    try:
        value = Decimal(formatted)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def unit_text(unit: str | None) -> str:
    """A unit as written after a number: none for the plain number 1, annotated or not (a T-score of -2.6, a
    PHQ-9 of 22: not "-2.6 1", "22 {score}"), "%" without a space, any other after one.

    >>> [unit_text(u) for u in (None, "1", "{score}", "%", "ng/mL")]
    ['', '', '', '%', ' ng/mL']
    """
    return "" if not unit or unity(unit) else (unit if unit == "%" else f" {unit}")


def recorded_date(time: str, span_end: str | None = None) -> str:
    """The date of a fact as recorded: its day, or, for a time recorded without a day (a span from ``time``,
    its first instant, to ``span_end``: gkg:effectiveSpanEnd and the like), the month or year it names
    ("2026-10", "2026"), never the span's first day; any other span as "2026-10-01 to 2026-11-15"."""
    day = time[:10]
    if not span_end:
        return day
    last = span_end[:10]
    if day[5:] == "01-01" and last == f"{day[:4]}-12-31":
        return day[:4]
    if day[8:] == "01" and day[:4].isdigit() and day[5:7].isdigit() and last[:7] == day[:7] and (
            last[8:] == str(calendar.monthrange(int(day[:4]), int(day[5:7]))[1])):
        return day[:7]
    return f"{day} to {last}"


def dated(time: str, span_end: str | None = None) -> str:
    """``on`` a day, ``in`` a month or year recorded without a day, ``some time from`` a span's first day to
    its last otherwise: what follows a fact's value in an explanation."""
    shown = recorded_date(time, span_end)
    return f"on {shown}" if not span_end else f"some time from {shown}" if " to " in shown else f"in {shown}"


def local(iri: str) -> str:
    return iri.rsplit("#", 1)[-1].rsplit("/", 1)[-1]
