"""Several guidelines in one cohort command: each guideline's run in a folder of ``--out`` of its own
(:func:`guidelinekg.cohort.run.run_cohort`), and the summary of them all."""

from __future__ import annotations

import hashlib
import re
import time


def selectors(options) -> list[str] | None:
    """The --guideline selectors of the options (one, several, or None for every loaded guideline)."""
    chosen = options.guideline
    return None if not chosen else [chosen] if isinstance(chosen, str) else list(chosen)


def guideline_folder(version_iri: str) -> str:
    """The folder of one guideline's run under a several-guideline ``--out``: the version IRI without its
    scheme, every other character than letters, digits, ``.``, ``_`` and ``-`` made ``-``, and the start of
    the IRI's SHA-1 (two IRIs that read alike, ``http://x/a/b`` and ``https://x/a-b``, never share one)."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", version_iri.split("://", 1)[-1]).strip("-.")[:80] or "guideline"
    return f"{readable}-{hashlib.sha1(version_iri.encode('utf-8')).hexdigest()[:8]}"


def combined(options, runs: dict[str, dict], started: float) -> dict:
    """The summary of a several-guideline cohort: each guideline's run, and what the exit code reads (a
    patient unaccounted for, or none evaluated, in any of them)."""
    worst = {key: max(r[key] for r in runs.values())
             for key in ("patients_found", "patients_set_aside", "patients_unaccounted", "bad_records")}
    return {
        "out": str(options.out), "as_of": options.as_of.isoformat(), **worst,
        "patients": min(r["patients"] for r in runs.values()),
        "patients_missing": sorted({p for r in runs.values() for p in r["patients_missing"]})[:20],
        "warnings": list(dict.fromkeys(w for r in runs.values() for w in r["warnings"])),
        "guidelines": {iri: {**r, "folder": guideline_folder(iri)} for iri, r in runs.items()},
        "seconds": {"total": round(time.perf_counter() - started, 3)},
    }


def write_disagreements(out, guidelines, runs: dict[str, dict]) -> dict:
    """Where the guidelines disagree for each patient, as ``recommend`` says it (:mod:`guidelinekg.report.disagree`):
    one JSON line per patient with any, in ``--out/disagreements.jsonl``, from the runs' ``results.jsonl``
    read side by side (their patients come in nearly the same order: only a patient held back longer is
    buffered); a patient a guideline did not evaluate (a bad record there) is left out. Returns the counts
    for the summary."""
    import json

    from guidelinekg.checks.conflicts import stances_of
    from guidelinekg.content.loading import Content
    from guidelinekg.report.disagree import patient_disagreements

    stances = {g.version.iri: g.kb.memo("action-stances", lambda store: stances_of(Content(store=store.raw)))
               for g in guidelines}
    files = {iri: (out / guideline_folder(iri) / "results.jsonl").open(encoding="utf-8") for iri in runs}
    pending: dict[str, dict[str, dict]] = {iri: {} for iri in files}
    kinds: dict[str, int] = {}
    patients = 0
    try:
        with (out / ".disagreements.jsonl.tmp").open("w", encoding="utf-8", newline="\n") as target:
            open_files = dict(files)
            while open_files or any(pending.values()):
                for iri, handle in list(open_files.items()):
                    line = handle.readline()
                    if not line:
                        del open_files[iri]
                        continue
                    report = json.loads(line)
                    pending[iri][report["patient"]] = report
                ready = set.intersection(*(set(p) for p in pending.values()))
                if not ready and not open_files:
                    break
                for patient in sorted(ready):
                    found = patient_disagreements([pending[iri].pop(patient) for iri in sorted(pending)], stances)
                    if found:
                        patients += 1
                        for d in found:
                            kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
                        target.write(json.dumps({"patient": patient, "disagreements": found}, ensure_ascii=False) + "\n")
    finally:
        for handle in files.values():
            handle.close()
    (out / ".disagreements.jsonl.tmp").replace(out / "disagreements.jsonl")
    return {"patients": patients, "by_kind": dict(sorted(kinds.items()))}
