"""A small interface over the SPARQL engines the reasoner runs on.

Oxigraph (pyoxigraph) is the default: rules over one patient take about a millisecond each and the same
rules scale to cohorts. rdflib is kept behind the same interface as a pure-Python reference engine; the
tests run the vignettes on both (rdflib has had engine-specific bugs, e.g. empty GROUP BY groups).

Terms cross the interface as N-Triples strings (``<iri>``, ``"lex"^^<dt>``), so callers never depend on
either engine's term classes.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from guidelinekg.errors import InputError, Location

Row = dict[str, "Term"]

# The csv module refuses fields over 128 KiB by default; a long literal or IRI of the input (a note, a
# product text) is a legitimate field of a SPARQL CSV result.
csv.field_size_limit(2**31 - 1)


class Term(Protocol):  # pragma: no cover - structural type
    """What a query result cell offers: ``value`` (lexical form or IRI) and ``n3`` (N-Triples form)."""

    value: str
    n3: str
    datatype: str | None
    is_iri: bool


class Cell:
    """An engine-independent result cell."""

    __slots__ = ("value", "n3", "datatype", "is_iri")

    def __init__(self, value: str, n3: str, datatype: str | None, is_iri: bool):
        self.value = value
        self.n3 = n3
        self.datatype = datatype
        self.is_iri = is_iri

    def __repr__(self) -> str:
        return self.n3


class RuleStore(Protocol):
    """What the reasoner needs from an engine."""

    name: str

    def load_turtle(self, path: Path) -> None: ...
    def load_ntriples(self, text: str) -> None: ...
    def update(self, sparql: str) -> None: ...
    def select(self, sparql: str) -> list[Row]: ...
    def select_values(self, sparql: str) -> list[dict[str, str]]: ...
    def triples(self, sparql_construct: str) -> list[tuple[str, str, str]]: ...
    def size(self) -> int: ...
    def dump_ntriples(self) -> bytes: ...


def _ox_cell(term) -> Cell:
    import pyoxigraph as ox

    if isinstance(term, ox.NamedNode):
        return Cell(term.value, f"<{term.value}>", None, True)
    if isinstance(term, ox.Literal):
        return Cell(term.value, str(term), term.datatype.value if term.datatype else None, False)
    return Cell(str(term), str(term), None, False)


class OxigraphStore:
    """In-memory Oxigraph store (the default engine)."""

    name = "oxigraph"

    def __init__(self, store=None) -> None:
        """A new in-memory store, or the given pyoxigraph ``Store`` (e.g. a query dataset) wrapped."""
        import pyoxigraph as ox

        self._ox = ox
        self._store = ox.Store() if store is None else store

    def load_turtle(self, path: Path) -> None:
        try:
            self._store.load(path=str(path), format=self._ox.RdfFormat.TURTLE)
        except SyntaxError as exc:
            raise InputError(f"Turtle syntax error: {exc.msg}", Location(str(path), exc.lineno, exc.offset)) from None

    def load_ntriples(self, text: str) -> None:
        """Add N-Triples; a blank node label names the same node in every call (``Store.load`` would give
        each call's ``_:b1`` a fresh node, detaching e.g. the time index from a blank-node observation)."""
        if not text:
            return
        if "_:" in text:
            self._store.extend(self._ox.parse(text.encode("utf-8"), format=self._ox.RdfFormat.N_TRIPLES))
        else:
            self._store.load(text.encode("utf-8"), format=self._ox.RdfFormat.N_TRIPLES)

    def load_quads(self, quads: list) -> None:
        """Add already parsed pyoxigraph quads (about twice as fast as parsing the same text again)."""
        self._store.extend(quads)

    def update(self, sparql: str) -> None:
        self._store.update(sparql)

    def select(self, sparql: str) -> list[Row]:
        solutions = self._store.query(sparql)
        names = [v.value for v in solutions.variables]
        rows: list[Row] = []
        for solution in solutions:
            row: Row = {}
            for name in names:
                term = solution[name]
                if term is not None:
                    row[name] = _ox_cell(term)
            rows.append(row)
        return rows

    def select_values(self, sparql: str) -> list[dict[str, str]]:
        """Rows of values only (lexical forms and IRIs), read from the engine's SPARQL CSV serialization:
        a third of the cost of :meth:`select` on large results. CSV does not tell an unbound variable from
        an empty literal: both are left out of the row."""
        solutions = self._store.query(sparql)
        names = [v.value for v in solutions.variables]
        text = solutions.serialize(format=self._ox.QueryResultsFormat.CSV).decode("utf-8")
        reader = csv.reader(io.StringIO(text, newline=""))
        next(reader, None)  # the header
        return [{k: v for k, v in zip(names, row) if v} for row in reader]

    def triples(self, sparql_construct: str) -> list[tuple[str, str, str]]:
        return [(str(t.subject), str(t.predicate), str(t.object)) for t in self._store.query(sparql_construct)]

    def size(self) -> int:
        return len(self._store)

    @property
    def raw(self):
        """The pyoxigraph ``Store`` itself (for callers that add or take out parsed quads in bulk)."""
        return self._store

    def dump_ntriples(self) -> bytes:
        """Every triple of the default graph as N-Triples, serialized by the engine (in its index order,
        which is the same for the same data loaded and derived in the same order)."""
        return self._store.dump(format=self._ox.RdfFormat.N_TRIPLES, from_graph=self._ox.DefaultGraph())


@functools.lru_cache(maxsize=1024)
def _rdflib_prepared(sparql: str, update: bool):
    """The query or update parsed and translated once per process, or None where it does not prepare alone.

    rdflib parses the text of every call: about 9 s of the 11 s one patient's evaluation takes, since the
    same rule files run for every evaluation (and pass after pass in a fixpoint). A text that names a prefix
    it does not declare is not prepared (None): it runs as text, with the graph's bound prefixes, as before.
    """
    from rdflib.plugins.sparql.processor import prepareQuery, prepareUpdate

    try:
        return prepareUpdate(sparql) if update else prepareQuery(sparql)
    except Exception:  # noqa: BLE001 - any failure leaves the text to rdflib's own path and its error
        return None


def _rdflib_cell(term) -> Cell:
    from rdflib import Literal, URIRef

    if isinstance(term, URIRef):
        return Cell(str(term), f"<{term}>", None, True)
    if isinstance(term, Literal):
        return Cell(str(term), term.n3(), str(term.datatype) if term.datatype else None, False)
    return Cell(str(term), term.n3(), None, False)


class RdflibStore:
    """rdflib in-memory graph: slower, pure Python; the reference engine in tests."""

    name = "rdflib"

    def __init__(self) -> None:
        from rdflib import Graph

        self._graph = Graph()

    def load_turtle(self, path: Path) -> None:
        self._graph.parse(str(path), format="turtle")

    def load_ntriples(self, text: str) -> None:
        """Add N-Triples; a blank node label names the same node in every call, as in the Oxigraph store."""
        if not text:
            return
        if "_:" not in text:
            self._graph.parse(data=text, format="nt")
            return
        import pyoxigraph as ox
        import rdflib

        def term(t):
            if isinstance(t, ox.BlankNode):
                return rdflib.BNode(t.value)
            if isinstance(t, ox.NamedNode):
                return rdflib.URIRef(t.value)
            if t.language:
                return rdflib.Literal(t.value, lang=t.language)
            if t.datatype.value == "http://www.w3.org/2001/XMLSchema#string":
                return rdflib.Literal(t.value)  # as rdflib's own N-Triples parser gives a plain string
            return rdflib.Literal(t.value, datatype=rdflib.URIRef(t.datatype.value))

        for quad in ox.parse(text.encode("utf-8"), format=ox.RdfFormat.N_TRIPLES):
            self._graph.add((term(quad.subject), term(quad.predicate), term(quad.object)))

    def update(self, sparql: str) -> None:
        self._graph.update(_rdflib_prepared(sparql, True) or sparql)

    def select(self, sparql: str) -> list[Row]:
        result = self._graph.query(_rdflib_prepared(sparql, False) or sparql)
        names = [str(v) for v in result.vars]
        rows: list[Row] = []
        for binding in result:
            row: Row = {}
            for name, term in zip(names, binding):
                if term is not None:
                    row[name] = _rdflib_cell(term)
            rows.append(row)
        return rows

    def select_values(self, sparql: str) -> list[dict[str, str]]:
        return [{k: v.value for k, v in row.items()} for row in self.select(sparql)]

    def triples(self, sparql_construct: str) -> list[tuple[str, str, str]]:
        prepared = _rdflib_prepared(sparql_construct, False) or sparql_construct
        return [(s.n3(), p.n3(), o.n3()) for s, p, o in self._graph.query(prepared)]

    def size(self) -> int:
        return len(self._graph)

    @property
    def raw(self):
        """The rdflib ``Graph`` itself."""
        return self._graph

    def load_graph(self, graph) -> None:
        """Add the triples of an already parsed rdflib graph (its blank nodes stay the same objects)."""
        self._graph += graph

    def dump_ntriples(self) -> bytes:
        return self._graph.serialize(format="nt", encoding="utf-8")


ENGINES = {"oxigraph": OxigraphStore, "rdflib": RdflibStore}


def open_store(engine: str = "oxigraph") -> RuleStore:
    """Return an empty store of the named engine (``oxigraph`` or ``rdflib``)."""
    try:
        return ENGINES[engine]()
    except KeyError:
        raise InputError(f"unknown engine {engine!r}; choose one of: {', '.join(sorted(ENGINES))}") from None


def ntriples(lines: Iterable[str]) -> str:
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def iter_rows(rows: list[Row], *names: str) -> Iterator[tuple]:
    for row in rows:
        yield tuple(row[n].value if n in row else None for n in names)
