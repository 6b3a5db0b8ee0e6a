"""PROV-O provenance of an evaluation: the run activity and every derived result, as RDF.

The run (the evaluation context node) is a prov:Activity that used the patient input, the guideline
version and each rule file (with content hashes), was associated with the software, and recorded the
as-of date and its start and end times. Results carry prov:wasGeneratedBy the run and prov:wasDerivedFrom
the patient facts and guideline statements (added by the rules). The timing fields
``prov:startedAtTime`` and ``prov:endedAtTime`` are the only parts that differ between identical runs; the run
also records the digest of the code that made it (``gkg:softwareSha256``), which no replay reproduces either.
"""

from __future__ import annotations

import hashlib

from guidelinekg import __version__
from guidelinekg.engine.reasoning import GKG, PROV, RDF_TYPE, XSD, Evaluation, _lit

RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
SOFTWARE = "https://w3id.org/guidelinekg/software/guidelinekg/" + __version__
TIMING_PREDICATES = (PROV + "startedAtTime", PROV + "endedAtTime")
SOFTWARE_SHA256 = GKG + "softwareSha256"
# What a replay does not reproduce: the times, and the digest of the code that made the run (a replay by other
# code of the same version that gives the same results is the same record; the audit notes the code differs).
UNREPLAYED_PREDICATES = (*TIMING_PREDICATES, SOFTWARE_SHA256)
SOURCE_PREFIX = "urn:guidelinekg:source:"  # the raw input's entity; urn:guidelinekg:input: the facts'
MAPPING_PREFIX = "urn:guidelinekg:mapping:"  # the unit-spelling table raw input was read with
MAPPING_LABEL = "ontology/unit-spellings.tsv"



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
        *([f"{run} <{SOFTWARE_SHA256}> {_lit(evaluation.software_sha256)} ."] if evaluation.software_sha256 else []),
        f"{run} <{GKG}engine> {_lit(evaluation.engine)} .",
        f'{run} <{PROV}startedAtTime> "{evaluation.started.isoformat()}"^^<{XSD}dateTime> .',
        f'{run} <{PROV}endedAtTime> "{evaluation.ended.isoformat()}"^^<{XSD}dateTime> .',
    ]
    inp = f"<urn:guidelinekg:input:{evaluation.input_sha256}>"
    t += [f"{run} <{PROV}used> {inp} .", f"{inp} <{RDF_TYPE}> <{PROV}Entity> .",
          f"{inp} <{GKG}sha256> {_lit(evaluation.input_sha256)} ."]
    if evaluation.source_sha256:  # the raw bytes the facts were read from (a file: its sha256sum)
        src = f"<{SOURCE_PREFIX}{evaluation.source_sha256}>"
        t += [f"{run} <{PROV}used> {src} .", f"{src} <{RDF_TYPE}> <{PROV}Entity> .",
              f"{src} <{RDFS_LABEL}> {_lit('raw patient input')} .",
              f"{src} <{GKG}sha256> {_lit(evaluation.source_sha256)} ."]
    mapping = evaluation.mapping_sha256
    if mapping:  # how units as written were read: the same raw bytes with another table give other facts
        m = f"<{MAPPING_PREFIX}{mapping}>"
        t += [f"{run} <{PROV}used> {m} .", f"{m} <{RDF_TYPE}> <{PROV}Entity> .",
              f"{m} <{RDFS_LABEL}> {_lit(MAPPING_LABEL)} .", f"{m} <{GKG}sha256> {_lit(mapping)} ."]
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


VERSION_QUERY = """
PREFIX gkg: <https://w3id.org/guidelinekg/ontology#>
CONSTRUCT { ?v ?p ?o } WHERE {
  ?v a gkg:GuidelineVersion ; ?p ?o .
  FILTER(?p IN (gkg:versionLabel, gkg:reviewStatus, gkg:versionOf, gkg:versionDate, <http://www.w3.org/2000/01/rdf-schema#label>))
}"""


def derived_ntriples(evaluation: Evaluation) -> bytes:
    """The run's own graph as N-Triples, in the engine's order (not stable across processes: sort to compare).

    Everything the evaluation added to the knowledge: the patient facts and ingest notes, the evaluation
    context, and every triple the rules derived (results, outcomes, their prov:wasDerivedFrom links),
    plus what identifies each loaded guideline version. The knowledge itself is not repeated; it is
    identified by the content hashes in :func:`run_triples`. The engine serializes the graph (one
    Rust call for Oxigraph), so the cost stays a small part of a cohort chunk.
    """
    store = evaluation.store
    versions = "".join(f"{s} {p} {o} .\n" for s, p, o in store.triples(VERSION_QUERY))
    derived = evaluation.knowledge.derived_ntriples(store, patients=len(evaluation.patient_iris))
    return derived + versions.encode("utf-8")


