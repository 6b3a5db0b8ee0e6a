"""Scaffold a new guideline: a folder with a guideline, its terms and citations, one vignette and a README.

NAME is a slug (lowercase letters, digits, single hyphens, starting with a letter): the folder name, the
IRI segment (https://w3id.org/guidelinekg/guideline/NAME/) and the Turtle prefix of the content. The
folder (default ./NAME, or --dir PATH) must not exist or be empty; nothing is ever overwritten. The
scaffold validates with 0 errors: its placeholders (example codes, a placeholder citation, a plausible
range) are marked unverified or as project assumptions, so 'guidelinekg validate' lists them as warnings.

Exit codes: 0 the folder was written; 2 an unsafe or taken NAME, a non-empty folder, a file or link where
the folder should be, or a folder that cannot be written (then nothing is written).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME",
                        help="the guideline's name, a slug such as 'anemia-screening'")
    parser.add_argument("--dir", type=Path, metavar="PATH",
                        help="the folder to write (default: ./NAME): created if missing, "
                        "refused if not empty")


def run(args: argparse.Namespace) -> int:
    from guidelinekg.content.scaffold import FILES, write_scaffold

    folder = write_scaffold(args.name, args.dir)
    shown = folder.as_posix().rstrip("/") + "/"
    quoted = shlex.quote(shown)
    lines = [f"wrote {shown} ({len(FILES)} files):"]
    lines += [f"  {shown}{relative}" for _, relative in FILES]
    patient = shlex.quote(shown + "tests/cases/001-example/patient.json")
    lines += [
        "next:",
        f"  guidelinekg validate {quoted}",
        f"  guidelinekg recommend {patient} --content {quoted} --as-of 2026-01-15",
        f"  guidelinekg vignettes --content {quoted}",
        f"  then replace every EXAMPLE placeholder: see {shown}README.md",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
