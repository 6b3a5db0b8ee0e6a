"""A record the input may hold only part of: closed-world criteria become unknown, not false.

Rules 44, 27, 34 and 46 read "no such record" as "none" (a diagnosis, an allergy, a procedure, a medication
exposure). That is only sound when the input is the whole record. A page of a search (a ``next`` link), a
server's error outcome, an incremental export or an export whose ``_type`` list leaves a type out may lack
the record that would make the criterion true: before, the criterion was false and a patient whose allergy
was on page 2 got the drug, with a warning. Now the loader's note says which records may be lacking
(``gkg:recordMayLack``), the criterion is unknown, the recommendation undetermined, and the explanation says
why. A record that is read still decides: true stays true.
Guideline: tests/fixtures/madeup/incomplete-record.ttl (made up).
"""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.cli import main as cli_main
from madeup import run_documents, truths

FIXTURE = Path(__file__).parent / "fixtures" / "madeup" / "incomplete-record.ttl"
AS_OF = date(2026, 1, 15)
EX = "urn:example:incomplete:"
CRITERIA = ("state", "allergic", "had-surgery", "on-cillin")
LABELS = ("example state diagnosed", "allergy to examplicillins", "history of example surgery",
          "an examplicillin in the last 30 days")

STATE = {"resourceType": "Condition", "code": {"coding": [{"system": "urn:example:diagnoses", "code": "X1"}]},
         "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                        "code": "active"}]}}
ALLERGY = {"resourceType": "AllergyIntolerance", "code": {"text": "examplicillin"}}
SURGERY = {"resourceType": "Procedure", "status": "completed", "performedDateTime": "2020-01-01",
           "code": {"coding": [{"system": "urn:example:procedures", "code": "S-1"}]}}
ON_IT = {"resourceType": "MedicationStatement", "status": "active", "effectiveDateTime": "2026-01-10",
         "medicationCodeableConcept": {"text": "examplicillin 500 mg"}}
NEXT = [{"relation": "self", "url": "https://fhir.example.org/Patient/p/$everything"},
        {"relation": "next", "url": "https://fhir.example.org/Patient/p/$everything?page=2"}]
ERROR = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "too-costly",
                                                        "diagnostics": "search truncated at 100 resources"}]}
WARNING = {"resourceType": "OperationOutcome", "issue": [{"severity": "warning", "code": "informational",
                                                          "diagnostics": "an unknown parameter was ignored"}]}


def bundle(pid: str, records: list[dict], *, paged: bool = False, outcome: dict | None = None) -> dict:
    entries = [{"resource": {"resourceType": "Patient", "id": pid, "birthDate": "1970-01-01"}}]
    for n, record in enumerate(records):
        link = "subject" if record["resourceType"] in ("Condition", "Procedure", "MedicationStatement") else "patient"
        entries.append({"resource": {**record, "id": f"{pid}-{n}", link: {"reference": f"Patient/{pid}"}}})
    if outcome is not None:
        entries.append({"resource": {**outcome, "id": f"{pid}-outcome"}, "search": {"mode": "outcome"}})
    doc = {"resourceType": "Bundle", "type": "searchset" if paged or outcome else "collection", "entry": entries}
    return {**doc, "link": NEXT} if paged else doc


U, F, T = "unknown", "false", "true"
# name -> (bundle, the truths of state, allergic, had-surgery, on-cillin, the recommendation's key in the report)
CASES = {
    "complete": (bundle("complete", [STATE]), (T, F, F, F), "recommendations"),
    "paged": (bundle("paged", [STATE], paged=True), (T, U, U, U), "undetermined"),
    "paged-nothing": (bundle("paged-nothing", [], paged=True), (U, U, U, U), "undetermined"),
    "paged-allergic": (bundle("paged-allergic", [STATE, ALLERGY], paged=True), (T, T, U, U), None),
    "paged-everything": (bundle("paged-everything", [STATE, ALLERGY, SURGERY, ON_IT], paged=True), (T, T, T, T), None),
    "error-outcome": (bundle("error-outcome", [STATE], outcome=ERROR), (T, U, U, U), "undetermined"),
    "warning-outcome": (bundle("warning-outcome", [STATE], outcome=WARNING), (T, F, F, F), "recommendations"),
}


@pytest.fixture(scope="module", params=["oxigraph", "rdflib"])
def run(request, tmp_path_factory):
    docs = {name: doc for name, (doc, _, _) in CASES.items()}
    return run_documents(FIXTURE, docs, tmp_path_factory.mktemp("incomplete"), AS_OF, engine=request.param)


@pytest.mark.parametrize("name", CASES)
def test_a_criterion_the_input_may_lack_the_record_of_is_unknown_not_false(run, name):
    found = truths(run.evaluation)
    assert tuple(found[(f"urn:guidelinekg:Patient/{name}", EX + c)] for c in CRITERIA) == CASES[name][1]


