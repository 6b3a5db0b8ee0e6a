"""The replay side of an audit: rebuild a run's input from its recorded facts, evaluate it again.

Split from :mod:`guidelinekg.audit.auditor` (which decides when a replay may run and reports the verdicts):
what the engine added to the facts is left out, the loader's recorded notes are kept, the digest is
checked against the recorded input, and the evaluation's provenance is compared result by result, then
triple by triple.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import TYPE_CHECKING

import pyoxigraph as ox

from guidelinekg import __version__
from guidelinekg.audit.recorded import FACT_CLASSES, Finding, _Graph, results_of
from guidelinekg.patients.model import facts_sha256
from guidelinekg.provenance.inputs import GraphLoad

if TYPE_CHECKING:
    from guidelinekg.engine.knowledge import KnowledgeBase
    from guidelinekg.engine.shapes_sparql import CompiledShapes

GKG = "https://w3id.org/guidelinekg/ontology#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
INPUT_PREFIX = "urn:guidelinekg:input:"


def rebuild_input(graph: _Graph, derived_by_rules: tuple[set[str], set[str]], findings: list[Finding]):
    """The patients as given to the run, rebuilt from the recorded facts without what the engine added
    (time indexes, rule conclusions on facts), with the recorded loader notes (the input file is not
    at hand to read again); their digest is checked against the recorded input hash."""
    from guidelinekg.engine.patientcheck import INVALID
    from guidelinekg.patients.model import IngestNote, PatientData
    from guidelinekg.engine.timeline import TIME_PROPERTIES

    predicates, classes = derived_by_rules
    derived = predicates | set(TIME_PROPERTIES.values())
    facts = {
        t.subject
        for t in graph.triples
        if t.predicate.value == RDF_TYPE and t.object.value in FACT_CLASSES
    }
    patients = {
        t.subject.value
        for t in graph.triples
        if t.predicate.value == RDF_TYPE and t.object.value == GKG + "Patient"
    }
    owner = {
        t.subject: t.object.value
        for t in graph.triples
        if t.subject in facts and t.predicate.value == GKG + "subject"
    }
    lines: dict[str, list[str]] = {p: [] for p in patients}
    for t in graph.triples:
        if (
            t.subject not in facts
            or t.predicate.value in derived
            or (t.predicate.value == RDF_TYPE and t.object.value in classes)
        ):
            continue
        who = t.subject.value if t.subject.value in lines else owner.get(t.subject)
        if who not in lines:
            findings.append(
                Finding(
                    "failure",
                    "fact-without-patient",
                    "a recorded fact names no recorded patient (gkg:subject)",
                    str(t.subject),
                )
            )
            continue
        lines[who].append(f"{t.subject} {t.predicate} {t.object} .")
    notes: dict[str, list[IngestNote]] = {}
    for row in graph.select("""SELECT ?p ?code ?message ?record WHERE {
            ?w a gkg:IngestNote ; gkg:forPatient ?p ; gkg:warningCode ?code ; gkg:message ?message .
            OPTIONAL { ?w gkg:aboutRecord ?record } }"""):
        if row["code"] != INVALID:  # the replay checks the patient shapes again
            notes.setdefault(row["p"], []).append(
                IngestNote(row["code"], row["message"], row.get("record"))
            )
    data = [PatientData.build(p, lines[p], notes.get(p, [])) for p in sorted(patients)]
    recorded = [
        row["i"][len(INPUT_PREFIX) :]
        for row in graph.select(
            f'SELECT ?i WHERE {{ $run prov:used ?i . FILTER(STRSTARTS(STR(?i), "{INPUT_PREFIX}")) }}'
        )
    ]
    digests = (
        facts_sha256(data),
        hashlib.sha256("".join(p.text() for p in data).encode()).hexdigest(),
    )
    if not recorded:
        findings.append(
            Finding("failure", "input-not-recorded", "the run records no input (urn:guidelinekg:input:)")
        )
    elif recorded[0] not in digests:
        findings.append(
            Finding(
                "failure",
                "input-hash-mismatch",
                f"the recorded patient facts hash to "
                f"{digests[0][:12]}..., the run recorded input {recorded[0][:12]}...: facts were "
                "changed or removed since the run",
                INPUT_PREFIX + recorded[0],
            )
        )
    return {p.patient_iri: p for p in data}, bool(recorded) and recorded[0] in digests

def _check_run_iri(graph: _Graph, evaluation, recorded_input: list[str], kb: KnowledgeBase, info: dict,
                   findings: list[Finding]) -> None:
    """The run IRI names the run's input, as-of date, content, rules and software (``run_iri_for``): a
    run graph renamed, or a consistent edit of its as-of date or facts under the old name, is caught.
    (The record is not signed: an edit that also recomputes every hash and the IRI is not.)"""
    from guidelinekg.engine.reasoning import run_iri_for

    digest = recorded_input[0][len(INPUT_PREFIX):] if recorded_input else evaluation.input_sha256
    expected = run_iri_for(digest, evaluation.as_of, kb, info.get("software") or __version__)
    if graph.run != expected:
        findings.append(Finding(
            "failure", "run-iri-mismatch",
            f"the run IRI does not name what the run records (input, as-of date {evaluation.as_of}, content, "
            f"rules, software): those give {expected}; the run was renamed or edited", graph.run))


def replay(
    graph: _Graph, patients: dict, kb: KnowledgeBase, patient_shapes: CompiledShapes, info: dict,
    findings: list[Finding],
) -> dict[str, dict]:
    """Check the patient shapes and evaluate again, as ``recommend`` and ``cohort`` do, with the recorded
    as-of date and engine; compare the results, then every triple."""
    from guidelinekg.engine.patientcheck import validate_patients
    from guidelinekg.provenance.record import provenance_lines
    from guidelinekg.engine.reasoning import evaluate

    checked = validate_patients([patients[p] for p in sorted(patients)], kb, patient_shapes)
    evaluation = evaluate(
        kb, checked, as_of=date.fromisoformat(info["asOf"]), engine=info.get("engine") or "oxigraph"
    )
    text = "".join(provenance_lines(evaluation)).replace(f"<{evaluation.run_iri}>", f"<{graph.run}>")
    recorded_input = [
        r["i"]
        for r in graph.select(
            f'SELECT ?i WHERE {{ $run prov:used ?i . FILTER(STRSTARTS(STR(?i), "{INPUT_PREFIX}")) }}'
        )
    ]
    if recorded_input:  # the input hash has its own check (and its own finding)
        text = text.replace(evaluation.input_sha256, recorded_input[0][len(INPUT_PREFIX) :])
    _check_run_iri(graph, evaluation, recorded_input, kb, info, findings)
    replayed = _Graph(
        GraphLoad(
            graph.run,
            "run",
            ("replay",),
            tuple(q.triple for q in ox.parse(input=text.encode(), format=ox.RdfFormat.N_TRIPLES)),
        )
    )
    recorded, replay = results_of(graph), results_of(replayed)
    for iri in sorted(recorded.keys() | replay.keys()):
        old, new = recorded.get(iri), replay.get(iri)
        if new is None:
            message = f"recorded {old['kind']} '{old['summary']}' is not derived by the replay"
        elif old is None:
            message = (
                f"the replay derives {new['kind']} '{new['summary']}', which the run does not record"
            )
        elif old["summary"] != new["summary"]:
            message = f"recorded '{old['summary']}', the replay derives '{new['summary']}'"
        else:
            continue
        findings.append(Finding("failure", "replay-differs", message, iri))
    before, after = graph.lines(), replayed.lines()
    if before != after:
        gone, added = sorted(before - after), sorted(after - before)
        example = f"recorded: {gone[0]}" if gone else f"replayed: {added[0]}"
        findings.append(
            Finding(
                "failure",
                "replay-differs",
                f"{len(gone)} recorded triple(s) are not reproduced "
                f"by the replay and {len(added)} replayed triple(s) were not recorded; e.g. {example}",
            )
        )
    return replay
