"""guidelinekg audit of a cohort directory: every file ``cohort`` writes is required, and what
``manifest.json`` and ``run.json`` state is checked against the provenance and the other files.

One synthetic cohort (60 patients in chunks of 20, made with the CLI by test_audit_cohort's fixture);
each test tampers with a copy.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pyoxigraph as ox
import pytest

from guidelinekg.audit.cohort import summary_counts, summary_csv
from guidelinekg.cli import main
from test_audit_cohort import _audit, _failures, _findings, _lines, _write, cohort, out  # noqa: F401  (fixtures)


def _messages(report: dict, code: str) -> str:
    return " | ".join(f["message"] for f in _findings(report, code))


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def _hide_last_chunk(out: Path) -> int:
    """The attack: the last run graph removed from provenance.trig.gz (as text, the layout kept), its
    patients' lines from results.jsonl, and summary.csv recomputed with the project's own functions."""
    path = out / "provenance.trig.gz"
    text = gzip.decompress(path.read_bytes()).decode()
    graphs = re.findall(r"(<urn:guidelinekg:run:[0-9a-f]+> \{\n.*?\n\}\n)", text, flags=re.S)
    assert len(graphs) > 1 and "".join(graphs) == text
    path.write_bytes(gzip.compress("".join(graphs[:-1]).encode()))
    run = re.match(r"<(urn:guidelinekg:run:[0-9a-f]+)>", graphs[-1]).group(1)
    kept = [r for r in _lines(out) if r["provenance"]["run"] != run]
    _write(out, kept)
    bad = len((out / "bad-records.jsonl").read_text(encoding="utf-8").splitlines())
    (out / "summary.csv").write_text(summary_csv(Counter({(k, i): n for k, i, n in summary_counts(kept)}), bad),
                                     encoding="utf-8")
    return len(kept)


# --- untouched ---------------------------------------------------------------------------------------------


def test_the_untouched_cohort_audits_clean(out, capsys):
    assert {"manifest.json", "run.json", "summary.csv", "bad-records.jsonl", "results.jsonl",
            "provenance.trig.gz"} <= {p.name for p in out.iterdir()}
    code, report = _audit(capsys, out)
    assert code == 0, _failures(report)
    assert not {"manifest-missing", "run-record-missing", "run-record-differs"} & {
        f["code"] for f in report["notes"]}


def test_the_provenance_file_alone_is_not_a_cohort_directory(out, tmp_path, capsys):
    """A provenance.trig.gz copied out alone makes no claim about the cohort: nothing is missing."""
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(out / "provenance.trig.gz", alone)
    code, report = _audit(capsys, alone)
    assert code == 0, _failures(report)


# --- files missing -----------------------------------------------------------------------------------------


def test_a_chunk_hidden_with_the_manifest_deleted_is_caught(out, capsys):
    kept = _hide_last_chunk(out)
    (out / "manifest.json").unlink()
    code, report = _audit(capsys, out)
    assert code == 1
    assert {"manifest-missing", "run-record-differs"} <= _failures(report)
    assert "manifest.json is missing" in _messages(report, "manifest-missing")
    assert f"run.json patients says 60, the provenance records {kept}" in _messages(report, "run-record-differs")
    # run.json deleted too: both records are missing, and say so
    (out / "run.json").unlink()
    code, report = _audit(capsys, out)
    assert code == 1 and {"manifest-missing", "run-record-missing"} <= _failures(report)


def test_a_chunk_hidden_with_the_manifest_kept_is_caught(out, capsys):
    _hide_last_chunk(out)
    code, report = _audit(capsys, out)
    assert code == 1 and {"runs-missing", "run-record-differs"} <= _failures(report)
    assert "the input held 60 patients" in _messages(report, "runs-missing")


@pytest.mark.parametrize("name, code", [("manifest.json", "manifest-missing"), ("run.json", "run-record-missing")])
def test_each_record_missing_or_unreadable_is_a_failure(out, capsys, name, code):
    (out / name).unlink()
    status, report = _audit(capsys, out)
    assert status == 1 and _failures(report) == {code}
    assert f"{name} is missing" in _messages(report, code)
    (out / name).write_text("{not json", encoding="utf-8")
    status, report = _audit(capsys, out)
    assert status == 1 and code in _failures(report) and "not JSON" in _messages(report, code)


def test_results_and_manifest_missing_are_both_failures(out, capsys):
    (out / "results.jsonl").unlink()
    (out / "manifest.json").unlink()
    code, report = _audit(capsys, out)
    assert code == 1 and {"results-not-verified", "manifest-missing"} <= _failures(report)


# --- what the records state ----------------------------------------------------------------------------------


def test_the_attackers_run_json_and_manifest_edits_are_caught(out, capsys):
    def run_json(data):
        data.update(patients=6000, as_of="2027-01-01", bad_records=0)

    _edit_json(out / "run.json", run_json)
    _edit_json(out / "manifest.json", lambda m: m["key"].update(as_of="2027-01-01"))
    code, report = _audit(capsys, out)
    assert code == 1 and _failures(report) == {"run-record-differs"}
    messages = _messages(report, "run-record-differs")
    bad = len((out / "bad-records.jsonl").read_text(encoding="utf-8").splitlines())
    assert bad > 0
    for expected in ('manifest.json key.as_of says "2027-01-01", the runs record as-of date "2026-01-15"',
                     'run.json as_of says "2027-01-01", the runs record as-of date "2026-01-15"',
                     "run.json patients says 6000, the provenance records 60",
                     f"run.json bad_records says 0, bad-records.jsonl holds {bad}"):
        assert expected in messages, messages


@pytest.mark.parametrize("field, value, expected", [
    ("patients_found", 59, "run.json patients_found says 59, manifest.json partition.patients is 60"),
    ("patients_set_aside", 3, "run.json patients_set_aside says 3"),
    ("patients_unaccounted", 2, "run.json patients_unaccounted says 2"),
    ("input_kind", "bundles", 'run.json input_kind says "bundles", manifest.json partition.kind is "ndjson"'),
    ("chunks", 2, "run.json chunks says 2, the chunks manifest.json lists are 3"),
    ("patients", "60", 'run.json patients says "60", the provenance records 60'),
    ("patients_missing", ["urn:guidelinekg:Patient/pt0000000"], "run.json patients_missing names patients"),
    ("as_of", None, "run.json as_of says (absent)"),
])
def test_each_run_json_field_is_checked(out, capsys, field, value, expected):
    _edit_json(out / "run.json", lambda d: d.pop(field) if value is None else d.update({field: value}))
    code, report = _audit(capsys, out)
    assert code == 1 and _failures(report) == {"run-record-differs"}
    assert expected in _messages(report, "run-record-differs")


@pytest.mark.parametrize("field", ["content_sha256", "rules_sha256", "software"])
def test_the_manifests_hashes_and_software_are_checked(out, capsys, field):
    recorded = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["key"][field]
    _edit_json(out / "manifest.json", lambda m: m["key"].update({field: "0" * 64 if "sha" in field else "9.9"}))
    code, report = _audit(capsys, out)
    assert code == 1 and _failures(report) == {"run-record-differs"}
    message = _messages(report, "run-record-differs")
    assert f"manifest.json key.{field} says" in message and recorded in message


def test_bad_records_removed_from_both_files_and_run_json_are_caught(out, capsys):
    """A bad record deleted from bad-records.jsonl and bad-records.prepare.jsonl, run.json and summary.csv
    made to agree: the manifest still counts it."""
    for name in ("bad-records.jsonl", "bad-records.prepare.jsonl"):
        lines = (out / name).read_text(encoding="utf-8").splitlines(keepends=True)
        (out / name).write_text("".join(lines[1:]), encoding="utf-8")
    left = len((out / "bad-records.jsonl").read_text(encoding="utf-8").splitlines())
    _edit_json(out / "run.json", lambda d: d.update(bad_records=left))
    summary = (out / "summary.csv").read_text(encoding="utf-8")
    (out / "summary.csv").write_text(re.sub(r"(?m)^bad_records,(.*),\d+$", rf"bad_records,\g<1>,{left}", summary),
                                     encoding="utf-8")
    code, report = _audit(capsys, out)
    assert code == 1 and _failures(report) == {"run-record-differs"}, _failures(report)
    assert f"manifest.json partition.bad_records says {left + 1}, bad-records.prepare.jsonl holds {left}" in \
        _messages(report, "run-record-differs")


def test_the_hashes_are_read_from_provenance_in_another_layout(out, capsys):
    """The same graphs written by another TriG writer: the content and rule hashes are read by the parser."""
    path = out / "provenance.trig.gz"
    quads = list(ox.parse(gzip.decompress(path.read_bytes()), format=ox.RdfFormat.TRIG))
    path.write_bytes(gzip.compress(ox.serialize(quads, format=ox.RdfFormat.TRIG,
                                                prefixes={"gkg": "https://w3id.org/guidelinekg/ontology#"})))
    code, report = _audit(capsys, out)
    assert code == 0, _failures(report)
    _edit_json(out / "manifest.json", lambda m: m["key"].update(content_sha256="0" * 64))
    code, report = _audit(capsys, out)
    assert code == 1 and "manifest.json key.content_sha256" in _messages(report, "run-record-differs")


def test_the_text_report_names_the_new_failures(out, capsys):
    (out / "manifest.json").unlink()
    capsys.readouterr()
    assert main(["audit", str(out), "--allow-unapproved"]) == 1
    text = capsys.readouterr().out
    assert "FAIL manifest-missing" in text and "Traceback" not in text