@pytest.mark.parametrize("name", CASES)
def test_the_recommendation_is_made_only_on_a_record_that_may_be_complete(run, name):
    report = run.reports[name]
    where = [key for key in ("recommendations", "undetermined") if any(
        item["iri"] == EX + "rec-cillin" for item in report[key])]
    assert where == ([CASES[name][2]] if CASES[name][2] else [])  # not made, and nothing to decide


def test_the_explanation_says_the_input_may_lack_the_record(run):
    [item] = run.reports["paged"]["undetermined"]
    text = "\n".join(item["because"])
    said = "but the input may lack some of the patient's records (search-incomplete)"
    assert f"allergy to examplicillins: unknown (none in force is read, {said})" in text
    assert f"no procedure with these codes recorded, {said}" in text
    assert f"none in the window is read, {said}" in text
    [warning] = [w["message"] for w in run.reports["paged"]["warnings"] if w["code"] == "search-incomplete"]
    assert "a condition, allergy, procedure or medication it does not show is not ruled out" in warning
    # what to do: read the rest of the record (a complete record's missing-data does not say so)
    missing = [w["message"] for w in run.reports["paged"]["warnings"] if w["code"] == "missing-data"]
    assert missing and all(m.endswith("read the rest of it.") for m in missing)
    assert not any("read the rest" in w["message"] for w in run.reports["complete"]["warnings"])


