"""A cohort of several guidelines: every guideline folder audited, and the top-level ``run.json`` and
``disagreements.jsonl`` checked against them.

``cohort`` with several guidelines writes one complete run per guideline version into a folder of ``--out``
of its own (named by ``guidelinekg.cohort.several.guideline_folder``), then ``--out/run.json`` (each
folder's ``run.json`` with its ``folder``, and the totals) and ``--out/disagreements.jsonl``. ``audit OUT``
audits each folder ``run.json`` lists as it is audited alone (the findings that are not a run's named by
the folder), and:

* ``run.json``: required (``run-record-missing``); only the fields ``cohort`` writes, all of them; at least
  two guidelines; each guideline's entry is its folder's ``run.json`` with the folder ``cohort`` names for
  that version, and the folder's runs record that version; ``as_of`` the runs'; ``patients_found``,
  ``patients_set_aside``, ``patients_unaccounted`` and ``bad_records`` the largest of the guidelines',
  ``patients`` the smallest, ``patients_missing`` and ``warnings`` theirs joined (as ``cohort`` joins them);
  ``disagreements`` the counts of the recomputed ``disagreements.jsonl``; ``seconds.total`` no less than the
  guidelines' totals. Each difference fails ``run-record-differs``. ``out``, the path the user gave, is not
  checked (a run may be moved), nor the total time beyond that bound;
* the folders: one ``run.json`` lists that is absent or holds no ``provenance.trig.gz`` fails
  ``guideline-run-missing``; a folder holding a cohort run that ``run.json`` does not list fails
  ``guideline-run-not-listed``;
* ``disagreements.jsonl``: recomputed by the cohort's own code from the guidelines' ``results.jsonl`` (each
  checked against its replay by its folder's audit), with each version's statements about actions read
  from the knowledge the audit loaded for its runs, and compared byte for byte, line by line:
  ``disagreements-jsonl-differs``; when it cannot be recomputed (a guideline's results missing or
  unreadable, its knowledge not loaded because its content changed): ``disagreements-jsonl-not-verified``.

``audit`` may not import ``cohort`` (one layer), so the command gives the cohort's code (:class:`CohortCode`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from guidelinekg.audit.recorded import Finding
from guidelinekg.audit.runfields import MISSING_SHOWN, _count, _fields, _number, _shown
from guidelinekg.audit.runrecord import MANIFEST, RUN_RECORD, _json_object
from guidelinekg.audit.shown import shown_pair
from guidelinekg.provenance.inputs import COHORT_PROVENANCE

DISAGREEMENTS, RESULTS = "disagreements.jsonl", "results.jsonl"
TOP_FIELDS = ("out", "as_of", "patients_found", "patients_set_aside", "patients_unaccounted", "bad_records",
              "patients", "patients_missing", "warnings", "guidelines", "seconds", "disagreements")
LARGEST = ("patients_found", "patients_set_aside", "patients_unaccounted", "bad_records")


@dataclass(frozen=True)
class CohortCode:
    """What the cohort command computes, given by the interface layer: a guideline version's folder name,
    and the lines of ``disagreements.jsonl`` (with the disagreements of each) from the guidelines'
    ``results.jsonl`` lines and statements about actions."""

    folder: Callable[[str], str]
    disagreement_lines: Callable[[dict, dict], Iterator[tuple[str, list]]]


def _run_folders(path: Path) -> list[Path]:
    return sorted(d for d in path.iterdir() if d.is_dir()
                  and any((d / name).exists() for name in (*COHORT_PROVENANCE, MANIFEST, RUN_RECORD)))


def is_several(path: Path) -> bool:
    """A several-guideline cohort's ``--out``: a directory without provenance of its own whose ``run.json``
    lists guidelines, or that holds ``disagreements.jsonl`` or guideline folders."""
    if not path.is_dir() or any((path / name).is_file() for name in COHORT_PROVENANCE):
        return False
    record = _json_object(path / RUN_RECORD)
    return (isinstance(record, dict) and isinstance(record.get("guidelines"), dict)) \
        or (path / DISAGREEMENTS).exists() or bool(_run_folders(path))


def audit_several(auditor, path: Path, audit_folder: Callable, code: CohortCode | None) -> tuple[tuple, tuple]:
    """The runs of every guideline folder (``audit_folder(provenance)`` gives its runs and findings) and the
    findings of the folders and of the top-level files (see the module docstring)."""
    findings: list[Finding] = []
    record = _json_object(path / RUN_RECORD)
    listed = record.get("guidelines") if isinstance(record, dict) else None
    listed = listed if isinstance(listed, dict) else None
    if listed is None:
        why = record if isinstance(record, str) else "not a cohort's record of several guidelines (no 'guidelines')"
        findings.append(Finding("failure", "run-record-missing", f"{path / RUN_RECORD} is {why}: which guidelines "
                                "were evaluated, and the cohort's totals, cannot be checked; cohort always writes "
                                "it, so restore it or run the cohort again"))
    folders: dict[str, Path] = {}
    problems: list[str] = []
    for iri, entry in (listed or {}).items():
        name = entry.get("folder") if isinstance(entry, dict) else None
        want = code.folder(iri) if code is not None else name
        if name != want:
            shown = shown_pair(name, want)
            problems.append(f"run.json guidelines[{iri}].folder says {shown[0]}, cohort names that version's "
                            f"folder {shown[1]}")
        if isinstance(want, str) and want and Path(want).name == want:
            folders[iri] = path / want
    if listed is None:  # no record of the guidelines: audit every folder holding a run all the same
        folders = {d.name: d for d in _run_folders(path)}
    runs_by: dict[str, tuple] = {}
    for iri, folder in folders.items():
        provenance = folder / COHORT_PROVENANCE[0]
        if not provenance.is_file():
            findings.append(Finding("failure", "guideline-run-missing", f"{folder} " + (
                "holds no provenance.trig.gz" if folder.is_dir() else "is missing") + f": the run of <{iri}> that "
                "run.json lists cannot be audited; restore the folder or run the cohort again", iri))
            continue
        runs, notes = audit_folder(provenance)
        runs_by[iri] = runs
        findings += [replace(f, message=f"{folder.name}: {f.message}") for f in notes]
    named = {f.name for f in folders.values()}
    for folder in _run_folders(path):
        if folder.name not in named and listed is not None:
            findings.append(Finding("failure", "guideline-run-not-listed", f"{folder} holds a cohort run that "
                                    f"{RUN_RECORD} does not list: a guideline's run added, or its entry removed"))
    counts, more = _disagreements(auditor, path, folders if listed is not None else {}, runs_by, code)
    findings += more
    if listed is not None:
        problems += _record(record, folders, runs_by, counts)
    findings += [Finding("failure", "run-record-differs", f"{p}: the record was edited, or is another run's")
                 for p in problems]
    return tuple(r for runs in runs_by.values() for r in runs), tuple(findings)


def _canonical(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _record(record: dict, folders: dict[str, Path], runs_by: dict[str, tuple], counts: dict | None) -> list[str]:
    """What the top-level ``run.json`` states against the folders' records and runs."""
    problems = _fields("run.json", record, TOP_FIELDS)
    entries = record["guidelines"]
    if len(entries) < 2:
        problems.append(f"run.json lists {len(entries)} guideline(s); cohort writes a folder per guideline for two "
                        "or more only")
    own: dict[str, dict] = {}
    for iri, folder in folders.items():
        mine, entry = _json_object(folder / RUN_RECORD), entries[iri]
        if not isinstance(mine, dict):
            continue  # the folder's audit reports it
        own[iri] = mine
        want = {**mine, "folder": folder.name}
        given = entry if isinstance(entry, dict) else {}
        for name in sorted(want.keys() | given.keys(), key=str):
            if name != "folder" and _canonical(given.get(name)) != _canonical(want.get(name)):
                shown = shown_pair(given.get(name, _ABSENT), want.get(name, _ABSENT), absent=_ABSENT)
                problems.append(f"run.json guidelines[{iri}].{name} says {shown[0]}, {folder.name}/run.json "
                                f"says {shown[1]}")
        versions = sorted({v["iri"] for r in runs_by.get(iri, ()) for v in r.versions})
        if iri in runs_by and iri not in versions:
            problems.append(f"run.json lists <{iri}> for {folder.name}, whose runs record "
                            f"{', '.join(versions) or 'no guideline version'}")
    as_of = sorted({str(r.as_of) for runs in runs_by.values() for r in runs})
    if as_of and any(_canonical(record.get("as_of")) != _canonical(a) for a in as_of):
        problems.append(f"run.json as_of says {_shown(record.get('as_of'))}, the runs record as-of date "
                        f"{', '.join(as_of)}")
    expected: dict = {} if counts is None else {"disagreements": (counts, f"the recomputed {DISAGREEMENTS} gives")}
    records = [own[iri] for iri in entries if iri in own]
    if records and len(records) == len(entries):  # the totals, from every guideline's own record (as cohort joins them)
        for name in LARGEST + ("patients",):
            values = [r.get(name) for r in records]
            if all(map(_count, values)):
                expected[name] = (min(values) if name == "patients" else max(values), "the guidelines' own run.json give")
        for name, limit in (("patients_missing", MISSING_SHOWN), ("warnings", None)):
            values = [r.get(name) for r in records]
            if all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in values):
                joined = [x for v in values for x in v]
                expected[name] = (sorted(set(joined))[:limit] if limit else list(dict.fromkeys(joined)),
                                  "the guidelines' own run.json give")
        totals = [r.get("seconds", {}).get("total") if isinstance(r.get("seconds"), dict) else None for r in records]
        seconds = record.get("seconds")
        if not (isinstance(seconds, dict) and set(seconds) == {"total"} and _number(seconds["total"])):
            problems.append(f"run.json seconds is {_shown(seconds)}, not the total cohort writes")
        elif all(map(_number, totals)) and seconds["total"] + 0.001 * len(totals) < sum(totals):
            problems.append(f"run.json seconds.total says {seconds['total']}, less than the guidelines' runs took "
                            f"({round(sum(totals), 3)})")
    for name, (value, what) in expected.items():
        if _canonical(record.get(name)) != _canonical(value):
            shown = shown_pair(record.get(name, _ABSENT), value, absent=_ABSENT)
            problems.append(f"run.json {name} says {shown[0]}, {what} {shown[1]}")
    if "out" in record and not isinstance(record["out"], str):
        problems.append(f"run.json out is {_shown(record['out'])}, not a path")
    return problems


