"""`guidelinekg vignettes` on odd input an author may produce: an expected.json saved with a byte order mark,
one that is not a regular file (a named pipe, a link to /dev/zero), a file given as CASES, an as_of past the
last usable day, an item named twice in a list compared as a set, a dose that reads as infinity, and a case
folder whose name holds a line break (each case must stay on one output line).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from guidelinekg.cli import main
from guidelinekg.errors import InputError
from guidelinekg.report.vignettes import case_folders, read_case

NAME = "vignette-edges"


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def scaffold(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("edges") / NAME
    assert main(["new", NAME, "--dir", str(folder)]) == 0
    return folder


@pytest.fixture
def case(scaffold, tmp_path) -> Path:
    """A copy of the scaffold's passing case in ``tmp_path/cases/001-case``."""
    target = tmp_path / "cases" / "001-case"
    shutil.copytree(scaffold / "tests" / "cases" / "001-example", target)
    return target


def _content(scaffold: Path) -> list[str]:
    return ["--content", str(scaffold)]


def _write(case: Path, text: str) -> None:
    (case / "expected.json").write_text(text, encoding="utf-8")


def _document(case: Path) -> dict:
    return json.loads((case / "expected.json").read_text(encoding="utf-8"))


def _refused(case: Path) -> InputError:
    with pytest.raises(InputError) as caught:
        read_case(case)
    return caught.value


# --- the byte order mark -------------------------------------------------------------------------------


def test_an_expected_json_with_a_byte_order_mark_is_read(scaffold, case, capsys):
    text = (case / "expected.json").read_text(encoding="utf-8")
    (case / "expected.json").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    code, out, err = _run(["vignettes", str(case), *_content(scaffold)], capsys)
    assert (code, err) == (0, ""), err
    assert out.splitlines()[0].startswith("pass ")


def test_a_byte_order_mark_does_not_shift_the_located_line(case):
    (case / "expected.json").write_bytes(b'\xef\xbb\xbf{"checks": [],\n "as_of": "2026-01-15", "expect": {}}')
    assert str(_refused(case).location).endswith("expected.json:1:12")  # the [ after "checks"


# --- an expected.json or a patient file that is not a regular file ---------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_an_expected_json_that_is_a_named_pipe_is_refused_unopened(scaffold, case, capsys):
    (case / "expected.json").unlink()
    os.mkfifo(case / "expected.json")  # opening it would wait for a writer for ever
    code, _, err = _run(["vignettes", str(case.parent), *_content(scaffold)], capsys)
    assert code == 2
    assert f"{case}: expected.json is not a regular file (a named pipe)" in err
    code, _, err = _run(["vignettes", str(case), *_content(scaffold)], capsys)  # the case folder itself
    assert code == 2 and "expected.json is not a regular file (a named pipe)" in err


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_an_expected_json_or_patient_linked_to_dev_zero_is_refused_unread(case):
    (case / "expected.json").unlink()
    (case / "expected.json").symlink_to("/dev/zero")
    exc = _refused(case)
    assert exc.message == "expected.json is not a regular file (a device)"
    assert exc.location is not None and exc.location.path == str(case)
    (case / "expected.json").unlink()
    (case / "expected.json").mkdir()
    assert _refused(case).message == "expected.json is not a regular file (a folder)"


def test_a_patient_file_that_is_not_a_regular_file_is_named(case):
    (case / "patient.json").unlink()
    (case / "patient.json").symlink_to(case / "missing.json")
    assert _refused(case).message == "patient.json is not a regular file (a link to nothing)"


# --- a file given as CASES -----------------------------------------------------------------------------


def test_a_cases_expected_json_given_as_cases_runs_that_case(scaffold, case, capsys):
    assert case_folders(case / "expected.json") == [case]
    code, out, err = _run(["vignettes", str(case / "expected.json"), *_content(scaffold)], capsys)
    assert (code, err) == (0, "")
    assert out.splitlines()[0].startswith("pass ") and out.splitlines()[0].endswith("001-case")


