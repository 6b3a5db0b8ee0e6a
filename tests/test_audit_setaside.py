"""What users read of a cohort's set-aside patients and bad records, and the chunk files ``--resume`` joins.

``bad-records.jsonl`` is not in the provenance, so before its digest was recorded in ``run.json`` the audit
only counted its lines: a set-aside patient renamed to an evaluated one (or to nobody), or a prepare-time bad
record's file, line or reason edited in both bad-records files, passed. And ``--resume`` joined finished
chunk files as it found them: an edited chunk went into ``results.jsonl``, an emptied provenance chunk gave
exit 0. One small cohort (20 patients in chunks of 10, one set aside: a coding that is a number) is made
once; each test changes a copy.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from guidelinekg.cli import main
from guidelinekg.content.resources import project_home
from test_audit_cohort import _audit, _failures, _findings

ROOT = project_home()
ASIDE = "Patient/pt0000000"


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> tuple[Path, list[str]]:
    base = tmp_path_factory.mktemp("setaside")
    source = base / "in"
    subprocess.run([sys.executable, str(ROOT / "bench" / "gen_cohort.py"), str(source), "--patients", "20",
                    "--seed", "7"], check=True, capture_output=True)
    lines = (source / "Observation.ndjson").read_text(encoding="utf-8").splitlines(keepends=True)
    first = json.loads(lines[0])
    assert first["subject"]["reference"] == ASIDE
    first["code"]["coding"][0]["code"] = 5  # a number: the patient is set aside, the others evaluated
    lines[0] = json.dumps(first) + "\n"
    (source / "Observation.ndjson").write_text("".join(lines), encoding="utf-8")
    args = ["cohort", str(source), "--out", str(base / "out"), "--as-of", "2026-01-15", "--chunk-size", "10",
            "--no-progress"]
    assert main(args) == 0
    return base / "out", args


@pytest.fixture
def out(made, tmp_path, capsys) -> Path:
    capsys.readouterr()
    copy = tmp_path / "out"
    shutil.copytree(made[0], copy)
    return copy


def _messages(report: dict, code: str) -> str:
    return " | ".join(f["message"] for f in _findings(report, code))


def _rewrite(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def _record_digest(out: Path) -> None:
    """The attacker's run.json made to agree with the edited bad-records.jsonl."""
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    record["bad_records_sha256"] = hashlib.sha256((out / "bad-records.jsonl").read_bytes()).hexdigest()
    (out / "run.json").write_text(json.dumps(record, indent=2), encoding="utf-8")


def test_the_untouched_cohort_with_a_patient_set_aside_audits_clean(out, capsys):
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert (record["patients"], record["patients_set_aside"]) == (19, 1)
    assert record["bad_records_sha256"] == hashlib.sha256((out / "bad-records.jsonl").read_bytes()).hexdigest()
    code, report = _audit(capsys, out)
    assert code == 0, _failures(report)


@pytest.mark.parametrize("digest_too", [False, True])
def test_a_set_aside_patient_renamed_to_an_evaluated_one_is_caught(out, capsys, digest_too):
    _rewrite(out / "bad-records.jsonl", f'"patient": "{ASIDE}"', '"patient": "Patient/pt0000001"')
    if digest_too:
        _record_digest(out)
    code, report = _audit(capsys, out)
    assert code == 1 and _failures(report) == {"run-record-differs"}, _failures(report)
    messages = _messages(report, "run-record-differs")
    assert "sets aside Patient/pt0000001, whom the runs record as evaluated" in messages
    assert ("run.json bad_records_sha256 says" in messages) is not digest_too


def test_a_set_aside_patient_renamed_to_nobody_is_caught(out, capsys):
    _rewrite(out / "bad-records.jsonl", f'"patient": "{ASIDE}"', '"patient": "Patient/does-not-exist"')
    code, report = _audit(capsys, out)
    assert code == 1 and _failures(report) == {"run-record-differs"}, _failures(report)
    assert "run.json bad_records_sha256 says" in _messages(report, "run-record-differs")


def test_a_set_aside_patient_listed_twice_is_caught_by_identity(out, capsys):
    lines = (out / "bad-records.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    [aside] = [line for line in lines if ASIDE in line]
    (out / "bad-records.jsonl").write_text("".join(lines) + aside, encoding="utf-8")
    _record_digest(out)
    code, report = _audit(capsys, out)
    assert code == 1 and f"sets aside {ASIDE} more than once" in _messages(report, "run-record-differs")


@pytest.mark.parametrize("old, new", [
    ("unknown patient 'Patient/nobody1'", "unknown patient 'Patient/nobody2'"),
    ('"line": 2,', '"line": 3,'),
    ('"file": "MedicationAdministration.ndjson"', '"file": "MedicationStatement.ndjson"'),
], ids=["reason", "line", "file"])
def test_a_prepare_time_bad_record_edited_in_both_files_is_caught(out, capsys, old, new):
    for name in ("bad-records.jsonl", "bad-records.prepare.jsonl"):
        _rewrite(out / name, old, new)
    code, report = _audit(capsys, out)
    assert code == 1 and _failures(report) == {"run-record-differs"}, _failures(report)
    assert "run.json bad_records_sha256 says" in _messages(report, "run-record-differs")


def test_the_digest_must_be_a_sha256(out, capsys):
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    del record["bad_records_sha256"]
    (out / "run.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    code, report = _audit(capsys, out)
    assert code == 1 and "bad_records_sha256" in _messages(report, "run-record-differs")


# --- --resume joins only chunk files that are what was written -----------------------------------------------


def _resume(made, out: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    args = made[1][:]
    args[args.index("--out") + 1] = str(out)
    code = main([*args, "--resume"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("damage, named", [
    (lambda c: c.joinpath("chunk-000002.jsonl").write_text(
        c.joinpath("chunk-000002.jsonl").read_text(encoding="utf-8").replace('"deceased": false', '"deceased": true', 1),
        encoding="utf-8"), "chunk-000002.jsonl is not what was written"),
    (lambda c: c.joinpath("chunk-000001.trig.gz").write_bytes(b""), "chunk-000001.trig.gz is not what was written"),
    (lambda c: c.joinpath("chunk-000002.jsonl").write_text(
        "".join(c.joinpath("chunk-000002.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)[:3]),
        encoding="utf-8"), "chunk-000002.jsonl is not what was written"),
    (lambda c: c.joinpath("chunk-000001.bad.jsonl").unlink(), "chunk-000001.bad.jsonl is missing"),
    (lambda c: c.joinpath("chunk-000001.sha256.json").unlink(), "chunk-000001.sha256.json is missing or corrupt"),
], ids=["edited", "emptied provenance", "truncated", "bad records removed", "digests removed"])
def test_resume_evaluates_a_damaged_finished_chunk_again_naming_it(made, out, capsys, damage, named):
    """Nothing damaged is joined: the chunk is evaluated again from the input (found in review: refusing made
    the user delete files by hand, and refused every run of older software, which records no digests)."""
    damage(out / "chunks")
    code, err = _resume(made, out, capsys)
    assert code == 0, err
    assert named in err and "is evaluated again" in err and "Traceback" not in err
    assert (out / "results.jsonl").read_bytes() == (made[0] / "results.jsonl").read_bytes()
    code, report = _audit(capsys, out)
    assert code == 0, _messages(report, "run-record-differs")