def _knowledge(auditor, iri: str, folder: Path):
    """The knowledge of guideline version ``iri`` that the audit loaded for its runs (in worker processes:
    loaded here by auditing the folder's first run again); None when it was not loaded."""
    from guidelinekg.audit.disagreements import _knowledge_of
    from guidelinekg.audit.reader import NotCohortLayout, read_runs
    from guidelinekg.errors import InputError

    kb = _knowledge_of(auditor, iri)
    if kb is None:
        try:
            records = read_runs(folder / COHORT_PROVENANCE[0])
            record = next(records, None)
            records.close()
            if record is not None:
                auditor._audit(record, None)
        except (InputError, NotCohortLayout):
            return None
        kb = _knowledge_of(auditor, iri)
    return kb


def _disagreements(auditor, path: Path, folders: dict[str, Path], runs_by: dict[str, tuple],
                   code: CohortCode | None) -> tuple[dict | None, list[Finding]]:
    """``disagreements.jsonl`` against its recomputation; the counts ``run.json`` states (None: not recomputed)."""
    from guidelinekg.checks.conflicts import stances_of
    from guidelinekg.content.loading import Content

    def unverified(why: str) -> tuple[None, list[Finding]]:
        return None, [Finding("failure", "disagreements-jsonl-not-verified", f"{path / DISAGREEMENTS} cannot be "
                              f"recomputed, so it is not verified: {why}")]

    absent = [f.name for iri, f in folders.items() if iri not in runs_by or not (f / RESULTS).is_file()]
    if code is None or not folders or absent:
        return unverified("the cohort's code for it was not given (audit with 'guidelinekg audit')" if code is None
                          else "run.json lists no guideline" if not folders
                          else f"the results of {', '.join(absent)} are missing")
    stances = {}
    for iri, folder in folders.items():
        kb = _knowledge(auditor, iri, folder)
        if kb is None:
            return unverified(f"the knowledge of <{iri}> was not loaded (its runs could not be replayed)")
        stances[iri] = kb.memo("action-stances", lambda store: stances_of(Content(store=store.raw)))
    handles = {iri: (folder / RESULTS).open(encoding="utf-8") for iri, folder in folders.items()}
    try:
        return _compare(code.disagreement_lines(handles, stances), path / DISAGREEMENTS)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        return unverified(f"a line of a guideline's {RESULTS} is not a patient's report ({type(exc).__name__}: "
                          f"{str(exc)[:80]})")
    finally:
        for handle in handles.values():
            handle.close()


