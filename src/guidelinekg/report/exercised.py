"""Whether a vignette's ``checks`` name statements the engine ever evaluates (``guidelinekg vignettes``).

``checks`` lists the guideline statements a case exercises. A statement no rule and no part of the patient
report ever reads, for any patient (a good practice or summary statement, a rationale), cannot be exercised
by any case: naming it in ``checks`` claims coverage the case does not give. That is decided exactly from the
content and from what the engine's queries read, with nothing specific to one guideline:

- what the queries read: each rule file (``queries/rules/*.rq``) and each selection of the patient report
  (:mod:`guidelinekg.report.selections`) is parsed; for every variable it matches by class (``?x a
  gkg:Recommendation``, outside OPTIONAL, MINUS and FILTER), it reads nodes of that class (or a subclass)
  that have every property the query requires of ``?x`` there. A match through a link from another node
  (``?precedence gkg:prevailing ?x``) is not reading ``?x`` in its own right and is left out.
- a statement is evaluated when such a match reads it (a recommendation with its ``gkg:applicability``, a
  caution with its ``gkg:aboutStatement``), or when it names, through a property no query names, a node
  that is not itself a statement and that such a match reads: a pre-analytic requirement it states
  (``gkg:requirement``; rules read the requirement for every result of its measure). Nodes it names
  through a property the queries do name (its ``gkg:applicability`` criterion, its ``gkg:inVersion``) are
  read through the statements the queries read, so they do not make it evaluated; nor does another
  statement it names (``gkg:restates``), which is evaluated, or not, in its own right.

Whether a statement that is evaluated for some patients arises for the case's patient is not decided here:
nothing records a requirement that was checked and met, so "not for this patient" cannot be known exactly.
A statement shown in the patient's report is exercised in any case.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import product

GKG = "https://w3id.org/guidelinekg/ontology#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
_CAP = 256  # alternatives kept per query (UNION branches multiplied by joins)


@dataclass(frozen=True)
class Reads:
    """What a query reads in its own right: nodes of ``cls`` (or a subclass) with every property of ``needs``."""

    cls: str
    needs: frozenset[str]


@dataclass(frozen=True)
class Vocabulary:
    reads: frozenset[Reads]
    properties: frozenset[str]  # every property a query names in a triple pattern


def _alternatives(node) -> list[list]:
    """The required triple patterns of each way the query's pattern can match (one per UNION branch)."""
    name = getattr(node, "name", None)
    if name == "BGP":
        return [list(node.triples)]
    if name == "Union":
        return (_alternatives(node.p1) + _alternatives(node.p2))[:_CAP]
    if name == "Join":
        return [a + b for a, b in product(_alternatives(node.p1), _alternatives(node.p2))][:_CAP]
    if name in ("LeftJoin", "Minus"):  # the optional or subtracted side is not required
        return _alternatives(node.p1)
    inner = getattr(node, "p", None) if hasattr(node, "get") else None
    return _alternatives(inner) if inner is not None else [[]]


def _class_of(predicate, obj) -> str | None:
    """The class a pattern ``?x a C`` (or ``?x a/rdfs:subClassOf* C``) matches, or None."""
    from rdflib import URIRef
    from rdflib.paths import SequencePath

    if predicate == URIRef(RDF_TYPE) and isinstance(obj, URIRef):
        return str(obj)
    if isinstance(predicate, SequencePath) and predicate.args[0] == URIRef(RDF_TYPE) and isinstance(obj, URIRef):
        return str(obj)
    return None


def _predicates(predicate) -> set[str]:
    from rdflib import URIRef

    if isinstance(predicate, URIRef):
        return {str(predicate)}
    return {i for arg in getattr(predicate, "args", [getattr(predicate, "path", None)]) if arg is not None
            for i in _predicates(arg)}


def _read(where, reads: set[Reads], properties: set[str]) -> None:
    from rdflib import URIRef, Variable

    for triples in _alternatives(where):
        for s, p, o in triples:
            properties.update(_predicates(p))
            cls = _class_of(p, o)
            if cls is None or not isinstance(s, Variable):
                continue
            if any(obj == s for _, _, obj in triples):  # reached through a link from another node
                continue
            reads.add(Reads(cls, frozenset(str(q) for x, q, _ in triples
                                           if x == s and isinstance(q, URIRef) and str(q) != RDF_TYPE)))


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    """What the rule files and the patient report's selections read."""
    from rdflib.plugins.sparql.algebra import translateQuery, translateUpdate
    from rdflib.plugins.sparql.parser import parseQuery, parseUpdate

    from guidelinekg.content.resources import queries_dir
    from guidelinekg.report import selections
    from guidelinekg.report.graphread import PREFIXES

    reads: set[Reads] = set()
    properties: set[str] = set()
    for path in sorted((queries_dir() / "rules").glob("*.rq")):
        for operation in translateUpdate(parseUpdate(path.read_text(encoding="utf-8"))).algebra:
            if getattr(operation, "where", None) is not None:
                _read(operation.where, reads, properties)
    for name, text in vars(selections).items():
        if name.isupper() and isinstance(text, str) and "SELECT" in text:
            _read(translateQuery(parseQuery(PREFIXES + text)).algebra, reads, properties)
    return Vocabulary(frozenset(reads), frozenset(properties))


