"""guidelinekg audit of a cohort: results.jsonl and summary.csv against the replay; the fast path and the
exact path agree; workers and the progress bar.

One synthetic cohort (bench/gen_cohort.py, 60 patients in chunks of 20) is made once per module; each
test audits a copy with one thing changed, as a clinician's or a downstream tool's file would be.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyoxigraph as ox
import pytest

from guidelinekg.audit.auditor import Auditor
from guidelinekg.cli import main
from guidelinekg.commands.audit import json_text, to_json
from guidelinekg.content.resources import project_home

ROOT = project_home()


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("cohort")
    subprocess.run([sys.executable, str(ROOT / "bench" / "gen_cohort.py"), str(base / "in"), "--patients", "60",
                    "--seed", "7"], check=True, capture_output=True)
    assert main(["cohort", str(base / "in"), "--out", str(base / "out"), "--as-of", "2026-01-15",
                 "--chunk-size", "20", "--no-progress"]) == 0
    return base / "out"


@pytest.fixture
def out(cohort, tmp_path, capsys) -> Path:
    capsys.readouterr()
    copy = tmp_path / "out"
    shutil.copytree(cohort, copy, ignore=shutil.ignore_patterns("work", "chunks"))
    return copy


def _audit(capsys, path: Path, *args: str) -> tuple[int, dict]:
    code = main(["audit", str(path), "--format", "json", "--allow-unapproved", *args])
    return code, json.loads(capsys.readouterr().out)


def _findings(report: dict, code: str) -> list[dict]:
    return [f for f in [f for r in report["runs"] for f in r["findings"]] + report["notes"] if f["code"] == code]


def _failures(report: dict) -> set[str]:
    return {f["code"] for f in [f for r in report["runs"] for f in r["findings"]] + report["notes"]
            if f["severity"] == "failure"}


def _lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]


def _write(out: Path, reports: list[dict]) -> None:
    (out / "results.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in reports), encoding="utf-8")


def _edit(out: Path, change) -> str:
    """Apply ``change(report)`` to the first line it changes (returning True); the patient changed."""
    reports = _lines(out)
    for report in reports:
        if change(report):
            _write(out, reports)
            return report["patient"]
    raise AssertionError("no line to change")


# --- untouched ---------------------------------------------------------------------------------------------


def test_an_untouched_cohort_audits_clean_with_its_results_and_summary(out, capsys):
    code, report = _audit(capsys, out)
    assert code == 0, _failures(report)
    assert len(report["runs"]) >= 3
    assert {r["checks"]["results"] for r in report["runs"]} == {"same"}
    assert report["checks"] == {"summary": "ok", "records": "ok"}
    assert main(["audit", str(out), "--allow-unapproved"]) == 0
    text = capsys.readouterr().out
    assert "ok   run" in text
    # summary.csv, manifest.json and run.json are checked once for all runs: an ok line each, as every
    # check of a run has (summary.csv had none)
    assert "\nok   summary.csv counts are what the replayed results give\n" in text
    assert "\nok   manifest.json and run.json agree with the runs\n" in text


# --- results.jsonl -----------------------------------------------------------------------------------------


def test_a_dose_changed_from_1000_to_2000_mg_is_caught(out, capsys):
    def double(report):
        for rec in report["recommendations"]:
            if rec["dose"] and rec["dose"]["value"] == 1000:
                rec["dose"]["value"] = 2000
                return True
        return False

    patient = _edit(out, double)
    code, report = _audit(capsys, out)
    assert code == 1
    (finding,) = _findings(report, "results-differ")
    assert finding["subject"] == patient
    assert ".dose.value (file 2000, replay 1000)" in finding["message"]
    assert "summary-differs" not in _failures(report)  # the counts do not see a dose


def test_a_changed_strength_is_caught(out, capsys):
    def weaken(report):
        for rec in report["recommendations"]:
            if rec["strength"] == "strong":
                rec["strength"] = "conditional"
                return True
        return False

    patient = _edit(out, weaken)
    code, report = _audit(capsys, out)
    (finding,) = _findings(report, "results-differ")
    assert code == 1 and finding["subject"] == patient
    assert '.strength (file "conditional", replay "strong")' in finding["message"]


def _shown_values(message: str) -> tuple[str, str]:
    match = re.search(r"\(file (.*), replay (.*)\)$", message)
    assert match, message
    return match.group(1), match.group(2)


@pytest.mark.parametrize("field", ["iri", "longest text"])
def test_a_value_changed_near_its_end_shows_where_it_differs(out, capsys, field):
    """A long IRI (or text) changed in its last character: both values are shown up to and past the
    character that differs, not cut before it so that they read the same."""
    changed = {}

    def retail(report):
        recs = [r for r in report["recommendations"]]
        if not recs:
            return False
        rec = max(recs, key=lambda r: len(r["iri"]))
        name = "iri" if field == "iri" else max((k for k, v in rec.items() if isinstance(v, str)),
                                               key=lambda k: len(rec[k]))
        old = rec[name]
        if field == "iri" and len(old) < 62 or field != "iri" and len(old) < 100:
            return False  # a value the old 60-character cut would not hide
        rec[name] = old[:-1] + ("Z" if old[-1] != "Z" else "Y")
        changed.update(old=old, new=rec[name])
        return True

    _edit(out, retail)
    code, report = _audit(capsys, out)
    (finding,) = _findings(report, "results-differ")
    assert code == 1
    given, replayed = _shown_values(finding["message"])
    assert given != replayed, finding["message"]
    assert given.rstrip('"').endswith(changed["new"][-8:]) and replayed.rstrip('"').endswith(changed["old"][-8:])
    assert len(given) <= 90 and len(replayed) <= 90  # still bounded


def test_a_removed_recommendation_is_caught_in_the_results_and_the_summary(out, capsys):
    def drop(report):
        if report["recommendations"]:
            report["recommendations"].pop()
            return True
        return False

    patient = _edit(out, drop)
    code, report = _audit(capsys, out)
    (finding,) = _findings(report, "results-differ")
    assert code == 1 and finding["subject"] == patient and "item(s) in the file" in finding["message"]


def test_two_patients_results_swapped_are_caught(out, capsys):
    reports = _lines(out)
    a, b = [i for i, r in enumerate(reports) if r["recommendations"]][:2]
    pa, pb = reports[a]["patient"], reports[b]["patient"]
    reports[a], reports[b] = {**reports[b], "patient": pa}, {**reports[a], "patient": pb}
    _write(out, reports)
    code, report = _audit(capsys, out)
    assert code == 1
    assert {f["subject"] for f in _findings(report, "results-differ")} == {pa, pb}


def test_lines_in_another_order_are_not_a_difference(out, capsys):
    reports = _lines(out)
    _write(out, reports[::-1])
    code, report = _audit(capsys, out)
    assert code == 0, _failures(report)


@pytest.mark.parametrize("edit, expected", [
    ("duplicated", "another report of this patient"),
    ("removed", "no line of results.jsonl"),
    ("reformatted", "formatting"),
    ("not json", "is not JSON"),
    ("other patient", "does not record"),
])
def test_other_changes_to_results_lines_are_caught(out, capsys, edit, expected):
    text = (out / "results.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    first = json.loads(text[0])
    if edit == "duplicated":
        text.append(text[0])
    elif edit == "removed":
        del text[0]
    elif edit == "reformatted":
        text[0] = json.dumps(dict(reversed(first.items())), ensure_ascii=False) + "\n"  # keys not sorted
    elif edit == "not json":
        text[0] = text[0][: len(text[0]) // 2] + "\n"
    else:  # a line of a patient no run records, naming a recorded run
        text.append(json.dumps({**first, "patient": "urn:guidelinekg:Patient/nobody"}, sort_keys=True) + "\n")
    (out / "results.jsonl").write_text("".join(text), encoding="utf-8")
    code, report = _audit(capsys, out)
    assert code == 1
    messages = " ".join(f["message"] for f in _findings(report, "results-differ"))
    assert expected in messages, messages


# --- summary.csv -------------------------------------------------------------------------------------------


def _rows(out: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO((out / "summary.csv").read_text(encoding="utf-8"))))


def _write_rows(out: Path, rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    (out / "summary.csv").write_text(buffer.getvalue(), encoding="utf-8")


@pytest.mark.parametrize("edit", ["count", "row removed", "row added", "bad records", "spacing"])
def test_an_edited_summary_is_caught(out, capsys, edit):
    rows = _rows(out)
    if edit == "count":
        rows[1][2] = str(int(rows[1][2]) + 1)
    elif edit == "row removed":
        del rows[1]
    elif edit == "row added":
        rows.insert(1, ["warning", "made-up", "3"])
    elif edit == "bad records":
        rows[-1][2] = "0" if rows[-1][2] != "0" else "1"
    _write_rows(out, rows)
    if edit == "spacing":
        (out / "summary.csv").write_text((out / "summary.csv").read_text().replace(",", ", ", 1))
    code, report = _audit(capsys, out)
    assert code == 1
    (finding,) = _findings(report, "summary-differs")
    assert "summary.csv" in finding["message"]
    assert report["checks"] == {"summary": "differs", "records": "ok"}
    assert main(["audit", str(out), "--allow-unapproved"]) == 1
    assert "\nFAIL summary.csv counts are what the replayed results give: differs\n" in capsys.readouterr().out
    if edit == "count":
        assert f"{rows[1][0]},{rows[1][1]}: file {rows[1][2]}, replay {int(rows[1][2]) - 1}" in finding["message"]


def test_missing_summary_or_bad_records_file(out, capsys):
    (out / "bad-records.jsonl").unlink()
    code, report = _audit(capsys, out)
    assert code == 1 and _failures(report) == {"summary-not-verified"}
    assert report["checks"]["summary"] == "not verified"
    (out / "summary.csv").unlink()
    code, report = _audit(capsys, out)
    assert {"summary-differs", "summary-not-verified"} <= _failures(report)


def test_without_a_replay_results_and_summary_are_not_verified(out, capsys):
    """A rule hash edited in one run: that run cannot be replayed, so neither its patients' lines nor the
    summary can be checked, which is a failure like the missing replay itself."""
    path = out / "provenance.trig.gz"
    text = gzip.decompress(path.read_bytes()).decode()
    target = next(line for line in text.splitlines()
                  if line.startswith("<https://w3id.org/guidelinekg/rules/40-threshold-known> ") and "#sha256>" in line)
    forged = re.sub(r'"[0-9a-f]{64}"', '"' + "0" * 64 + '"', target)
    path.write_bytes(gzip.compress(text.replace(target, forged, 1).encode()))
    code, report = _audit(capsys, out)
    assert code == 1
    assert {"cannot-replay", "results-not-verified", "summary-not-verified"} <= _failures(report)
    (bad,) = [r for r in report["runs"] if r["checks"]["results"] == "not verified"]
    assert bad["checks"]["replay"] == "not run"


def test_the_summary_counts_are_the_cohorts_own(out):
    from guidelinekg.audit.cohort import summary_counts
    from guidelinekg.cohort.chunk import summary_counts as cohorts

    reports = _lines(out)
    assert summary_counts(reports) == cohorts(reports)


# --- fast and exact paths, workers, progress ----------------------------------------------------------------


def _report(path: Path, **settings) -> dict:
    report = to_json(Auditor(**settings).audit_file(path, allow_unapproved=True))
    for run in report["runs"]:
        run["findings"] = sorted(run["findings"], key=lambda f: json.dumps(f, sort_keys=True))
    report["notes"] = sorted(report["notes"], key=lambda f: json.dumps(f, sort_keys=True))
    return report


def _tamper_one_run(out: Path) -> None:
    """A patient fact's value changed in one run (its input hash, results and replay then disagree)."""
    path = out / "provenance.trig.gz"
    text = gzip.decompress(path.read_bytes()).decode()
    line = next(x for x in text.splitlines() if "#normalizedValue>" in x)
    path.write_bytes(gzip.compress(text.replace(line, line.replace('"', '"9', 1), 1).encode()))


