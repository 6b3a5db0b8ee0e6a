"""What the third trial on real-shaped EHR FHIR left (inputs in tests/fixtures/ehr-trial3/, README there):

1. a Procedure's date-only ``performedPeriod.end`` (or ``performedDateTime``) was read as the first instant of
   that day: it now reaches through the day (its last second), as a span's end does, and the day number rule 34
   counts stays the day written;
2. a Condition's ``onsetPeriod`` was checked for ending before it starts by comparing a date-only end as UTC: an
   evening start (local time) with an end the same date was ``invalid-time``. It is now checked as every period
   is (``periods.inverted``, then in fhirmeds: by the days written when a bound has no time);
3. a MedicationRequest whose ``dispenseRequest.validityPeriod`` ends before it starts only lost that end (the
   request was read from its other dates, ongoing): now its time is unknown, as with an inverted ``boundsPeriod``
   (``invalid-time``; rule 18 sets aside results that may have been drawn on it);
4. iron products as pharmacy systems abbreviate them ("FE SULFATE 325 MG TAB", "FeSO4 325 mg", "ferrous sulf
   325mg", "Fe 65 mg tablet") were not recognised, so iron studies drawn on them were trusted: the shipped
   terminology now has the abbreviations (terms.ttl); the generic whole-word matcher needed no change.
   ("FE SULFATE 325 MG TAB" was read as iron of no named salt; it is now ferrous sulfate: test_fhir_meds_ehr.py.)
5. a date beside an instant written in UTC or east of it (``"2026-12-02T01:30:00Z"`` to ``"2026-12-01"``, an
   evening in New York) was "ends before it starts": the date was compared with the instant's day in its own
   offset. A date beside an instant is now inverted only when it is in every time zone (``periods.ends_before``),
   and so is a ``validityPeriod.end`` date against a request's start (it was compared as midnight UTC).
6. a MedicationRequest of status ``unknown`` without an end was read as ongoing forever: one authored in 2019
   made every later iron study "drawn on it" and no recommendation was ever made. It may be over, so it now
   gets the assumed end of a finished one (a year after its start, not its ``meta.lastUpdated``, which does
   not say it was over), marked assumed: rules 46, 79 and 89 then say "may still be taking", never "is".
Engine-level outcomes run on both SPARQL engines.
"""

from __future__ import annotations

import pytest

from test_ehr_trial3 import AS_OF, ENGINES, FERRITIN, FIXTURES, TSAT, codes, load, notes, ordered, recommend, values

RLS = "https://w3id.org/guidelinekg/guideline/rls-iron/"
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
    ("2024-05-01T21:30:00-05:00", "2024-04-30"),  # a date: the day before the start's, even at UTC-12:00
    ("2024-05-01", "2024-04-30T04:59:00-05:00"),  # 2024-04-30T23:59 at UTC+14:00
    ("2024-05-01", "2024-04"),  # a month ends with its last day
])
def test_an_onset_period_ending_the_day_before_it_starts_is_inverted(start, end):
    def before(res: dict) -> None:
        if res["resourceType"] == "Condition":
            res["onsetPeriod"] = {"start": start, "end": end}
    p = load("C3-onset-period-evening", change=before)
    (note,) = notes(p, "invalid-time")
    assert note.message == f"Condition/rls1 onsetPeriod ends {end}, before it starts {start}; its end is not used"
    assert values(p, "urn:guidelinekg:Condition/rls1", "onsetSpanEnd") == []


@pytest.mark.parametrize("engine", ENGINES)
def test_an_evening_onset_is_no_warning_and_the_diagnosis_holds(capsys, engine):
    report = recommend(capsys, FIXTURES / "C3-onset-period-evening.json", engine)
    assert "invalid-time" not in codes(report)
    assert report["recommendations"]  # the RLS diagnosis holds: the guideline's algorithm applies


# --- 3. a MedicationRequest validityPeriod that ends before it starts ---------------------------------------


def test_an_inverted_validity_period_leaves_the_request_undated(kb):
    p = load("H5-mr-validity-inverted", kb)
    node = "urn:guidelinekg:MedicationRequest/mr1"
    assert values(p, node, "exposureStart") == values(p, node, "exposureEnd") == []  # not from authoredOn either
    assert values(p, node, "exposureSubstance") == [RLS + "ferrous-sulfate"]
    (note,) = notes(p, "invalid-time")
    assert note.message.startswith("MedicationRequest/mr1 dispenseRequest.validityPeriod ends 2026-05-25, before it "
                                   "starts 2026-11-25; not used as exposure: it may be a product a guideline "
                                   "reads")
    assert note.lacks == ("MedicationExposure",) and not notes(p, "missing-time")
    assert not notes(p, "exposure-end-unknown")  # no longer "taken as ongoing"


