"""Cohort input: split a population into chunks of patients, streaming, with bad records set aside.

Three layouts are accepted (detected from the path):
- a directory of FHIR Bulk Data NDJSON files in the ``$export`` layout (``Patient.ndjson``,
  ``Observation.ndjson``, split files such as ``Patient_2.ndjson``, an ``$export`` manifest; which files are
  read is :mod:`guidelinekg.cohort.export`'s): lines are routed to the chunk of their patient; memory holds
  only the patient -> chunk map and a bounded write buffer, so it stays flat as the cohort grows; the
  export's Medications go to each chunk whose records name them (``medicationReference``);
- a directory of FHIR R4 JSON Bundles (``*.json``): each bundle file is one patient's unit of work (one of
  several Patients is set aside, each counted); a bundle of shared resources only (Synthea's
  ``hospitalInformation*.json``), or one such resource (Synthea's ``groupInformation*.json``, a Group of
  the patients), is counted in ``skipped_types`` and listed, not evaluated;
- patient RDF (a ``.ttl``/``.nt``/``.jsonld`` file or a directory of them), split by ``gkg:subject``.

Any of these files may be gzip-compressed (``Observation.ndjson.gz``). Files of the input directory that
are not read are listed (``ignored_files`` in the summary), so none is left out silently. Bad records (a
malformed, non-UTF-8 or over-long line, JSON that is no resource (:mod:`guidelinekg.cohort.records` says what
it is), a resource without a subject, a reference to an unknown patient, a second record of the same patient,
the unreadable rest of a corrupt ``.gz``) are written to ``bad-records.jsonl`` with file and line and counted;
they never stop the run. NDJSON OperationOutcomes (a server's error file) are counted and warned of, not bad.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from guidelinekg.cohort import export, exportscope
from guidelinekg.cohort.records import BadRecord, parse_resource
from guidelinekg.content.rdffiles import MAX_LINE, open_input, record_lines
from guidelinekg.errors import InputError, no_such_path

RDF_SUFFIXES = (".ttl", ".nt", ".jsonld", ".json-ld")
BUNDLE_SUFFIXES = (".json", ".json.gz")
_READ_ERRORS = (OSError, EOFError)  # rdffiles.open_input turns corrupt gzip data into OSError
SUBJECT_FIELDS = ("subject", "patient")
# Resource types without a patient; counted and skipped, not bad records (an NDJSON Medication a record names: used)
SHARED_TYPES = ("Medication", "Organization", "Practitioner", "PractitionerRole", "Location", "Device", "Group")
FLUSH_LINES = 200_000


@dataclass
class Partition:
    """What the preparation pass produced; saved as the run manifest."""

    kind: str
    chunks: list[str]
    patients: int
    bad_records: int = 0
    skipped_types: dict[str, int] = field(default_factory=dict)
    ignored_files: list[str] = field(default_factory=list)
    shared_bundles: list[str] = field(default_factory=list)  # bundles of shared resources only, not evaluated
    warnings: list[str] = field(default_factory=list)
    export: dict = field(default_factory=dict)  # the $export manifest, when the input has one

    def to_json(self) -> dict:
        return asdict(self)


def _named(path: Path, suffixes: tuple[str, ...]) -> bool:
    return path.name.endswith(suffixes)


def _files(directory: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and _named(p, suffixes))


def detect_kind(path: Path) -> str:
    """``ndjson``, ``bundles`` or ``rdf``, from what the path holds."""
    if path.is_dir():
        if _files(path, export.NDJSON_SUFFIXES) or export.find_manifest(path):
            return "ndjson"
        if _files(path, BUNDLE_SUFFIXES):
            return "bundles"
        if any(p.suffix in RDF_SUFFIXES for p in path.iterdir()):
            return "rdf"
        raise InputError(f"{path}: no *.ndjson, *.json bundles or RDF files in this directory")
    if path.is_file():
        if _named(path, export.NDJSON_SUFFIXES) or export.MANIFEST_NAME.fullmatch(path.name):
            raise InputError(f"{path}: give the directory of the Bulk Data export, not one of its files")
        if path.suffix in RDF_SUFFIXES:
            return "rdf"
        if _named(path, BUNDLE_SUFFIXES):
            return "bundles"
        raise InputError(f"{path}: not a Bulk Data export directory, a FHIR bundle (.json) or patient RDF",
                         hint=f"patient RDF ends in {', '.join(RDF_SUFFIXES)}")
    raise no_such_path(path)


def input_fingerprint(path: Path) -> str:
    """What identifies the input for ``--resume``: the name, size and modification time of each file
    (of the directory, or the file itself). Cheap at any size; a changed, added or removed file shows."""
    try:
        files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        digest = hashlib.sha256()
        for f in files:
            stat = f.stat()
            digest.update(f"{f.name} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    except FileNotFoundError:
        raise no_such_path(path) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the input: {exc.strerror or exc}") from None
    return digest.hexdigest()


def _ignored(directory: Path, read: list[Path]) -> list[str]:
    """Names of the directory's files that are not read."""
    if not directory.is_dir():
        return []
    taken = set(read)  # once: a directory of a million bundles is read in one pass
    return sorted(p.name for p in directory.iterdir() if p.is_file() and p not in taken)


