"""The recorded side of an audit: a run's provenance graph, its results, and what its rules derive.

Split from :mod:`guidelinekg.audit.auditor`: reading what a run recorded (results by kind, the terms the rules
insert, the RDFS entailments the provenance shapes need) is independent of judging it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyoxigraph as ox

if TYPE_CHECKING:
    from guidelinekg.provenance.inputs import GraphLoad

GKG = "https://w3id.org/guidelinekg/ontology#"
PROV = "http://www.w3.org/ns/prov#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
FACT_CLASSES = tuple(
    GKG + c for c in ("Observation", "Condition", "MedicationExposure", "Patient", "PatientFact")
)
@dataclass(frozen=True)
class Finding:
    """One thing the audit found: ``severity`` failure, flag or note; ``code`` stable (README);
    ``subject`` the IRI concerned."""

    severity: str
    code: str
    message: str
    subject: str | None = None


# A result's kind, by its most specific class (an observation issue is also a Warning).
RESULT_KINDS = (
    ("RecommendationResult", "recommendation"),
    ("Order", "order"),
    ("MonitoringItem", "monitoring"),
    ("ComputedDose", "dose"),
    ("Warning", "warning"),
)


# --- a recorded run -------------------------------------------------------------------------------------


class _Graph:
    """One run's provenance in an in-memory Oxigraph store, with a small query helper."""

    def __init__(self, load: GraphLoad):
        self.run = load.graph
        self.triples = load.triples
        self.store = ox.Store()
        self.store.extend(ox.Quad(t.subject, t.predicate, t.object) for t in load.triples)

    def select(self, query: str) -> list[dict[str, str]]:
        """Rows of a SELECT (``$run`` is the run IRI) as dicts of string values, unbound ones left out."""
        prefixes = f"PREFIX gkg: <{GKG}> PREFIX prov: <{PROV}> PREFIX rdfs: <{RDFS}>\n"
        result = self.store.query(prefixes + query.replace("$run", f"<{self.run}>"))
        names = [v.value for v in result.variables]
        return [{n: s[n].value for n in names if s[n] is not None} for s in result]

    def lines(self) -> set[str]:
        """The triples as N-Triples lines, without the timing fields (the only ones a replay changes)."""
        from guidelinekg.provenance.record import TIMING_PREDICATES

        return {
            f"{t.subject} {t.predicate} {t.object} ."
            for t in self.triples
            if t.predicate.value not in TIMING_PREDICATES
        }


RESULTS = """
SELECT ?r ?cls ?patient ?statement ?status ?measure ?code ?message ?dose ?unit ?dosing ?version ?rule WHERE {
  VALUES ?cls { gkg:RecommendationResult gkg:Order gkg:Warning gkg:MonitoringItem gkg:ComputedDose }
  ?r a ?cls .
  OPTIONAL { ?r gkg:forPatient ?patient } OPTIONAL { ?r gkg:instantiates ?statement }
  OPTIONAL { ?r gkg:status ?status } OPTIONAL { ?r gkg:measure ?measure }
  OPTIONAL { ?r gkg:warningCode ?code } OPTIONAL { ?r gkg:message ?message }
  OPTIONAL { ?r gkg:doseValue ?dose ; gkg:doseUnit ?unit } OPTIONAL { ?r gkg:dosingStatement ?dosing }
  OPTIONAL { ?r gkg:guidelineVersion ?version } OPTIONAL { ?r gkg:ruleFile ?rule }
}"""


def _local(iri: str | None) -> str:
    return iri.rsplit("#", 1)[-1].rsplit("/", 1)[-1] if iri else "?"


def results_of(graph: _Graph) -> dict[str, dict]:
    """Every result of a run by IRI: kind, patient, rule, guideline versions and a summary holding what a
    replay must reproduce (status and statement, measure, warning code and message, dose)."""
    rows_by: dict[str, list[dict]] = {}
    for row in graph.select(RESULTS):
        rows_by.setdefault(row["r"], []).append(row)
    out = {}
    for iri, rows in rows_by.items():
        classes = {_local(r["cls"]) for r in rows}
        kind = next(k for cls, k in RESULT_KINDS if cls in classes)

        def values(key, rows=rows):
            return " | ".join(sorted({r[key] for r in rows if key in r})) or None

        summary = {
            "recommendation": lambda: f"{_local(values('status')).lower()} {_local(values('statement'))}",
            "order": lambda: f"order {_local(values('measure'))}",
            "monitoring": lambda: f"monitoring {_local(values('statement'))}",
            "dose": lambda: f"dose {values('dose')} {values('unit')} ({_local(values('dosing'))})",
            "warning": lambda: f"{values('code')}: {values('message')}",
        }[kind]()
        out[iri] = {
            "kind": kind,
            "patient": values("patient"),
            "summary": summary,
            "rule": values("rule"),
            "versions": tuple(sorted({r["version"] for r in rows if "version" in r})),
        }
    return out


