"""What a new-domain author's trial showed (AF stroke prevention: a CHA2DS2-VASc points score, apixaban 5 mg or
2.5 mg by "at least 2 of" age, weight and creatinine; trial content, not clinical advice, in
tests/fixtures/author3/af-stroke/, patients in tests/fixtures/author3/patients/):

1. a score item recorded only as text (an uncoded "old stroke", "Hypertension") counts no points, and the report
   said "none of its statements applies" and "prior stroke or TIA: false" as if that were known, with only a
   general ``uncoded-condition`` warning elsewhere. Both now point to the conditions that are not read, as the
   coverage message (rule 87) does, in every rendering;
2. a creatinine too old for the dose criterion was warned "it is not used: repeat the test" but not ordered, as
   the recommendation was not decided yet (its restriction's creatinine clearance was too old as well) and only
   a made recommendation's dosing criteria ordered their tests (rule 78): an undetermined one's now do;
3. the dose explanation printed "at least 2 of ..." twice: under "fewer than 2 of ..." (its negation, the 5 mg
   dosing statement's criterion) and on its own (the 2.5 mg one's): now once.
Run on both SPARQL engines.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guidelinekg.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "author3"
CONTENT = FIXTURES / "af-stroke"
AS_OF = "2026-12-08"
ENGINES = ["oxigraph", "rdflib"]
AF = "https://w3id.org/guidelinekg/guideline/af-stroke/"
UNREAD = "conditions recorded only as text or in a local code are not read"


def run(capsys, name: str, engine: str, fmt: str = "json", *extra: str, change=None, tmp_path=None):
    path = FIXTURES / "patients" / f"{name}.json"
    if change is not None:  # a variant of the fixture, written beside the test
        doc = json.loads(path.read_text(encoding="utf-8"))
        for entry in doc["entry"]:
            change(entry["resource"])
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
    args = ["recommend", str(path), "--content", str(CONTENT), "--as-of", AS_OF, "--engine", engine,
            "--format", fmt, *extra]
    assert main(args) == 0
    out = capsys.readouterr().out
    return json.loads(out) if fmt in ("json", "fhir") else out


def older(resource: dict) -> None:
    """The patient born 1950 instead of 1956: 76, so the score reaches 2 from age alone."""
    if resource["resourceType"] == "Patient":
        resource["birthDate"] = "1950-06-01"


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", ["p37-m70-textonly-stroke", "p19-m70-htn-textonly"])
def test_none_applies_points_to_the_conditions_not_read(capsys, engine, name):
    report = run(capsys, name, engine)
    assert report["no_statement_applies"] is True  # the key keeps its meaning: nothing applies to the data read
    assert "uncoded-condition" in [w["code"] for w in report["warnings"]]
    text = run(capsys, name, engine, "text")
    [line] = [x for x in text.splitlines() if x.startswith("The guideline applies, but none")]
    assert "as read" in line and UNREAD in line and "may change this" in line and "uncoded-condition" in line
    fhir = run(capsys, name, engine, "fhir")
    notes = [n["text"] for e in fhir["entry"] if e["resource"]["resourceType"] == "GuidanceResponse"
             for n in e["resource"].get("note", [])]
    assert any(UNREAD in n for n in notes), notes
    patient = run(capsys, name, engine, "text", "--audience", "patient")
    assert "written in a way it cannot read" in patient


@pytest.mark.parametrize("engine", ENGINES)
def test_none_applies_without_unread_conditions_is_said_as_before(capsys, engine, tmp_path):
    def coded(resource: dict) -> None:  # the text-only stroke dropped: nothing is left unread
        if resource.get("id") == "c0":
            resource.clear()
            resource.update({"resourceType": "Basic", "id": "x", "code": {"text": "nothing"}})

    text = run(capsys, "p37-m70-textonly-stroke", engine, "text", change=coded, tmp_path=tmp_path)
    assert "none of its statements applies to this patient's data.\n" in text and UNREAD not in text


@pytest.mark.parametrize("engine", ENGINES)
def test_a_false_diagnosis_criterion_names_the_conditions_not_read(capsys, engine, tmp_path):
    report = run(capsys, "p37-m70-textonly-stroke", engine, change=older, tmp_path=tmp_path)
    [rec] = report["recommendations"]
    stroke = [line for line in rec["because"] if "prior stroke or TIA" in line]
    assert stroke == ["  prior stroke or TIA: false (none recorded in a code it reads; see the uncoded-condition "
                      "warnings) [2 points]"], rec["because"]
    ages = [line for line in rec["because"] if "age ≥75 years" in line]
    assert ages and "uncoded" not in ages[0]  # only diagnosis criteria: an age is read whatever the conditions


@pytest.mark.parametrize("engine", ENGINES)
def test_a_false_diagnosis_criterion_without_unread_conditions_is_plain(capsys, engine, tmp_path):
    def both(resource: dict) -> None:
        older(resource)
        if resource.get("id") == "c0":
            resource["code"] = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "K21.9"}]}

    report = run(capsys, "p37-m70-textonly-stroke", engine, change=both, tmp_path=tmp_path)
    assert "uncoded-condition" not in [w["code"] for w in report["warnings"]]
    [rec] = report["recommendations"]
    assert "  prior stroke or TIA: false [2 points]" in rec["because"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_stale_result_a_dose_criterion_of_an_undetermined_recommendation_needs_is_ordered(capsys, engine):
    report = run(capsys, "p24-m82-stalecreat", engine)
    assert [u["iri"] for u in report["undetermined"]] == [AF + "rec-apixaban"]
    stale = sorted(w["message"] for w in report["warnings"] if w["code"] == "stale-result")
    assert [m.split(" of 2026-05-01")[0] for m in stale] == ["creatinine clearance 60 mL/min",
                                                            "serum creatinine 1.6 mg/dL"], stale
    ordered = {o["loinc"]: o["needed_for"] for o in report["orders"]}
    assert ordered == {"2164-2": [AF + "rec-apixaban"], "2160-0": [AF + "rec-apixaban"]}
    # every result a stale-result warning sets aside is ordered here; the warning says what the data lack
    for w in report["warnings"]:
        if w["code"] == "stale-result":
            assert w["message"].endswith("it is not used, and no newer result is recorded."), w["message"]
            assert any(w["message"].startswith(o["label"] + " ") for o in report["orders"]), w["message"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_dose_criterion_of_an_undetermined_recommendation_no_test_decides_is_a_missing_data_warning(
        capsys, engine, tmp_path):
    def unborn(resource: dict) -> None:  # no birth date: "age >= 80" (a dose criterion) is unknown too
        if resource["resourceType"] == "Patient":
            del resource["birthDate"]

    report = run(capsys, "p24-m82-stalecreat", engine, change=unborn, tmp_path=tmp_path)
    missing = [w["message"] for w in report["warnings"] if w["code"] == "missing-data"]
    assert any("'age ≥80 years'" in m for m in missing), missing


@pytest.mark.parametrize("engine", ENGINES)
def test_a_points_block_under_its_negation_is_explained_once(capsys, engine):
    report = run(capsys, "p16-m80-nocreat", engine)
    [rec] = report["recommendations"]
    heads = [line for line in rec["because"] if line.strip().startswith("at least 2 of: age ≥80")]
    assert len(heads) == 1, rec["because"]
    at = rec["because"].index(next(x for x in rec["because"] if x.startswith("dose: not stated yet")))
    assert rec["because"][at + 1].strip().startswith("fewer than 2 of")  # the negation, the block under it
    assert rec["because"][at + 2] == heads[0]
    text = run(capsys, "p16-m80-nocreat", engine, "text")
    assert text.count("serum creatinine ≥ 1.5 mg/dL: unknown") == 1
