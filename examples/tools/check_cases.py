"""Runs every vignette of an example guideline folder with `guidelinekg recommend --content <folder> --format
json` and compares the outcome (tests/vignettes.py outcome_of) with expected.json; prints the differences.
The cases are data: tests/test_example_guidelines.py runs them too. Run from the repository:
.venv/bin/python examples/tools/check_cases.py examples/guidelines/<folder>"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from vignettes import outcome_of  # noqa: E402


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: check_cases.py FOLDER (an example guideline folder with cases/)", file=sys.stderr)
        return 2
    HERE = Path(sys.argv[1]).resolve()
    bad = 0
    cases = sorted(p for p in (HERE / "cases").iterdir() if p.is_dir())
    for case in cases:
        expected = json.loads((case / "expected.json").read_text(encoding="utf-8"))
        run = subprocess.run([str(REPO / ".venv/bin/guidelinekg"), "recommend", str(case / "patient.json"),
                              "--content", str(HERE), "--as-of", expected["as_of"], "--format", "json"],
                             capture_output=True, text=True)
        if run.returncode != 0:
            print(f"{case.name}: exit {run.returncode}: {run.stderr[:500]}")
            bad += 1
            continue
        report = json.loads(run.stdout)
        namespace = report["guideline"]["iri"].rsplit("/", 1)[0] + "/"
        got = outcome_of(report, namespace)
        diffs = []
        for key, want in expected["expect"].items():
            if key in ("doses", "cautions"):
                have = got[key]
                if any(have.get(k) != v for k, v in want.items()):
                    diffs.append(f"  {key}: want {want} got {have}")
            elif got[key] != (sorted(want) if isinstance(want, list) else want):
                if isinstance(want, list):
                    diffs.append(f"  {key}: missing {sorted(set(want) - set(got[key]))} "
                                 f"extra {sorted(set(got[key]) - set(want))}")
                else:
                    diffs.append(f"  {key}: want {want} got {got[key]}")
        for iri in expected["checks"]:
            if not iri.startswith(namespace):
                diffs.append(f"  check outside the namespace: {iri}")
        print(f"{case.name}: {'ok' if not diffs else 'DIFF'}")
        for d in diffs:
            print(d)
        bad += bool(diffs)
    print(f"{len(cases) - bad}/{len(cases)} cases as expected")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
