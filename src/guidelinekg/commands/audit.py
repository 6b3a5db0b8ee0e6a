"""Audit recorded runs (a 'recommend --provenance' file, a cohort provenance.trig.gz or --out directory):
provenance complete (shapes/provenance.ttl), rule and content files and patient facts unchanged since
the run (SHA-256), and a replay of the derivation with the recorded as-of date giving the recorded
results; for a cohort, results.jsonl and summary.csv equal to what the replay gives (for a cohort of several
guidelines, every guideline folder, and run.json and disagreements.jsonl above them); results derived from
guideline content that was not approved, or (with --store) from a version since superseded, are flagged.
Runs are independent: --workers N audits them in N processes; a progress bar shows on a terminal.

Exit codes: 0 everything checks out; 1 a failure (incomplete or tampered provenance, changed rules or
content, a replay difference) or a flag (not approved, superseded) not allowed by --allow-unapproved /
--allow-superseded; 2 unusable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "provenance",
        type=Path,
        metavar="PROVENANCE",
        help="recommend --provenance .ttl, cohort provenance.trig.gz, or a cohort --out directory (of one or "
             "several guidelines)",
    )
    parser.add_argument(
        "--store",
        type=Path,
        metavar="DIR",
        help="store written by 'load': versions there that revise a used version flag results as superseded",
    )
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="report format (default: text)"
    )
    parser.add_argument(
        "--allow-unapproved",
        action="store_true",
        help="report results from content not approved, but do not fail on them",
    )
    parser.add_argument(
        "--allow-superseded",
        action="store_true",
        help="report results from superseded guideline versions, but do not fail on them",
    )
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="audit runs in N local processes (default 1; runs are independent)")
    bar = parser.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="always show a progress bar on stderr (default: only on a terminal)")
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="never show a progress bar")


def run(args: argparse.Namespace) -> int:
    from guidelinekg.audit.auditor import audit
    from guidelinekg.audit.toplevel import CohortCode
    from guidelinekg.cohort.several import disagreement_lines, guideline_folder
    from guidelinekg.errors import InputError

    if args.workers < 1:
        raise InputError(f"--workers {args.workers}: give 1 or more")

    report = audit(
        args.provenance,
        store_dir=args.store,
        allow_unapproved=args.allow_unapproved,
        allow_superseded=args.allow_superseded,
        progress=args.progress,
        workers=args.workers,
        cohort_code=CohortCode(guideline_folder, disagreement_lines),  # audit may not import cohort
    )
    if args.format == "json":
        sys.stdout.write(json_text(report))
    else:
        sys.stdout.write(render_text(report))
    return report.exit_code


def json_text(report) -> str:
    """:func:`to_json` as indented JSON text, byte for byte what ``json.dumps(..., indent=2,
    ensure_ascii=False)`` writes, by msgspec: a cohort's audit lists every result (about 7 per patient),
    and the standard library's indenting encoder, pure Python, took as long as a tenth of the audit."""
    import msgspec

    return msgspec.json.format(msgspec.json.encode(to_json(report)), indent=2).decode("utf-8") + "\n"


def to_json(report) -> dict:
    from guidelinekg.audit.verdicts import cohort_checks

    findings = report.findings()
    counts = Counter(f.severity for f in findings)
    return {
        "source": report.source,
        "exit_code": report.exit_code,
        "summary": {
            "runs": len(report.runs),
            "results": sum(len(r.results) for r in report.runs),
            "failures": counts["failure"],
            "flags": counts["flag"],
            "notes": counts["note"],
        },
        "runs": [
            {
                "run": r.run,
                "as_of": r.as_of,
                "engine": r.engine,
                "software": r.software,
                "patients": list(r.patients),
                "versions": [dict(v) for v in r.versions],
                "checks": r.checks,
                "results": _builtins(r.results),
                "findings": _builtins(r.findings),
            }
            for r in report.runs
        ],
        "notes": _builtins(report.notes),
        "checks": cohort_checks(report),
    }


