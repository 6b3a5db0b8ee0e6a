"""cohort on Bulk Data exports as servers write them (#15): resources of one type split over several files
(``Patient.ndjson`` and ``Patient_2.ndjson``, ``Patient.000.ndjson``, ``Patient-1.ndjson``,
``1.Patient.ndjson``, gzip'd or not), files that mix types or name another type, the ``$export`` manifest
(absolute and relative urls, counts, error files, a missing or unlisted file, a malformed manifest), and
Synthea's ``hospitalInformation``/``practitionerInformation`` bundles beside the patient bundles.

Each split or reordered export must give the unsplit export's results (every patient found and evaluated);
each manifest problem is a warning or an exit 2 naming the file and the place, never a silent loss.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.cli import main as cli_main
from guidelinekg.cohort.run import CohortOptions, run_cohort
from guidelinekg.content.resources import project_home
from guidelinekg.patients.model import MAY_LACK

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import gen_cohort  # noqa: E402

BULK = Path(__file__).parent / "fixtures" / "cohort" / "bulk"
AS_OF = "2026-01-15"
EXAMPLE = project_home() / "examples" / "patient-ferritin-45.json"
HOST = "https://ehr.example.org/bulk/7f3a"


def run(source: Path, out: Path, chunk_size: int = 2) -> dict:
    return run_cohort(CohortOptions(source=source, out=out, as_of=date.fromisoformat(AS_OF), progress=False,
                                    chunk_size=chunk_size))


def cli(source: Path, out: Path, capsys) -> tuple[int, dict | None, str]:
    code = cli_main(["cohort", str(source), "--out", str(out), "--chunk-size", "2", "--as-of", AS_OF,
                     "--no-progress"])
    stdout, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, json.loads(stdout) if stdout.strip() else None, err


def bad_records(out: Path) -> list[tuple[str, int | None, str]]:
    lines = (out / "bad-records.jsonl").read_text(encoding="utf-8").splitlines()
    return [(b["file"], b["line"], b["reason"]) for b in map(json.loads, lines)]


def results(out: Path) -> dict[str, dict]:
    """Each patient's report without its provenance (the run IRI names the chunk's patients and lines)."""
    reports = map(json.loads, (out / "results.jsonl").read_text(encoding="utf-8").splitlines())
    return {r["patient"]: {k: v for k, v in r.items() if k != "provenance"} for r in reports}


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    """The unsplit fixture export's run, to compare with."""
    out = tmp_path_factory.mktemp("clean") / "out"
    run(BULK, out)
    return out


def copy_export(tmp_path: Path) -> Path:
    source = tmp_path / "export"
    shutil.copytree(BULK, source)
    return source


def write(path: Path, lines: list[str]) -> None:
    data = "".join(lines).encode("utf-8")
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)


def split(source: Path, kind: str, names: tuple[str, str], gz: bool = False) -> list[Path]:
    """Split ``KIND.ndjson`` into two files (the first half, then the rest), in line order."""
    lines = (source / f"{kind}.ndjson").read_text(encoding="utf-8").splitlines(keepends=True)
    (source / f"{kind}.ndjson").unlink()
    half = (len(lines) + 1) // 2
    paths = [source / (name.replace("Patient", kind) + (".gz" if gz else "")) for name in names]
    write(paths[0], lines[:half])
    write(paths[1], lines[half:])
    return paths


# The names servers and clients give the files of a split export.
NAMINGS = {
    "underscore": ("Patient.ndjson", "Patient_2.ndjson"),
    "dotted-index": ("Patient.000.ndjson", "Patient.001.ndjson"),
    "dash-index": ("Patient-1.ndjson", "Patient-2.ndjson"),
    "numbered-prefix": ("1.Patient.ndjson", "2.Patient.ndjson"),
}


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("naming", list(NAMINGS))
def test_split_files_in_every_naming_give_the_unsplit_results(clean, tmp_path, naming, gz):
    """Before #15 only ``Patient.ndjson`` was read as patients: ``Patient_2.ndjson``'s patients became bad
    records ("Patient without a subject") and their records "unknown patient", with exit 0."""
    source = copy_export(tmp_path)
    split(source, "Patient", NAMINGS[naming], gz)
    first_observations, _ = split(source, "Observation", NAMINGS[naming], gz)
    out = tmp_path / "out"
    summary = run(source, out)
    assert (summary["patients_found"], summary["patients"], summary["patients_unaccounted"]) == (3, 3, 0)
    assert (out / "results.jsonl").read_bytes() == (clean / "results.jsonl").read_bytes()
    renamed = {"Observation.ndjson": first_observations.name}
    assert bad_records(out) == [(renamed.get(f, f), n, r) for f, n, r in bad_records(clean)]
    assert summary["ignored_files"] == ["README.md"] and summary["warnings"] == []


