"""Whether a vignette's ``checks`` name statements the engine ever evaluates (``guidelinekg vignettes``).

``checks`` lists the guideline statements a case exercises. A statement no rule and no part of the patient
report ever reads, for any patient (a good practice or summary statement, a rationale), cannot be exercised
by any case: naming it in ``checks`` claims coverage the case does not give. That is decided exactly from the
content and from what the engine's queries read, with nothing specific to one guideline:

- what the queries read: each rule file (``queries/rules/*.rq``), each selection of the patient report
  (:mod:`guidelinekg.report.selections`) and each query the report runs from ``queries/reports/report-*.rq``
  (the doubts and verification statuses, :mod:`guidelinekg.report.doubts`; ``render-*.rq`` serve
  ``guidelinekg render``, not the report) is parsed. For every variable it matches by class (``?x a
  gkg:Recommendation``, outside MINUS and FILTER; an OPTIONAL one shows what it matches), it reads nodes of
  that class (or a subclass) that have every property the query requires of ``?x`` there; a match through
  a link from another node (``?precedence gkg:prevailing ?x``) is not reading ``?x`` in its own right.
  From each such variable, it also reads every node it reaches through the links it follows, required or
  OPTIONAL, in either direction (a discrepancy's ``gkg:primaryStatement``, shown with the doubt): a node at
  the end of that chain of links from a node of the class with those properties, that has every property
  the query requires of it. Links are followed in the guideline's content; a link only evaluation makes
  (a result's ``gkg:instantiates``) is made by a rule that read its end.
- a statement is evaluated when such a match reads it (a recommendation with its ``gkg:applicability``, a
  caution with its ``gkg:aboutStatement``, a doubt's primary text statement), or when it names, through a
  property no rule or selection requires, a node that is not itself a statement and that a match by class
  reads: a pre-analytic requirement it states (``gkg:requirement``; rules read the requirement for every
  result of its measure). Nodes it names through a property they do require (its ``gkg:applicability``
  criterion, its ``gkg:inVersion``) are read through the statements the queries read, so they do not make
  it evaluated; nor does another statement it names (``gkg:restates``), which is evaluated, or not, in its
  own right.

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
class Link:
    """What a query reads through a link: a node at the end of ``path`` (SPARQL property path steps) from a node
    of ``cls`` (or a subclass) that has every property of ``needs``, the node having every property of
    ``target``."""

    cls: str
    needs: frozenset[str]
    path: tuple[str, ...]
    target: frozenset[str]


@dataclass(frozen=True)
class Vocabulary:
    reads: frozenset[Reads]
    links: frozenset[Link]
    properties: frozenset[str]  # every property a query names in a triple pattern


def _alternatives(node) -> list[list[tuple]]:
    """The triple patterns of each way the query's pattern can match (one per UNION branch), each with
    whether the match requires it (False: inside an OPTIONAL, which shows what it matches when it does)."""
    name = getattr(node, "name", None)
    if name == "BGP":
        return [[(t, True) for t in node.triples]]
    if name == "Union":
        return (_alternatives(node.p1) + _alternatives(node.p2))[:_CAP]
    if name == "Join":
        return [a + b for a, b in product(_alternatives(node.p1), _alternatives(node.p2))][:_CAP]
    if name == "LeftJoin":  # the optional side is not required, but what it matches is read
        return [a + [(t, False) for t, _ in b]
                for a, b in product(_alternatives(node.p1), _alternatives(node.p2))][:_CAP]
    if name == "Minus":  # the subtracted side is read only to leave matches out
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


def _step(predicate, inverse: bool) -> str | None:
    """One step of a link as a SPARQL property path (any property for a variable one), or None for a type."""
    from rdflib import URIRef, Variable
    from rdflib.paths import SequencePath

    first = predicate.args[0] if isinstance(predicate, SequencePath) else predicate
    if first == URIRef(RDF_TYPE):
        return None  # ?a a ?k . ?b a ?k: sharing a class is no link
    if isinstance(predicate, Variable):
        text = f"!<{GKG}no-property>"
    elif isinstance(predicate, URIRef):
        text = f"<{predicate}>"
    else:
        text = predicate.n3()
    return f"^({text})" if inverse else f"({text})"


def _paths(triples, root) -> dict:
    """The shortest chain of links (property path steps) from ``root`` to each variable ``triples`` reach."""
    from rdflib import Variable

    paths = {root: ()}
    frontier = [root]
    while frontier:
        ahead = []
        for node in frontier:
            for s, p, o in triples:
                for here, there, inverse in ((s, o, False), (o, s, True)):
                    step = _step(p, inverse) if here == node and isinstance(there, Variable) else None
                    if step is not None and there not in paths:
                        paths[there] = paths[node] + (step,)
                        ahead.append(there)
        frontier = ahead
    return paths


def _links(triples, root, cls: str, needs: frozenset[str], links: set[Link]) -> None:
    """Every variable the pattern reaches from ``root`` (a node of ``cls``): by required links where they
    reach it (every match has them), else through OPTIONAL ones."""
    from rdflib import URIRef

    required = [t for t, needed in triples if needed]
    paths = _paths([t for t, _ in triples], root) | _paths(required, root)
    for variable, path in paths.items():
        if path:
            links.add(Link(cls, needs, path, frozenset(
                str(q) for x, q, _ in required if x == variable and isinstance(q, URIRef) and str(q) != RDF_TYPE)))


def _read(where, reads: set[Reads], links: set[Link], properties: set[str] | None) -> None:
    """Add what ``where`` reads; ``properties``: where to add the properties its required patterns name."""
    from rdflib import URIRef, Variable

    for triples in _alternatives(where):
        required = [t for t, needed in triples if needed]
        for (s, p, o), needed in triples:
            if needed and properties is not None:
                properties.update(_predicates(p))
            cls = _class_of(p, o)
            if cls is None or not isinstance(s, Variable):
                continue
            needs = frozenset(str(q) for x, q, _ in required if x == s and isinstance(q, URIRef) and str(q) != RDF_TYPE)
            _links(triples, s, cls, needs, links)
            if not any(obj == s for _, _, obj in required):  # else reached through a link from another node
                reads.add(Reads(cls, needs))


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    """What the rule files and the queries of the patient report read."""
    from rdflib.plugins.sparql.algebra import translateQuery, translateUpdate
    from rdflib.plugins.sparql.parser import parseQuery, parseUpdate

    from guidelinekg.content.resources import queries_dir
    from guidelinekg.report import selections
    from guidelinekg.report.graphread import PREFIXES

    reads: set[Reads] = set()
    links: set[Link] = set()
    properties: set[str] = set()
    for path in sorted((queries_dir() / "rules").glob("*.rq")):
        for operation in translateUpdate(parseUpdate(path.read_text(encoding="utf-8"))).algebra:
            if getattr(operation, "where", None) is not None:
                _read(operation.where, reads, links, properties)
    for name, text in vars(selections).items():
        if name.isupper() and isinstance(text, str) and "SELECT" in text:
            _read(translateQuery(parseQuery(PREFIXES + text)).algebra, reads, links, properties)
    for path in sorted((queries_dir() / "reports").glob("report-*.rq")):  # what report.doubts runs
        _read(translateQuery(parseQuery(path.read_text(encoding="utf-8"))).algebra, reads, links, None)
    return Vocabulary(frozenset(reads), frozenset(links), frozenset(properties))


def _values(iris) -> str:
    return " ".join(f"<{iri}>" for iri in iris)


def _is_read(kinds: set[str], props: set[str], vocab: Vocabulary) -> bool:
    return any(r.cls in kinds and r.needs <= props for r in vocab.reads)


def never_evaluated(statements: list[str], store) -> set[str]:
    """The statements (IRIs) no rule and no query of the patient report reads, for any patient.

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
    never = {s for s in statements
             if not _is_read(kinds.get(s, set()), props.get(s, set()), vocab)
             and not any(_is_read(kinds.get(n, set()), props.get(n, set()), vocab) for n in parts.get(s, ()))}
    return never - _linked(never, props, store, vocab)


