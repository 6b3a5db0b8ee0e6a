"""`guidelinekg vignettes`: a guideline author runs their vignettes with the CLI, no test code of their own.

As an author would: the scaffold of `guidelinekg new` passes as written (in process and in a new process from
the folder it was written in); the shipped cases pass with the shipped content; a deliberately wrong
expected.json fails (exit 1) naming each difference, expected against got; an expected.json that is not in
the format, or whose checks name no statement (a node without gkg:sourceText), is unusable (exit 2) with its
file, line and column, while the other cases still run.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from guidelinekg.cli import main
from guidelinekg.report.vignettes import Difference, compare, outcome_of
from vignettes import CASES, load_vignettes

ROOT = Path(__file__).resolve().parents[1]
NAME = "vignette-demo"
NAMESPACE = f"https://w3id.org/guidelinekg/guideline/{NAME}/"
AUTHORING = ROOT / "docs" / "examples" / "authoring"


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def scaffold(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("vignettes") / NAME
    assert main(["new", NAME, "--dir", str(folder)]) == 0
    return folder


def _copy_case(scaffold: Path, tmp_path: Path, name: str) -> Path:
    """The scaffold's content with its one case copied to ``cases/NAME`` of a folder of their own."""
    content = tmp_path / "content"
    shutil.copytree(scaffold, content, ignore=shutil.ignore_patterns("tests"))
    case = tmp_path / "cases" / name
    shutil.copytree(scaffold / "tests" / "cases" / "001-example", case)
    return case


def _edit(case: Path, change) -> None:
    path = case / "expected.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")


# --- the scaffold passes as generated -------------------------------------------------------------


def test_the_scaffold_passes_as_generated(scaffold, capsys):
    code, out, err = _run(["vignettes", "--content", str(scaffold)], capsys)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("pass ") and lines[0].endswith("tests/cases/001-example")
    assert lines[-1] == "vignettes: 1 case, 1 passed, 0 failed; exit 0"


def test_the_scaffold_checks_name_only_statements(scaffold):
    """docs/authoring.md 1.19: each check is a statement (it has a gkg:sourceText); a criterion is not."""
    expected = json.loads((scaffold / "tests/cases/001-example/expected.json").read_text(encoding="utf-8"))
    assert expected["checks"] == [NAMESPACE + "rec-example"]
    text = (scaffold / "guideline.ttl").read_text(encoding="utf-8")
    assert f"{NAME}:rec-example a gkg:Recommendation" in text