def _builtins(items) -> list:
    """Dataclasses as dicts (what ``dataclasses.asdict`` gives, without its deep copy: 5x faster)."""
    import msgspec

    return msgspec.to_builtins(list(items), str_keys=True)


_MARK = {"failure": "FAIL", "flag": "FLAG", "note": "note"}
_CHECKS = {
    "shapes": "provenance complete (shapes/provenance.ttl)",
    "rules": "rule files unchanged",
    "content": "content files unchanged",
    "input": "patient facts hash to the recorded input",
    "replay": "the replay gives the recorded results",
    "results": "results.jsonl lines are the replay's reports",
}


def render_text(report) -> str:
    """A report a person reads: every check of a run with failures (or of the only run), one line for
    each run without failures, the checks of a cohort's summary.csv and records, then the findings and the
    verdict."""
    from guidelinekg.audit.verdicts import COHORT_FILES, cohort_checks

    out = [f"audit of {report.source}: {len(report.runs)} run(s)"]
    for r in report.runs:
        kinds = Counter(c.kind for c in r.results)
        results = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "no results"
        failed = any(f.severity == "failure" for f in r.findings)
        flags = sorted({f.code for f in r.findings if f.severity == "flag"})
        if not failed and len(report.runs) > 1:
            out.append(
                f"ok   run {r.run}: {len(r.patients)} patient(s), {results}; checks pass"
                + (f"; flags: {', '.join(flags)}" if flags else "")
            )
            continue
        out += [
            "",
            f"run {r.run}",
            f"  as of {r.as_of}, engine {r.engine}, guidelinekg {r.software}, "
            + f"{len(r.patients)} patient(s): {results}",
        ]
        for v in r.versions:
            extra = f", superseded by {', '.join(v['superseded_by'])}" if v["superseded_by"] else ""
            out.append(f"  guideline version {v['label'] or v['iri']}: review status {v['status']}{extra}")
        for key, label in _CHECKS.items():
            if key == "results" and key not in r.checks:
                continue  # a run without results.jsonl ('recommend --provenance')
            value = r.checks.get(key, "-")
            ok = value in ("ok", "same")
            out.append(f"  {'ok  ' if ok else 'FAIL'} {label}{'' if ok else f': {value}'}")
        order = ("failure", "flag", "note")
        for f in sorted(r.findings, key=lambda f: (order.index(f.severity), f.code, f.subject or "")):
            out.append(
                f"  {_MARK[f.severity]} {f.code}: {f.message}" + (f"  <{f.subject}>" if f.subject else "")
            )
    checked = cohort_checks(report)  # the cohort's files checked once, ok or not, as each run's checks are
    for key, label, _ in COHORT_FILES:
        if key in checked:
            ok = checked[key] == "ok"
            out.append(f"{'ok  ' if ok else 'FAIL'} {label}{'' if ok else f': {checked[key]}'}")
    if len(report.runs) > 1:  # the flags of the runs shown on one line, summed per guideline version
        runs, results = Counter(), Counter()
        for r in report.runs:
            if not any(f.severity == "failure" for f in r.findings):
                for f in r.findings:
                    if f.severity == "flag":
                        runs[(f.code, f.subject)] += 1
                        results[(f.code, f.subject)] += sum(f.code in c.flags for c in r.results)
        for (code, subject), n in sorted(runs.items()):
            out.append(
                f"FLAG {code}: {results[(code, subject)]} result(s) in {n} run(s) derive from <{subject}>"
            )
    for f in report.notes:
        out.append(f"{_MARK[f.severity]} {f.code}: {f.message}")
    counts = Counter(f.severity for f in report.findings())
    allowed = [
        f"{code} allowed"
        for code, on in (("not-approved", report.allow_unapproved), ("superseded", report.allow_superseded))
        if on
    ]
    out += [
        "",
        f"{counts['failure']} failure(s), {counts['flag']} flag(s)"
        + (f" ({', '.join(allowed)})" if allowed else "")
        + f": exit {report.exit_code}",
    ]
    return "\n".join(out) + "\n"
