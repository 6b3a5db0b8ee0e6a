"""Where a cohort chunk's time goes, rule by rule, against the plain-Python reference (not a test).

Takes one seeded synthetic cohort (bench/gen_cohort.py; generated if missing), splits it into chunks as
`guidelinekg cohort` does, and for each chunk times, in this process, the phases of
cohort_eval.evaluate_chunk: reading the NDJSON into patient data (parse), the compiled patient shapes
(validate), the SPARQL rules (rules, each rule timed on its own), the report queries (reports), the JSON
text and the provenance (TriG, gzip). The reference evaluator (bench/reference.py) evaluates the same
patients in the same run; the ratios to it are the result (absolute times depend on the machine).

Query shape moves a rule's cost 2-300x with identical results (a BIND before a pattern, FILTER NOT
EXISTS, a join started from the wrong side), which correctness tests do not see: the per-rule table
shows such a regression at once, as a rule whose microseconds per patient jump.

Usage: python bench/bench_rules.py [--patients 2000] [--chunk-size 250] [--chunks 4]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
AS_OF = "2026-01-15"
sys.path.insert(0, str(ROOT / "bench"))

import reference  # noqa: E402

from guidelinekg.cohort.chunk import disjoint_groups, load_chunk, shapes_for, summary_counts  # noqa: E402
from guidelinekg.cohort.partition import prepare  # noqa: E402
from guidelinekg.engine.knowledge import KnowledgeBase  # noqa: E402
from guidelinekg.engine.patientcheck import validate_patients  # noqa: E402
from guidelinekg.provenance.record import provenance_trig  # noqa: E402
from guidelinekg.content.rdffiles import write_gzip  # noqa: E402
from guidelinekg.engine.reasoning import evaluate  # noqa: E402
from guidelinekg.report.patient import build_reports  # noqa: E402


class TimedRules:
    """Wraps the store's update so each rule's time is added to its name."""

    def __init__(self, kb: KnowledgeBase):
        self.by_text = {r.text: r.name for r in kb.rules.rules}
        self.seconds: dict[str, float] = defaultdict(float)
        self.store_class = type(kb.new_store())
        self.original = self.store_class.update

    def __enter__(self):
        timed = self

        def update(store, sparql):
            t = time.perf_counter()
            timed.original(store, sparql)
            timed.seconds[timed.by_text.get(sparql, "other")] += time.perf_counter() - t

        self.store_class.update = update
        return self

    def __exit__(self, *exc):
        self.store_class.update = self.original


def profile(data: Path, chunk_size: int, chunks: int) -> tuple[dict, dict, int]:
    kb = KnowledgeBase.load()
    shapes = shapes_for({})
    version = kb.version(None)
    as_of = date.fromisoformat(AS_OF)
    work = Path(tempfile.mkdtemp(prefix="gkg-bench-"))
    partition, _ = prepare(data, work, chunk_size)
    phases: dict[str, float] = defaultdict(float)
    patients = 0
    texts = [(work / name).read_text(encoding="utf-8") for name in partition.chunks[:chunks]]
    load_chunk(partition.kind, texts[0], kb, "warm-up")  # caches (matcher, measures, UCUM) out of the timing
    with TimedRules(kb) as rules:
        for text in texts:
            t0 = time.perf_counter()
            loaded, _ = load_chunk(partition.kind, text, kb, "chunk")
            phases["parse (NDJSON -> patient data)"] += time.perf_counter() - t0
            patients += len(loaded)
            for group in disjoint_groups(loaded):
                t = time.perf_counter()
                checked = validate_patients(group, kb, shapes)
                phases["validate (compiled patient shapes)"] += time.perf_counter() - t
                t = time.perf_counter()
                before = sum(rules.seconds.values())
                evaluation = evaluate(kb, checked, as_of=as_of)
                in_rules = sum(rules.seconds.values()) - before
                phases["rules (SPARQL updates)"] += in_rules
                phases["load facts into the store, time index"] += time.perf_counter() - t - in_rules
                t = time.perf_counter()
                reports = build_reports(evaluation, version)
                phases["reports (SPARQL selects -> JSON objects)"] += time.perf_counter() - t
                t = time.perf_counter()
                "".join(json.dumps(reports[p], sort_keys=True) for p in reports)
                summary_counts(list(reports.values()))
                phases["JSON text, summary counts"] += time.perf_counter() - t
                t = time.perf_counter()
                write_gzip(provenance_trig(evaluation))
                phases["provenance (TriG, gzip)"] += time.perf_counter() - t
    return phases, dict(rules.seconds), patients


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--chunk-size", type=int, default=250)
    parser.add_argument("--chunks", type=int, default=4, help="chunks to profile")
    args = parser.parse_args()
    data = OUT / f"cohort-{args.patients}"
    if not (data / "Patient.ndjson").exists():
        subprocess.run([sys.executable, str(ROOT / "bench" / "gen_cohort.py"), str(data), "--patients",
                        str(args.patients), "--seed", "42"], check=True, capture_output=True)
    cohort = reference.load_ndjson(data)
    ref_seconds = []
    for _ in range(5):  # best of 5: one run takes milliseconds, so one scheduling hiccup would move the ratios
        t = time.perf_counter()
        reference.evaluate_all(cohort, AS_OF)
        ref_seconds.append(time.perf_counter() - t)
    ref_us = min(ref_seconds) / len(cohort) * 1e6
    phases, rules, n = profile(data, args.chunk_size, args.chunks)
    total = sum(phases.values())
    lines = [f"Profile of {n} patients in chunks of {args.chunk_size} (one process). Reference evaluator: "
             f"{ref_us:.1f} us/patient (best of 5).", "", "| phase | us/patient | share | x reference |", "|---|---|---|---|"]
    for name, seconds in sorted(phases.items(), key=lambda kv: -kv[1]):
        us = seconds / n * 1e6
        lines.append(f"| {name} | {us:,.0f} | {seconds / total:.0%} | {us / ref_us:,.0f} |")
    lines.append(f"| **total** | {total / n * 1e6:,.0f} | 100% | {total / n * 1e6 / ref_us:,.0f} |")
    lines += ["", "| rule | us/patient |", "|---|---|"]
    for name, seconds in sorted(rules.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {name} | {seconds / n * 1e6:,.1f} |")
    text = "\n".join(lines) + "\n"
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "rules-profile.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
