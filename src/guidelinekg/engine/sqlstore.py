"""The compiled engine: SPARQL Update rules translated to SQL and run by DuckDB over a triple table.

A rule's text is parsed by rdflib into SPARQL algebra once per process, translated to one SQL statement
(:mod:`~guidelinekg.engine.sqlalgebra`, :mod:`~guidelinekg.engine.sqlexpr`) and run as an
``INSERT ... SELECT`` of the triples its template makes that the table does not hold yet. Rules stay the
specification: nothing here knows what a rule says. A rule using SPARQL the compiler does not translate is
refused with the construct named (:func:`compile_update`).

Terms are stored as described in :mod:`~guidelinekg.engine.sqlterms`; :meth:`SqlStore.dump_ntriples` gives
them back as N-Triples, so the derived triples can be compared with Oxigraph's term for term.
"""

from __future__ import annotations

import csv
import functools
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rdflib.plugins.sparql import prepareUpdate
from rdflib.term import BNode, URIRef, Variable

from guidelinekg.engine.sqlalgebra import TABLE, PatternCompiler, col, pred_table
from guidelinekg.engine import sqlnum
from guidelinekg.engine.sqlexpr import Unsupported, const
from guidelinekg.engine.sqlterms import MACROS, from_oxigraph, sql_str, to_ntriples
from guidelinekg.errors import ConfigurationError


def _template_term(term, alias: str, compiler: PatternCompiler) -> str:
    if isinstance(term, Variable):
        return f"{alias}.{col(str(term))}"
    if isinstance(term, BNode):
        raise Unsupported("a blank node in an INSERT template")
    return compiler.expr.term(const(term))


@dataclass(frozen=True)
class Compiled:
    """One INSERT ... WHERE operation as SQL: the solutions (``where``, run once into a temporary table) and,
    per predicate of the template (``None``: a variable predicate), the triples to add."""

    where: str
    inserts: tuple[tuple[str | None, str], ...]
    reads: frozenset[str]  # the predicates whose tables the SQL reads
    reads_all: bool = False  # the SQL reads the view of every triple (a variable predicate, a path from any node)

    @property
    def writes(self) -> set[str]:
        return {p for p, _ in self.inserts if p is not None}


_VALID = "n.s IS NOT NULL AND n.o IS NOT NULL AND left(n.s, 1) IN ('<', '_')"


@functools.lru_cache(maxsize=512)
def compile_update(text: str) -> tuple[Compiled, ...]:
    """The SQL of each INSERT operation of a SPARQL Update text.

    Raises:
        Unsupported: the text uses SPARQL the compiler does not translate (named in the message).
    """
    try:
        update = prepareUpdate(text)
    except Exception as exc:  # rdflib raises parser errors of several classes
        raise Unsupported(f"rdflib cannot read the update: {exc}") from None
    operations = []
    for op in update.algebra:
        if op.name == "InsertData":
            raise Unsupported("INSERT DATA")
        if op.name != "Modify" or "delete" in op or "insert" not in op:
            raise Unsupported(f"update operation {op.name} (only INSERT ... WHERE is compiled)")
        if op.insert["quads"]:
            raise Unsupported("INSERT into a named graph")
        compiler = PatternCompiler()
        where = compiler.compile(op.where)
        by_predicate: dict[str | None, list[str]] = {}
        for s, p, o in op.insert.triples:
            ts, to = (_template_term(x, "w", compiler) for x in (s, o))
            if isinstance(p, URIRef):
                by_predicate.setdefault(str(p), []).append(f"SELECT {ts} AS s, {to} AS o FROM w")
            else:
                tp = _template_term(p, "w", compiler)
                by_predicate.setdefault(None, []).append(f"SELECT {ts} AS s, {tp} AS p, {to} AS o FROM w")
        inserts = tuple((p, " UNION ALL ".join(selects)) for p, selects in by_predicate.items())
        operations.append(Compiled(where.sql, inserts, frozenset(compiler.predicates), compiler.reads_all))
    return tuple(operations)


