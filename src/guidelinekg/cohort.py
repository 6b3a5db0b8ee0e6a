"""Running a cohort: prepare chunks once, evaluate each chunk exactly once, write results atomically.

Layout of ``--out DIR``:
- ``manifest.json``: input, as-of date, chunk size, content and rule hashes, the chunk list (written
  atomically after preparation; ``--resume`` checks it matches);
- ``work/``: the chunk files; ``chunks/NAME.jsonl`` and ``chunks/NAME.nq``: each chunk's reports and
  provenance, each written atomically, the ``.jsonl`` last, so its presence means the chunk is done;
- on completion: ``results.jsonl`` (one ``recommend --format json`` object per patient, in chunk order),
  ``provenance.nq`` (one named graph per chunk run), ``summary.csv``, ``bad-records.jsonl``, ``run.json``.

Chunks run in this process (``--workers 1``), in local worker processes (``--workers N``) or on a Dask
distributed cluster (``--scheduler tcp://HOST:PORT``), where the knowledge base is scattered once to
every worker and each chunk is a task.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from . import __version__
from .cohort_eval import ChunkResult, evaluate_chunk
from .cohort_input import Partition, atomic_write, prepare
from .errors import InputError
from .knowledge import KnowledgeBase, to_payload

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class CohortOptions:
    source: Path
    out: Path
    as_of: date
    chunk_size: int = 2000
    workers: int = 1
    scheduler: str | None = None
    resume: bool = False
    guideline: str | None = None
    content: tuple[Path, ...] = ()
    progress: bool | None = None  # None: a bar only on a terminal


def _manifest_key(options: CohortOptions, kb: KnowledgeBase) -> dict:
    return {"input": str(options.source.resolve()), "as_of": options.as_of.isoformat(),
            "chunk_size": options.chunk_size, "content_sha256": kb.sha256, "rules_sha256": kb.rules.sha256,
            "software": __version__}


def _prepare_or_resume(options: CohortOptions, kb: KnowledgeBase) -> Partition:
    manifest_path = options.out / MANIFEST
    key = _manifest_key(options, kb)
    if manifest_path.exists():
        if not options.resume:
            raise InputError(f"{options.out} already holds a run; use --resume to finish it or choose a new --out")
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest["key"] != key:
            changed = sorted(k for k in key if manifest["key"].get(k) != key[k])
            raise InputError(f"--resume: the run in {options.out} differs in {', '.join(changed)}; use a new --out")
        return Partition(**manifest["partition"])
    options.out.mkdir(parents=True, exist_ok=True)
    work = options.out / "work"
    if work.exists():  # a preparation that was interrupted: start it again
        for f in work.iterdir():
            f.unlink()
    partition, bad = prepare(options.source, work, options.chunk_size)
    atomic_write(options.out / "bad-records.prepare.jsonl",
                 "".join(json.dumps(b.__dict__) + "\n" for b in bad))
    atomic_write(manifest_path, json.dumps({"key": key, "partition": partition.to_json()}, indent=2))
    return partition


def _write_chunk(out: Path, result: ChunkResult) -> None:
    chunks = out / "chunks"
    chunks.mkdir(exist_ok=True)
    stem = Path(result.name).stem
    atomic_write(chunks / f"{stem}.nq", result.nquads)
    atomic_write(chunks / f"{stem}.bad.jsonl", "".join(json.dumps(b) + "\n" for b in result.bad_records))
    atomic_write(chunks / f"{stem}.jsonl", result.jsonl)  # last: its presence marks the chunk done


def _pending(out: Path, partition: Partition) -> list[str]:
    return [c for c in partition.chunks if not (out / "chunks" / f"{Path(c).stem}.jsonl").exists()]


def _run_local(options, partition, pending, payload, version, on_done) -> None:
    work = options.out / "work"
    tasks = [(name, partition.kind, (work / name).read_text(encoding="utf-8")) for name in pending] \
        if options.workers == 1 else None
    if options.workers == 1:
        for name, kind, text in tasks:
            on_done(evaluate_chunk(name, kind, text, options.as_of, payload, version))
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=options.workers) as pool:
        futures = [pool.submit(evaluate_chunk, name, partition.kind, (work / name).read_text(encoding="utf-8"),
                               options.as_of, payload, version) for name in pending]
        for future in as_completed(futures):
            on_done(future.result())


def _run_dask(options, partition, pending, payload, version, on_done) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError:  # pragma: no cover - distributed is a dependency
        raise InputError("--scheduler needs the 'distributed' package (pip install distributed)") from None
    work = options.out / "work"
    with Client(options.scheduler, timeout="30s") as client:
        shipped = client.scatter(payload, broadcast=True)  # the guideline graph, once per worker
        futures = [client.submit(evaluate_chunk, name, partition.kind, (work / name).read_text(encoding="utf-8"),
                                 options.as_of, shipped, version, key=f"guidelinekg-{name}", pure=False)
                   for name in pending]
        for future in as_completed(futures):
            on_done(future.result())


def _progress(total: int, enabled: bool | None):
    enabled = sys.stderr.isatty() if enabled is None else enabled
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="patient", unit_scale=True, file=sys.stderr, dynamic_ncols=True)


def _finish(out: Path, partition: Partition) -> dict:
    """Merge chunk outputs into the final files and count outcomes."""
    counts: Counter = Counter()
    patients = 0
    bad_lines = (out / "bad-records.prepare.jsonl").read_text(encoding="utf-8").splitlines()
    with (out / ".results.jsonl.tmp").open("w", encoding="utf-8") as results, \
            (out / ".provenance.nq.tmp").open("w", encoding="utf-8") as provenance:
        for name in partition.chunks:
            stem = Path(name).stem
            text = (out / "chunks" / f"{stem}.jsonl").read_text(encoding="utf-8")
            results.write(text)
            provenance.write((out / "chunks" / f"{stem}.nq").read_text(encoding="utf-8"))
            bad_lines += (out / "chunks" / f"{stem}.bad.jsonl").read_text(encoding="utf-8").splitlines()
            for line in text.splitlines():
                report = json.loads(line)
                patients += 1
                for r in report["recommendations"]:
                    counts[("recommendation", r["iri"])] += 1
                for r in report["not_recommended"]:
                    counts[("not_recommended", r["iri"])] += 1
                for r in report["undetermined"]:
                    counts[("undetermined", r["iri"])] += 1
                for o in report["orders"]:
                    counts[("order", o["loinc"])] += 1
                for code in {w["code"] for w in report["warnings"]}:
                    counts[("warning", code)] += 1
                if not report["applicable"]:
                    counts[("not_applicable", "guideline")] += 1
    (out / ".results.jsonl.tmp").replace(out / "results.jsonl")
    (out / ".provenance.nq.tmp").replace(out / "provenance.nq")
    atomic_write(out / "bad-records.jsonl", "".join(line + "\n" for line in bad_lines))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["kind", "item", "patients"])
    for (kind, item), n in sorted(counts.items()):
        writer.writerow([kind, item, n])
    writer.writerow(["bad_records", "all", len(bad_lines)])
    atomic_write(out / "summary.csv", buffer.getvalue())
    return {"patients": patients, "bad_records": len(bad_lines)}


def run_cohort(options: CohortOptions, kb: KnowledgeBase | None = None) -> dict:
    """Run (or resume) a cohort; return a summary dict (also written to ``run.json``)."""
    started = time.perf_counter()
    kb = kb or KnowledgeBase.load(list(options.content) or None)
    version = kb.version(options.guideline)
    partition = _prepare_or_resume(options, kb)
    prepared = time.perf_counter()
    pending = _pending(options.out, partition)
    payload = {"key": kb.sha256 + kb.rules.sha256, **to_payload(kb)}
    bar = _progress(partition.patients, options.progress)
    if bar is not None:  # chunks finished before a resume count as done
        bar.update(min(partition.patients, (len(partition.chunks) - len(pending)) * options.chunk_size))

    def on_done(result: ChunkResult) -> None:
        _write_chunk(options.out, result)
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
        "skipped_types": partition.skipped_types,
        "seconds": {"prepare": round(prepared - started, 3), "evaluate": round(evaluated - prepared, 3),
                    "total": round(time.perf_counter() - started, 3)},
    }
    atomic_write(options.out / "run.json", json.dumps(summary, indent=2))
    return summary
