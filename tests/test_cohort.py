"""`guidelinekg cohort`: the same answers as `recommend`, on one process, local workers and Dask; never losing
work; bad records set aside; a quiet CLI when not on a terminal.

(a) Every non-error vignette runs as a cohort (one per as-of date; FHIR/JSON-LD files as a bundles directory,
    Turtle as an RDF directory; 3 patients per chunk, so several share a store), and each patient's line must
    equal `recommend`'s object for that file, `provenance` aside. The same for a sample of a generated Bulk
    NDJSON cohort, each patient rebuilt into a Bundle of its own lines.
(b) A Dask LocalCluster (2 worker processes) and `--workers 2` write the same results.jsonl, byte for byte.
(c) A run killed with SIGKILL mid-way and resumed equals an uninterrupted run; a rerun without --resume and a
    resume with another --as-of are refused (exit 2).
(d) tests/fixtures/cohort/bulk/ (see its README): each bad record listed with file and line and counted, the
    other patients' reports intact, notes kept with their own patient.
(e) Not on a terminal: stdout is only the JSON summary, stderr is empty.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.cli import main as cli_main
from guidelinekg.cohort.run import CohortOptions, run_cohort
from guidelinekg.cohort.chunk import shapes_for
from guidelinekg.engine.patientcheck import INVALID, validate_patients
from guidelinekg.commands.recommend import evaluate_file
from guidelinekg.patients.loader import load_patient_input
from vignettes import load_vignettes

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import gen_cohort  # noqa: E402

BULK = Path(__file__).parent / "fixtures" / "cohort" / "bulk"
EXE = str(Path(sys.executable).with_name("guidelinekg"))
GEN_AS_OF = gen_cohort.AS_OF
VIGNETTES = [v for v in load_vignettes() if not v.expected["expect"].get("error")]


def comparable(report: dict) -> dict:
    """A report without its provenance (run IRI and input hash name the chunk, not the patient)."""
    return {k: v for k, v in report.items() if k != "provenance"}


def split_shape_warnings(report: dict) -> tuple[dict, list[dict]]:
    """The report without `patient-data-invalid` warnings (recommend does not check shapes), and those."""
    rest = dict(report, warnings=[w for w in report["warnings"] if w["code"] != INVALID])
    return rest, [w for w in report["warnings"] if w["code"] == INVALID]


def read_results(out: Path) -> dict[str, dict]:
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    reports = [json.loads(line) for line in lines]
    by_patient = {r["patient"]: r for r in reports}
    assert len(by_patient) == len(reports), "a patient appears twice in results.jsonl"
    return by_patient


def run(source: Path, out: Path, as_of: date, **options) -> dict:
    return run_cohort(CohortOptions(source=source, out=out, as_of=as_of, progress=False, **options))


def assert_same_as_recommend(kb, cohort_report: dict, path: Path, as_of: date) -> None:
    _, expected = evaluate_file(path, as_of=as_of)
    got, shape_warnings = split_shape_warnings(comparable(cohort_report))
    wanted, recommend_shape_warnings = split_shape_warnings(comparable(expected))
    assert got == wanted
    assert not recommend_shape_warnings or recommend_shape_warnings == shape_warnings
    patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    [checked] = validate_patients([patient], kb, shapes_for({}))
    assert shape_warnings == sorted(({"code": n.code, "message": n.message} for n in checked.notes
                                     if n.code == INVALID), key=lambda w: w["message"])


# --- (a) vignettes: the same answers as recommend ---------------------------------------------------------


@pytest.fixture(scope="module")
def vignette_cohorts(tmp_path_factory) -> dict[str, dict[str, dict]]:
    """One cohort per as-of date and input kind; patient IRI -> report, by vignette name."""
    root = tmp_path_factory.mktemp("vignette-cohorts")
    by_name: dict[str, dict] = {}
    groups: dict[tuple[str, str], list] = defaultdict(list)
    for v in VIGNETTES:
        kind = "rdf" if v.patient.suffix == ".ttl" else "bundles"
        groups[(v.as_of, kind)].append(v)
    for (as_of, kind), members in sorted(groups.items()):
        source = root / f"{as_of}-{kind}"
        source.mkdir()
        for v in members:
            shutil.copy(v.patient, source / f"{v.name}{v.patient.suffix}")
        out = root / f"out-{as_of}-{kind}"
        summary = run(source, out, date.fromisoformat(as_of), chunk_size=3)
        assert summary["patients"] == len(members) and summary["bad_records"] == 0
        results = read_results(out)
        for v in members:
            by_name[v.name] = results[load_patient_input(v.patient).patient_iri]
    return by_name


def test_vignettes_share_record_ids_so_chunks_must_not_mix_them():
    """Why the cohort splits a chunk into groups: bundles from different sources reuse resource ids."""
    owners = defaultdict(set)
    for v in VIGNETTES:
        if v.patient.suffix == ".json":
            for entry in json.loads(v.patient.read_text(encoding="utf-8"))["entry"]:
                r = entry["resource"]
                owners[(r["resourceType"], r.get("id"))].add(v.name)
    assert len(owners[("Observation", "ferritin-1")]) > 10


@pytest.mark.parametrize("vignette", VIGNETTES, ids=lambda v: v.name)
def test_vignette_cohort_gives_the_recommend_report(kb, vignette_cohorts, vignette):
    assert_same_as_recommend(kb, vignette_cohorts[vignette.name], vignette.patient,
                             date.fromisoformat(vignette.as_of))


# --- (a) a generated Bulk NDJSON cohort ------------------------------------------------------------------


@pytest.fixture(scope="module")
def ndjson_cohort(tmp_path_factory) -> tuple[Path, Path]:
    """200 generated patients (with bad lines) and their single-process run (50 per chunk)."""
    root = tmp_path_factory.mktemp("ndjson-cohort")
    source = root / "export"
    mix = gen_cohort.Mix(oral_iron=0.2, iv_iron_recent=0.15)
    gen_cohort.generate(source, 200, 20260115, bad_rate=0.02, mix=mix)
    out = root / "out-1"
    summary = run(source, out, GEN_AS_OF, chunk_size=50)
    assert summary["patients"] == 200 and summary["chunks"] == 4
    return source, out


def patient_bundles(source: Path) -> dict[str, dict]:
    """Patient id -> a Bundle of exactly that patient's NDJSON lines (bad lines left out)."""
    entries: dict[str, list] = defaultdict(list)
    for path in sorted(source.glob("*.ndjson")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                resource = json.loads(line)
            except ValueError:
                continue
            if resource["resourceType"] == "Patient":
                entries[resource["id"]].append(resource)
            elif "subject" in resource:
                entries[resource["subject"]["reference"].removeprefix("Patient/")].append(resource)
    return {pid: {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in rs]}
            for pid, rs in entries.items() if any(r["resourceType"] == "Patient" for r in rs)}


