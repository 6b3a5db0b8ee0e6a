"""Evaluating one chunk of a cohort: the same loader, rules and report code as ``recommend``.

A chunk's patients are evaluated together in one store (one rule run), then one set of report queries
yields every patient's JSON object and the chunk's provenance
(gzip-compressed TriG). Functions here are pure (inputs in,
texts out) so local processes and Dask workers run them alike; the caller writes the files.

Each patient must get the report ``recommend`` gives for that patient alone, so:

* NDJSON lines are mapped one patient at a time (a Bundle of that patient's resources and of the export's
  Medications they name), so notes about records (an ignored type, a skipped status) stay with their patient;
  the notes of a chunk's ``#notes`` line (what the export leaves out) go to each of its patients;
* patients whose data share a node (bundles from different sources reusing ``Observation/obs-1``)
  are never put in one store: the chunk is split into groups without shared nodes, one rule run each;
* before the rules, each group's patient data are checked with the compiled patient shapes
  (:mod:`guidelinekg.engine.shapes_sparql`); every violation becomes a ``patient-data-invalid`` warning of the
  patient whose data hold the focus node, so it reaches the report, the provenance and ``summary.csv``.

A record never stops a chunk: a patient whose records make the mapping or the evaluation raise one of
:data:`DATA_ERRORS` (a ``coding`` that is a number, a 200,000-character unit) is set aside as a bad record
naming the patient and the record at fault (file and line, found by trying the records one by one), and the
other patients are evaluated as usual. Each chunk counts the patients of its input, evaluated, set aside and
missing (neither), so the run can show that no patient was dropped silently.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path

from guidelinekg.errors import ConfigurationError, GuidelineKGError, InputError
from guidelinekg.engine.knowledge import KnowledgeBase, from_payload
from guidelinekg.engine.patientcheck import _nodes, validate_patients
from guidelinekg.patients.model import PatientData
from guidelinekg.report.summary import summary_counts
from guidelinekg.content.rdffiles import write_gzip
from guidelinekg.engine.shapes_sparql import CompiledShapes, load_patient_shapes

_KB_CACHE: dict[str, KnowledgeBase] = {}
_SHAPES_CACHE: dict[str, CompiledShapes] = {}
GKG = "https://w3id.org/guidelinekg/ontology#"
# What a patient's own data can make the mapping or the evaluation raise: the patient is set aside as a bad
# record. Anything else (an AttributeError, a KeyError, an engine error) is a bug and stops the run loudly.
DATA_ERRORS = (GuidelineKGError, ValueError, TypeError, ArithmeticError, csv.Error)
MAX_ISOLATE = 64  # records tried one by one to find the one at fault
BUG_MIN_PATIENTS = 5  # all of at least this many patients of a chunk failing alike is a bug


@dataclass
class ChunkResult:
    """One chunk's output: reports (JSON Lines), provenance (gzip TriG) and its summary counts."""

    name: str
    jsonl: str
    trig_gz: bytes
    patients: int
    bad_records: list[dict] = field(default_factory=list)
    counts: list[tuple[str, str, int]] = field(default_factory=list)
    found: int = 0  # patients in the chunk's input: evaluated (``patients``), set aside, or missing
    set_aside: int = 0  # patients not evaluated, each with a bad record naming it
    missing: list[str] = field(default_factory=list)  # patients with neither a report nor a bad record


def knowledge_for(payload: dict | KnowledgeBase) -> KnowledgeBase:
    """The knowledge base for a payload, built once per worker process."""
    if isinstance(payload, KnowledgeBase):
        return payload
    key = payload["key"]
    if key not in _KB_CACHE:
        _KB_CACHE[key] = from_payload(payload)
    return _KB_CACHE[key]


def shapes_for(payload: dict | KnowledgeBase) -> CompiledShapes:
    """The compiled patient shapes shipped in the payload (or the shipped ``shapes/patient.ttl``)."""
    shapes = payload.get("patient_shapes") if isinstance(payload, dict) else None
    if isinstance(shapes, CompiledShapes):
        return shapes
    if "shipped" not in _SHAPES_CACHE:
        _SHAPES_CACHE["shipped"] = load_patient_shapes()
    return _SHAPES_CACHE["shipped"]


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object whose keys are distinct: ``"value": 45, "value": 450`` is not read as 450."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"duplicate key {twice!r} in one JSON object")
    return obj


def _decimal_json(line: str):
    return json.loads(line, parse_float=Decimal, parse_int=Decimal, object_pairs_hook=_unique_keys)


def _detail(exc: BaseException) -> str:
    """An exception as one short line: a record's own text (a 200,000-character unit) is not repeated whole."""
    text = " ".join(str(exc).split())
    if not isinstance(exc, GuidelineKGError):
        text = f"{type(exc).__name__}: {text}"
    return text if len(text) <= 300 else text[:297] + "..."


