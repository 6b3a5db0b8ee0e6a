"""Run a guideline's vignettes: each case (a folder with one patient file and expected.json, the format of
docs/authoring.md 1.19 and of the folder 'guidelinekg new' writes) evaluated as 'recommend --content'
evaluates it, as of the case's as_of date, and compared with what its expected.json expects, key by key,
as the project's own vignette tests compare.

CASES is a folder of case folders, or one case folder; repeatable. Default: the cases/ and tests/cases/
folders of each --content folder (or of each guideline folder directly inside it); without --content, the
shipped guidelines and the project's tests/cases/. A case is compared with the report of the guideline its
checks name (each check must be a statement of that guideline: a node with a gkg:sourceText).

One line per case: 'pass', or 'FAIL' with each difference (which recommendation, order, warning, dose or
caution differs, expected against got); then a summary line. A check naming a statement the engine never
evaluates, for any patient (guidelinekg.report.exercised), is a warning on stderr, located in expected.json;
the case still passes (checks say what a case exercises, expect is what is compared). A control character in
a folder name or an item (a line break, a tab, an ESC) is shown escaped (\n, \t, \x1b), so each case stays
on one line.

Exit codes: 0 every case passes; 1 a case fails; 2 unusable input: an expected.json not in the format or
whose checks name no statement of the guideline (file:line:column and the fix, one line each, on stderr;
the other cases still run), no case found, or content that does not load or validate.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
from datetime import date
from pathlib import Path

from guidelinekg.errors import GuidelineKGError, InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cases", metavar="CASES", type=Path, nargs="*",
                        help="a folder of vignettes (NNN-name/ folders) or one vignette folder, repeatable "
                             "(default: cases/ or tests/cases/ of each --content folder)")
    parser.add_argument("--content", metavar="PATH", type=Path, action="append",
                        help="guideline content file or directory (a directory per guideline), repeatable, "
                             "instead of the shipped guidelines (checked as recommend --content checks it)")
    parser.add_argument("--guideline", metavar="IRI", action="append",
                        help="compare with this guideline version only (IRI, label or a unique part of the "
                             "IRI); default: the loaded guideline whose statements the case's checks name")
    parser.add_argument("--engine", choices=("oxigraph", "rdflib"), default="oxigraph",
                        help="SPARQL engine for the rules (default: oxigraph)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")


def default_case_folders(content: list[Path] | None) -> list[Path]:
    """Where the vignettes are when no CASES is given: ``cases/`` or ``tests/cases/`` of each content folder
    (as 'guidelinekg new' lays them out), else of each guideline folder directly inside it; without content,
    the project's ``tests/cases/``."""
    if not content:
        from guidelinekg.content.resources import project_home

        try:
            found = [project_home() / "tests" / "cases"]
        except FileNotFoundError:
            found = []
        return [p for p in found if p.is_dir()]

    def own(folder: Path) -> list[Path]:
        return [folder / sub for sub in ("cases", "tests/cases") if (folder / sub).is_dir()]

    out: list[Path] = []
    for path in content:
        if Path(path).is_dir():
            out += own(path) or [c for sub in sorted(p for p in Path(path).iterdir() if p.is_dir()) for c in own(sub)]
    return out


def run(args: argparse.Namespace) -> int:
    from guidelinekg.commands.recommend import choose_guidelines
    from guidelinekg.report.vignettes import case_folders, read_case, statements_of

    roots = list(args.cases) or default_case_folders(args.content)
    if not roots:
        where = " or ".join(f"{p}/cases, {p}/tests/cases" for p in (args.content or [])) or "tests/cases"
        raise InputError(f"no vignettes found (looked in {where})",
                         hint="give the folder of vignettes: guidelinekg vignettes CASES --content PATH")
    folders = [folder for root in roots for folder in case_folders(root)]
    if not folders:
        raise InputError("no vignette folders in " + ", ".join(str(r) for r in roots),
                         hint="a vignette is a folder holding one patient file and expected.json")
    guidelines = choose_guidelines(args.guideline, args.content)  # invalid content: refused, exit 2
    statements = {id(g.kb): statements_of(g.kb.ntriples) for g in guidelines}
    results, unusable = [], []
    for folder in folders:
        try:
            case = read_case(folder)
            guideline = _guideline_of(case, guidelines, statements)
        except InputError as exc:
            unusable.append((folder, exc))
            continue
        results.append(_run_case(case, guideline, args.engine, folder))
    failed = sum(1 for r in results if r["status"] == "FAIL")
    code = 2 if unusable else 1 if failed else 0
    for _, exc in unusable:
        sys.stderr.write(f"guidelinekg vignettes: error: {_one_line(exc)}\n")
    warned = [w for r in results for w in r["warnings"]]
    if args.format != "json":
        for w in warned:
            sys.stderr.write(_printable(f"guidelinekg vignettes: warning: {w['message']}") + "\n")
    summary = (f"vignettes: {len(folders)} case{'s' * (len(folders) != 1)}, {len(results) - failed} passed, {failed} failed"
               + (f", {len(unusable)} unusable" if unusable else "")
               + (f", {len(warned)} warning{'s' * (len(warned) != 1)}" if warned else "") + f"; exit {code}")
    if args.format == "json":
        document = {"cases": results,
                    "unusable": [{"case": _shown(f), "message": _one_line(e)} for f, e in unusable],
                    "summary": {"cases": len(folders), "passed": len(results) - failed, "failed": failed,
                                "unusable": len(unusable)},
                    "exit_code": code}
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        return code
    lines = []
    for r in results:
        differences = "; ".join(d["message"] for d in r["differences"])
        lines.append(_printable(f"{r['status']} {r['case']}" + (f": {differences}" if differences else "")))
    sys.stdout.write("\n".join([*lines, summary]) + "\n")
    return code


