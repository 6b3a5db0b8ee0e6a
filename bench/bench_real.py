"""Benchmark (not a test): real Synthea patients against synthetic ones, per patient, before and after.

Real: the Synthea R4 bundles of tests/fixtures/fhir/synthea/ (written by Synthea, 0.4-1 MB each, 80-300
Observations of which the RLS guideline reads only body weight), copied until there are about --patients
of them; every copy but the first has its UUIDs rewritten (uuid5 of copy and UUID, references alike), so
no two patients share a node and a chunk evaluates them together. Synthetic: as many patients from
bench/gen_cohort.py (seed 42, no bad records), one collection Bundle per patient (1-3 kB).

Each code version runs in a fresh process, one after the other on the same machine: the working tree
("after") and, with --baseline REF (default HEAD), that commit's whole tree taken from git ("before", its
own ontology, rules and code). Each process loads the knowledge once, then, repeated --repeat times with
real and synthetic interleaved, times per patient:

- recommend: what ``guidelinekg recommend`` does after loading the knowledge: the file read and mapped
  (load), then the patient shapes, the rules and the report (evaluate);
- cohort: ``cohort.chunk.evaluate_chunk`` of all bundles of a kind as one chunk (mapping, shapes, one rule
  run, reports, provenance), divided by the patients.

The result is the ratio real / synthetic of each version (the target: at most 1.5), and after / before.
It also counts the facts and warnings of a real patient. Absolute times depend on the machine and on what
else runs on it; the ratios of one run are what to compare. Results go to bench/out/real-bench.md.

Usage: python bench/bench_real.py [--patients 40] [--repeat 3] [--baseline REF] [--no-baseline]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import uuid
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
WORK = OUT / "real-bench"
SYNTHEA = ROOT / "tests" / "fixtures" / "fhir" / "synthea"
AS_OF = "2026-01-15"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

DRIVER = r"""
import json, statistics, sys, time
from datetime import date
from pathlib import Path
src, real, synthetic, repeat = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, src)
from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.engine.patientcheck import validate_patients
from guidelinekg.engine.shapes_sparql import load_patient_shapes
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.report.patient import build_report
from guidelinekg.cohort.chunk import evaluate_chunk
import guidelinekg.engine.knowledge as knowledge
assert str(Path(knowledge.__file__).resolve()).startswith(str(Path(src).resolve())), knowledge.__file__
as_of = date.fromisoformat(sys.argv[5])
kb = KnowledgeBase.load()
version = kb.version()
shapes = load_patient_shapes()
extra = {"reads": kb.reads} if hasattr(kb, "reads") else {}  # the code before it maps every Observation
files = {"real": sorted(real.glob("*.json")), "synthetic": sorted(synthetic.glob("*.json"))}
times = {(kind, part): [] for kind in files for part in ("load", "evaluate", "cohort")}
facts, warnings = {}, {}

def recommend(path):
    t0 = time.perf_counter()
    patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, **extra)
    t1 = time.perf_counter()
    patient = validate_patients([patient], kb, shapes)[0]
    report = build_report(evaluate(kb, [patient], as_of=as_of), patient.patient_iri, version)
    return t1 - t0, time.perf_counter() - t1, patient, report

for kind in files:  # warm-up (caches of the knowledge, UCUM), and what one patient of each kind holds
    _, _, patient, report = recommend(files[kind][0])
    facts[kind], warnings[kind] = len(patient.ntriples), [w["code"] for w in report["warnings"]]
    evaluate_chunk("warm", "bundles", json.dumps([str(p) for p in files[kind][:2]]), as_of, kb, None)
for _ in range(repeat):
    for kind in files:
        for path in files[kind]:
            load, ev, _, _ = recommend(path)
            times[(kind, "load")].append(load)
            times[(kind, "evaluate")].append(ev)
        t0 = time.perf_counter()
        result = evaluate_chunk("bench", "bundles", json.dumps([str(p) for p in files[kind]]), as_of, kb, None)
        assert result.patients == len(files[kind]), (result.patients, result.bad_records[:2])
        times[(kind, "cohort")].append((time.perf_counter() - t0) / len(files[kind]))
print(json.dumps({"ms": {f"{k}/{p}": statistics.median(v) * 1000 for (k, p), v in times.items()},
                  "facts": facts, "warnings": warnings,
                  "patients": {k: len(v) for k, v in files.items()}}))
