"""Running a cohort: prepare chunks once, evaluate each chunk exactly once, write results atomically.

Layout of ``--out DIR`` (a new or empty directory, or a run's: :mod:`guidelinekg.cohort.paths`):
- ``manifest.json``: input, as-of date, chunk size, content, rule and patient-shape hashes, the chunk list
  (written atomically after preparation; ``--resume`` checks it matches);
- ``work/``: the chunk files (the input by patient), removed once the run is complete (prepared again if a
  chunk is to be evaluated again); ``chunks/NAME.jsonl``, ``chunks/NAME.trig.gz``, ``chunks/NAME.counts.json``:
  each chunk's reports, provenance and counts, written atomically with their SHA-256, the ``.jsonl`` last
  (present: it is done; ``--resume`` checks a done chunk's files against the digests before joining them,
  :mod:`guidelinekg.cohort.chunkfiles`);
- on completion: ``results.jsonl`` (one ``recommend --format json`` object per patient, in chunk order),
  ``provenance.trig.gz`` (gzip TriG, one named graph per chunk run; about 5 kB per patient instead of
  60 kB uncompressed), ``summary.csv``, ``bad-records.jsonl``, ``run.json`` (with the SHA-256 of
  ``bad-records.jsonl``, which the audit checks: the provenance does not hold the bad records).
Chunks run in this process (``--workers 1``), in local worker processes (``--workers N``) or on a Dask
distributed cluster (``--scheduler tcp://HOST:PORT``), where the knowledge base is scattered once to
every worker and each chunk is a task. At most two chunks per worker are read and queued at a time.
Before the rules, each chunk's patient data are checked with ``shapes/patient.ttl`` compiled to SPARQL
(:mod:`guidelinekg.engine.shapes_sparql`); violations become ``patient-data-invalid`` warnings.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from guidelinekg import __version__
from guidelinekg.cohort.chunk import ChunkResult, evaluate_chunk
from guidelinekg.cohort.chunkfiles import atomic_write, chunk_json, concatenate, write_chunk
from guidelinekg.cohort.chunkfiles import pending as chunk_pending
from guidelinekg.cohort.several import combined, guideline_folder, selectors, write_disagreements
from guidelinekg.cohort.partition import Partition, input_fingerprint, prepare
from guidelinekg.cohort.paths import claim
from guidelinekg.engine.knowledge import KnowledgeBase, to_payload
from guidelinekg.engine.shapes_sparql import CompiledShapes, load_patient_shapes
from guidelinekg.errors import InputError
from guidelinekg.report.summary import summary_csv

MANIFEST = "manifest.json"
CHUNK_NAMES = {kind: re.compile(rf"chunk-[0-9]{{6}}\.{suffix}") for kind, suffix in
               (("ndjson", "ndjson"), ("bundles", "json"), ("rdf", "nt"))}
IN_FLIGHT_PER_WORKER = 2  # chunks read and queued per worker: memory stays bounded whatever the cohort size


@dataclass(frozen=True)
class CohortOptions:
    source: Path
    out: Path
    as_of: date
    chunk_size: int = 250
    workers: int = 1
    scheduler: str | None = None
    resume: bool = False
    guideline: str | tuple[str, ...] | None = None  # one or several --guideline selectors
    content: tuple[Path, ...] = ()
    progress: bool | None = None  # None: a bar only on a terminal


def _manifest_key(options: CohortOptions, kb: KnowledgeBase, shapes: CompiledShapes) -> dict:
    return {"input": str(options.source.resolve()), "input_files": input_fingerprint(options.source),
            "as_of": options.as_of.isoformat(),
            "chunk_size": options.chunk_size, "content_sha256": kb.sha256, "rules_sha256": kb.rules.sha256,
            "shapes_sha256": shapes.sha256, "software": __version__}


def _read_manifest(options: CohortOptions) -> tuple[dict, Partition]:
    """The run's manifest, checked: a corrupt or edited one is an error, never a traceback.

    Raises:
        InputError: unreadable, not JSON, or not a manifest this version writes.
    """
    path = options.out / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        key, partition = manifest["key"], Partition(**manifest["partition"])
        valid = isinstance(key, dict) and partition.kind in CHUNK_NAMES and isinstance(partition.patients, int) \
            and isinstance(partition.chunks, list) \
            and all(isinstance(c, str) and CHUNK_NAMES[partition.kind].fullmatch(c) for c in partition.chunks)
    except OSError as exc:
        raise InputError(f"--resume: cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        valid = False
    if not valid:
        raise InputError(f"--resume: {path} is corrupt (not a manifest of a cohort run); start again with a new --out")
    return key, partition


def _prepare_or_resume(options: CohortOptions, kb: KnowledgeBase, shapes: CompiledShapes) -> Partition:
    manifest_path = options.out / MANIFEST
    key = _manifest_key(options, kb, shapes)
    if manifest_path.exists():
        if not options.resume:
            raise InputError(f"{options.out} already holds a run; use --resume to finish it or choose a new --out")
        recorded, partition = _read_manifest(options)
        if recorded != key:
            changed = sorted(k for k in key if recorded.get(k) != key[k])
            hint = ("input_files: a file of the input was changed, added or removed since the run started, so "
                    "the prepared chunks are stale" if "input_files" in changed else None)
            raise InputError(f"--resume: the run in {options.out} differs in {', '.join(changed)}; use a new --out",
                             hint=hint)
        return partition
    options.out.mkdir(parents=True, exist_ok=True)
    work = options.out / "work"
    if work.exists():  # a preparation that was interrupted: start it again
        shutil.rmtree(work)
    partition, bad = prepare(options.source, work, options.chunk_size, kb, options.as_of)
    atomic_write(options.out / "bad-records.prepare.jsonl", "".join(json.dumps(b.__dict__) + "\n" for b in bad))
    atomic_write(manifest_path, json.dumps({"key": key, "partition": partition.to_json()}, indent=2))
    return partition


def _chunk_key(name: str, text: str, options: CohortOptions, payload: dict, version: str) -> str:
    """A task key naming the work itself: a result a cluster still holds is reused only for equal work."""
    parts = [text, options.as_of.isoformat(), payload["key"], payload["patient_shapes"].sha256, version or ""]
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return f"guidelinekg-{Path(name).stem}-{digest[:16]}"


def _exit_with_parent(coordinator: int, interval: float = 1.0) -> None:
    """In a worker process: exit as soon as the coordinator is gone (kill -9 leaves no one to stop the
    pool, and a worker blocked on a full result pipe would otherwise wait forever). A daemon thread
    checks every ``interval`` that the coordinator still exists and that the worker's own parent (the
    coordinator under fork or spawn, a forkserver under forkserver, Python 3.14's default on Linux) is
    unchanged; the lost chunk is redone by ``--resume``."""
    import threading

    parent = os.getppid()

    def gone() -> bool:
        if os.getppid() != parent:
            return True
        try:
            os.kill(coordinator, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # the pid was reused by another user's process
            return True
        return False

    def watch() -> None:
        while not gone():
            time.sleep(interval)
        os._exit(3)

    threading.Thread(target=watch, name="guidelinekg-parent-watch", daemon=True).start()


def _run_local(options, partition, pending, payload, version, on_done) -> None:
    work = options.out / "work"
    if options.workers == 1:
        for name in pending:  # one chunk in memory at a time
            on_done(evaluate_chunk(name, partition.kind, (work / name).read_text(encoding="utf-8"),
                                   options.as_of, payload, version))
        return
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    queue = iter(pending)
    with ProcessPoolExecutor(max_workers=options.workers, initializer=_exit_with_parent,
                             initargs=(os.getpid(),)) as pool:
        def submit_next(running: set) -> None:
            name = next(queue, None)
            if name is not None:
                text = (work / name).read_text(encoding="utf-8")
                running.add(pool.submit(evaluate_chunk, name, partition.kind, text, options.as_of, payload, version))

        running: set = set()
        for _ in range(options.workers * IN_FLIGHT_PER_WORKER):
            submit_next(running)
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                on_done(future.result())
                submit_next(running)


def _run_dask(options, partition, pending, payload, version, on_done) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError:  # pragma: no cover - distributed is a dependency
        raise InputError("--scheduler needs the 'distributed' package (pip install distributed)") from None
    work = options.out / "work"
    queue = iter(pending)
    try:
        client = Client(options.scheduler, timeout="30s")
    except (OSError, ValueError, TimeoutError) as exc:
        raise InputError(f"--scheduler {options.scheduler}: cannot connect to a Dask scheduler: {exc}",
                         hint="start one with 'dask scheduler' (address tcp://HOST:8786) and workers with "
                              "'dask worker tcp://HOST:8786'; see the README") from None
    with client:
        # the guideline graph, once per worker; in a list, so its key is a hash of its content (a dict's
        # own keys, "ntriples" and so on, would become cluster-wide keys shared by every run)
        [shipped] = client.scatter([payload], broadcast=True)
        running = as_completed()

        def submit_next() -> None:
            name = next(queue, None)
            if name is not None:
                text = (work / name).read_text(encoding="utf-8")
                running.add(client.submit(evaluate_chunk, name, partition.kind, text, options.as_of, shipped,
                                          version, key=_chunk_key(name, text, options, payload, version),
                                          pure=False))

        for _ in range(max(1, sum(client.nthreads().values())) * IN_FLIGHT_PER_WORKER):
            submit_next()
        for future in running:
            on_done(future.result())
            future.release()
            submit_next()


def _progress(total: int, enabled: bool | None):
    enabled = sys.stderr.isatty() if enabled is None else enabled
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="patient", unit_scale=True, file=sys.stderr, dynamic_ncols=True)


def _finish(out: Path, partition: Partition) -> dict:
    """Merge chunk outputs into the final files and add up the chunks' counts (no report is parsed again),
    with the patients found in the input against those evaluated and those set aside as bad records."""
    counts: Counter = Counter()
    bad_lines = (out / "bad-records.prepare.jsonl").read_text(encoding="utf-8").splitlines()
    set_aside = 0
    missing: list[str] = []
    for name in partition.chunks:
        stem = Path(name).stem
        chunk_bad = chunk_json(out / "chunks" / f"{stem}.bad.jsonl", lines=True)
        set_aside += sum(isinstance(b, dict) and "patient" in b for b in chunk_bad)  # a patient not evaluated
        bad_lines += (out / "chunks" / f"{stem}.bad.jsonl").read_text(encoding="utf-8").splitlines()
        try:
            for kind, item, n in chunk_json(out / "chunks" / f"{stem}.counts.json"):
                counts[(kind, item)] += n
            patients_file = out / "chunks" / f"{stem}.patients.json"
            if patients_file.exists():  # (a chunk written by an older version has none)
                missing += [str(m) for m in chunk_json(patients_file)["missing"]]
        except (ValueError, TypeError, KeyError, RecursionError):
            raise InputError(f"--resume: the files of {stem} in {out / 'chunks'} are corrupt; delete "
                             f"{stem}.jsonl there and --resume to evaluate that chunk again") from None
    concatenate(out, partition.chunks, ".jsonl", "results.jsonl")
    concatenate(out, partition.chunks, ".trig.gz", "provenance.trig.gz")
    with (out / "results.jsonl").open("rb") as results:
        patients = sum(1 for _ in results)
    bad_text = "".join(line + "\n" for line in bad_lines).encode("utf-8")
    atomic_write(out / "bad-records.jsonl", bad_text)
    atomic_write(out / "summary.csv", summary_csv(counts, len(bad_lines)))
    return {"patients": patients, "bad_records": len(bad_lines),
            "bad_records_sha256": hashlib.sha256(bad_text).hexdigest(), "patients_found": partition.patients,
            "patients_set_aside": set_aside, "patients_unaccounted": partition.patients - patients - set_aside,
            "patients_missing": sorted(missing)[:20]}


def run_cohort(options: CohortOptions, kb: KnowledgeBase | None = None) -> dict:
    """Run (or resume) a cohort; return a summary dict (also written to ``run.json``).

    Several guidelines (:func:`guidelinekg.engine.guidelines.load_guidelines`) are each run on their own,
    as ``recommend`` evaluates them, into ``--out/<guideline version>/`` (a complete, resumable, auditable
    cohort run each); the summary then holds each run's and their totals."""
    started = time.perf_counter()
    with _file_errors(options.out):
        claim(options.out, options.source)
    shapes = load_patient_shapes()
    if kb is not None:
        with _file_errors(options.out):
            return _run(options, kb, kb.version(selectors(options)[0] if options.guideline else None), shapes,
                        started)
    from guidelinekg.engine.guidelines import load_guidelines

    if options.content:
        from guidelinekg.checks.gate import require_valid_content

        require_valid_content(options.content)
    guidelines = load_guidelines(list(options.content) or None, selectors(options))
    if len(guidelines) == 1:
        with _file_errors(options.out):
            return _run(options, guidelines[0].kb, guidelines[0].version, shapes, started)
    runs = {}
    for g in guidelines:
        sub = replace(options, out=options.out / guideline_folder(g.version.iri))
        with _file_errors(sub.out):
            runs[g.version.iri] = _run(sub, g.kb, g.version, shapes, time.perf_counter())
    with _file_errors(options.out):
        summary = {**combined(options, runs, started),
                   "disagreements": write_disagreements(options.out, guidelines, runs)}
        atomic_write(options.out / "run.json", json.dumps(summary, indent=2))
    return summary


