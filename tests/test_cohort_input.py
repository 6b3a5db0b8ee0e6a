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


@pytest.mark.parametrize("newline", [b"\r", b"\r\n"])
def test_lines_ended_by_a_carriage_return_are_records_too(clean, tmp_path, newline):
    """Found in a trial: an NDJSON file of lines ended by a lone CR was one bad record; its 112 Observations
    were lost and every patient evaluated without them, exit 0."""
    source = copy_export(tmp_path)
    for name in ("Patient.ndjson", "Observation.ndjson"):
        (source / name).write_bytes((source / name).read_bytes().replace(b"\n", newline))
    run(source, tmp_path / "out")
    assert (tmp_path / "out" / "results.jsonl").read_bytes() == (clean / "results.jsonl").read_bytes()
    assert len(bad_records(tmp_path / "out")) == len(bad_records(clean))


@pytest.mark.parametrize("data, lines", [
    (b"a\nb\n", [b"a", b"b"]), (b"a\r\nb\r\n", [b"a", b"b"]), (b"a\rb\rc", [b"a", b"b", b"c"]),
    (b"x" * 10 + b"\ry\n", [None, b"y"]),  # a line over the limit is skipped to its end, a CR's too
    (b"q" * 25 + b"\rok\r" + b"r" * 30, [None, b"ok", None]),  # longer than a read: still split at the CR
    (b"\n\nz", [b"", b"", b"z"]),
])
def test_record_lines_end_at_lf_crlf_or_a_lone_cr(data, lines):
    """Found in review: a CR-only file over the line limit was one line, skipped whole (every record lost)."""
    import io

    from guidelinekg.content.rdffiles import record_lines

    assert list(record_lines(io.BytesIO(data), limit=8)) == lines


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


def test_a_bundle_of_two_patients_counts_both_and_says_why_neither_is_evaluated(tmp_path, capsys):
    """Before #16 a bundle file of two Patients counted as one patient found (``patients_found: 1``) and its bad
    record gave only the loader's error. Each Patient is counted and set aside with its reason; the one of them
    that a bundle of its own also holds is evaluated from that one (the set-aside copy is not a first copy)."""
    source = tmp_path / "bundles"
    source.mkdir()
    shutil.copy(EXAMPLE, source / "a.json")
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    mother = {"resourceType": "Patient", "id": "mother", "gender": "female", "birthDate": "1950-02-03"}
    doc["entry"] = [e for e in doc["entry"] if e["resource"]["resourceType"] != "Patient"]
    (source / "family.json").write_text(json.dumps({**doc, "entry": [
        *doc["entry"], {"resource": mother}, {"resource": {"resourceType": "Patient", "id": "daughter"}}]}))
    (source / "mother.json").write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                                    "entry": [{"resource": mother}]}))
    out = tmp_path / "out"
    code = cli_main(["cohort", str(source), "--out", str(out), "--chunk-size", "2", "--as-of", "2026-01-15",
                     "--no-progress"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (summary["patients_found"], summary["patients"], summary["patients_set_aside"]) == (4, 2, 2)
    assert summary["patients_unaccounted"] == 0
    family = str((source / "family.json").resolve())
    why = ("holds 2 Patients (Patient/mother, Patient/daughter); a bundle of a cohort is one patient's record: "
           "split it into one bundle per patient")
    assert bad_records(out) == [(family, None, f"Patient/mother not evaluated: family.json {why}"),
                                (family, None, f"Patient/daughter not evaluated: family.json {why}")]
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["patient"] for line in lines) == [
        "urn:guidelinekg:Patient/example-1", "urn:guidelinekg:Patient/mother"]


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


# --- a bad record never stops a run; no patient is dropped without an error -------------------------------


def _one_line(err: str) -> str:
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def _append(source: Path, name: str, resource: dict) -> int:
    """Append a record to an NDJSON file of the export; its line number."""
    path = source / name
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(resource) + "\n")
    return path.read_text(encoding="utf-8").count("\n")


