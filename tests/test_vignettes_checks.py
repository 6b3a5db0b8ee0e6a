"""`guidelinekg vignettes`: what a case's `checks` names must be real and exercised.

A check naming no statement of the loaded content (a typo) is unusable input (exit 2, one located line naming
the case file and the statement, with the fix), with one guideline loaded or several. A check naming a
statement the engine never evaluates, for any patient (a good practice or summary statement no rule and no
part of the report reads), is a warning: the case still passes (`checks` says what a case exercises; `expect`
is what is compared), but the warning, located in expected.json, says no case can cover it. A statement
evaluated through the pre-analytic requirement it states never warns, even when the case's draw meets the
requirement and the engine records nothing (before: a false warning on shipped cases 031, 033, 190-194).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from guidelinekg.cli import main

ROOT = Path(__file__).resolve().parents[1]
NAME = "vignette-checks"
NAMESPACE = f"https://w3id.org/guidelinekg/guideline/{NAME}/"
AUTHORING = ROOT / "docs" / "examples" / "authoring"
GPS = f"""
{NAME}:gps-never-evaluated a gkg:GoodPracticeStatement ;
    rdfs:label "a good practice statement no rule reads"@en ;
    gkg:inVersion {NAME}:v0.1 ; gkg:section {NAME}:sec-recommendations ; gkg:order 2 ;
    gkg:sourceText "Discuss the treatment with the patient." ;
    gkg:applicability {NAME}:crit-hba1c-ge-7 ;
    gkg:citesReference {NAME}:ref-1 ;
    gkg:verificationStatus gkg:Unverified .

{NAME}:sum-never-evaluated a gkg:SummaryStatement ;
    rdfs:label "a summary restating the recommendation"@en ;
    gkg:inVersion {NAME}:v0.1 ; gkg:section {NAME}:sec-recommendations ; gkg:order 3 ;
    gkg:sourceText "Treat when HbA1c is 7 % or more." ;
    gkg:restates {NAME}:rec-example ;
    gkg:citesReference {NAME}:ref-1 .

{NAME}:gps-morning-draw a gkg:GoodPracticeStatement ;
    rdfs:label "draw HbA1c in the morning"@en ;
    gkg:inVersion {NAME}:v0.1 ; gkg:section {NAME}:sec-recommendations ; gkg:order 4 ;
    gkg:sourceText "Draw blood for HbA1c in the morning." ;
    gkg:requirement {NAME}:req-morning ;
    gkg:citesReference {NAME}:ref-1 .

{NAME}:req-morning a gkg:MorningDrawRequirement ;
    rdfs:label "morning draw"@en ;
    gkg:appliesToMeasure loinc:4548-4 ;
    gkg:latestHour 10 ;
    gkg:warningCode "non-morning-draw" ;
    gkg:instruction "Draw before 10:00." .

{NAME}:disc-threshold a gkg:Discrepancy ;
    rdfs:label "the threshold in the product information"@en ;
    gkg:about "Whether an HbA1c of exactly 7 % qualifies" ;
    gkg:sourceStatement {NAME}:rec-example ;
    gkg:primaryStatement {NAME}:pts-label-above-7 ;
    gkg:verificationStatus gkg:SourceOnly .

{NAME}:pts-label-above-7 a gkg:PrimaryTextStatement ;
    rdfs:label "product information: HbA1c above 7 %"@en ;
    gkg:sourceText "Indicated in adults whose HbA1c is above 7 %." ;
    gkg:citation {NAME}:cit-example ;
    gkg:verificationStatus gkg:VerifiedPrimary .