def test_ndjson_cohort_gives_the_recommend_report_for_each_patient(kb, ndjson_cohort, tmp_path):
    source, out = ndjson_cohort
    results = read_results(out)
    bundles = patient_bundles(source)
    assert len(results) == len(bundles) == 200
    for pid in random.Random(7).sample(sorted(bundles), 20):
        path = tmp_path / f"{pid}.json"
        path.write_text(json.dumps(bundles[pid]), encoding="utf-8")
        assert_same_as_recommend(kb, results[f"urn:guidelinekg:Patient/{pid}"], path, GEN_AS_OF)


# --- (b) Dask and local worker processes ------------------------------------------------------------------


def gunzip(path: Path) -> str:
    return gzip.decompress(path.read_bytes()).decode("utf-8")


def without_timing(nquads: str) -> list[str]:
    """The lines in their order (the same input gives the same bytes: Oxigraph's dump order, once written
    as is, differed from one process to the next), but for the two timing lines of each run."""
    timing = ("startedAtTime", "endedAtTime")
    return [line for line in nquads.splitlines() if not any(t in line for t in timing)]


@pytest.mark.slow
def test_dask_cluster_writes_the_same_results(ndjson_cohort, tmp_path):
    from distributed import LocalCluster

    source, single = ndjson_cohort
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        summary = run(source, tmp_path / "dask", GEN_AS_OF, chunk_size=50,
                      scheduler=cluster.scheduler_address)
    assert summary["patients"] == 200
    assert (tmp_path / "dask" / "results.jsonl").read_bytes() == (single / "results.jsonl").read_bytes()
    for name in ("summary.csv", "bad-records.jsonl"):
        assert (tmp_path / "dask" / name).read_bytes() == (single / name).read_bytes(), name
    assert without_timing(gunzip(tmp_path / "dask" / "provenance.trig.gz")) == \
        without_timing(gunzip(single / "provenance.trig.gz"))


