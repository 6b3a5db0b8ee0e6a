"""Audit benchmark (not a test): `guidelinekg audit` of a cohort, the code before the speed-up against now.

Generates a seeded synthetic cohort (bench/gen_cohort.py), runs `guidelinekg cohort` on it with the current
code (so the recorded rule and content hashes are the working tree's), then audits the cohort's --out
directory in fresh processes, one after the other on the same machine in the same run:

- old: the audit package as it was at --baseline (default 5a88dcf, the last commit before the speed-up),
  taken from git into a temporary package and run against the current rest of guidelinekg (pySHACL over
  materialised RDFS entailments, rdflib's SPARQL parser for the rule analysis, the replay from parsed
  triples);
- new: the current audit (compiled provenance shapes, the text reader and the fast replay, and the
  results.jsonl / summary.csv checks the old code did not make), with 1 worker and with --workers 2.

Each process times the audit call itself (imports aside) and also its whole wall time; the ratios old/new
are the result (absolute times depend on the machine and what else runs on it). The findings of old and
new are compared too: they agree unless the engine changed since the baseline in a way the old audit does
not know (the difference is printed). Results go to bench/out/audit-bench.md.

Usage: python bench/bench_audit.py [--patients 2000] [--chunk-size 250] [--baseline REF] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
AS_OF = "2026-01-15"
BASELINE = "5a88dcf"  # the audit before the compiled shapes, the text reader and the fast replay

DRIVER = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[4])
which, path, out, workers = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[5])
from guidelinekg.commands.audit import to_json
if which == "old":
    from guidelinekg_oldaudit.auditor import Auditor
    auditor = Auditor()
else:
    from guidelinekg.audit.auditor import Auditor
    auditor = Auditor(workers=workers)
t = time.perf_counter()
report = auditor.audit_file(path)
seconds = time.perf_counter() - t
report = to_json(report)
findings = sorted({(f["code"], f["subject"] or "") for r in report["runs"] for f in r["findings"]}
                  | {(f["code"], f["subject"] or "") for f in report["notes"]})
json.dump({"seconds": seconds, "patients": sum(len(r["patients"]) for r in report["runs"]),
           "runs": len(report["runs"]), "results": report["summary"]["results"], "findings": findings,
           "checks": sorted({k for r in report["runs"] for k, v in r["checks"].items() if v not in ("ok", "same")})},
          open(out, "w"))
"""

# what the new audit checks that the old one did not (results.jsonl and summary.csv against the replay)
NEW_ONLY = {"results-differ", "results-not-verified", "summary-differs", "summary-not-verified"}


def old_package(baseline: str, target: Path) -> None:
    """The audit package at ``baseline`` as ``guidelinekg_oldaudit`` (its own imports renamed)."""
    package = target / "guidelinekg_oldaudit"
    package.mkdir(parents=True)
    names = subprocess.run(["git", "ls-tree", "--name-only", baseline, "src/guidelinekg/audit/"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    if not names:
        raise SystemExit(f"no src/guidelinekg/audit at {baseline}")
    for name in names:
        text = subprocess.run(["git", "show", f"{baseline}:{name}"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout
        text = text.replace("guidelinekg.audit.", "guidelinekg_oldaudit.").replace(
            "from guidelinekg.audit import", "from guidelinekg_oldaudit import")
        (package / Path(name).name).write_text(text, encoding="utf-8")


def measure(which: str, path: Path, packages: Path, workers: int = 1) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", DRIVER, which, str(path), out.name, str(packages), str(workers)],
                       check=True)
        wall = time.perf_counter() - start
        result = json.loads(Path(out.name).read_text())
    result["wall"] = wall
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--chunk-size", type=int, default=250)
    parser.add_argument("--baseline", default=BASELINE, help=f"git commit of the old audit (default {BASELINE})")
    parser.add_argument("--workers", default="1,2", help="worker counts of the new audit to time (default 1,2)")
    args = parser.parse_args()
    data = OUT / f"cohort-{args.patients}"
    if not (data / "Patient.ndjson").exists():
        subprocess.run([sys.executable, str(ROOT / "bench" / "gen_cohort.py"), str(data), "--patients",
                        str(args.patients), "--seed", "7"], check=True, capture_output=True)
    work = Path(tempfile.mkdtemp(prefix="gkg-bench-audit-"))
    try:
        cohort = work / "out"
        subprocess.run([sys.executable, "-m", "guidelinekg.cli", "cohort", str(data), "--out", str(cohort),
                        "--as-of", AS_OF, "--chunk-size", str(args.chunk_size), "--no-progress"], check=True,
                       capture_output=True)
        old_package(args.baseline, work / "packages")
        timings = [("old", 1, measure("old", cohort, work / "packages"))]
        for workers in (int(w) for w in args.workers.split(",")):
            timings.append(("new", workers, measure("new", cohort, work / "packages", workers)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    old = timings[0][2]
    n = old["patients"]
    title = (f"`guidelinekg audit` of a {n}-patient cohort ({old['runs']} runs of up to {args.chunk_size}, "
             f"{old['results']} results), old audit = {args.baseline}; audit call timed in a fresh process, "
             "wall = the whole process.")
    lines = [title, "",
             "| audit | workers | audit s | ms/patient | patients/s | wall s | x faster than old (audit) | x (wall) |",
             "|---|---|---|---|---|---|---|---|"]
    for which, workers, t in timings:
        lines.append(f"| {which} | {workers} | {t['seconds']:.2f} | {t['seconds'] / n * 1000:.2f} | "
                     f"{n / t['seconds']:,.0f} | {t['wall']:.2f} | {old['seconds'] / t['seconds']:.1f} | "
                     f"{old['wall'] / t['wall']:.1f} |")
    old_findings = {tuple(f) for f in old["findings"]}
    for which, workers, t in timings[1:]:
        new_findings = {tuple(f) for f in t["findings"] if f[0] not in NEW_ONLY}
        if new_findings == old_findings:
            lines.append(f"\nnew ({workers} worker(s)) and old find the same ({len(old_findings)} distinct findings).")
        else:
            lines.append(f"\nnew ({workers} worker(s)) and old differ: only old {sorted(old_findings - new_findings)[:5]}, "
                         f"only new {sorted(new_findings - old_findings)[:5]} (an engine change since the baseline "
                         "that the old audit does not know shows here)")
    text = "\n".join(lines) + "\n"
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "audit-bench.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
