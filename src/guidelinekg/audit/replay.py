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
    from guidelinekg.engine.reasoning import Evaluation
    from guidelinekg.engine.shapes_sparql import CompiledShapes

GKG = "https://w3id.org/guidelinekg/ontology#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
INPUT_PREFIX = "urn:guidelinekg:input:"


def rebuild_input(graph: _Graph, derived_by_rules: tuple[set[str], set[str]], findings: list[Finding]):
    """The patients as given to the run, rebuilt from the recorded facts without what the engine added
    (time indexes, rule conclusions on facts), with the recorded loader notes (the input file is not
    at hand to read again); their digest is checked against the recorded input hash."""
    rows = [(t.subject, t.subject.value, t.predicate.value, t.object.value, f"{t.subject} {t.predicate} {t.object} .")
            for t in graph.triples]
    lacking: dict[str, set[str]] = {}
    for row in graph.select(LACKS):  # the records a note says the input may lack: they decide criteria
        lacking.setdefault(row["w"], set()).add(row["cls"].rsplit("#", 1)[-1])
    notes = [(row["p"], row["code"], row["message"], row.get("record"),
              tuple(sorted(lacking.get(row["w"], ())))) for row in graph.select(NOTES)]
    return patients_from(rows, derived_by_rules, notes, recorded_input(graph), findings)


NOTES = """SELECT ?w ?p ?code ?message ?record WHERE {
    ?w a gkg:IngestNote ; gkg:forPatient ?p ; gkg:warningCode ?code ; gkg:message ?message .
    OPTIONAL { ?w gkg:aboutRecord ?record } }"""
LACKS = """SELECT ?w ?cls WHERE { ?w a gkg:IngestNote ; gkg:recordMayLack ?cls }"""


def recorded_input(graph: _Graph) -> list[str]:
    """The input digests the run records (``prov:used <urn:guidelinekg:input:SHA256>``)."""
    return [
        row["i"][len(INPUT_PREFIX) :]
        for row in graph.select(
            f'SELECT ?i WHERE {{ $run prov:used ?i . FILTER(STRSTARTS(STR(?i), "{INPUT_PREFIX}")) }}'
        )
    ]


def recorded_source(graph: _Graph) -> str | None:
    """The raw input's digest the run records (``prov:used <urn:guidelinekg:source:SHA256>``), if any:
    part of the run IRI, and given to the replay, whose facts come from the record, not from raw bytes."""
    from guidelinekg.provenance.record import SOURCE_PREFIX

    rows = graph.select(f'SELECT ?s WHERE {{ $run prov:used ?s . FILTER(STRSTARTS(STR(?s), "{SOURCE_PREFIX}")) }}')
    return min((row["s"][len(SOURCE_PREFIX):] for row in rows), default=None)


def recorded_mapping(graph: _Graph) -> str:
    """The unit-spelling table's digest the run records (``prov:used <urn:guidelinekg:mapping:SHA256>``),
    or "" (none recorded): the replay records the same one, since its facts come from the record."""
    from guidelinekg.provenance.record import MAPPING_PREFIX

    rows = graph.select(f'SELECT ?s WHERE {{ $run prov:used ?s . FILTER(STRSTARTS(STR(?s), "{MAPPING_PREFIX}")) }}')
    return min((row["s"][len(MAPPING_PREFIX):] for row in rows), default="")


def patients_from(rows, derived_by_rules, notes, recorded: list[str], findings: list[Finding]):
    """The patients of :func:`rebuild_input` from the graph's triples as rows (subject term, subject value,
    predicate IRI, object value, N-Triples line) and its notes as rows (patient, code, message, record, the
    records the input may lack); :mod:`guidelinekg.audit.fastpath` gives the same rows read from text.
    Returns the patients by IRI and whether their digest is the recorded input's."""
    from guidelinekg.engine.patientcheck import INVALID
    from guidelinekg.engine.timeline import INDEX_PREDICATES
    from guidelinekg.patients.model import IngestNote, PatientData

    predicates, classes = derived_by_rules
    derived = predicates | INDEX_PREDICATES
    facts = {s for s, _, p, o, _ in rows if p == RDF_TYPE and o in FACT_CLASSES}
    patients = {value for _, value, p, o, _ in rows if p == RDF_TYPE and o == GKG + "Patient"}
    owner = {s: o for s, _, p, o, _ in rows if s in facts and p == GKG + "subject"}
    lines: dict[str, list[str]] = {p: [] for p in patients}
    for s, value, p, o, line in rows:
        if s not in facts or p in derived or (p == RDF_TYPE and o in classes):
            continue
        who = value if value in lines else owner.get(s)
        if who not in lines:
            findings.append(
                Finding(
                    "failure",
                    "fact-without-patient",
                    "a recorded fact names no recorded patient (gkg:subject)",
                    str(s),
                )
            )
            continue
        lines[who].append(line)
    by_patient: dict[str, list[IngestNote]] = {}
    for patient, code, message, record, lacks in notes:
        if code != INVALID:  # the replay checks the patient shapes again
            by_patient.setdefault(patient, []).append(IngestNote(code, message, record, lacks))
    data = [PatientData.build(p, lines[p], by_patient.get(p, [])) for p in sorted(patients)]
    if recorded and recorded[0] == _sorted_digest(data):
        return {p.patient_iri: p for p in data}, True
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


