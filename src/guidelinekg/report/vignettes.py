"""Clinical vignettes: a patient and what a guideline must do for it, read, checked and compared with a
report (``guidelinekg vignettes``, and the project's own vignette tests through ``tests/vignettes.py``).

A case is a folder holding exactly one patient file (``patient.json`` FHIR R4, ``patient.ttl`` /
``patient.jsonld`` patient RDF) and ``expected.json``: ``description``, ``checks`` (the IRIs of the
guideline statements the case exercises: not empty, each a statement of the guideline, i.e. with a
``gkg:sourceText``), ``as_of`` (``YYYY-MM-DD``, the evaluation date) and ``expect``. ``expect`` compares
only the keys it has, each exactly: ``applicable``; statement local names (the IRI without the guideline's
namespace) for ``recommended``, ``not_recommended``, ``undetermined``, ``monitoring``,
``recommended_against``, ``not_indicated``, ``population_not_met`` and ``insufficient_evidence`` (the
insufficient-evidence statements that apply); LOINC codes for ``orders``; warning
codes for ``warnings``; ``doses`` as ``{recommendation: [value, unit] or null}`` (only those named);
``cautions`` as ``{recommendation: [caution, ...]}``. Lists are compared as sets (an item named twice in
one list is refused as a typo; a dose value must be a finite number). Input that must be refused:
``{"error": true, "exit_code": 2, "message_contains": [...]}``.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import stat
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

from guidelinekg.errors import InputError, Location
from guidelinekg.patients.decode import parse_json, where

EXPECTED = "expected.json"
SOURCE_TEXT = "<https://w3id.org/guidelinekg/ontology#sourceText>"
LIST_KEYS = ("recommended", "not_recommended", "undetermined", "monitoring", "recommended_against",
             "not_indicated", "population_not_met", "insufficient_evidence", "orders", "warnings")
KEYS = ("applicable", *LIST_KEYS, "doses", "cautions")
ERROR_KEYS = ("error", "exit_code", "message_contains")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
FORMAT = "see the vignette format in docs/authoring.md 1.19"


@dataclass(frozen=True)
class Case:
    """One vignette: its folder, its patient file and its expected.json (values as ``json.loads`` reads
    them; ``positions`` the same document with where each value stands, for located messages)."""

    name: str
    directory: Path
    patient: Path
    expected: dict
    positions: Any = None

    @property
    def as_of(self) -> str:
        return self.expected["as_of"]

    @property
    def expected_file(self) -> Path:
        return self.directory / EXPECTED

    def where(self, *keys: str | int) -> Location:
        """The location in expected.json of the value at ``keys`` (``"checks", 1``), as near as known."""
        container, default = self.positions, Location(str(self.expected_file))
        for key in keys[:-1]:
            try:
                container = container[key]
            except (KeyError, IndexError, TypeError):
                return where(container, None, default=default)
        return where(container, keys[-1] if keys else None, default=default)


def case_folders(path: Path) -> list[Path]:
    """``path`` itself when it is a case (holds expected.json, of whatever kind: one that is not a regular
    file is refused when read), its folder when it is a case's expected.json, else every folder directly
    inside it (each a case: one without expected.json is refused when read), hidden folders aside."""
    path = Path(path)
    fix = ("give a folder of vignettes (NNN-name/ folders, each with a patient file and expected.json) or one "
           "such folder")
    if path.name == EXPECTED and path.is_file():
        return [path.parent]
    if not path.is_dir():
        what = "is not a folder" if os.path.lexists(path) else "no such folder"
        raise InputError(f"{path}: {what}", hint=f"CASES must be a folder: {fix}")
    if os.path.lexists(path / EXPECTED):
        return [path]
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_case(directory: Path) -> Case:
    """The case in ``directory``, its expected.json checked against the format.

    Raises:
        InputError: no or several patient files, no expected.json, or an expected.json that is not JSON or
            not in the format (located: file, line and column, with the fix).
    """
    directory = Path(directory)
    for entry in (*sorted(directory.glob("patient.*")), directory / EXPECTED):
        if os.path.lexists(entry) and not entry.is_file():  # not opened: a FIFO blocks, /dev/zero never ends
            raise InputError(f"{entry.name} is not a regular file ({_kind(entry)})", Location(str(directory)),
                             hint=f"make {entry.name} a file" + (f" ({FORMAT})" if entry.name == EXPECTED else
                                                                 " or remove it: a case holds one patient file"))
    patients = sorted(p for p in directory.glob("patient.*") if p.is_file())
    if len(patients) != 1:
        found = ", ".join(p.name for p in patients) or "none"
        raise InputError(f"a vignette holds exactly one patient file, found {found}", Location(str(directory)),
                         hint="keep one patient.json (FHIR R4), patient.ttl or patient.jsonld in each case folder")
    file = directory / EXPECTED
    if not file.is_file():
        raise InputError(f"no {EXPECTED} in the vignette", Location(str(directory)),
                         hint=f"write what the guideline must do for this patient in {EXPECTED} ({FORMAT})")
    try:
        text = file.read_bytes().decode("utf-8-sig")  # a byte order mark is dropped, as for every JSON input
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {EXPECTED}: {exc}", Location(str(file))) from None
    positions = parse_json(text, Location(str(file)))  # located: not JSON, a key given twice
    case = Case(directory.name, directory, patients[0], json.loads(text), positions)
    _check_format(case)
    return case


def _kind(path: Path) -> str:
    """What a path that is not a regular file is, in words."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "a link to nothing"
    except OSError:
        return "a link that cannot be followed"
    return ("a folder" if stat.S_ISDIR(mode) else "a named pipe" if stat.S_ISFIFO(mode) else
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else
            "not a file")


