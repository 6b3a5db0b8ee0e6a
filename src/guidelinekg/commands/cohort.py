"""Evaluate a whole cohort with the same rules as `recommend`: FHIR Bulk Data NDJSON (the $export layout),
a directory of FHIR R4 bundles, or patient RDF. Writes per-patient results (JSON Lines), a summary table
(CSV), bad records and the provenance (N-Quads) to --out. Resumable with --resume after an interruption.

A bad record never stops the run: it is listed in bad-records.jsonl with file and line (a patient whose
records cannot be mapped or evaluated is set aside there, the others are evaluated). The summary gives the
patients found in the input against those evaluated and those set aside. Warnings (an $export manifest whose
counts differ from the lines read, that reports errors, or that leaves an NDJSON file of the directory out)
go to stderr and to the summary's "warnings"; they do not change the exit code.

Several guidelines (every loaded one, or those chosen with --guideline) are each evaluated on their own,
into a folder of --out per guideline version (a complete cohort run each: results, summary, provenance,
resumable and auditable on its own); the summary printed and written to --out/run.json lists each.

Exit codes: 0 done; 1 a patient of the input was neither evaluated nor set aside as a bad record; 2
unusable input or options (an $export manifest that is malformed or lists a file that is missing), --out
not writable (a file, read-only, a full disk), a corrupt manifest.json of the run (--resume), or no
patient could be evaluated (every record bad).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from guidelinekg.commands.recommend import _as_of


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT", type=Path,
                        help="Bulk Data export directory (*.ndjson, split files, an $export manifest), directory of "
                             "FHIR bundles, or patient RDF")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory")
    parser.add_argument("--as-of", type=_as_of, default=None, help="evaluate as of this date (default: today)")
    parser.add_argument("--workers", type=_positive, default=1, help="local worker processes (default 1)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run the chunks on a Dask distributed cluster, e.g. tcp://10.0.0.5:8786")
    parser.add_argument("--chunk-size", type=_positive, default=250,
                        help="patients per chunk (default 250: measured fastest per patient; 1000 is 20%% slower)")
    parser.add_argument("--resume", action="store_true", help="finish an interrupted run in --out")
    parser.add_argument("--fhir", action="store_true",
                        help="also write the results as FHIR R4 NDJSON, one file per resource type, in OUT/fhir/ "
                             "(per guideline folder when several), with a Bulk Data manifest.json")
    parser.add_argument("--guideline", metavar="IRI", action="append",
                        help="evaluate only this guideline version (IRI, label or a unique part of the IRI); "
                             "repeatable; default: every loaded guideline, each in a folder of --out of its own")
    parser.add_argument("--content", metavar="TTL", type=Path, action="append", default=[],
                        help="guideline content file or directory (a directory per guideline), repeatable, "
                             "instead of the shipped guidelines")
    bar = parser.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None, help="always show a progress bar")
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="never show a progress bar")


def run(args: argparse.Namespace) -> int:
    from guidelinekg.cohort.paths import check_out
    from guidelinekg.cohort.run import CohortOptions, run_cohort
    from guidelinekg.commands import refuse_overwriting_input

    check_out(args.out, args.input)  # before any work: the run writes and clears files in --out
    read = [args.input, *args.content]
    refuse_overwriting_input("--out", args.out, read, folders=read, output_is_folder=True)

    options = CohortOptions(
        source=args.input, out=args.out, as_of=args.as_of or date.today(), chunk_size=args.chunk_size,
        workers=args.workers, scheduler=args.scheduler, resume=args.resume, guideline=tuple(args.guideline or ()),
        content=tuple(args.content), progress=args.progress,
    )
    summary = run_cohort(options)
    if args.fhir and summary["patients"]:
        from guidelinekg.cohort.fhirexport import write_fhir

        folders = ([args.out / g["folder"] for g in summary["guidelines"].values()] if "guidelines" in summary
                   else [args.out])
        summary["fhir"] = {str(f / "fhir"): write_fhir(f) for f in folders}
    sys.stdout.write(json.dumps(summary, sort_keys=True) + "\n")
    for warning in summary.get("warnings", []):  # an $export manifest's counts, errors, unlisted files
        sys.stderr.write(f"guidelinekg cohort: warning: {warning}\n")
    bad = args.out / "bad-records.jsonl" if "guidelines" not in summary else args.out / "*" / "bad-records.jsonl"
    if summary["patients_unaccounted"]:
        missing = ", ".join(summary["patients_missing"][:5])
        sys.stderr.write(
            f"guidelinekg cohort: error: {summary['patients_found']} patient(s) found in the input, "
            f"{summary['patients']} evaluated, {summary['patients_set_aside']} set aside in {bad}: "
            f"{summary['patients_unaccounted']} unaccounted for" + (f" ({missing})" if missing else "") + "\n")
        return 1
    if summary["patients"] == 0:
        sys.stderr.write(f"guidelinekg cohort: error: no patient could be evaluated ({summary['bad_records']} bad "
                         f"record(s): see {bad})\n")
        return 2
    return 0