def _records(path: Path, bad: list[BadRecord], lines: Counter) -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-blank line, counted in ``lines`` by file name; bad records as the
    module docstring says (what came before the unreadable rest of a file is kept)."""
    number = 0
    try:
        with open_input(path) as handle:
            for number, raw in enumerate(record_lines(handle), 1):  # LF, CRLF or a lone CR
                lines[path.name] += raw is None or bool(raw.strip())
                if raw is None:
                    bad.append(BadRecord(path.name, number, f"a line of more than {MAX_LINE >> 20} MiB: not read"))
                    continue
                try:
                    line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    bad.append(BadRecord(path.name, number, f"not UTF-8 text (bad byte at column {exc.start + 1})"))
                    continue
                if line.strip():
                    yield number, line
    except _READ_ERRORS as exc:
        bad.append(BadRecord(path.name, number + 1, f"cannot read the file from this line on: {exc}"))


def _subject(resource: dict) -> str | None:  # the reference to the record's patient, as written
    for name in SUBJECT_FIELDS:
        ref = resource.get(name)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            return ref["reference"]
    return None


def _patient_ref(resource: dict) -> str | None:
    """The record's patient as ``Patient/id`` (absolute or versioned too: :func:`export.reference_key`)."""
    ref = _subject(resource)
    return export.reference_key(ref) if ref else None


def record_owner(body: str) -> str | None:
    """The patient a record that failed the strict reading names (its ``Patient/id`` or subject), if a
    lenient reading finds one: a duplicate key or an unusable value still says whose record it is."""
    try:
        resource = json.loads(body)
        if resource.get("resourceType") in ("Patient", "Medication"):
            return f"{resource['resourceType']}/{resource['id']}" if isinstance(resource.get("id"), str) else None
        ref = _patient_ref(resource)
        return str(ref) if ref else None
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None


class _ChunkWriter:
    """Appends lines to chunk files with a bounded in-memory buffer."""

    def __init__(self, directory: Path, notes: list[tuple[str, str, tuple[str, ...]]] = ()):
        self.directory = directory
        self.header = "#notes\t" + json.dumps(list(notes)) + "\n" if notes else ""  # every patient's notes
        self.buffers: dict[int, list[str]] = defaultdict(list)
        self.buffered = 0

    def path(self, index: int) -> Path:
        return self.directory / f"chunk-{index:06d}.ndjson"

    def add(self, index: int, line: str, origin: tuple[str, int]) -> None:
        """Queue ``line`` for chunk ``index``, prefixed with its origin (``["FILE", LINE]<TAB>``) so that a
        record found bad while its chunk is evaluated is still reported by input file and line."""
        record = line if line.endswith("\n") else line + "\n"
        self.buffers[index].append(json.dumps(list(origin)) + "\t" + record)
        self.buffered += 1
        if self.buffered >= FLUSH_LINES:
            self.flush()

    def flush(self) -> None:
        for index, lines in self.buffers.items():
            new = not self.path(index).exists()
            with self.path(index).open("a", encoding="utf-8") as handle:
                handle.write(self.header if new else "")
                handle.writelines(lines)
        self.buffers.clear()
        self.buffered = 0


