"""A file a command writes is never a file it reads, by any name: ``recommend --content DIR --provenance
DIR-guideline-hardlink`` replaced the guideline (the folder was compared by path only, not the files in it),
``--provenance HOME/ontology/gkg.ttl`` replaced the shipped vocabulary (shapes and rules were not protected
at all), and the write went into the existing file, through every hard link to it. Each writing command
(``recommend --provenance``, ``render --output``, ``cohort --out``, ``load --store``, ``hooks --feedback``)
refuses an output that is the same file (device and inode, links resolved) as a file it reads: a file of
an input folder, walked whole, or a shipped file (checked on a copy of the home, GUIDELINEKG_HOME); exit
2, one line, nothing written, before any work. A file is written beside its target and renamed over it.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from guidelinekg import cli
from guidelinekg.commands import recommend
from guidelinekg.content import resources

PROJECT = resources.project_home()
PATIENT = PROJECT / "examples" / "patient-ferritin-45.json"
GUIDELINE = PROJECT / "ontology" / "guidelines" / "rls-iron"
SHIPPED = ["ontology/gkg.ttl", "shapes/patient.ttl", "queries/rules/05-restricted-recommendations.rq"]


def refused(capsys, argv: list[str], fragment: str) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1, err


def snapshot(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A copy of the shipped files as GUIDELINEKG_HOME: what a refusal failed to stop is destroyed there."""
    copy = tmp_path / "home"
    for name in ("ontology", "shapes", "queries"):
        shutil.copytree(PROJECT / name, copy / name)
    monkeypatch.setenv("GUIDELINEKG_HOME", str(copy))
    return copy


@pytest.fixture
def content(tmp_path) -> Path:
    """A --content folder (a copy of the shipped guideline) whose terms.ttl is a symbolic link out of it."""
    folder = tmp_path / "content"
    shutil.copytree(GUIDELINE, folder)
    outside = tmp_path / "terms-real.ttl"
    (folder / "terms.ttl").rename(outside)
    (folder / "terms.ttl").symlink_to(outside)
    return folder


@pytest.fixture
def nothing_runs(monkeypatch):
    """Without the check each command would go on to work (then write): fail there instead, before a write."""
    from guidelinekg.cohort import run as cohort_run
    from guidelinekg.hooks import feedback
    from guidelinekg.provenance import store
    from guidelinekg.render import guideline

    def fail(*args, **kwargs):
        raise AssertionError("the work began: the output path was not refused")

    monkeypatch.setattr(recommend, "evaluate_guidelines", fail)
    monkeypatch.setattr(recommend, "choose_guidelines", fail)
    monkeypatch.setattr(guideline.GuidelineGraph, "load", fail)
    monkeypatch.setattr(cohort_run, "run_cohort", fail)
    monkeypatch.setattr(store, "load_store", fail)
    monkeypatch.setattr(store, "read_guidelines", fail)
    monkeypatch.setattr(feedback, "CardLog", fail)


def test_provenance_over_a_hard_link_to_a_content_file_is_refused(tmp_path, content, capsys, nothing_runs):
    link = tmp_path / "link-to-guideline.ttl"
    link.hardlink_to(content / "guideline.ttl")
    before = snapshot(content)
    refused(capsys, ["recommend", str(PATIENT), "--content", str(content), "--provenance", str(link)],
            f"--provenance {link} is the input {content / 'guideline.ttl'}: writing it would replace")
    assert snapshot(content) == before


def test_provenance_over_the_target_of_a_link_in_a_content_folder_is_refused(tmp_path, content, capsys,
                                                                            nothing_runs):
    target = tmp_path / "terms-real.ttl"
    before = target.read_bytes()
    refused(capsys, ["recommend", str(PATIENT), "--content", str(content), "--provenance", str(target)],
            f"--provenance {target} is the input {content / 'terms.ttl'}")
    assert target.read_bytes() == before


@pytest.mark.parametrize("shipped", SHIPPED)
@pytest.mark.parametrize("with_content", [False, True])
def test_provenance_over_a_shipped_file_is_refused(shipped, with_content, home, content, capsys,
                                                   nothing_runs):
    before = snapshot(home)
    argv = ["recommend", str(PATIENT), "--provenance", str(home / shipped)]
    refused(capsys, argv + (["--content", str(content)] if with_content else []),
            f"is the input {home / shipped}")
    refused(capsys, argv[:-1] + [str(home / shipped.replace(".", "-new."))], "is inside the shipped folder")
    assert snapshot(home) == before


@pytest.mark.parametrize("shipped", SHIPPED)
def test_output_over_a_hard_link_to_a_shipped_file_is_refused(shipped, tmp_path, home, capsys, nothing_runs):
    link = tmp_path / "innocent.md"
    link.hardlink_to(home / shipped)
    before = snapshot(home)
    refused(capsys, ["recommend", str(PATIENT), "--provenance", str(link)], f"is the input {home / shipped}")
    refused(capsys, ["render", "--output", str(link)], f"--output {link} is the input {home / shipped}")
    assert snapshot(home) == before


