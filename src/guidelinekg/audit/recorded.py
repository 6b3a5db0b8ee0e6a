"""The recorded side of an audit: a run's provenance graph, its results, and what its rules derive.

Split from :mod:`guidelinekg.audit.auditor`: reading what a run recorded (results by kind, the terms the
rules insert) is independent of judging it.
"""

from __future__ import annotations

import json
import re
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
    GKG + c for c in ("Observation", "Condition", "MedicationExposure", "ProcedureRecord", "Patient", "PatientFact")
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
    ("RestrictionResult", "restriction"),
    ("PopulationNotMetResult", "population-not-met"),
)


# --- a recorded run -------------------------------------------------------------------------------------


class _Graph:
    """One run's provenance in an in-memory Oxigraph store, with a small query helper."""

    def __init__(self, load: GraphLoad):
        self.run = load.graph
        self.triples = load.triples
        self.store = ox.Store()
        self.store.extend(ox.Quad(t.subject, t.predicate, t.object) for t in load.triples)

    @classmethod
    def of_store(cls, run: str, store: ox.Store) -> _Graph:
        """A graph already in a store's default graph (its triples are not kept as Python objects)."""
        graph = cls.__new__(cls)
        graph.run, graph.triples, graph.store = run, None, store
        return graph

    def select(self, query: str) -> list[dict[str, str]]:
        """Rows of a SELECT (``$run`` is the run IRI) as dicts of string values, unbound ones left out.

        Read from the engine's SPARQL JSON results (a third of the cost of a Python term per cell), which
        tell an unbound variable (absent) from an empty literal, and give each value as ``.value`` would."""
        prefixes = f"PREFIX gkg: <{GKG}> PREFIX prov: <{PROV}> PREFIX rdfs: <{RDFS}>\n"
        result = self.store.query(prefixes + query.replace("$run", f"<{self.run}>"))
        data = json.loads(result.serialize(format=ox.QueryResultsFormat.JSON))
        return [{name: cell["value"] for name, cell in row.items()} for row in data["results"]["bindings"]]

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
  VALUES ?cls { gkg:RecommendationResult gkg:Order gkg:Warning gkg:MonitoringItem gkg:ComputedDose
                gkg:RestrictionResult gkg:PopulationNotMetResult }
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
            "restriction": lambda: f"applies {_local(values('statement'))}",
            "population-not-met": lambda: f"not met {_local(values('statement'))}",
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
    """Predicates and classes the rules insert, from their INSERT templates (a variable predicate counts
    with every IRI its BIND can produce). On a recorded patient fact they mark a triple the engine added,
    not one the run was given. Knowledge-scope rules are left out: they insert into the guideline graph
    only (e.g. rule 07's gkg:codeToken on a guideline's codes), never onto a patient's facts, and a patient
    fact may use the same predicate (a condition's gkg:codeToken is input).

    Read by :func:`_update_templates`, a scanner of the SPARQL Update text (a few milliseconds for the
    rules; rdflib's parser and algebra took 2.5 s). ``tests/test_audit.py`` checks it against rdflib's
    algebra on the shipped rules."""
    predicates, classes = set(), set()
    for rule in rules.rules:
        if rule.scope == "knowledge":
            continue
        for template, binds in _update_templates(rule.text):
            for _, p, o in template:
                if p.startswith("?"):
                    predicates |= binds.get(p, set())
                elif p == RDF_TYPE and not o.startswith(("?", '"')):
                    classes.add(o)
                elif p != RDF_TYPE:
                    predicates.add(p)
    return frozenset(predicates), frozenset(classes)


