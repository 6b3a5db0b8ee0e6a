"""The cohort side of an audit: a cohort's output files against the runs its provenance records.

Clinicians and downstream tools read ``results.jsonl`` and ``summary.csv``, not the provenance, so both are
checked against the replay, run by run as the provenance is read (the files are streamed; memory holds
the lines of runs not yet reached):

* ``results.jsonl``: each patient's line must be, byte for byte, the report the replay gives: built from
  the replayed evaluation by the cohort's own code (:func:`guidelinekg.report.patient.build_reports`) and
  written as the cohort writes it (``json.dumps(report, ensure_ascii=False, sort_keys=True)``). No field is
  ignored: a cohort line holds nothing that legitimately differs between the run and its replay (the
  ``provenance.file`` of a ``recommend --provenance`` report, a path, is not in cohort lines). A line that
  differs fails ``results-differ`` naming the patient and the fields; so does a patient of a run without
  a line, with two, or a line naming a patient its run does not record. The order of the lines is not
  checked (each names its patient). A run that could not be replayed leaves its patients' lines
  unverified: ``results-not-verified``, a failure, like the missing replay itself.
* ``summary.csv``: recomputed from the replayed reports with the cohort's counts (:func:`summary_counts`,
  as :mod:`guidelinekg.report.summary` counts them for the cohort) and CSV writing, its ``bad_records`` row from
  ``bad-records.jsonl`` (the bad records themselves are not in the provenance, so only their number is
  checked); compared byte for byte: ``summary-differs``, or ``summary-not-verified`` when a run could not
  be replayed (or ``bad-records.jsonl`` is missing).
* the runs themselves: a run graph removed (its patients' results then rest on nothing) fails
  ``runs-missing``; a line naming a run the provenance does not hold, or a run no line names, fails
  ``results-not-recorded``.
* ``manifest.json`` and ``run.json`` (:mod:`guidelinekg.audit.runrecord`): required, and what they state
  (as-of date, patients found, evaluated and set aside, bad records, content and rule hashes) against the
  runs and the other files: ``manifest-missing``, ``run-record-missing``, ``run-record-differs``, and
  ``runs-missing`` when the runs record fewer or more patients than the input held less those set aside.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from guidelinekg.audit.recorded import Finding, _local
from guidelinekg.audit.runrecord import BadRecords, check_records, is_cohort_directory, missing_records
from guidelinekg.audit.shown import shown_pair
from guidelinekg.audit.verdicts import RunAudit
from guidelinekg.report.summary import summary_counts, summary_csv  # noqa: F401  (used and re-exported)
from guidelinekg.provenance.inputs import COHORT_PROVENANCE, provenance_file


@dataclass(frozen=True)
class Replayed:
    """The replay's report of each patient of a run, as the cohort writes it (a JSON line without its
    newline), and the ``summary.csv`` counts of those reports."""

    texts: dict[str, str]
    counts: tuple[tuple[str, str, int], ...]


@dataclass(frozen=True)
class _Line:
    number: int
    text: str
    report: dict


def _differences(replayed, given, path: str = "") -> list[str]:
    """Where two JSON values differ, as field paths (list items named by their ``iri`` where they have
    one); types count (1000 is not 1000.0)."""
    if isinstance(replayed, dict) and isinstance(given, dict):
        return [d for key in sorted(replayed.keys() | given.keys(), key=str)
                for d in _differences(replayed.get(key, _ABSENT), given.get(key, _ABSENT),
                                      f"{path}.{key}" if path else str(key))]
    if isinstance(replayed, list) and isinstance(given, list):
        if len(replayed) != len(given):
            return [f"{path} ({len(given)} item(s) in the file, {len(replayed)} in the replay)"]
        return [d for i, (a, b) in enumerate(zip(replayed, given))
                for d in _differences(a, b, f"{path}[{_local(a.get('iri')) if isinstance(a, dict) and 'iri' in a else i}]")]
    if type(replayed) is not type(given) or replayed != given:
        shown = shown_pair(given, replayed, sort_keys=False, absent=_ABSENT)
        return [f"{path} (file {shown[0]}, replay {shown[1]})"]
    return []


_ABSENT = object()


def _run_of(report: dict) -> str | None:
    """The run a report names (``provenance.run``), if it names one."""
    provenance = report.get("provenance")
    run = provenance.get("run") if isinstance(provenance, dict) else None
    return run if isinstance(run, str) else None


class CohortOutputs:
    """``results.jsonl`` and ``summary.csv`` of a cohort ``--out`` directory, checked run by run."""

    def __init__(self, results: Path, provenance: Path | None = None):
        self.results = results
        self.directory = results.parent
        self.provenance = provenance or self.directory / COHORT_PROVENANCE[0]
        self._stream = results.open("rb")
        self._number = 0
        self._pending: dict[str, list[_Line]] = {}
        self._named: Counter = Counter()
        self._unreadable = 0
        self._problems: list[Finding] = []
        self._counts: Counter = Counter()
        self._unverified = 0
        self._checked: dict[str, int] = {}  # patient -> results line of its run's report (0: none)
        first = self._read()
        guideline = first.report.get("guideline") if first else None
        version = guideline.get("version_iri") if isinstance(guideline, dict) else None
        self.version_iri = version if isinstance(version, str) else None  # the guideline version reported

    @classmethod
    def open(cls, path: Path) -> CohortOutputs | None:
        """The outputs next to a cohort's ``provenance.trig.gz`` (or in its directory); None for other files."""
        path = provenance_file(path)
        results = path.parent / "results.jsonl"
        return cls(results, path) if path.name in COHORT_PROVENANCE and results.is_file() else None

    def close(self) -> None:
        self._stream.close()

    def _read(self) -> _Line | None:
        """The next readable line (kept until its run comes), or None at the end."""
        for raw in self._stream:
            self._number += 1
            problem = None
            try:
                report = json.loads(raw.decode("utf-8"))
                if not isinstance(report, dict) or not isinstance(report.get("patient"), str):
                    problem = "is not a patient's report (a JSON object with a 'patient')"
            except UnicodeDecodeError:
                problem = "is not UTF-8"
            except (ValueError, RecursionError):
                problem = "is not JSON"
            if problem:
                self._unreadable += 1
                self._problems.append(Finding("failure", "results-differ", f"{self.results.name} line {self._number} {problem}"))
                continue
            line = _Line(self._number, raw.decode("utf-8").rstrip("\n"), report)
            self._named[_run_of(report)] += 1
            self._pending.setdefault(report["patient"], []).append(line)
            return line
        return None

    def check_run(self, audit: RunAudit, replayed: Replayed | None, why: str | None = None) -> RunAudit:
        """The run's patients' lines against the replay's reports (None: not replayed, ``why``)."""
        missing = {p for p in audit.patients if p not in self._pending}
        while missing and (line := self._read()) is not None:
            missing.discard(line.report["patient"])
        findings: list[Finding] = []
        if replayed is not None:
            self._counts.update({(kind, item): n for kind, item, n in replayed.counts})
        for patient in audit.patients:
            lines = self._pending.pop(patient, [])
            self._checked[patient] = lines[0].number if lines else 0
            if replayed is None:
                continue
            expected = replayed.texts.get(patient)
            if expected is None:
                findings.append(Finding("failure", "results-differ", "the replay gives no report for this patient", patient))
                continue
            if not lines:
                findings.append(Finding("failure", "results-differ", f"no line of {self.results.name} is this "
                                        "patient's report", patient))
            elif len(lines) > 1:
                findings.append(Finding("failure", "results-differ", f"{len(lines)} lines of {self.results.name} "
                                        f"are this patient's report (lines {', '.join(str(x.number) for x in lines)})", patient))
            for line in lines:
                if line.text != expected:
                    fields = _differences(json.loads(expected), line.report)
                    what = (f"at {'; '.join(fields[:3])}" + (f" and {len(fields) - 3} more field(s)" if len(fields) > 3 else "")
                            if fields else "in its formatting (key order, spacing or escapes), not its content")
                    findings.append(Finding("failure", "results-differ", f"{self.results.name} line {line.number} "
                                            f"differs from the replay {what}", patient))
        checks = dict(audit.checks)
        if replayed is None:
            self._unverified += len(audit.patients)
            checks["results"] = "not verified"
            findings.append(Finding("failure", "results-not-verified", f"the {len(audit.patients)} patient(s)' lines "
                                    f"of {self.results.name} cannot be checked: {why or 'the run was not replayed'}",
                                    audit.run))
        else:
            checks["results"] = "differ" if findings else "same"
        return replace(audit, checks=checks, findings=audit.findings + tuple(findings))

    def finish(self, runs: tuple[RunAudit, ...], shapes_sha256: str | None = None) -> tuple[Finding, ...]:
        """What is left: lines of no audited run, runs no line names, ``summary.csv``, and the run's
        ``manifest.json`` and ``run.json`` (``shapes_sha256``: the patient shapes the replay used)."""
        while self._read() is not None:
            pass
        audited = {r.run: len(r.patients) for r in runs}
        findings = list(self._problems)
        for patient, lines in sorted(self._pending.items()):
            for line in lines:
                run = _run_of(line.report)
                if patient in self._checked:
                    first = self._checked[patient]
                    findings.append(Finding("failure", "results-differ", f"{self.results.name} line {line.number} "
                                            "is another report of this patient" + (f" (line {first} is the one "
                                            "checked against the replay)" if first else ""), patient))
                elif run in audited:
                    findings.append(Finding("failure", "results-differ", f"{self.results.name} line {line.number} "
                                            f"is a report of a patient that run {run} does not record", patient))
        lines = sum(self._named.values()) + self._unreadable
        if lines != sum(audited.values()):
            findings.append(Finding("failure", "runs-missing", f"{self.results.name} holds {lines} patients' "
                                    f"results, the provenance records {sum(audited.values())}: run graphs were "
                                    "removed or added", None))
        for run in sorted(set(self._named) ^ set(audited), key=str):
            if run is None:
                findings.append(Finding("failure", "results-not-recorded", f"{self._named[None]} line(s) of "
                                        f"{self.results.name} name no run (provenance.run)"))
                continue
            where = "the provenance does not record" if run in self._named else f"no result in {self.results.name} names"
            findings.append(Finding("failure", "results-not-recorded", f"{where} run {run}", run))
        bad = BadRecords.read(self.directory)
        return tuple(findings) + check_records(self.directory, self.provenance, runs, bad, shapes_sha256) + \
            self._summary(bad)

    def _summary(self, records: BadRecords) -> tuple[Finding, ...]:
        summary, bad = self.directory / "summary.csv", self.directory / "bad-records.jsonl"
        if self._unverified:
            return (Finding("failure", "summary-not-verified", f"{summary.name} cannot be checked: "
                            f"{self._unverified} patient(s) of runs that were not replayed"),)
        notes = []
        bad_records = len(records.lines) if records.lines is not None else None
        if bad_records is None:
            notes.append(Finding("failure", "summary-not-verified", f"{bad.name} is missing, so the bad_records row "
                                 f"of {summary.name} cannot be checked"))
        expected = summary_csv(self._counts, bad_records)
        if not summary.is_file():
            return (*notes, Finding("failure", "summary-differs", f"{summary.name} is missing"))
        given = summary.read_bytes().decode("utf-8", errors="replace")
        if bad_records is None:  # compare the other rows
            given = "".join(line for line in given.splitlines(keepends=True) if not line.startswith("bad_records,"))
        if given == expected:
            return tuple(notes)
        rows = {tuple(r[:2]): r[2:] for r in csv.reader(io.StringIO(given)) if r}
        want = {tuple(r[:2]): r[2:] for r in csv.reader(io.StringIO(expected)) if r}
        diff = [f"{','.join(k)}: file {','.join(rows.get(k, ['(none)']))}, replay {','.join(want.get(k, ['(none)']))}"
                for k in sorted(rows.keys() | want.keys()) if rows.get(k) != want.get(k)]
        what = "; ".join(diff[:3]) + (f" and {len(diff) - 3} more row(s)" if len(diff) > 3 else "") if diff else \
            "the same rows in another order or formatting"
        return (*notes, Finding("failure", "summary-differs", f"{summary.name} is not what the replayed results give: {what}"))


def missing_outputs(path: Path) -> tuple[Finding, ...]:
    """A cohort directory (:func:`is_cohort_directory`) without ``results.jsonl``: what clinicians read
    cannot be checked, and ``summary.csv`` rests on nothing checked; and its manifest and run record."""
    path = provenance_file(path)
    if not is_cohort_directory(path):
        return ()
    findings = missing_records(path.parent)
    if not (path.parent / "results.jsonl").is_file():
        findings = (Finding("failure", "results-not-verified", f"results.jsonl is missing from {path.parent}, so "
                            "neither it nor summary.csv can be checked against the replay"),) + findings
    return findings