@contextmanager
def _file_errors(out: Path) -> Iterator[None]:
    """A file that cannot be written (``--out`` under a file, read-only, a full disk) or read: one line,
    :class:`InputError`, never a traceback. What was written stays: ``--resume`` finishes the run."""
    try:
        yield
    except OSError as exc:
        name = exc.filename or out
        inside = Path(name).resolve().is_relative_to(out.resolve()) if exc.filename else True
        if isinstance(exc, FileNotFoundError) and inside and Path(name) != out:
            raise InputError(f"--out {out}: {name} is missing (a file of the run was removed); "
                             "start again with a new --out") from None
        what = f"--out {out}: cannot write {name}" if inside else f"cannot read {name}"
        raise InputError(f"{what}: {exc.strerror or exc}") from None


def _run(options: CohortOptions, kb: KnowledgeBase, version, shapes: CompiledShapes, started: float) -> dict:
    partition = _prepare_or_resume(options, kb, shapes)
    prepared = time.perf_counter()
    pending = chunk_pending(options.out, partition.chunks)
    if pending and not (options.out / "work").is_dir():  # removed on completion; the same input: the same chunks
        prepare(options.source, options.out / "work", options.chunk_size, kb, options.as_of)
    payload = {"key": kb.sha256 + kb.rules.sha256, **to_payload(kb), "patient_shapes": shapes}
    bar = _progress(partition.patients, options.progress)
    if bar is not None:  # chunks finished before a resume count as done
        bar.update(min(partition.patients, (len(partition.chunks) - len(pending)) * options.chunk_size))

    def on_done(result: ChunkResult) -> None:
        write_chunk(options.out, result)
        if bar is not None:
            bar.update(result.patients)

    if options.scheduler:
        _run_dask(options, partition, pending, payload, version.iri, on_done)
    else:
        _run_local(options, partition, pending, payload, version.iri, on_done)
    if bar is not None:
        bar.close()
    evaluated = time.perf_counter()
    totals = _finish(options.out, partition)
    summary = {
        "out": str(options.out), "input_kind": partition.kind, "chunks": len(partition.chunks),
        "chunks_run_now": len(pending), "as_of": options.as_of.isoformat(), **totals,
        "skipped_types": partition.skipped_types, "ignored_files": partition.ignored_files,
        "shared_bundles": partition.shared_bundles, "export_manifest": partition.export,
        "warnings": partition.warnings,
        "seconds": {"prepare": round(prepared - started, 3), "evaluate": round(evaluated - prepared, 3),
                    "total": round(time.perf_counter() - started, 3)},
    }
    atomic_write(options.out / "run.json", json.dumps(summary, indent=2))
    shutil.rmtree(options.out / "work", ignore_errors=True)  # complete: no chunk is evaluated again
    return summary