# --- the input a run was given --------------------------------------------------------------------------


def derived_terms(rules) -> tuple[frozenset[str], frozenset[str]]:
    """Predicates and classes the rules insert, from their INSERT templates (rdflib's SPARQL algebra; a
    variable predicate counts with every IRI its BIND can produce). On a recorded patient fact they mark
    a triple the engine added, not one the run was given."""
    from rdflib import RDF, URIRef, Variable
    from rdflib.plugins.sparql.algebra import translateUpdate
    from rdflib.plugins.sparql.parser import parseUpdate
    from rdflib.plugins.sparql.parserutils import CompValue

    def nodes(node):
        if isinstance(node, CompValue):
            yield node
            for value in node.values():
                yield from nodes(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                yield from nodes(value)

    def iris(node) -> set[str]:
        if isinstance(node, URIRef):
            return {str(node)}
        children = (
            node.values() if isinstance(node, CompValue) else node if isinstance(node, (list, tuple)) else ()
        )
        return set().union(set(), *(iris(v) for v in children))

    predicates, classes = set(), set()
    for rule in rules.rules:
        for op in translateUpdate(parseUpdate(rule.text)).algebra:
            template = op.get("insert")
            if not template:
                continue
            binds = {n["var"]: n["expr"] for n in nodes(op.get("where")) if n.name == "Extend"}
            triples = list(template.get("triples") or [])
            for quads in (template.get("quads") or {}).values():
                triples += list(quads)
            for _, p, o in triples:
                if isinstance(p, Variable):
                    predicates |= iris(binds.get(p))
                elif p == RDF.type and isinstance(o, URIRef):
                    classes.add(str(o))
                elif p != RDF.type:
                    predicates.add(str(p))
    return frozenset(predicates), frozenset(classes)


# --- RDFS entailments the provenance shapes need --------------------------------------------------------

_VOCABULARY = "urn:guidelinekg:audit:vocabulary"
_ENTAILMENT = f"""PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
INSERT {{ ?s ?q ?o }} WHERE {{ GRAPH <{_VOCABULARY}> {{ ?p rdfs:subPropertyOf+ ?q }} ?s ?p ?o }} ;
INSERT {{ ?s a ?c }} WHERE {{ GRAPH <{_VOCABULARY}> {{ ?p rdfs:domain ?c }} ?s ?p ?o }} ;
INSERT {{ ?o a ?c }} WHERE {{
  GRAPH <{_VOCABULARY}> {{ ?p rdfs:range ?c }} ?s ?p ?o FILTER(!isLiteral(?o)) }} ;
INSERT {{ ?s a ?d }} WHERE {{ ?s a ?c . GRAPH <{_VOCABULARY}> {{ ?c rdfs:subClassOf+ ?d }} }}"""


def _entailed(graph: _Graph, vocabulary: ox.Store, paths: frozenset[str], targets: frozenset[str]):
    """An rdflib graph of what the shapes read: from each focus node (an instance of a target class, after
    RDFS entailment) and each of its values, the types and the triples on the shapes' paths."""
    import rdflib

    store = ox.Store()
    store.extend(ox.Quad(t.subject, t.predicate, t.object) for t in graph.triples)
    store.extend(ox.Quad(q.subject, q.predicate, q.object, ox.NamedNode(_VOCABULARY)) for q in vocabulary)
    store.update(_ENTAILMENT)
    default, rdf_type = ox.DefaultGraph(), ox.NamedNode(RDF_TYPE)
    nodes = {
        q.subject
        for t in sorted(targets)
        for q in store.quads_for_pattern(None, rdf_type, ox.NamedNode(t), default)
    }
    lines: set[str] = set()
    for hop in range(2):  # the focus nodes, then their values
        reached = set()
        for node in nodes:
            for q in store.quads_for_pattern(node, None, None, default):
                if q.predicate.value in paths:
                    lines.add(f"{q.subject} {q.predicate} {q.object} .\n")
                    if hop == 0 and not isinstance(q.object, ox.Literal):
                        reached.add(q.object)
        nodes = reached - nodes
    return rdflib.Graph().parse(data="".join(sorted(lines)), format="nt")