def test_the_json_output_is_the_standard_librarys_indented_text(out):
    """``audit --format json`` writes with msgspec; a tampered cohort, so findings and notes are there too."""
    _tamper_one_run(out)
    report = Auditor().audit_file(out, allow_unapproved=True)
    assert report.runs and any(r.findings for r in report.runs)
    assert json_text(report) == json.dumps(to_json(report), indent=2, ensure_ascii=False) + "\n"


def test_the_fast_path_and_the_exact_path_find_the_same(out):
    assert _report(out) == _report(out, fast=False)
    _tamper_one_run(out)
    tampered = _report(out)
    assert tampered == _report(out, fast=False)
    assert {"input-hash-mismatch", "replay-differs"} <= {f["code"] for r in tampered["runs"] for f in r["findings"]}


def test_an_untouched_cohort_takes_the_fast_path(out, monkeypatch):
    from guidelinekg.audit import auditor

    def no_exact_replay(*args, **kwargs):
        raise AssertionError("the exact replay ran")

    monkeypatch.setattr(auditor, "replay_run", no_exact_replay)
    assert Auditor().audit_file(out, allow_unapproved=True).exit_code == 0


def test_provenance_not_in_the_cohort_layout_is_read_the_general_way(out):
    """The same graphs written by another TriG writer (prefixes, abbreviations): the text reader steps
    aside and the findings are the same."""
    path = out / "provenance.trig.gz"
    before = _report(out)
    quads = list(ox.parse(gzip.decompress(path.read_bytes()), format=ox.RdfFormat.TRIG))
    path.write_bytes(gzip.compress(ox.serialize(quads, format=ox.RdfFormat.TRIG,
                                                prefixes={"gkg": "https://w3id.org/guidelinekg/ontology#"})))
    assert _report(out) == before