def _shown(folder: Path) -> str:
    """A case folder as the user would type it: relative to the current directory when below it."""
    try:
        return str(Path(os.path.abspath(folder)).relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(folder)


def _one_line(exc: InputError) -> str:
    """The message and its fix on one line (a control character in the file's path shown escaped)."""
    if exc.location is not None:
        exc = InputError(exc.message, dataclasses.replace(exc.location, path=_printable(exc.location.path)),
                         exc.hint)
    return "; ".join(part.strip().removeprefix("hint: ") for part in str(exc).splitlines() if part.strip())


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _printable(text: str) -> str:
    """``text`` with each control character escaped as Python's repr escapes it (\\n, \\t, \\x1b)."""
    return _CONTROL.sub(lambda m: _ESCAPES.get(m.group(), f"\\x{ord(m.group()):02x}"), text)


def _guideline_of(case, guidelines, statements):
    """The guideline a case is compared with: the one loaded, or the one whose statements its checks name."""
    from guidelinekg.report.vignettes import check_statements

    if len(guidelines) == 1:
        check_statements(case, statements[id(guidelines[0].kb)], guidelines[0].version.iri)
        return guidelines[0]
    checks = set(case.expected["checks"])
    known = set().union(*statements.values())
    for index, iri in enumerate(case.expected["checks"]):
        if iri not in known:
            raise InputError(f"checks[{index}] {iri} is not a statement of any loaded guideline (none has it with a "
                             "gkg:sourceText)", case.where("checks", index),
                             hint="correct the IRI, or name a recommendation or other statement with its "
                                  "gkg:sourceText (not a criterion, measure or intervention) of the guideline the "
                                  "case tests")
    matching = [g for g in guidelines if checks <= statements[id(g.kb)]]
    if len(matching) == 1:
        return matching[0]
    names = ", ".join(g.version.iri for g in (matching or guidelines))
    if matching:
        raise InputError(f"the checks name statements of several loaded guideline versions ({names})",
                         case.where("checks"), hint="choose one with --guideline")
    raise InputError(f"the checks name statements of no one loaded guideline ({names})", case.where("checks"),
                     hint="name statements with a gkg:sourceText of the guideline the case tests, give its "
                          "folder with --content, or choose it with --guideline")


def _run_case(case, guideline, engine: str, folder: Path) -> dict:
    """The case evaluated as recommend evaluates its patient, compared with what it expects."""
    from guidelinekg.commands.recommend import evaluate_guidelines
    from guidelinekg.report.vignettes import compare, compare_error, namespace_of, outcome_of

    expect = case.expected["expect"]
    warnings: list[dict] = []
    try:
        [(_, report)] = evaluate_guidelines(case.patient, [guideline], as_of=date.fromisoformat(case.as_of),
                                            engine=engine)
    except GuidelineKGError as exc:
        differences = (compare_error(expect, exc) if expect.get("error") else
                       [_refused(exc)])
    else:
        differences = (compare_error(expect, None) if expect.get("error") else
                       compare(expect, outcome_of(report, namespace_of(report))))
        warnings = [] if expect.get("error") else _not_exercised(case, guideline, report)
    return {"case": _shown(folder), "guideline": guideline.version.iri, "as_of": case.as_of,
            "status": "FAIL" if differences else "pass",
            "differences": [d if isinstance(d, dict) else d.as_dict() for d in differences],
            "warnings": warnings}


def _not_exercised(case, guideline, report: dict) -> list[dict]:
    """A warning for each check naming a statement the engine never evaluates, for any patient
    (:mod:`guidelinekg.report.exercised`): the case passes, but cannot cover it."""
    from guidelinekg.report.exercised import not_evaluated
    from guidelinekg.report.vignettes import namespace_of

    namespace = namespace_of(report)
    return [{"check": index, "statement": iri,
             "message": f"{case.where('checks', index)}: checks[{index}] {iri.removeprefix(namespace)} is never "
                        "evaluated (no rule and nothing in the report reads it, for any patient: a good practice, "
                        "summary or other statement without the properties the rules read), so no case can "
                        "exercise it; name in checks the statements the case shows, or encode the statement as "
                        "one the rules evaluate"}
            for index, iri in not_evaluated(case.expected["checks"], guideline.kb, report)]


def _refused(exc: GuidelineKGError) -> dict:
    message = _one_line(exc) if isinstance(exc, InputError) else str(exc).splitlines()[0]
    return {"key": "error", "item": None, "expected": "a report", "got": f"exit {exc.exit_code}",
            "message": f"expected a report, got exit {exc.exit_code}: {message}"}
