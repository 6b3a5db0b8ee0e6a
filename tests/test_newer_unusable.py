"""A result newer than every usable result of its measure that cannot be used for its value or unit
(implausible, a unit that does not convert, no number at all) leaves the measure unknown: the older result
is not used in its place, the test is ordered, and ``newer-result-unusable`` names both (rule 21, with rule
30). Not for a copy at the same instant, a future result or one drawn on an exposure. Both engines: the RLS
vignettes 199-204 (tests/cases) and the tutorial guideline's case 008 (docs/examples/authoring/cases)."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.report.patient import build_report
from guidelinekg.report.vignettes import read_case
from test_vignettes import run_case
from vignettes import CASES, outcome_of

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "authoring"
ENGINES = ["oxigraph", "rdflib"]
NEWER = ["201-newer-ferritin-implausible", "202-newer-ferritin-unit-not-convertible",
         "203-newer-ferritin-value-string", "204-newer-weight-implausible"]
NOT_NEWER = ["205-ferritin-copy-unit-not-convertible-same-draw", "206-newer-ferritin-drawn-on-iron-older-used"]


@pytest.fixture(scope="module")
def example_kb() -> KnowledgeBase:
    return KnowledgeBase.load([EXAMPLE])


def messages(report: dict, code: str) -> list[str]:
    return sorted(w["message"] for w in report["warnings"] if w["code"] == code)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", NEWER + NOT_NEWER)
def test_rls_vignettes_on_both_engines(kb, name, engine):
    case = read_case(CASES / name)
    _, report = run_case(kb, case, engine)
    got = outcome_of(report)
    for key, want in case.expected["expect"].items():
        if key != "doses":
            assert got[key] == (sorted(want) if isinstance(want, list) else want), key
    assert bool(messages(report, "newer-result-unusable")) is (name in NEWER)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("name", "shown", "why"), [
    ("201-newer-ferritin-implausible", "serum ferritin -5 ng/mL", "its value is implausible (implausible-value)"),
    ("202-newer-ferritin-unit-not-convertible", "serum ferritin 45 [IU]/mL",
     "it cannot be converted to ng/mL (unit-not-convertible)"),
    ("203-newer-ferritin-value-string", "serum ferritin", "it has no numeric value"),
])
def test_the_warning_and_the_explanation_name_both_results_and_their_dates(kb, name, shown, why, engine):
    _, report = run_case(kb, read_case(CASES / name), engine)
    pid = f"p{int(name[:3]) - 2}"  # the cases were numbered 199-204 when their records were written
    want = (f"{shown} of 2026-01-27 (Observation/{pid}-ferritin-2) cannot be used: {why}. It is newer than "
            "serum ferritin 45 ng/mL of 2026-01-20 (Observation/ferritin-1), which is therefore not used in its "
            "place (what the newer test found is unknown): serum ferritin is unknown.")
    assert messages(report, "newer-result-unusable") == [want]
    [fcm] = [r for r in report["undetermined"] if r["iri"].endswith("/rec-fcm")]
    assert any("ferritin" in line and want in line and "unknown" in line for line in fcm["because"]), fcm["because"]
    assert not any("measured 45 ng/mL" in line for line in fcm["because"])  # never decided on the older one


@pytest.mark.parametrize("engine", ENGINES)
def test_no_dose_from_an_older_weight_when_the_newest_is_implausible(kb, engine):
    _, report = run_case(kb, read_case(CASES / "204-newer-weight-implausible"), engine)
    [fcm] = [r for r in report["recommendations"] if r["iri"].endswith("/rec-fcm")]
    assert fcm["dose"] is None
    assert [o["loinc"] for o in report["orders"]] == ["29463-7"]
    [message] = messages(report, "newer-result-unusable")
    assert message.startswith("body weight 0 kg of 2026-01-27 (Observation/p202-weight-2) cannot be used")
    assert "body weight 70 kg of 2026-01-20 (Observation/weight-1)" in message


def tutorial(example_kb, bundle: dict, engine: str, tmp_path: Path) -> dict:
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    patient = load_patient_input(path, matcher=example_kb.matcher, measures=example_kb.measures,
                                 reads=example_kb.reads)
    evaluation = evaluate(example_kb, [patient], as_of=date(2026, 1, 15), engine=engine)
    return build_report(evaluation, patient.patient_iri, example_kb.version())


def newer_hba1c() -> dict:
    return json.loads((EXAMPLE / "cases" / "008-newer-hba1c-implausible" / "patient.json").read_text())


def with_newer(when: str) -> dict:
    bundle = copy.deepcopy(newer_hba1c())
    for entry in bundle["entry"]:
        if entry["resource"].get("id") == "hba1c-2":
            entry["resource"]["effectiveDateTime"] = when
    return bundle


@pytest.mark.parametrize("engine", ENGINES)
def test_the_tutorial_repro_orders_hba1c_instead_of_deciding_on_the_older_one(example_kb, engine, tmp_path):
    report = tutorial(example_kb, newer_hba1c(), engine, tmp_path)
    assert not report["recommendations"]
    assert [o["loinc"] for o in report["orders"]] == ["4548-4"]
    assert messages(report, "newer-result-unusable") == [
        "HbA1c 150 % of 2026-01-10 (Observation/hba1c-2) cannot be used: its value is implausible "
        "(implausible-value). It is newer than HbA1c 8.6 % of 2025-12-02 (Observation/hba1c-1), which is "
        "therefore not used in its place (what the newer test found is unknown): HbA1c is unknown."]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_future_implausible_result_supersedes_nothing(example_kb, engine, tmp_path):
    """Dated after the as-of date it is no result yet (future-result): the older 8.6 % decides."""
    report = tutorial(example_kb, with_newer("2026-01-20T09:00:00+01:00"), engine, tmp_path)
    assert [r["iri"].rsplit("/", 1)[1] for r in report["recommendations"]] == ["rec-examplomab"]
    assert not messages(report, "newer-result-unusable")
    assert messages(report, "future-result")


@pytest.mark.parametrize("engine", ENGINES)
def test_an_older_implausible_result_changes_nothing(example_kb, engine, tmp_path):
    """Before the usable result it is superseded, as any older result: the 8.6 % decides."""
    report = tutorial(example_kb, with_newer("2025-11-02T09:00:00+01:00"), engine, tmp_path)
    assert [r["iri"].rsplit("/", 1)[1] for r in report["recommendations"]] == ["rec-examplomab"]
    assert not messages(report, "newer-result-unusable")
    assert messages(report, "implausible-value")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_stale_older_result_gives_the_newer_results_warning_not_a_stale_one(example_kb, engine, tmp_path):
    """The older result is not the latest at all, so it is not judged for its age (rule 32 reads the latest)."""
    bundle = with_newer("2026-01-10T09:00:00+01:00")
    for entry in bundle["entry"]:
        if entry["resource"].get("id") == "hba1c-1":
            entry["resource"]["effectiveDateTime"] = "2025-05-01T09:00:00+01:00"
    report = tutorial(example_kb, bundle, engine, tmp_path)
    assert not report["recommendations"]
    assert [o["loinc"] for o in report["orders"]] == ["4548-4"]
    assert not messages(report, "stale-result")
    [message] = messages(report, "newer-result-unusable")
    assert "HbA1c 8.6 % of 2025-05-01 (Observation/hba1c-1)" in message