def split_origin(line: str, name: str) -> tuple[tuple[str, int | None], str]:
    """A chunk line's origin (input file and line, prefixed by :mod:`guidelinekg.cohort.partition` as
    ``["Observation.ndjson", 12]<TAB>``) and its record; a line without a prefix comes from ``name``.

    >>> split_origin('["Observation.ndjson", 12]\\t{"id": "o"}', "chunk-000001.ndjson")
    (('Observation.ndjson', 12), '{"id": "o"}')
    >>> split_origin('{"id": "o"}', "chunk-000001.ndjson")
    (('chunk-000001.ndjson', None), '{"id": "o"}')
    """
    if line.startswith('["'):
        head, _, body = line.partition("\t")
        try:
            file, number = json.loads(head)
            return (str(file), number if isinstance(number, int) else None), body
        except (ValueError, TypeError):
            pass
    return (name, None), line


@dataclass
class Unit:
    """One patient's input in a chunk: its NDJSON records (origin, resource; none for a bundle file or
    patient RDF) and where the patient itself is (its Patient line, its bundle file, its RDF file)."""

    ref: str
    origin: tuple[str, int | None]
    records: list[tuple[tuple[str, int | None], dict]] = field(default_factory=list)
    build: object = None  # records (or None: all of them) -> PatientData
    raw: list[str] = field(default_factory=list)  # the records' lines as the input wrote them
    problem: tuple | None = None  # (origin, error) of a record of this patient that could not be read


def set_aside(unit: Unit, origin: tuple[str, int | None], exc: BaseException, stage: str) -> dict:
    """The bad record of a patient that is not evaluated: the record at fault, the patient, and why."""
    return {"file": origin[0], "line": origin[1], "patient": unit.ref,
            "reason": f"{unit.ref} not evaluated: {stage}: {_detail(exc)}"}


def culprit(unit: Unit, attempt) -> tuple[tuple[str, int | None], BaseException] | None:
    """The record of an NDJSON patient whose presence makes ``attempt(records)`` fail: the Patient record
    alone, else the Patient with each other record (at most :data:`MAX_ISOLATE` tries)."""
    patient = [r for r in unit.records if r[1].get("resourceType") == "Patient"][:1]
    others = [r for r in unit.records if not any(r is p for p in patient)]
    for tried in [patient, *([*patient, r] for r in others[:MAX_ISOLATE])]:
        try:
            attempt(tried)
        except DATA_ERRORS as exc:
            return tried[-1][0] if tried else unit.origin, exc
    return None


def _ndjson_units(text: str, kb: KnowledgeBase, name: str, bad: list[dict]) -> list[Unit]:
    """One unit per patient from the chunk's lines (all of them routed to a known patient), in line order,
    each with the Medications its records name (one that cannot be read: the patient is set aside)."""
    from guidelinekg.cohort.export import medication_key
    from guidelinekg.cohort.partition import _patient_ref, record_owner
    from guidelinekg.patients.fhir import patients_from_json
    from guidelinekg.patients.model import IngestNote
    from guidelinekg.patients.units import normalise

    units: dict[str, Unit] = {}
    shared: dict[str, list | tuple] = {}  # Medication/id -> [(origin, resource, line)], or (origin, error)
    notes: list[IngestNote] = []
    for line in text.split("\n"):  # not splitlines(): U+2028 and the like may be inside a JSON string
        if line.startswith("#notes\t"):
            notes += [IngestNote(code, message, None, tuple(lacks))
                      for code, message, lacks in json.loads(line.partition("\t")[2])]
        if not line.strip() or line.startswith("#"):
            continue
        origin, body = split_origin(line, name)
        try:
            resource = _decimal_json(body)
            kind = resource.get("resourceType")
            ref = f"{kind}/{resource['id']}" if kind in ("Patient", "Medication") else _patient_ref(resource)
        except (*DATA_ERRORS, KeyError, AttributeError, RecursionError) as exc:
            owner = record_owner(body)
            if owner is not None and owner.startswith("Medication/"):  # their patients are set aside, by it
                shared[owner] = (origin, exc)
                continue
            if owner is not None:  # readable enough to know whose it is: that patient is set aside
                units.setdefault(owner, Unit(owner, origin)).problem = (origin, exc)
            bad.append({"file": origin[0], "line": origin[1], "reason": f"malformed record: {_detail(exc)}"})
            continue
        if kind == "Medication":
            if isinstance(shared.setdefault(str(ref), []), list):
                shared[str(ref)].append((origin, resource, body))
            continue
        unit = units.setdefault(str(ref), Unit(str(ref), origin))
        if kind == "Patient":
            unit.origin = origin
        unit.records.append((origin, resource))
        unit.raw.append(body)
    for unit in units.values():
        for key in sorted({k for _, r in unit.records if (k := medication_key(r)) in shared}):
            if isinstance(shared[key], tuple):
                unit.problem = unit.problem or shared[key]
                continue
            unit.records += [(origin, resource) for origin, resource, _ in shared[key]]
            unit.raw += [body for _, _, body in shared[key]]

    def builder(unit: Unit):
        def build(records=None) -> PatientData:
            chosen = unit.records if records is None else records
            bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for _, r in chosen]}
            found = patients_from_json(bundle, source=f"{name} ({unit.ref})", matcher=kb.matcher,
                                       reads=kb.reads)
            if len(found) != 1:
                raise InputError(f"the records map to {len(found)} patients, not one")
            patient = normalise(found[0], kb.measures)
            patient = patient.extended((), notes) if notes else patient  # what the export leaves out
            if records is None:  # the raw lines of all its records: what the run's IRI also names
                raw = "".join(line + "\n" for line in unit.raw).encode("utf-8")
                patient = replace(patient, source_sha256=hashlib.sha256(raw).hexdigest())
            return patient
        return build

    for unit in units.values():
        unit.build = builder(unit)
    return list(units.values())


