"""What a report says when there is little to say, found in trial use: a record marked deceased (never "does
not apply", in any rendering or the cohort summary), undetermined statements headed by their label, a
guideline that applies but none of whose statements does (never an empty report), why coverage is unknown
(the criteria and the records behind them), and a missing diagnosis in FHIR named by its label and verified
codes.

Fixtures (tests/fixtures/report-gaps/): ``t2dm``, a trial author's type 2 diabetes diagnosis guideline (a test
fixture, not clinical advice) whose HbA1c bands leave a gap between 6.4 and 6.5 %; patients from its cases:
HbA1c 6.49 % (in the gap), no data at all, and a provisional pregnancy (its coverage is non-pregnant adults).
The deceased patient is vignette 081 of the shipped guideline.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from fhir.resources import construct_fhir_element

from guidelinekg.cli import main
from guidelinekg.report.summary import summary_counts

ROOT = Path(__file__).parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "report-gaps"
T2DM = FIXTURES / "t2dm"
GAP = FIXTURES / "patients" / "02-a1c-6.49.json"
NO_DATA = FIXTURES / "patients" / "16-no-data.json"
PREGNANT = FIXTURES / "patients" / "27-pregnant-unconfirmed.json"
DECEASED = ROOT / "tests" / "cases" / "081-deceased-before-as-of" / "patient.json"
SCHEMA = json.loads((ROOT / "docs" / "recommend.schema.json").read_text(encoding="utf-8"))
DM = "https://w3id.org/guidelinekg/guideline/t2dm-diagnosis/"


def recommend(capsys, patient: Path, fmt: str = "text", *, content: Path | None = T2DM, audience: str | None = None):
    argv = ["recommend", str(patient), "--as-of", "2026-01-15", "--format", fmt]
    argv += ["--content", str(content)] if content is not None else []
    argv += ["--audience", audience] if audience else []
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 0, out
    if fmt == "json":
        report = json.loads(out)
        jsonschema.validate(report, SCHEMA)
        return report
    if fmt == "fhir":
        bundle = json.loads(out)
        for entry in bundle["entry"]:
            construct_fhir_element(entry["resource"]["resourceType"], entry["resource"])
        return bundle
    return out


def guidance(bundle: dict) -> dict:
    [found] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "GuidanceResponse"]
    return found


# 1. a record marked deceased ------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_a_deceased_record_is_said_so_never_does_not_apply(capsys, fmt):
    out = recommend(capsys, DECEASED, fmt, content=None)
    head = out.split("Warnings")[0]
    assert "The patient's record is marked deceased on or before the as-of date" in head
    assert "does not apply" not in out


def test_a_deceased_record_is_flagged_in_the_json_and_counted_apart_in_the_summary(capsys):
    report = recommend(capsys, DECEASED, "json", content=None)
    assert report["deceased"] is True and report["applicable"] is False and report["no_statement_applies"] is False
    counts = summary_counts([report])
    assert ("deceased", "guideline", 1) in counts
    assert not [c for c in counts if c[0] in ("not_applicable", "applicability_unknown")]
    alive = recommend(capsys, NO_DATA, "json")
    assert alive["deceased"] is False


def test_a_deceased_record_in_fhir_is_not_evaluated_never_does_not_apply(capsys):
    notes = [n["text"] for n in guidance(recommend(capsys, DECEASED, "fhir", content=None))["note"]]
    assert "marked deceased" in notes[0] and not any("does not apply" in n for n in notes)


def test_a_cohort_counts_deceased_patients_apart(tmp_path):
    (tmp_path / "in").mkdir()
    shutil.copy(DECEASED, tmp_path / "in" / "deceased.json")
    shutil.copy(ROOT / "tests" / "cases" / "049-no-rls-diagnosis" / "patient.json", tmp_path / "in" / "no-rls.json")
    assert main(["cohort", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--as-of", "2026-01-15",
                 "--no-progress"]) == 0
    rows = (tmp_path / "out" / "summary.csv").read_text(encoding="utf-8").splitlines()
    assert "deceased,guideline,1" in rows and "not_applicable,guideline,1" in rows


# 2. undetermined statements headed by their label ---------------------------------------------------------

def test_undetermined_statements_carry_and_are_headed_by_their_label(capsys):
    report = recommend(capsys, NO_DATA, "json")
    labels = {u["iri"]: u["label"] for u in report["undetermined"]}
    # two statements whose source texts share a sentence are told apart by their labels
    assert labels[DM + "rec-confirm"] == "confirm with a repeat test"
    assert labels[DM + "rec-diagnose-dm"] == "diagnose diabetes"
    assert all(u["summary"] for u in report["undetermined"])
    text = recommend(capsys, NO_DATA)
    section = text.split("Cannot decide yet\n")[1].split("\n\n")[0]
    heads = [line for line in section.splitlines() if line.startswith("  - ")]
    assert heads[0].startswith("  - confirm with a repeat test: In the absence of unequivocal hyperglycemia")
    assert any(h.startswith("  - diagnose diabetes: FPG") for h in heads)
    notes = [n["text"] for n in guidance(recommend(capsys, NO_DATA, "fhir"))["note"]]
    assert "undecided: confirm with a repeat test" in notes and "undecided: diagnose diabetes" in notes


# 3. the guideline applies, none of its statements does ----------------------------------------------------

NONE = "The guideline applies, but none of its statements applies to this patient's data"


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_a_patient_no_statement_applies_to_is_told_so(capsys, fmt):
    out = recommend(capsys, GAP, fmt)
    assert NONE + "." in out
    if fmt == "markdown":  # its own paragraph, not run into the provenance line
        assert NONE + ".\n\nProvenance" in out


def test_no_statement_applies_in_json_and_fhir(capsys):
    report = recommend(capsys, GAP, "json")
    assert report["applicable"] is True and report["no_statement_applies"] is True
    assert recommend(capsys, NO_DATA, "json")["no_statement_applies"] is False  # undecided statements, an order
    response = guidance(recommend(capsys, GAP, "fhir"))
    assert response["status"] == "success" and response["note"] == [{"text": NONE}]
    assert "none of its suggestions fits" in recommend(capsys, GAP, audience="patient")


# 4. why coverage is unknown: the criteria and the records behind them -------------------------------------

def test_an_unknown_coverage_shows_its_criteria_and_the_records_behind_them(capsys):
    report = recommend(capsys, PREGNANT, "json")
    assert report["applicability"] == "unknown"
    because = report["applicability_because"]
    assert because[0] == "non-pregnant adult (all of): unknown"
    assert ("    pregnant: unknown (recorded only as unconfirmed, provisional or differential: "
            "Condition/p27-cond-1 is provisional)") in because
    text = recommend(capsys, PREGNANT)
    assert "not known yet: see the warnings and its criteria:" in text
    assert "Condition/p27-cond-1 is provisional" in text.split("Warnings")[0]
    note = guidance(recommend(capsys, PREGNANT, "fhir"))["note"][0]["text"]
    assert note.startswith("whether the guideline applies is unknown") and "Condition/p27-cond-1 is provisional" in note
    assert recommend(capsys, GAP, "json")["applicability_because"] == []  # known: nothing to explain


# 5. a missing diagnosis in FHIR: its label and verified codes ---------------------------------------------

def test_a_missing_diagnosis_is_required_by_label_and_verified_codes_only(capsys, tmp_path):
    # the fixture's only pregnancy code is unverified: the diagnosis is named, its code withheld
    response = guidance(recommend(capsys, PREGNANT, "fhir"))
    assert response["status"] == "data-required"
    assert response["dataRequirement"] == [{"type": "Condition", "codeFilter": [{"path": "code", "code": [
        {"display": "pregnant"}]}]}]
    content = tmp_path / "t2dm"
    shutil.copytree(T2DM, content)
    terms = (content / "terms.ttl").read_text(encoding="utf-8")
    verified = terms.replace('"77386006" ;\n    gkg:codeSystem "http://snomed.info/sct"^^xsd:anyURI ;\n'
                             '    gkg:verificationStatus gkg:Unverified', '"77386006" ;\n    gkg:codeSystem '
                             '"http://snomed.info/sct"^^xsd:anyURI ;\n    gkg:verificationStatus gkg:VerifiedSecondary')
    assert verified != terms
    (content / "terms.ttl").write_text(verified, encoding="utf-8")
    with (content / "terms.ttl").open("a", encoding="utf-8") as f:  # a second, unverified code of pregnancy
        f.write('\nicd10cm:Z33.1 a gkg:Code ; rdfs:label "pregnant state, incidental"@en ; skos:notation "Z33.1" ;\n'
                '    gkg:codeSystem "http://hl7.org/fhir/sid/icd-10-cm"^^xsd:anyURI ; gkg:verificationStatus gkg:Unverified .\n'
                'dm:vs-pregnancy skos:member icd10cm:Z33.1 .\n')
    response = guidance(recommend(capsys, PREGNANT, "fhir", content=content))
    assert response["status"] == "data-required"
    assert {"type": "Condition", "codeFilter": [{"path": "code", "code": [
        {"system": "http://snomed.info/sct", "code": "77386006", "display": "pregnant"}]}]} in response["dataRequirement"]
    assert "Z33.1" not in json.dumps(response)


def test_a_date_only_draw_is_shown_as_its_date_not_an_invented_midnight(capsys):
    """Vignette 192: iron studies dated by a date only; the caveat shows the date the record gives."""
    patient = ROOT / "tests" / "cases" / "192-iron-studies-date-only" / "patient.json"
    assert main(["recommend", str(patient), "--as-of", "2026-02-01", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    messages = [w["message"] for w in report["warnings"] if w["code"] == "draw-time-unknown"]
    assert messages and all("T00:00:00" not in m for m in messages), messages
    assert all(" drawn 20" in m and ": the local time of the draw is not recorded" in m for m in messages)


def test_a_dosing_statement_that_does_not_apply_to_the_patient_is_not_listed(capsys):
    """An author's trial: both doses of a drug were listed under it, including the one whose applicability is
    false for the patient. The 45 kg example gets the FCM label's <50 kg dosing, never the >=50 kg ones."""
    assert main(["recommend", str(ROOT / "examples" / "patient-ferritin-45.json"), "--as-of", "2026-01-15",
                 "--format", "json"]) == 0
    fcm = next(r for r in json.loads(capsys.readouterr().out)["recommendations"] if r["iri"].endswith("/rec-fcm"))
    listed = {d["iri"].rsplit("/", 1)[1] for d in fcm["dosing"]}
    assert "dosing-fcm-label-under-50" in listed
    assert not listed & {"dosing-fcm-single-dose", "dosing-fcm-label"}, listed