def test_a_validity_period_ending_the_day_it_starts_is_read(kb):
    def same_day(res: dict) -> None:
        if res["resourceType"] == "MedicationRequest":
            res["dispenseRequest"]["validityPeriod"] = {"start": "2026-12-03T21:00:00-05:00", "end": "2026-12-03"}
    p = load("H5-mr-validity-inverted", kb, same_day)
    assert values(p, "urn:guidelinekg:MedicationRequest/mr1", "exposureStart") == ["2026-12-03T09:15:00-05:00"]
    assert not notes(p, "invalid-time")


@pytest.mark.parametrize("engine", ENGINES)
def test_results_that_may_be_drawn_on_a_request_of_an_inverted_validity_are_not_used(capsys, engine):
    """Authored two days after the draw, the request was read as begun then and the iron studies trusted."""
    report = recommend(capsys, FIXTURES / "H5-mr-validity-inverted.json", engine)
    drawn = [w["message"] for w in report["warnings"] if w["code"] == "lab-drawn-on-iron"]
    assert len(drawn) == 2 and all("may lack some of the patient's medication records (invalid-time)" in m
                                   for m in drawn)
    assert ordered(report) == [FERRITIN, TSAT] and report["recommendations"] == []


# --- 4. iron products as pharmacy systems abbreviate them ----------------------------------------------------

ABBREVIATED = [
    # the strength of the ferrous sulfate tablet (test_fhir_meds_ehr.py: "FE SULFATE" alone stays iron)
    ("FE SULFATE 325 MG TAB", ["ferrous-sulfate"]),
    ("FeSO4 325 mg", ["ferrous-sulfate"]),  # the formula of ferrous sulfate
    ("ferrous sulf 325mg", ["ferrous-sulfate"]),
    ("Fe 65 mg tablet", ["iron-salt-not-named"]),  # elemental iron
    ("FE GLUCONATE 324 MG TAB", ["iron-salt-not-named"]),
    ("FERROUS SULFATE 325 (65 FE) MG PO TABS", ["ferrous-sulfate", "iron-salt-not-named"]),
]
NOT_IRON = ["Fexofenadine 180 mg tablet", "Fenofibrate 145 mg", "Cefepime 1 g injection", "FEMHRT 1/5", "Coffee",
            "Feverfew 380 mg", "Fe2+ assay kit"]


@pytest.mark.parametrize("text, expected", ABBREVIATED)
def test_an_abbreviated_iron_product_is_recognised(kb, text, expected):
    assert sorted(m.substance.removeprefix(RLS) for m in kb.matcher.match(codings=[], texts=[text])) == expected


@pytest.mark.parametrize("text", NOT_IRON)
def test_fe_is_matched_as_a_whole_word_only(kb, text):
    assert kb.matcher.match(codings=[], texts=[text]) == []


@pytest.mark.parametrize("text, expected", [
    ("Slow Fe 142 mg", ["ferrous-sulfate"]),  # a longer name holding "Fe" wins
    ("Slow-Fe", ["ferrous-sulfate"]),
    # its "Fe" names the ferrous fumarate tablets the product contains (an iron-containing product)
    ("Junel Fe 1/20", ["iron-salt-not-named"]),
])
def test_names_holding_fe_name_what_they_contain(kb, text, expected):
    assert sorted(m.substance.removeprefix(RLS) for m in kb.matcher.match(codings=[], texts=[text])) == expected


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("text", [t for t, _ in ABBREVIATED[:4]])
def test_iron_studies_drawn_on_an_abbreviated_iron_product_are_not_used(capsys, tmp_path, engine, text):
    doc = (FIXTURES / "M1-iron-abbreviated.json").read_text(encoding="utf-8")
    path = tmp_path / "bundle.json"
    path.write_text(doc.replace("FE SULFATE 325 MG TAB", text), encoding="utf-8")
    report = recommend(capsys, path, engine)
    drawn = [w["message"] for w in report["warnings"] if w["code"] == "lab-drawn-on-iron"]
    assert len(drawn) == 2 and all(f"while taking {text}" in m for m in drawn), drawn
    assert ordered(report) == [FERRITIN, TSAT] and "unrecognised-product" not in codes(report)


