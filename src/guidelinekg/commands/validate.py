"""Check guideline content: Turtle syntax, SHACL shapes, OWL consistency (HermiT) and lints.

Without PATH, checks the shipped vocabulary and guideline content. Given PATHs (files or directories of
.ttl files), checks them together with the core vocabulary, which supplies the class hierarchy.

Exit codes: 0 no errors (warnings and infos allowed); 1 errors found (SHACL violations, OWL
inconsistency or unsatisfiable classes, error lints); 2 unusable input (missing file, not Turtle,
syntax error: the other steps are then skipped) or, with --require-owl, the OWL step could not run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from guidelinekg.checks.validate import render_text, validate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="Turtle files or directories (default: the shipped vocabulary and guidelines)",
    )
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="report format (default: text)"
    )
    parser.add_argument(
        "--shapes",
        action="append",
        type=Path,
        metavar="PATH",
        help="SHACL shapes file or directory, repeatable (default: shapes/*.ttl)",
    )
    owl = parser.add_mutually_exclusive_group()
    owl.add_argument("--no-owl", action="store_true", help="skip the OWL reasoning step (HermiT in Java, about 1.5 s)")
    owl.add_argument(
        "--require-owl",
        action="store_true",
        help="exit 2 when the OWL step cannot run (e.g. no Java) instead of skipping it",
    )


def run(args: argparse.Namespace) -> int:
    report = validate(args.paths, shapes=args.shapes, owl=not args.no_owl, require_owl=args.require_owl)
    if args.format == "json":
        json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_text(report))
    return report["exit_code"]