def _observation(pid: str, oid: str, **fields) -> dict:
    return {"resourceType": "Observation", "id": oid, "status": "final", "subject": {"reference": f"Patient/{pid}"},
            "effectiveDateTime": "2025-12-20T09:00:00Z",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2276-4"}]},
            "valueQuantity": {"value": 40, "unit": "ng/mL", "system": "http://unitsofmeasure.org", "code": "ng/mL"},
            **fields}


def _results(out: Path) -> dict[str, dict]:
    """Each patient's report, its provenance aside (the run IRI names the chunk's input, not the patient)."""
    reports = map(json.loads, (out / "results.jsonl").read_text(encoding="utf-8").splitlines())
    return {r["patient"]: {k: v for k, v in r.items() if k != "provenance"} for r in reports}


def test_a_coding_that_is_a_number_sets_aside_its_patient_only(clean, tmp_path, capsys):
    source = copy_export(tmp_path)
    line = _append(source, "Observation.ndjson", _observation("pc", "pc-bad", code={"coding": 5}))
    out = tmp_path / "out"
    args = ["cohort", str(source), "--out", str(out), "--chunk-size", "2", "--as-of", "2026-01-15", "--no-progress"]
    assert cli_main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["patients_found"], summary["patients"], summary["patients_set_aside"]) == (3, 2, 1)
    assert summary["patients_unaccounted"] == 0
    [aside] = [b for b in map(json.loads, (out / "bad-records.jsonl").read_text(encoding="utf-8").splitlines())
               if "patient" in b]
    assert (aside["file"], aside["line"], aside["patient"]) == ("Observation.ndjson", line, "Patient/pc")
    assert aside["reason"].startswith("Patient/pc not evaluated")
    others = _results(clean)
    del others["urn:guidelinekg:Patient/pc"]
    assert _results(out) == others  # pa shared pc's chunk: its report is the same