"""


def real_copies(target: Path, patients: int) -> int:
    """The Synthea bundles, copied with rewritten UUIDs until there are ``patients``; returns how many."""
    sources = sorted(p for p in SYNTHEA.glob("*.json") if not p.name.startswith(("hospital", "practitioner")))
    written = 0
    for copy in range(max(1, -(-patients // len(sources)))):
        for source in sources:
            if written == patients:
                return written
            text = source.read_text(encoding="utf-8")
            if copy:
                text = _UUID.sub(lambda m, c=copy: str(uuid.uuid5(uuid.NAMESPACE_URL, f"{c}:{m.group()}")), text)
            (target / f"{copy:02d}-{source.name}").write_text(text, encoding="utf-8")
            written += 1
    return written


def synthetic_bundles(target: Path, patients: int) -> None:
    """gen_cohort.py's patients, one collection Bundle per patient."""
    ndjson = target.parent / "synthetic-ndjson"
    subprocess.run([sys.executable, str(ROOT / "bench" / "gen_cohort.py"), str(ndjson), "--patients",
                    str(patients), "--seed", "42", "--bad-rate", "0"], check=True, capture_output=True)
    owned: dict[str, list[dict]] = defaultdict(list)
    for path in sorted(ndjson.glob("*.ndjson")):
        for line in path.read_text(encoding="utf-8").splitlines():
            res = json.loads(line)
            ref = f"Patient/{res['id']}" if res["resourceType"] == "Patient" else res["subject"]["reference"]
            owned[ref].append(res)
    for ref, resources in sorted(owned.items()):
        resources.sort(key=lambda r: r["resourceType"] != "Patient")
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
        (target / f"{ref.split('/')[1]}.json").write_text(json.dumps(bundle), encoding="utf-8")


def baseline_tree(ref: str, into: Path) -> Path:
    """The whole tree of commit ``ref`` (code, ontology, rules, shapes) extracted into ``into``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    tar = into / "tree.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as handle:
        handle.extractall(into / "tree", filter="data")
    return into / "tree"


def run(src: Path, home: Path, real: Path, synthetic: Path, repeat: int) -> dict:
    env = {"GUIDELINEKG_HOME": str(home), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(src), str(real), str(synthetic), str(repeat), AS_OF],
                          check=True, capture_output=True, text=True, env=env, cwd=home)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", default="HEAD", help="commit of the 'before' code (default HEAD)")
    parser.add_argument("--no-baseline", action="store_true", help="time the working tree only")
    args = parser.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    real, synthetic = WORK / "real", WORK / "synthetic"
    real.mkdir(parents=True)
    synthetic.mkdir()
    n = real_copies(real, args.patients)
    synthetic_bundles(synthetic, n)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_baseline:
            tree = baseline_tree(args.baseline, Path(tmp))
            results[f"before ({args.baseline})"] = run(tree / "src", tree, real, synthetic, args.repeat)
        results["after (working tree)"] = run(ROOT / "src", ROOT, real, synthetic, args.repeat)
    lines = [(f"Per patient, median of {args.repeat} passes: {n} real Synthea patients (5 bundles of "
              "tests/fixtures/fhir/synthea/, copied) against as many synthetic ones (bench/gen_cohort.py, "
              "one bundle each), each version in a fresh process."), "",
             "| version | mode | real ms | synthetic ms | real / synthetic |", "|---|---|---|---|---|"]
    for label, r in results.items():
        ms = r["ms"]
        for mode, parts in (("recommend: load", ["load"]), ("recommend: evaluate", ["evaluate"]),
                            ("recommend: total", ["load", "evaluate"]), ("cohort chunk", ["cohort"])):
            a = sum(ms[f"real/{p}"] for p in parts)
            b = sum(ms[f"synthetic/{p}"] for p in parts)
            lines.append(f"| {label} | {mode} | {a:.1f} | {b:.1f} | {a / b:.2f} |")
    lines.append("")
    for label, r in results.items():
        w = r["warnings"]["real"]
        lines.append(f"{label}: first real patient: {r['facts']['real']} fact lines, {len(w)} warnings "
                     f"({', '.join(f'{c} x{w.count(c)}' for c in sorted(set(w)))}); first synthetic patient: "
                     f"{r['facts']['synthetic']} fact lines, {len(r['warnings']['synthetic'])} warnings.")
    if len(results) == 2:
        before, after = results.values()
        lines.append("")
        for key, title in (("real/load", "real load"), ("real/evaluate", "real evaluate"),
                           ("real/cohort", "real cohort chunk"), ("synthetic/cohort", "synthetic cohort chunk")):
            lines.append(f"- {title}: before {before['ms'][key]:.1f} ms, after {after['ms'][key]:.1f} ms "
                         f"({before['ms'][key] / after['ms'][key]:.1f}x faster)")
    text = "\n".join(lines) + "\n"
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "real-bench.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