def _compare(lines: Iterator[tuple[str, list]], target: Path) -> tuple[dict, list[Finding]]:
    """The recomputed lines against the file; the counts the recomputation gives."""
    import hashlib

    kinds: Counter = Counter()
    want: Counter = Counter()
    have: Counter = Counter()
    patient_of: dict[bytes, str] = {}  # a recomputed line's digest: its patient
    number_of: dict[bytes, int] = {}  # a line of the file's digest: its (last) line number
    in_order = True
    given = target.open("rb") if target.is_file() else None
    try:
        number = 0
        while True:
            item = next(lines, None)
            line = given.readline() if given is not None else b""
            if item is None and not line:
                break
            if item is not None:
                kinds.update(d["kind"] for d in item[1])
                text = item[0].encode("utf-8")
                digest = hashlib.sha256(text).digest()
                want[digest] += 1
                patient_of.setdefault(digest, json.loads(item[0])["patient"])
                in_order &= text == line
            if line:
                number += 1
                digest = hashlib.sha256(line).digest()
                have[digest] += 1
                number_of[digest] = number  # the last: a line given twice is extra there
                in_order &= item is not None
    finally:
        if given is not None:
            given.close()
    counts = {"patients": sum(want.values()), "by_kind": dict(sorted(kinds.items()))}
    if given is None:
        return counts, [Finding("failure", "disagreements-jsonl-differs", f"{target} is missing; the guidelines' "
                                f"results give {counts['patients']} patient(s) with disagreements")]
    if in_order:
        return counts, []
    extra, lacking = have - want, want - have
    what = "; ".join(part for part in (
        f"{sum(extra.values())} line(s) the results do not give (line "
        f"{', '.join(str(number_of[d]) for d in sorted(extra, key=number_of.get)[:5])})" if extra else "",
        f"{sum(lacking.values())} line(s) the results give are not in it (patient "
        f"{', '.join(sorted(patient_of[d] for d in lacking)[:5])})" if lacking else "") if part) \
        or "the same lines in another order"
    return counts, [Finding("failure", "disagreements-jsonl-differs", f"{target} is not what the guidelines' results "
                            f"give: {what}; a line was edited, added, removed or moved")]


_ABSENT = object()