def test_a_200000_character_unit_does_not_stop_the_run(tmp_path, capsys):
    source = copy_export(tmp_path)
    _append(source, "Observation.ndjson", _observation(
        "pb", "pb-long", valueQuantity={"value": 40, "unit": "x" * 200_000}))
    out = tmp_path / "out"
    assert cli_main(["cohort", str(source), "--out", str(out), "--as-of", "2026-01-15", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["patients"] + summary["patients_set_aside"] == summary["patients_found"] == 3


MARK = "injected-marker-unit"


def _marked(patient) -> bool:
    return any(MARK in line for line in patient.ntriples)


@pytest.mark.parametrize("stage", ["mapping", "evaluation"])
def test_any_error_of_one_patient_becomes_its_bad_record_with_file_and_line(clean, tmp_path, monkeypatch, stage):
    """Whatever a patient's records make the code raise (a TypeError while mapping, the csv module's
    "field larger than field limit" while reading the results back), that patient is set aside with the
    record at fault, found by trying its records one by one; the chunk and the run go on."""
    import csv

    from guidelinekg.cohort import chunk
    from guidelinekg.patients import units

    source = copy_export(tmp_path)
    line = _append(source, "Observation.ndjson", _observation(
        "pa", "pa-marked", valueQuantity={"value": 40, "unit": MARK}))
    if stage == "mapping":
        original = units.normalise

        def normalise(patient, measures):
            if _marked(patient):
                raise TypeError("'decimal.Decimal' object is not iterable")
            return original(patient, measures)

        monkeypatch.setattr(units, "normalise", normalise)
    else:
        evaluate_group = chunk._evaluate_group

        def failing(group, *args):
            if any(_marked(p) for p in group):
                raise csv.Error("field larger than field limit (131072)")
            return evaluate_group(group, *args)

        monkeypatch.setattr(chunk, "_evaluate_group", failing)
    summary = run(source, tmp_path / "out")
    assert (summary["patients"], summary["patients_set_aside"], summary["patients_unaccounted"]) == (2, 1, 0)
    [aside] = [b for b in map(json.loads, (tmp_path / "out" / "bad-records.jsonl").read_text().splitlines())
               if "patient" in b]
    assert (aside["file"], aside["line"], aside["patient"]) == ("Observation.ndjson", line, "Patient/pa")
    assert ("TypeError" if stage == "mapping" else "Error: field larger") in aside["reason"]
    others = _results(clean)
    del others["urn:guidelinekg:Patient/pa"]
    assert _results(tmp_path / "out") == others


def test_resume_after_a_bad_record_finishes_the_run(clean, tmp_path, capsys, monkeypatch):
    """A run interrupted after its first chunk, resumed: the bad record is set aside, as in one go."""
    from guidelinekg.cohort import run as run_module

    source = copy_export(tmp_path)
    _append(source, "Observation.ndjson", _observation("pb", "pb-bad", code={"coding": 5}))
    out = tmp_path / "out"
    args = ["cohort", str(source), "--out", str(out), "--chunk-size", "2", "--as-of", "2026-01-15", "--no-progress"]
    evaluate_chunk = run_module.evaluate_chunk

    def interrupted(name, *rest):
        if name.endswith("2.ndjson"):
            raise KeyboardInterrupt
        return evaluate_chunk(name, *rest)

    monkeypatch.setattr(run_module, "evaluate_chunk", interrupted)
    assert cli_main(args) == 130
    monkeypatch.undo()
    assert cli_main([*args, "--resume"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["chunks_run_now"], summary["patients"], summary["patients_set_aside"]) == (1, 2, 1)
    assert any(b[0] == "Observation.ndjson" and "Patient/pb not evaluated" in b[2] for b in bad_records(out))


def test_a_bug_failing_every_patient_stops_the_run_loudly(tmp_path, capsys, monkeypatch):
    from guidelinekg.cohort import chunk

    def broken(group, *args):
        raise TypeError("unsupported operand type(s) for +: 'NoneType' and 'int'")

    monkeypatch.setattr(chunk, "_evaluate_group", broken)
    source = tmp_path / "export"
    gen_cohort.generate(source, 6, 3, bad_rate=0)
    assert cli_main(["cohort", str(source), "--out", str(tmp_path / "out"), "--as-of", "2026-01-15",
                     "--no-progress"]) == 2
    assert "all 6 patients failed the same way (TypeError: unsupported operand" in _one_line(capsys.readouterr().err)


def test_a_patient_evaluated_without_a_report_is_exit_1(tmp_path, capsys, monkeypatch):
    """A patient found in the input that is neither in results.jsonl nor set aside is never silent."""
    from guidelinekg.cohort import chunk

    evaluate_group = chunk._evaluate_group

    def dropping(group, *args):
        lines, reports, trig = evaluate_group(group, *args)
        return [x for x in lines if not x[0].endswith("/pb")], reports, trig

    monkeypatch.setattr(chunk, "_evaluate_group", dropping)
    assert cli_main(["cohort", str(BULK), "--out", str(tmp_path / "out"), "--as-of", "2026-01-15",
                     "--no-progress"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["patients_unaccounted"] == 1
    assert "3 patient(s) found in the input, 2 evaluated, 0 set aside" in _one_line(err)
    assert "urn:guidelinekg:Patient/pb" in err


def test_records_that_break_line_splitting_or_nesting_are_bad_records(tmp_path, capsys):
    source = copy_export(tmp_path)
    _append(source, "Observation.ndjson", _observation("pa", "pa-note", note=[{"text": "before\u2028after\x85"}]))
    with (source / "Observation.ndjson").open("a", encoding="utf-8") as handle:
        handle.write("[" * 100_000 + "\n")
    assert cli_main(["cohort", str(source), "--out", str(tmp_path / "out"), "--as-of", "2026-01-15",
                     "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["patients"] == 3 and summary["patients_unaccounted"] == 0
    assert any("recursion" in reason for _, _, reason in bad_records(tmp_path / "out"))


def test_rdf_blank_node_patients_and_unparsable_files_are_bad_records(tmp_path, capsys):
    source = tmp_path / "rdf"
    source.mkdir()
    (case,) = (ROOT / "tests" / "cases").glob("020-*/patient.ttl")
    shutil.copy(case, source / "good.ttl")
    (source / "blank.ttl").write_text(
        "@prefix gkg: <https://w3id.org/guidelinekg/ontology#> .\n[] a gkg:Patient .\n", encoding="utf-8")
    (source / "broken.ttl").write_text(
        "@prefix gkg: <https://w3id.org/guidelinekg/ontology#> .\n<urn:p> a gkg:Patient ;\n", encoding="utf-8")
    assert cli_main(["cohort", str(source), "--out", str(tmp_path / "out"), "--as-of", "2026-01-15",
                     "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["patients"] == summary["patients_found"] == 1
    found = {(f, n) for f, n, _ in bad_records(tmp_path / "out")}
    assert ("blank.ttl", None) in found and ("broken.ttl", 3) in found


def test_rdf_file_of_several_patients_splits_them_with_their_blank_nodes(tmp_path, capsys):
    """Two patients in one Turtle file, each with blank-node observations: each gets its own, nested nodes
    included; the same patient in a later file is a bad record, not merged; JSON-LD is read by content."""
    (case,) = (ROOT / "tests" / "cases").glob("061-*/patient.ttl")
    one = case.read_text(encoding="utf-8")
    other = one.split("ex:p061 a", 1)[1].replace("p061", "p062").replace("gkg:value 50", "gkg:value 500")
    source = tmp_path / "rdf"
    source.mkdir()
    (source / "a-two.ttl").write_text(one + "ex:p062 a" + other, encoding="utf-8")
    (source / "b-again.ttl").write_text(one, encoding="utf-8")
    (source / "c.jsonld").write_text(json.dumps({"@id": "urn:ex:p063", "@type": [
        "https://w3id.org/guidelinekg/ontology#Patient"]}), encoding="utf-8")
    assert cli_main(["cohort", str(source), "--out", str(tmp_path / "out"), "--as-of", "2026-02-01",
                     "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["patients"] == 3 and summary["patients_unaccounted"] == 0
    reports = {r["patient"]: r for r in map(json.loads, (tmp_path / "out" / "results.jsonl").read_text(
        encoding="utf-8").splitlines())}
    made = {p: sorted(x["iri"].rsplit("/", 1)[1] for x in r["recommendations"]) for p, r in reports.items()}
    # ferritin 50 (< 100 with TSAT 15) indicates IV iron sucrose in ESRD; ferritin 500 does not
    assert made["https://example.org/vignettes/p061"] == ["rec-esrd-iron-sucrose"]
    assert made["https://example.org/vignettes/p062"] == []
    assert reports["https://example.org/vignettes/p061"]["orders"] == []  # both blank-node results were used
    assert reports["urn:ex:p063"]["applicable"] is False
    assert [(f, r.split(";")[0]) for f, _, r in bad_records(tmp_path / "out")] == [
        ("b-again.ttl", "duplicate <https://example.org/vignettes/p061> (also in a-two.ttl)")]


# --- --out that cannot be written, a corrupt manifest: one line, exit 2 ------------------------------------


def test_out_under_a_file_or_unwritable_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    afile = tmp_path / "afile"
    afile.write_text("", encoding="utf-8")
    base = ["cohort", str(BULK), "--as-of", "2026-01-15", "--no-progress"]
    assert cli_main([*base, "--out", str(afile / "run")]) == 2
    assert "cannot write" in _one_line(capsys.readouterr().err)
    import errno

    def refused(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refused)  # a read-only parent (root may write anywhere)
    assert cli_main([*base, "--out", str(tmp_path / "ro" / "run")]) == 2
    assert "Permission denied" in _one_line(capsys.readouterr().err)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_out_in_a_read_only_directory_is_one_line_exit_2(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert cli_main(["cohort", str(BULK), "--out", str(ro / "run"), "--as-of", "2026-01-15",
                         "--no-progress"]) == 2
        assert "Permission denied" in _one_line(capsys.readouterr().err)
    finally:
        ro.chmod(0o755)


def test_a_full_disk_is_one_line_exit_2_and_resume_finishes(clean, tmp_path, capsys, monkeypatch):
    import errno

    fsync = os.fsync
    calls = []

    def filling(fd):
        calls.append(fd)
        if len(calls) > 6:  # the preparation's files and the first chunk's get written
            raise OSError(errno.ENOSPC, "No space left on device")
        return fsync(fd)

    monkeypatch.setattr(os, "fsync", filling)
    out = tmp_path / "out"
    args = ["cohort", str(BULK), "--out", str(out), "--chunk-size", "2", "--as-of", "2026-01-15", "--no-progress"]
    assert cli_main(args) == 2
    assert "No space left on device" in _one_line(capsys.readouterr().err)
    assert not [p for p in out.rglob("*.tmp")]  # no partial file left behind
    monkeypatch.undo()
    assert cli_main([*args, "--resume"]) == 0
    assert (out / "results.jsonl").read_bytes() == (clean / "results.jsonl").read_bytes()


@pytest.mark.parametrize("manifest", [
    '{"key": ', "[]", ('{"key": {}, "partition": {"kind": "ndjson", "chunks": ["../../etc/passwd"], "patients": 1}}'),
    "\udcff"])
def test_a_corrupt_manifest_with_resume_is_one_line_exit_2(tmp_path, capsys, manifest):
    out = tmp_path / "out"
    args = ["cohort", str(BULK), "--out", str(out), "--as-of", "2026-01-15", "--no-progress"]
    assert cli_main(args) == 0
    (out / "manifest.json").write_bytes(manifest.encode("utf-8", "surrogateescape"))
    capsys.readouterr()
    assert cli_main([*args, "--resume"]) == 2
    assert "manifest.json is corrupt" in _one_line(capsys.readouterr().err)


def test_a_corrupt_chunk_file_with_resume_is_evaluated_again(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["cohort", str(BULK), "--out", str(out), "--chunk-size", "2", "--as-of", "2026-01-15", "--no-progress"]
    assert cli_main(args) == 0
    results = (out / "results.jsonl").read_bytes()
    (out / "chunks" / "chunk-000001.counts.json").write_text("[[", encoding="utf-8")
    capsys.readouterr()
    assert cli_main([*args, "--resume"]) == 0  # the damaged chunk is evaluated again, with a warning
    assert "chunk chunk-000001 is evaluated again" in capsys.readouterr().err
    assert (out / "results.jsonl").read_bytes() == results


def test_a_duplicate_json_key_in_a_record_is_a_bad_record_not_the_last_value(tmp_path, capsys):
    """``"value": 45, "value": 450`` read as 450 flipped a recommendation; in a cohort the record is set
    aside with its file and line, as recommend refuses the file."""
    source = copy_export(tmp_path)
    record = json.dumps(_observation("pa", "pa-dup")).replace('"value": 40', '"value": 45, "value": 450')
    with (source / "Observation.ndjson").open("a", encoding="utf-8") as handle:
        handle.write(record + "\n")
    line = (source / "Observation.ndjson").read_text(encoding="utf-8").count("\n")
    assert cli_main(["cohort", str(source), "--out", str(tmp_path / "out"), "--as-of", "2026-01-15",
                     "--no-progress"]) == 0
    capsys.readouterr()
    records = bad_records(tmp_path / "out")
    assert ("Observation.ndjson", line, "malformed record: ValueError: duplicate key 'value' in one JSON object") \
        in records
    # Its patient is set aside too: evaluated without the record, it would rest on older data, silently.
    assert any(f == "Observation.ndjson" and n == line and "Patient/pa not evaluated" in reason
               for f, n, reason in records)
    results = (tmp_path / "out" / "results.jsonl").read_text(encoding="utf-8")
    # (the value in words: a bare "450" may occur in a hash of the results)
    assert "measured 450" not in results and "Patient/pa" not in results


def test_a_json_error_reads_as_one_sentence():
    from guidelinekg.cohort.records import reason as _reason

    with pytest.raises(json.JSONDecodeError) as err:
        json.loads('{"resourceType": "Patient", "id": "a\tb"}')
    assert _reason(err.value) == "Invalid control character at column 37"


def test_out_that_holds_other_files_or_is_the_input_is_refused_untouched(tmp_path, capsys):
    """A user's folder is never written to or cleared; nor is the input (its next run would read the outputs)."""
    mine = tmp_path / "mine"
    (mine / "work").mkdir(parents=True)
    (mine / "work" / "thesis.tex").write_text("precious", encoding="utf-8")
    (mine / "summary.csv").write_text("MINE", encoding="utf-8")
    source = tmp_path / "export"
    shutil.copytree(BULK, source)
    before = sorted(p.name for p in source.iterdir())
    base = ["cohort", str(source), "--as-of", "2026-01-15", "--no-progress"]
    for out, said in ((mine, "holds no cohort run"), (source, "the input or inside it"),
                      (source / "run", "the input or inside it")):
        assert cli_main([*base, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert said in err.splitlines()[0] and "Traceback" not in err
    assert (mine / "work" / "thesis.tex").read_text(encoding="utf-8") == "precious"
    assert (mine / "summary.csv").read_text(encoding="utf-8") == "MINE"
    assert sorted(p.name for p in source.iterdir()) == before
    # an empty folder is fine, and the run is then the tool's own: resumable, refused without --resume
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli_main([*base, "--out", str(empty)]) == 0
    assert cli_main([*base, "--out", str(empty), "--resume"]) == 0
    capsys.readouterr()
    assert cli_main([*base, "--out", str(empty)]) == 2
    assert "already holds a run" in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize("kind", ["dangling-link", "fifo", "directory"])
def test_an_input_entry_that_is_no_readable_file_is_refused_not_skipped(tmp_path, capsys, kind):
    """An Observation.ndjson that is a dangling link, a FIFO or a directory was skipped in silence: every
    patient was evaluated without results. The run is refused, naming it."""
    source = tmp_path / "export"
    shutil.copytree(BULK, source)
    target = source / "Observation.ndjson"
    target.unlink()
    if kind == "dangling-link":
        target.symlink_to(tmp_path / "unmounted" / "Observation.ndjson")
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
    assert cli_main(["cohort", str(source), "--out", str(tmp_path / "out"), "--as-of", "2026-01-15",
                     "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Observation.ndjson is" in err.splitlines()[0] and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_an_over_long_line_is_a_bad_record_read_in_bounded_memory(tmp_path, capsys, monkeypatch):
    """A gzip bomb of one huge line was read whole (4 GB for a 1 GiB line) and copied into the work folder.
    A line over the limit is skipped as it is read, a bad record; the lines around it are read."""
    import gzip as gz

    from guidelinekg.content import rdffiles

    original = rdffiles.record_lines
    monkeypatch.setattr("guidelinekg.cohort.partition.record_lines", lambda handle: original(handle, 4096))
    monkeypatch.setattr("guidelinekg.cohort.run.shutil.rmtree", lambda *a, **k: None)  # keep work/ to look at
    source = tmp_path / "export"
    shutil.copytree(BULK, source)
    text = (source / "Observation.ndjson").read_text(encoding="utf-8").splitlines()
    huge = '{"resourceType": "Observation", "note": "' + "x" * 100_000 + '"}'
    with gz.open(source / "Observation.ndjson.gz", "wt", encoding="utf-8") as out:
        out.write("\n".join([text[0], huge, *text[1:]]) + "\n")
    (source / "Observation.ndjson").unlink()
    assert cli_main(["cohort", str(source), "--out", str(tmp_path / "out"), "--as-of", "2026-01-15",
                     "--no-progress"]) == 0
    found = [(f, n, r) for f, n, r in bad_records(tmp_path / "out") if "more than" in r]
    assert [(f, n) for f, n, _ in found] == [("Observation.ndjson.gz", 2)]
    assert not any(len(p.read_bytes()) > 50_000 for p in (tmp_path / "out" / "work").iterdir())
    capsys.readouterr()


def test_bounded_lines_gives_each_line_and_none_for_one_too_long():
    import io

    from guidelinekg.content.rdffiles import bounded_lines

    data = b"short\n" + b"y" * 25 + b"\nexactly10\n" + b"z" * 11 + b"\nend"
    assert list(bounded_lines(io.BytesIO(data), 10)) == [b"short\n", None, b"exactly10\n", None, b"end"]
