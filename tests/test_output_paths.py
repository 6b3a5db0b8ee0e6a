"""A file a command writes is never one of its inputs: ``recommend --provenance victim.json`` replaced the
patient file with Turtle, ``render --data g.ttl --output g.ttl`` the guideline with Markdown. The same
file by another name (a symbolic or hard link), an output inside an input folder that is read whole
(``--content DIR``), and a store holding an input are refused too: exit 2, one line, nothing written,
before any work.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from guidelinekg import cli
from guidelinekg.commands import recommend, refuse_overwriting_input
from guidelinekg.content import resources
from guidelinekg.errors import InputError

PATIENT = resources.project_home() / "examples" / "patient-ferritin-45.json"
GUIDELINE = resources.project_home() / "ontology" / "guidelines" / "rls-iron"


@pytest.fixture
def never_evaluated(monkeypatch):
    """Without the check the run would go on to evaluate (then write): fail there instead, before a write."""
    def evaluate(*args, **kwargs):
        raise AssertionError("evaluated: the output path was not refused")

    monkeypatch.setattr(recommend, "evaluate_guidelines", evaluate)


def refused(capsys, argv: list[str], fragment: str) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1, err


def test_provenance_over_the_patient_file_is_refused(tmp_path, capsys, never_evaluated):
    victim = tmp_path / "victim.json"
    shutil.copy(PATIENT, victim)
    refused(capsys, ["recommend", str(victim), "--as-of", "2026-01-15", "--provenance", str(victim)],
            f"--provenance {victim} is the input {victim}: writing it would replace the input")
    assert victim.read_bytes() == PATIENT.read_bytes()


@pytest.mark.parametrize("link", ["symbolic", "hard"])
def test_provenance_over_a_link_to_the_patient_file_is_refused(link, tmp_path, capsys, never_evaluated):
    victim = tmp_path / "victim.json"
    shutil.copy(PATIENT, victim)
    other = tmp_path / "other.ttl"
    (other.symlink_to if link == "symbolic" else other.hardlink_to)(victim)
    refused(capsys, ["recommend", str(victim), "--as-of", "2026-01-15", "--provenance", str(other)],
            f"--provenance {other} is the input {victim}")
    assert victim.read_bytes() == PATIENT.read_bytes()


def test_provenance_through_a_linked_folder_is_refused(tmp_path, capsys, never_evaluated):
    victim = tmp_path / "data" / "victim.json"
    victim.parent.mkdir()
    shutil.copy(PATIENT, victim)
    (tmp_path / "alias").symlink_to(victim.parent)
    refused(capsys, ["recommend", str(victim), "--provenance", str(tmp_path / "alias" / "victim.json")],
            "is the input")


def test_provenance_over_a_content_file_or_into_a_content_folder_is_refused(tmp_path, capsys, never_evaluated):
    content = tmp_path / "content"
    shutil.copytree(GUIDELINE, content)
    before = {p: p.read_bytes() for p in content.rglob("*.ttl")}
    refused(capsys, ["recommend", str(PATIENT), "--content", str(content / "guideline.ttl"), "--provenance",
                     str(content / "guideline.ttl")], "is the input")
    refused(capsys, ["recommend", str(PATIENT), "--content", str(content), "--provenance",
                     str(content / "runs" / "run.ttl")],
            f"--provenance {content / 'runs' / 'run.ttl'} is inside the input folder {content}: it would be read "
            "as input the next time")
    assert {p: p.read_bytes() for p in content.rglob("*.ttl")} == before


def test_provenance_over_a_shipped_content_file_is_refused(capsys, never_evaluated):
    target = resources.guideline_files()[0]
    before = target.read_bytes()
    refused(capsys, ["recommend", str(PATIENT), "--provenance", str(target)], "is the input")
    assert target.read_bytes() == before


def test_provenance_next_to_the_patient_is_written(tmp_path, capsys):
    patient = tmp_path / "p.json"
    shutil.copy(PATIENT, patient)
    run = tmp_path / "run.ttl"
    assert cli.main(["recommend", str(patient), "--as-of", "2026-01-15", "--provenance", str(run)]) == 0
    assert run.read_text(encoding="utf-8").startswith("@prefix") and patient.read_bytes() == PATIENT.read_bytes()
    capsys.readouterr()


@pytest.fixture
def never_rendered(monkeypatch):
    from guidelinekg.render import guideline

    def load(*args, **kwargs):
        raise AssertionError("loaded: the output path was not refused")

    monkeypatch.setattr(guideline.GuidelineGraph, "load", load)


def test_render_output_over_its_data_is_refused(tmp_path, capsys, never_rendered):
    data = tmp_path / "g.ttl"
    shutil.copy(GUIDELINE / "guideline.ttl", data)
    link = tmp_path / "link.md"
    link.symlink_to(data)
    for output in (data, link):
        refused(capsys, ["render", "--data", str(data), "--output", str(output)],
                f"--output {output} is the input {data}: writing it would replace the input")
    assert data.read_bytes() == (GUIDELINE / "guideline.ttl").read_bytes()


def test_render_output_over_a_shipped_file_is_refused(capsys, never_rendered):
    target = resources.vocabulary_files()[0]
    before = target.read_bytes()
    refused(capsys, ["render", "--output", str(target)], "is the input")
    assert target.read_bytes() == before


def test_a_store_holding_an_input_is_refused(tmp_path, capsys):
    store = tmp_path / "store"
    store.mkdir()
    run = store / "run.ttl"
    run.write_text("# a recommend --provenance file\n", encoding="utf-8")
    refused(capsys, ["load", str(run), "--store", str(store)],
            f"--store {store} holds the input {run}: writing there could change or delete it")
    refused(capsys, ["load", str(store), "--store", str(store)], f"--store {store} is the input {store}")
    assert run.read_text(encoding="utf-8") == "# a recommend --provenance file\n"


def test_the_check_itself(tmp_path):
    data = tmp_path / "in.ttl"
    data.write_text("x", encoding="utf-8")
    refuse_overwriting_input("--output", tmp_path / "out.md", [data], folders=[tmp_path / "absent"])
    refuse_overwriting_input("--output", tmp_path / "new" / "out.md", [tmp_path / "missing.ttl"])
    with pytest.raises(InputError, match="is inside the input folder"):
        refuse_overwriting_input("--output", tmp_path / "a" / "b.md", [data], folders=[tmp_path])
    loop = tmp_path / "loop"
    os.symlink(loop, loop)  # a link loop is compared as written, not a crash
    refuse_overwriting_input("--output", loop, [data])
    with pytest.raises(InputError, match="is the input"):
        refuse_overwriting_input("--output", Path(os.path.relpath(data)), [data])