def _rdf_units(text: str, kb: KnowledgeBase, name: str) -> list[Unit]:
    """One unit per patient of an N-Triples chunk: a ``# patient <IRI> FILE`` comment, then its lines."""
    from guidelinekg.patients.units import normalise

    sections: list[tuple[str, str, list[str]]] = []
    for line in text.split("\n"):
        if line.startswith("# patient "):
            iri, _, file = line[len("# patient "):].partition(" ")
            sections.append((iri.strip("<>"), file or name, []))
        elif line.strip() and sections:
            sections[-1][2].append(line)
    units = []
    for iri, file, owned in sections:
        def build(records=None, iri=iri, owned=owned) -> PatientData:
            return normalise(kb.matcher.match_product_texts(PatientData.build(iri, owned)), kb.measures)
        units.append(Unit(iri, (file, None), build=build))
    return units


def load_units(kind: str, text: str, kb: KnowledgeBase, name: str) -> tuple[list[tuple[Unit, PatientData]], list[dict]]:
    """Each patient of a chunk with its data, normalised; a patient whose records cannot be mapped is set
    aside as a bad record (of the record at fault, found by :func:`culprit`), never a crash of the chunk."""
    from guidelinekg.patients.loader import load_patient_input

    bad: list[dict] = []
    if kind == "ndjson":
        units = _ndjson_units(text, kb, name, bad)
    elif kind == "bundles":
        units = [Unit(path, (path, None), build=lambda records=None, path=path: load_patient_input(
            Path(path), matcher=kb.matcher, measures=kb.measures, reads=kb.reads))
            for path in json.loads(text)]
    else:
        units = _rdf_units(text, kb, name)
    loaded = []
    failures: list[BaseException] = []
    for unit in units:
        if unit.problem is not None:  # evaluated without one of its records, it would rest on older data
            bad.append(set_aside(unit, *unit.problem, "one of its records cannot be read"))
            continue
        try:
            loaded.append((unit, unit.build()))
        except DATA_ERRORS as exc:
            failures.append(exc)
            if kind == "bundles" and isinstance(exc, GuidelineKGError):  # the file's own error says where
                bad += _bundle_set_aside(unit.ref, exc)
                continue
            hit = culprit(unit, unit.build) if unit.records else None
            origin, cause = hit if hit else (unit.origin, exc)
            bad.append(set_aside(unit, origin, cause, "its records cannot be read"))
    _refuse_a_bug(name, failures, len(units))
    return loaded, bad


def _bundle_set_aside(path: str, exc: GuidelineKGError) -> list[dict]:
    """The bad records of a bundle file that cannot be evaluated: one per Patient when it holds several (each
    a patient found in the input), else one for the file, with its error."""
    from guidelinekg.cohort.partition import _bundle_contents

    ids = list(dict.fromkeys(_bundle_contents(Path(path))[0]))
    if len(ids) < 2:
        return [{"file": path, "line": None, "patient": path, "reason": str(exc)}]
    listed = ", ".join(f"Patient/{i}" for i in ids)
    return [{"file": path, "line": None, "patient": f"{path} (Patient/{i})",
             "reason": f"Patient/{i} not evaluated: {Path(path).name} holds {len(ids)} Patients ({listed}); "
                       "a bundle of a cohort is one patient's record: split it into one bundle per patient"}
            for i in ids]