@pytest.mark.slow
def test_local_worker_processes_write_the_same_results(ndjson_cohort, tmp_path):
    source, single = ndjson_cohort
    proc = subprocess.run([EXE, "cohort", str(source), "--out", str(tmp_path / "w2"), "--as-of",
                           str(GEN_AS_OF), "--chunk-size", "50", "--workers", "2"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "w2" / "results.jsonl").read_bytes() == (single / "results.jsonl").read_bytes()
    assert (tmp_path / "w2" / "summary.csv").read_bytes() == (single / "summary.csv").read_bytes()
    assert without_timing(gunzip(tmp_path / "w2" / "provenance.trig.gz")) == \
        without_timing(gunzip(single / "provenance.trig.gz"))


# --- (c) never lose work -----------------------------------------------------------------------------------


def chunks_done(out: Path) -> list[Path]:
    """The chunks whose reports are written (``NAME.jsonl``, written last; not ``NAME.bad.jsonl``)."""
    found = (out / "chunks").glob("*.jsonl") if (out / "chunks").is_dir() else []
    return sorted(p for p in found if not p.name.endswith(".bad.jsonl"))


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    # 30 chunks of 10 patients: as many chunks as the kill and the resume need (cutting in at the first
    # chunk leaves most to do), with a fifth of the patients, whose evaluation was most of the test's time
    source = tmp_path / "export"
    gen_cohort.generate(source, 300, 99)
    args = [str(source), "--as-of", str(GEN_AS_OF), "--chunk-size", "10"]
    whole = subprocess.run([EXE, "cohort", *args, "--out", str(tmp_path / "whole"), "--workers", "2"],
                           capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr

    out = tmp_path / "killed"
    proc = subprocess.Popen([EXE, "cohort", *args, "--out", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not chunks_done(out):
        assert proc.poll() is None, "the run ended before any chunk was written"
        assert time.monotonic() < deadline, "no chunk written in 120 s"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    done = len(chunks_done(out))
    assert 1 <= done < 30 and not (out / "results.jsonl").exists()

    resumed = subprocess.run([EXE, "cohort", *args, "--out", str(out), "--resume", "--workers", "2"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["chunks"] == 30 and summary["chunks_run_now"] == 30 - done
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    patients = [json.loads(line)["patient"] for line in lines]
    assert len(patients) == len(set(patients)) == 300
    assert set(lines) == set((tmp_path / "whole" / "results.jsonl").read_text(encoding="utf-8").splitlines())


def test_a_finished_run_is_not_overwritten_and_resume_checks_the_as_of_date(tmp_path, capsys):
    out = tmp_path / "out"
    base = ["cohort", str(BULK), "--out", str(out), "--chunk-size", "2", "--no-progress"]
    assert cli_main([*base, "--as-of", "2026-01-15"]) == 0
    first = (out / "results.jsonl").read_bytes()
    capsys.readouterr()

    assert cli_main([*base, "--as-of", "2026-01-15"]) == 2
    err = capsys.readouterr().err
    assert f"{out} already holds a run; use --resume to finish it or choose a new --out" in err

    assert cli_main([*base, "--as-of", "2026-02-01", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and "differs in as_of" in err and "Traceback" not in err
    assert (out / "results.jsonl").read_bytes() == first

    assert cli_main([*base, "--as-of", "2026-01-15", "--resume"]) == 0  # nothing left to do: same files
    assert json.loads(capsys.readouterr().out)["chunks_run_now"] == 0
    assert (out / "results.jsonl").read_bytes() == first


# --- (d) bad records ---------------------------------------------------------------------------------------


def test_bad_records_are_listed_counted_and_leave_other_patients_intact(kb, tmp_path):
    out = tmp_path / "out"
    summary = run(BULK, out, GEN_AS_OF, chunk_size=2)
    assert summary["patients"] == 3 and summary["bad_records"] == 3
    assert summary["skipped_types"] == {"Medication": 1}

    bad = [json.loads(line) for line in (out / "bad-records.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(b["file"], b["line"]) for b in bad] == [
        ("Condition.ndjson", 2), ("MedicationStatement.ndjson", 2), ("Observation.ndjson", 3)]
    assert bad[0]["reason"] == "Condition without a subject"
    assert bad[1]["reason"] == "MedicationStatement refers to an unknown patient 'Patient/nobody'"
    assert bad[2]["reason"].startswith("malformed JSON line: Expecting value at column ")
    summary_rows = (out / "summary.csv").read_text(encoding="utf-8").splitlines()
    assert "bad_records,all,3" in summary_rows
    assert f"warning,{INVALID},1" in summary_rows

    results = read_results(out)
    bundles = patient_bundles(BULK)
    for pid in ("pa", "pb"):  # pa shares its chunk with pc, whose records raise notes
        path = tmp_path / f"{pid}.json"
        path.write_text(json.dumps(bundles[pid]), encoding="utf-8")
        assert_same_as_recommend(kb, results[f"urn:guidelinekg:Patient/{pid}"], path, GEN_AS_OF)
    assert results["urn:guidelinekg:Patient/pa"]["warnings"] == []
    pc = {w["code"]: w["message"] for w in results["urn:guidelinekg:Patient/pc"]["warnings"]}
    # pc-f2 has a value and no time: it may be newer than pc's dated results (undated-result, rule 16)
    assert set(pc) == {"ignored-resource", "missing-time", "skipped-status", INVALID, "undated-result"}
    assert pc[INVALID].startswith("Observation needs exactly one gkg:effectiveTime")
    assert pc[INVALID].endswith("(focus urn:guidelinekg:Observation/pc-f2, path gkg:effectiveTime)")


# --- (e) a quiet, machine-readable CLI --------------------------------------------------------------------


@pytest.mark.slow
def test_not_on_a_terminal_only_the_json_summary_is_printed(tmp_path):
    proc = subprocess.run([EXE, "cohort", str(BULK), "--out", str(tmp_path / "out"), "--as-of", "2026-01-15"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    assert proc.stderr == ""
    [line] = proc.stdout.splitlines()
    summary = json.loads(line)
    assert summary["patients"] == 3 and summary["out"] == str(tmp_path / "out")


def test_doctests_of_the_cohort_modules():
    import doctest

    from guidelinekg.cohort import chunk as cohort_eval
    from guidelinekg.content import rdffiles

    for module in (cohort_eval, rdffiles):
        assert doctest.testmod(module).failed == 0, module.__name__


def test_summary_counts_count_patients_not_items():
    """A warning code given twice to one patient counts once; each list counts under its own kind."""
    from guidelinekg.cohort.chunk import summary_counts

    base = {"recommendations": [], "not_recommended": [], "undetermined": [], "orders": [], "warnings": [],
            "applicable": True}
    reports = [
        {**base, "recommendations": [{"iri": "r1"}], "warnings": [{"code": "w"}, {"code": "w"}],
         "not_indicated": [{"iri": "n1"}], "monitoring": [{"iri": "m1", "action": "m1"}]},
        {**base, "not_recommended": [{"iri": "r1"}], "orders": [{"loinc": "2276-4"}], "applicable": False,
         "applicability": "false"},
        {**base, "recommendations": [{"iri": "r1"}], "undetermined": [{"iri": "r2"}],
         "population_not_met": [{"iri": "r3"}], "monitoring": [{"iri": "m1", "action": "m1"}]},
        {**base, "applicable": False, "applicability": "unknown"},
        {**base, "applicability": "true", "no_statement_applies": True},  # covered, in a gap between thresholds
        # made without the dose it has (a dosing criterion undecided), and made with no dose in the content
        {**base, "recommendations": [{"iri": "r4", "dose": None, "because": ["dose: not stated yet: whether ..."]},
                                     {"iri": "r5", "dose": None, "because": ["x: true"]}]},
    ]
    assert summary_counts(reports) == [
        ("applicability_unknown", "guideline", 1), ("monitoring", "m1", 2), ("no_statement_applies", "guideline", 1),
        ("not_applicable", "guideline", 1),
        ("not_indicated", "n1", 1), ("not_recommended", "r1", 1), ("order", "2276-4", 1),
        ("population_not_met", "r3", 1), ("recommendation", "r1", 2), ("recommendation", "r4", 1),
        ("recommendation", "r5", 1), ("recommendation_dose_not_stated", "r4", 1), ("undetermined", "r2", 1),
        ("warning", "w", 1),
    ]


def test_gzip_members_written_apart_concatenate_into_one_file():
    from guidelinekg.content.rdffiles import write_gzip

    parts = [b"<urn:g1> {\n<urn:a> <urn:b> <urn:c> .\n}\n", b"<urn:g2> {\n<urn:a> <urn:b> <urn:d> .\n}\n"]
    assert write_gzip(parts[0]) == write_gzip(parts[0])  # no timestamp: same bytes
    assert gzip.decompress(b"".join(write_gzip(p) for p in parts)) == b"".join(parts)
