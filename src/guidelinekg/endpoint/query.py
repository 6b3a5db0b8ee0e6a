"""Parameterised SPARQL over the guideline graphs and run provenance: the engine of ``guidelinekg query``.

A query runs in pyoxigraph over one dataset: the shipped vocabulary and guideline content plus the given
data files. The default graph is the RDF merge of everything (the triples of N-Quads and TriG named
graphs included, each triple once however many graphs hold it), and the named graphs stay available to
``GRAPH``. Blank nodes are relabelled per file in reading order, so output is the same on every run.

Parameters are RDF terms bound with pyoxigraph's ``substitutions=`` (never pasted into the query text),
so no parameter value can change the query's structure. pyoxigraph binds only variables of the SELECT
projection, and a parameter restricts rows only where its variable occurs in a required pattern: the
library queries (``queries/library/``) follow both rules, see its README.

>>> store = load_dataset([])
>>> query = QueryText("SELECT ?s ?notation WHERE { ?s a gkg:Strength ; skos:notation ?notation }", "<doc>")
>>> result = run_query(store, query, {"notation": parse_value('"strong"')})
>>> [row[0].value for row in result.rows]
['https://w3id.org/guidelinekg/ontology#Strong']
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import pyoxigraph as ox

from guidelinekg.content.rdffiles import open_input, rdf_format
from guidelinekg.content.resources import guideline_files, queries_dir, vocabulary_files
from guidelinekg.endpoint.params import (  # noqa: F401  (the query API: parameters are part of it)
    BASE_DISPLAY_PREFIXES,
    BASE_QUERY_PREFIXES,
    PARAM_TYPES,
    XSD,
    Header,
    ParamSpec,
    display_prefixes,
    parse_params,
    parse_value,
    query_prefixes,
    typed_value,
)
from guidelinekg.endpoint.protocol import federation, too_deep
from guidelinekg.endpoint.sparqlerrors import Token, keywords, position, syntax_error, tokens
from guidelinekg.errors import InputError, Location, no_such_path

#################################################################
# Query text: tokens, header, library
#################################################################

def library_dir() -> Path:
    return queries_dir() / "library"


def library_queries() -> list[Path]:
    """Every library query file, sorted by name."""
    return sorted(library_dir().glob("*.rq"))


@dataclass(frozen=True)
class QueryText:
    """A query's text and where it came from (``source`` is the path shown in error locations)."""

    text: str
    source: str
    header: Header = field(default_factory=lambda: Header(()))

    @classmethod
    def read(cls, path: Path) -> QueryText:
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except FileNotFoundError:
            raise no_such_path(path) from None
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", Location(str(path))) from None
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 text (bad byte at offset {exc.start})", Location(str(path))) from None
        return cls(text, str(path), Header.parse(text))

    @classmethod
    def from_library(cls, name: str) -> QueryText:
        return cls.read(library_dir() / f"{name}.rq")

    @classmethod
    def resolve(cls, ref: str) -> QueryText:
        """A query file path, or the name of a library query (with or without ``.rq``)."""
        path = Path(ref)
        if path.is_file():
            return cls.read(path)
        name = ref.removesuffix(".rq")
        if re.fullmatch(r"[\w.-]+", name) and (library_dir() / f"{name}.rq").is_file():
            return cls.from_library(name)
        names = ", ".join(p.stem for p in library_queries())
        what = "is a directory, not a query file" if path.is_dir() else "no such query file or library query"
        raise InputError(what, Location(ref), hint=f"library queries: {names}")


#################################################################
# Dataset
#################################################################

_PARSER_PREFIX = re.compile(r"^Parser error (?:at|between) [^:]*: ")


def _relabelled(quads: Iterator[ox.Quad], tag: str) -> Iterator[ox.Quad]:
    """Each quad with file-scoped, reading-order blank nodes; a named graph's triple also in the default graph."""
    labels: dict[str, ox.BlankNode] = {}

    def term(t):
        return labels.setdefault(t.value, ox.BlankNode(f"{tag}b{len(labels)}")) if isinstance(t, ox.BlankNode) else t

    for q in quads:
        s, o = term(q.subject), term(q.object)
        yield ox.Quad(s, q.predicate, o, ox.DefaultGraph())
        if not isinstance(q.graph_name, ox.DefaultGraph):
            yield ox.Quad(s, q.predicate, o, term(q.graph_name))