def _refuse(case: Case, message: str, *keys: str | int, hint: str = FORMAT) -> NoReturn:
    raise InputError(message, case.where(*keys), hint=hint)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _check_format(case: Case) -> None:
    doc = case.expected
    if not isinstance(doc, dict):
        _refuse(case, f"{EXPECTED} must be an object with description, checks, as_of and expect")
    for key, fix in (("checks", '"checks": ["IRI of a statement the case exercises", ...]'),
                     ("as_of", '"as_of": "YYYY-MM-DD", the evaluation date'),
                     ("expect", '"expect": {"recommended": [...], ...}')):
        if key not in doc:
            _refuse(case, f'{EXPECTED} has no "{key}"', hint=f"add {fix} ({FORMAT})")
    if not isinstance(doc.get("description", ""), str):
        _refuse(case, '"description" must be a string: what the case shows, in words', "description")
    checks = doc["checks"]
    if not _strings(checks) or not checks:
        _refuse(case, '"checks" must be a non-empty list of IRIs of the guideline statements the case exercises',
                "checks", hint='e.g. "checks": ["https://.../rec-example"]: recommendations and other statements '
                "with a gkg:sourceText, not criteria")
    for index, iri in enumerate(checks):
        if ":" not in iri or any(c in iri for c in ' <>"{}|\\^`'):
            _refuse(case, f'checks[{index}] "{iri}" is not an IRI', "checks", index,
                    hint="write the statement's full IRI, e.g. https://w3id.org/guidelinekg/guideline/NAME/rec-x")
    as_of = doc["as_of"]
    try:
        if not isinstance(as_of, str) or not ISO_DATE.fullmatch(as_of):
            raise ValueError
        day = date.fromisoformat(as_of)
    except ValueError:
        _refuse(case, f'"as_of" must be a date YYYY-MM-DD, got {json.dumps(as_of)}', "as_of",
                hint='e.g. "as_of": "2026-01-15" (the case is evaluated as recommend --as-of evaluates)')
    if day == date.max:  # as recommend --as-of: the rules read the end of the as-of day, a date too
        _refuse(case, f'"as_of" {as_of} is out of range (the latest is 9999-12-30)', "as_of",
                hint='give an earlier date, e.g. "as_of": "2026-01-15"')
    expect = doc["expect"]
    if not isinstance(expect, dict) or not expect:
        _refuse(case, '"expect" must be an object naming what to compare (it compares only the keys it has)',
                "expect")
    if "error" in expect:
        _check_error_form(case, expect)
        return
    for key, value in expect.items():
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1)
            _refuse(case, f'"expect" has an unknown key "{key}"' + (f' (did you mean "{close[0]}"?)' if close else ""),
                    "expect", key, hint=f"the keys are {', '.join(KEYS)}; or error, exit_code, message_contains")
        _check_value(case, key, value)