def _export(source: Path, request: str, errors: list[str] = ()) -> None:
    source.mkdir()
    for name in errors:  # a server's error file: an OperationOutcome per line
        (source / name).write_text(json.dumps({"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "exception", "diagnostics": "AllergyIntolerance export failed"}]}) + "\n",
            encoding="utf-8")
    pid = "e1"
    lines = {"Patient": [{"resourceType": "Patient", "id": pid, "birthDate": "1970-01-01"}],
             "Condition": [{**STATE, "id": "c1", "subject": {"reference": f"Patient/{pid}"}}]}
    for kind, resources in lines.items():
        (source / f"{kind}.ndjson").write_text("".join(json.dumps(r) + "\n" for r in resources), encoding="utf-8")
    output = [{"type": kind, "url": f"https://fhir.example.org/out/{kind}.ndjson"} for kind in lines]
    (source / "manifest.json").write_text(json.dumps({"transactionTime": "2026-01-15T06:00:00Z", "request": request,
                                                      "requiresAccessToken": True, "output": output,
                                                      "error": [{"type": "OperationOutcome", "url": f"https://fhir.example.org/out/{n}"}
                                                                for n in errors]}))


@pytest.mark.parametrize("query, expected", [
    ("?_type=Patient,Condition,Procedure", (T, U, F, U)),  # allergies and medications left out
    ("?_type=Patient,Condition,Procedure,AllergyIntolerance,MedicationStatement", (T, F, F, U)),  # 4 med types out
    ("?_type=Patient,Condition,Procedure,AllergyIntolerance,Medication,MedicationStatement,MedicationRequest,"
     "MedicationAdministration,MedicationDispense", (T, F, F, F)),
    ("?_since=2026-01-01T00:00:00Z", (T, U, U, U)),
    ("", (T, F, F, F)),
    # found in a trial: a "+" (a space, URL-encoded) read as part of the type, and a narrowing filter not seen
    ("?_type=Patient,+Condition,+Procedure", (T, U, F, U)),
    ("?_type=patient,condition,procedure,allergyintolerance,medication,medicationstatement,medicationrequest,"
     "medicationadministration,medicationdispense", (T, F, F, F)),
    ("?_typeFilter=MedicationRequest%3Fstatus%3Dactive", (T, F, F, U)),
    ("?_typeFilter=AllergyIntolerance%3Fcriticality%3Dhigh,Observation%3Fcategory%3Dlaboratory", (T, U, F, F)),
    ("?_elements=id,code,subject,patient", (T, U, U, U)),
])
def test_an_export_that_leaves_a_type_out_lacks_its_records(tmp_path, capsys, query, expected):
    source, out = tmp_path / "export", tmp_path / "out"
    _export(source, f"https://fhir.example.org/Patient/$export{query}")
    code = cli_main(["cohort", str(source), "--out", str(out), "--content", str(FIXTURE), "--as-of",
                     AS_OF.isoformat(), "--no-progress"])
    capsys.readouterr()
    assert code == 0
    [report] = map(json.loads, (out / "results.jsonl").read_text(encoding="utf-8").splitlines())
    [item] = [i for key in ("recommendations", "undetermined") for i in report[key] if i["iri"] == EX + "rec-cillin"]
    said = {line.strip().split(": ")[0]: line.strip().split(": ")[1].split(" ")[0] for line in item["because"]}
    assert tuple(said[label] for label in LABELS) == expected, item["because"]
    lacking = [w for w in report["warnings"] if w["code"] == "export-incomplete"]
    assert len(lacking) == (expected != (T, F, F, F))


def test_the_audit_replays_a_paged_bundle_with_what_it_may_lack(tmp_path, capsys):
    """Found in review: the audit rebuilt the loader's notes without gkg:recordMayLack, so its replay made the
    recommendation the run had left undetermined (and the run IRI did not match)."""
    path = tmp_path / "paged.json"
    path.write_text(json.dumps(CASES["paged"][0]), encoding="utf-8")
    provenance = tmp_path / "run.ttl"
    assert cli_main(["recommend", str(path), "--content", str(FIXTURE), "--as-of", AS_OF.isoformat(),
                     "--provenance", str(provenance)]) == 0
    capsys.readouterr()
    assert cli_main(["audit", str(provenance)]) == 0, capsys.readouterr()


def test_the_audit_replays_a_cohort_of_an_export_that_left_types_out(tmp_path, capsys):
    source, out = tmp_path / "export", tmp_path / "out"
    _export(source, "https://fhir.example.org/Patient/$export?_type=Patient,Condition,Procedure")
    assert cli_main(["cohort", str(source), "--out", str(out), "--content", str(FIXTURE), "--as-of",
                     AS_OF.isoformat(), "--no-progress"]) == 0
    capsys.readouterr()
    code = cli_main(["audit", str(out)])
    assert code == 0, capsys.readouterr()


def test_an_export_with_error_files_may_lack_any_record(tmp_path, capsys):
    """Found in review: a manifest listing error files (what the server could not export) only warned the run;
    every patient's closed-world criteria stayed false, so a missing allergy let the drug be recommended."""
    source, out = tmp_path / "export", tmp_path / "out"
    _export(source, "https://fhir.example.org/Patient/$export", errors=["OperationOutcome.ndjson"])
    assert cli_main(["cohort", str(source), "--out", str(out), "--content", str(FIXTURE), "--as-of",
                     AS_OF.isoformat(), "--no-progress"]) == 0
    capsys.readouterr()
    [report] = map(json.loads, (out / "results.jsonl").read_text(encoding="utf-8").splitlines())
    assert [i["iri"] for i in report["undetermined"]] == [EX + "rec-cillin"] and not report["recommendations"]
    [note] = [w["message"] for w in report["warnings"] if w["code"] == "export-incomplete"]
    assert note.startswith("the export reports errors (OperationOutcome.ndjson)")


@pytest.mark.parametrize("expression, expected", [
    (["Encounter"], (T, F, F, F)),  # a type the fixture's guideline does not read: nothing it reads is missing
    (["DocumentReference.content[0]", "Encounter"], (T, F, F, F)),
    (["AllergyIntolerance"], (T, U, F, F)),  # the allergy criterion only
    (["MedicationRequest"], (T, F, F, U)),
    (["Encounter", "not a path"], (T, U, U, U)),  # an issue that names no type: anything may be missing
    (["Bundle.entry[3].resource.ofType(MedicationRequest)"], (T, U, U, U)),  # a path into a Bundle: any type
])
def test_an_error_file_about_some_types_lacks_only_those(tmp_path, capsys, expression, expected):
    """Found in a trial: "Resource type Encounter is not supported" (expression ["Encounter"]) in the error file
    of an export made every patient's record partial: no decision for anyone, on a type nothing reads."""
    source, out = tmp_path / "export", tmp_path / "out"
    _export(source, "https://fhir.example.org/Patient/$export", errors=["OperationOutcome.ndjson"])
    (source / "OperationOutcome.ndjson").write_text(json.dumps({"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "not-supported", "diagnostics": "Resource type is not supported",
         "expression": expression}]}) + "\n")
    report, _ = _cohort_report(source, out, capsys)
    [item] = [i for key in ("recommendations", "undetermined") for i in report[key] if i["iri"] == EX + "rec-cillin"]
    said = {line.strip().split(": ")[0]: line.strip().split(": ")[1].split(" ")[0] for line in item["because"]}
    assert tuple(said[label] for label in LABELS) == expected, item["because"]
    lacking = [w["message"] for w in report["warnings"] if w["code"] == "export-incomplete"]
    assert len(lacking) == (expected != (T, F, F, F))
    if expected == (T, U, F, F):
        assert lacking[0].startswith("the export reports errors about AllergyIntolerance (OperationOutcome.ndjson)")