"""


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def scaffold(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("checks") / NAME
    assert main(["new", NAME, "--dir", str(folder)]) == 0
    with (folder / "guideline.ttl").open("a", encoding="utf-8") as handle:
        handle.write(GPS)
    return folder


@pytest.fixture
def case(scaffold, tmp_path, capsys) -> Path:
    capsys.readouterr()
    shutil.copytree(scaffold, tmp_path / "content", ignore=shutil.ignore_patterns("tests"))
    copy = tmp_path / "cases" / "001-example"
    shutil.copytree(scaffold / "tests" / "cases" / "001-example", copy)
    return copy


def _add_check(case: Path, iri: str) -> None:
    path = case / "expected.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    document["checks"].append(iri)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")


def test_the_case_passes_without_warnings_as_written(case, tmp_path, capsys):
    code, out, err = _run(["vignettes", str(case), "--content", str(tmp_path / "content")], capsys)
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "vignettes: 1 case, 1 passed, 0 failed; exit 0"


def test_a_statement_never_evaluated_is_a_located_warning_and_the_case_still_passes(case, tmp_path, capsys):
    """A good practice statement no rule reads: its applicability criterion, decided for every patient, does
    not make it evaluated."""
    _add_check(case, NAMESPACE + "gps-never-evaluated")
    code, out, err = _run(["vignettes", str(case), "--content", str(tmp_path / "content")], capsys)
    assert code == 0
    [line] = err.splitlines()
    assert re.match(re.escape(f"guidelinekg vignettes: warning: {case / 'expected.json'}") + r":\d+:\d+: ", line), line
    assert "checks[1] gps-never-evaluated is never evaluated" in line
    assert "name in checks the statements the case shows" in line  # the fix
    assert out.splitlines()[0].startswith("pass ")
    assert out.splitlines()[-1] == "vignettes: 1 case, 1 passed, 0 failed, 1 warning; exit 0"

    code, out, err = _run(["vignettes", str(case), "--content", str(tmp_path / "content"), "--format", "json"], capsys)
    [result] = json.loads(out)["cases"]
    assert (code, err, result["status"]) == (0, "", "pass")
    [warning] = result["warnings"]
    assert (warning["check"], warning["statement"]) == (1, NAMESPACE + "gps-never-evaluated")


def test_a_summary_of_an_evaluated_recommendation_is_still_never_evaluated(case, tmp_path, capsys):
    """It names (gkg:restates) a recommendation the rules read; that does not make the summary evaluated."""
    _add_check(case, NAMESPACE + "sum-never-evaluated")
    code, out, err = _run(["vignettes", str(case), "--content", str(tmp_path / "content")], capsys)
    assert code == 0
    [line] = err.splitlines()
    assert "checks[1] sum-never-evaluated is never evaluated" in line


def test_a_statement_whose_requirement_the_draw_meets_does_not_warn(case, tmp_path, capsys):
    """The rules read the requirement it states for every HbA1c result; this draw (08:15) meets it, so the
    engine derives nothing from it, and that is no reason to warn."""
    _add_check(case, NAMESPACE + "gps-morning-draw")
    code, out, err = _run(["vignettes", str(case), "--content", str(tmp_path / "content")], capsys)
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "vignettes: 1 case, 1 passed, 0 failed; exit 0"


def _without_the_condition(case: Path) -> None:
    """The patient without the covered condition: the recommendation, and the doubts about it, are not in
    the report."""
    path = next(p for p in case.iterdir() if p.name != "expected.json")
    bundle = json.loads(path.read_text(encoding="utf-8"))
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Condition"]
    path.write_text(json.dumps(bundle, indent=2), encoding="utf-8")
    expected = case / "expected.json"
    document = json.loads(expected.read_text(encoding="utf-8"))
    document["expect"] = {"applicable": False}
    expected.write_text(json.dumps(document, indent=2), encoding="utf-8")


def test_a_primary_statement_the_report_shows_for_other_patients_does_not_warn(case, tmp_path, capsys):
    """The report reads a doubt's primary text statement (queries/reports/report-doubts.rq, through the
    discrepancy's gkg:primaryStatement) wherever it shows the statement in doubt; this patient's report does
    not show it, but others' do. Before: 'is never evaluated', read from the rule files and selections only,
    and only nodes matched by class in their own right."""
    _without_the_condition(case)
    _add_check(case, NAMESPACE + "pts-label-above-7")
    code, out, err = _run(["vignettes", str(case), "--content", str(tmp_path / "content")], capsys)
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "vignettes: 1 case, 1 passed, 0 failed; exit 0"

    _add_check(case, NAMESPACE + "gps-never-evaluated")  # what no query reads still warns, for this patient too
    code, out, err = _run(["vignettes", str(case), "--content", str(tmp_path / "content")], capsys)
    [line] = err.splitlines()
    assert code == 0 and "checks[2] gps-never-evaluated is never evaluated" in line


@pytest.mark.parametrize("name", ["031-iron-ended-25h-before-draw", "033-morning-draw-local-time",
                                  "190-iron-ended-exactly-24h-before-draw"])
def test_shipped_cases_with_a_met_requirement_do_not_warn(name, capsys):
    """Their checks name statements of pre-analytic requirements (no iron for 24 h, a morning draw) that
    each case's draw meets."""
    code, out, err = _run(["vignettes", str(ROOT / "tests" / "cases" / name)], capsys)
    assert (code, err) == (0, "")


def test_a_statement_not_in_the_content_is_unusable_and_named(case, tmp_path, capsys):
    _add_check(case, NAMESPACE + "rec-exampel")
    code, out, err = _run(["vignettes", str(case), "--content", str(tmp_path / "content")], capsys)
    assert code == 2
    [line] = err.splitlines()
    assert line.startswith(f"guidelinekg vignettes: error: {case / 'expected.json'}:")
    assert f"checks[1] {NAMESPACE}rec-exampel is not a statement of" in line


def test_with_several_guidelines_a_statement_in_none_is_named(case, tmp_path, capsys):
    """Before: 'the checks name statements of no one loaded guideline', not saying which check is wrong."""
    _add_check(case, NAMESPACE + "rec-exampel")
    code, out, err = _run(["vignettes", str(case), "--content", str(tmp_path / "content"),
                           "--content", str(AUTHORING)], capsys)
    assert code == 2
    [line] = err.splitlines()
    assert re.match(re.escape(f"guidelinekg vignettes: error: {case / 'expected.json'}") + r":\d+:\d+: ", line), line
    assert f"checks[1] {NAMESPACE}rec-exampel is not a statement of any loaded guideline" in line
    assert "correct the IRI" in line
