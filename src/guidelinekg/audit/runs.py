"""Running the audit over the runs of a file: in this process or in worker processes, with a progress bar.

Runs are independent, so ``--workers N`` audits them in N local processes (as ``cohort --workers`` does);
the runs are read here, each travels to a worker as one string of text (:meth:`RunRecord.portable`), and
the verdicts come back in the file's order, at most two runs per worker in flight, so memory stays bounded
whatever the size of the file. Workers exit within a second when this process is gone.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from guidelinekg.audit.cohort import Replayed, summary_counts
from guidelinekg.audit.reader import RunRecord

IN_FLIGHT_PER_WORKER = 2


def replayed_reports(evaluation, version, run: str, inputs: list[str]) -> Replayed:
    """The replay's reports as the run would have written them: under the recorded run IRI and input
    digest (a renamed run or a changed input has its own failure)."""
    from guidelinekg.report.patient import build_reports

    reports = build_reports(evaluation, version)
    for report in reports.values():
        report["provenance"]["run"] = run
        if inputs:
            report["provenance"]["input_sha256"] = inputs[0]
    return of_reports(reports)


def of_reports(reports: dict[str, dict]) -> Replayed:
    """The reports written as the cohort writes them, and their summary counts."""
    texts = {p: json.dumps(r, ensure_ascii=False, sort_keys=True) for p, r in reports.items()}
    return Replayed(texts, tuple(summary_counts(list(reports.values()))))


def progress_bar(path: Path, enabled: bool | None):
    """A bar over patients on stderr (as ``cohort`` shows), sized by the cohort's ``run.json`` if any."""
    enabled = sys.stderr.isatty() if enabled is None else enabled
    if not enabled:
        return None
    from tqdm import tqdm

    total = None
    run_json = (path if path.is_dir() else path.parent) / "run.json"
    try:
        total = json.loads(run_json.read_text(encoding="utf-8")).get("patients")
    except (OSError, ValueError, AttributeError, RecursionError):
        pass
    return tqdm(total=total if isinstance(total, int) else None, unit="patient", unit_scale=True,
                file=sys.stderr, dynamic_ncols=True, desc="audit")


# --- worker processes ---------------------------------------------------------------------------------------

_WORKER = None


def _start_worker(make: Callable, settings: dict, parent: int) -> None:
    """In a worker: the auditor it uses for every run, and a watch that ends it when the parent is gone."""
    global _WORKER
    _WORKER = make(**settings)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(parent, 0)
            except (ProcessLookupError, PermissionError):
                os._exit(3)
            if os.getppid() == 1:
                os._exit(3)

    threading.Thread(target=watch, name="guidelinekg-audit-parent-watch", daemon=True).start()


def _work(record: RunRecord, version_iri):
    return _WORKER._audit(record, version_iri)


def audit_runs(records: Iterable[RunRecord], audit_one: Callable, version_iri, workers: int,
               make: Callable, settings: dict) -> Iterator[tuple]:
    """``audit_one(record, version_iri)`` of every record, in order; with ``workers`` > 1 in that many
    processes, each with its own auditor ``make(**settings)``."""
    if workers <= 1:
        for record in records:
            yield audit_one(record, version_iri)
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers, initializer=_start_worker,
                             initargs=(make, settings, os.getpid())) as pool:
        pending: deque = deque()
        for record in records:
            pending.append(pool.submit(_work, record.portable(), version_iri))
            if len(pending) >= workers * IN_FLIGHT_PER_WORKER:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
