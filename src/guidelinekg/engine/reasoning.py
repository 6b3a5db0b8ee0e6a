"""Evaluate one patient (or a batch) against the guideline knowledge with the SPARQL rules.

Python here only prepares data the rules read (the evaluation context, time indexes, ingest notes as
warnings) and runs the rule engine; every clinical decision is made by ``queries/rules/*.rq`` over the
guideline graph.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timezone

from guidelinekg import __version__
from guidelinekg.content.resources import software_sha256
from guidelinekg.engine.knowledge import FEW_PATIENTS, KnowledgeBase
from guidelinekg.patients.model import PatientData, facts_sha256, sources_sha256
from guidelinekg.patients.ucum import spelling_table_sha256
from guidelinekg.engine.rules import run_rules
from guidelinekg.engine.store import RuleStore
from guidelinekg.engine.timeline import context_triples, time_index_triples

GKG = "https://w3id.org/guidelinekg/ontology#"
PROV = "http://www.w3.org/ns/prov#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
XSD = "http://www.w3.org/2001/XMLSchema#"


@dataclass(frozen=True)
class Evaluation:
    """A finished evaluation: the store holds knowledge, patient facts and every derived result."""

    store: RuleStore
    run_iri: str
    patient_iris: tuple[str, ...]
    as_of: date
    input_sha256: str
    started: datetime
    ended: datetime
    passes: int
    knowledge: KnowledgeBase
    engine: str
    source_sha256: str | None = None  # the raw input bytes (see patients.model.sources_sha256)
    notes_sha256: str | None = None  # the loader's notes, which no fact digest covers (None: no notes)
    mapping_sha256: str | None = None  # the unit-spelling table raw units were read with (patients.ucum)
    software_sha256: str | None = None  # the running code's own digest (content.resources.software_sha256)


def _lit(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def note_triples(patient: PatientData) -> list[str]:
    """Ingest notes become warnings of the patient, so they reach the report and the provenance."""
    lines = []
    for note in patient.notes:
        key = hashlib.sha1(f"{patient.patient_iri} {note.code} {note.record} {note.message}".encode()).hexdigest()
        w = f"<urn:guidelinekg:note:{key}>"
        lines += [
            f"{w} <{RDF_TYPE}> <{GKG}Warning> .\n",
            f"{w} <{RDF_TYPE}> <{GKG}IngestNote> .\n",
            f"{w} <{GKG}forPatient> <{patient.patient_iri}> .\n",
            f"{w} <{GKG}warningCode> {_lit(note.code)} .\n",
            f"{w} <{GKG}message> {_lit(note.message)} .\n",
        ]
        if note.record:
            lines.append(f"{w} <{GKG}aboutRecord> {_lit(note.record)} .\n")
        lines += [f"{w} <{GKG}recordMayLack> <{GKG}{cls}> .\n" for cls in note.lacks]
    return lines


def input_digest(kb: KnowledgeBase, store: RuleStore, patients: list[PatientData]) -> str:
    """:func:`facts_sha256` of the patients, read from a store holding only the knowledge and them.

    Oxigraph: the store's own serialization of the facts (already parsed for the rules) is sorted and
    hashed, as :func:`facts_sha256` does in a store of its own; blank nodes or another engine: that
    function itself.
    """
    blank_nodes = any("_:" in line for p in patients for line in p.ntriples)
    if store.name != "oxigraph" or len(patients) < FEW_PATIENTS or blank_nodes:
        return facts_sha256(patients)  # few patients: cheaper than reading the store
    lines = sorted(kb.derived_ntriples(store, patients=len(patients)).splitlines())
    return hashlib.sha256(b"".join(line + b"\n" for line in lines)).hexdigest()


def notes_sha256(patients: list[PatientData]) -> str | None:
    """SHA-256 of the loader's notes as the run records them (``None`` when there are none): a note deleted
    from a record (a ``skipped-status``, a value "treated as missing") would otherwise go unnoticed."""
    lines = sorted(line for p in patients for line in note_triples(p))
    return hashlib.sha256("".join(lines).encode()).hexdigest() if lines else None


def run_iri_for(input_sha256: str, as_of: date, kb: KnowledgeBase, software: str = __version__,
                source_sha256: str | None = None, notes: str | None = None, mapping: str | None = None) -> str:
    """Same inputs, as-of date, content, rules and software give the same run IRI (replayable,
    byte-stable); ``guidelinekg audit`` recomputes it from what the run records. The input is both the
    mapped facts and, when known, the raw bytes they were read from: two files that map to the same
    facts (one with a record the mapper skipped) are two runs."""
    key = f"{input_sha256} {as_of.isoformat()} {kb.sha256} {kb.rules.sha256} {software}"
    if source_sha256:
        key += f" {source_sha256}"
    if notes:
        key += f" notes:{notes}"
    if mapping:  # the unit-spelling table the raw units were read with: its record cannot be dropped unseen
        key += f" mapping:{mapping}"
    return "urn:guidelinekg:run:" + hashlib.sha256(key.encode()).hexdigest()[:32]


def evaluate(
    kb: KnowledgeBase,
    patients: list[PatientData],
    *,
    as_of: date,
    engine: str = "oxigraph",
    clock=lambda: datetime.now(timezone.utc),
    source_sha256: str | None = None,
    mapping_sha256: str | None = None,
) -> Evaluation:
    """Run the rules for the given patients as of ``as_of``.

    Args:
        kb: the loaded knowledge (vocabulary, guidelines, rules).
        patients: patient data, already normalised (units) and with substances recognised.
        as_of: results after this date are ignored; ages are computed on it.
        engine: ``oxigraph`` (default) or ``rdflib``.
        clock: source of the start and end times (the only fields that differ between identical runs).
        source_sha256: the digest of the raw input, when not the patients' own (an audit's replay gives
            the recorded one, since facts rebuilt from a record have no raw bytes).
        mapping_sha256: the unit-spelling table's digest, when not this process's (an audit's replay gives the
            recorded one, "" for none).

    Returns:
        An :class:`Evaluation` whose store holds every derived result.
    """
    started = clock()
    store = kb.new_store(engine)
    store.load_ntriples("".join(p.text() for p in patients))
    input_sha = input_digest(kb, store, patients)
    source_sha = source_sha256 or sources_sha256(patients)
    notes = notes_sha256(patients)
    mapping = spelling_table_sha256() if mapping_sha256 is None else mapping_sha256 or None
    run = run_iri_for(input_sha, as_of, kb, source_sha256=source_sha, notes=notes, mapping=mapping)
    store.load_ntriples("".join(line for p in patients for line in note_triples(p)))
    store.load_ntriples("".join(time_index_triples(store)))
    store.load_ntriples("".join(context_triples(as_of, run)))
    passes = run_rules(store, kb.rules)
    ended = max(clock(), started)  # a wall clock stepped back during the run never records an end before its start
    return Evaluation(
        store=store,
        run_iri=run,
        patient_iris=tuple(sorted(p.patient_iri for p in patients)),
        as_of=as_of,
        input_sha256=input_sha,
        started=started,
        ended=ended,
        passes=passes,
        knowledge=kb,
        engine=engine,
        source_sha256=source_sha,
        notes_sha256=notes,
        mapping_sha256=mapping,
        software_sha256=software_sha256(),
    )