class SqlStore:
    """A DuckDB database holding the triples in one table per predicate, run with the rules' compiled SQL."""

    name = "duckdb"

    def __init__(self, threads: int | None = None) -> None:
        import duckdb

        self._db = duckdb.connect(":memory:", config={"threads": threads or 1})
        # pushing an aggregate below the projection layers of bound subexpressions (sqlexpr.Lets) inlines
        # them again, and a chain of BINDs (rule 43's day numbers) grows past any memory while planning
        self._db.execute("SET disabled_optimizers = 'partial_aggregate_pushdown'")
        for macro in MACROS + sqlnum.MACROS:
            self._db.execute(macro)
        self._tables: dict[str, str] = {}  # predicate IRI -> table
        self._size = 0
        self._stale_view = True  # the view of every triple lacks a table created since it was made

    def _view(self) -> None:
        """(Re)make the view of every triple, if a table was created since: only before SQL that reads it
        (made on every new table, it cost 17 ms a time, 240 times a vignette)."""
        if not self._stale_view:
            return
        self._stale_view = False
        parts = [f"SELECT s, {sql_str('<' + p)} AS p, o FROM {t}" for p, t in sorted(self._tables.items())]
        body = " UNION ALL ".join(parts) or "SELECT NULL::VARCHAR AS s, NULL::VARCHAR AS p, NULL::VARCHAR AS o WHERE FALSE"
        self._db.execute(f"CREATE OR REPLACE VIEW {TABLE} AS {body}")

    def _ensure(self, predicates) -> None:
        missing = [p for p in predicates if p not in self._tables]
        for p in missing:
            self._tables[p] = pred_table(p)
            self._db.execute(f"CREATE TABLE {self._tables[p]} (s VARCHAR, o VARCHAR)")
        if missing:
            self._stale_view = True

    def _add(self, predicate: str, select: str, params=()) -> None:
        """Add the (s, o) pairs ``select`` gives to a predicate's table, less those it holds."""
        self._ensure([predicate])
        table = self._tables[predicate]
        count = self._db.execute(
            f"INSERT INTO {table} SELECT DISTINCT n.s, n.o FROM ({select}) AS n WHERE {_VALID} "
            f"AND NOT EXISTS (SELECT 1 FROM {table} AS x WHERE x.s = n.s AND x.o = n.o)", params).fetchone()
        self._size += count[0] if count else 0

    def _spread(self, staging: str) -> None:
        """Move the triples of a staging table (s, p, o) into their predicates' tables."""
        for (p,) in self._db.execute(f"SELECT DISTINCT p FROM {staging} WHERE left(p, 1) = '<'").fetchall():
            self._add(p[1:], f"SELECT s, o FROM {staging} WHERE p = ?", [p])
        self._db.execute(f"DROP TABLE {staging}")

    def load_terms(self, rows: list[tuple[str, str, str]]) -> None:
        """Add triples of SQL term values (those already held are dropped)."""
        if not rows:
            return
        fd, path = tempfile.mkstemp(suffix=".csv")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                csv.writer(out).writerows(rows)
            self._db.execute(
                "CREATE TEMP TABLE staging AS SELECT * FROM read_csv(?, header = false, quote = '\"', "
                "escape = '\"', columns = {'s': 'VARCHAR', 'p': 'VARCHAR', 'o': 'VARCHAR'}, "
                "strict_mode = false, parallel = false)", [path])
        finally:
            os.unlink(path)
        self._spread("staging")

    def load_ntriples(self, text: str) -> None:
        import pyoxigraph as ox

        if not text:
            return
        quads = ox.parse(text.encode("utf-8"), format=ox.RdfFormat.N_TRIPLES)
        self.load_terms([(from_oxigraph(q.subject), from_oxigraph(q.predicate), from_oxigraph(q.object))
                         for q in quads])

    def load_turtle(self, path: Path) -> None:
        import pyoxigraph as ox

        quads = ox.parse(path=str(path), format=ox.RdfFormat.TURTLE)
        self.load_terms([(from_oxigraph(q.subject), from_oxigraph(q.predicate), from_oxigraph(q.object))
                         for q in quads])

    def update(self, sparql: str) -> None:
        try:
            operations = compile_update(sparql)
        except Unsupported as exc:
            raise ConfigurationError(f"the compiled engine cannot run this rule: {exc}") from None
        for op in operations:
            self._ensure(op.reads)
            if op.reads_all:
                self._view()
            self._db.execute(f"CREATE OR REPLACE TEMP TABLE w AS {op.where}")
            for predicate, select in op.inserts:
                if predicate is not None:
                    self._add(predicate, select)
                else:
                    self._db.execute(f"CREATE TEMP TABLE newtriples AS {select}")
                    self._spread("newtriples")

    def size(self) -> int:
        return self._size

    def terms(self) -> list[tuple[str, str, str]]:
        self._view()
        return self._db.execute(f"SELECT s, p, o FROM {TABLE}").fetchall()

    def dump_ntriples(self) -> bytes:
        lines = sorted(f"{to_ntriples(s)} {to_ntriples(p)} {to_ntriples(o)} .\n" for s, p, o in self.terms())
        return "".join(lines).encode("utf-8")
