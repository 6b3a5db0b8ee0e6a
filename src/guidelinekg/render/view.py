"""The renderer's read-only view of a guideline graph: report queries, grouped per node.

Every fact the rendering shows comes from a SELECT in ``queries/reports/render-*.rq``. A query returns
one row per combination of multi-valued properties; :class:`GraphView` groups the rows by a key column
into :class:`Record` objects that hold, per column, the distinct values in a fixed order. The renderers
never see rows, engine terms or triple order, so the output does not depend on them.

Values are plain strings: an IRI, a literal's lexical form, or ``_:id`` for a blank node. Blank-node ids
may be used to look a node up but are never printed or used to order anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from guidelinekg.content.resources import read_query
from guidelinekg.errors import ConfigurationError

GKG = "https://w3id.org/guidelinekg/ontology#"

#: The report queries the renderer runs, by name (file ``queries/reports/<name>.rq``).
REPORT_QUERIES: tuple[str, ...] = (
    "render-terms",
    "render-versions",
    "render-sections",
    "render-statements",
    "render-statement-data",
    "render-evidence",
    "render-criteria",
    "render-member-points",
    "render-interventions",
    "render-doses",
    "render-dose-rounding",
    "render-administration",
    "render-requirements",
    "render-measures",
    "render-references",
    "render-works",
    "render-discrepancies",
    "render-precedence",
)


def value_order(value: str) -> tuple:
    """Sort key for values: numbers by magnitude first, then everything else as text.

    >>> sorted(["36", "12", "abc", "2.5"], key=value_order)
    ['2.5', '12', '36', 'abc']
    """
    try:
        return (0, Decimal(value), value)
    except (InvalidOperation, ValueError):
        return (1, Decimal(0), value)


def is_blank(node: str) -> bool:
    """True for a blank-node id (``_:...``)."""
    return node.startswith("_:")


def local_name(node: str) -> str:
    """The last segment of an IRI (after ``#`` or ``/``), e.g. ``rec-fcm``; blank nodes are unnamed."""
    if is_blank(node):
        return "(unnamed)"
    return node.rstrip("/#").rsplit("#", 1)[-1].rsplit("/", 1)[-1] or node


@dataclass(frozen=True)
class Record:
    """The distinct values per column of the rows that share one key, each column in value order."""

    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def one(self, column: str) -> str | None:
        """The first value of ``column`` (in value order), or ``None``."""
        found = self.values.get(column, ())
        return found[0] if found else None

    def all(self, column: str) -> tuple[str, ...]:
        """Every distinct value of ``column``, in value order.

        Blank-node ids sort in no meaningful order: order node columns with :meth:`GraphView.order_nodes`.
        """
        return self.values.get(column, ())


EMPTY = Record()


def group_rows(rows: Iterable[Mapping[str, str]], key: str) -> dict[str, Record]:
    """Group ``rows`` by the ``key`` column; rows without a key are dropped.

    >>> group_rows([{"s": "a", "n": "2"}, {"s": "a", "n": "10"}, {"s": "b"}], "s")["a"].all("n")
    ('2', '10')
    """
    collected: dict[str, dict[str, set[str]]] = {}
    for row in rows:
        node = row.get(key)
        if node is None:
            continue
        columns = collected.setdefault(node, {})
        for column, value in row.items():
            if column != key:
                columns.setdefault(column, set()).add(value)
    return {
        node: Record({column: tuple(sorted(values, key=value_order)) for column, values in columns.items()})
        for node, columns in collected.items()
    }


class GraphView:
    """Report-query results over one graph, grouped and cached; names for every node.

    Args:
        select: runs a SPARQL SELECT and returns rows as ``{variable: value string}``.
        query_dir: the directory holding the ``render-*.rq`` files.
    """

    def __init__(self, select: Callable[[str], list[Mapping[str, str]]], query_dir: Path):
        self._select = select
        self._query_dir = query_dir
        self._rows: dict[str, list[Mapping[str, str]]] = {}
        self._tables: dict[tuple[str, str], dict[str, Record]] = {}

    def rows(self, query: str) -> list[Mapping[str, str]]:
        """The rows of the named report query (run once)."""
        if query not in self._rows:
            if query not in REPORT_QUERIES:
                raise ConfigurationError(f"{query!r} is not a registered report query")
            self._rows[query] = self._select(read_query(self._query_dir / f"{query}.rq"))
        return self._rows[query]

    def table(self, query: str, key: str) -> dict[str, Record]:
        """The rows of ``query`` grouped by the ``key`` column."""
        if (query, key) not in self._tables:
            self._tables[(query, key)] = group_rows(self.rows(query), key)
        return self._tables[(query, key)]

    def record(self, query: str, key: str, node: str | None) -> Record:
        """The record of ``node`` in ``query`` grouped by ``key``; empty when there is none."""
        if node is None:
            return EMPTY
        return self.table(query, key).get(node, EMPTY)

    def term(self, node: str | None) -> Record:
        """Names and codes of ``node`` (label, prefLabel, notation, codeSystem, loincCode, code)."""
        return self.record("render-terms", "node", node)

    def name(self, node: str | None) -> str:
        """The label of ``node``: rdfs:label, else skos:prefLabel, else notation, else the IRI's local name."""
        if node is None:
            return "(none)"
        term = self.term(node)
        return term.one("label") or term.one("prefLabel") or term.one("notation") or local_name(node)

    def notation(self, node: str | None) -> str | None:
        """The skos:notation of ``node``, if any."""
        return self.term(node).one("notation")

    def order_nodes(self, nodes: Iterable[str], text: Callable[[str], str] | None = None) -> list[str]:
        """Nodes in a stable order: IRIs by IRI, then blank nodes by their rendered ``text`` (or name)."""
        render = text or self.name
        return sorted(nodes, key=lambda n: (is_blank(n), "" if is_blank(n) else n, render(n)))