def test_a_new_process_in_the_authors_folder_finds_the_cases_itself(scaffold):
    run = subprocess.run([sys.executable, "-m", "guidelinekg.cli", "vignettes", "--content", NAME, "--format", "json"],
                         cwd=scaffold.parent, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["summary"] == {"cases": 1, "passed": 1, "failed": 0, "unusable": 0}
    [case] = document["cases"]
    assert case == {"case": f"{NAME}/tests/cases/001-example", "guideline": NAMESPACE + "v0.1",
                    "as_of": "2026-01-15", "status": "pass", "differences": [], "warnings": []}


# --- the shipped cases and the example guidelines --------------------------------------------------


def test_the_shipped_cases_pass_with_the_shipped_content(capsys):
    code, out, err = _run(["vignettes", str(CASES), "--format", "json"], capsys)
    document = json.loads(out)
    assert code == 0, [c for c in document["cases"] if c["status"] != "pass"][:3] or err
    assert document["summary"]["cases"] == document["summary"]["passed"] == len(load_vignettes())
    assert {c["guideline"] for c in document["cases"]} == {"https://w3id.org/guidelinekg/guideline/rls-iron/v2025-12-23"}


def test_each_case_is_compared_with_the_guideline_its_checks_name(capsys):
    """Two guidelines loaded: each case goes to the one whose statements its checks name."""
    other = ROOT / "examples" / "guidelines" / "aan-rls-2016"
    code, out, err = _run(["vignettes", str(AUTHORING / "cases"), str(other / "cases"),
                           "--content", str(AUTHORING), "--content", str(other), "--format", "json"], capsys)
    document = json.loads(out)
    assert code == 0, err
    guidelines = {c["guideline"].rsplit("/", 1)[0] for c in document["cases"]}
    assert guidelines == {"https://example.org/guidelinekg/examplomab", "https://w3id.org/guidelinekg/guideline/aan-rls-2016"}


# --- a wrong expected.json fails, naming the difference ---------------------------------------------


def test_a_wrong_expected_json_fails_naming_each_difference(scaffold, tmp_path, capsys):
    case = _copy_case(scaffold, tmp_path, "002-wrong")
    shutil.copytree(scaffold / "tests" / "cases" / "001-example", tmp_path / "cases" / "001-example")

    def wrong(document):
        document["expect"].update(recommended=["rec-other"], orders=["4548-4"], doses={"rec-example": [35, "mg"]})

    _edit(case, wrong)
    code, out, err = _run(["vignettes", str(tmp_path / "cases"), "--content", str(tmp_path / "content")], capsys)
    assert (code, err) == (1, "")
    passed, failed, summary = out.splitlines()
    assert passed.startswith("pass ") and passed.endswith("001-example")
    assert failed.startswith("FAIL ") and "002-wrong: " in failed
    assert "recommended: expected [rec-other], got [rec-example] (missing rec-other; unexpected rec-example)" in failed
    assert "orders: expected [4548-4], got [] (missing 4548-4)" in failed
    assert "dose of rec-example: expected 35 mg, got no dose" in failed
    assert summary == "vignettes: 2 cases, 1 passed, 1 failed; exit 1"

    code, out, _ = _run(["vignettes", str(case), "--content", str(tmp_path / "content"), "--format", "json"], capsys)
    [result] = json.loads(out)["cases"]
    assert code == 1 and result["status"] == "FAIL"
    assert {(d["key"], d["item"]) for d in result["differences"]} == {("recommended", None), ("orders", None),
                                                                      ("doses", "rec-example")}


def test_an_input_expected_to_be_refused_that_gives_a_report_fails(scaffold, tmp_path, capsys):
    case = _copy_case(scaffold, tmp_path, "003-should-be-refused")
    _edit(case, lambda d: d.update(expect={"error": True, "exit_code": 2, "message_contains": ["empty"]}))
    code, out, _ = _run(["vignettes", str(case), "--content", str(tmp_path / "content")], capsys)
    assert code == 1
    assert "error: expected \"exit 2\", got \"a report\" (the input was not refused)" in out


# --- unusable expected.json: exit 2, located, the other cases still run ----------------------------


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(as_of="2026-1-15"), '"as_of" must be a date YYYY-MM-DD, got "2026-1-15"'),
    (lambda d: d["checks"].append(NAMESPACE + "crit-hba1c-ge-7"),
     f"checks[1] {NAMESPACE}crit-hba1c-ge-7 is not a statement of {NAMESPACE}v0.1 (it has no gkg:sourceText)"),
    (lambda d: d["expect"].update(monitorng=[]), '"expect" has an unknown key "monitorng" (did you mean "monitoring"?)'),
    (lambda d: d.update(checks=[]), '"checks" must be a non-empty list of IRIs'),
    (lambda d: d["expect"].update(doses={"rec-example": "35 mg"}), 'the dose of "rec-example" must be [value, "unit"] or null'),
    (lambda d: d.pop("expect"), 'expected.json has no "expect"'),
], ids=["as-of", "criterion-in-checks", "unknown-key", "no-checks", "dose-as-text", "no-expect"])
def test_an_unusable_expected_json_is_located_and_the_rest_still_runs(scaffold, tmp_path, capsys, change, message):
    case = _copy_case(scaffold, tmp_path, "002-bad")
    shutil.copytree(scaffold / "tests" / "cases" / "001-example", tmp_path / "cases" / "001-example")
    _edit(case, change)
    code, out, err = _run(["vignettes", str(tmp_path / "cases"), "--content", str(tmp_path / "content")], capsys)
    assert code == 2
    [line] = err.splitlines()
    location = f"guidelinekg vignettes: error: {case / 'expected.json'}"
    assert re.match(re.escape(location) + r"(:\d+:\d+)?: ", line), line
    assert message in line
    assert out.splitlines()[0].startswith("pass ")
    assert out.splitlines()[-1] == "vignettes: 2 cases, 1 passed, 0 failed, 1 unusable; exit 2"


