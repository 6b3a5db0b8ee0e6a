"""cohort on input a real export has: gzip'd files, stray files, bytes that are not UTF-8, a file changed
between a run and its --resume, the same patient in two bundles, nothing usable, a dead coordinator.

Each case either gives the same results as the clean input or names what was wrong (a bad record with
file and line, or an error with exit 2); none may crash, drop patients silently or resume from stale chunks.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.cli import main as cli_main
from guidelinekg.cohort.run import CohortOptions, run_cohort
from guidelinekg.content.resources import project_home

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import gen_cohort  # noqa: E402

BULK = Path(__file__).parent / "fixtures" / "cohort" / "bulk"
EXE = str(Path(sys.executable).with_name("guidelinekg"))
AS_OF = date(2026, 1, 15)
EXAMPLE = project_home() / "examples" / "patient-ferritin-45.json"


def run(source: Path, out: Path, **options) -> dict:
    return run_cohort(CohortOptions(source=source, out=out, as_of=AS_OF, progress=False, chunk_size=2, **options))


def bad_records(out: Path) -> list[tuple[str, int | None, str]]:
    lines = (out / "bad-records.jsonl").read_text(encoding="utf-8").splitlines()
    return [(b["file"], b["line"], b["reason"]) for b in map(json.loads, lines)]


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    """The fixture export's run, to compare with."""
    out = tmp_path_factory.mktemp("clean") / "out"
    run(BULK, out)
    return out


def copy_export(tmp_path: Path) -> Path:
    source = tmp_path / "export"
    shutil.copytree(BULK, source)
    return source


def test_gzip_ndjson_gives_the_same_results_and_unread_files_are_listed(clean, tmp_path):
    source = copy_export(tmp_path)
    for name in ("Patient.ndjson", "Observation.ndjson"):
        (source / f"{name}.gz").write_bytes(gzip.compress((source / name).read_bytes()))
        (source / name).unlink()
    (source / "notes.txt").write_text("not part of the export\n", encoding="utf-8")
    summary = run(source, tmp_path / "out")
    assert (tmp_path / "out" / "results.jsonl").read_bytes() == (clean / "results.jsonl").read_bytes()
    assert summary["ignored_files"] == ["README.md", "notes.txt"]
    assert [(f.replace(".gz", ""), n) for f, n, _ in bad_records(tmp_path / "out")] == \
        [(f, n) for f, n, _ in bad_records(clean)]


def test_a_line_that_is_not_utf8_and_a_truncated_gz_are_bad_records(clean, tmp_path):
    source = copy_export(tmp_path)
    with (source / "Condition.ndjson").open("ab") as handle:
        handle.write(b'{"resourceType": "Condition", "id": "caf\xe9"}\n')
    lines = (source / "Condition.ndjson").read_bytes().count(b"\n")
    data = (source / "Specimen.ndjson").read_bytes()
    (source / "Specimen.ndjson.gz").write_bytes(gzip.compress(data)[: len(gzip.compress(data)) // 2])
    (source / "Specimen.ndjson").unlink()
    summary = run(source, tmp_path / "out")
    assert summary["patients"] == 3
    found = bad_records(tmp_path / "out")
    assert ("Condition.ndjson", lines, "not UTF-8 text (bad byte at column 41)") in found
    [truncated] = [b for b in found if b[0] == "Specimen.ndjson.gz"]
    assert truncated[2].startswith("cannot read the file from this line on:")
    assert summary["bad_records"] == len(bad_records(clean)) + 2


def test_resume_refuses_an_input_changed_since_the_run_started(tmp_path, capsys):
    source = copy_export(tmp_path)
    out = tmp_path / "out"
    base = ["cohort", str(source), "--out", str(out), "--chunk-size", "2", "--as-of", "2026-01-15", "--no-progress"]
    assert cli_main(base) == 0
    first = (out / "results.jsonl").read_bytes()
    with (source / "Observation.ndjson").open("a", encoding="utf-8") as handle:
        handle.write("\n")
    capsys.readouterr()
    assert cli_main([*base, "--resume"]) == 2
    err = capsys.readouterr().err
    assert "differs in input_files" in err and "stale" in err
    assert (out / "results.jsonl").read_bytes() == first


def test_the_same_patient_in_two_bundles_is_evaluated_once(tmp_path):
    source = tmp_path / "bundles"
    source.mkdir()
    for name in ("a.json", "b.json"):
        shutil.copy(EXAMPLE, source / name)
    summary = run(source, tmp_path / "out")
    assert summary["patients"] == 1
    lines = (tmp_path / "out" / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["patient"] for line in lines] == ["urn:guidelinekg:Patient/example-1"]
    assert bad_records(tmp_path / "out") == [
        ("b.json", None, "duplicate Patient/example-1 (also in a.json); not evaluated")]


def test_no_usable_patient_exits_2_after_writing_the_bad_records(tmp_path, capsys):
    empty = tmp_path / "empty.json"
    empty.write_text("", encoding="utf-8")
    out = tmp_path / "out"
    assert cli_main(["cohort", str(empty), "--out", str(out), "--as-of", "2026-01-15", "--no-progress"]) == 2
    assert "no patient could be evaluated (1 bad record(s)" in capsys.readouterr().err
    assert len(bad_records(out)) == 1


@pytest.mark.parametrize("case", ["out-is-a-file", "scheduler-address"])
def test_unusable_options_exit_2_without_a_traceback(case, tmp_path, capsys):
    args = ["cohort", str(BULK), "--as-of", "2026-01-15", "--no-progress"]
    if case == "out-is-a-file":
        (tmp_path / "out").write_text("", encoding="utf-8")
        args += ["--out", str(tmp_path / "out")]
        message = "is a file"
    else:
        args += ["--out", str(tmp_path / "out"), "--scheduler", "not-an-address"]
        message = "cannot connect to a Dask scheduler"
    assert cli_main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds worker processes through Linux /proc")
def test_workers_exit_when_the_coordinator_is_killed(tmp_path):
    """kill -9 of the coordinator alone (not its process group): its workers must not run on forever."""
    source = tmp_path / "export"
    gen_cohort.generate(source, 1500, 5)
    out = tmp_path / "out"
    proc = subprocess.Popen([EXE, "cohort", str(source), "--out", str(out), "--as-of", "2026-01-15",
                             "--chunk-size", "50", "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "chunks").is_dir() or len(_children(proc.pid)) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "no worker started"
            time.sleep(0.05)
        workers = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 15
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers), "worker processes outlived the coordinator"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_the_worker_watchdog_keeps_live_workers_under_every_start_method(method):
    """Under forkserver (Python 3.14's default on Linux) a worker's parent is the fork server, not the
    coordinator: a watchdog comparing the parent pid with the coordinator's killed every worker at once."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from guidelinekg.cohort.run import _exit_with_parent

    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(2, mp_context=context, initializer=_exit_with_parent,
                             initargs=(os.getpid(), 0.02)) as pool:
        assert list(pool.map(time.sleep, [0.2] * 4)) == [None] * 4  # several watchdog checks each


def test_a_missing_input_is_an_error_not_a_traceback(tmp_path, capsys):
    code = cli_main(["cohort", str(tmp_path / "absent"), "--out", str(tmp_path / "out"), "--as-of", "2026-01-15",
                     "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "absent: no such file or directory" in err and "Traceback" not in err
