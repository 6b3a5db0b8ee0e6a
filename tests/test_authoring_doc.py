"""docs/authoring.md cannot rot silently: its example guideline validates, its patients give the outcomes it
documents, and every Turtle block in it parses.

- The example guideline (docs/examples/authoring/*.ttl) passes ``guidelinekg validate`` with no error, and
  the findings the doc shows (file, line, severity, code) are the findings ``validate`` reports.
- ``recommend --content docs/examples/authoring`` on the tutorial's patient recommends what the doc says;
  every vignette of the example (docs/examples/authoring/cases/*, in the format of tests/cases) gives its
  expected outcome, through the same path as ``recommend --content``.
- Every ```turtle block of the doc parses with rdflib, with the prefixes the doc declares; a block marked
  ``<!-- excerpt: FILE -->`` is a verbatim excerpt of FILE.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import rdflib

from guidelinekg.checks.validate import validate
from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.patientcheck import validate_patients
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.engine.shapes_sparql import load_patient_shapes
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.report.patient import build_report
from vignettes import outcome_of

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "authoring.md"
EXAMPLE = ROOT / "docs" / "examples" / "authoring"
CASES = EXAMPLE / "cases"
TUTORIAL_CASE = CASES / "001-adult-hba1c-8.6-dosed"
NS = "https://example.org/guidelinekg/examplomab/"

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
MARKER = re.compile(r"<!-- (excerpt|output): ([^>]*?) -->\s*\Z")
FINDING = re.compile(r"^(\S+?):(\d+): (error|warning|info): \[([\w:-]+)\]", re.MULTILINE)
SUMMARY = re.compile(r"validate: \d+ files, (\d+) errors, (\d+) warnings, (\d+) infos; exit (\d)")


def blocks(language: str | None = None) -> list[tuple[str, str, str]]:
    """``(marker, language, text)`` of every fenced block of the doc; ``marker`` is the HTML comment on the
    line before it (``excerpt: FILE`` / ``output: NAME``), or ``""``."""
    text = DOC.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARKER.search(before)
        marker = f"{mark[1]}: {mark[2].strip()}" if mark else ""
        if language is None or m[1] == language:
            out.append((marker, m[1], m[2]))
    return out


def output_block(name: str) -> str:
    found = [text for marker, _, text in blocks() if marker == f"output: {name}"]
    assert len(found) == 1, f"docs/authoring.md must show exactly one <!-- output: {name} --> block"
    return found[0]


# --- (a) validate ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def validation() -> dict:
    return validate([EXAMPLE])  # with the OWL step when Java is there, as `guidelinekg validate` runs it


def test_example_guideline_validates_without_errors(validation):
    errors = [f for f in validation["findings"] if f["severity"] == "error"]
    assert not errors, errors
    assert validation["exit_code"] == 0


def test_validate_output_in_the_doc_is_what_validate_reports(validation):
    shown = output_block("validate")
    documented = sorted(FINDING.findall(shown))
    actual = sorted(
        (f["file"], str(f["line"]), f["severity"], f["code"]) for f in validation["findings"]
    )
    assert documented == actual, "update the validate output in docs/authoring.md"
    summary = SUMMARY.search(shown)
    assert summary, "the validate output block ends with the summary line"
    counts = validation["summary"]
    assert summary.groups() == (str(counts["error"]), str(counts["warning"]), str(counts["info"]),
                                str(validation["exit_code"]))


# --- (b) recommend ------------------------------------------------------------------------------------


def test_recommend_cli_on_the_tutorial_patient_gives_the_documented_outcome():
    run = subprocess.run(
        [sys.executable, "-m", "guidelinekg.cli", "recommend", "--content", str(EXAMPLE),
         str(TUTORIAL_CASE / "patient.json"), "--as-of", "2026-01-15", "--format", "json"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["applicable"] is True
    assert [r["iri"] for r in report["recommendations"]] == [NS + "rec-examplomab"]
    assert report["recommendations"][0]["dose"] == {"value": 35, "unit": "mg"}
    assert report["not_recommended"] == [] and report["undetermined"] == [] and report["orders"] == []
    assert [m["iri"] for m in report["monitoring"]] == [NS + "mon-hba1c"]
    assert report["warnings"] == []
    shown = output_block("recommend 001")  # the text the doc shows, up to the run IRI (it hashes the rules)
    text = subprocess.run(
        [sys.executable, "-m", "guidelinekg.cli", "recommend", "--content", str(EXAMPLE),
         str(TUTORIAL_CASE / "patient.json"), "--as-of", "2026-01-15"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    ).stdout
    assert NS + "rec-examplomab" not in shown  # the text view names statements by label
    for line in shown.splitlines():
        if line.strip() and not line.startswith(("$ ", "Provenance: run")):
            assert line in text.splitlines(), f"not in the output of recommend any more: {line!r}"


def test_render_output_in_the_doc_is_what_render_prints():
    files = [arg for name in ("guideline", "terms", "citations", "discrepancies")
             for arg in ("--data", str(EXAMPLE / f"{name}.ttl"))]
    runs = [subprocess.run([sys.executable, "-m", "guidelinekg.cli", "render", "examplomab", *data],
                           capture_output=True, text=True, encoding="utf-8", cwd=ROOT, check=False)
            for data in (files, ["--data", str(EXAMPLE)])]  # the folder, as the doc runs it, reads the same
    assert [r.returncode for r in runs] == [0, 0], runs[1].stderr
    assert runs[0].stdout == runs[1].stdout
    printed = runs[1].stdout.splitlines()
    for line in output_block("render").splitlines():
        if line.strip():
            assert line in printed, f"render no longer prints: {line!r}"


@pytest.fixture(scope="module")
def example_kb() -> KnowledgeBase:
    return KnowledgeBase.load([EXAMPLE])


def _outcome(report: dict) -> dict:
    """As tests/vignettes.py outcome_of, with the example's namespace."""
    return outcome_of(report, NS)