def test_expected_json_that_is_not_json_and_a_folder_without_a_patient(scaffold, tmp_path, capsys):
    case = _copy_case(scaffold, tmp_path, "002-not-json")
    (case / "expected.json").write_text('{"checks": [\n  "x",\n}', encoding="utf-8")
    empty = tmp_path / "cases" / "003-no-patient"
    empty.mkdir()
    (empty / "expected.json").write_text("{}", encoding="utf-8")
    code, _, err = _run(["vignettes", str(tmp_path / "cases"), "--content", str(tmp_path / "content")], capsys)
    assert code == 2
    first, second = err.splitlines()
    assert f"{case / 'expected.json'}:3:1: not valid JSON" in first
    assert f"{empty}: a vignette holds exactly one patient file, found none" in second


def test_no_cases_found_is_unusable_input(scaffold, tmp_path, capsys):
    content = tmp_path / "content"
    shutil.copytree(scaffold, content, ignore=shutil.ignore_patterns("tests"))
    code, out, err = _run(["vignettes", "--content", str(content)], capsys)
    assert (code, out) == (2, "")
    assert f"no vignettes found (looked in {content}/cases, {content}/tests/cases)" in err
    code, _, err = _run(["vignettes", str(tmp_path / "missing"), "--content", str(content)], capsys)
    assert code == 2 and f"{tmp_path / 'missing'}: no such folder" in err


# --- the comparison itself ---------------------------------------------------------------------------


def test_compare_is_the_comparison_of_the_vignette_tests():
    report = {"guideline": {"iri": NAMESPACE + "guideline"}, "applicable": True, "warnings": [],
              "recommendations": [{"iri": NAMESPACE + "rec-a", "dose": {"value": 35, "unit": "mg"},
                                   "direction": "for", "cautions": [{"iri": NAMESPACE + "c-2"}, {"iri": NAMESPACE + "c-1"}]}],
              "not_recommended": [], "undetermined": [], "orders": [{"loinc": "4548-4"}], "monitoring": [],
              "not_indicated": [], "population_not_met": []}
    got = outcome_of(report, NAMESPACE)
    assert compare({"recommended": ["rec-a"], "orders": ["4548-4"], "doses": {"rec-a": [35, "mg"], "rec-b": None},
                    "cautions": {"rec-a": ["c-2", "c-1"]}, "applicable": True}, got) == []
    assert compare({"applicable": False, "doses": {"rec-b": [1, "mg"]}}, got) == [
        Difference("applicable", False, True), Difference("doses", [1, "mg"], None, "rec-b", "not recommended")]
    assert str(Difference("doses", [1, "mg"], None, "rec-b", "not recommended")) == \
        "dose of rec-b: expected 1 mg, got no dose (not recommended)"


# --- the docs show what the command prints -----------------------------------------------------------


def _doc_block(name: str) -> list[str]:
    text = (ROOT / "docs" / "authoring.md").read_text(encoding="utf-8")
    found = re.findall(rf"<!-- output: {re.escape(name)} -->\n```text\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert len(found) == 1, f"docs/authoring.md must show one <!-- output: {name} --> block"
    return [line for line in found[0].splitlines() if not line.startswith("$ ")]


def test_the_authoring_doc_shows_what_vignettes_prints(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    code, out, _ = _run(["vignettes", "--content", "docs/examples/authoring"], capsys)
    assert code == 0 and out.splitlines() == _doc_block("vignettes")


def test_the_authoring_doc_shows_a_real_failure(monkeypatch, tmp_path, capsys):
    shutil.copytree(AUTHORING / "cases" / "003-no-hba1c-ordered", tmp_path / "my-cases" / "003-no-hba1c-ordered")
    _edit(tmp_path / "my-cases" / "003-no-hba1c-ordered",
          lambda d: d["expect"].update(recommended=["rec-examplomab"], undetermined=[]))
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run(["vignettes", "my-cases", "--content", str(AUTHORING)], capsys)
    assert code == 1 and out.splitlines() == _doc_block("vignettes FAIL")


def test_the_scaffold_readme_names_the_vignettes_step(scaffold):
    text = (scaffold / "README.md").read_text(encoding="utf-8")
    assert f"guidelinekg vignettes --content {scaffold.as_posix()}/" in text