def test_forty_patients_in_two_patient_files_are_all_evaluated(tmp_path):
    """The issue's export: 40 patients, 20 in each of two Patient files."""
    whole = tmp_path / "whole"
    gen_cohort.generate(whole, 40, 15, bad_rate=0)
    source = tmp_path / "split"
    shutil.copytree(whole, source)
    lines = (source / "Patient.ndjson").read_text(encoding="utf-8").splitlines(keepends=True)
    write(source / "Patient.ndjson", lines[:20])
    write(source / "Patient_2.ndjson", lines[20:])
    expected = run(whole, tmp_path / "a", chunk_size=250)
    summary = run(source, tmp_path / "b", chunk_size=250)
    assert (summary["patients_found"], summary["patients"], summary["bad_records"]) == (40, 40, 0)
    assert (summary["patients"], summary["bad_records"]) == (expected["patients"], expected["bad_records"])
    assert (tmp_path / "b" / "results.jsonl").read_bytes() == (tmp_path / "a" / "results.jsonl").read_bytes()


def test_records_before_their_patient_and_files_mixing_types_lose_nothing(clean, tmp_path):
    """Patients are known before any record is routed, whatever the order: a file named for no type that
    holds every type (its Patients last), and a Patient line in a file named for another type."""
    source = tmp_path / "export"
    source.mkdir()
    text = {p.name: p.read_text(encoding="utf-8").splitlines(keepends=True) for p in BULK.glob("*.ndjson")}
    pa, pc, pb = text["Patient.ndjson"]
    write(source / "Encounter.ndjson", [*text["Encounter.ndjson"], pb])
    write(source / "export_1.ndjson", [*text["Observation.ndjson"], *text["Specimen.ndjson"],
                                       *text["MedicationStatement.ndjson"], *text["Medication.ndjson"],
                                       *text["Condition.ndjson"], pa, pc])
    out = tmp_path / "out"
    summary = run(source, out)
    assert (summary["patients_found"], summary["patients"], summary["patients_unaccounted"]) == (3, 3, 0)
    assert results(out) == results(clean)
    assert summary["skipped_types"] == {"Medication": 1}
    assert sorted(r for _, _, r in bad_records(out)) == sorted(r for _, _, r in bad_records(clean))
    assert ("export_1.ndjson", 11, "MedicationStatement refers to an unknown patient 'Patient/nobody'") \
        in bad_records(out)  # known only once every file is read; still with its file and line


def test_no_patient_resource_in_any_file_is_exit_2(tmp_path, capsys):
    source = copy_export(tmp_path)
    (source / "Patient.ndjson").unlink()
    code, _, err = cli(source, tmp_path / "out", capsys)
    assert code == 2 and "no Patient resource in any of the 6 file(s) read" in err


def test_a_file_both_plain_and_gzipped_is_exit_2(tmp_path, capsys):
    source = copy_export(tmp_path)
    write(source / "Patient.ndjson.gz", (source / "Patient.ndjson").read_text().splitlines(keepends=True))
    code, _, err = cli(source, tmp_path / "out", capsys)
    assert code == 2 and "both Patient.ndjson and Patient.ndjson.gz" in err


# --- the $export manifest ---------------------------------------------------------------------------------


