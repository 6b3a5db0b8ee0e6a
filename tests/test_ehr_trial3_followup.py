"""What the third trial on real-shaped EHR FHIR left (inputs in tests/fixtures/ehr-trial3/, README there):

1. a Procedure's date-only ``performedPeriod.end`` (or ``performedDateTime``) was read as the first instant of
   that day: it now reaches through the day (its last second), as a span's end does, and the day number rule 34
   counts stays the day written;
2. a Condition's ``onsetPeriod`` was checked for ending before it starts by comparing a date-only end as UTC: an
   evening start (local time) with an end the same date was ``invalid-time``. It is now checked as every period
   is (``fhirmeds.inverted``: by the days written when a bound has no time);
Engine-level outcomes run on both SPARQL engines.
"""

from __future__ import annotations

import pytest

from test_ehr_trial3 import AS_OF, ENGINES, FIXTURES, codes, load, notes, recommend, values

PROCEDURE = "urn:guidelinekg:Procedure/hd1"
DIALYSIS = "hemodialysis or peritoneal dialysis in the last 30 days"
assert AS_OF == "2026-12-08"


def because(report: dict, label: str) -> list[str]:
    """The explanation lines (of any recommendation or population) that state the criterion ``label``."""
    found = []
    for section in ("recommendations", "population_not_met", "undetermined", "not_recommended", "not_indicated"):
        for item in report[section]:
            found += [line.strip() for line in item.get("because", []) if line.strip().startswith(label + ":")]
    return sorted(set(found))


# --- 1. a Procedure's date-only end reaches through its day --------------------------------------------------


@pytest.mark.parametrize("performed, start, end", [
    ({"performedPeriod": {"start": "2026-11-08T19:30:00-05:00", "end": "2026-11-08"}},
     "2026-11-08T19:30:00-05:00", "2026-11-08T23:59:59"),
    ({"performedPeriod": {"start": "2026-11-07", "end": "2026-11-08"}}, "2026-11-07T00:00:00", "2026-11-08T23:59:59"),
    ({"performedDateTime": "2026-11-08"}, "2026-11-08T00:00:00", "2026-11-08T23:59:59"),  # the day, first to last
    ({"performedDateTime": "2026-11-08T19:30:00-05:00"}, "2026-11-08T19:30:00-05:00", "2026-11-08T19:30:00-05:00"),
    ({"performedPeriod": {"start": "2026-11-08", "end": "2026-11-08T21:10:00-05:00"}},
     "2026-11-08T00:00:00", "2026-11-08T21:10:00-05:00"),
    ({"performedPeriod": {"start": "2026-11", "end": "2026-11"}}, "2026-11-01T00:00:00", "2026-11-30T23:59:59"),
])  # fmt: skip
def test_a_date_only_procedure_end_is_the_end_of_its_day(performed, start, end):
    def when(res: dict) -> None:
        if res["resourceType"] == "Procedure":
            res.pop("performedPeriod")
            res.update(performed)
    p = load("D1-procedure-date-end", change=when)
    assert values(p, PROCEDURE, "performedStart") == [start]
    assert values(p, PROCEDURE, "performedEnd") == [end]
    assert not notes(p, "invalid-time")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("day, truth", [
    ("2026-11-08", "true (procedure dated 2026-11-08, status completed)"),  # 30 days before the as-of date
    ("2026-11-07", "false (none performed in the 30 days before the as-of date; latest record dated 2026-11-07, "
                   "status completed)"),
])
def test_a_dialysis_ending_on_a_date_counts_by_that_day(capsys, tmp_path, engine, day, truth):
    """Rule 34 counts the days written: a session ending on the 30th day before is within the 30 days, one the
    day before is not; the end of the day read for a date-only end moves neither day."""
    doc = (FIXTURES / "D1-procedure-date-end.json").read_text(encoding="utf-8")
    path = tmp_path / "bundle.json"
    path.write_text(doc.replace('"2026-11-08', f'"{day}'), encoding="utf-8")
    report = recommend(capsys, path, engine)
    assert because(report, DIALYSIS) == [f"{DIALYSIS}: {truth}"]
    assert "invalid-time" not in codes(report)


# --- 2. a Condition's onsetPeriod: checked as every period is ------------------------------------------------


def test_an_evening_onset_ending_that_date_is_no_inverted_period():
    p = load("C3-onset-period-evening")
    node = "urn:guidelinekg:Condition/rls1"
    assert not notes(p, "invalid-time")  # 21:30-05:00 is 02:30 UTC the next day, after the date read as UTC
    assert values(p, node, "onsetTime") == ["2024-05-01T21:30:00-05:00"]
    assert values(p, node, "onsetSpanEnd") == ["2024-05-01T00:00:00"]  # the latest day it can have begun


@pytest.mark.parametrize("start, end", [
    ("2024-05-01T21:30:00-05:00", "2024-04-30"),  # a date: by the days written
    ("2024-05-01", "2024-04-30T23:59:00-05:00"),
    ("2024-05-01", "2024-04"),  # a month ends with its last day
])
def test_an_onset_period_ending_the_day_before_it_starts_is_inverted(start, end):
    def before(res: dict) -> None:
        if res["resourceType"] == "Condition":
            res["onsetPeriod"] = {"start": start, "end": end}
    p = load("C3-onset-period-evening", change=before)
    (note,) = notes(p, "invalid-time")
    assert note.message == f"Condition/rls1 onsetPeriod ends ({end!r}) before it starts ({start!r}); its end is not used"
    assert values(p, "urn:guidelinekg:Condition/rls1", "onsetSpanEnd") == []


@pytest.mark.parametrize("engine", ENGINES)
def test_an_evening_onset_is_no_warning_and_the_diagnosis_holds(capsys, engine):
    report = recommend(capsys, FIXTURES / "C3-onset-period-evening.json", engine)
    assert "invalid-time" not in codes(report)
    assert report["recommendations"]  # the RLS diagnosis holds: the guideline's algorithm applies