def provenance_lines(evaluation: Evaluation) -> list[str]:
    """Sorted N-Triples lines of the run and every result, fact and version they refer to."""
    lines = {line + "\n" for line in derived_ntriples(evaluation).decode("utf-8").splitlines()}
    lines.update(run_triples(evaluation))
    return sorted(lines)


def provenance_trig(evaluation: Evaluation) -> bytes:
    """The same triples as :func:`provenance_lines`, as TriG (UTF-8): the run's named graph holding them
    as N-Triples lines (valid TriG), so no triple is rewritten.

    Sorted as bytes, so the same input gives the same file: Oxigraph's dump order is not stable from one
    process to the next (an attacker found three orders in five runs of one cohort). Sorting a chunk's
    100,000 lines costs about 0.1 ms per patient.
    """
    head = f"<{evaluation.run_iri}> {{\n".encode()
    lines = derived_ntriples(evaluation).splitlines()
    lines.sort()
    return head + b"\n".join(lines) + b"\n" + "".join(run_triples(evaluation)).encode("utf-8") + b"}\n"


_PREFIXES = {"gkg": GKG, "prov": PROV, "rdfs": "http://www.w3.org/2000/01/rdf-schema#", "xsd": XSD,
             "rule": "https://w3id.org/guidelinekg/rules/", "loinc": "https://loinc.org/", "sct": "http://snomed.info/id/"}


def provenance_turtle(evaluation: Evaluation) -> str:
    """Provenance as Turtle with readable prefixes, in a deterministic order."""
    import pyoxigraph as ox

    text = "".join(provenance_lines(evaluation))
    triples = [q.triple for q in ox.parse(text.encode("utf-8"), format=ox.RdfFormat.N_TRIPLES)]
    return ox.serialize(triples, format=ox.RdfFormat.TURTLE, prefixes=_PREFIXES).decode("utf-8")


def provenance_dataset(evaluations: list[Evaluation], disagreements: list[dict] | None = None) -> str:
    """The provenance of several runs (one patient against several guidelines) as TriG: each run's
    triples in a named graph named by its run IRI, as ``cohort`` writes them, with readable prefixes; and
    the guidelines' disagreements for the patient (:mod:`guidelinekg.report.disagree`), when any, in a
    graph of their own (:func:`disagreement_lines`), derived from the results of both runs."""
    import pyoxigraph as ox

    quads = []
    for evaluation in sorted(evaluations, key=lambda e: e.run_iri):
        text = "".join(provenance_lines(evaluation)).encode("utf-8")
        graph = ox.NamedNode(evaluation.run_iri)
        quads += [ox.Quad(q.subject, q.predicate, q.object, graph)
                  for q in ox.parse(text, format=ox.RdfFormat.N_TRIPLES)]
    if disagreements:
        runs = sorted(e.run_iri for e in evaluations)
        graph = ox.NamedNode("urn:guidelinekg:disagreements:" + hashlib.sha1(" ".join(runs).encode()).hexdigest())
        text = "".join(disagreement_lines(evaluations[0].patient_iris[0] if evaluations[0].patient_iris else "",
                                          runs, disagreements)).encode("utf-8")
        quads += [ox.Quad(q.subject, q.predicate, q.object, graph) for q in ox.parse(text, format=ox.RdfFormat.N_TRIPLES)]
    return ox.serialize(quads, format=ox.RdfFormat.TRIG, prefixes=_PREFIXES).decode("utf-8")


def disagreement_lines(patient: str, runs: list[str], disagreements: list[dict]) -> list[str]:
    """N-Triples of each disagreement: a gkg:Disagreement for the patient, of its kind, about both
    statements, derived from the results it compares and from both runs."""
    out = []
    for d in disagreements:
        a, b = d["first"], d["second"]
        node = "urn:guidelinekg:disagreement:" + hashlib.sha1(
            f"{patient} {d['kind']} {a['statement']} {b['statement']}".encode()).hexdigest()
        out += [f"<{node}> <{RDF_TYPE}> <{GKG}Disagreement> .\n",
                f"<{node}> <{GKG}disagreementKind> {_lit(d['kind'])} .\n",
                f"<{node}> <{GKG}forPatient> <{patient}> .\n",
                f"<{node}> <{GKG}instantiates> <{a['statement']}> .\n",
                f"<{node}> <{GKG}instantiates> <{b['statement']}> .\n",
                f"<{node}> <{RDFS_LABEL}> {_lit(d['action'])} .\n"]
        out += [f"<{node}> <{PROV}wasDerivedFrom> <{r}> .\n" for r in (a.get("result"), b.get("result")) if r]
        out += [f"<{node}> <{PROV}wasDerivedFrom> <{run}> .\n" for run in runs]
    return sorted(set(out))
