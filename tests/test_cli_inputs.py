"""Unusable command-line input gets a one-line error and exit 2, never a traceback; gzip input is read.

Each case builds its files in a temporary directory and runs the CLI in this process; the message must
name the problem (a directory given for a file, an as-of date with no next day, an unreadable content
file), so a user knows what to change.
"""

from __future__ import annotations

import gzip
import json

import pytest

from guidelinekg.cli import main
from guidelinekg.content.resources import project_home

EXAMPLE = project_home() / "examples" / "patient-ferritin-45.json"
GUIDELINE_DIR = project_home() / "ontology" / "guidelines" / "rls-iron"


def _gzipped(tmp_path):
    path = tmp_path / "patient.json.gz"
    path.write_bytes(gzip.compress(EXAMPLE.read_bytes()))
    return path


def _truncated_gzip(tmp_path):
    path = tmp_path / "patient.json.gz"
    path.write_bytes(gzip.compress(EXAMPLE.read_bytes())[:200])
    return path


def _broken_content(tmp_path):
    """A copy of the shipped guideline with a comparator typo: valid Turtle, invalid content (SHACL)."""
    copy = tmp_path / "content"
    copy.mkdir()
    for f in GUIDELINE_DIR.glob("*.ttl"):
        text = f.read_text(encoding="utf-8")
        copy.joinpath(f.name).write_text(
            text.replace("rls:crit-child a gkg:AgeCriterion ; rdfs:label \"child (age <18 years)\"@en ;\n"
                         "    gkg:comparator gkg:LessThan", "rls:crit-child a gkg:AgeCriterion ; rdfs:label "
                         "\"child (age <18 years)\"@en ;\n    gkg:comparator gkg:Lessthan"), encoding="utf-8")
    assert "gkg:Lessthan" in (copy / "guideline.ttl").read_text(encoding="utf-8")
    return copy


CASES = {
    "a directory as the patient": (lambda t: [str(t)], "is a directory"),
    "a truncated gzip patient": (lambda t: [str(_truncated_gzip(t))], "cannot be decompressed"),
    "an as-of date with no next day": (lambda t: [str(EXAMPLE), "--as-of", "9999-12-31"], "out of range"),
    "provenance into a directory": (lambda t: [str(EXAMPLE), "--provenance", str(t)], "is a directory"),
    "content: a directory without Turtle": (lambda t: [str(EXAMPLE), "--content", str(t)], "no Turtle (*.ttl) files"),
    "content: a missing file": (lambda t: [str(EXAMPLE), "--content", str(t / "absent.ttl")],
                                "[missing-file] no such file"),
    # two errors: the comparator is not one of the four (SHACL) and not a term of the vocabulary (lint)
    "content that fails validation": (lambda t: [str(EXAMPLE), "--content", str(_broken_content(t))],
                                      "the guideline content has 2 error(s), so nothing was evaluated"),
    "/dev/null as the patient (a device, not a missing file)": (lambda t: ["/dev/null"], "/dev/null: the file is empty"),
    "provenance below /dev/null": (lambda t: [str(EXAMPLE), "--provenance", "/dev/null/x.ttl"],
                                   "cannot write --provenance /dev/null/x.ttl: /dev/null is not a directory"),
    "provenance below a regular file": (lambda t: [str(EXAMPLE), "--provenance", str(_file(t) / "a" / "x.ttl")],
                                        "f.txt is not a directory"),
}