# --- 5. a date beside an instant: inverted only when it is in every time zone ----------------------------------

FER = "urn:guidelinekg:Observation/fer1"


def drawn_in(start: str, end: str):
    def change(res: dict) -> None:
        if res.get("id") == "fer1":
            res["effectivePeriod"] = {"start": start, "end": end}
    return change


@pytest.mark.parametrize("start, end", [
    ("2026-12-02T01:30:00Z", "2026-12-01"),  # 20:30 the evening before in New York, 2026-12-01 there
    ("2026-12-02T08:00:00+09:00", "2026-12-01"),  # 2026-12-01T23:00Z: the end's day somewhere west of UTC
    ("2026-12-01T21:30:00-05:00", "2026-12-01"),
    ("2026-12-02", "2026-12-01T12:00:00Z"),  # 2026-12-02T02:00 at UTC+14:00: the start's day may have begun
    ("2026-12-02", "2026-12-02T08:00:00+09:00"),
    ("2026-12-01", "2026-12-01T18:00:00-05:00"),
    ("2026-12-02", "2026-12-01T08:00:00-05:00"),  # 2026-12-02T03:00 at UTC+14:00
])
def test_a_date_that_is_the_instants_local_day_somewhere_is_no_inverted_period(start, end):
    p = load("B12-period-inverted", change=drawn_in(start, end))
    assert values(p, FER, "effectiveTime") == [start if "T" in start else start + "T00:00:00"]
    assert not notes(p, "invalid-time")


@pytest.mark.parametrize("start, end", [
    ("2026-12-02T13:00:00Z", "2026-12-01"),  # 2026-12-02T01:00 at UTC-12:00: after 2026-12-01 in every zone
    ("2026-12-03T01:30:00+09:00", "2026-12-01"),
    ("2026-12-02T21:30:00-05:00", "2026-12-01"),
    ("2026-12-02", "2026-12-01T09:00:00Z"),  # 2026-12-01T23:00 at UTC+14:00: before 2026-12-02 in every zone
    ("2026-12-02", "2026-12-01T08:00:00+09:00"),
    ("2026-12-02", "2026-11-30T20:00:00-05:00"),
])
def test_a_date_before_the_instants_day_in_every_zone_is_inverted(start, end):
    p = load("B12-period-inverted", change=drawn_in(start, end))
    assert values(p, FER, "effectiveTime") == []
    (note,) = notes(p, "invalid-time")
    assert note.message.startswith(f"Observation/fer1 effectivePeriod ends {end}, before it starts {start}")


@pytest.mark.parametrize("engine", ENGINES)
def test_an_evening_draw_written_in_utc_is_used(capsys, tmp_path, engine):
    """The reviewer's bundle: the ferritin drawn 2026-12-02T01:30Z to 2026-12-01 (an evening in New York)."""
    doc = (FIXTURES / "B12-period-inverted.json").read_text(encoding="utf-8")
    path = tmp_path / "bundle.json"
    path.write_text(doc.replace('"2026-12-05T08:00:00-05:00"', '"2026-12-02T01:30:00Z"')
                    .replace('"2026-12-01T08:20:00-05:00"', '"2026-12-01"'), encoding="utf-8")
    report = recommend(capsys, path, engine)
    assert not {"invalid-time", "undated-result", "patient-data-invalid"} & set(codes(report))
    assert report["recommendations"] and ordered(report) == []


@pytest.mark.parametrize("authored, end, before", [
    ("2026-12-04T01:30:00Z", "2026-12-03", False),  # the evening of 2026-12-03 west of UTC
    ("2026-12-04T08:00:00+09:00", "2026-12-03", False),
    ("2026-12-03T21:00:00-05:00", "2026-12-03", False),
    ("2026-12-04T13:00:00Z", "2026-12-03", True),
    ("2026-12-05T01:30:00+09:00", "2026-12-03", True),
    ("2026-12-04T09:15:00-05:00", "2026-12-03", True),
])
def test_a_validity_end_date_is_before_an_instant_start_only_in_every_zone(kb, authored, end, before):
    def validity(res: dict) -> None:
        if res["resourceType"] == "MedicationRequest":
            res["authoredOn"] = authored
            res["dispenseRequest"] = {"validityPeriod": {"end": end}}
    p = load("H5-mr-validity-inverted", kb, validity)
    node = "urn:guidelinekg:MedicationRequest/mr1"
    assert values(p, node, "exposureStart") == [authored]
    assert values(p, node, "exposureEnd") == ([] if before else ["2026-12-04T00:00:00"])
    assert bool(notes(p, "invalid-time")) is before