def manifest_export(tmp_path: Path) -> tuple[Path, dict]:
    """The fixture export as a server delivers it: Patient split in two, Observation gzip'd after download
    (the manifest names ``Observation.ndjson``), urls absolute and relative, an error and a deleted file,
    and an NDJSON file the manifest does not list (its record would change ``pa``'s report if read)."""
    source = copy_export(tmp_path)
    split(source, "Patient", ("Patient_1.ndjson", "Patient_2.ndjson"))
    write(source / "Observation.ndjson.gz", (source / "Observation.ndjson").read_text().splitlines(keepends=True))
    (source / "Observation.ndjson").unlink()
    late = {"resourceType": "Observation", "id": "pa-late", "status": "final", "subject": {"reference": "Patient/pa"},
            "effectiveDateTime": "2026-01-12T08:00:00Z", "code": {"coding": [{"system": "http://loinc.org",
                                                                              "code": "2276-4"}]},
            "valueQuantity": {"value": 400, "unit": "ng/mL", "system": "http://unitsofmeasure.org", "code": "ng/mL"}}
    write(source / "Observation_2.ndjson", [json.dumps(late) + "\n"])
    # a server's note in its error file (information): no resource is said to be missing, so the records are
    # evaluated as complete (an issue of severity error: tests/test_incomplete_record.py)
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "informational",
                                                              "diagnostics": "no Procedure resources to export"}]}
    write(source / "OperationOutcome_1.ndjson", [json.dumps(outcome) + "\n"])
    write(source / "deleted_1.ndjson", [json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": "Observation/old"}}]}) + "\n"])
    counts = {"Condition": 4, "Encounter": 1, "Medication": 1, "MedicationStatement": 2, "Specimen": 1}
    manifest = {
        "transactionTime": "2026-01-15T06:00:00.000Z",
        "request": "https://ehr.example.org/fhir/Group/rls/$export",  # every type, since the start
        "requiresAccessToken": True,
        "output": [{"type": "Patient", "url": f"{HOST}/Patient_1.ndjson", "count": 2},
                   {"type": "Patient", "url": "Patient_2.ndjson", "count": 1},
                   {"type": "Observation", "url": f"{HOST}/Observation.ndjson?sig=abc", "count": 8},
                   *({"type": t, "url": f"./{t}.ndjson", "count": n} for t, n in counts.items())],
        "error": [{"type": "OperationOutcome", "url": f"{HOST}/OperationOutcome_1.ndjson"}],
        "deleted": [{"type": "Bundle", "url": f"{HOST}/deleted_1.ndjson"}],
    }
    (source / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return source, manifest


def test_a_manifest_names_the_files_to_read_whatever_their_urls(clean, tmp_path, capsys):
    source, _ = manifest_export(tmp_path)
    out = tmp_path / "out"
    code, summary, err = cli(source, out, capsys)
    assert code == 0
    assert (summary["patients_found"], summary["patients"]) == (3, 3)
    assert (out / "results.jsonl").read_bytes() == (clean / "results.jsonl").read_bytes()
    renamed = {"Observation.ndjson": "Observation.ndjson.gz"}
    assert bad_records(out) == [(renamed.get(f, f), n, r) for f, n, r in bad_records(clean)]
    assert summary["export_manifest"]["error_files"] == ["OperationOutcome_1.ndjson"]
    assert summary["export_manifest"]["deleted_files"] == ["deleted_1.ndjson"]
    assert summary["export_manifest"]["transactionTime"] == "2026-01-15T06:00:00.000Z"
    assert summary["ignored_files"] == ["Observation_2.ndjson", "README.md"]
    assert summary["warnings"] == [
        ("manifest.json: the error file(s) OperationOutcome_1.ndjson hold only the server's warnings or "
         "information (no issue of severity error or fatal): nothing is said to be missing"),
        "Observation_2.ndjson is not listed in manifest.json: not read"]
    assert err.splitlines() == [f"guidelinekg cohort: warning: {w}" for w in summary["warnings"]]
    assert summary["export_manifest"]["count_mismatches"] == []


def test_a_manifest_count_that_differs_from_the_lines_read_is_a_warning(clean, tmp_path, capsys):
    source, manifest = manifest_export(tmp_path)
    manifest["output"][1]["count"] = 2  # Patient_2.ndjson holds one patient
    manifest["error"] = []
    (source / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    code, summary, err = cli(source, tmp_path / "out", capsys)
    assert code == 0
    assert summary["export_manifest"]["count_mismatches"] == [{"file": "Patient_2.ndjson", "count": 2, "lines_read": 1}]
    assert "warning: Patient_2.ndjson: the manifest counts 2 resource(s), 1 line(s) were read" in err


@pytest.mark.parametrize("gone", ["Patient_2.ndjson", "Observation.ndjson.gz"])
def test_a_file_the_manifest_lists_that_is_missing_is_exit_2_naming_it(tmp_path, capsys, gone):
    source, _ = manifest_export(tmp_path)
    (source / gone).unlink()
    code, summary, err = cli(source, tmp_path / "out", capsys)
    assert code == 2 and summary is None
    listed = gone.removesuffix(".gz")
    index = 1 if listed.startswith("Patient") else 2
    lost = "its patients" if listed.startswith("Patient") else "its Observation resources"
    assert f"manifest.json:{6 + 5 * index}:5: $export manifest: output[{index}] lists {listed}, which is not in " \
        f"{source}: {lost} would be lost" in err
    assert not (tmp_path / "out" / "results.jsonl").exists()


@pytest.mark.parametrize(("text", "place", "message"), [
    ('{"output": [', "1:13", "not valid JSON"),
    ("[]", "1:1", "not a JSON object"),
    ('{"transactionTime": "2026-01-15T06:00:00Z"}', "1:1", "'output' must be an array of file items, and is missing"),
    ('{"output": {"type": "Patient"}}', "1:12", "'output' must be an array"),
    ('{"output": ["Patient.ndjson"]}', "1:13", "output[0] is not a file item"),
    ('{"output": [{"type": "Patient"}]}', "1:13", "output[0].url must be the file's URL or path"),
    ('{"output": [{"type": "Patient", "url": "https://ehr.example.org/bulk/"}]}', "1:40", "output[0].url"),
    ('{"output": [{"type": "Patient", "url": "Patient.ndjson", "count": "3"}]}', "1:67", "output[0].count"),
    ('{"output": [{"type": "Patient", "url": "Patient.ndjson", "count": 2.5}]}', "1:67", "output[0].count"),
    ('{"output": [{"type": 7, "url": "Patient.ndjson"}]}', "1:22", "output[0].type"),
    ('{"output": [{"url": "Patient.ndjson"}, {"url": "https://x.org/Patient.ndjson"}]}', "1:40",
     "output[1] names Patient.ndjson again"),
    ('{"output": [], "output": []}', "1:16", "duplicate key 'output'"),
    ('{"output": [{"url": "Patient.ndjson"}], "error": "none"}', "1:50", "'error' must be an array"),
])
def test_a_malformed_manifest_is_exit_2_with_its_line_and_column(tmp_path, capsys, text, place, message):
    source = copy_export(tmp_path)
    (source / "manifest.json").write_text(text, encoding="utf-8")
    code, _, err = cli(source, tmp_path / "out", capsys)
    assert code == 2
    assert f"manifest.json:{place}: $export manifest: " in err and message in err, err


def test_two_manifests_are_exit_2(tmp_path, capsys):
    source, _ = manifest_export(tmp_path)
    shutil.copy(source / "manifest.json", source / "export-manifest.json")
    code, _, err = cli(source, tmp_path / "out", capsys)
    assert code == 2 and "2 $export manifests (export-manifest.json, manifest.json)" in err


def test_a_patient_unaccounted_for_in_a_split_export_is_exit_1(tmp_path, capsys, monkeypatch):
    from guidelinekg.cohort import chunk

    source, _ = manifest_export(tmp_path)
    evaluate_group = chunk._evaluate_group

    def dropping(group, *args):
        lines, reports, trig = evaluate_group(group, *args)
        return [x for x in lines if not x[0].endswith("/pb")], reports, trig

    monkeypatch.setattr(chunk, "_evaluate_group", dropping)
    code, summary, err = cli(source, tmp_path / "out", capsys)
    assert code == 1 and summary["patients_found"] == 3 and summary["patients_unaccounted"] == 1
    assert "3 patient(s) found in the input, 2 evaluated" in err


# --- Medications, references as servers write them, what an export leaves out (#16) ------------------------


def _iron_record(kind: str, rid: str, subject: str, product: str) -> dict:
    """A record of ``kind`` naming its product only by reference, in force when the fixture's labs were drawn."""
    when = {"MedicationStatement": {"status": "active", "effectivePeriod": {"start": "2025-12-01T08:00:00Z"}},
            "MedicationRequest": {"status": "active", "intent": "order", "dosageInstruction": [{"timing": {"repeat": {
                "boundsPeriod": {"start": "2025-12-01T08:00:00Z", "end": "2026-03-01T08:00:00Z"}}}}]},
            "MedicationDispense": {"status": "completed", "whenHandedOver": "2025-12-20T08:00:00Z", "daysSupply": {
                "value": 90, "unit": "d", "system": "http://unitsofmeasure.org", "code": "d"}},
            "MedicationAdministration": {"status": "completed", "effectiveDateTime": "2026-01-07T10:00:00+01:00"}}
    return {"resourceType": kind, "id": rid, **when[kind], "medicationReference": {"reference": product},
            "subject": {"reference": subject}}


ORAL = {"resourceType": "Medication", "id": "fes-325", "code": {"coding": [
    {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "310325", "display": "ferrous sulfate 325 MG Oral Tablet"}]}}
IV = {"resourceType": "Medication", "id": "fcm", "code": {"coding": [
    {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1114181", "display": "ferric carboxymaltose"}]}}
UNUSED = {"resourceType": "Medication", "id": "unused", "code": {"text": "Sodium chloride 0.9%"}}


def _labs(pid: str, subject: str) -> list[dict]:
    """A ferritin of 45 ng/mL and a transferrin saturation of 18 % drawn on 2026-01-08, and RLS."""
    obs = [{"resourceType": "Observation", "id": f"{pid}-{code}", "status": "final", "subject": {"reference": subject},
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "effectiveDateTime": "2026-01-08T08:15:00+01:00",
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}
           for code, value, unit in (("2276-4", 45, "ng/mL"), ("2502-3", 18, "%"))]
    return [*obs, {"resourceType": "Condition", "id": f"{pid}-rls", "subject": {"reference": subject},
                   "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                                  "code": "active"}]},
                   "code": {"coding": [{"system": "http://snomed.info/sct", "code": "32914008"}]}}]


def write_export(source: Path, resources: list[dict], files: dict[str, str] | None = None) -> None:
    """NDJSON files by type (``files`` moves a type's lines into another file, appended after its own)."""
    source.mkdir(parents=True, exist_ok=True)
    by_file: dict[str, list[str]] = {}
    for r in sorted(resources, key=lambda r: (r["resourceType"] in (files or {}), r["resourceType"])):
        name = (files or {}).get(r["resourceType"], r["resourceType"]) + ".ndjson"
        by_file.setdefault(name, []).append(json.dumps(r) + "\n")
    for name, lines in by_file.items():
        write(source / name, lines)


def assert_as_recommend(kb, report: dict, resources: list[dict], tmp_path: Path) -> None:
    """The cohort's report of a patient is recommend's on a Bundle of the same resources."""
    from test_cohort import assert_same_as_recommend

    path = tmp_path / f"{report['patient'].rsplit('/', 1)[-1]}.json"
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                "entry": [{"resource": r} for r in resources]}), encoding="utf-8")
    assert_same_as_recommend(kb, report, path, date.fromisoformat(AS_OF))


def codes(report: dict) -> list[str]:
    return sorted(w["code"] for w in report["warnings"])


@pytest.mark.parametrize("order", ["own-file", "read-after-the-records"])
@pytest.mark.parametrize("kind", ["MedicationRequest", "MedicationStatement", "MedicationAdministration",
                                  "MedicationDispense"])
def test_a_medication_a_record_names_is_read_from_medication_ndjson(kb, tmp_path, kind, order):
    """Before #16 Medication.ndjson was counted and skipped: a record naming its product by reference lost it,
    so a patient on iron got iron recommended from unreliable labs and a false note `missing-product`. Each
    patient's Bundle now holds the Medications its records name (in each chunk that needs them, whether the
    Medication file is read before or after the records), as recommend reads them; a Medication the export
    does not hold still gives the note, and (its product unknown, perhaps iron) the labs may have been drawn
    on it: none is used (patients/gaps.py); one no record names is counted in skipped_types."""
    product = IV if kind == "MedicationAdministration" else ORAL
    patients = {pid: [{"resourceType": "Patient", "id": pid, "birthDate": "1968-04-12", "gender": "female"},
                      *_labs(pid, f"Patient/{pid}")] for pid in ("p1", "p2", "p3")}
    patients["p1"].append(_iron_record(kind, "p1-iron", "Patient/p1", f"Medication/{product['id']}"))
    patients["p2"].append(_iron_record(kind, "p2-iron", "Patient/p2", f"{HOST}/Medication/{product['id']}/_history/1"))
    patients["p3"].append(_iron_record(kind, "p3-iron", "Patient/p3", "Medication/not-exported"))
    source = tmp_path / "export"
    moved = {"Medication": "Observation"} if order == "read-after-the-records" else {}  # a file mixing types
    write_export(source, [*(r for rs in patients.values() for r in rs), product, UNUSED], moved)
    out = tmp_path / "out"
    summary = run(source, out)  # 2 per chunk: p1 and p2 share a chunk, p3 has its own
    assert (summary["patients_found"], summary["patients"], summary["bad_records"]) == (3, 3, 0)
    reports = results(out)
    for pid in ("p1", "p2"):
        report = reports[f"urn:guidelinekg:Patient/{pid}"]
        assert "lab-drawn-on-iron" in codes(report) and "missing-product" not in codes(report)
        assert report["recommendations"] == []
        assert_as_recommend(kb, report, [*patients[pid], product], tmp_path)
    orphan = reports["urn:guidelinekg:Patient/p3"]
    assert "missing-product" in codes(orphan) and orphan["recommendations"] == []
    assert "lab-drawn-on-iron" in codes(orphan)  # whether drawn on it is unknown: the tests are ordered
    assert_as_recommend(kb, orphan, patients["p3"], tmp_path)
    assert summary["skipped_types"] == {"Medication": 1}  # UNUSED


def test_a_medication_that_cannot_be_read_sets_aside_the_patients_naming_it(tmp_path):
    """A Medication with a key given twice: the patients whose records name it are set aside, with its line
    (evaluated without it, their iron would be missed); a patient not naming it is evaluated."""
    resources = [{"resourceType": "Patient", "id": pid, "gender": "female"} for pid in ("p1", "p2")]
    resources += [*_labs("p1", "Patient/p1"), *_labs("p2", "Patient/p2"),
                  _iron_record("MedicationStatement", "p1-iron", "Patient/p1", "Medication/fes-325")]
    source = tmp_path / "export"
    write_export(source, resources)
    write(source / "Medication.ndjson", [json.dumps(ORAL)[:-1] + ', "id": "fes-325"}\n'])
    out = tmp_path / "out"
    summary = run(source, out)
    assert (summary["patients_found"], summary["patients"], summary["patients_set_aside"]) == (2, 1, 1)
    assert summary["patients_unaccounted"] == 0
    [(file, line, reason)] = bad_records(out)
    assert (file, line) == ("Medication.ndjson", 1)
    assert reason.startswith("Patient/p1 not evaluated: one of its records cannot be read") and "duplicate key 'id'" in reason


def test_absolute_and_versioned_subject_references_find_their_patient(kb, tmp_path):
    """Epic writes ``subject.reference`` absolute: before #16 each such record was a bad record ("refers to an
    unknown patient") and the patient was evaluated without it. They are read as the Bundle reader reads them
    (the last two segments, a ``/_history/N`` left out), so the report is recommend's on a Bundle of them; a
    ``urn:uuid:`` reference, which only a Bundle's fullUrl resolves, and an absolute reference to a Patient not
    in the export are still bad records, quoted as written."""
    base = "https://fhir.hospital.example.org/api/FHIR/R4"
    pid = "p5-epic"
    labs = _labs(pid, f"{base}/Patient/{pid}")
    labs[1]["subject"]["reference"] = f"{base}/Patient/{pid}/_history/2"
    mine = [{"resourceType": "Patient", "id": pid, "birthDate": "1968-04-12", "gender": "female"}, *labs,
            _iron_record("MedicationAdministration", "p5-iv", f"{base}/Patient/{pid}", "Medication/fcm"), IV]
    stray = [_labs("x", f"{base}/Patient/elsewhere")[0], _labs("y", "urn:uuid:5e765f2b-e908-3888-9fc7-df2cb87beb58")[0]]
    source = tmp_path / "export"
    write_export(source, [*mine, *stray])
    out = tmp_path / "out"
    summary = run(source, out)
    assert (summary["patients_found"], summary["patients"]) == (1, 1)
    assert sorted(r for _, _, r in bad_records(out)) == [
        f"Observation refers to an unknown patient '{base}/Patient/elsewhere'",
        "Observation refers to an unknown patient 'urn:uuid:5e765f2b-e908-3888-9fc7-df2cb87beb58'"]
    report = results(out)[f"urn:guidelinekg:Patient/{pid}"]
    assert "lab-drawn-on-iron" in codes(report)
    assert_as_recommend(kb, report, mine, tmp_path)


def _manifest(source: Path, request: str) -> None:
    output = [{"type": p.name.split(".")[0], "url": f"{HOST}/{p.name}"} for p in sorted(source.glob("*.ndjson"))]
    (source / "manifest.json").write_text(json.dumps({"transactionTime": "2026-01-15T06:00:00Z", "request": request,
                                                      "requiresAccessToken": True, "output": output, "error": []}))


@pytest.mark.parametrize("scope", ["since", "types-left-out", "every-type-read", "no-scope"])
def test_an_incremental_or_type_limited_export_warns_in_the_summary_and_every_report(kb, tmp_path, capsys, scope):
    """An incremental export (``_since``) holds only what changed, and a ``_type`` list may leave out a type the
    guideline reads: before #16 each patient was evaluated as if the record were complete. The run warns, and
    so does each report (``export-incomplete``, like ``search-incomplete`` for a searchset cut short)."""
    from guidelinekg.cohort.exportscope import types_read

    read = types_read(kb)  # the types the shipped guideline reads (with its medications and measures)
    assert {"Medication", "MedicationStatement", "Specimen"} <= set(read)
    asked = ["Patient", "Observation", "Condition"] if scope == "types-left-out" else read
    query = {"since": "?_since=2026-01-01T00:00:00%2B01:00", "no-scope": ""}.get(scope, f"?_type={','.join(asked)}")
    source = tmp_path / "export"
    write_export(source, [{"resourceType": "Patient", "id": pid, "gender": "female"} for pid in ("p1", "p2", "p3")]
                 + _labs("p1", "Patient/p1"))
    _manifest(source, f"{HOST}/Patient/$export{query}")
    code, summary, err = cli(source, tmp_path / "out", capsys)
    assert code == 0
    notes = [[w["message"] for w in r["warnings"] if w["code"] == "export-incomplete"]
             for r in results(tmp_path / "out").values()]
    if scope == "since":
        warning = ("manifest.json: an incremental export (_since=2026-01-01T00:00:00+01:00): it holds only the "
                   "resources changed since then, so every patient's record is partial and decisions rest on part of "
                   "it; each report says so (export-incomplete). Evaluate a full export (without _since)")
        note = ("the export is incremental (_since=2026-01-01T00:00:00+01:00): it holds only what changed since "
                f"then, so {MAY_LACK}")
        assert (summary["warnings"], notes) == ([warning], [[note]] * 3)
    elif scope == "types-left-out":
        missing = ", ".join(t for t in read if t not in asked)
        assert missing.startswith("Specimen, Medication, MedicationAdministration, MedicationDispense, "
                                  "MedicationRequest, MedicationStatement")
        warning = (f"manifest.json: the export asked only for _type=Patient,Observation,Condition: {missing}, "
                   "which the guideline reads, are not in it, so every patient's record lacks them; each report "
                   "says so (export-incomplete)")
        note = (f"the export leaves out {missing} (_type=Patient,Observation,Condition), which the guideline reads, "
                f"so {MAY_LACK}")
        assert (summary["warnings"], notes) == ([warning], [[note]] * 3)
    else:
        assert summary["warnings"] == [] and notes == [[]] * 3
    assert err.splitlines() == [f"guidelinekg cohort: warning: {w}" for w in summary["warnings"]]


# --- Synthea's bundle directory ---------------------------------------------------------------------------


def _synthea_bundle(resources: list[dict]) -> str:
    return json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:{r['id']}", "resource": r, "request": {"method": "POST", "url": r["resourceType"]}}
        for r in resources]}, indent=2)


def _organization(uid: str, name: str) -> dict:
    return {"resourceType": "Organization", "id": uid, "active": True, "name": name,
            "identifier": [{"system": "https://github.com/synthetichealth/synthea", "value": uid}],
            "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type",
                                  "code": "prov", "display": "Healthcare Provider"}]}]}


