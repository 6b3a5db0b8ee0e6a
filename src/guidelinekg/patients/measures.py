"""The measures of a guideline graph, as unit normalisation reads them (:mod:`guidelinekg.patients.units`).

A ``gkg:Measure`` has a ``gkg:canonicalUnit`` (UCUM) and may have ``gkg:unitFactor`` nodes for conversions
UCUM cannot do; ``gkg:equivalentMeasure`` (symmetric) groups codes for the same quantity, closed
transitively; a group shares canonical unit, factors, and the units its thresholds are also stated in
(``gkg:alsoStatedAs``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from guidelinekg.patients.model import GKG, select_rows

MEASURES_QUERY = f"""PREFIX gkg: <{GKG}>
SELECT DISTINCT ?measure ?unit WHERE {{
  {{ ?measure a gkg:Measure }} UNION {{ ?measure gkg:canonicalUnit [] }}
  OPTIONAL {{ ?measure gkg:canonicalUnit ?unit }}
}}"""

FACTORS_QUERY = f"""PREFIX gkg: <{GKG}>
SELECT DISTINCT ?measure ?from ?to ?divisor ?addend WHERE {{
  ?measure gkg:unitFactor ?f . ?f gkg:fromUnit ?from ; gkg:toUnit ?to ; gkg:divideBy ?divisor .
  OPTIONAL {{ ?f gkg:addend ?addend }}
}}"""

EQUIVALENTS_QUERY = f"""PREFIX gkg: <{GKG}>
SELECT DISTINCT ?a ?b WHERE {{ ?a gkg:equivalentMeasure ?b }}"""

STATED_QUERY = f"""PREFIX gkg: <{GKG}>
SELECT DISTINCT ?measure ?unit WHERE {{ ?c gkg:onMeasure ?measure ; gkg:alsoStatedAs ?q . ?q gkg:unit ?unit }}"""

@dataclass(frozen=True)
class UnitFactor:
    """Value in ``from_unit`` divided by ``divide_by``, plus ``add``, gives the value in ``to_unit``."""

    from_unit: str
    to_unit: str
    divide_by: Decimal
    add: Decimal = Decimal(0)


@dataclass(frozen=True)
class MeasureGroup:
    """Equivalent measures with their shared canonical unit(s) and factors."""

    measures: frozenset[str]
    canonical_units: frozenset[str]
    factors: tuple[UnitFactor, ...]
    stated_units: frozenset[str] = frozenset()  # units thresholds on the group are also stated in


@dataclass(frozen=True)
class MeasureCatalog:
    """The measures of a guideline graph: measure IRI -> its group of equivalent measures."""

    groups: Mapping[str, MeasureGroup]

    @classmethod
    def build(
        cls,
        measures: Mapping[str, str | None],
        *,
        factors: Mapping[str, list[UnitFactor]] | None = None,
        equivalents: list[tuple[str, str]] = (),  # type: ignore[assignment]
        stated: Mapping[str, set[str]] | None = None,
    ) -> MeasureCatalog:
        """From plain data: measure IRI -> canonical unit (or ``None``), factors per measure, pairs of
        equivalent measure IRIs.

        >>> cat = MeasureCatalog.build(
        ...     {"urn:m:a": "ng/mL", "urn:m:b": None}, equivalents=[("urn:m:b", "urn:m:a")]
        ... )
        >>> sorted(cat.groups["urn:m:b"].measures), sorted(cat.groups["urn:m:b"].canonical_units)
        (['urn:m:a', 'urn:m:b'], ['ng/mL'])
        """
        factors, stated = factors or {}, stated or {}
        parent: dict[str, str] = {
            m: m for m in [*measures, *factors, *(x for pair in equivalents for x in pair)]
        }

        def find(m: str) -> str:
            while parent[m] != m:
                parent[m] = parent[parent[m]]
                m = parent[m]
            return m

        for a, b in equivalents:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        members: dict[str, set[str]] = defaultdict(set)
        for m in parent:
            members[find(m)].add(m)
        groups: dict[str, MeasureGroup] = {}
        for ms in members.values():
            group = MeasureGroup(
                frozenset(ms),
                frozenset(u for m in ms if (u := measures.get(m))),
                tuple(
                    sorted(
                        {f for m in ms for f in factors.get(m, ())}, key=lambda f: (f.from_unit, f.to_unit)
                    )
                ),
                frozenset(u for m in ms for u in stated.get(m, ())),
            )
            groups.update((m, group) for m in ms)
        return cls(groups)

    @classmethod
    def from_graph(cls, source: Any) -> MeasureCatalog:
        """Build from the measures of an rdflib Graph or a pyoxigraph Store."""
        measures: dict[str, str | None] = {}
        for measure, unit in select_rows(source, MEASURES_QUERY):
            if measure and (unit or measure not in measures):
                measures[measure] = unit
        factors: dict[str, list[UnitFactor]] = defaultdict(list)
        for measure, from_unit, to_unit, divisor, addend in select_rows(source, FACTORS_QUERY):
            try:
                value, add = Decimal(divisor or ""), Decimal(addend or "0")
            except InvalidOperation:
                continue  # the content shapes report a non-numeric gkg:divideBy or gkg:addend
            if measure and from_unit and to_unit and value.is_finite() and value != 0 and add.is_finite():
                factors[measure].append(UnitFactor(from_unit, to_unit, value, add))
        pairs = [(a, b) for a, b in select_rows(source, EQUIVALENTS_QUERY) if a and b]
        stated: dict[str, set[str]] = defaultdict(set)
        for measure, unit in select_rows(source, STATED_QUERY):
            if measure and unit:
                stated[measure].add(unit)
        return cls.build(measures, factors=factors, equivalents=pairs, stated=stated)