class _Router:
    """Routes NDJSON records to their patient's chunk: a Patient opens its patient (in the order met), any other
    record goes to its subject's chunk; Medications wait for the chunks naming them; other shared types are counted."""

    def __init__(self, writer: _ChunkWriter, chunk_size: int, bad: list[BadRecord]):
        self.writer, self.chunk_size, self.bad = writer, chunk_size, bad
        self.medications = export.SharedMedications(writer.directory / "medications.ndjson")
        self.chunk_of: dict[str, int] = {}
        self.skipped: Counter = Counter()
        self.outcomes: Counter = Counter()  # OperationOutcome lines by file
        self.patient_lines = 0  # Patient records met, usable or not

    def route(self, line: str, name: str, number: int, file_type: str | None, final: bool) -> bool:
        """Route one record; ``False`` when its patient is not known yet (and ``final`` is not set)."""
        resource, kind = parse_resource(line, "Patient record" if file_type == "Patient" else "JSON line")
        if resource is None:  # kind: why it is no resource, in words
            self.bad.append(BadRecord(name, number, kind))
            return True
        if kind == "Patient":
            self.patient_lines += 1
            pid = resource.get("id")
            if not isinstance(pid, str) or not pid:
                self.bad.append(BadRecord(name, number, "malformed Patient record: not a Patient with an id"))
            elif f"Patient/{pid}" in self.chunk_of:
                self.bad.append(BadRecord(name, number, f"duplicate Patient/{pid}"))
            else:
                index = len(self.chunk_of) // self.chunk_size + 1
                self.chunk_of[f"Patient/{pid}"] = index
                self.writer.add(index, line, (name, number))
            return True
        if kind == "Medication":
            self.medications.add(resource, line, (name, number))
            return True
        ref = None if kind in SHARED_TYPES else _patient_ref(resource)
        index = self.chunk_of.get(ref) if ref else None
        if kind in SHARED_TYPES:
            self.skipped[kind] += 1
        elif kind == "OperationOutcome":  # the server's messages (an export's error file): no patient's
            self.skipped[kind] += 1
            self.outcomes[name] += 1
        elif ref is None:
            self.bad.append(BadRecord(name, number, f"{kind} without a subject"))
        elif index is not None:
            self.writer.add(index, line, (name, number))
            self.medications.want(index, resource)
        elif not final:
            return False
        else:
            self.bad.append(BadRecord(name, number, f"{kind} refers to an unknown patient {_subject(resource)!r}"))
        return True