def test_another_file_given_as_cases_is_not_a_folder(scaffold, case, capsys):
    code, out, err = _run(["vignettes", str(case / "patient.json"), *_content(scaffold)], capsys)
    assert (code, out) == (2, "")
    assert f"{case / 'patient.json'}: is not a folder" in err
    assert "CASES must be a folder" in err
    code, _, err = _run(["vignettes", str(case / "missing"), *_content(scaffold)], capsys)
    assert code == 2 and f"{case / 'missing'}: no such folder" in err


# --- as_of, duplicates, non-finite doses ---------------------------------------------------------------


def test_as_of_past_the_last_usable_day_is_out_of_range_as_for_recommend(case):
    document = _document(case)
    document["as_of"] = "9999-12-31"
    _write(case, json.dumps(document, indent=2))
    exc = _refused(case)
    assert exc.message == '"as_of" 9999-12-31 is out of range (the latest is 9999-12-30)'
    lines = (case / "expected.json").read_text(encoding="utf-8").splitlines()
    assert exc.location is not None and '"as_of"' in lines[exc.location.line - 1]
    document["as_of"] = "9999-12-30"
    _write(case, json.dumps(document, indent=2))
    assert read_case(case).as_of == "9999-12-30"


def test_an_item_named_twice_in_an_expected_list_is_refused_where_it_repeats(scaffold, case, capsys):
    document = _document(case)
    document["expect"]["recommended"] = ["rec-example", "rec-example"]
    _write(case, json.dumps(document, indent=2))
    code, out, err = _run(["vignettes", str(case.parent), *_content(scaffold)], capsys)
    assert code == 2 and "FAIL" not in out
    lines = (case / "expected.json").read_text(encoding="utf-8").splitlines()
    repeat = lines.index('    "recommended": [') + 3  # the line of the second "rec-example", 1-based
    assert (f'{case / "expected.json"}:{repeat}:7: "recommended" names "rec-example" twice (items 0 and 1); '
            "name each item once (lists are compared as sets)") in err


def test_a_caution_named_twice_is_refused(case):
    document = _document(case)
    document["expect"]["cautions"] = {"rec-example": ["caution-a", "caution-a"]}
    _write(case, json.dumps(document))
    assert _refused(case).message == 'the cautions of "rec-example" names "caution-a" twice (items 0 and 1)'


@pytest.mark.parametrize("written", ["1e999", "-1e999"])
def test_a_dose_that_reads_as_infinity_is_refused_where_it_stands(case, written):
    document = _document(case)
    document["expect"]["doses"] = {"rec-example": [35, "mg"]}
    _write(case, json.dumps(document).replace("[35,", f"[{written},"))
    exc = _refused(case)
    assert exc.message.startswith('the dose of "rec-example" must be a finite number, got ')
    text = (case / "expected.json").read_text(encoding="utf-8")
    assert exc.location is not None and exc.location.column == text.index(written) + 1


# --- control characters in folder names -----------------------------------------------------------------


def test_a_case_folder_name_with_a_line_break_stays_on_one_line(scaffold, case, capsys):
    odd = case.parent / "002-two\nlines"
    shutil.copytree(case, odd)
    bad = case.parent / "003-bad\x1b[31m"
    shutil.copytree(case, bad)
    _write(bad, "{")
    code, out, err = _run(["vignettes", str(case.parent), *_content(scaffold)], capsys)
    assert code == 2
    lines = out.splitlines()
    assert len(lines) == 3 and lines[1].startswith("pass ") and lines[1].endswith("002-two\\nlines")
    [message] = err.splitlines()
    assert "003-bad\\x1b[31m/expected.json:1:2: not valid JSON" in message
    code, out, _ = _run(["vignettes", str(case.parent), *_content(scaffold), "--format", "json"], capsys)
    assert [c["case"].rsplit("/", 1)[-1] for c in json.loads(out)["cases"]] == ["001-case", "002-two\nlines"]