def _check_value(case: Case, key: str, value: Any) -> None:
    if key == "applicable" and not isinstance(value, bool):
        _refuse(case, f'"applicable" must be true or false, got {json.dumps(value)}', "expect", key)
    if key in LIST_KEYS and not _strings(value):
        what = ("LOINC codes" if key == "orders" else "warning codes" if key == "warnings"
                else "statement local names (the IRI without the guideline's namespace)")
        _refuse(case, f'"{key}" must be a list of {what}', "expect", key)
    if key in LIST_KEYS:
        _check_unique(case, value, f'"{key}"', "expect", key)
    if key in ("doses", "cautions"):
        if not isinstance(value, dict):
            _refuse(case, f'"{key}" must be an object keyed by recommendation local name', "expect", key)
        for rec, item in value.items():
            if key == "doses" and not (item is None or (
                    isinstance(item, list) and len(item) == 2 and isinstance(item[1], str)
                    and isinstance(item[0], (int, float)) and not isinstance(item[0], bool))):
                _refuse(case, f'the dose of "{rec}" must be [value, "unit"] or null, got {json.dumps(item)}',
                        "expect", key, rec, hint='e.g. "doses": {"rec-x": [35, "mg"]}, or null for no dose')
            if key == "doses" and item is not None and not math.isfinite(item[0]):  # 1e999 reads as infinity
                _refuse(case, f'the dose of "{rec}" must be a finite number, got {_written(case, key, rec)}',
                        "expect", key, rec, 0, hint='e.g. "doses": {"rec-x": [35, "mg"]}')
            if key == "cautions" and not _strings(item):
                _refuse(case, f'the cautions of "{rec}" must be a list of caution local names', "expect", key, rec)
            if key == "cautions":
                _check_unique(case, item, f'the cautions of "{rec}"', "expect", key, rec)


def _check_unique(case: Case, items: list[str], what: str, *keys: str) -> None:
    """Refuse an item named twice in one list (lists are compared as sets: a repeat is a typo)."""
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        if item in first:
            _refuse(case, f"{what} names {json.dumps(item, ensure_ascii=False)} twice (items {first[item]} and "
                    f"{index})", *keys, index, hint="name each item once (lists are compared as sets)")
        first[item] = index


def _written(case: Case, key: str, rec: str) -> str:
    """A dose value as expected.json writes it (1E+999), as near as known."""
    try:
        return str(case.positions["expect"][key][rec][0])
    except (KeyError, IndexError, TypeError):
        return json.dumps(case.expected["expect"][key][rec][0])


def _check_error_form(case: Case, expect: dict) -> None:
    if expect["error"] is not True:
        _refuse(case, '"error" must be true (for input that must be refused)', "expect", "error",
                hint='leave "error" out of a case that gives a report')
    for key in expect:
        if key not in ERROR_KEYS:
            _refuse(case, f'"expect" of a refused input has "{key}"', "expect", key,
                    hint=f"a case that expects an error has only {', '.join(ERROR_KEYS)}")
    code = expect.get("exit_code", 2)
    if not isinstance(code, int) or isinstance(code, bool):
        _refuse(case, f'"exit_code" must be a number (2: unusable input), got {json.dumps(code)}', "expect", "exit_code")
    if not _strings(expect.get("message_contains", [])):
        _refuse(case, '"message_contains" must be a list of strings', "expect", "message_contains")


def statements_of(ntriples: str) -> set[str]:
    """The IRIs of the statements (nodes with a ``gkg:sourceText``) in a knowledge base's N-Triples."""
    out = set()
    for line in ntriples.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] == SOURCE_TEXT and parts[0].startswith("<"):
            out.add(parts[0][1:-1])
    return out


def check_statements(case: Case, statements: set[str], guideline: str) -> None:
    """Refuse a case whose ``checks`` name something that is not a statement of ``guideline``."""
    for index, iri in enumerate(case.expected["checks"]):
        if iri not in statements:
            _refuse(case, f"checks[{index}] {iri} is not a statement of {guideline} (it has no gkg:sourceText)",
                    "checks", index, hint="checks name the recommendations and other statements the case "
                    "exercises, each with its gkg:sourceText (not a criterion, measure or intervention)")


def namespace_of(report: dict) -> str:
    """The namespace statement local names are relative to: the guideline IRI up to its last / or # (or, in a
    ``urn:`` IRI, its last colon: ``urn:example:ie:`` for ``urn:example:ie:guideline``)."""
    iri = report["guideline"]["iri"]
    return iri[: max(iri.rfind("/"), iri.rfind("#"), iri.rfind(":") if iri.startswith("urn:") else -1) + 1]


