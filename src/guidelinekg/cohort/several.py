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