def _linked(statements: set[str], props: dict[str, set[str]], store, vocab: Vocabulary) -> set[str]:
    """The statements some query reads through a link from a node it reads (a discrepancy's
    ``gkg:primaryStatement``), asked of the content link by link."""
    if not statements:
        return set()
    incoming: dict[str, set[str]] = {}
    for row in store.select_values(f"SELECT DISTINCT ?s ?link WHERE {{ VALUES ?s {{ {_values(sorted(statements))} }} "
                                   f"?n ?link ?s }}"):
        incoming.setdefault(row["s"], set()).add(row["link"])
    found: set[str] = set()
    for link in sorted(vocab.links, key=lambda k: (k.cls, k.path, sorted(k.needs), sorted(k.target))):
        candidates = sorted(s for s in statements - found if link.target <= props.get(s, set())
                            and _may_end(link.path[-1], incoming.get(s, set()), props.get(s, set())))
        if not candidates:
            continue
        needs = " ".join(f"?n <{q}> ?need{i} ." for i, q in enumerate(sorted(link.needs)))
        for row in store.select_values(
                f"SELECT DISTINCT ?s WHERE {{ VALUES ?s {{ {_values(candidates)} }} "
                f"?n <{RDF_TYPE}>/<http://www.w3.org/2000/01/rdf-schema#subClassOf>* <{link.cls}> . {needs} "
                f"?n {'/'.join(link.path)} ?s }}"):
            found.add(row["s"])
    return found


def _may_end(step: str, incoming: set[str], outgoing: set[str]) -> bool:
    """Whether a node with these incoming and outgoing properties can be at the end of a link's last step."""
    if step.startswith("(<") and step.endswith(">)") and step.count("<") == 1:
        return step[2:-2] in incoming
    if step.startswith("^(<") and step.endswith(">)") and step.count("<") == 1:
        return step[3:-2] in outgoing
    return True


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
