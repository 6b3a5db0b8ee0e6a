"""Benchmark (not a test): recommend latency.

Reports warm in-process latency per patient (knowledge already loaded; median and p95 over the vignettes
and the example, repeated) and the cold wall time of the `guidelinekg recommend` command (new process).
Compares against a baseline measured in the same run: the bare cost of creating a store and loading the
knowledge (the floor of one evaluation on the fast store).
Usage: python bench/bench_recommend.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from guidelinekg.engine.knowledge import KnowledgeBase  # noqa: E402
from guidelinekg.patients.loader import load_patient_input  # noqa: E402
from guidelinekg.engine.reasoning import evaluate  # noqa: E402
from guidelinekg.report.patient import build_report  # noqa: E402
from vignettes import load_vignettes  # noqa: E402


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    kb = KnowledgeBase.load()
    cases = [v for v in load_vignettes() if not v.expected["expect"].get("error")]
    patients = [(load_patient_input(v.patient, matcher=kb.matcher, measures=kb.measures, reads=kb.reads),
                 date.fromisoformat(v.as_of))
                for v in cases]
    version = kb.version()
    for engine in ("oxigraph",):
        floor, warm, rules_only = [], [], []
        for _ in range(args.repeat):
            for patient, as_of in patients:
                t0 = time.perf_counter()
                kb.new_store(engine)
                floor.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                ev = evaluate(kb, [patient], as_of=as_of, engine=engine)
                t1 = time.perf_counter()
                build_report(ev, patient.patient_iri, version)
                warm.append(time.perf_counter() - t0)
                rules_only.append(t1 - t0)
        print(f"warm, {engine}, {len(patients)} patients x {args.repeat}:")
        print(f"  evaluate+report  median {statistics.median(warm)*1000:.1f} ms  p95 {pct(warm, .95)*1000:.1f} ms")
        print(f"  evaluate only    median {statistics.median(rules_only)*1000:.1f} ms  p95 {pct(rules_only, .95)*1000:.1f} ms")
        print(f"  baseline (new store + knowledge load) median {statistics.median(floor)*1000:.1f} ms"
              f"  -> evaluate+report is {statistics.median(warm)/statistics.median(floor):.1f}x the baseline")
    exe = Path(sys.executable).with_name("guidelinekg")
    cold = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        subprocess.run([str(exe), "recommend", str(ROOT / "examples" / "patient-ferritin-45.json"), "--as-of",
                        "2026-01-15", "--format", "json"], check=True, capture_output=True)
        cold.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import rdflib, pyoxigraph"], check=True)
    imports = time.perf_counter() - t0
    print(f"cold `guidelinekg recommend` (new process): median {statistics.median(cold):.2f} s, "
          f"max {max(cold):.2f} s; baseline `python -c 'import rdflib, pyoxigraph'` {imports:.2f} s")


if __name__ == "__main__":
    main()
