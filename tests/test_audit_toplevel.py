"""guidelinekg audit of a cohort of several guidelines (the --out above the guideline folders), and every field
of a cohort's manifest.json and run.json.

One synthetic cohort (bench/gen_cohort.py, 20 patients in chunks of 8) is evaluated once per module against
the shipped guideline and examples/guidelines/irlssg-iron-2018; each test audits a copy with one thing changed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from guidelinekg.audit.auditor import Auditor
from guidelinekg.audit.runfields import _chunking
from guidelinekg.cli import main
from guidelinekg.content.resources import project_home

ROOT = project_home()
GUIDELINES = (ROOT / "ontology" / "guidelines" / "rls-iron", ROOT / "examples" / "guidelines" / "irlssg-iron-2018")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("several")
    subprocess.run([sys.executable, str(ROOT / "bench" / "gen_cohort.py"), str(base / "in"), "--patients", "20",
                    "--seed", "7"], check=True, capture_output=True)
    content = [arg for g in GUIDELINES for arg in ("--content", str(g))]
    assert main(["cohort", str(base / "in"), "--out", str(base / "out"), "--as-of", "2026-01-15",
                 "--chunk-size", "8", "--no-progress", *content]) == 0
    return base / "out"


@pytest.fixture
def out(cohort, tmp_path, capsys) -> Path:
    capsys.readouterr()
    copy = tmp_path / "out"
    shutil.copytree(cohort, copy)
    return copy


def _audit(capsys, path: Path, *args: str) -> tuple[int, dict]:
    code = main(["audit", str(path), "--format", "json", "--allow-unapproved", *args])
    return code, json.loads(capsys.readouterr().out)


def _failures(report: dict) -> list[dict]:
    return [f for f in [f for r in report["runs"] for f in r["findings"]] + report["notes"] if f["severity"] == "failure"]


def _folders(out: Path) -> list[Path]:
    return sorted(d for d in out.iterdir() if d.is_dir())


def _edit_json(path: Path, change) -> None:
    value = json.loads(path.read_text(encoding="utf-8"))
    change(value)
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_an_untouched_cohort_of_several_guidelines_audits_clean(out, capsys):
    assert len(_lines(out / "disagreements.jsonl")) >= 2  # the tests below drop and edit lines of it
    code, report = _audit(capsys, out)
    assert code == 0, _failures(report)
    versions = {v["iri"] for r in report["runs"] for v in r["versions"]}
    assert len(versions) == 2 and len(report["runs"]) == 6  # each guideline's 3 chunks


def test_runs_in_worker_processes_give_the_same_verdict(out, capsys):
    code, report = _audit(capsys, out, "--workers", "2")
    assert code == 0, _failures(report)


def _drop_disagreement(out: Path) -> None:
    lines = _lines(out / "disagreements.jsonl")
    (out / "disagreements.jsonl").write_text("".join(lines[1:]), encoding="utf-8")


def _edit_disagreement(out: Path) -> None:
    lines = _lines(out / "disagreements.jsonl")
    first = json.loads(lines[0])
    first["disagreements"][0]["kind"] = "different-threshold" if first["disagreements"][0]["kind"] != \
        "different-threshold" else "contradiction"
    lines[0] = json.dumps(first, ensure_ascii=False) + "\n"
    (out / "disagreements.jsonl").write_text("".join(lines), encoding="utf-8")


def _drop_entry(out: Path) -> None:
    _edit_json(out / "run.json", lambda r: r["guidelines"].pop(sorted(r["guidelines"])[0]))


@pytest.mark.parametrize("tamper, code, words", [
    (lambda out: shutil.rmtree(_folders(out)[0]), "guideline-run-missing", "is missing"),
    (lambda out: (_folders(out)[0] / "provenance.trig.gz").unlink(), "guideline-run-missing", "no provenance"),
    (_drop_disagreement, "disagreements-jsonl-differs", "not in it"),
    (_edit_disagreement, "disagreements-jsonl-differs", "do not give"),
    (lambda out: (out / "disagreements.jsonl").unlink(), "disagreements-jsonl-differs", "is missing"),
    (lambda out: (out / "disagreements.jsonl").write_text("".join(reversed(_lines(out / "disagreements.jsonl")))),
     "disagreements-jsonl-differs", "another order"),
    (lambda out: _edit_json(out / "run.json", lambda r: r.__setitem__("patients", 5)), "run-record-differs",
     "run.json patients says 5"),
    (lambda out: _edit_json(out / "run.json", lambda r: r.__setitem__("as_of", "2026-01-16")), "run-record-differs",
     "run.json as_of"),
    (lambda out: _edit_json(out / "run.json", lambda r: r.__setitem__("zzz", 1)), "run-record-differs",
     "does not write: zzz"),
    (lambda out: _edit_json(out / "run.json", lambda r: r.__setitem__("patients_missing", ["Patient/x"])),
     "run-record-differs", "patients_missing"),
    (lambda out: _edit_json(out / "run.json", lambda r: r["disagreements"].__setitem__("patients", 0)),
     "run-record-differs", "run.json disagreements"),
    (lambda out: _edit_json(out / "run.json", lambda r: r["seconds"].__setitem__("total", 0)), "run-record-differs",
     "seconds.total"),
    (lambda out: _edit_json(out / "run.json", lambda r: next(iter(r["guidelines"].values())).__setitem__(
        "bad_records", 99)), "run-record-differs", ".bad_records says 99"),
    (lambda out: _edit_json(out / "run.json", lambda r: next(iter(r["guidelines"].values())).__setitem__(
        "folder", "elsewhere")), "run-record-differs", ".folder says"),
    (_drop_entry, "guideline-run-not-listed", "does not list"),
    (lambda out: shutil.copytree(_folders(out)[0], out / "another"), "guideline-run-not-listed", "another"),
    (lambda out: (out / "run.json").unlink(), "run-record-missing", "is missing"),
    (lambda out: _edit_json(_folders(out)[1] / "run.json", lambda r: r.__setitem__("patients", 5)),
     "run-record-differs", "run.json patients says 5"),
], ids=["folder-deleted", "folder-provenance-deleted", "disagreement-dropped", "disagreement-edited",
        "disagreements-deleted", "disagreements-reordered", "patients", "as-of", "added-field", "patients-missing",
        "disagreement-counts", "seconds", "entry-edited", "entry-folder", "entry-removed", "folder-added",
        "run-json-deleted", "folder-run-json"])
def test_each_change_above_or_in_the_folders_is_a_failure(out, capsys, tamper, code, words):
    tamper(out)
    exit_code, report = _audit(capsys, out)
    assert exit_code == 1
    found = [f for f in _failures(report) if f["code"] == code]
    assert any(words in f["message"] for f in found), _failures(report)


def test_a_folder_finding_names_its_folder(out, capsys):
    folder = _folders(out)[1]
    _edit_json(folder / "run.json", lambda r: r.__setitem__("patients", 5))
    _, report = _audit(capsys, out)
    assert any(f["message"].startswith(f"{folder.name}: run.json patients says 5") for f in _failures(report))


def test_without_the_cohorts_code_the_disagreements_are_not_verified(out):
    report = Auditor().audit_file(out, allow_unapproved=True)
    assert {f.code for f in report.findings() if f.severity == "failure"} == {"disagreements-jsonl-not-verified"}


# --- every field of a guideline folder's manifest.json and run.json -------------------------------------------

def _manifest(change):
    return lambda folder: _edit_json(folder / "manifest.json", change)


def _record(change):
    return lambda folder: _edit_json(folder / "run.json", change)


def _rename_chunk(manifest: dict) -> None:
    manifest["partition"]["chunks"][0] = "chunk-000009.ndjson"


@pytest.mark.parametrize("tamper, words", [
    (_manifest(lambda m: m["key"].__setitem__("chunk_size", 9)), "key.chunk_size says 9"),
    (_manifest(lambda m: m["key"].__setitem__("chunk_size", 7)), "key.chunk_size says 7"),
    (_manifest(lambda m: m["key"].__setitem__("shapes_sha256", "0" * 64)), "key.shapes_sha256"),
    (_manifest(lambda m: m["key"].__setitem__("input_files", "not a digest")), "key.input_files"),
    (_manifest(lambda m: m["key"].__setitem__("input", "relative/path")), "key.input"),
    (_manifest(lambda m: m["key"].__setitem__("zzz", "1")), "manifest.json key holds field(s) cohort does not write"),
    (_manifest(lambda m: m.__setitem__("zzz", 1)), "manifest.json holds field(s) cohort does not write"),
    (_manifest(lambda m: m["partition"].pop("shared_bundles")), "lacks field(s) cohort always writes: shared_bundles"),
    (_manifest(_rename_chunk), "partition.chunks"),
    (_record(lambda r: r.__setitem__("patients_missing", ["Patient/x"])), "patients_missing"),
    (_record(lambda r: r.__setitem__("injected", 1)), "run.json holds field(s) cohort does not write: injected"),
    (_record(lambda r: r.pop("out")), "run.json lacks field(s) cohort always writes: out"),
    (_record(lambda r: r.__setitem__("chunks_run_now", 99)), "chunks_run_now"),
    (_record(lambda r: r["seconds"].__setitem__("prepare", 999)), "more than the total"),
    (_record(lambda r: r["seconds"].__setitem__("extra", 1)), "run.json seconds"),
], ids=["chunk-size-larger", "chunk-size-smaller", "shapes-zeroed", "input-files-form", "input-form",
        "key-added", "manifest-field-added", "partition-field-removed", "chunk-renamed", "patients-missing",
        "run-field-added", "run-field-removed", "chunks-run-now", "seconds", "seconds-field"])
def test_each_field_of_manifest_and_run_record_is_checked(out, capsys, tamper, words):
    folder = _folders(out)[1]
    tamper(folder)
    code, report = _audit(capsys, folder)
    assert code == 1
    assert any(f["code"] == "run-record-differs" and words in f["message"] for f in _failures(report)), \
        _failures(report)


def test_the_fields_documented_as_not_audited_pass_when_well_formed(out, capsys):
    """README: input, input_files, out and chunks_run_now (within its bound) cannot be checked."""
    folder = _folders(out)[1]
    _edit_json(folder / "manifest.json", lambda m: m["key"].update(input="/elsewhere/input", input_files="0" * 64))
    _edit_json(folder / "run.json", lambda r: r.update(out="/elsewhere/out", chunks_run_now=1))
    code, report = _audit(capsys, folder)
    assert code == 0, _failures(report)


@pytest.mark.parametrize("kind, chunks, found, recorded, size, ok", [
    ("ndjson", 3, 20, [8, 8, 4], 8, True),
    ("ndjson", 3, 20, [8, 8, 4], 9, False),  # chunks of 9 would hold 9, 9, 2
    ("ndjson", 3, 20, [8, 8, 4], 7, False),  # chunks of 7 hold 7, 7, 6: no run of 8
    ("ndjson", 1, 20, [20], 50, True),  # any size from 20 on gives the one chunk alike
    ("ndjson", 2, 20, [8, 8, 4], 10, False),  # three runs, the first two more than a chunk of 10 holds together
    ("ndjson", 3, 20, [5, 3, 8, 4], 8, True),  # a chunk's patients in two runs
    ("ndjson", 3, 20, [8, 4], 8, True),  # a chunk whose patients were all set aside
    ("bundles", 2, 12, [8, 2], 8, True),  # a bundle of several Patients counts each
    ("bundles", 3, 12, [8, 2], 8, False),
])
def test_the_chunk_size_is_what_the_chunks_and_their_runs_allow(kind, chunks, found, recorded, size, ok):
    assert (_chunking(kind, chunks, found, recorded, size) is None) is ok
