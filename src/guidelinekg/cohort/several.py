"""Several guidelines in one cohort command: each guideline's run in a folder of ``--out`` of its own
(:func:`guidelinekg.cohort.run.run_cohort`), and the summary of them all."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator


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
    one JSON line per patient with any, in ``--out/disagreements.jsonl`` (:func:`disagreement_lines`); a
    patient a guideline did not evaluate (a bad record there) is left out. Returns the counts for the summary."""
    from guidelinekg.checks.conflicts import stances_of
    from guidelinekg.content.loading import Content

    stances = {g.version.iri: g.kb.memo("action-stances", lambda store: stances_of(Content(store=store.raw)))
               for g in guidelines}
    files = {iri: (out / guideline_folder(iri) / "results.jsonl").open(encoding="utf-8") for iri in runs}
    kinds: dict[str, int] = {}
    patients = 0
    try:
        with (out / ".disagreements.jsonl.tmp").open("w", encoding="utf-8", newline="\n") as target:
            for line, found in disagreement_lines(files, stances):
                patients += 1
                for d in found:
                    kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
                target.write(line)
    finally:
        for handle in files.values():
            handle.close()
    (out / ".disagreements.jsonl.tmp").replace(out / "disagreements.jsonl")
    return {"patients": patients, "by_kind": dict(sorted(kinds.items()))}


def disagreement_lines(results: dict, stances: dict) -> Iterator[tuple[str, list[dict]]]:
    """Each line of ``disagreements.jsonl`` (with its newline) and the disagreements it holds, from each
    guideline's ``results.jsonl`` lines (``results``: version IRI to its lines) read side by side: their
    patients come in nearly the same order, so only a patient held back longer is buffered; a patient
    missing from any guideline's results is left out. The cohort writes these lines; the audit recomputes
    them (``stances``: each version's statements about actions, :func:`guidelinekg.checks.conflicts.stances_of`)."""
    import json

    from guidelinekg.report.disagree import patient_disagreements

    sources = {iri: iter(lines) for iri, lines in results.items()}
    pending: dict[str, dict[str, dict]] = {iri: {} for iri in sources}
    while sources or any(pending.values()):
        for iri, source in list(sources.items()):
            line = next(source, "")
            if not line:
                del sources[iri]
                continue
            report = json.loads(line)
            pending[iri][report["patient"]] = report
        ready = set.intersection(*(set(p) for p in pending.values()))
        if not ready and not sources:
            break
        for patient in sorted(ready):
            found = patient_disagreements([pending[iri].pop(patient) for iri in sorted(pending)], stances)
            if found:
                yield json.dumps({"patient": patient, "disagreements": found}, ensure_ascii=False) + "\n", found
