"""`guidelinekg new NAME`: the scaffold of a new guideline validates, its vignette gives what it expects,
and nothing is ever overwritten.

The scaffold is written once per session (``scaffold``) and checked as a user would: ``validate`` on the
folder (0 errors, the placeholders listed as warnings) and ``recommend --content`` on its vignette. The
refusals (an unsafe or taken name, a non-empty folder, a file or link where the folder should be, a write
that fails half-way) exit 2 with a message and leave the directory as it was.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
import tomllib
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.cli import main
from guidelinekg.content import scaffold as scaffold_module
from guidelinekg.content.scaffold import FILES, render_files, write_scaffold
from vignettes import outcome_of

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "src" / "guidelinekg" / "content" / "templates" / "guideline"
NAME = "example-guideline"
NAMESPACE = f"https://w3id.org/guidelinekg/guideline/{NAME}/"
WRITTEN = sorted(relative for _, relative in FILES)


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's usage errors
        return int(exc.code)


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path below ``root`` with its bytes (None for a directory): to show nothing changed."""
    def content(path: Path) -> bytes | None:
        if path.is_symlink():
            return b"-> " + os.readlink(path).encode()
        return None if path.is_dir() else path.read_bytes()

    return {p.relative_to(root).as_posix(): content(p) for p in sorted(root.rglob("*"))}


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def scaffold(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("new") / NAME
    assert main(["new", NAME, "--dir", str(folder)]) == 0
    return folder


def test_the_scaffold_holds_every_file(scaffold):
    assert _files(scaffold) == WRITTEN
    for path in scaffold.rglob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))