def _refuse_a_bug(name: str, failures: list[BaseException], total: int) -> None:
    """Every patient of a chunk (at least :data:`BUG_MIN_PATIENTS`) failing with the same exception, one that
    is not a library error about the input, is a bug of the code rather than bad records: stop loudly.

    Raises:
        ConfigurationError: naming the chunk and the error.
    """
    kinds = {(type(e), str(e)[:100]) for e in failures}
    if total >= BUG_MIN_PATIENTS and len(failures) == total and len(kinds) == 1 \
            and not isinstance(failures[0], GuidelineKGError):
        raise ConfigurationError(f"{name}: all {total} patients failed the same way ({_detail(failures[0])}): "
                                 "a bug of guidelinekg rather than bad records; please report it")


def load_chunk(kind: str, text: str, kb: KnowledgeBase, name: str) -> tuple[list[PatientData], list[dict]]:
    """Patients of one chunk, normalised; records that cannot be mapped become bad records."""
    loaded, bad = load_units(kind, text, kb, name)
    return [patient for _, patient in loaded], bad


def disjoint_groups(patients: list[PatientData]) -> list[list[PatientData]]:
    """Split patients into groups in which no two share a subject node (first fit, order kept).

    >>> a = PatientData.build("urn:a", ["<urn:a> <urn:p> <urn:x> .", "<urn:o> <urn:s> <urn:a> ."])
    >>> b = PatientData.build("urn:b", ["<urn:b> <urn:p> <urn:x> .", "<urn:o> <urn:s> <urn:b> ."])
    >>> c = PatientData.build("urn:c", ["<urn:c> <urn:p> <urn:x> ."])
    >>> [[p.patient_iri for p in g] for g in disjoint_groups([a, b, c])]
    [['urn:a', 'urn:c'], ['urn:b']]
    """
    groups: list[tuple[list[PatientData], set[str]]] = []
    for patient in patients:
        nodes = _nodes(patient)
        for members, used in groups:
            if used.isdisjoint(nodes):
                members.append(patient)
                used |= nodes
                break
        else:
            groups.append(([patient], nodes))
    return [members for members, _ in groups]


def _evaluate_group(group: list[PatientData], kb: KnowledgeBase, shapes, as_of: date, version):
    from guidelinekg.engine.reasoning import evaluate
    from guidelinekg.provenance.record import provenance_trig
    from guidelinekg.report.patient import build_reports

    evaluation = evaluate(kb, validate_patients(group, kb, shapes), as_of=as_of)
    reports = build_reports(evaluation, version)
    lines = [(p, json.dumps(reports[p], ensure_ascii=False, sort_keys=True) + "\n") for p in reports]
    return lines, list(reports.values()), provenance_trig(evaluation)


def evaluate_chunk(name: str, kind: str, text: str, as_of: date, payload, version_selector: str | None) -> ChunkResult:
    """Evaluate one chunk; return its JSON Lines (one report per patient) and its provenance (TriG).

    A patient whose data make the evaluation fail (:data:`DATA_ERRORS`) is set aside as a bad record and the
    others of its group are evaluated again without it; any other exception is a bug and propagates."""
    kb = knowledge_for(payload)
    shapes = shapes_for(payload)
    version = kb.version(version_selector)
    loaded, bad = load_units(kind, text, kb, name)
    found = len(loaded) + sum("patient" in b for b in bad)  # every patient of the chunk's input
    unit_of = {id(patient): unit for unit, patient in loaded}
    lines: list[tuple[str, str]] = []
    trig: list[bytes] = []
    all_reports: list[dict] = []

    failures: list[BaseException] = []

    def alone(patient: PatientData, outputs: list) -> None:
        unit = unit_of[id(patient)]
        try:
            outputs.append(_evaluate_group([patient], kb, shapes, as_of, version))
        except DATA_ERRORS as exc:
            failures.append(exc)
            hit = culprit(unit, lambda records: _evaluate_group(
                [unit.build(records)], kb, shapes, as_of, version)) if unit.records else None
            origin, cause = hit if hit else (unit.origin, exc)
            bad.append(set_aside(unit, origin, cause, "its evaluation failed"))

    for group in disjoint_groups([patient for _, patient in loaded]):
        outputs: list = []
        try:
            outputs.append(_evaluate_group(group, kb, shapes, as_of, version))
        except DATA_ERRORS:
            for patient in group:  # find the patient at fault; the others are evaluated all the same
                alone(patient, outputs)
        for group_lines, reports, group_trig in outputs:
            lines += group_lines
            all_reports += reports
            trig.append(group_trig)
    _refuse_a_bug(name, failures, len(loaded))
    jsonl = "".join(line for _, line in sorted(lines))
    aside = {b["patient"] for b in bad if "patient" in b}
    reported = {p for p, _ in lines}
    missing = sorted(p.patient_iri for u, p in loaded if p.patient_iri not in reported and u.ref not in aside)
    return ChunkResult(name, jsonl, write_gzip(b"".join(trig)), len(lines), bad, summary_counts(all_reports),
                       found=found, set_aside=sum("patient" in b for b in bad), missing=missing)
