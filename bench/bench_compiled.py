"""The compiled rule engine (SPARQL -> SQL on DuckDB) against Oxigraph, on generated cohorts (not a test).

Generates a seeded synthetic cohort (bench/gen_cohort.py), splits it into chunks as `guidelinekg cohort`
does, and for each chunk builds the store the rules start from (knowledge, patient facts, loader notes,
time index, evaluation context) once, then runs the patient-scope rules on Oxigraph and on the compiled
engine in the same process. Every derived triple is compared: any difference is printed and makes the exit
status 1. The result is the ratio of the two engines' rule times (absolute times depend on the machine);
the compiled engine's first chunk includes translating the rules (once per process), reported apart.

The compiled engine pays only on large chunks (each rule statement costs DuckDB milliseconds to plan,
whatever the chunk's size), while Oxigraph is fastest per patient on small ones: so the same patients are
also run on Oxigraph in groups of --cohort-chunk (the ``cohort`` command's default, 250), the baseline the
compiled engine must beat to be worth using.

Usage: python bench/bench_compiled.py [--patients 20000] [--chunk-size 5000] [--threads 1] [--cohort-chunk 250]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
AS_OF = date(2026, 1, 15)

from guidelinekg.cohort.chunk import disjoint_groups, load_chunk, shapes_for  # noqa: E402
from guidelinekg.cohort.partition import prepare  # noqa: E402
from guidelinekg.engine.knowledge import KnowledgeBase  # noqa: E402
from guidelinekg.engine.patientcheck import validate_patients  # noqa: E402
from guidelinekg.engine.reasoning import note_triples  # noqa: E402
from guidelinekg.engine.rules import run_rules  # noqa: E402
from guidelinekg.engine.sqlstore import SqlStore, compile_update  # noqa: E402
from guidelinekg.engine.timeline import context_triples, time_index_triples  # noqa: E402


def starting_store(kb: KnowledgeBase, patients):
    """The Oxigraph store evaluate() runs the rules on, before they run."""
    store = kb.new_store("oxigraph")
    store.load_ntriples("".join(p.text() for p in patients))
    store.load_ntriples("".join(line for p in patients for line in note_triples(p)))
    store.load_ntriples("".join(time_index_triples(store)))
    store.load_ntriples("".join(context_triples(AS_OF, "urn:guidelinekg:run:bench")))
    return store


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=20000)
    parser.add_argument("--chunk-size", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=1, help="DuckDB threads (cohort workers use 1 each)")
    parser.add_argument("--cohort-chunk", type=int, default=250, help="Oxigraph's baseline group size")
    args = parser.parse_args()
    data = OUT / f"cohort-{args.patients}"
    if not (data / "Patient.ndjson").exists():
        subprocess.run([sys.executable, str(ROOT / "bench" / "gen_cohort.py"), str(data), "--patients",
                        str(args.patients), "--seed", "42"], check=True, capture_output=True)
    kb = KnowledgeBase.load()
    t = time.perf_counter()
    for rule in kb.rules.rules:
        compile_update(rule.text)
    translate = time.perf_counter() - t
    work = Path(tempfile.mkdtemp(prefix="gkg-bench-"))
    partition, _ = prepare(data, work, args.chunk_size)
    totals = {"oxigraph": 0.0, "compiled": 0.0, "load": 0.0, "small": 0.0}
    patients = triples = differences = 0
    for name in partition.chunks:
        text = (work / name).read_text(encoding="utf-8")
        loaded, _ = load_chunk(partition.kind, text, kb, "chunk")
        for group in disjoint_groups(loaded):
            checked = validate_patients(group, kb, shapes_for({}))
            store = starting_store(kb, checked)
            t = time.perf_counter()
            sql = SqlStore(args.threads)
            sql.load_ntriples(store.dump_ntriples().decode("utf-8"))
            totals["load"] += time.perf_counter() - t
            t = time.perf_counter()
            run_rules(store, kb.rules)
            totals["oxigraph"] += time.perf_counter() - t
            t = time.perf_counter()
            run_rules(sql, kb.rules)
            totals["compiled"] += time.perf_counter() - t
            for start in range(0, len(checked), args.cohort_chunk):  # the cohort's default: Oxigraph's best
                small = starting_store(kb, checked[start:start + args.cohort_chunk])
                t = time.perf_counter()
                run_rules(small, kb.rules)
                totals["small"] += time.perf_counter() - t
            ours = set(sql.dump_ntriples().splitlines())
            theirs = set(store.dump_ntriples().splitlines())
            for line in sorted(theirs - ours)[:5]:
                print("  only Oxigraph:", line.decode()[:200])
            for line in sorted(ours - theirs)[:5]:
                print("  only compiled:", line.decode()[:200])
            differences += len(ours ^ theirs)
            patients += len(checked)
            triples += len(theirs)
            print(f"chunk {name}: {len(checked)} patients, {len(theirs):,} triples, "
                  f"{len(ours ^ theirs)} differences", flush=True)
    print(f"\n{patients:,} patients, {triples:,} triples after the rules, chunks of {args.chunk_size}, "
          f"DuckDB threads {args.threads}")
    print(f"translating the {len(kb.rules.rules)} rules (once per process): {translate:.2f} s")
    print(f"rules on Oxigraph:        {totals['oxigraph']:8.2f} s")
    print(f"rules compiled (DuckDB):  {totals['compiled']:8.2f} s   ratio {totals['compiled'] / totals['oxigraph']:.2f}x")
    print(f"rules on Oxigraph in groups of {args.cohort_chunk} (the cohort's default): {totals['small']:8.2f} s   "
          f"compiled / this {totals['compiled'] / totals['small']:.2f}x")
    print(f"loading the compiled store: {totals['load']:.2f} s (from Oxigraph's dump; not part of either)")
    print(f"derived triples differing: {differences}")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
