"""The cohort side of an audit: do a cohort's output files agree with the runs its provenance records?"""

from __future__ import annotations

import json
from pathlib import Path

from guidelinekg.audit.recorded import Finding
from guidelinekg.audit.verdicts import RunAudit
from guidelinekg.provenance.inputs import COHORT_PROVENANCE, provenance_file


def cohort_findings(path: Path, runs: tuple[RunAudit, ...]) -> tuple[Finding, ...]:
    """For a cohort's ``provenance.trig.gz``: does it hold a run for every patient in ``results.jsonl``, and
    no other? A removed run graph (its patients' results then rest on nothing) fails ``runs-missing``; a
    result naming a run the provenance does not hold, or a run no result names, fails
    ``results-not-recorded``. (The results' contents are not compared with the replay.)"""
    path = provenance_file(path)  # a cohort --out directory stands for its provenance file
    results = path.parent / "results.jsonl"
    if path.name not in COHORT_PROVENANCE or not results.is_file():
        return ()
    named: dict[str, int] = {}
    with results.open(encoding="utf-8") as lines:
        for line in lines:
            run = json.loads(line).get("provenance", {}).get("run")
            named[run] = named.get(run, 0) + 1
    audited = {r.run: len(r.patients) for r in runs}
    findings = []
    if sum(named.values()) != sum(audited.values()):
        findings.append(Finding("failure", "runs-missing", f"{results.name} holds {sum(named.values())} patients' "
                                f"results, the provenance records {sum(audited.values())}: run graphs were "
                                "removed or added", None))
    for run in sorted(set(named) ^ set(audited), key=str):
        where = "the provenance does not record" if run in named else f"no result in {results.name} names"
        findings.append(Finding("failure", "results-not-recorded", f"{where} run {run}", run))
    return tuple(findings)