def test_render_output_over_a_file_of_a_data_folder_is_refused(tmp_path, content, capsys, nothing_runs):
    link = tmp_path / "out.md"
    link.hardlink_to(content / "citations.ttl")
    before = snapshot(content)
    for output in (link, tmp_path / "terms-real.ttl"):
        refused(capsys, ["render", "--data", str(content), "--output", str(output)], "is the input")
    refused(capsys, ["render", "--data", str(content), "--output", str(content / "out.ttl")],
            f"is inside the input folder {content}")  # a .ttl there would be read as content next time
    assert snapshot(content) == before


def test_render_output_of_another_kind_may_go_into_the_data_folder(tmp_path, content, capsys):
    """Found in review: 'render --data gl --output gl/rendered.md' was refused as 'read as input next time',
    though the folder's reader takes only *.ttl files."""
    assert cli.main(["render", "--data", str(content), "--output", str(content / "rendered.md")]) == 0
    assert "Generated by `guidelinekg render`" in (content / "rendered.md").read_text(encoding="utf-8")


def test_cohort_out_holding_a_file_read_is_refused(tmp_path, home, content, capsys, nothing_runs):
    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.csv").hardlink_to(content / "guideline.ttl")
    refused(capsys, ["cohort", str(PATIENT), "--content", str(content), "--out", str(out)],
            f"--out {out} holds the input {content / 'guideline.ttl'} (as {out / 'summary.csv'})")
    (out / "summary.csv").unlink()
    (out / "summary.csv").symlink_to(home / "shapes" / "patient.ttl")
    refused(capsys, ["cohort", str(PATIENT), "--out", str(out)],
            f"holds the input {home / 'shapes' / 'patient.ttl'}")
    refused(capsys, ["cohort", str(PATIENT), "--out", str(home / "queries" / "run")],
            "is inside the shipped folder")
    refused(capsys, ["cohort", str(PATIENT), "--content", str(content), "--out", str(content / "run")],
            "is inside the input folder")
    assert not (home / "queries" / "run").exists() and not (content / "run").exists()


def test_load_store_holding_a_shipped_file_is_refused(tmp_path, home, capsys, nothing_runs):
    store = tmp_path / "store"
    store.mkdir()
    (store / "x").hardlink_to(home / "ontology" / "gkg.ttl")
    refused(capsys, ["load", "--guidelines", "--store", str(store)],
            f"--store {store} holds the input {home / 'ontology' / 'gkg.ttl'}")
    refused(capsys, ["load", "--guidelines", "--store", str(home)], "holds the shipped folder")
    refused(capsys, ["load", "--guidelines", "--store", str(home / "ontology" / "store")],
            "inside the shipped folder")


def test_hooks_feedback_over_a_file_read_is_refused(tmp_path, home, content, capsys, nothing_runs):
    feedback = tmp_path / "feedback"
    feedback.mkdir()
    (feedback / "feedback.nq").symlink_to(tmp_path / "terms-real.ttl")
    refused(capsys, ["hooks", "--content", str(content), "--feedback", str(feedback)],
            f"is the input {content / 'terms.ttl'}")
    (feedback / "feedback.nq").unlink()
    (feedback / "provenance.nq").hardlink_to(home / "ontology" / "gkg.ttl")
    refused(capsys, ["hooks", "--feedback", str(feedback)], f"is the input {home / 'ontology' / 'gkg.ttl'}")
    refused(capsys, ["hooks", "--content", str(content), "--feedback", str(content / "fb")],
            "inside the input folder")
    refused(capsys, ["hooks", "--feedback", str(home / "ontology" / "fb")], "inside the shipped folder")
    assert not (content / "fb").exists() and not (home / "ontology" / "fb").exists()


def test_a_written_file_is_replaced_not_written_through(tmp_path, capsys):
    """Another name of the old file (a hard link) keeps the old content; the file keeps its permissions."""
    run = tmp_path / "run.ttl"
    run.write_text("# an earlier run\n", encoding="utf-8")
    run.chmod(0o640)
    kept = tmp_path / "kept.ttl"
    kept.hardlink_to(run)
    assert cli.main(["recommend", str(PATIENT), "--as-of", "2026-01-15", "--provenance", str(run)]) == 0
    capsys.readouterr()
    assert run.read_text(encoding="utf-8").startswith("@prefix")
    assert kept.read_text(encoding="utf-8") == "# an earlier run\n"
    assert stat.S_IMODE(run.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.ttl", "run.ttl"]  # no temporary file left


def test_render_output_through_a_symbolic_link_writes_its_target(tmp_path, capsys):
    target = tmp_path / "guideline.md"
    target.write_text("old\n", encoding="utf-8")
    link = tmp_path / "latest.md"
    link.symlink_to(target)
    assert cli.main(["render", "--output", str(link)]) == 0
    capsys.readouterr()
    assert link.is_symlink() and "Generated by `guidelinekg render`" in target.read_text(encoding="utf-8")
    assert os.path.samefile(link, target)


def test_a_device_is_written_as_it_is(capsys):
    """/dev/null (or /dev/stdout, a pipe) is no file to replace: written to, never renamed over."""
    assert cli.main(["render", "--output", "/dev/null"]) == 0
    capsys.readouterr()
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
