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

--as-filed REF (off by default) compares end to end with the whole tree at REF instead, as issue 14 measured
it (filed against 4a628cf, then a flat src/guidelinekg/*.py): the tree at REF is extracted with `git archive
REF | tar -x` (no worktree) into a temporary directory and run with PYTHONPATH=that/src (the imported
guidelinekg is checked to be REF's). REF's own `cohort` writes its --out from the same generated input and
REF's own `guidelinekg audit OUT --format json` audits it; today's cohort and audit do the same (1 worker and
--workers 2), from a copy of the working tree taken at the start (edits made meanwhile would otherwise fail
the audit on content hashes and skip its replay). Each audit is the CLI in a fresh process, through a small
driver that times the Auditor.audit_file call inside it (imports aside) besides the whole process wall time.
Old and new alternate --repeats times (default 2) and the medians are compared; the table (ms/patient, x
faster than REF, runs, patients, results, findings and exit code of each audit) goes to
bench/out/audit-bench-as-filed.md.

Usage: python bench/bench_audit.py [--patients 2000] [--chunk-size 250] [--baseline REF] [--workers 1,2]
       python bench/bench_audit.py --as-filed 4a628cf [--patients 2000] [--repeats 2] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
AS_OF = "2026-01-15"
BASELINE = "5a88dcf"  # the audit before the compiled shapes, the text reader and the fast replay

DRIVER = """
import json, sys, time
from collections import Counter
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

# `guidelinekg audit ...` run in this process, timing Auditor.audit_file (REF's flat guidelinekg/audit.py has
# the Auditor; today's is in guidelinekg/audit/auditor.py); argv: timing file, then the CLI's arguments
AS_FILED_DRIVER = """
import json, sys, time
import guidelinekg
try:
    from guidelinekg.audit.auditor import Auditor
except ImportError:
    from guidelinekg.audit import Auditor
from guidelinekg.cli import main
seconds, audit_file = [], Auditor.audit_file
def timed(*args, **kwargs):
    t = time.perf_counter()
    try:
        return audit_file(*args, **kwargs)
    finally:
        seconds.append(time.perf_counter() - t)
Auditor.audit_file = timed
code = main(sys.argv[2:])
sys.stdout.flush()
timing = {"seconds": sum(seconds), "calls": len(seconds), "package": guidelinekg.__file__}
json.dump(timing, open(sys.argv[1], "w"))
sys.exit(code)
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


def extract(ref: str, target: Path) -> Path:
    """The whole tree at ``ref`` in ``target`` (``git archive REF | tar -x``, no worktree), byte-compiled so
    no run pays for compiling; returns its ``src``."""
    target.mkdir(parents=True)
    archive = subprocess.Popen(["git", "archive", ref], cwd=ROOT, stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(target)], stdin=archive.stdout, check=True)
    archive.stdout.close()
    if archive.wait() != 0:
        raise SystemExit(f"git archive {ref} failed")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(target / "src")], check=True)
    return target / "src"


def snapshot(target: Path) -> Path:
    """Today's working tree (tracked and untracked files, not ignored ones) copied to ``target``, so that edits
    made while the benchmark runs cannot change code or content between a cohort and its audit; returns its
    ``src``."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, names):
        if (ROOT / name).is_file():  # a tracked file deleted in the working tree is listed but absent
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(target / "src")], check=True)
    return target / "src"


def environment(src: Path | None) -> dict:
    """This process's environment with PYTHONPATH=``src`` (None: the installed guidelinekg)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GUIDELINEKG_HOME")}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return env


def imported(env: dict, cwd: Path) -> str:
    """Where ``import guidelinekg`` finds the package in ``env``."""
    return subprocess.run([sys.executable, "-c", "import guidelinekg; print(guidelinekg.__file__)"], env=env,
                          cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def cohort_run(label: str, data: Path, out: Path, chunk_size: int, env: dict, cwd: Path) -> float:
    """``guidelinekg cohort`` of ``data`` into ``out`` with the code ``env`` imports; its wall seconds."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "guidelinekg.cli", "cohort", str(data), "--out", str(out),
                           "--as-of", AS_OF, "--chunk-size", str(chunk_size), "--no-progress"], env=env, cwd=cwd,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{label} cohort failed, exit {done.returncode}:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def audit_process(label: str, out: Path, env: dict, cwd: Path, workers: int | None = None) -> dict:
    """``guidelinekg audit OUT --format json`` in a fresh process (AS_FILED_DRIVER): the audit call and the
    wall seconds, the exit code and what the JSON report says was audited."""
    argv = ["audit", str(out), "--format", "json"]
    argv += [] if workers is None else ["--workers", str(workers), "--no-progress"]
    with tempfile.TemporaryDirectory(prefix="gkg-bench-as-filed-") as tmp:
        timing, report = Path(tmp) / "timing.json", Path(tmp) / "report.json"
        start = time.perf_counter()
        with report.open("w") as stdout:
            done = subprocess.run([sys.executable, "-c", AS_FILED_DRIVER, str(timing), *argv], env=env, cwd=cwd,
                                  stdout=stdout, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - start
        if done.returncode not in (0, 1):  # 1 is a verdict (a failure or flag), anything else unusable
            raise SystemExit(f"{label} audit failed, exit {done.returncode}:\n{done.stderr[-3000:]}")
        t, r = json.loads(timing.read_text()), json.loads(report.read_text())
    return {"seconds": t["seconds"], "calls": t["calls"], "package": t["package"], "wall": wall,
            "exit": done.returncode, "runs": r["summary"]["runs"], "results": r["summary"]["results"],
            "patients": sum(len(run["patients"]) for run in r["runs"]),
            "findings": "/".join(str(r["summary"][k]) for k in ("failures", "flags", "notes")),
            "codes": sorted({f["code"] for run in r["runs"] for f in run["findings"]}
                            | {f["code"] for f in r["notes"]}),
            "checks": sorted({k for run in r["runs"] for k in run["checks"]}),
            "versions": sorted({v["label"] or v["iri"] for run in r["runs"] for v in run["versions"]}),
            "kinds": dict(sorted(Counter(c["kind"] for run in r["runs"] for c in run["results"]).items()))}


def as_filed(args: argparse.Namespace, data: Path) -> str:
    """Issue 14's comparison: REF's whole tree (its cohort, its audit) against today's, alternated."""
    work = Path(tempfile.mkdtemp(prefix="gkg-bench-as-filed-"))
    try:
        revision = head()  # of the working tree copied next
        trees = {"old": work / "old", "new": work / "new"}
        envs = {"old": environment(extract(args.as_filed, trees["old"])), "new": environment(snapshot(trees["new"]))}
        for which in ("old", "new"):
            where = imported(envs[which], work)
            print(f"{which}: guidelinekg imported from {where}")
            if not where.startswith(str(trees[which] / "src")):
                raise SystemExit(f"PYTHONPATH={envs[which]['PYTHONPATH']} imports guidelinekg from {where}")
        walls = {which: cohort_run(which, data, work / f"{which}-out", args.chunk_size, envs[which], trees[which])
                 for which in ("old", "new")}
        setups = [("old", 1, None)] + [("new", w, w) for w in map(int, args.workers.split(","))]
        trials: dict[tuple, list[dict]] = {(which, w): [] for which, w, _ in setups}
        for _ in range(args.repeats):
            for which, w, workers in setups:
                t = audit_process(which, work / f"{which}-out", envs[which], trees[which], workers)
                if not t["package"].startswith(str(trees[which] / "src")):
                    raise SystemExit(f"the {which} audit imported guidelinekg from {t['package']}")
                trials[(which, w)].append(t)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return as_filed_table(args, trials, walls, revision)


def as_filed_table(args: argparse.Namespace, trials: dict[tuple, list[dict]], walls: dict[str, float],
                   revision: str) -> str:
    """The Markdown table of :func:`as_filed`: medians, ratios to REF, and what each audit did."""
    med = {key: {k: statistics.median(t[k] for t in ts) for k in ("seconds", "wall")}
           for key, ts in trials.items()}
    old = med[("old", 1)]
    lines = [f"`guidelinekg audit` of a cohort as issue 14 measured it: old = the whole tree at {args.as_filed} "
             f"(its own cohort and audit), new = today's working tree (HEAD {revision}, copied at the start); "
             f"{args.patients} generated patients (seed 7), chunks of "
             f"{args.chunk_size}; median of {args.repeats} alternated runs each. audit = the Auditor.audit_file "
             "call in a fresh `guidelinekg audit OUT --format json` process; wall = that whole process.", "",
             "| audit | workers | runs | patients | results | failures/flags/notes | exit | audit s | "
             "ms/patient | wall s | ms/patient (wall) | x faster than old (audit) | x (wall) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (which, workers), ts in trials.items():
        t, m = ts[0], med[(which, workers)]
        same = all((u["runs"], u["patients"], u["results"], u["exit"]) == (t["runs"], t["patients"], t["results"],
                   t["exit"]) for u in ts)
        name = f"{which} ({args.as_filed})" if which == "old" else which
        verdict = "pass" if t["exit"] == 0 else "fail" if t["findings"].split("/")[0] != "0" else "flags only"
        lines.append(f"| {name} | {workers} | {t['runs']} | {t['patients']} | {t['results']} | {t['findings']} | "
                     f"{t['exit']} ({verdict}){'' if same else ' (varied)'} | {m['seconds']:.2f} | "
                     f"{m['seconds'] / t['patients'] * 1000:.2f} | {m['wall']:.2f} | "
                     f"{m['wall'] / t['patients'] * 1000:.2f} | {old['seconds'] / m['seconds']:.1f} | "
                     f"{old['wall'] / m['wall']:.1f} |")
    lines.append("")
    for (which, workers), ts in trials.items():
        audit, wall = (", ".join(f"{t[k]:.2f}" for t in ts) for k in ("seconds", "wall"))
        t = ts[0]
        lines.append(f"- {which}, {workers} worker(s): audit s {audit}; wall s {wall}; finding codes "
                     f"{', '.join(t['codes']) or 'none'}; checks {', '.join(t['checks'])}; results "
                     f"{', '.join(f'{n} {k}' for k, n in t['kinds'].items())}; guideline versions "
                     f"{', '.join(t['versions'])}")
    lines.append(f"- cohort wall (once each, not part of the ratios): old {walls['old']:.1f} s, "
                 f"new {walls['new']:.1f} s")
    return "\n".join(lines) + "\n"


def head() -> str:
    """The short commit of HEAD, with '+ changes' when the working tree differs from it."""
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    return sha + (" + changes" if dirty.strip() else "")


def cohort_input(patients: int) -> Path:
    """The seeded synthetic cohort (bench/gen_cohort.py, seed 7), generated once into bench/out."""
    data = OUT / f"cohort-{patients}"
    if not (data / "Patient.ndjson").exists():
        subprocess.run([sys.executable, str(ROOT / "bench" / "gen_cohort.py"), str(data), "--patients",
                        str(patients), "--seed", "7"], check=True, capture_output=True)
    return data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--chunk-size", type=int, default=250)
    parser.add_argument("--baseline", default=BASELINE, help=f"git commit of the old audit (default {BASELINE})")
    parser.add_argument("--workers", default="1,2", help="worker counts of the new audit to time (default 1,2)")
    parser.add_argument("--as-filed", metavar="REF", help="compare end to end with the whole tree at REF (off)")
    parser.add_argument("--repeats", type=int, default=2, help="alternated runs of each audit with --as-filed")
    args = parser.parse_args()
    data = cohort_input(args.patients)
    if args.as_filed:
        text = as_filed(args, data)
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "audit-bench-as-filed.md").write_text(text, encoding="utf-8")
        print(text)
        return
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
