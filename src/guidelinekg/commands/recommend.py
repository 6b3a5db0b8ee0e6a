"""Derive explained, cited recommendations for one patient (FHIR R4 JSON Bundle, or patient RDF in Turtle
or JSON-LD, detected from the content), with PROV-O provenance.

Exit codes: 0 a report was produced (whatever it recommends), 2 unusable input.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import date
from pathlib import Path

from guidelinekg.errors import InputError, no_such_path

FORMATS = ("text", "json", "markdown", "turtle", "trig", "fhir")


# YYYY-MM-DD only: date.fromisoformat also takes a week date (2026-W03) and the basic form (20260115)
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _as_of(text: str) -> date:
    try:
        if not ISO_DATE.fullmatch(text):
            raise ValueError(text)
        value = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--as-of must be a date YYYY-MM-DD (e.g. 2026-01-15), got {text!r}") from None
    if value == date.max:  # the rules read the end of the as-of day, which must be a date too
        raise argparse.ArgumentTypeError(f"--as-of {text} is out of range (the latest is 9999-12-30)")
    return value


LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")  # BCP 47: a language, then subtags


def _language(text: str) -> str:
    if len(text) > 35 or not LANGUAGE.fullmatch(text):  # 35: the longest tag BCP 47 implementations need
        raise argparse.ArgumentTypeError(f"--lang must be a language tag such as en, de or pt-BR, got {text!r}")
    return text.lower()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("patient", metavar="PATIENT", help="patient file: FHIR R4 JSON Bundle, Turtle or JSON-LD")
    parser.add_argument("--as-of", type=_as_of, default=None,
                        help="evaluate as of this date (default: today); always recorded in the output")
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.add_argument("--provenance", metavar="FILE", type=Path,
                        help="write the PROV-O provenance of this run (Turtle) to FILE")
    parser.add_argument("--guideline", metavar="IRI", action="append",
                        help="evaluate only this guideline version (IRI, label or a unique part of the IRI); "
                             "repeatable; default: every loaded guideline, each in a report of its own")
    parser.add_argument("--content", metavar="TTL", type=Path, action="append",
                        help="guideline content file or directory (a directory per guideline), repeatable, "
                             "instead of the shipped guidelines")
    parser.add_argument("--engine", choices=("oxigraph", "rdflib"), default="oxigraph",
                        help="SPARQL engine for the rules (default: oxigraph)")
    parser.add_argument("--audience", choices=("clinician", "patient"), default="clinician",
                        help="who the report is for (default: clinician); 'patient' words it with the guideline's "
                             "wording for patients (gkg:patientText), and adds patient_view to --format json")
    parser.add_argument("--lang", metavar="TAG", type=_language, default=None,
                        help="language of the wording for patients, a BCP 47 tag (default: en); with --audience patient")


def evaluate_file(path: Path, *, as_of: date, guideline: str | None = None, content=None, engine="oxigraph"):
    """Load knowledge and one patient file, evaluate, and return (evaluation, report) of the one guideline
    version loaded (or the one ``guideline`` names)."""
    evaluated = evaluate_guidelines(path, choose_guidelines([guideline] if guideline else None, content),
                                    as_of=as_of, engine=engine)
    if len(evaluated) != 1:
        names = ", ".join(report["guideline"]["version_iri"] for _, report in evaluated)
        raise InputError(f"several guideline versions are loaded; choose one with --guideline: {names}")
    return evaluated[0]


def choose_guidelines(selectors, content):
    """The guideline versions to evaluate (:func:`guidelinekg.engine.guidelines.load_guidelines`), after
    checking ``--content`` (invalid content is refused with its findings)."""
    from guidelinekg.engine.guidelines import load_guidelines

    if content:
        from guidelinekg.checks.gate import require_valid_content

        require_valid_content(content)
    return load_guidelines(content, selectors)


def evaluate_guidelines(path: Path, guidelines, *, as_of: date, engine="oxigraph",
                        patient_lang: str | None = None, facts: bool = False) -> list[tuple]:
    """One patient file evaluated against each guideline on its own (its knowledge base reads the file:
    which observations it maps, and in which units, is that guideline's); (evaluation, report) each."""
    from guidelinekg.engine.patientcheck import validate_patients
    from guidelinekg.engine.reasoning import evaluate
    from guidelinekg.engine.shapes_sparql import load_patient_shapes
    from guidelinekg.patients.loader import load_patient_input, read_patient_bytes
    from guidelinekg.report.patient import build_report

    shapes = load_patient_shapes()
    raw = read_patient_bytes(path)  # once: a pipe (/dev/stdin) cannot be read again
    out = []
    for g in guidelines:
        kb = g.kb
        patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads, raw=raw)
        patient = validate_patients([patient], kb, shapes)[0]
        evaluation = evaluate(kb, [patient], as_of=as_of, engine=engine)
        out.append((evaluation, build_report(evaluation, patient.patient_iri, g.version, patient_lang=patient_lang,
                                                  facts=facts)))
    return out


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


