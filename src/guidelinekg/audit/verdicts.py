"""What an audit returns: a verdict per recorded result, per run, and for the whole provenance file."""

from __future__ import annotations

from dataclasses import dataclass

from guidelinekg.audit.recorded import Finding


@dataclass(frozen=True)
class ResultCheck:
    """A recorded result and its replay verdict: same, differs (``replayed`` says how), missing (the replay
    does not derive it), not-replayed; ``flags`` are those of its guideline versions."""

    iri: str
    kind: str
    patient: str | None
    summary: str
    rule: str | None
    versions: tuple[str, ...]
    replay: str
    replayed: str | None = None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunAudit:
    run: str
    as_of: str | None
    engine: str | None
    software: str | None
    patients: tuple[str, ...]
    versions: tuple[dict, ...]
    checks: dict[str, str]
    results: tuple[ResultCheck, ...]
    findings: tuple[Finding, ...]
    # the run's content and rule hashes as the cohort computes them, from the files and rules it records
    # (:func:`guidelinekg.audit.runrecord.run_hashes`), for the check of a cohort's manifest
    hashes: tuple[str | None, str | None] = (None, None)


@dataclass(frozen=True)
class AuditReport:
    source: str
    runs: tuple[RunAudit, ...]
    notes: tuple[Finding, ...] = ()
    allow_unapproved: bool = False
    allow_superseded: bool = False

    def findings(self) -> list[Finding]:
        return [f for r in self.runs for f in r.findings] + list(self.notes)

    @property
    def exit_code(self) -> int:
        """1 on any failure, and on a not-approved or superseded flag that is not allowed; else 0."""
        allowed = {"not-approved": self.allow_unapproved, "superseded": self.allow_superseded}
        fails = any(
            f.severity == "failure" or (f.severity == "flag" and not allowed.get(f.code, False))
            for f in self.findings()
        )
        return 1 if fails else 0


# The files of a cohort directory checked once for all its runs (the runs' results.jsonl lines are a check of
# each run): key, what "ok" means, and the verdict each finding code gives (the first one found wins).
COHORT_FILES = (
    ("summary", "summary.csv counts are what the replayed results give",
     (("summary-differs", "differs"), ("summary-not-verified", "not verified"))),
    ("records", "manifest.json and run.json agree with the runs",
     (("manifest-missing", "missing"), ("run-record-missing", "missing"), ("run-record-differs", "differs"))),
)


def cohort_checks(report: AuditReport) -> dict[str, str]:
    """The verdicts on :data:`COHORT_FILES` ("ok" or what is wrong), from the report's findings; empty when
    the provenance is no cohort's with results.jsonl (a 'recommend --provenance' file)."""
    if not any("results" in r.checks for r in report.runs):
        return {}
    codes = {f.code for f in report.notes if f.severity == "failure"}
    return {key: next((verdict for code, verdict in failing if code in codes), "ok") for key, _, failing in COHORT_FILES}