def test_two_workers_give_the_same_report(out):
    _tamper_one_run(out)
    assert _report(out, workers=2) == _report(out)


def test_progress_bar_on_request_only(out, capsys):
    assert main(["audit", str(out), "--allow-unapproved", "--progress"]) == 0
    assert "patient" in capsys.readouterr().err
    assert main(["audit", str(out), "--allow-unapproved", "--no-progress"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["audit", str(out), "--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err


def test_a_chunk_removed_from_provenance_results_and_summary_alike_is_caught(out, capsys):
    """A whole run graph removed, its patients' lines too and summary.csv recomputed: every file agrees
    with every other, but the partition found more patients than the runs record (manifest.json)."""
    from collections import Counter

    from guidelinekg.audit.cohort import summary_counts, summary_csv

    trig = out / "provenance.trig.gz"
    quads = list(ox.parse(gzip.decompress(trig.read_bytes()), format=ox.RdfFormat.TRIG))
    dropped = sorted({q.graph_name.value for q in quads if isinstance(q.graph_name, ox.NamedNode)})[0]
    trig.write_bytes(gzip.compress(ox.serialize([q for q in quads if q.graph_name.value != dropped],
                                                format=ox.RdfFormat.TRIG)))
    kept = [r for r in _lines(out) if r["provenance"]["run"] != dropped]
    assert len(kept) < len(_lines(out))
    _write(out, kept)
    bad = len((out / "bad-records.jsonl").read_text(encoding="utf-8").splitlines())
    counts = Counter({(k, i): n for k, i, n in summary_counts(kept)})
    (out / "summary.csv").write_text(summary_csv(counts, bad), encoding="utf-8")
    code, report = _audit(capsys, out)
    assert code == 1 and "runs-missing" in _failures(report), _failures(report)


def test_results_jsonl_deleted_is_a_failure_not_a_silent_pass(out, capsys):
    (out / "results.jsonl").unlink()
    code, report = _audit(capsys, out)
    assert code == 1 and "results-not-verified" in _failures(report)
