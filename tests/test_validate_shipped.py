"""`guidelinekg validate` on the shipped content, intact and corrupted on a copy.

The copy is a whole project home (ontology/, shapes/, queries/) in a temporary directory, selected with
GUIDELINEKG_HOME, so the shipped files are never touched. Each corruption is checked against the test
shapes (messages pinned) and against the shipped shapes (the right node and property must be named).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from guidelinekg import cli
from guidelinekg.content import resources

FIXTURE_SHAPES = Path(__file__).parent / "fixtures" / "validate" / "shapes.ttl"
GUIDELINE = Path("ontology") / "guidelines" / "rls-iron" / "guideline.ttl"
RLS = "rls:"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A copy of the project's artefacts; validate without PATH checks this copy."""
    source = resources.project_home()
    for name in ("ontology", "shapes", "queries"):
        shutil.copytree(source / name, tmp_path / name)
    monkeypatch.setenv("GUIDELINEKG_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys, *args: str) -> tuple[int, dict]:
    code = cli.main(["validate", "--no-owl", "--format", "json", *args])
    return code, json.loads(capsys.readouterr().out)


def edit(home: Path, old: str, new: str) -> Path:
    path = home / GUIDELINE
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"the shipped content changed: {old!r} no longer occurs once"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_shipped_content_is_clean_and_reports_the_overlap_and_the_conflict(home, capsys):
    code, report = run(capsys)
    assert code == 0, [f for f in report["findings"] if f["severity"] == "error"]
    assert report["summary"]["error"] == 0
    # the source's two headings meet at ferritin 75 ("<= 75" and "75-100"): encoded as <= 75 and > 75 (the
    # AASM primary text), with the literal overlap recorded as a discrepancy, so no overlap is left to lint
    assert not [f for f in report["findings"] if f["code"] == "threshold-overlap"]
    assert any(f["code"] == "discrepancy" and "disc-band-75" in (f.get("focus") or "") + f["message"]
               for f in report["findings"]), [f for f in report["findings"] if f["code"] == "discrepancy"]
    conflicts = {
        (f["focus"], f["message"]) for f in report["findings"] if f["code"] == "recommendation-conflict"
    }
    expected = (
        "conflicts with not-indicated statement 'iron generally not indicated at ferritin >100 ng/mL' in "
        "population 'adults with RLS': both apply when serum ferritin > 100 ng/mL and transferrin saturation < 20 %"
    )
    assert ("rls:rec-fcm", expected) in conflicts


def test_shipped_content_text_report(home, capsys):
    assert cli.main(["validate", "--no-owl"]) == 0
    out = capsys.readouterr().out
    assert f"{GUIDELINE}:" in out  # paths relative to the working directory
    assert out.splitlines()[-1].endswith("; exit 0")


def test_syntax_error_in_shipped_content(home, capsys):
    path = edit(home, "gkg:strength gkg:Strong ;", "gkg:strength gkg:Strong ,, ")
    text = path.read_text(encoding="utf-8")
    index = text.index(",, ") + 1  # the second comma is where the object is missing
    line, column = text.count("\n", 0, index) + 1, index - text.rfind("\n", 0, index)
    code = cli.main(["validate", "--no-owl"])
    out = capsys.readouterr().out
    assert code == 2
    assert f"{GUIDELINE}:{line}:{column}: error: [syntax-error] , is not a valid RDF object" in out


CORRUPTIONS = {
    # name: (old, new, focus, path, message with the test shapes)
    "missing-strength": (
        "gkg:For ; gkg:strength gkg:Strong ; gkg:certainty", "gkg:For ; gkg:certainty",
        "rls:rec-fcm", "gkg:strength",
        "A recommendation needs a GRADE strength (gkg:strength) or gkg:gradingNotStated.",
    ),
    "unknown-certainty": (
        "gkg:Strong ; gkg:certainty gkg:ModerateCertainty", "gkg:Strong ; gkg:certainty gkg:SortOfCertain",
        "rls:rec-fcm", "gkg:certainty", "gkg:certainty must be a GRADE certainty level.",
    ),
    "threshold-without-unit": (
        'gkg:thresholdValue 20.0 ; gkg:thresholdUnit "%" .', "gkg:thresholdValue 20.0 .",
        "rls:crit-tsat-lt-20", "gkg:thresholdUnit", "A threshold needs a UCUM unit (gkg:thresholdUnit).",
    ),
}  # fmt: skip


@pytest.mark.parametrize("shapes", ["test-shapes", "shipped-shapes"])
@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_shacl_catches_corruption(home, capsys, name, shapes):
    old, new, focus, path, message = CORRUPTIONS[name]
    edit(home, old, new)
    code, report = run(capsys, *(["--shapes", str(FIXTURE_SHAPES)] if shapes == "test-shapes" else []))
    assert code == 1
    errors = [f for f in report["findings"] if f["kind"] == "shacl" and f["severity"] == "error"]
    hits = [f for f in errors if f["focus"] == focus and f["path"] == path]
    if shapes == "shipped-shapes":  # a node-level shape (sh:xone, sh:or) names the property in its message
        local = path.partition(":")[2].lower()
        hits += [f for f in errors if f["focus"] == focus and not f["path"] and local in f["message"].lower()]
    assert hits, f"no SHACL error on {focus} {path}; errors: {errors}"
    assert all(f["file"] == str(GUIDELINE) and f["line"] for f in hits)
    if shapes == "test-shapes":
        assert [f["message"] for f in hits] == [message]


def test_dangling_citation_in_shipped_content(home, capsys):
    edit(home, "gkg:citesReference rls:ref-1 , rls:ref-2 , rls:ref-4 ;",
         "gkg:citesReference rls:ref-1 , rls:ref-2 , rls:ref-4 , rls:ref-99 ;")  # fmt: skip
    code, report = run(capsys)
    assert code == 1
    (dangling,) = [f for f in report["findings"] if f["code"] == "dangling-citation"]
    assert (dangling["focus"], dangling["path"], dangling["severity"]) == (
        "rls:rec-fcm",
        "gkg:citesReference",
        "error",
    )
    assert dangling["message"].endswith(
        "no file describes the target (expected a gkg:SourceReference): rls:ref-99"
    )


@pytest.mark.slow
def test_end_to_end_with_owl():
    """The installed command, in a fresh process, on the shipped content with HermiT."""
    from guidelinekg.checks.owl import java_problem

    run = subprocess.run([sys.executable, "-m", "guidelinekg.cli", "validate"], capture_output=True, text=True,
                         cwd=resources.project_home(), timeout=300, check=False)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    expected = "owl: skipped" if java_problem() else "owl: consistent"
    assert expected in run.stdout