def _rdf_files(folder: Path) -> list[Path]:
    """The RDF files under a folder, sorted: every extension :func:`rdf_format` knows but ``.json`` (in a
    guideline folder, a vignette's FHIR patient or expected report, not JSON-LD)."""
    return sorted(f for f in folder.rglob("*") if f.is_file() and rdf_format(f) is not None
                  and not f.name.lower().removesuffix(".gz").endswith(".json"))


def _load(store: ox.Store, path: Path, tag: str) -> None:
    if not path.exists():  # before the format check: 'nosuchdir' has no extension, but the point is it is missing
        raise no_such_path(path)
    if path.is_dir():  # a cohort --out directory: its provenance, as load and audit read it
        from guidelinekg.provenance.inputs import COHORT_PROVENANCE, provenance_file

        if not any((path / name).is_file() for name in COHORT_PROVENANCE):
            if not (files := _rdf_files(path)):
                raise InputError("a directory with neither provenance.trig.gz nor RDF files", Location(str(path)),
                                 hint="give a cohort --out directory, a guideline folder or RDF files")
            for n, file in enumerate(files):  # a guideline folder: its RDF files
                _load(store, file, f"{tag}t{n}")  # each file's blank nodes its own
            return
        path = provenance_file(path)
    location = Location(str(path))
    fmt = rdf_format(path)
    if fmt is None:
        raise InputError(f"cannot tell the RDF format from the extension {''.join(path.suffixes) or '(none)'!r}",
                         location, hint="name the file .ttl, .nt, .nq, .trig, .jsonld or .rdf (optionally .gz)")
    try:
        with open_input(path) as stream:  # streamed: a cohort's provenance need not fit in memory twice
            store.bulk_extend(_relabelled(ox.parse(input=stream, format=fmt), tag))
    except (OSError, EOFError) as exc:  # gzip: BadGzipFile is an OSError, a truncated file an EOFError
        hint = "give the file, e.g. OUT/provenance.trig.gz of a cohort run" if path.is_dir() else None
        raise InputError(f"cannot read: {getattr(exc, 'strerror', None) or exc}", location, hint=hint) from None
    except MemoryError as exc:  # the parser's buffer limit: one term or line of more than 16 MiB
        raise InputError(f"cannot read: {exc}", location,
                         hint="a single line or literal is too long for the RDF parser") from None
    except SyntaxError as exc:
        message = _PARSER_PREFIX.sub("", exc.msg or str(exc))
        hint = None
        if "remote context" in message:
            hint = "remote JSON-LD contexts are never fetched: put the context inline under '@context'"
        where = Location(str(path), exc.lineno, exc.offset) if exc.lineno else location
        raise InputError(f"{fmt.name} syntax error: {message}", where, hint=hint) from None


def load_dataset(data: Sequence[Path], *, shipped_guidelines: bool = True) -> ox.Store:
    """A store with the shipped vocabulary (always), the shipped guidelines (unless told not) and ``data``,
    plus what the knowledge-scope rules derive from them (in the default graph, as in an evaluation)."""
    from guidelinekg.engine.knowledge import derive_knowledge
    from guidelinekg.engine.store import OxigraphStore

    store = ox.Store()
    files = [*vocabulary_files(), *(guideline_files() if shipped_guidelines else []), *data]
    for i, path in enumerate(files):
        _load(store, Path(path), f"f{i}")
    derive_knowledge(OxigraphStore(store))
    return store


#################################################################
# Running
#################################################################


@dataclass(frozen=True)
class QueryResult:
    """``form`` is "select" (variables, rows), "ask" (boolean) or "graph" (sorted N-Triples lines)."""

    form: str
    variables: tuple[str, ...] = ()
    rows: tuple[tuple[ox.NamedNode | ox.BlankNode | ox.Literal | None, ...], ...] = ()
    boolean: bool | None = None
    triples: tuple[str, ...] = ()


def _at(query: QueryText, pos: int) -> Location:
    return Location(query.source, *position(query.text, pos))


def _syntax_error(query: QueryText, exc: SyntaxError) -> InputError:
    return syntax_error(query.text, query.source, exc.msg or str(exc), query_prefixes(),
                        empty_hint="write a SELECT, ASK, CONSTRUCT or DESCRIBE query, or name a library query (--list)")


