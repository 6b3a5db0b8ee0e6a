"""PROV-O provenance of an evaluation: the run activity and every derived result, as RDF.

The run (the evaluation context node) is a prov:Activity that used the patient input, the guideline
version and each rule file (with content hashes), was associated with the software, and recorded the
as-of date and its start and end times. Results carry prov:wasGeneratedBy the run and prov:wasDerivedFrom
the patient facts and guideline statements (added by the rules). The timing fields
``prov:startedAtTime`` and ``prov:endedAtTime`` are the only parts that differ between identical runs.
"""

from __future__ import annotations

from . import __version__
from .reasoning import GKG, PROV, RDF_TYPE, XSD, Evaluation, _lit

RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
SOFTWARE = "https://w3id.org/guidelinekg/software/guidelinekg/" + __version__
TIMING_PREDICATES = (PROV + "startedAtTime", PROV + "endedAtTime")

RESULT_CLASSES = ("RecommendationResult", "Order", "Warning", "MonitoringItem", "ComputedDose",
                  "CriterionOutcome", "LatestResult", "ObservationIssue", "Applicability")


def run_triples(evaluation: Evaluation) -> list[str]:
    """The run activity's own description."""
    run = f"<{evaluation.run_iri}>"
    kb = evaluation.knowledge
    t = [
        f"{run} <{RDF_TYPE}> <{PROV}Activity> .",
        f"{run} <{RDFS_LABEL}> {_lit('guidelinekg evaluation as of ' + evaluation.as_of.isoformat())} .",
        f"{run} <{PROV}wasAssociatedWith> <{SOFTWARE}> .",
        f"<{SOFTWARE}> <{RDF_TYPE}> <{PROV}SoftwareAgent> .",
        f"<{SOFTWARE}> <{RDFS_LABEL}> {_lit('guidelinekg ' + __version__)} .",
        f"<{SOFTWARE}> <{GKG}softwareVersion> {_lit(__version__)} .",
        f"{run} <{GKG}engine> {_lit(evaluation.engine)} .",
        f'{run} <{PROV}startedAtTime> "{evaluation.started.isoformat()}"^^<{XSD}dateTime> .',
        f'{run} <{PROV}endedAtTime> "{evaluation.ended.isoformat()}"^^<{XSD}dateTime> .',
    ]
    inp = f"<urn:guidelinekg:input:{evaluation.input_sha256}>"
    t += [f"{run} <{PROV}used> {inp} .", f"{inp} <{RDF_TYPE}> <{PROV}Entity> .",
          f"{inp} <{GKG}sha256> {_lit(evaluation.input_sha256)} ."]
    for p in evaluation.patient_iris:
        t.append(f"{run} <{PROV}used> <{p}> .")
    for rule in kb.rules.rules:
        r = f"<{rule.iri}>"
        t += [f"{run} <{PROV}used> {r} .", f"{r} <{RDF_TYPE}> <{PROV}Entity> .",
              f"{r} <{RDFS_LABEL}> {_lit('queries/rules/' + rule.path.name)} .",
              f"{r} <{GKG}sha256> {_lit(rule.sha256)} ."]
    for f in kb.files:
        e = f"<urn:guidelinekg:file:{f.sha256}>"
        t += [f"{run} <{PROV}used> {e} .", f"{e} <{RDF_TYPE}> <{PROV}Entity> .",
              f"{e} <{RDFS_LABEL}> {_lit(f.display)} .", f"{e} <{GKG}sha256> {_lit(f.sha256)} ."]
    for v in kb.versions:
        t.append(f"{run} <{PROV}used> <{v.iri}> .")
    return [line + "\n" for line in t]


PROVENANCE_QUERY = """
PREFIX gkg: <https://w3id.org/guidelinekg/ontology#>
CONSTRUCT { ?s ?p ?o } WHERE {
  { VALUES ?cls { %s } ?s a ?cls . ?s ?p ?o . }
  UNION { ?s a gkg:EvaluationContext . ?s ?p ?o . }
  UNION { VALUES ?factClass { gkg:PatientFact gkg:Observation gkg:Condition gkg:MedicationExposure }
          ?s a ?factClass . ?s ?p ?o . }
  UNION { ?s a gkg:Patient . ?s ?p ?o . }
  UNION { ?v a gkg:GuidelineVersion . BIND(?v AS ?s) ?s ?p ?o .
          FILTER(?p IN (gkg:versionLabel, gkg:reviewStatus, gkg:versionOf, gkg:versionDate, <http://www.w3.org/2000/01/rdf-schema#label>)) }
}""" % " ".join(f"gkg:{c}" for c in RESULT_CLASSES)


def provenance_lines(evaluation: Evaluation) -> list[str]:
    """Sorted N-Triples lines of the run and every result, fact and version they refer to."""
    lines = {f"{s} {p} {o} .\n" for s, p, o in evaluation.store.triples(PROVENANCE_QUERY)}
    lines.update(run_triples(evaluation))
    return sorted(lines)


def provenance_turtle(evaluation: Evaluation) -> str:
    """Provenance as Turtle with readable prefixes, in a deterministic order."""
    import pyoxigraph as ox

    text = "".join(provenance_lines(evaluation))
    triples = [q.triple for q in ox.parse(text.encode("utf-8"), format=ox.RdfFormat.N_TRIPLES)]
    prefixes = {"gkg": GKG, "prov": PROV, "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
                "xsd": XSD, "rule": "https://w3id.org/guidelinekg/rules/", "loinc": "https://loinc.org/",
                "sct": "http://snomed.info/id/"}
    return ox.serialize(triples, format=ox.RdfFormat.TURTLE, prefixes=prefixes).decode("utf-8")