def synthea_shared_bundles(directory: Path) -> list[str]:
    """Synthea's hospital and practitioner bundles (its ``exporter.fhir`` output beside the patients)."""
    org1, org2 = "5e765f2b-e908-3888-9fc7-df2cb87beb58", "a7d2f3c1-34b5-3f0e-8d44-4d3b8d9f0c11"
    hospital = [_organization(org1, "STURDY MEMORIAL HOSPITAL"), _organization(org2, "ATTLEBORO FAMILY PRACTICE"),
                {"resourceType": "Location", "id": "f1a2b3c4-0000-3000-8000-000000000001", "status": "active",
                 "name": "STURDY MEMORIAL HOSPITAL", "managingOrganization": {"reference": f"urn:uuid:{org1}"}}]
    practitioners = []
    for n, org in ((20, org1), (30, org2)):
        pid = f"00000173-bfbc-8987-0000-0000000000{n}"
        practitioners += [
            {"resourceType": "Practitioner", "id": pid, "active": True, "gender": "female",
             "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": str(n)}],
             "name": [{"family": "Kemmer137", "given": ["Xenia801"], "prefix": ["Dr."]}]},
            {"resourceType": "PractitionerRole", "id": f"{pid}-role", "practitioner": {"reference": f"urn:uuid:{pid}"},
             "organization": {"reference": f"urn:uuid:{org}"}}]
    names = ["hospitalInformation1596649672088.json", "practitionerInformation1596649672088.json"]
    (directory / names[0]).write_text(_synthea_bundle(hospital), encoding="utf-8")
    (directory / names[1]).write_text(_synthea_bundle(practitioners), encoding="utf-8")
    return names