def test_the_scaffold_validates_with_no_errors_and_lists_its_placeholders(scaffold, capsys):
    code = main(["validate", str(scaffold), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert code == 0 and errors == []
    warned = {(f["code"], Path(f["file"]).name) for f in report["findings"] if f["severity"] == "warning"}
    assert {("unverified", "citations.ttl"), ("unverified", "terms.ttl"), ("unverified", "guideline.ttl"),
            ("project-assumption", "terms.ttl")} <= warned


def test_the_vignette_gives_its_expected_outcome_through_recommend(scaffold, capsys):
    case = scaffold / "tests" / "cases" / "001-example"
    expected = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    code = main(["recommend", str(case / "patient.json"), "--content", str(scaffold),
                 "--as-of", expected["as_of"], "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0

    outcome = outcome_of(report, NAMESPACE)
    assert outcome == {k: sorted(v) if isinstance(v, list) else v for k, v in expected["expect"].items()}
    assert report["guideline"]["version_iri"] == NAMESPACE + "v0.1"
    assert report["guideline"]["status"] == "submitted"
    assert expected["checks"] and all(iri.startswith(NAMESPACE) for iri in expected["checks"])


def test_the_readme_names_the_next_steps_and_the_authoring_guide(scaffold):
    text = (scaffold / "README.md").read_text(encoding="utf-8")
    shown = scaffold.as_posix() + "/"
    for step in (f"guidelinekg validate {shown}", f"guidelinekg render --data {shown}guideline.ttl",
                 f"guidelinekg recommend {shown}tests/cases/001-example/patient.json --content {shown}",
                 "docs/authoring.md"):
        assert step in text
    for _, relative in FILES[:-1]:
        assert f"`{relative}`" in text, f"README.md does not say what {relative} is"


def test_the_readme_render_step_works(scaffold, capsys):
    assert main(["render", *(a for f in ("guideline", "terms", "citations")
                             for a in ("--data", str(scaffold / f"{f}.ttl")))]) == 0
    assert "EXAMPLE: treatment when HbA1c" in capsys.readouterr().out


def test_the_templates_are_filled_and_say_nothing_of_any_shipped_guideline():
    texts = render_files("my-guideline", shown_dir="my-guideline/", today=date(2030, 2, 3))
    assert sorted(texts) == WRITTEN
    joined = "\n".join(texts.values())
    assert not re.search(r"\{\{[A-Z_]+\}\}", joined)
    assert "@prefix my-guideline: <https://w3id.org/guidelinekg/guideline/my-guideline/> ." in joined
    assert "my-guideline:v0.1 a gkg:GuidelineVersion" in texts["guideline.ttl"]
    assert '"2030-02-03"^^xsd:date' in texts["guideline.ttl"]
    assert not re.search(r"rls-iron|restless|ferritin|\brls:", joined, re.IGNORECASE)


def test_every_template_is_package_data():
    """pyproject's package-data globs match every template, so an installed (non-editable) copy has them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["guidelinekg.content"]
    base = ROOT / "src" / "guidelinekg" / "content"
    declared = {p for pattern in globs for p in base.glob(pattern)}
    assert {TEMPLATES / template for template, _ in FILES} == declared == set(TEMPLATES.iterdir())


def test_the_default_folder_is_name_and_a_second_run_does_not_clobber(tmp_path):
    """As a user runs it: a new process, in the current directory, twice."""
    command = [sys.executable, "-m", "guidelinekg.cli", "new", "demo"]
    first = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           check=False)
    assert first.returncode == 0, first.stderr
    assert "guidelinekg validate demo/" in first.stdout
    (tmp_path / "demo" / "guideline.ttl").write_text("# my edits\n", encoding="utf-8")
    before = _tree(tmp_path)
    second = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           check=False)
    assert second.returncode == 2
    assert "demo is not empty" in second.stderr and "nothing was written" in second.stderr
    assert "Traceback" not in second.stderr
    assert _tree(tmp_path) == before


def test_an_existing_empty_folder_is_filled(tmp_path):
    (tmp_path / "empty").mkdir()
    assert main(["new", "demo", "--dir", str(tmp_path / "empty")]) == 0
    assert _files(tmp_path / "empty") == WRITTEN
    assert [p.name for p in tmp_path.iterdir()] == ["empty"]  # no staging folder left behind


def test_missing_parent_folders_are_created(tmp_path):
    assert main(["new", "demo", "--dir", str(tmp_path / "a" / "b" / "demo")]) == 0
    assert _files(tmp_path / "a" / "b" / "demo") == WRITTEN


def _non_empty(t: Path) -> list[str]:
    (t / "demo").mkdir()
    (t / "demo" / "mine.ttl").write_text("# mine\n", encoding="utf-8")
    return ["new", "demo", "--dir", str(t / "demo")]


def _file_as_folder(t: Path) -> list[str]:
    (t / "demo").write_text("a file\n", encoding="utf-8")
    return ["new", "demo", "--dir", str(t / "demo")]


def _below_a_file(t: Path) -> list[str]:
    (t / "f.txt").write_text("a file\n", encoding="utf-8")
    return ["new", "demo", "--dir", str(t / "f.txt" / "demo")]


def _link(t: Path) -> list[str]:
    (t / "real").mkdir()
    (t / "demo").symlink_to(t / "real", target_is_directory=True)
    return ["new", "demo", "--dir", str(t / "demo")]


def _name(name: str):
    return lambda t: ["new", name, "--dir", str(t / "folder")]


UNSAFE = "not a safe guideline name"
REFUSALS = {
    "an existing non-empty folder": (_non_empty, "is not empty (mine.ttl); nothing was written"),
    "a file where the folder should be": (_file_as_folder, "exists and is not a folder"),
    "a folder below a file": (_below_a_file, "f.txt is not a folder"),
    "a symbolic link as the folder": (_link, "is a symbolic link"),
    "a name that climbs out (../x)": (_name("../x"), UNSAFE),
    "a name with a space": (_name("a b"), UNSAFE),
    "a name with a slash": (_name("a/b"), UNSAFE),
    "an upper-case name": (_name("Anemia"), UNSAFE),
    "a name ending in a hyphen": (_name("anemia-"), UNSAFE),
    "an empty name": (_name(""), UNSAFE),
    "a name too long": (_name("a" * 65), UNSAFE),
    "a name that is a prefix of the templates": (_name("gkg"), "is reserved"),
    "the name of a shipped guideline": (_name("rls-iron"), "a shipped guideline already uses the IRIs"),
    "a prefix of the shipped content": (_name("rls"), "already a Turtle prefix of the shipped content"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_refusal_exits_2_with_a_message_and_writes_nothing(case, tmp_path, capsys):
    build, message = REFUSALS[case]
    argv = build(tmp_path)
    before = _tree(tmp_path)
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert _tree(tmp_path) == before


def test_a_write_that_fails_half_way_leaves_nothing_behind(tmp_path, monkeypatch, capsys):
    def no_space(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(scaffold_module.os, "rename", no_space)
    assert _exit_code(["new", "demo", "--dir", str(tmp_path / "new" / "parents" / "demo")]) == 2
    assert "No space left on device; nothing was written" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nor the staging folder, nor the parents it made


def test_a_failure_filling_an_empty_folder_leaves_it_empty(tmp_path, monkeypatch, capsys):
    (tmp_path / "demo").mkdir()
    real_rename = os.rename
    calls = []

    def fail_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_rename(src, dst)

    monkeypatch.setattr(scaffold_module.os, "rename", fail_second)
    assert _exit_code(["new", "demo", "--dir", str(tmp_path / "demo")]) == 2
    assert "nothing was written" in capsys.readouterr().err
    assert list((tmp_path / "demo").iterdir()) == []


def test_write_scaffold_returns_the_folder_as_given(tmp_path):
    folder = write_scaffold("demo", tmp_path / "x", today=date(2031, 1, 1))
    assert folder == tmp_path / "x"
    assert '"2031-01-01"^^xsd:date' in (folder / "guideline.ttl").read_text(encoding="utf-8")