def test_an_error_file_of_information_only_leaves_the_record_complete(tmp_path, capsys):
    """A server's error file may hold only notes (severity information): nothing is said to be missing."""
    source, out = tmp_path / "export", tmp_path / "out"
    _export(source, "https://fhir.example.org/Patient/$export", errors=["OperationOutcome.ndjson"])
    (source / "OperationOutcome.ndjson").write_text(json.dumps({"resourceType": "OperationOutcome", "issue": [
        {"severity": "information", "code": "informational", "diagnostics": "no Procedure to export"}]}) + "\n")
    assert cli_main(["cohort", str(source), "--out", str(out), "--content", str(FIXTURE), "--as-of",
                     AS_OF.isoformat(), "--no-progress"]) == 0
    capsys.readouterr()
    [report] = map(json.loads, (out / "results.jsonl").read_text(encoding="utf-8").splitlines())
    assert [i["iri"] for i in report["recommendations"]] == [EX + "rec-cillin"]
    assert not [w for w in report["warnings"] if w["code"] == "export-incomplete"]


def _cohort_report(source: Path, out: Path, capsys, as_of: str = AS_OF.isoformat()) -> tuple[dict, dict]:
    assert cli_main(["cohort", str(source), "--out", str(out), "--content", str(FIXTURE), "--as-of", as_of,
                     "--no-progress"]) == 0
    capsys.readouterr()
    [report] = map(json.loads, (out / "results.jsonl").read_text(encoding="utf-8").splitlines())
    return report, json.loads((out / "run.json").read_text(encoding="utf-8"))


def test_an_export_made_before_the_as_of_date_says_so(tmp_path, capsys):
    """Found in a trial: an export of 2026-01-15 evaluated as of 2026-03-01 was silent. What was recorded since is
    not in it: every report says so; nothing is taken as lacking (every export is of some moment)."""
    _export(tmp_path / "export", "https://fhir.example.org/Patient/$export")
    report, summary = _cohort_report(tmp_path / "export", tmp_path / "out", capsys, "2026-03-01")
    [note] = [w["message"] for w in report["warnings"] if w["code"] == "export-incomplete"]
    assert note.startswith("the export was made on 2026-01-15 (transactionTime), 45 day(s) before the as-of date "
                           "2026-03-01: what was recorded since is not in it")
    assert any("Use --as-of 2026-01-15" in w for w in summary["warnings"])
    assert [i["iri"] for i in report["recommendations"]] == [EX + "rec-cillin"]


def test_a_manifest_without_a_request_is_read_as_a_full_export_with_a_warning(tmp_path, capsys):
    source = tmp_path / "export"
    _export(source, "")
    manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    del manifest["request"]
    (source / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    report, summary = _cohort_report(source, tmp_path / "out", capsys)
    assert any("the manifest has no 'request'" in w for w in summary["warnings"])
    assert not [w for w in report["warnings"] if w["code"] == "export-incomplete"]
    assert [i["iri"] for i in report["recommendations"]] == [EX + "rec-cillin"]


def test_an_error_file_without_a_manifest_makes_the_export_partial(tmp_path, capsys):
    """A server's OperationOutcome.ndjson beside the data, no manifest: as a manifest's error file."""
    source = tmp_path / "export"
    _export(source, "", errors=["OperationOutcome.ndjson"])
    (source / "manifest.json").unlink()
    report, _ = _cohort_report(source, tmp_path / "out", capsys)
    assert [i["iri"] for i in report["undetermined"]] == [EX + "rec-cillin"] and not report["recommendations"]


@pytest.mark.parametrize("relation", ["next", "Next", "NEXT"])
def test_a_next_link_is_read_in_any_case(tmp_path, capsys, relation):
    """RFC 8288: link relation types compare case-insensitively; a "Next" link was not seen."""
    doc = bundle("p", [STATE], paged=True)
    doc["link"] = [{**link, "relation": relation if link["relation"] == "next" else "self"} for link in doc["link"]]
    path = tmp_path / "paged.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert cli_main(["recommend", str(path), "--content", str(FIXTURE), "--as-of", AS_OF.isoformat(),
                     "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [i["iri"] for i in report["undetermined"]] == [EX + "rec-cillin"]
    assert [w["code"] for w in report["warnings"] if w["code"] == "search-incomplete"] == ["search-incomplete"]


def test_a_gzipped_error_file_of_information_only_leaves_the_record_complete(tmp_path, capsys):
    """Found in review: a gzipped error file could not be read as text, so one of information only counted as
    an error and every patient's record as partial."""
    source = tmp_path / "export"
    _export(source, "https://fhir.example.org/Patient/$export", errors=["OperationOutcome.ndjson.gz"])
    (source / "OperationOutcome.ndjson.gz").write_bytes(gzip.compress(json.dumps({
        "resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "informational"}]}).encode()))
    report, summary = _cohort_report(source, tmp_path / "out", capsys)
    assert [i["iri"] for i in report["recommendations"]] == [EX + "rec-cillin"]
    assert not [w for w in report["warnings"] if w["code"] == "export-incomplete"]
    assert any("hold only the server's warnings or information" in w for w in summary["warnings"])
