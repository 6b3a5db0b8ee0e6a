"""A resource tagged SUBSETTED (the server sent only some of its elements, for ``_elements`` or ``_summary``):
FHIR R4 says it must not be used as if whole. Found in a trial: a subsetted ESRD Condition with only its code
counted as confirmed and active (its verificationStatus may have been refuted). Now it is not used, the note
``subsetted-resource`` names it, and a criterion its kind could make true is unknown, not false (the record of
that kind may be partial, ``gkg:recordMayLack``). A subsetted Patient is refused.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from guidelinekg.cli import main

EXAMPLE = json.loads((Path(__file__).parents[1] / "examples" / "patient-ferritin-45.json").read_text())
TAG = {"tag": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}]}
ESRD = {"resourceType": "Condition", "id": "esrd-1", "meta": TAG, "subject": {"reference": "Patient/example-1"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "46177005"}]}}
RLS = "https://w3id.org/guidelinekg/guideline/rls-iron/"


def run(tmp_path: Path, capsys, doc: dict) -> tuple[int, str]:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    capsys.readouterr()
    code = main(["recommend", str(path), "--as-of", "2026-01-15", "--format", "json"])
    out, err = capsys.readouterr()
    return code, out or err


def test_a_subsetted_condition_is_not_used_and_its_kind_is_unknown(tmp_path, capsys):
    doc = copy.deepcopy(EXAMPLE)
    doc["entry"].append({"resource": ESRD})
    code, out = run(tmp_path, capsys, doc)
    assert code == 0
    report = json.loads(out)
    [note] = [w["message"] for w in report["warnings"] if w["code"] == "subsetted-resource"]
    assert note.startswith("Condition/esrd-1 is tagged SUBSETTED: the server sent only part of it")
    # ESRD is neither taken as recorded (the ESRD pathway) nor as absent (the general algorithm)
    assert not report["recommendations"]
    undetermined = [u["iri"] for u in report["undetermined"]]
    assert RLS + "rec-esrd-iron-sucrose" in undetermined and RLS + "rec-fcm" in undetermined
    because = "\n".join(line for u in report["undetermined"] for line in u["because"])
    assert "end-stage renal disease (diagnosis): unknown (none present is read, but the input may lack" in because


def test_the_same_condition_whole_is_used(tmp_path, capsys):
    doc = copy.deepcopy(EXAMPLE)
    whole = {k: v for k, v in ESRD.items() if k != "meta"}
    whole["clinicalStatus"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]}
    doc["entry"].append({"resource": whole})
    code, out = run(tmp_path, capsys, doc)
    report = json.loads(out)
    assert code == 0 and not [w for w in report["warnings"] if w["code"] == "subsetted-resource"]
    assert RLS + "rec-esrd-iron-sucrose" in [r["iri"] for r in report["recommendations"]]


def test_a_subsetted_result_is_not_used_and_ordered(tmp_path, capsys):
    doc = copy.deepcopy(EXAMPLE)
    for entry in doc["entry"]:
        if entry["resource"]["id"] == "ferritin-1":
            entry["resource"]["meta"] = TAG
    code, out = run(tmp_path, capsys, doc)
    report = json.loads(out)
    assert [w["message"][:40] for w in report["warnings"] if w["code"] == "subsetted-resource"] == [
        "Observation/ferritin-1 is tagged SUBSETT"]
    assert "2276-4" in [o["loinc"] for o in report["orders"]]


def test_a_subsetted_patient_is_refused(tmp_path, capsys):
    doc = copy.deepcopy(EXAMPLE)
    doc["entry"][0]["resource"]["meta"] = TAG
    code, err = run(tmp_path, capsys, doc)
    assert code == 2
    assert "Patient/example-1 is tagged SUBSETTED (the server sent only part of it): the patient cannot be read" in err
    assert "Traceback" not in err


def test_a_subsetted_newer_result_lets_no_older_one_decide(tmp_path, capsys):
    """Found in review: a ferritin of 250 tagged SUBSETTED was set aside and one of 30 from seven months before
    decided IV iron. A subsetted result may be the latest: none read is used (rule 19), and the test is ordered."""
    doc = copy.deepcopy(EXAMPLE)
    newer = [copy.deepcopy(e) for e in doc["entry"] if e["resource"]["id"] in ("ferritin-1", "tsat-1")]
    for entry in newer:
        entry["resource"].update(id=entry["resource"]["id"] + "-new", meta=TAG, effectiveDateTime="2026-01-08")
        entry["resource"]["valueQuantity"]["value"] = 250 if "ferritin" in entry["resource"]["id"] else 40
    doc["entry"] += newer
    code, out = run(tmp_path, capsys, doc)
    report = json.loads(out)
    assert code == 0 and not report["recommendations"]
    assert {"2276-4", "2502-3"} <= {o["loinc"] for o in report["orders"]}
    assert [w["code"] for w in report["warnings"] if w["code"] == "result-may-be-superseded"] == [
        "result-may-be-superseded"]