CASE_DIRS = sorted(p for p in CASES.iterdir() if p.is_dir())


@pytest.mark.parametrize("case", CASE_DIRS, ids=lambda p: p.name)
def test_example_vignette(example_kb, case):
    expected = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    known = {line.split()[0].strip("<>") for line in example_kb.ntriples.splitlines() if "sourceText" in line}
    assert expected["checks"] and set(expected["checks"]) <= known, "checks name statements of the example"
    patient = load_patient_input(case / "patient.json", matcher=example_kb.matcher, measures=example_kb.measures,
                                 reads=example_kb.reads)
    patient = validate_patients([patient], example_kb, load_patient_shapes())[0]
    evaluation = evaluate(example_kb, [patient], as_of=date.fromisoformat(expected["as_of"]))
    got = _outcome(build_report(evaluation, patient.patient_iri, example_kb.version()))
    for key, want in expected["expect"].items():
        if key == "doses":
            for rec, dose in want.items():
                assert got["doses"].get(rec) == dose, f"dose of {rec}"
        else:
            assert got[key] == (sorted(want) if isinstance(want, list) else want), key


# --- (c) Turtle blocks ---------------------------------------------------------------------------------


def declared_prefixes() -> str:
    """Every ``@prefix`` line of the doc's Turtle blocks (re-declaring one is allowed in Turtle)."""
    lines = []
    for _, _, text in blocks("turtle"):
        lines += [line.strip() for line in text.splitlines() if line.strip().startswith("@prefix")]
    return "\n".join(dict.fromkeys(lines)) + "\n"


TURTLE = blocks("turtle")


def test_the_doc_has_turtle_blocks_and_declares_its_prefixes():
    assert len(TURTLE) >= 20
    prefixes = declared_prefixes()
    for name in ("gkg", "ex", "loinc", "sct", "icd10cm", "rdfs", "skos", "xsd", "prov", "bibo"):
        assert f"@prefix {name}:" in prefixes, name


@pytest.mark.parametrize("number", range(len(TURTLE)), ids=lambda n: f"block-{n + 1}")
def test_turtle_block_parses(number):
    _, _, text = TURTLE[number]
    graph = rdflib.Graph()
    try:
        graph.parse(data=declared_prefixes() + text, format="turtle")
    except Exception as exc:  # noqa: BLE001 - any parser error is the failure to report
        pytest.fail(f"Turtle block {number + 1} of docs/authoring.md does not parse: {exc}\n{text}")
    statements = [line for line in text.splitlines()
                  if line.strip() and not line.lstrip().startswith(("#", "@prefix"))]
    assert len(graph) > 0 or not statements, f"Turtle block {number + 1} states nothing"


EXCERPTS = [(marker.removeprefix("excerpt: "), text) for marker, _, text in blocks() if marker.startswith("excerpt: ")]


def test_the_doc_quotes_the_example_files():
    assert {path for path, _ in EXCERPTS} >= {f"docs/examples/authoring/{name}.ttl" for name in
                                              ("guideline", "terms", "citations", "discrepancies")}


@pytest.mark.parametrize(("path", "text"), EXCERPTS, ids=[f"excerpt-{n + 1}" for n in range(len(EXCERPTS))])
def test_excerpt_is_verbatim_in_its_file(path, text):
    source = (ROOT / path).read_text(encoding="utf-8")
    assert text.strip() in source, f"a block of docs/authoring.md is no longer an excerpt of {path}"