def outcome_of(report: dict, namespace: str) -> dict:
    """The comparable summary of a report, in the vocabulary of expected.json (statement IRIs shortened by
    ``namespace``, the guideline's)."""

    def short(iri: str) -> str:
        return iri.removeprefix(namespace)

    return {
        "applicable": report["applicable"],
        "recommended": sorted(short(r["iri"]) for r in report["recommendations"]),
        "not_recommended": sorted(short(r["iri"]) for r in report["not_recommended"]),
        "undetermined": sorted(short(r["iri"]) for r in report["undetermined"]),
        "orders": sorted(o["loinc"] for o in report["orders"]),
        "warnings": sorted({w["code"] for w in report["warnings"]}),
        "monitoring": sorted(short(m["iri"]) for m in report["monitoring"]),
        "doses": {short(r["iri"]): ([r["dose"]["value"], r["dose"]["unit"]] if r["dose"] else None)
                  for r in report["recommendations"]},
        "recommended_against": sorted(short(r["iri"]) for r in report["recommendations"] if r["direction"] == "against"),
        "not_indicated": sorted(short(n["iri"]) for n in report["not_indicated"]),
        "population_not_met": sorted(short(n["iri"]) for n in report["population_not_met"]),
        "insufficient_evidence": sorted(short(n["iri"]) for n in report.get("insufficient_evidence", [])),
        "cautions": {short(r["iri"]): sorted(short(c["iri"]) for c in r["cautions"])
                     for r in report["recommendations"] if r["cautions"]},
    }


@dataclass(frozen=True)
class Difference:
    """One way a case's outcome differs from what it expects: ``key`` of expect, the ``item`` (a
    recommendation, for doses and cautions), what was expected and what was got."""

    key: str
    expected: Any
    got: Any
    item: str | None = None
    detail: str = ""

    def __str__(self) -> str:
        what = f"{'dose' if self.key == 'doses' else self.key} of {self.item}" if self.item else self.key
        text = f"{what}: expected {_show(self.expected)}, got {_show(self.got)}"
        return f"{text} ({self.detail})" if self.detail else text

    def as_dict(self) -> dict:
        return {"key": self.key, "item": self.item, "expected": self.expected, "got": self.got,
                "message": str(self)}


def _show(value: Any) -> str:
    if isinstance(value, list) and len(value) == 2 and isinstance(value[1], str) and isinstance(value[0], (int, float)):
        return f"{value[0]} {value[1]}"  # a dose
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return "no dose" if value is None else json.dumps(value, ensure_ascii=False)


def compare(expect: dict, got: dict) -> list[Difference]:
    """Where the outcome ``got`` (:func:`outcome_of`) differs from ``expect``, as the vignette tests compare:
    each key expect has, exactly; lists as sets; doses only of the recommendations named."""
    out = []
    for key, want in expect.items():
        if key == "doses":
            for rec, dose in want.items():
                have = got["doses"].get(rec)
                if have != dose:
                    missing = rec not in got["doses"]
                    out.append(Difference(key, dose, have, rec, "not recommended" if missing and dose else ""))
        elif key == "cautions":
            for rec in sorted(set(want) | set(got["cautions"])):
                if sorted(want.get(rec, [])) != got["cautions"].get(rec, []):
                    out.append(Difference(key, sorted(want.get(rec, [])), got["cautions"].get(rec, []), rec))
        elif isinstance(want, list):
            if sorted(want) != got[key]:
                missing, extra = sorted(set(want) - set(got[key])), sorted(set(got[key]) - set(want))
                detail = "; ".join(part for part in (f"missing {', '.join(missing)}" if missing else "",
                                                     f"unexpected {', '.join(extra)}" if extra else "") if part)
                out.append(Difference(key, sorted(want), got[key], None, detail))
        elif got[key] != want:
            out.append(Difference(key, want, got[key]))
    return out


def compare_error(expect: dict, error: InputError | None) -> list[Difference]:
    """Where what happened (``error``, or None for a report) differs from an ``expect`` of the error form."""
    wanted = expect.get("exit_code", 2)
    if error is None:
        return [Difference("error", f"exit {wanted}", "a report", None, "the input was not refused")]
    message = str(error).splitlines()[0]
    out = [] if error.exit_code == wanted else [Difference("exit_code", wanted, error.exit_code, None, message)]
    for fragment in expect.get("message_contains", []):
        if fragment not in str(error):
            out.append(Difference("message_contains", fragment, message))
    return out
