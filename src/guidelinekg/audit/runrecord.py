"""A cohort's own account of its run (``manifest.json``, ``run.json``) against its provenance and files.

``cohort`` always writes, in its ``--out`` directory, ``manifest.json`` (the input, as-of date, content and
rule hashes, software, and the partition: patients found, bad records, chunks), ``run.json`` (as-of date,
patients evaluated, found, set aside and unaccounted, bad records, chunks), ``summary.csv``,
``bad-records.jsonl``, ``results.jsonl`` and ``provenance.trig.gz``. The audit relies on each of them, so a
cohort directory (its provenance is ``provenance.trig.gz`` beside any of the files ``cohort`` writes) missing
one fails: ``manifest-missing``, ``run-record-missing`` (and, for the others, the codes of
:mod:`guidelinekg.audit.cohort`). Without the manifest nothing says how many patients the input held, so a
chunk removed from the provenance, the results and the summary alike would go unseen.

Every field that can be checked is compared with what the provenance and the other files show:
``run-record-differs`` names the file, the field and both values. The manifest's as-of date and software
against each run's; its ``content_sha256`` and ``rules_sha256`` against the hashes of the content files and
rules each run records (computed as the cohort computes them); the patients it found less those set aside
(the patients ``bad-records.jsonl`` lines name) against the patients the runs record (``runs-missing``);
its bad records against ``bad-records.prepare.jsonl``. The set-aside patients by identity: each named once,
and none a patient the runs record as evaluated. ``run.json``'s as-of date against the runs', its patients
against the patients recorded, its bad records and ``bad_records_sha256`` against ``bad-records.jsonl``
(which the provenance does not hold: the digest, recorded when the cohort wrote the file, makes an edit of
any bad record's file, line, patient or reason fail, and with the file's first lines being
``bad-records.prepare.jsonl``'s, an edit of that file too), its patients found, input kind, chunks and the
partition's notes against the manifest, its patients set aside and unaccounted against the files. Every other field, and the fields themselves (none added, none absent), are checked
by :mod:`guidelinekg.audit.runfields`, which says what cannot be checked and why (paths, timings, the input's
file list). The input itself is not at hand, so a consistent edit of every file cannot be told from a run.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from guidelinekg.audit.recorded import Finding
from guidelinekg.audit.runfields import check_fields
from guidelinekg.audit.shown import shown_pair
from guidelinekg.audit.verdicts import RunAudit
from guidelinekg.patients.model import IRI_PREFIX
from guidelinekg.provenance.inputs import COHORT_PROVENANCE

MANIFEST, RUN_RECORD, BAD_RECORDS, PREPARE_BAD = "manifest.json", "run.json", "bad-records.jsonl", \
    "bad-records.prepare.jsonl"
# files and folders only a cohort --out directory holds (the marker, then what every run writes)
COHORT_MARKERS = (".guidelinekg-cohort", MANIFEST, RUN_RECORD, "results.jsonl", "summary.csv", BAD_RECORDS,
                  PREPARE_BAD, "chunks")
FILE_PREFIX = "urn:guidelinekg:file:"
LABEL, SHA256 = "http://www.w3.org/2000/01/rdf-schema#label", "https://w3id.org/guidelinekg/ontology#sha256"
# run.json fields copied from the manifest's partition (run.json name, partition name)
_FROM_PARTITION = (("patients_found", "patients"), ("input_kind", "kind"), ("skipped_types", "skipped_types"),
                   ("ignored_files", "ignored_files"), ("shared_bundles", "shared_bundles"),
                   ("export_manifest", "export"), ("warnings", "warnings"))


def is_cohort_directory(provenance: Path) -> bool:
    """The provenance is a cohort's (``provenance.trig.gz`` beside any file or folder ``cohort`` writes)."""
    return provenance.name in COHORT_PROVENANCE and any((provenance.parent / m).exists() for m in COHORT_MARKERS)


