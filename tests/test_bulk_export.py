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
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing",
                                                              "diagnostics": "Observation/x could not be exported"}]}
    write(source / "OperationOutcome_1.ndjson", [json.dumps(outcome) + "\n"])
    write(source / "deleted_1.ndjson", [json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": "Observation/old"}}]}) + "\n"])
    counts = {"Condition": 4, "Encounter": 1, "Medication": 1, "MedicationStatement": 2, "Specimen": 1}
    manifest = {
        "transactionTime": "2026-01-15T06:00:00.000Z",
        "request": "https://ehr.example.org/fhir/Group/rls/$export?_type=Patient,Observation",
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
        ("manifest.json: the server reported errors (OperationOutcome_1.ndjson, OperationOutcome): resources it "
         "could not export are not in this input"),
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