def test_synthea_hospital_and_practitioner_bundles_are_counted_not_bad_records(tmp_path, capsys):
    alone = tmp_path / "patients"
    alone.mkdir()
    shutil.copy(EXAMPLE, alone / "Jane123_Doe456_0b8e7a35-6c1c-4f3c-9c4e-6a1d2f7e9b10.json")
    source = tmp_path / "synthea"
    shutil.copytree(alone, source)
    shared = synthea_shared_bundles(source)
    expected = run(alone, tmp_path / "a")
    code, summary, err = cli(source, tmp_path / "b", capsys)
    assert code == 0 and err == ""
    assert (summary["patients_found"], summary["patients"], summary["bad_records"]) == (1, 1, 0)
    assert summary["patients_set_aside"] == 0 and summary["ignored_files"] == []
    assert summary["skipped_types"] == {"Location": 1, "Organization": 2, "Practitioner": 2, "PractitionerRole": 2}
    assert summary["shared_bundles"] == shared
    assert expected["patients"] == 1
    assert results(tmp_path / "b") == results(tmp_path / "a")


def test_a_bundle_without_a_patient_holding_clinical_data_is_still_a_bad_record(tmp_path, capsys):
    """Only bundles of shared types are skipped: an Observation with no Patient is not quietly dropped."""
    source = tmp_path / "synthea"
    source.mkdir()
    shutil.copy(EXAMPLE, source / "a.json")
    synthea_shared_bundles(source)
    observation = {"resourceType": "Observation", "id": "o1", "status": "final",
                   "code": {"coding": [{"system": "http://loinc.org", "code": "2276-4"}]},
                   "valueQuantity": {"value": 40, "unit": "ng/mL"}}
    (source / "orphan.json").write_text(_synthea_bundle([observation]), encoding="utf-8")
    code, summary, _ = cli(source, tmp_path / "out", capsys)
    assert code == 0 and summary["patients"] == 1 and summary["patients_set_aside"] == 1
    assert [f for f, _, _ in bad_records(tmp_path / "out")] == [str((source / "orphan.json").resolve())]


def test_doctests_of_the_export_module():
    """The file names servers give split exports, their natural order, and a manifest url's file name."""
    import doctest

    from guidelinekg.cohort import export

    result = doctest.testmod(export)
    assert result.attempted >= 3 and result.failed == 0