def _json_object(path: Path) -> dict | str:
    """The JSON object in a file, or why there is none."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    except (ValueError, RecursionError):
        return "not JSON"
    return value if isinstance(value, dict) else "not a JSON object"


def read_manifest(directory: Path) -> dict | str:
    """``manifest.json`` (its ``key`` and ``partition`` objects, the partition's ``patients`` a count), or why not."""
    manifest = _json_object(directory / MANIFEST)
    if isinstance(manifest, str):
        return manifest
    key, partition = manifest.get("key"), manifest.get("partition")
    if not isinstance(key, dict) or not isinstance(partition, dict) or not _count(partition.get("patients")):
        return "not a cohort manifest (no 'key', or no 'partition' with a count of 'patients')"
    return manifest


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def missing_records(directory: Path) -> tuple[Finding, ...]:
    """``manifest.json`` and ``run.json`` of a cohort directory, missing or unusable."""
    findings = []
    manifest = read_manifest(directory)
    if isinstance(manifest, str):
        findings.append(Finding("failure", "manifest-missing", f"{directory / MANIFEST} is {manifest}: the patients "
                                "the input held cannot be checked against the runs (a chunk removed from the "
                                "provenance, results.jsonl and summary.csv alike would go unseen); cohort always "
                                "writes it, so restore it or run the cohort again"))
    record = _json_object(directory / RUN_RECORD)
    if isinstance(record, str):
        findings.append(Finding("failure", "run-record-missing", f"{directory / RUN_RECORD} is {record}: what the "
                                "run reports (as-of date, patients, bad records) cannot be checked; cohort always "
                                "writes it, so restore it or run the cohort again"))
    return tuple(findings)


@dataclass(frozen=True)
class BadRecords:
    """``bad-records.jsonl``: its lines, the SHA-256 of its bytes, the lines naming a patient (set aside) and
    those patients, as named; None (and 0, None, ()) when missing."""

    lines: list[str] | None
    aside: int
    sha256: str | None = None
    patients: tuple[str, ...] = ()

    @classmethod
    def read(cls, directory: Path) -> BadRecords:
        path = directory / BAD_RECORDS
        if not path.is_file():
            return cls(None, 0)
        raw = path.read_bytes()
        lines = raw.decode("utf-8", errors="replace").splitlines()
        patients = []
        for line in lines:
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(record, dict) and "patient" in record:
                patients.append(str(record["patient"]))
        return cls(lines, len(patients), hashlib.sha256(raw).hexdigest(), tuple(patients))


def _set_aside(bad: BadRecords, recorded: set[str]) -> list[Finding]:
    """The patients ``bad-records.jsonl`` sets aside against those the runs record, by identity: each set aside
    once, and none evaluated (a set-aside ``Patient/ID`` of NDJSON is evaluated as ``urn:guidelinekg:Patient/ID``;
    RDF patients are named by their IRI; a bundle's by its file, which the runs do not record)."""
    findings = []
    twice = sorted(p for p, n in Counter(bad.patients).items() if n > 1)
    if twice:
        findings.append(Finding("failure", "run-record-differs", f"{BAD_RECORDS} sets aside {', '.join(twice[:3])}"
                                f"{f' and {len(twice) - 3} more' if len(twice) > 3 else ''} more than once: a patient "
                                "is set aside once; bad records were edited"))
    both = sorted(p for p in set(bad.patients) if p in recorded or f"{IRI_PREFIX}{p}" in recorded)
    if both:
        findings.append(Finding("failure", "run-record-differs", f"{BAD_RECORDS} sets aside {', '.join(both[:3])}"
                                f"{f' and {len(both) - 3} more' if len(both) > 3 else ''}, whom the runs record as "
                                "evaluated: a patient is either evaluated or set aside, never both; bad records "
                                "were edited"))
    return findings


_ABSENT = object()


def _same(a, b) -> bool:
    return type(a) is type(b) and a == b


def check_records(directory: Path, provenance: Path, runs: tuple[RunAudit, ...], bad: BadRecords,
                  shapes_sha256: str | None = None) -> tuple[Finding, ...]:
    """``manifest.json`` and ``run.json`` against the runs and the other files (see the module docstring), and
    every field of them (:func:`guidelinekg.audit.runfields.check_fields`; ``shapes_sha256``: the patient
    shapes the replay used)."""
    findings = list(missing_records(directory))
    manifest, record = read_manifest(directory), _json_object(directory / RUN_RECORD)
    manifest = manifest if isinstance(manifest, dict) else None
    record = record if isinstance(record, dict) else None
    recorded = {p for r in runs for p in r.patients}

    def differs(where: str, stated, actual, what: str) -> None:
        shown = shown_pair(stated, actual, absent=_ABSENT)
        findings.append(Finding("failure", "run-record-differs", f"{where} says {shown[0]}, {what} "
                                f"{shown[1]}: the record was edited, or is another run's"))

    def against_runs(where: str, stated, attribute: str, what: str) -> None:
        values = sorted({str(getattr(r, attribute)) for r in runs})
        if any(v != stated for v in values):
            differs(where, stated, ", ".join(values), what)

    if manifest is not None:
        key, partition = manifest["key"], manifest["partition"]
        found = partition["patients"]
        against_runs(f"{MANIFEST} key.as_of", key.get("as_of", _ABSENT), "as_of", "the runs record as-of date")
        against_runs(f"{MANIFEST} key.software", key.get("software", _ABSENT), "software",
                     "the runs record guidelinekg")
        for name, actual in sorted(recorded_hashes(runs).items()):
            if not _same(key.get(name, _ABSENT), actual) and actual is not None:
                differs(f"{MANIFEST} key.{name}", key.get(name, _ABSENT), actual,
                        "the runs' recorded files and rules give")
        aside = len(set(bad.patients))  # by identity: a patient named twice is set aside once
        if found - aside != len(recorded):
            findings.append(Finding("failure", "runs-missing", f"the input held {found} patients ({aside} set aside "
                                    f"in {BAD_RECORDS}), the provenance records {len(recorded)}: run graphs "
                                    "were removed or added", None))
        prepared = partition.get("bad_records", _ABSENT)
        if (directory / PREPARE_BAD).is_file():
            lines = (directory / PREPARE_BAD).read_text(encoding="utf-8", errors="replace").splitlines()
            if not _same(prepared, len(lines)):
                differs(f"{MANIFEST} partition.bad_records", prepared, len(lines), f"{PREPARE_BAD} holds")
            elif bad.lines is not None and bad.lines[:len(lines)] != lines:
                findings.append(Finding("failure", "run-record-differs", f"{BAD_RECORDS} does not begin with "
                                        f"the {len(lines)} line(s) of {PREPARE_BAD}: bad records were edited"))
        elif bad.lines is not None and not (_count(prepared) and prepared <= len(bad.lines)):
            differs(f"{MANIFEST} partition.bad_records", prepared, len(bad.lines), f"{BAD_RECORDS} holds")
    findings += _set_aside(bad, recorded)
    findings += check_fields(manifest, record, runs, bad.lines, shapes_sha256)
    if record is None:
        return tuple(findings)
    against_runs(f"{RUN_RECORD} as_of", record.get("as_of", _ABSENT), "as_of", "the runs record as-of date")
    expected = {"patients": (len(recorded), "the provenance records")}
    if bad.lines is not None:
        expected["bad_records"] = (len(bad.lines), f"{BAD_RECORDS} holds")
        expected["bad_records_sha256"] = (bad.sha256, f"the SHA-256 of {BAD_RECORDS} is")
        expected["patients_set_aside"] = (bad.aside, f"the lines of {BAD_RECORDS} naming a patient are")
    if manifest is not None:
        partition = manifest["partition"]
        for name, source in _FROM_PARTITION:
            expected[name] = (partition.get(source, _ABSENT), f"{MANIFEST} partition.{source} is")
        if bad.lines is not None:
            expected["patients_unaccounted"] = (partition["patients"] - len(recorded) - bad.aside,
                                                "patients found less those recorded and set aside are")
        if isinstance(partition.get("chunks"), list):
            expected["chunks"] = (len(partition["chunks"]), f"the chunks {MANIFEST} lists are")
    for name, (actual, what) in expected.items():
        if actual is not _ABSENT and not _same(record.get(name, _ABSENT), actual):
            differs(f"{RUN_RECORD} {name}", record.get(name, _ABSENT), actual, what)
    return tuple(findings)


def recorded_hashes(runs: tuple[RunAudit, ...]) -> dict[str, str | None]:
    """``content_sha256`` and ``rules_sha256`` as the cohort computes them, from each run's recorded content
    files and rules (:func:`run_hashes`, worked out where the run was audited): the value if every run gives
    the same, else the values joined; None when no run records any."""
    content = {r.hashes[0] for r in runs if r.hashes[0]}
    rules = {r.hashes[1] for r in runs if r.hashes[1]}
    return {"content_sha256": ", ".join(sorted(content)) or None, "rules_sha256": ", ".join(sorted(rules)) or None}


# The labels and hashes of a run's recorded content files and rules (whether or not it records using them).
RECORDED_FILES = f"""SELECT ?s ?p (MIN(?v) AS ?value) WHERE {{
    VALUES ?p {{ <{LABEL}> <{SHA256}> }}
    ?s ?p ?v . FILTER(isLiteral(?v) && (STRSTARTS(STR(?s), "{FILE_PREFIX}") || STRSTARTS(STR(?s), "$rules")))
}} GROUP BY ?s ?p"""


def run_hashes(graph) -> tuple[str | None, str | None]:
    """A run's ``content_sha256`` and ``rules_sha256`` as the cohort computes them (``KnowledgeBase.sha256``,
    ``RuleSet.sha256``) from the content files and rules its graph (an audit's ``_Graph``) records."""
    from guidelinekg.engine.rules import RULE_NAMESPACE

    entities: dict[str, dict[str, str]] = {}
    for row in graph.select(RECORDED_FILES.replace("$rules", RULE_NAMESPACE)):
        entities.setdefault(row["s"], {})[row["p"]] = row["value"]
    files = [(e.get(LABEL, ""), e.get(SHA256, "")) for iri, e in entities.items() if iri.startswith(FILE_PREFIX)]
    named = {iri[len(RULE_NAMESPACE):]: e.get(SHA256, "") for iri, e in entities.items()
             if iri.startswith(RULE_NAMESPACE)}
    rules = hashlib.sha256("".join(f"{n} {named[n]}\n" for n in sorted(named, key=lambda n: n + ".rq"))
                           .encode()).hexdigest() if named else None
    return (_content_sha256(files) if files else None), rules


def _content_sha256(files: list[tuple[str, str]]) -> str:
    """The vocabulary files first, then the guideline's, each sorted by path (as the audit's replay loads
    them, so as the run IRI names them): ``display sha256`` lines hashed."""
    from guidelinekg.content.resources import project_home, vocabulary_files
    from guidelinekg.engine.knowledge import SourceFile

    vocabulary = {p.resolve() for p in vocabulary_files()}
    home = project_home()
    chosen = [SourceFile((Path(label) if Path(label).is_absolute() else home / label).resolve(), sha)
              for label, sha in files]
    chosen.sort(key=lambda f: (f.path not in vocabulary, f.path))
    return hashlib.sha256("".join(f"{f.display} {f.sha256}\n" for f in chosen).encode()).hexdigest()
