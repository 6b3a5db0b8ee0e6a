"""Where loaded guidelines disagree: for each pair, the regions of patient data in which one recommends an
action the other advises against or does not indicate (contradiction), advises so against a part of it only,
the rest standing (except: a member of a class recommended, a narrower class), or both recommend it but over
different ranges (different-threshold), with both statements, their grades and citations.

Statements are about the same action when their interventions share a substance or class, known across
guidelines by a verified code or by name; regions are compared on shared measures (LOINC IRIs, units
converted by UCUM). Give each guideline as a folder (--content DIR, repeatable: at least two guidelines;
a folder holding several guideline folders counts as several). Exit 0 with or without disagreements; 2 when
fewer than two guidelines are given or content does not load (run validate).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from guidelinekg.checks.conflicts import disagreements, guideline_stances


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--content", action="append", type=Path, metavar="PATH", required=True,
                        help="a guideline folder (or file), repeatable: at least two guidelines")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="report format (default: text)")


def run(args: argparse.Namespace) -> int:
    from guidelinekg.errors import no_such_path

    for path in args.content:  # else a missing folder counts as no guideline ("found 1")
        if not path.exists():
            raise no_such_path(path)
    stances = guideline_stances(args.content)
    found = disagreements(stances)
    guidelines = sorted({s.guideline for group in stances for s in group})
    if args.format == "json":
        json.dump({"guidelines": guidelines, "disagreements": [d.as_dict() for d in found]}, sys.stdout,
                  indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    out = [f"{len(found)} disagreement{'s' * (len(found) != 1)} among {len(stances)} guidelines: "
           + "; ".join(guidelines)]
    for d in found:
        out.append("")
        out.append(f"[{d.kind}] {d.first.action}")
        for side in (d.first, d.second):
            grade = f", {side.grade}" if side.grade else ""
            cites = f"; cites: {'; '.join(side.citations)}" if side.citations else ""
            out.append(f"  {side.guideline}: {side.label} ({side.stance}{grade}){cites}")
        if d.kind == "except":
            out.append(f"  a part only: {d.second.action}; the rest of {d.first.action} stays recommended")
        out += [f"  where: {region}" for region in d.regions]
    sys.stdout.write("\n".join(out) + "\n")
    return 0
