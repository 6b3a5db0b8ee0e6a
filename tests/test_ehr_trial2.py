"""What real EHR exports showed (Synthea, US Core, a SMART Bulk Data client's download; the cut-down inputs in
tests/fixtures/ehr-trial2/, README there):

1. a MedicationStatement ``active`` dated by ``effectiveDateTime`` only is ongoing from that moment (a ferritin
   drawn since is drawn on iron), as one with an open ``effectivePeriod``; a completed one is that moment;
2. Synthea's ``groupInformation*.json`` (a bare Group) in a bundle directory is shared, not a patient;
3. NDJSON lines that are JSON but no resource are refused in words; a client's ``log.ndjson`` is not read, an
   ``OperationOutcome`` file is counted and warned of;
4. a unit spelling the table maps is said to be read as its UCUM code, not "kept as text";
5. a completed cohort run removes its ``work/`` copies of the input; ``--resume`` and ``audit`` need none;
6. a body weight coded LOINC 3141-9 ("Body weight Measured") is a body weight.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from guidelinekg.cli import main
from guidelinekg.cohort.records import not_resources, parse_resource
from guidelinekg.errors import Location
from guidelinekg.patients.decode import parse_json
from guidelinekg.patients.fhir import patients_from_json
from guidelinekg.patients.model import GKG, PatientData

FIXTURES = Path(__file__).parent / "fixtures" / "ehr-trial2"
ON_IRON = FIXTURES / "statement-active-effective-datetime.json"
SYNTHEA = Path(__file__).parent / "fixtures" / "fhir" / "synthea"
AS_OF = "2020-04-01"


def fhir(*resources: dict) -> PatientData:
    doc = {"resourceType": "Bundle", "type": "collection",
           "entry": [{"resource": {"resourceType": "Patient", "id": "p1"}}, *({"resource": r} for r in resources)]}
    (patient,) = patients_from_json(parse_json(json.dumps(doc), Location("<test>")))
    return patient


def values(p: PatientData, subject: str, prop: str) -> list[str]:
    return sorted(t.object.value for t in p.triples() if t.subject.value == subject and t.predicate.value == GKG + prop)


def record(kind: str, status: str, **fields) -> dict:
    return {"resourceType": kind, "id": "m", "status": status, "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"text": "ferrous sulfate 325 MG Oral Tablet"}, **fields}


def recommend(capsys, path: Path) -> dict:
    assert main(["recommend", str(path), "--as-of", AS_OF, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def edited(tmp_path: Path, change) -> Path:
    """The on-iron fixture with ``change(resource)`` applied to each resource."""
    bundle = json.loads(ON_IRON.read_text(encoding="utf-8"))
    for entry in bundle["entry"]:
        change(entry["resource"])
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path


# --- 1. a record in force dated by a moment --------------------------------------------------------------


@pytest.mark.parametrize("kind, status, end", [
    ("MedicationStatement", "active", []),  # taken since then, end not recorded: ongoing
    ("MedicationStatement", "on-hold", []),
    ("MedicationAdministration", "in-progress", []),
    ("MedicationAdministration", "on-hold", []),
    ("MedicationStatement", "completed", ["2020-01-16T00:00:00"]),  # that day, a date covering its whole day
    ("MedicationStatement", "stopped", ["2020-01-16T00:00:00"]),
    ("MedicationStatement", "unknown", ["2020-01-16T00:00:00"]),
    ("MedicationAdministration", "completed", ["2020-01-16T00:00:00"]),
])
def test_effective_datetime_of_a_record_in_force_is_its_start(kind, status, end):
    p = fhir(record(kind, status, effectiveDateTime="2020-01-15"))
    node = f"urn:guidelinekg:{kind}/m"
    assert values(p, node, "exposureStart") == ["2020-01-15T00:00:00"]
    assert values(p, node, "exposureEnd") == end
    assert "exposure-end-unknown" not in {n.code for n in p.notes}  # as the record says, as an open period
    # the same as an effectivePeriod with that start and no end (in force), or that day (finished or unknown)
    period = fhir(record(kind, status, effectivePeriod={"start": "2020-01-15"}))
    if not end:
        assert values(period, node, "exposureEnd") == []


def test_an_intended_statement_and_an_active_request_by_its_authored_date_are_unchanged():
    p = fhir(record("MedicationStatement", "intended", effectiveDateTime="2020-01-15"))
    assert values(p, "urn:guidelinekg:MedicationStatement/m", "exposureStart") == []
    assert "skipped-status" in {n.code for n in p.notes}
    p = fhir(record("MedicationRequest", "active", intent="order", authoredOn="2020-01-15"))
    assert values(p, "urn:guidelinekg:MedicationRequest/m", "exposureStart") == ["2020-01-15T00:00:00"]
    assert values(p, "urn:guidelinekg:MedicationRequest/m", "exposureEnd") == []


def test_a_ferritin_drawn_while_an_active_statement_is_in_force_is_drawn_on_iron(capsys, tmp_path):
    report = recommend(capsys, ON_IRON)
    assert report["recommendations"] == []  # iron was recommended on a ferritin drawn on iron
    assert "lab-drawn-on-iron" in json.dumps(report)

    def completed(resource):
        if resource["resourceType"] == "MedicationStatement":
            resource["status"] = "completed"

    report = recommend(capsys, edited(tmp_path, completed))  # that day only: the draw two months later counts
    assert report["recommendations"] and "lab-drawn-on-iron" not in json.dumps(report)


# --- 2. Synthea's Group file ---------------------------------------------------------------------------------


def test_synthea_group_file_is_shared_not_a_patient_and_work_copies_go_when_the_run_completes(tmp_path, capsys):
    source = tmp_path / "fhir"
    source.mkdir()
    patient = next(SYNTHEA.glob("Carroll471_*.json"))
    for path in (patient, *SYNTHEA.glob("practitionerInformation*.json"),
                 FIXTURES / "groupInformation1588766256867.json"):
        shutil.copy(path, source / path.name)
    out = tmp_path / "out"
    assert main(["cohort", str(source), "--out", str(out), "--as-of", AS_OF, "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["patients_found"], summary["patients"], summary["bad_records"]) == (1, 1, 0)
    assert summary["skipped_types"]["Group"] == 1
    assert "groupInformation1588766256867.json" in summary["shared_bundles"]
    # 5. complete: the chunks' copies of the input are removed; --resume and the audit need none
    assert not (out / "work").exists()
    assert main(["cohort", str(source), "--out", str(out), "--as-of", AS_OF, "--no-progress", "--resume"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["chunks_run_now"] == 0 and again["patients"] == 1
    assert (out / "results.jsonl").read_text(encoding="utf-8").count("\n") == 1
    code = main(["audit", str(out / "provenance.trig.gz"), "--format", "json", "--allow-unapproved"])
    audit = json.loads(capsys.readouterr().out)
    assert not [f for r in audit["runs"] for f in r["findings"] if f["severity"] == "failure"], audit
    assert code in (0, 1)  # 1: flags only (no --store to look for later guideline versions)


def test_an_interrupted_run_keeps_its_work_copies(tmp_path, capsys, monkeypatch):
    from guidelinekg.cohort import run as run_module

    source = tmp_path / "fhir"
    source.mkdir()
    shutil.copy(next(SYNTHEA.glob("Carroll471_*.json")), source / "a.json")

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "_finish", killed)
    assert main(["cohort", str(source), "--out", str(tmp_path / "out"), "--as-of", AS_OF, "--no-progress"]) != 0
    assert list((tmp_path / "out" / "work").glob("chunk-*.json"))  # --resume finishes from them


# --- 3. NDJSON lines and files that are no FHIR ----------------------------------------------------------


def test_json_that_is_no_resource_is_said_in_words():
    assert parse_resource('{"id": "x"}') == (None, "a JSON line without resourceType, not a FHIR resource")
    assert parse_resource('[{"resourceType": "Condition"}]') == (None, "a JSON array, not a resource object")
    assert parse_resource('"Patient"') == (None, "a JSON string, not a resource object")
    assert parse_resource('{"resourceType": 7}')[1] == "a JSON object whose resourceType is no type name, " \
                                                       "not a resource object"
    assert parse_resource('{"resourceType": "Patient", "id": ', "Patient record")[1].startswith(
        "malformed Patient record: Expecting value at column ")
    resource, kind = parse_resource('{"resourceType": "Condition", "id": "c"}')
    assert kind == "Condition" and resource == {"resourceType": "Condition", "id": "c"}


def test_a_bulk_clients_log_is_not_read_and_an_operation_outcome_file_is_not_a_bad_record(tmp_path, capsys):
    source = tmp_path / "export"
    shutil.copytree(FIXTURES / "bulk", source)
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing",
                                                             "diagnostics": "Observation/o9 could not be exported"}]}
    (source / "OperationOutcome.ndjson").write_text(json.dumps(outcome) + "\n", encoding="utf-8")
    assert not_resources(source / "log.ndjson", None) is not None
    assert not_resources(source / "Condition.000.ndjson", None) is None  # its first line is a resource
    assert main(["cohort", str(source), "--out", str(tmp_path / "out"), "--as-of", "2024-08-06",
                 "--no-progress"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert (summary["patients_found"], summary["patients"]) == (2, 2)
    assert summary["ignored_files"] == ["log.ndjson"]
    assert summary["skipped_types"] == {"OperationOutcome": 1}
    assert any(w.startswith("log.ndjson: not read as patient data") for w in summary["warnings"])
    assert any(w.startswith("OperationOutcome.ndjson: 1 OperationOutcome") for w in summary["warnings"])
    bad = [json.loads(line) for line in (tmp_path / "out" / "bad-records.jsonl").read_text().splitlines()]
    assert [(b["file"], b["line"], b["reason"]) for b in bad] == [
        ("Condition.000.ndjson", 5, "a JSON line without resourceType, not a FHIR resource"),
        ("Condition.000.ndjson", 6, "a JSON array, not a resource object")]


# --- 4. unit spellings -----------------------------------------------------------------------------------


@pytest.mark.parametrize("loinc, unit, said", [
    ("2276-4", "mcg/L", "read as ug/L"),  # C4: ferritin in mcg/L without a code
    ("29463-7", "lb", "read as [lb_av]"),  # J2: a weight in lb as text
    ("2502-3", "percent", "read as %"),  # L2: a TSAT in words
    ("2276-4", "IU/L", "kept as text"),  # a unit the table lacks is kept as text
])
def test_a_unit_spelling_the_table_maps_is_said_to_be_read_as_its_ucum_code(loinc, unit, said):
    observation = {"resourceType": "Observation", "id": "o", "status": "final", "subject": {"reference": "Patient/p1"},
                   "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
                   "effectiveDateTime": "2020-03-10", "valueQuantity": {"value": 45, "unit": unit}}
    (note,) = [n.message for n in fhir(observation).notes if n.code == "unit-not-ucum"]
    assert note.endswith(f"is not a UCUM code; {said}" + (", a common spelling of it (ontology/unit-spellings.tsv)"
                                                         if said.startswith("read") else ""))


# --- 6. LOINC 3141-9 -------------------------------------------------------------------------------------


def test_a_body_weight_measured_3141_9_is_the_weight_a_dose_is_computed_from(tmp_path, capsys):
    def measured(resource):
        if resource["resourceType"] == "MedicationStatement":
            resource["status"] = "completed"
        if resource["resourceType"] == "Observation" and resource["code"]["coding"][0]["code"] == "29463-7":
            resource["code"] = {"coding": [{"system": "http://loinc.org", "code": "3141-9",
                                            "display": "Body weight Measured"}], "text": "Body weight Measured"}
            resource["valueQuantity"] = {"value": 45, "unit": "kg", "system": "http://unitsofmeasure.org",
                                         "code": "kg"}

    path = edited(tmp_path, measured)
    assert main(["recommend", str(path), "--as-of", AS_OF]) == 0
    assert "15 mg/kg x 45 kg (weighed on 2020-02-12" in capsys.readouterr().out
    assert "body weight" not in json.dumps(recommend(capsys, path)["orders"]).lower()  # not ordered: it is known


def test_the_fixture_is_as_described():
    bundle = json.loads(ON_IRON.read_text(encoding="utf-8"))
    statement = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationStatement"]
    assert [(s["status"], s["effectiveDateTime"], "effectivePeriod" in s) for s in statement] == \
        [("active", "2020-01-15", False)]