def _check_not_an_input(args: argparse.Namespace) -> None:
    """--provenance must not replace the patient file, a content file (a file of a --content folder by any
    name) or a shipped file (vocabulary, guidelines, shapes, rules, queries), nor land in a --content or
    shipped folder (the next run would read it)."""
    from guidelinekg.commands import refuse_overwriting_input

    content = list(args.content or [])
    refuse_overwriting_input("--provenance", args.provenance, [args.patient, *content], folders=content)


def run(args: argparse.Namespace) -> int:
    from guidelinekg.commands import write_replacing
    from guidelinekg.report.views import render, render_patient
    from guidelinekg.provenance.record import provenance_dataset, provenance_turtle

    if Path(args.patient).is_dir():
        raise InputError(f"{args.patient} is a directory", hint="give one patient file; for many patients use 'guidelinekg cohort'")
    if not Path(args.patient).exists():  # not is_file(): a device or a pipe (/dev/stdin) is read as a file
        raise no_such_path(args.patient)
    if args.provenance:
        _check_writable(args.provenance)
        _check_not_an_input(args)
    as_of = args.as_of or date.today()
    patient_lang = _audience(args)
    guidelines = choose_guidelines(args.guideline, args.content)
    several = len(guidelines) > 1
    if several:  # one Turtle graph holds one run: refused before any work
        names = ", ".join(g.version.iri for g in guidelines)
        if args.format == "turtle":
            raise InputError(f"--format turtle holds one run, and {len(guidelines)} guidelines are evaluated "
                             f"({names})", hint="use --format trig (a named graph per run), or choose one "
                             "with --guideline")
        if args.provenance and args.provenance.suffix.lower() != ".trig":
            raise InputError(f"--provenance {args.provenance}: {len(guidelines)} guidelines are evaluated "
                             f"({names}), one run each, written as TriG", hint="give a .trig file (a named "
                             "graph per run), or choose one guideline with --guideline")
    evaluated = evaluate_guidelines(Path(args.patient), guidelines, as_of=as_of, engine=args.engine,
                                    patient_lang=patient_lang, facts=args.format == "fhir")
    evaluations = [e for e, _ in evaluated]
    reports = [r for _, r in evaluated]
    disagreements = _disagreements(evaluated) if several else []

    def provenance() -> str:
        return (provenance_dataset(evaluations, disagreements) if several or args.format == "trig"
                else provenance_turtle(evaluations[0]))

    if args.provenance:
        try:
            args.provenance.parent.mkdir(parents=True, exist_ok=True)
            trig = several or args.provenance.suffix.lower() == ".trig"  # TriG whenever the name says so
            write_replacing(args.provenance, (provenance_dataset(evaluations, disagreements) if trig else
                                              provenance_turtle(evaluations[0])).encode("utf-8"))
        except OSError as exc:
            raise InputError(f"cannot write --provenance {args.provenance}: {exc.strerror or exc}") from None
        for report in reports:
            report["provenance"]["file"] = str(args.provenance)
    if args.format == "json":
        document = reports[0] if not several else {
            "patient": reports[0]["patient"], "as_of": reports[0]["as_of"], "reports": reports,
            "disagreements": disagreements}
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n")
    elif args.format in ("turtle", "trig"):
        sys.stdout.write(provenance())
    elif args.format == "fhir":  # a FHIR R4 Bundle: RequestGroup, requests, GuidanceResponse, Provenance
        from guidelinekg.report.fhirout import fhir_bundle

        sys.stdout.write(json.dumps(fhir_bundle(reports), indent=2, ensure_ascii=False) + "\n")
    elif patient_lang is not None:
        sys.stdout.write("\n".join(render_patient(r, markdown=args.format == "markdown") for r in reports))
        if disagreements:  # said to the patient in one line; the clinician report details them
            sys.stdout.write(f"\nThe guidelines above differ on {len(disagreements)} point(s) for you: ask your "
                             "clinician (the report for clinicians explains each).\n")
    else:
        sys.stdout.write("\n".join(render(r, markdown=args.format == "markdown") for r in reports))
        if disagreements:
            from guidelinekg.report.disagree import render_disagreements

            sys.stdout.write("\n" + render_disagreements(disagreements, markdown=args.format == "markdown"))
    return 0


def _audience(args: argparse.Namespace) -> str | None:
    """The language of a report for patients (None: a report for clinicians); refuses what would be ignored."""
    if args.audience != "patient":
        if args.lang is not None:
            raise InputError("--lang chooses the wording for patients", hint="add --audience patient")
        return None
    if args.format in ("turtle", "trig", "fhir"):
        raise InputError(f"--audience patient with --format {args.format}: the output is the same for every "
                         "audience", hint="use --format text, markdown or json")
    return args.lang or "en"


def _disagreements(evaluated: list[tuple]) -> list[dict]:
    """Where the guidelines evaluated for the patient disagree (:mod:`guidelinekg.report.disagree`), each
    guideline's statements about actions read once per knowledge base (:mod:`guidelinekg.checks.conflicts`)."""
    from guidelinekg.checks.conflicts import stances_of
    from guidelinekg.content.loading import Content
    from guidelinekg.report.disagree import patient_disagreements

    stances = {report["guideline"]["version_iri"]:
               evaluation.knowledge.memo("action-stances", lambda store: stances_of(Content(store=store.raw)))
               for evaluation, report in evaluated}
    return patient_disagreements([r for _, r in evaluated], stances)
