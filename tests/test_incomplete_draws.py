"""A result drawn when the input may lack the medication records that would make it unreliable (rule 18).

A guideline's exposure-free requirement ("no iron-containing products for 24 h before the draw") makes a
result drawn on such a product unreliable (rule 13): it is not used and the test is ordered again. Found in a
trial on real-shaped exports: an export whose ``_type`` left MedicationStatement out lost the record of the
ferrous sulfate the patient was taking, so a ferritin of 120 drawn on it decided "iron generally not
indicated" with no doubt. When the input may lack medication records, whether a result was drawn on such a
product is unknown: it is not used either, and the warning says why. A record read still decides (rule 13),
and an input that lacks only other records changes nothing.
Guideline: the shipped RLS guideline; patients: a Bulk export per case, as a server writes it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from guidelinekg.cli import main as cli_main

AS_OF = "2026-01-15"
GUIDELINE = "https://w3id.org/guidelinekg/guideline/rls-iron/"
MED_TYPES = "MedicationRequest,MedicationAdministration,MedicationDispense,Medication,MedicationStatement"
ALL_TYPES = f"Patient,Condition,Observation,Procedure,AllergyIntolerance,Specimen,{MED_TYPES}"
PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1968-04-12"}
RLS = {"resourceType": "Condition", "id": "rls-1", "subject": {"reference": "Patient/p1"},
       "code": {"coding": [{"system": "http://snomed.info/sct", "code": "32914008"}]},
       "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                      "code": "active"}]}}


def _result(rid: str, loinc: str, value: float, unit: str) -> dict:
    return {"resourceType": "Observation", "id": rid, "status": "final", "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
            "effectiveDateTime": "2026-01-08T08:15:00+01:00",
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}


RESULTS = [_result("ferritin-1", "2276-4", 120, "ng/mL"), _result("tsat-1", "2502-3", 30, "%"),
           _result("weight-1", "29463-7", 70, "kg")]
ON_IRON = {"resourceType": "MedicationStatement", "id": "ms-fe", "status": "active",
           "subject": {"reference": "Patient/p1"}, "effectivePeriod": {"start": "2025-11-01"},
           "medicationCodeableConcept": {"text": "ferrous sulfate 325 MG Oral Tablet"}}


def _cohort(tmp_path: Path, capsys, types: str, extra: list[dict] = (), errors: bool = False,
            query: str | None = None) -> dict:
    source, out = tmp_path / "export", tmp_path / "out"
    source.mkdir()
    kinds: dict[str, list[dict]] = {}
    for resource in [PATIENT, RLS, *RESULTS, *extra]:
        kinds.setdefault(resource["resourceType"], []).append(resource)
    for kind, resources in kinds.items():
        (source / f"{kind}.ndjson").write_text("".join(json.dumps(r) + "\n" for r in resources), encoding="utf-8")
    if errors:  # what the server could not export
        (source / "OperationOutcome.ndjson").write_text(json.dumps({"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "exception", "diagnostics": "Observation export failed"}]}) + "\n")
    (source / "manifest.json").write_text(json.dumps({
        "transactionTime": "2026-01-15T06:00:00Z",
        "request": f"https://ehr.example.org/fhir/$export?{query or '_type=' + types}", "requiresAccessToken": True,
        "error": [{"type": "OperationOutcome", "url": "https://ehr.example.org/bulk/OperationOutcome.ndjson"}] * errors,
        "output": [{"type": k, "url": f"https://ehr.example.org/bulk/{k}.ndjson"} for k in kinds]}))
    assert cli_main(["cohort", str(source), "--out", str(out), "--as-of", AS_OF, "--no-progress"]) == 0
    capsys.readouterr()
    [report] = map(json.loads, (out / "results.jsonl").read_text(encoding="utf-8").splitlines())
    return report


def _drawn_on(report: dict) -> list[str]:
    return sorted(w["message"] for w in report["warnings"] if w["code"] == "lab-drawn-on-iron")


def test_a_result_is_not_used_when_the_medication_records_may_be_missing(tmp_path, capsys):
    report = _cohort(tmp_path, capsys, ALL_TYPES.replace(",MedicationStatement", ""))
    ferritin, tsat = _drawn_on(report)
    for message, label in ((ferritin, "serum ferritin"), (tsat, "transferrin saturation")):
        assert message.startswith(f"{label} drawn 2026-01-08T08:15:00+01:00: whether it was drawn while taking "
                                  "iron-containing products or less than 24 h after it is unknown, as the input "
                                  "may lack some of the patient's medication records (export-incomplete)")
    assert sorted(o["loinc"] for o in report["orders"]) == ["2276-4", "2502-3"]
    assert GUIDELINE + "ni-iron-above-100" not in [n["iri"] for n in report["not_indicated"]]
    assert not report["recommendations"]
    because = "\n".join(line for item in report["undetermined"] for line in item["because"])
    assert "serum ferritin > 100 ng/mL: unknown (serum ferritin drawn 2026-01-08" in because


def test_the_same_export_with_every_medication_type_decides_on_the_result(tmp_path, capsys):
    report = _cohort(tmp_path, capsys, ALL_TYPES)
    assert _drawn_on(report) == [] and report["orders"] == []
    assert GUIDELINE + "ni-iron-above-100" in [n["iri"] for n in report["not_indicated"]]


def test_a_medication_record_read_still_decides_with_its_own_warning(tmp_path, capsys):
    """Rule 13 finds the draw on the ferrous sulfate read; rule 18 adds no second, vaguer warning."""
    report = _cohort(tmp_path, capsys, ALL_TYPES.replace(",MedicationDispense", ""), [ON_IRON])
    drawn = _drawn_on(report)
    assert len(drawn) == 2 and all("while taking ferrous sulfate 325 MG Oral Tablet" in m for m in drawn)
    assert not any("may lack" in m for m in drawn)


@pytest.mark.parametrize("left_out", ["AllergyIntolerance", "Procedure"])
def test_an_export_lacking_other_records_uses_the_result(tmp_path, capsys, left_out):
    report = _cohort(tmp_path, capsys, ALL_TYPES.replace(f",{left_out}", ""))
    assert _drawn_on(report) == []
    assert [o["loinc"] for o in report["orders"]] == []


# --- a newer result than those read (rule 19) -----------------------------------------------------------------


def _superseded(report: dict) -> list[str]:
    return [w["message"] for w in report["warnings"] if w["code"] == "result-may-be-superseded"]


def test_no_result_is_used_when_the_export_reports_errors(tmp_path, capsys):
    """Found in a trial: with part of the record unread, a result read was used as the latest although a newer
    one may be in what the server could not export."""
    report = _cohort(tmp_path, capsys, ALL_TYPES, [ON_IRON], errors=True)
    [message] = _superseded(report)
    assert message.startswith("none of the 3 results read is used, as a newer one may be in the part of the record "
                              "not read (export-incomplete): read the rest of the record")
    assert sorted(o["loinc"] for o in report["orders"]) == ["2276-4", "2502-3"]
    assert not report["recommendations"] and not report["not_indicated"]


@pytest.mark.parametrize("query", ["_typeFilter=Observation%3Fcategory%3Dlaboratory", "_elements=id,code,subject"])
def test_no_result_is_used_when_observations_were_filtered_or_subsetted(tmp_path, capsys, query):
    """Found in review: a filter on Observation may hold back a newer result (and _elements its status)."""
    report = _cohort(tmp_path, capsys, ALL_TYPES, query=query)
    assert len(_superseded(report)) == 1
    assert GUIDELINE + "ni-iron-above-100" not in [n["iri"] for n in report["not_indicated"]]
    assert sorted(o["loinc"] for o in report["orders"]) == ["2276-4", "2502-3"]


@pytest.mark.parametrize("query", ["_since=2025-12-01T00:00:00Z", f"_type={ALL_TYPES.replace(',AllergyIntolerance', '')}"])
def test_an_export_of_what_changed_or_of_some_types_uses_its_results(tmp_path, capsys, query):
    """An incremental export holds every result changed since then (a newer one too); a type left out is not
    an Observation: the results read are the latest."""
    report = _cohort(tmp_path, capsys, ALL_TYPES, [ON_IRON], query=query)
    assert _superseded(report) == [] and len(_drawn_on(report)) == 2  # on iron (rule 13), as a complete export


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_a_page_of_a_search_uses_no_result_and_says_why(tmp_path, capsys, engine):
    doc = {"resourceType": "Bundle", "type": "searchset",
           "link": [{"relation": "next", "url": "https://ehr.example.org/fhir/Patient/p1/$everything?page=2"}],
           "entry": [{"resource": r} for r in [PATIENT, RLS, *RESULTS]]}
    path = tmp_path / "page.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert cli_main(["recommend", str(path), "--as-of", AS_OF, "--format", "json", "--engine", engine]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(_superseded(report)) == 1
    because = "\n".join(line for item in report["undetermined"] for line in item["because"])
    assert ("serum ferritin ≤ 75 ng/mL: unknown (none of the 3 results read is used, as a newer one may be in the part "
            "of the record not read (search-incomplete)") in because


def test_a_label_in_another_language_gives_no_second_warning(tmp_path, capsys):
    """Found in review: rules 13 and 18 read every label, so German ones doubled each warning."""
    content = tmp_path / "content"
    shutil.copytree(Path(__file__).parents[1] / "ontology" / "guidelines" / "rls-iron", content)
    (content / "labels-de.ttl").write_text(
        "<https://loinc.org/2276-4> <http://www.w3.org/2000/01/rdf-schema#label> \"Ferritin im Serum\"@de .\n"
        "<https://w3id.org/guidelinekg/guideline/rls-iron/IronContainingProduct> "
        "<http://www.w3.org/2000/01/rdf-schema#label> \"eisenhaltige Produkte\"@de .\n", encoding="utf-8")
    doc = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in [PATIENT, RLS, *RESULTS,
                                                                                            ON_IRON]]}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert cli_main(["recommend", str(path), "--content", str(content), "--as-of", AS_OF, "--format", "json"]) == 0
    drawn = _drawn_on(json.loads(capsys.readouterr().out))
    assert len(drawn) == 2 and not any("Ferritin im Serum" in m or "eisenhaltige" in m for m in drawn)