def _values(iris) -> str:
    return " ".join(f"<{iri}>" for iri in iris)


def _is_read(kinds: set[str], props: set[str], vocab: Vocabulary) -> bool:
    return any(r.cls in kinds and r.needs <= props for r in vocab.reads)


def never_evaluated(statements: list[str], store) -> set[str]:
    """The statements (IRIs) no rule and no selection of the patient report reads, for any patient.

    ``store``: a store holding the guideline's knowledge and the vocabulary (its class hierarchy)."""
    statements = list(dict.fromkeys(statements))
    if not statements:
        return set()
    vocab = vocabulary()
    kinds: dict[str, set[str]] = {}
    props: dict[str, set[str]] = {}
    for row in store.select_values(f"SELECT DISTINCT ?n ?k WHERE {{ VALUES ?s {{ {_values(statements)} }} "
                                   f"{{ BIND(?s AS ?n) }} UNION {{ ?s ?link ?n . FILTER(isIRI(?n) || isBlank(?n)) "
                                   f"FILTER NOT EXISTS {{ ?n <{GKG}sourceText> ?text }} }} "
                                   f"?n <{RDF_TYPE}>/<http://www.w3.org/2000/01/rdf-schema#subClassOf>* ?k }}"):
        kinds.setdefault(row["n"], set()).add(row["k"])
    parts: dict[str, set[str]] = {}
    for row in store.select_values(f"SELECT DISTINCT ?s ?link ?n ?statement WHERE {{ VALUES ?s {{ {_values(statements)} }} "
                                   f"?s ?link ?n . FILTER(isIRI(?n) || isBlank(?n)) "
                                   f"BIND(EXISTS {{ ?n <{GKG}sourceText> ?text }} AS ?statement) }}"):
        props.setdefault(row["s"], set()).add(row["link"])
        if row["link"] not in vocab.properties and row["statement"] == "false":
            parts.setdefault(row["s"], set()).add(row["n"])
    for row in store.select_values(f"SELECT DISTINCT ?s ?link WHERE {{ VALUES ?s {{ {_values(statements)} }} "
                                   f"?s ?link ?v . FILTER(isLiteral(?v)) }}"):
        props.setdefault(row["s"], set()).add(row["link"])
    for row in store.select_values(f"SELECT DISTINCT ?n ?link WHERE {{ VALUES ?s {{ {_values(statements)} }} "
                                   f"?s ?x ?n . ?n ?link ?v . FILTER NOT EXISTS {{ ?n <{GKG}sourceText> ?text }} }}"):
        props.setdefault(row["n"], set()).add(row["link"])
    return {s for s in statements
            if not _is_read(kinds.get(s, set()), props.get(s, set()), vocab)
            and not any(_is_read(kinds.get(n, set()), props.get(n, set()), vocab) for n in parts.get(s, ()))}


def _iris(value) -> set[str]:
    """Every ``iri`` value anywhere in a report."""
    if isinstance(value, dict):
        return {v for k, v in value.items() if k == "iri" and isinstance(v, str)} | \
            {i for v in value.values() for i in _iris(v)}
    if isinstance(value, list):
        return {i for v in value for i in _iris(v)}
    return set()


def not_evaluated(checks: list[str], kb, report: dict) -> list[tuple[int, str]]:
    """The checks (index, IRI) naming a statement the engine never evaluates, in the order of ``checks``.

    ``kb``: the guideline's knowledge base (what its statements are is decided once per knowledge base);
    ``report``: the patient's report. A statement shown in it is exercised whatever the content says."""
    from guidelinekg.report.vignettes import statements_of

    shown = _iris(report)
    if all(iri in shown for iri in checks):  # nothing to decide: the queries are not even parsed
        return []
    never = kb.memo("never-evaluated", lambda store: never_evaluated(sorted(statements_of(kb.ntriples)), store))
    return [(index, iri) for index, iri in enumerate(checks) if iri in never and iri not in shown]