def _sorted_digest(data) -> str:
    """:func:`facts_sha256` of lines already in Oxigraph's canonical forms (as a store writes them), without
    the store: their sorted, de-duplicated text. Equal to the recorded input only if the lines are those
    forms (else SHA-256 would collide), so it decides a match; a mismatch is decided by the full digests."""
    if any("_:" in line for p in data for line in p.ntriples):
        return facts_sha256(data)
    lines = sorted({line for p in data for line in p.ntriples})
    return hashlib.sha256("".join(line + "\n" for line in lines).encode()).hexdigest()


def _check_run_iri(graph: _Graph, evaluation, recorded: list[str], kb: KnowledgeBase, info: dict,
                   findings: list[Finding]) -> None:
    """The run IRI names the run's input (facts, raw bytes, the loader's notes, the unit-spelling table),
    as-of date, content, rules and software (``run_iri_for``): a run graph renamed, or a consistent edit of
    its as-of date, facts or notes under the old name, is caught.
    (The record is not signed: an edit that also recomputes every hash and the IRI is not.)"""
    from guidelinekg.engine.reasoning import run_iri_for

    digest = recorded[0] if recorded else evaluation.input_sha256
    expected = run_iri_for(digest, evaluation.as_of, kb, info.get("software") or __version__,
                           source_sha256=recorded_source(graph), notes=evaluation.notes_sha256,
                           mapping=recorded_mapping(graph) or None)
    if graph.run != expected:
        findings.append(Finding(
            "failure", "run-iri-mismatch",
            f"the run IRI does not name what the run records (input, as-of date {evaluation.as_of}, content, "
            f"rules, software): those give {expected}; the run was renamed or edited", graph.run))


def replay(
    graph: _Graph, patients: dict, kb: KnowledgeBase, patient_shapes: CompiledShapes, info: dict,
    findings: list[Finding], recorded: dict[str, dict] | None = None,
) -> tuple[dict[str, dict], Evaluation]:
    """Check the patient shapes and evaluate again, as ``recommend`` and ``cohort`` do, with the recorded
    as-of date and engine; compare the results (``recorded``: :func:`results_of` the graph, if at hand),
    then every triple. Returns the replayed results and the evaluation."""
    from guidelinekg.engine.patientcheck import validate_patients
    from guidelinekg.provenance.record import provenance_lines
    from guidelinekg.engine.reasoning import evaluate

    checked = validate_patients([patients[p] for p in sorted(patients)], kb, patient_shapes)
    evaluation = evaluate(
        kb, checked, as_of=date.fromisoformat(info["asOf"]), engine=info.get("engine") or "oxigraph",
        source_sha256=recorded_source(graph), mapping_sha256=recorded_mapping(graph),
    )
    text = "".join(provenance_lines(evaluation)).replace(f"<{evaluation.run_iri}>", f"<{graph.run}>")
    inputs = recorded_input(graph)
    if inputs:  # the input hash has its own check (and its own finding)
        text = text.replace(evaluation.input_sha256, inputs[0])
    _check_run_iri(graph, evaluation, inputs, kb, info, findings)
    replayed = _Graph(
        GraphLoad(
            graph.run,
            "run",
            ("replay",),
            tuple(q.triple for q in ox.parse(input=text.encode(), format=ox.RdfFormat.N_TRIPLES)),
        )
    )
    recorded, replay = recorded if recorded is not None else results_of(graph), results_of(replayed)
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
    return replay, evaluation