def partition_ndjson(source: Path, work: Path, chunk_size: int, bad: list[BadRecord], kb=None,
                     as_of: date | None = None) -> Partition:
    """Route every NDJSON line of the export's files (:func:`guidelinekg.cohort.export.plan_export`: every
    file of every type, however the server named it, Patient files first) to its patient's chunk file under
    ``work``, each by its own ``resourceType``. A record whose patient is not known yet (its Patient is
    later in a file that mixes types, or in a file named for another type) waits in ``work/deferred.ndjson``
    and is routed once every file is read; only then is a patient not in the export a bad record. Each chunk
    gets the Medications its records name; what the request leaves out is noted (:func:`exportscope.scope_notes`)."""
    plan = export.plan_export(source)
    scope = exportscope.scope_notes(plan.manifest, kb, plan.severe_errors, as_of)
    work.mkdir(parents=True, exist_ok=True)
    notes = [(exportscope.INCOMPLETE, note, lacks) for _, note, lacks in scope if note]
    router = _Router(_ChunkWriter(work, notes), chunk_size, bad)
    lines: Counter = Counter()
    deferred = work / "deferred.ndjson"
    with deferred.open("w", encoding="utf-8") as waiting:
        for f in plan.files:
            for number, line in _records(f.path, bad, lines):
                if not router.route(line, f.path.name, number, f.type, final=False):
                    waiting.write(json.dumps([f.path.name, number, f.type, line]) + "\n")
    with deferred.open(encoding="utf-8") as waiting:
        for entry in waiting:  # ASCII JSON, one per line
            name, number, file_type, line = json.loads(entry)
            router.route(line, name, number, file_type, final=True)
    deferred.unlink()
    router.skipped["Medication"] += router.medications.deliver(router.writer.add)
    router.writer.flush()
    if not router.patient_lines:
        raise InputError(f"{source}: no Patient resource in any of the {len(plan.files)} file(s) read: no record "
                         "has a patient", hint="an export has Patient.ndjson (or Patient_2.ndjson, 1.Patient.ndjson...)")
    order = {f.path.name: i for i, f in enumerate(plan.files)}
    bad.sort(key=lambda b: (order.get(b.file, len(order)), b.line or 0))  # by file and line, deferred ones too
    count = len(router.chunk_of)
    chunks = [router.writer.path(i).name for i in range(1, (count + chunk_size - 1) // chunk_size + 1)]
    warnings, manifest = export.checked_counts(plan, lines)
    warnings += [f"{file}: {n} OperationOutcome record(s), the server's messages about the export: resources it "
                 "could not export are not in this input; not read as patient data" for file, n in router.outcomes.items()]
    return Partition("ndjson", chunks, count, len(bad), dict(sorted((+router.skipped).items())), plan.ignored,
                     warnings=warnings + [warning for warning, *_ in scope if warning], export=manifest)


def _bundle_contents(path: Path) -> tuple[list[str], Counter]:
    """The ids of the Patient resources in a bundle file and its resources by type; none when it cannot be
    read (its evaluation reports why)."""
    try:
        with open_input(path) as handle:
            doc = json.loads(handle.read().decode("utf-8-sig"))
    except (*_READ_ERRORS, ValueError, RecursionError):
        return [], Counter()
    entries = doc.get("entry") if isinstance(doc, dict) else None
    resources = [e.get("resource") for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
    if isinstance(doc, dict) and doc.get("resourceType") != "Bundle":  # one bare resource (Synthea's Group file)
        resources = [doc]
    types = Counter(r.get("resourceType") for r in resources if isinstance(r, dict))
    return [r["id"] for r in resources if isinstance(r, dict) and r.get("resourceType") == "Patient"
            and isinstance(r.get("id"), str)], types


def partition_bundles(source: Path, work: Path, chunk_size: int, bad: list[BadRecord]) -> Partition:
    """Group bundle files into chunks (one JSON list of paths per chunk). A bundle whose patient an
    earlier file already holds is a bad record (as a second Patient line in NDJSON): each patient is
    evaluated once, from one file; one of several Patients counts each (its chunk sets each aside, saying
    why), held by none. A bundle of shared resources only (:data:`SHARED_TYPES`, no Patient:
    Synthea's ``hospitalInformation*.json`` and ``practitionerInformation*.json``), or a file of one such
    resource (Synthea's ``groupInformation*.json``, a bare Group), is part of the export, not a patient: its
    resources are counted in ``skipped_types`` and its name listed in ``shared_bundles``."""
    files = _files(source, BUNDLE_SUFFIXES) if source.is_dir() else [source]
    first: dict[str, str] = {}
    kept = []
    found = 0
    shared: list[str] = []
    skipped: Counter = Counter()
    for f in files:
        ids, types = _bundle_contents(f)
        ids = list(dict.fromkeys(ids))  # copies of one Patient are one patient (the Bundle reader decides)
        if not ids and types and all(t in SHARED_TYPES for t in types):
            shared.append(f.name)
            skipped.update(types)
            continue
        seen = [i for i in ids if i in first] if len(ids) < 2 else []
        if seen:
            bad.append(BadRecord(f.name, None, f"duplicate Patient/{seen[0]} (also in {first[seen[0]]}); not evaluated"))
            continue
        first.update((i, f.name) for i in ids if len(ids) < 2)
        kept.append(f)
        found += max(1, len(ids))  # a file without a readable Patient is one unit, set aside as one
    work.mkdir(parents=True, exist_ok=True)
    chunks = []
    for start in range(0, len(kept), chunk_size):
        name = f"chunk-{start // chunk_size + 1:06d}.json"
        (work / name).write_text(json.dumps([str(f.resolve()) for f in kept[start:start + chunk_size]]))
        chunks.append(name)
    return Partition("bundles", chunks, found, len(bad), dict(sorted(skipped.items())),
                     _ignored(source, files), shared_bundles=shared)


def partition_rdf(source: Path, work: Path, chunk_size: int, bad: list[BadRecord]) -> Partition:
    """Split patient RDF by patient: each chunk is N-Triples, each patient's lines after a ``# patient <IRI>
    FILE`` comment naming its file. A file is read as ``recommend`` reads it
    (:func:`~guidelinekg.patients.loader.rdf_patients`: a file of one patient is all of it, blank nodes
    skolemized the same way), so a cohort gives each patient the report ``recommend`` gives. A file that
    cannot be read, a patient that is a blank node (no IRI to report it by) and a patient already met in an
    earlier file are bad records."""
    from guidelinekg.patients.loader import rdf_patients

    files = sorted(p for p in source.iterdir() if p.is_file() and p.suffix in RDF_SUFFIXES) if source.is_dir() else [source]
    found: dict[str, tuple[str, list[str]]] = {}
    for f in files:
        try:
            patients, blank = rdf_patients(f)
        except InputError as exc:
            bad.append(BadRecord(f.name, exc.location.line if exc.location else None,
                                 f"{exc.message}; none of this file is evaluated"))
            continue
        if blank:
            bad.append(BadRecord(f.name, None, f"{blank} Patient(s) that are blank nodes (give each an IRI); "
                                               "not evaluated"))
        for iri, lines in patients:
            if iri in found:
                bad.append(BadRecord(f.name, None, f"duplicate <{iri}> (also in {found[iri][0]}); not evaluated "
                                                   "from this file"))
            else:
                found[iri] = (f.name, lines)
    patients = sorted(found)
    work.mkdir(parents=True, exist_ok=True)
    chunks = []
    for start in range(0, len(patients), chunk_size):
        text = "".join(f"# patient <{p}> {found[p][0]}\n" + "".join(line + "\n" for line in sorted(set(found[p][1])))
                       for p in patients[start:start + chunk_size])
        name = f"chunk-{start // chunk_size + 1:06d}.nt"
        (work / name).write_text(text, encoding="utf-8")
        chunks.append(name)
    return Partition("rdf", chunks, len(patients), len(bad), ignored_files=_ignored(source, files))


def prepare(source: Path, work: Path, chunk_size: int, kb=None,
            as_of: date | None = None) -> tuple[Partition, list[BadRecord]]:
    """Chunk files of the input under ``work``; the partition, the bad records (``kb`` and ``as_of``:
    :func:`exportscope.scope_notes`)."""
    kind = detect_kind(source)
    bad: list[BadRecord] = []
    if kind == "ndjson":
        partition = partition_ndjson(source, work, chunk_size, bad, kb, as_of)
    elif kind == "bundles":
        partition = partition_bundles(source, work, chunk_size, bad)
    else:
        partition = partition_rdf(source, work, chunk_size, bad)
    return partition, bad
