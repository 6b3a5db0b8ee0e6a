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

from guidelinekg.engine.ruleterms import derived_terms  # noqa: F401 - read by the auditor from here

if TYPE_CHECKING:
    from guidelinekg.provenance.inputs import GraphLoad

GKG = "https://w3id.org/guidelinekg/ontology#"
PROV = "http://www.w3.org/ns/prov#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
FACT_CLASSES = tuple(
    GKG + c for c in ("Observation", "Condition", "MedicationExposure", "ProcedureRecord", "AllergyRecord", "Patient",
                      "PatientFact", "SpecimenCondition")
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
        """The triples as N-Triples lines, without the timing fields and the code's digest (the only ones a
        replay changes)."""
        from guidelinekg.provenance.record import UNREPLAYED_PREDICATES

        return {
            f"{t.subject} {t.predicate} {t.object} ."
            for t in self.triples
            if t.predicate.value not in UNREPLAYED_PREDICATES
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
            "restriction": lambda: (f"{'undetermined' if values('status') else 'applies'} "  # rule 71: undecided
                                    f"{_local(values('statement'))}"),
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