# --- 6. a MedicationRequest of status unknown: the assumed end of a finished one ----------------------------------

MR = "urn:guidelinekg:MedicationRequest/mr1"


def test_a_request_of_status_unknown_from_2019_is_assumed_to_end_a_year_after(kb):
    p = load("F9-mr-unknown-2019", kb)
    assert values(p, MR, "exposureStart") == ["2019-01-10T00:00:00"]
    assert values(p, MR, "exposureEnd") == ["2020-01-10T00:00:00"] and values(p, MR, "exposureEndAssumed") == ["true"]
    (note,) = notes(p, "exposure-end-unknown")
    assert note.message.startswith("MedicationRequest/mr1 has status unknown (in force or over: the record does "
                                   "not say) and gives no end (")
    assert ": when it ends is unknown; taken as ended by 2020-01-10T00:00:00, 365 days after its start (a project " \
           "assumption: a record not said to be in force is not read as taken for longer without an end)" in note.message


@pytest.mark.parametrize("status, end", [
    ("unknown", "2020-01-10T00:00:00"),  # its lastUpdated does not say it was over then
    ("completed", "2019-03-01T12:00:00Z"),  # it said it was over by then
])
def test_only_a_finished_request_ends_by_its_last_update(kb, status, end):
    def updated(res: dict) -> None:
        if res["resourceType"] == "MedicationRequest":
            res["status"], res["meta"] = status, {"lastUpdated": "2019-03-01T12:00:00Z"}
    p = load("F9-mr-unknown-2019", kb, updated)
    assert values(p, MR, "exposureEnd") == [end] and values(p, MR, "exposureEndAssumed") == ["true"]


def recommend_with(capsys, tmp_path, engine: str, **swap: str) -> dict:
    """F9 with its request's authoredOn, product text or status replaced."""
    doc = (FIXTURES / "F9-mr-unknown-2019.json").read_text(encoding="utf-8")
    for old, new in (("2019-01-10", swap.get("authored")), ("Ferrous sulfate 325 mg tablet", swap.get("product")),
                     ('"status": "unknown"', swap.get("status"))):
        doc = doc.replace(old, new) if new else doc
    path = tmp_path / "bundle.json"
    path.write_text(doc, encoding="utf-8")
    return recommend(capsys, path, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_iron_studies_years_after_a_request_of_status_unknown_are_used(capsys, tmp_path, engine):
    """The reviewer's bundle: authored 2019-01-10, the iron studies drawn 2026-12-01. They were "drawn on it"
    for ever, and nothing was recommended; now as with the same request completed."""
    report = recommend(capsys, FIXTURES / "F9-mr-unknown-2019.json", engine)
    completed = recommend_with(capsys, tmp_path, engine, status='"status": "completed"')
    assert "lab-drawn-on-iron" not in codes(report) and ordered(report) == []
    made = [r["label"] for r in report["recommendations"]]
    assert "oral ferrous sulfate 65 mg elemental iron daily" in made
    assert made == [r["label"] for r in completed["recommendations"]]
    assert "already-taking-recommended" not in codes(report)  # over by the as-of date, as assumed
    # iron sucrose the guideline says is not indicated: not "is taking" it, seven years on
    report = recommend_with(capsys, tmp_path, engine, product="Iron sucrose 200 mg IV")
    assert "taking-not-indicated" not in codes(report) and report["recommendations"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_recent_request_of_status_unknown_is_perhaps_still_taken(capsys, tmp_path, engine):
    """Authored after the draw (2026-12-03): its assumed end reaches past the as-of date, so rules 79 and 89 say
    "may still be taking", not "is taking"."""
    report = recommend_with(capsys, tmp_path, engine, authored="2026-12-03")
    (taking,) = [w["message"] for w in report["warnings"] if w["code"] == "already-taking-recommended"]
    assert taking.startswith("The patient may still be taking Ferrous sulfate 325 mg tablet (since 2026-12-03; its "
                             "status unknown, without the date it ended if it did), ")  # not "recorded as finished"
    report = recommend_with(capsys, tmp_path, engine, authored="2026-12-03", product="Iron sucrose 200 mg IV")
    (taking,) = [w["message"] for w in report["warnings"] if w["code"] == "taking-not-indicated"]
    assert taking.startswith("The patient may still be taking Iron sucrose 200 mg IV (since 2026-12-03) (its status "
                             "unknown; whether and when it ended is not recorded), which ")