def _check(query: QueryText, toks: list[Token], params: Mapping[str, object], allow_service: bool) -> None:
    deep = too_deep(query.text)
    if deep is not None:
        raise InputError(deep, Location(query.source), hint="flatten the query's groups")
    reason = None if allow_service else federation(query.text)  # decided on the parsed query
    if reason is not None:
        service = next((t for t in keywords(toks) if t.value.upper() == "SERVICE"), None)  # where, if it shows
        where = _at(query, service.pos) if service is not None else Location(query.source)
        raise InputError(f"{reason}, which is refused", where,
                         hint="the tool never reaches the network on its own; pass --allow-service to allow it")
    variables = {t.value[1:] for t in toks if t.kind == "var"}
    unknown = sorted(set(params) - variables)
    if unknown:
        known = " ".join(f"?{v}" for v in sorted(variables)) or "none"
        raise InputError(f"unknown parameter {unknown[0]!r}: the query has no variable ?{unknown[0]}",
                         Location(query.source), hint=f"its variables: {known}")


def _is_ordered(toks: list[Token]) -> bool:
    return any(a.value.upper() == "ORDER" and b.value.upper() == "BY" for a, b in pairwise(keywords(toks)))


def _sort_key(row):
    """SPARQL's ORDER BY precedence: unbound, blank nodes, IRIs, literals; then by value."""
    def key(t):
        if t is None:
            return (0, "", "", "")
        if isinstance(t, ox.Literal):
            return (3, t.value, t.datatype.value, t.language or "")
        return (1 if isinstance(t, ox.BlankNode) else 2, t.value, "", "")

    return tuple(key(t) for t in row)


def _graph_lines(triples) -> tuple[str, ...]:
    """Sorted, deduplicated N-Triples; blank nodes renamed in order of first appearance in the triples
    sorted with blank nodes masked (stable unless two blank nodes have the same surroundings)."""
    def masked(tr):
        return tuple("_:" if isinstance(t, ox.BlankNode) else str(t) for t in (tr.subject, tr.predicate, tr.object))

    names: dict[str, str] = {}

    def show(t):
        return f"_:b{names.setdefault(t.value, str(len(names)))}" if isinstance(t, ox.BlankNode) else str(t)

    ordered = sorted(triples, key=lambda tr: (masked(tr), str(tr)))
    return tuple(sorted({f"{show(tr.subject)} {show(tr.predicate)} {show(tr.object)} ." for tr in ordered}))


def run_query(store: ox.Store, query: QueryText, params: Mapping[str, ox.NamedNode | ox.Literal], *,
              allow_service: bool = False) -> QueryResult:
    """Run ``query`` with ``params`` bound; rows of a query without ORDER BY are sorted.

    Raises:
        InputError: a syntax error (with line and column), a SERVICE call without ``allow_service``, a
            parameter the query has no variable for or cannot bind, or a failure while evaluating.
    """
    toks = tokens(query.text)
    _check(query, toks, params, allow_service)
    substitutions: dict[ox.Variable, ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple] = {
        ox.Variable(k): v for k, v in params.items()}
    try:
        result = store.query(query.text, prefixes=query_prefixes(), substitutions=substitutions)
        if isinstance(result, ox.QueryBoolean):
            return QueryResult("ask", boolean=bool(result))
        if isinstance(result, ox.QueryTriples):
            return QueryResult("graph", triples=_graph_lines(list(result)))
        variables = tuple(v.value for v in result.variables)
        rows = [tuple(solution[v] for v in variables) for solution in result]
    except SyntaxError as exc:
        raise _syntax_error(query, exc) from None
    except (RuntimeError, OSError, ValueError) as exc:
        m = re.search(r"variable \?(\w+) in its SELECT projection", str(exc))
        if m:
            raise InputError(f"parameter {m[1]!r} cannot be bound: ?{m[1]} is not in the SELECT clause",
                             Location(query.source),
                             hint=f"add ?{m[1]} to the SELECT list (only projected variables can be bound)") from None
        raise InputError(f"the query failed: {exc}", Location(query.source)) from None
    if not _is_ordered(toks):
        rows.sort(key=_sort_key)
    return QueryResult("select", variables=variables, rows=tuple(rows))
