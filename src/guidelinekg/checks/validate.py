"""All the checks of guideline content in one run: syntax, SHACL shapes, OWL (HermiT) and lints.

:func:`validate` returns the report as data (what ``guidelinekg validate --format json`` prints);
:func:`render_text` and :func:`render_line` are its text form. The ``validate`` command and the content
gate (:mod:`guidelinekg.checks.gate`) both call it, so they agree on what an error is.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from pyoxigraph import Literal

from guidelinekg.content import resources
from guidelinekg.errors import CONTROL
from guidelinekg.content.grouping import split_guidelines
from guidelinekg.content.loading import SEVERITIES, Finding, display_path, expand_paths, load_files, unread_rdf_files


def validate(
    paths: list[Path], *, shapes: list[Path] | None = None, owl: bool = True, require_owl: bool = False
) -> dict:
    """Run every step and return the report as data (what ``--format json`` prints).

    Several guidelines (directories declaring a guideline version, :func:`split_guidelines`) are each
    checked with the vocabulary and the shared files, as they are evaluated: one guideline's statements
    about a shared term (a LOINC measure's canonical unit) are no error in another's. The reports are
    merged (a finding in a shared file once), plus :func:`cross_guideline_findings` and
    :func:`equivalent_cross_findings`.

    Returns:
        ``{"files", "findings", "steps", "owl", "summary", "exit_code"}``; findings are dicts of
        :class:`~guidelinekg.content.loading.Finding`, sorted.
    """
    given = expand_paths(paths) if paths else resources.guideline_files()
    own, shared = split_guidelines(paths if paths else [resources.ontology_dir() / "guidelines"])
    if len(own) < 2:
        return _validate_files(given, paths, shapes, owl, require_owl)[0]
    checked = [_validate_files(shared + group, paths, shapes, owl, require_owl) for group in own]
    reports = [report for report, _ in checked]
    from guidelinekg.checks.units import cross_guideline_findings, equivalent_cross_findings

    findings = list({json.dumps(f, sort_keys=True): f for r in reports for f in r["findings"]}.values())
    from guidelinekg.checks.conflicts import conflict_findings

    contents = [content for _, content in checked]
    findings += [f.as_dict() for f in [*cross_guideline_findings(contents), *equivalent_cross_findings(contents),
                                       *conflict_findings(contents)]]
    findings.sort(key=lambda f: Finding(**f).sort_key())
    counts = Counter(f["severity"] for f in findings)
    worst = max(r["exit_code"] for r in reports)
    # each step as the guideline that fared worst saw it (the first whose status is not "ok"), its findings
    # counted over all the guidelines (as the summary counts them)
    steps = {name: dict(next((r["steps"][name] for r in reports if r["steps"][name].get("status") != "ok"),
                             reports[0]["steps"][name])) for name in reports[0]["steps"]}  # fmt: skip
    for name in ("shacl", "lint"):
        if "errors" in steps[name]:
            steps[name].update(_counts([Finding(**f) for f in findings if f["kind"] == name]))
    return {
        "files": list(dict.fromkeys(name for r in reports for name in r["files"])),
        "guidelines": [[display_path(f) for f in group] for group in own],
        "findings": findings,
        "steps": steps,
        "owl": next((r["owl"] for r in reports if r["owl"]["status"] != reports[0]["owl"]["status"]),
                    reports[0]["owl"]),
        "summary": {severity: counts[severity] for severity in SEVERITIES},
        "exit_code": worst if worst else (1 if counts["error"] else 0),
    }


def _validate_files(
    given: list[Path], paths: list[Path], shapes: list[Path] | None, owl: bool, require_owl: bool
) -> tuple[dict, object]:
    """The report of one knowledge base's files, and their loaded content."""
    vocabulary = resources.vocabulary_files()
    content, findings = load_files(expand_paths([*vocabulary, *given]))
    findings += [  # a directory that holds nothing to check is a mistake, not a pass
        Finding("error", "input", "no-turtle-files", "no Turtle (*.ttl) files in this directory", file=display_path(p))
        for p in paths or () if p.is_dir() and not expand_paths([p])
    ]
    findings += [  # e.g. a Protégé save as RDF/XML next to the Turtle: the guideline would be incomplete
        Finding("error", "input", "not-turtle", "not read: only Turtle (*.ttl) is read; save or convert it as "
                "Turtle (in Protégé: File > Save as > Turtle Syntax)", file=display_path(f))
        for f in unread_rdf_files(paths or ())
    ]
    findings += number_findings(content)  # NaN would stop pySHACL and the lints: checked first
    steps: dict[str, dict] = {
        "syntax": {"status": "failed" if findings else "ok", "files": len(content.files)}
    }
    owl_status = {"status": "not run", "reason": "--no-owl", "seconds": None}
    if findings:
        reason = "skipped: input unusable (fix the errors above first)"
        steps.update(shacl={"status": reason}, lint={"status": reason})
        owl_status = {"status": "not run", "reason": reason, "seconds": None}
    else:
        steps["shacl"], shacl_findings = _shacl(content, shapes)
        findings += shacl_findings
        if owl:
            from guidelinekg.checks.owl import check_owl

            status, owl_findings = check_owl(content)
            owl_status = status.as_dict()
            findings += owl_findings
        started = time.perf_counter()
        from guidelinekg.checks.lint import run_lints

        lint_findings = run_lints(content)
        steps["lint"] = {**_counts(lint_findings), "seconds": time.perf_counter() - started}
        findings += lint_findings
    steps["owl"] = owl_status
    findings += [
        Finding("warning", "input", "empty-file", "the file holds no triples: nothing in it was checked", file=f.display)
        for f in content.files if f.triples == 0
    ]
    findings.sort(key=Finding.sort_key)
    counts = Counter(f.severity for f in findings)
    if (
        any(f.kind == "input" and f.severity == "error" for f in findings)
        or require_owl
        and owl_status["status"] in ("skipped", "failed")
    ):
        exit_code = 2
    else:
        exit_code = 1 if counts["error"] else 0
    return {
        "files": [f.display for f in content.files],
        "findings": [f.as_dict() for f in findings],
        "steps": steps,
        "owl": owl_status,
        "summary": {severity: counts[severity] for severity in SEVERITIES},
        "exit_code": exit_code,
    }, content


XSD = "http://www.w3.org/2001/XMLSchema#"
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
_DOUBLE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?INF|NaN")
_I64 = 2**63
# the integer types: their (inclusive) bounds, as the rules' engine (Oxigraph, 64-bit integers) holds them
_INTEGERS = {
    "integer": (-_I64, _I64 - 1), "long": (-_I64, _I64 - 1), "int": (-2**31, 2**31 - 1),
    "short": (-2**15, 2**15 - 1), "byte": (-128, 127), "nonNegativeInteger": (0, _I64 - 1),
    "positiveInteger": (1, _I64 - 1), "nonPositiveInteger": (-_I64, 0), "negativeInteger": (-_I64, -1),
    "unsignedLong": (0, _I64 - 1), "unsignedInt": (0, 2**32 - 1), "unsignedShort": (0, 2**16 - 1),
    "unsignedByte": (0, 255),
}
_DECIMAL_MAX = Decimal("170141183460469231731.687303715884105727")  # Oxigraph: 128 bits, 18 places
_FLOAT_MAX = {"double": 1.7976931348623157e308, "float": 3.4028234663852886e38}


def number_findings(content) -> list[Finding]:
    """Numbers the rules cannot compute with: a literal of a numeric XSD type that is no number of its
    type (``"seventy"^^xsd:decimal``, ``"1e999"^^xsd:decimal``), not finite (``NaN``, ``INF``, a double
    beyond its range), or beyond what the rules' engine holds (an integer over 64 bits, a decimal over
    about 1.7e20 or with more than 18 places). Such a value is never compared as written: a threshold of
    it is always or never met, and pySHACL and the lints cannot order it. Located at the line stating it."""
    findings = []
    for quad in content.store.quads_for_pattern(None, None, None, None):
        term = quad.object
        if not isinstance(term, Literal) or not term.datatype.value.startswith(XSD):
            continue
        problem = _number_problem(term.datatype.value[len(XSD):], term.value)
        if problem is None:
            continue
        code, message = problem
        finding = content.finding(quad.subject, "error", "input", code, message, where=(quad.predicate, term),
                                  path=content.compact(quad.predicate), value=f'"{term.value}"')
        findings.append(dataclasses.replace(finding, line=_line_of(content, quad, finding.line)))
    return findings


def _number_problem(kind: str, text: str) -> tuple[str, str] | None:
    """``(code, message)`` when ``text`` is no usable number of the XSD type ``kind``, else None."""
    fix = "write the value the source states, unquoted (e.g. 75.0)"
    if kind in _INTEGERS:
        if not _INTEGER.fullmatch(text):
            return "number-ill-typed", f"not an xsd:{kind} (digits only, no point or exponent); {fix}"
        low, high = _INTEGERS[kind]
        if not low <= int(text) <= high:
            return "number-out-of-range", (f"an xsd:{kind} outside {low}..{high}, which the rules never "
                                           f"compare; {fix}")
    elif kind == "decimal":
        if not _DECIMAL.fullmatch(text):
            return "number-ill-typed", ("not an xsd:decimal (digits and one optional point: no exponent, NaN "
                                        f"or INF); {fix}")
        value = Decimal(text)
        if abs(value) > _DECIMAL_MAX or -value.normalize().as_tuple().exponent > 18:
            return "number-out-of-range", ("an xsd:decimal over 1.7e20 or with more than 18 digits after the "
                                           f"point, which the rules never compare; {fix}")
    elif kind in _FLOAT_MAX:
        if not _DOUBLE.fullmatch(text):
            return "number-ill-typed", f"not an xsd:{kind}; {fix}"
        if not abs(float(text)) <= _FLOAT_MAX[kind]:  # NaN, INF and an overflow to INF
            return "number-not-finite", ("not a finite number: nothing is equal to, above or below NaN, and "
                                         f"everything is below INF; {fix}")
    return None


def _line_of(content, quad, start: int | None) -> int | None:
    """The first line, from ``start`` (the subject's line) on, where the literal is written, else where the
    property is (``1e999`` is read as, and shown as, INF); else ``start``."""
    source = next((f for f in content.files if f.graph == quad.graph_name), None)
    if source is None:
        return start
    lines = source.path.read_text(encoding="utf-8", errors="replace").splitlines()
    local = re.split(r"[#/]", quad.predicate.value)[-1]
    written = r'(?<![\w.+-])"?' + re.escape(quad.object.value) + r"(?![\w.])"
    for pattern in (written, r"\b" + re.escape(local) + r"\b"):
        found = next((n for n in range(start or 1, len(lines) + 1) if re.search(pattern, lines[n - 1])), None)
        if found is not None:
            return found
    return start


def _shacl(content, shapes: list[Path] | None) -> tuple[dict, list[Finding]]:
    shape_files = expand_paths(shapes) if shapes else resources.shape_files()
    if not shape_files:
        return {"status": f"skipped: no shapes in {resources.shapes_dir()}"}, []
    shapes_content, problems = load_files(shape_files)
    if problems:
        return {"status": "failed: shapes unusable"}, problems
    from guidelinekg.checks.shacl import shacl_findings

    started = time.perf_counter()
    findings = shacl_findings(content, shapes_content)
    return {**_counts(findings), "shapes": len(shapes_content.files), "seconds": time.perf_counter() - started}, findings


def _counts(findings: list[Finding]) -> dict:
    """A step that ran: ``status`` "ok" unless one of its findings is an error ("errors"), its findings
    and their number per severity."""
    counts = Counter(f.severity for f in findings)
    return {"status": "errors" if counts["error"] else "ok", "findings": len(findings),
            **{f"{severity}s": counts[severity] for severity in SEVERITIES}}  # fmt: skip


def render_line(finding: dict) -> str:
    """``file:line: severity: [code] focus label (path): message [value: v]``, parts omitted when empty."""
    f = Finding(**finding)
    text = f"{f.location}: {f.severity}: [{f.code}]"
    if f.focus_label:
        text += f" {f.focus_label}"
    if f.path:
        text += f" ({f.path})"
    text += f"{':' if f.focus_label or f.path else ''} {f.message}"
    if f.value:
        text += f" [value: {f.value}]"
    return text


def render_text(report: dict) -> str:
    """The findings one a line (sorted by file, kind, severity, code), then the steps and a summary."""
    # a control character quoted from the content (an ESC in a literal) is shown as \xNN, never sent
    lines = [CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", render_line(finding)) for finding in report["findings"]]
    steps = report["steps"]
    lines.append(f"shacl: {_step(steps['shacl'])}")
    owl = report["owl"]
    seconds = f" ({owl['seconds']:.1f} s)" if owl.get("seconds") is not None else ""
    reason = f": {owl['reason']}" if owl.get("reason") else ""
    hint = (
        " (install Java or pass --no-owl; --require-owl makes this an error)"
        if owl["status"] == "skipped"
        else ""
    )
    lines.append(f"owl: {owl['status']}{reason}{seconds}{hint}")
    lines.append(f"lint: {_step(steps['lint'])}")
    summary = report["summary"]
    lines.append(
        f"validate: {len(report['files'])} files, {summary['error']} errors, {summary['warning']} "
        f"warnings, {summary['info']} infos; exit {report['exit_code']}"
    )
    return "\n".join(lines) + "\n"


def _step(step: dict) -> str:
    """A step's line: "ok" only when it found no error, then its findings per severity, worded as the
    summary line (``ok, 3 shapes, 0 errors, 2 warnings, 0 infos``; ``1 errors, 17 warnings, 0 infos``)."""
    if "errors" not in step:  # skipped, or unusable shapes: the status says why
        return step.get("status", "")
    counts = ", ".join(f"{step[f'{severity}s']} {severity}s" for severity in SEVERITIES)
    detail = ", ".join([*([f"{step['shapes']} shapes"] if "shapes" in step else []), counts])
    text = detail if step["errors"] else f"ok, {detail}"
    return f"{text} ({step['seconds']:.2f} s)" if "seconds" in step else text