def _file(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("a file")
    return path


def _exit_code(argv: list[str]) -> int:
    """The CLI's exit code, whether it returns it or argparse exits (bad option values)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


@pytest.mark.parametrize("case", sorted(CASES))
def test_unusable_recommend_input_exits_2_with_a_message(case, tmp_path, capsys):
    make_args, message = CASES[case]
    assert _exit_code(["recommend", *make_args(tmp_path), "--format", "json"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("text", ["2026-W03", "2026-W03-4", "20260115", "2026-015", "2026-1-15", "2026-01-15T00:00",
                                  "+2026-01-15", "２０２６-01-15"])
@pytest.mark.parametrize("command", ["recommend", "cohort"])
def test_as_of_is_a_date_written_yyyy_mm_dd_only(command, text, tmp_path, capsys):
    """date.fromisoformat took 2026-W03 as 2026-01-12 and 20260115 as a date: a week or a compact form
    silently read as a date someone may not have meant. Only YYYY-MM-DD is accepted."""
    out = ["--out", str(tmp_path / "out")] if command == "cohort" else []
    assert _exit_code([command, str(EXAMPLE), *out, "--as-of", text]) == 2
    assert f"--as-of must be a date YYYY-MM-DD (e.g. 2026-01-15), got {text!r}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_as_of_yyyy_mm_dd_is_read_as_that_date():
    from datetime import date

    from guidelinekg.commands.recommend import _as_of

    assert _as_of("2026-01-15") == date(2026, 1, 15) and _as_of("0001-01-01") == date(1, 1, 1)


def test_gzip_patient_and_content_directory_give_the_same_report(tmp_path, capsys):
    """A gzip-compressed bundle and --content DIR (its *.ttl, as 'load --content') change nothing."""
    assert main(["recommend", str(EXAMPLE), "--as-of", "2026-01-15", "--format", "json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["recommend", str(_gzipped(tmp_path)), "--as-of", "2026-01-15", "--format", "json",
                 "--content", str(GUIDELINE_DIR)]) == 0
    other = json.loads(capsys.readouterr().out)
    assert plain["recommendations"] and other["recommendations"] == plain["recommendations"]
    assert other["provenance"]["input_sha256"] == plain["provenance"]["input_sha256"]


def test_cohort_refuses_content_that_fails_validation(tmp_path, capsys):
    """The same check before a cohort: a comparator typo made every adult a child before it."""
    content = _broken_content(tmp_path)
    out = tmp_path / "out"
    code = _exit_code(["cohort", str(EXAMPLE), "--out", str(out), "--as-of", "2026-01-15", "--no-progress",
                       "--content", str(content)])
    err = capsys.readouterr().err
    lines = (content / "guideline.ttl").read_text(encoding="utf-8").splitlines()
    line = next(n for n, text in enumerate(lines, start=1) if text.startswith("rls:crit-child a "))
    assert code == 2 and f"guideline.ttl:{line}: error: [shacl:in]" in err and "gkg:Lessthan" in err
    assert not [p for p in out.rglob("*") if not p.name.startswith(".")]  # no results (a run's marker aside)


def test_an_unwritable_provenance_path_is_refused_before_anything_is_evaluated(tmp_path, capsys, monkeypatch):
    from guidelinekg.commands import recommend

    def evaluate_file(*args, **kwargs):
        raise AssertionError("evaluated before the --provenance path was checked")

    monkeypatch.setattr(recommend, "evaluate_guidelines", evaluate_file)
    assert _exit_code(["recommend", str(EXAMPLE), "--provenance", str(_file(tmp_path) / "x.ttl")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_a_long_literal_in_a_patient_is_reported_not_a_csv_error(tmp_path, capsys):
    """A 200 000-character identifier: the engine reads results over the csv module's 128 KiB field limit."""
    path = tmp_path / "p.ttl"
    long = "x" * 200_000
    path.write_text("@prefix gkg: <https://w3id.org/guidelinekg/ontology#> .\n"
                    f'<urn:example:p1> a gkg:Patient ; gkg:identifier "{long}" .\n')
    assert main(["recommend", str(path), "--as-of", "2026-01-15", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["patient"] == "urn:example:p1"


def test_python_dash_m_runs_the_same_command_line():
    """``python -m guidelinekg`` is the ``guidelinekg`` script: same version, same exit code 2 for a bad
    command (a missing ``__main__`` made it "No module named guidelinekg.__main__")."""
    import subprocess
    import sys

    from guidelinekg import __version__

    ok = subprocess.run([sys.executable, "-m", "guidelinekg", "--version"], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.strip() == f"guidelinekg {__version__}"
    bad = subprocess.run([sys.executable, "-m", "guidelinekg", "no-such-command"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr and "Traceback" not in bad.stderr


MISSING_PATH = {  # each command's way of naming an input path; "absent" is never created
    "query --data": lambda a: ["query", "grade-counts", "--no-guidelines", "--data", a],
    "audit": lambda a: ["audit", a],
    "load": lambda a: ["load", "--store", a + "-store", a],
    "serve --store": lambda a: ["serve", "--store", a],
    "recommend": lambda a: ["recommend", a],
    "cohort": lambda a: ["cohort", a, "--out", a + "-out"],
    "conflicts --content": lambda a: ["conflicts", "--content", a, "--content", a],
}


@pytest.mark.parametrize("command", sorted(MISSING_PATH))
def test_a_missing_path_is_named_missing_by_every_command(command, tmp_path, capsys):
    """One message for a path that does not exist, located, exit 2: before, --data nosuchdir said it could
    not tell the RDF format from the extension '(none)', recommend put the path after the message, and
    conflicts counted a missing folder as no guideline."""
    absent = str(tmp_path / "absent")
    assert _exit_code(MISSING_PATH[command](absent)) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == f"guidelinekg {command.split()[0]}: error: {absent}: no such file or directory"
    assert len(err.splitlines()) <= 2 and "Traceback" not in err
