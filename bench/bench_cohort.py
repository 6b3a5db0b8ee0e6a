"""Cohort benchmark (not a test): the real engine against the plain-Python reference, same run.

For each size (default 1k and 10k; add 100000 or 1000000 with --sizes): generates a seeded synthetic
FHIR Bulk NDJSON cohort (bench/gen_cohort.py), runs the hand-written reference evaluator
(bench/reference.py: the speed-of-light baseline, evaluation timed apart from parsing), then runs
`guidelinekg cohort` end to end (NDJSON in, validated, results and provenance out) with 1 worker,
2 workers and a Dask LocalCluster (2 worker processes). It checks that the engine agrees with the
reference on every patient, and prints wall time, patients/s, peak memory and the ratio to the
reference. Results go to bench/out/cohort-results.md as a Markdown table.

Usage: python bench/bench_cohort.py [--sizes 1000,10000] [--chunk-size 250] [--skip-dask] [--runs 1,2,dask]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
AS_OF = "2026-01-15"
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import reference  # noqa: E402
from vignettes import outcome_of  # noqa: E402

DASK_SCRIPT = """
import json, sys, time
from datetime import date
from pathlib import Path
from distributed import LocalCluster
from guidelinekg.cohort.run import CohortOptions, run_cohort
with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                  dashboard_address=None) as cluster:
    t = time.perf_counter()
    summary = run_cohort(CohortOptions(source=Path(sys.argv[1]), out=Path(sys.argv[2]), as_of=date.fromisoformat(sys.argv[3]),
                                       chunk_size=int(sys.argv[4]), scheduler=cluster.scheduler_address, progress=False))
    print(json.dumps(summary))
"""


# Started from this (small) process, the measured command's peak RSS is its own: a child forked from
# the benchmark itself would count the benchmark's memory (the reference cohort) as its high-water mark.
PEAK_WRAPPER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(cmd: list[str]) -> tuple[float, float, str]:
    """Run a command; return wall seconds, peak RSS (MB) of its largest process, and its stdout.

    The peak is wait4()'s on the command alone (its largest resident set, worker processes it waited
    for included), taken by a small wrapper process, not on this benchmark's earlier children.
    """
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, str(peak_file), *cmd], capture_output=True,
                              text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, cmd, proc.stdout, proc.stderr)
        return wall, int(peak_file.read_text()) / 1024, proc.stdout


def compare(out_dir: Path, expected: dict[str, dict]) -> tuple[int, list[str]]:
    mismatches = []
    seen = 0
    with (out_dir / "results.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            report = json.loads(line)
            pid = report["patient"].rsplit("/", 1)[-1]
            seen += 1
            ref = expected.get(pid) or expected.get(f"Patient/{pid}")
            if ref is None or {k: ref[k] for k in ref} != {k: outcome_of(report)[k] for k in ref}:
                mismatches.append(pid)
    return seen, mismatches


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--chunk-size", type=int, default=250)
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--runs", default="1,2,dask", help="which engine runs: 1 worker, 2 workers, dask")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    exe = str(Path(sys.executable).with_name("guidelinekg"))
    rows = ["| patients | run | wall s | patients/s | peak MB | x reference (eval) | x reference (parse+eval) | agree |",
            "|---|---|---|---|---|---|---|---|"]
    for n in [int(s) for s in args.sizes.split(",")]:
        data = OUT / f"cohort-{n}"
        if not (data / "Patient.ndjson").exists():
            subprocess.run([sys.executable, str(ROOT / "bench" / "gen_cohort.py"), str(data), "--patients", str(n),
                            "--seed", "42"], check=True, capture_output=True)
        t0 = time.perf_counter()
        cohort = reference.load_ndjson(data)
        t1 = time.perf_counter()
        expected = reference.evaluate_all(cohort, AS_OF)
        t2 = time.perf_counter()
        ref_eval, ref_total = t2 - t1, t2 - t0
        rows.append(f"| {n} | reference (plain Python) | {ref_total:.2f} | {n / ref_total:,.0f} | - | 1 | 1 | - |")
        configs = [("engine, 1 worker", [exe, "cohort", str(data), "--out", "{out}", "--as-of", AS_OF,
                                          "--chunk-size", str(args.chunk_size), "--workers", "1", "--no-progress"]),
                   ("engine, 2 workers", [exe, "cohort", str(data), "--out", "{out}", "--as-of", AS_OF,
                                           "--chunk-size", str(args.chunk_size), "--workers", "2", "--no-progress"])]
        wanted = set(args.runs.split(","))
        configs = [c for c, key in zip(configs, ("1", "2")) if key in wanted]
        if not args.skip_dask and "dask" in wanted:
            configs.append(("engine, Dask LocalCluster (2 procs)",
                            [sys.executable, "-c", DASK_SCRIPT, str(data), "{out}", AS_OF, str(args.chunk_size)]))
        for label, cmd in configs:
            out = OUT / f"run-{n}-{label.split(',')[1].strip().split()[0]}"
            subprocess.run(["rm", "-rf", str(out)], check=True)
            wall, peak, stdout = run_measured([c.replace("{out}", str(out)) for c in cmd])
            summary = json.loads(stdout.strip().splitlines()[-1])
            evaluate = summary["seconds"]["evaluate"]
            seen, bad = compare(out, expected)
            rows.append(f"| {n} | {label} | {wall:.1f} | {n / wall:,.0f} | {peak:,.0f} | {evaluate / ref_eval:,.0f} "
                        f"| {wall / ref_total:,.0f} | {seen - len(bad)}/{seen} |")
            print(rows[-1], flush=True)
            if bad:
                print(f"  disagreements with the reference: {bad[:10]}", flush=True)
    text = "\n".join(rows) + "\n"
    (OUT / f"cohort-results-{args.sizes.replace(',', '-')}.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
