"""Derive explained, cited recommendations for one patient (FHIR R4 JSON Bundle, or patient RDF in Turtle
or JSON-LD, detected from the content), with PROV-O provenance.

Exit codes: 0 a report was produced (whatever it recommends), 2 unusable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from guidelinekg.errors import InputError

FORMATS = ("text", "json", "markdown", "turtle")


def _as_of(text: str) -> date:
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--as-of must be a date YYYY-MM-DD, got {text!r}") from None
    if value == date.max:  # the rules read the end of the as-of day, which must be a date too
        raise argparse.ArgumentTypeError(f"--as-of {text} is out of range (the latest is 9999-12-30)")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("patient", metavar="PATIENT", help="patient file: FHIR R4 JSON Bundle, Turtle or JSON-LD")
    parser.add_argument("--as-of", type=_as_of, default=None,
                        help="evaluate as of this date (default: today); always recorded in the output")
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.add_argument("--provenance", metavar="FILE", type=Path,
                        help="write the PROV-O provenance of this run (Turtle) to FILE")
    parser.add_argument("--guideline", metavar="IRI", help="guideline version (IRI or unique part of it)")
    parser.add_argument("--content", metavar="TTL", type=Path, action="append",
                        help="guideline content file(s) to use instead of the shipped guidelines")
    parser.add_argument("--engine", choices=("oxigraph", "rdflib"), default="oxigraph",
                        help="SPARQL engine for the rules (default: oxigraph)")


def evaluate_file(path: Path, *, as_of: date, guideline: str | None = None, content=None, engine="oxigraph"):
    """Load knowledge and one patient file, evaluate, and return (evaluation, report)."""
    from guidelinekg.engine.knowledge import KnowledgeBase
    from guidelinekg.patients.loader import load_patient_input
    from guidelinekg.engine.reasoning import evaluate
    from guidelinekg.report.patient import build_report

    if content:
        from guidelinekg.checks.gate import require_valid_content

        require_valid_content(content)
    kb = KnowledgeBase.load(content)
    version = kb.version(guideline)
    from guidelinekg.engine.patientcheck import validate_patients
    from guidelinekg.engine.shapes_sparql import load_patient_shapes

    patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    patient = validate_patients([patient], kb, load_patient_shapes())[0]
    evaluation = evaluate(kb, [patient], as_of=as_of, engine=engine)
    return evaluation, build_report(evaluation, patient.patient_iri, version)


def _check_writable(path: Path) -> None:
    """Refuse, before any work, a --provenance path that cannot be a file: a directory, or a path through
    something that is not a directory (``/dev/null/x.ttl``)."""
    if path.is_dir():
        raise InputError(f"--provenance {path} is a directory", hint="give a file path, e.g. DIR/provenance.ttl")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"cannot write --provenance {path}: {parent} is not a directory")
            return


def run(args: argparse.Namespace) -> int:
    from guidelinekg.report.views import render
    from guidelinekg.provenance.record import provenance_turtle

    if Path(args.patient).is_dir():
        raise InputError(f"{args.patient} is a directory", hint="give one patient file; for many patients use 'guidelinekg cohort'")
    if not Path(args.patient).exists():  # not is_file(): a device or a pipe (/dev/stdin) is read as a file
        raise InputError(f"no such file: {args.patient}")
    if args.provenance:
        _check_writable(args.provenance)
    as_of = args.as_of or date.today()
    evaluation, report = evaluate_file(Path(args.patient), as_of=as_of, guideline=args.guideline,
                                       content=args.content, engine=args.engine)
    if args.provenance:
        try:
            args.provenance.parent.mkdir(parents=True, exist_ok=True)
            args.provenance.write_text(provenance_turtle(evaluation), encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write --provenance {args.provenance}: {exc.strerror or exc}") from None
        report["provenance"]["file"] = str(args.provenance)
    if args.format == "json":
        sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False, sort_keys=False) + "\n")
    elif args.format == "turtle":
        sys.stdout.write(provenance_turtle(evaluation))
    else:
        sys.stdout.write(render(report, markdown=args.format == "markdown"))
    return 0