_TOKEN = re.compile(r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<iri><[^<>"{}|^`\\\x00-\x20]*>)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<var>[?$][A-Za-z0-9_]+)
  | (?P<name>(?:[A-Za-z][\w.-]*)?:[\w.-]*|[A-Za-z_][\w-]*)
  | (?P<number>[+-]?[0-9][0-9.eE+-]*)
  | (?P<punct>\^\^|&&|\|\||[!<>=]=?|[{}()\[\];,.*/+@?|^-])
""", re.VERBOSE)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, at = [], 0
    while at < len(text):
        m = _TOKEN.match(text, at)
        if m is None:
            raise ValueError(f"cannot read the rule at {text[at:at + 30]!r}")
        if m.lastgroup != "ws":
            out.append((m.lastgroup, m.group()))
        at = m.end()
    return out


def _update_templates(text: str) -> list[tuple[list[tuple[str, str, str]], dict[str, set[str]]]]:
    """Each INSERT template of a SPARQL Update as (subject, predicate, object) terms (IRIs expanded,
    ``a`` as rdf:type, variables as ``?name``), with the IRIs each variable's BINDs in the operation use."""
    tokens, prefixes = _tokens(text), {}
    for i, (kind, value) in enumerate(tokens):
        if value.upper() == "PREFIX" and kind == "name":
            prefixes[tokens[i + 1][1].rstrip(":")] = tokens[i + 2][1][1:-1]

    def term(kind: str, value: str) -> str:
        if kind == "iri":
            return value[1:-1]
        if kind == "name" and ":" in value:
            prefix, local = value.split(":", 1)
            return prefixes[prefix] + local
        if kind == "name" and value == "a":
            return RDF_TYPE
        return "?" + value[1:] if kind == "var" else value

    operations: list[list[int]] = [[]]  # token positions of each operation, split at top-level ';'
    depth = 0
    for i, (kind, value) in enumerate(tokens):
        depth += {"{": 1, "}": -1}.get(value, 0) if kind == "punct" else 0
        if depth == 0 and value == ";" and kind == "punct":
            operations.append([])
        else:
            operations[-1].append(i)
    out = []
    for positions in operations:
        op = [tokens[i] for i in positions]
        binds: dict[str, set[str]] = {}
        for i, (kind, value) in enumerate(op):
            if kind == "name" and value.upper() == "BIND":
                end, depth = i + 1, 0
                while True:
                    depth += {"(": 1, ")": -1}.get(op[end][1], 0) if op[end][0] == "punct" else 0
                    if depth == 0:
                        break
                    end += 1
                inner = op[i + 2:end]
                var = "?" + inner[-1][1][1:]
                iris = {term(k, v) for k, v in inner[:-2] if k == "iri" or (k == "name" and ":" in v)}
                binds.setdefault(var, set()).update(iris)
        for i, (kind, value) in enumerate(op):
            if kind == "name" and value.upper() == "INSERT":
                start = i + 2 if op[i + 1][1].upper() == "DATA" else i + 1
                out.append((_triples(op, start, term), binds))
    return out


def _triples(op: list[tuple[str, str]], start: int, term) -> list[tuple[str, str, str]]:
    """The triples of the template opening at ``op[start]`` ('{'); GRAPH blocks inside count too."""
    triples: list[tuple[str, str, str]] = []
    i, depth, stack = start + 1, 1, []  # stack: subjects of [ ] blank node property lists
    subject = predicate = None
    blank = 0
    while depth:
        kind, value = op[i]
        if kind == "punct" and value == "{":
            depth, subject, predicate = depth + 1, None, None
        elif kind == "punct" and value == "}":
            depth, subject, predicate = depth - 1, None, None
        elif kind == "name" and value.upper() == "GRAPH":
            i += 1  # the graph name
        elif kind == "punct" and value == ".":
            subject = predicate = None
        elif kind == "punct" and value == ";":
            predicate = None
        elif kind == "punct" and value == ",":
            pass
        elif kind == "punct" and value == "[":
            blank += 1
            node = f"_:b{blank}"
            if subject is not None and predicate is not None:
                triples.append((subject, predicate, node))
            stack.append((subject, predicate))
            subject, predicate = node, None
        elif kind == "punct" and value == "]":
            subject, predicate = stack.pop()
        elif kind == "punct" and value in "()":
            raise ValueError("a collection in an INSERT template is not read")
        elif kind == "punct" and value == "^^":
            i += 1  # a literal's datatype
        elif kind == "punct" and value == "@":
            i += 1  # a language tag
        elif subject is None:
            subject = term(kind, value)
        elif predicate is None:
            predicate = term(kind, value)
        else:
            triples.append((subject, predicate, term(kind, value)))
        i += 1
    return triples
