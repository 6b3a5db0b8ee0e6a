"""A history of a diagnosis (gkg:DiagnosisCriterion with gkg:includesHistory true; rules 39, 44, 45).

Found by a trial author encoding a CHA2DS2-VASc score: "prior stroke, TIA or thromboembolism" read as a
diagnosis present on the as-of date, so a stroke recorded as resolved (as EHRs record an old stroke) scored 0
and anticoagulation was advised against. A criterion that says it includes history counts a record of the
condition that had begun by the as-of date, whatever became of it since (abated, resolved, inactive, in
remission); refuted and entered-in-error records never count, unconfirmed ones leave it unknown, and a record
begun after the as-of date does not count. The same records read without the flag keep their meaning (present
on the as-of date). Made-up content: tests/fixtures/diagnosis-history/guideline.ttl; FHIR built here.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.checks.validate import validate
from guidelinekg.content import resources
from guidelinekg.render.guideline import render_markdown
from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.report.patient import build_report
from madeup import truths

FIXTURE = Path(__file__).parent / "fixtures" / "diagnosis-history" / "guideline.ttl"
NS = "urn:example:dxh:"
AS_OF = date(2026, 1, 15)
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"

# condition record -> (present on the as-of date, history of it by then, history begun >= 28 days before)
CASES = {
    "active": ({"clinical": "active"}, "true", "true", "true"),
    "no-status": ({}, "true", "true", "true"),
    "resolved": ({"clinical": "resolved", "abatementDateTime": "2022-03-01"}, "false", "true", "true"),
    "inactive-no-date": ({"clinical": "inactive"}, "false", "true", "true"),
    "remission": ({"clinical": "remission"}, "false", "true", "true"),
    "abated-only": ({"abatementDateTime": "2020-05-01"}, "false", "true", "true"),
    "refuted": ({"clinical": "resolved", "verification": "refuted"}, "false", "false", "false"),
    "entered-in-error": ({"verification": "entered-in-error"}, "false", "false", "false"),
    "provisional-resolved": ({"clinical": "resolved", "verification": "provisional"}, "false", "unknown", "unknown"),
    "provisional-active": ({"clinical": "active", "verification": "provisional"}, "unknown", "unknown", "unknown"),
    "onset-after": ({"onsetDateTime": "2026-02-01"}, "false", "false", "false"),
    "onset-month-of-as-of": ({"onsetDateTime": "2026-01", "clinical": "resolved"}, "false", "unknown", "false"),
    "none": (None, "false", "false", "false"),
    # an episode begun 2 days ago is history, not an earlier episode; 28 days before is; no onset: cannot be told
    "current": ({"onsetDateTime": "2026-01-13", "clinical": "active"}, "true", "true", "false"),
    "exactly-28-days": ({"onsetDateTime": "2025-12-18", "clinical": "active"}, "true", "true", "true"),
    "27-days": ({"onsetDateTime": "2025-12-19", "clinical": "active"}, "true", "true", "false"),
    "no-onset": ({"onsetDateTime": None, "clinical": "resolved"}, "false", "true", "unknown"),
    "abated-no-onset": ({"onsetDateTime": None, "abatementDateTime": "2022-03-01", "clinical": "resolved"},
                        "false", "true", "true"),
    "onset-month-across": ({"onsetDateTime": "2025-12", "clinical": "active"}, "true", "true", "unknown"),
    # an onset month across the as-of date, but over on a day before it: it had begun
    "onset-month-abated": ({"onsetDateTime": "2026-01", "abatementDateTime": "2026-01-10", "clinical": "resolved"},
                           "false", "true", "false"),
    # provisional: unknown, whatever its abatement's span (which a history does not read)
    "provisional-abatement-month": ({"clinical": "resolved", "verification": "provisional",
                                     "abatementDateTime": "2026-01"}, "false", "unknown", "unknown"),
    "provisional-onset-month-abated": ({"onsetDateTime": "2026-01", "abatementDateTime": "2026-01-10",
                                        "clinical": "resolved", "verification": "provisional"},
                                       "false", "unknown", "false"),
    "partial-dates": ({"onsetDateTime": "2019", "abatementDateTime": "2022-03", "clinical": "resolved"},
                      "false", "true", "true"),
    # an onset month reaching the cut-off day, but over on a day before it: an earlier episode
    "onset-month-over-before-cut-off": ({"onsetDateTime": "2025-12", "abatementDateTime": "2025-12-05",
                                         "clinical": "resolved"}, "false", "true", "true"),
    # no onset: the day it was recorded is the latest it can have begun (Condition.recordedDate)
    "recorded-before": ({"onsetDateTime": None, "recordedDate": "2025-06-01", "clinical": "active"},
                        "true", "true", "true"),
    "recorded-year": ({"onsetDateTime": None, "recordedDate": "2024", "clinical": "active"}, "true", "true", "true"),
    "recorded-recently": ({"onsetDateTime": None, "recordedDate": "2026-01-10", "clinical": "active"},
                          "true", "true", "unknown"),
    "recorded-after": ({"onsetDateTime": None, "recordedDate": "2026-02-01", "clinical": "active"},
                       "unknown", "unknown", "unknown"),
    "recorded-month-across": ({"onsetDateTime": None, "recordedDate": "2026-01", "clinical": "active"},
                              "unknown", "unknown", "unknown"),
    # recorded later, but over on a day long before the as-of date: it had begun by then
    "recorded-after-abated": ({"onsetDateTime": None, "recordedDate": "2026-03-01", "abatementDateTime": "2025-05-01",
                               "clinical": "resolved"}, "false", "true", "true"),
    # an onset decides; the recorded date is not read
    "onset-and-recorded-after": ({"onsetDateTime": "2020-01-01", "recordedDate": "2026-02-01", "clinical": "active"},
                                 "true", "true", "true"),
    # an onset after the as-of date of a record made before it: the dates disagree (a reviewer: not "false")
    "onset-after-recorded-before": ({"onsetDateTime": "2026-02-01", "recordedDate": "2025-01-01"},
                                    "unknown", "unknown", "unknown"),
    # an onset year across the as-of date, but recorded on a day before it: begun by then
    "onset-year-recorded-before": ({"onsetDateTime": "2026", "recordedDate": "2026-01-02", "clinical": "active"},
                                   "true", "true", "false"),
    "recurrence-old-onset": ({"clinical": "recurrence"}, "true", "true", "true"),
    # over at a time not recorded (found by a trial: counted as present): unknown unless a status decides it
    "abated-boolean": ({"extra": {"abatementBoolean": True}}, "unknown", "true", "true"),
    "abated-string": ({"extra": {"abatementString": "in remission since 2019"}}, "unknown", "true", "true"),
    "abated-age": ({"extra": {"abatementAge": {"value": 50, "unit": "a", "system": "http://unitsofmeasure.org",
                                               "code": "a"}}}, "unknown", "true", "true"),
    "abated-boolean-resolved": ({"clinical": "resolved", "extra": {"abatementBoolean": True}}, "false", "true", "true"),
    "abated-boolean-false": ({"extra": {"abatementBoolean": False}}, "true", "true", "true"),
    # an onset period: begun some time in it (its end was not read: a period across the as-of date counted)
    "onset-period-across": ({"onsetDateTime": None, "clinical": "active",
                             "extra": {"onsetPeriod": {"start": "2025-10-01", "end": "2026-02-01"}}},
                            "unknown", "unknown", "unknown"),
    "onset-period-before": ({"onsetDateTime": None, "clinical": "active",
                             "extra": {"onsetPeriod": {"start": "2025-10-01", "end": "2025-11"}}}, "true", "true", "true"),
    "onset-period-end-only": ({"onsetDateTime": None, "clinical": "resolved",
                               "extra": {"onsetPeriod": {"end": "2019-05-01"}}}, "false", "true", "true"),
    "onset-period-end-recent": ({"onsetDateTime": None, "clinical": "active",
                                 "extra": {"onsetPeriod": {"end": "2026-01-10"}}}, "true", "true", "unknown"),
}


def bundle(pid: str, record: dict | None) -> dict:
    entries = [{"resource": {"resourceType": "Patient", "id": pid, "birthDate": "1950-01-01"}}]
    if record is not None:
        condition = {"resourceType": "Condition", "id": f"{pid}-c", "subject": {"reference": f"Patient/{pid}"},
                     "code": {"coding": [{"system": "urn:example:dxh:codes", "code": "WE-1"}]},
                     **({"onsetDateTime": record.get("onsetDateTime", "2019-06-01")}
                        if record.get("onsetDateTime", "") is not None else {})}
        condition.update(record.get("extra", {}))
        if "recordedDate" in record:
            condition["recordedDate"] = record["recordedDate"]
        if "abatementDateTime" in record:
            condition["abatementDateTime"] = record["abatementDateTime"]
        if "clinical" in record:
            condition["clinicalStatus"] = {"coding": [{"system": CLINICAL, "code": record["clinical"]}]}
        if "verification" in record:
            condition["verificationStatus"] = {"coding": [{"system": VERIFICATION, "code": record["verification"]}]}
        entries.append({"resource": condition})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load([FIXTURE])


@pytest.fixture(scope="module")
def evaluated(kb):
    """The cases loaded once, and their evaluation per engine, computed once (read only by the tests)."""
    loaded = patients(kb)
    cache: dict[str, object] = {}

    def get(engine: str = "oxigraph"):
        if engine not in cache:
            cache[engine] = evaluate(kb, loaded, as_of=AS_OF, engine=engine)
        return loaded, cache[engine]
    return get


def outcome_notes(evaluation, loaded, case: str, criterion: str) -> list[str]:
    """The notes of a case's outcome of a criterion (why it is unknown), sorted."""
    patient = loaded[list(CASES).index(case)].patient_iri
    return sorted(r["n"] for r in evaluation.store.select_values(f"""
        PREFIX gkg: <https://w3id.org/guidelinekg/ontology#>
        SELECT ?n WHERE {{ ?o gkg:criterion <{NS}{criterion}> ; gkg:forPatient <{patient}> ;
                              gkg:outcomeNote ?n }}"""))


def patients(kb):
    return [load_patient_input(f"{name}.json", matcher=kb.matcher, measures=kb.measures, reads=kb.reads,
                               raw=json.dumps(bundle(name, record)).encode())
            for name, (record, *_) in CASES.items()]


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_history_counts_records_that_have_ended_and_present_does_not(kb, evaluated, engine):
    loaded, evaluation = evaluated(engine)
    got = truths(evaluation)
    for patient, (name, (_, present, history, before)) in zip(loaded, CASES.items()):
        assert got[(patient.patient_iri, NS + "crit-event-now")] == present, name
        assert got[(patient.patient_iri, NS + "crit-event-ever")] == history, name
        assert got[(patient.patient_iri, NS + "crit-event-before")] == before, name


def test_an_earlier_episode_beside_a_current_one_counts(kb):
    """A record resolved in 2022 and one begun two days ago: an earlier episode (Wells: "previous DVT" and
    "signs of DVT now" together)."""
    doc = bundle("both", {"clinical": "resolved", "abatementDateTime": "2022-03-01"})
    doc["entry"].append({"resource": {**bundle("both", {"onsetDateTime": "2026-01-13"})["entry"][1]["resource"],
                                      "id": "both-new"}})
    patient = load_patient_input("both.json", matcher=kb.matcher, measures=kb.measures, reads=kb.reads,
                                 raw=json.dumps(doc).encode())
    got = truths(evaluate(kb, [patient], as_of=AS_OF))
    assert got[(patient.patient_iri, NS + "crit-event-before")] == "true"
    assert got[(patient.patient_iri, NS + "crit-event-now")] == "true"


def test_a_resolved_record_makes_the_recommendation_and_is_what_it_rests_on(kb, evaluated):
    loaded, evaluation = evaluated()
    resolved = loaded[list(CASES).index("resolved")]
    report = build_report(evaluation, resolved.patient_iri, kb.version())
    assert [r["iri"] for r in report["recommendations"]] == [NS + "rec-after-event"]
    # the explanation names the record counted and what became of it; a present record with its dates too
    assert report["recommendations"][0]["because"] == [
        "prior widget event: true (Condition/resolved-c (resolved, from 2019-06-01 to 2022-03-01))"]
    active = build_report(evaluation, loaded[0].patient_iri, kb.version())
    assert active["recommendations"][0]["because"] == [
        "prior widget event: true (Condition/active-c (active, from 2019-06-01))"]
    rests_on = {r["cond"] for r in evaluation.store.select_values(f"""
        PREFIX gkg: <https://w3id.org/guidelinekg/ontology#>
        PREFIX prov: <http://www.w3.org/ns/prov#>
        SELECT ?cond WHERE {{ ?o gkg:criterion <{NS}crit-event-ever> ; gkg:forPatient <{resolved.patient_iri}> ;
                                 prov:wasDerivedFrom ?cond . ?cond a gkg:Condition }}""")}
    assert len(rests_on) == 1 and next(iter(rests_on)).endswith("resolved-c")
    # a refuted record is no history: nothing recommended, nothing asked for
    refuted = loaded[list(CASES).index("refuted")]
    report = build_report(evaluation, refuted.patient_iri, kb.version())
    assert report["recommendations"] == report["undetermined"] == []


def test_an_unconfirmed_history_is_undetermined_and_says_why(kb, evaluated):
    loaded, evaluation = evaluated()
    report = build_report(evaluation, loaded[list(CASES).index("onset-month-of-as-of")].patient_iri, kb.version())
    [item] = report["undetermined"]
    assert "recorded without a day (some time from 2026-01-01 to 2026-01-31)" in " ".join(item["because"])


def test_an_earlier_episode_without_an_onset_says_why_it_is_unknown(kb, evaluated):
    loaded, evaluation = evaluated()
    patient = loaded[list(CASES).index("no-onset")].patient_iri
    [note] = [r["n"] for r in evaluation.store.select_values(f"""
        PREFIX gkg: <https://w3id.org/guidelinekg/ontology#>
        SELECT ?n WHERE {{ ?o gkg:criterion <{NS}crit-event-before> ; gkg:forPatient <{patient}> ;
                              gkg:outcomeNote ?n }}""")]
    assert note == ("Condition/no-onset-c: no onset date is read, so whether it began at least 28 days before the "
                    "as-of date cannot be told")


def test_notes_and_dates_are_those_of_the_history(kb, evaluated):
    loaded, evaluation = evaluated()
    provisional = loaded[list(CASES).index("provisional-abatement-month")].patient_iri
    notes = [r["n"] for r in evaluation.store.select_values(f"""
        PREFIX gkg: <https://w3id.org/guidelinekg/ontology#>
        SELECT ?n WHERE {{ ?o gkg:criterion <{NS}crit-event-ever> ; gkg:forPatient <{provisional}> ;
                              gkg:outcomeNote ?n }}""")]
    assert not [n for n in notes if "abatement" in n], notes  # a history does not turn on when it was over
    begun = loaded[list(CASES).index("provisional-onset-month-abated")].patient_iri
    notes = [r["n"] for r in evaluation.store.select_values(f"""
        PREFIX gkg: <https://w3id.org/guidelinekg/ontology#>
        SELECT ?n WHERE {{ ?o gkg:criterion <{NS}crit-event-ever> ; gkg:forPatient <{begun}> ;
                              gkg:outcomeNote ?n }}""")]
    assert notes == [], notes  # over on 2026-01-10, so begun: unknown for being provisional, not for its onset
    partial = build_report(evaluation, loaded[list(CASES).index("partial-dates")].patient_iri, kb.version())
    assert partial["recommendations"][0]["because"] == [
        "prior widget event: true (Condition/partial-dates-c (resolved, from 2019 to 2022-03))"]


def test_render_says_history_and_how_long_before(tmp_path):
    rendered = render_markdown([*resources.vocabulary_files(), FIXTURE])
    assert "Applies when: history of widget event [urn:example:dxh:codes WE-1]\n" in rendered
    earlier = tmp_path / "earlier.ttl"
    earlier.write_text(FIXTURE.read_text(encoding="utf-8").replace(
        "gkg:applicability ex:crit-event-ever", "gkg:applicability ex:crit-event-before"), encoding="utf-8")
    rendered = render_markdown([*resources.vocabulary_files(), earlier])
    assert "Applies when: history of widget event [urn:example:dxh:codes WE-1], begun at least 28 days before" in rendered


def test_the_flag_must_be_a_boolean(tmp_path):
    assert not [f for f in validate([FIXTURE], owl=False)["findings"] if f["severity"] == "error"]
    bad = tmp_path / "quoted.ttl"
    bad.write_text(FIXTURE.read_text(encoding="utf-8").replace("gkg:includesHistory true", 'gkg:includesHistory "yes"'),
                   encoding="utf-8")
    found = [f for f in validate([bad], owl=False)["findings"] if f["kind"] == "shacl"]
    assert any("gkg:includesHistory is written once, as true or false" in f["message"] for f in found), found


def test_a_record_without_an_onset_is_dated_by_when_it_was_recorded(kb, evaluated):
    """Condition.recordedDate (real exports often give no onset): recorded after the as-of date, whether it had
    begun by then cannot be told, and the explanation says so; recorded too recently for an earlier episode
    likewise; a history counted on it names the recorded date."""
    loaded, evaluation = evaluated()

    def notes(case: str, criterion: str) -> list[str]:
        return outcome_notes(evaluation, loaded, case, criterion)

    after = ("Condition/recorded-after-c: no onset date is read, and it was recorded on 2026-02-01, after the as-of "
             "date 2026-01-15: whether it had begun by then cannot be told")
    assert notes("recorded-after", "crit-event-now") == [after]
    assert notes("recorded-after", "crit-event-ever") == [after]
    assert notes("recorded-month-across", "crit-event-now") == [after.replace("recorded-after", "recorded-month-across")
                                                                .replace("on 2026-02-01, after", "in 2026-01, perhaps after")]
    assert notes("recorded-recently", "crit-event-before") == [
        "Condition/recorded-recently-c: no onset date is read, and it was recorded on 2026-01-10, so whether it began "
        "at least 28 days before the as-of date cannot be told"]
    assert notes("recorded-after-abated", "crit-event-ever") == []  # over in 2025: begun, whenever recorded
    report = build_report(evaluation, loaded[list(CASES).index("recorded-after-abated")].patient_iri, kb.version())
    assert report["recommendations"][0]["because"] == [
        "prior widget event: true (Condition/recorded-after-abated-c (resolved, ended 2025-05-01, recorded 2026-03-01))"]


def test_a_record_over_at_a_time_not_recorded_says_so(kb, evaluated):
    loaded, evaluation = evaluated()
    patient = loaded[list(CASES).index("abated-string")]
    [note] = [r["n"] for r in evaluation.store.select_values(f"""
        PREFIX gkg: <https://w3id.org/guidelinekg/ontology#>
        SELECT ?n WHERE {{ ?o gkg:criterion <{NS}crit-event-now> ; gkg:forPatient <{patient.patient_iri}> ;
                              gkg:outcomeNote ?n }}""")]
    assert note == ("Condition/abated-string-c: it is recorded as over, at a time not recorded (no abatement date is "
                    "read): whether it was over by the as-of date 2026-01-15 cannot be told")
    assert any("abatementString" in n.message and "over at a time not recorded" in n.message for n in patient.notes)


def test_an_onset_period_across_the_as_of_date_says_so(kb, evaluated):
    loaded, evaluation = evaluated()

    def note(case: str, criterion: str) -> list[str]:
        return outcome_notes(evaluation, loaded, case, criterion)

    assert note("onset-period-across", "crit-event-now") == [
        "Condition/onset-period-across-c: its onset is recorded as a period (some time from 2025-10-01 to 2026-02-01): "
        "whether it had begun by the as-of date 2026-01-15 cannot be told"]
    assert note("onset-period-end-recent", "crit-event-before") == [
        "Condition/onset-period-end-recent-c: its onset is recorded only as a span of days, so whether it began at "
        "least 28 days before the as-of date cannot be told"]
    assert note("onset-month-of-as-of", "crit-event-ever") == [
        "Condition/onset-month-of-as-of-c: its onset is recorded without a day (some time from 2026-01-01 to "
        "2026-01-31): whether it had begun by the as-of date 2026-01-15 cannot be told"]


# a recent episode (gkg:onsetAtMostDaysBefore 90, with history): begun on or after 2025-10-17
RECENT = {
    "current": "true", "exactly-28-days": "true", "onset-month-across": "true",
    "active": "false", "resolved": "false", "recorded-before": "false", "onset-after": "false", "none": "false",
    "refuted": "false",
    "no-onset": "unknown", "recorded-recently": "unknown",  # no onset date: when it began cannot be told
    "onset-period-across": "unknown",  # unknown already (its onset period reaches past the as-of date)
    "onset-period-before": "unknown",  # begun some time from 2025-10-01 to 2025-11-30: across the cut-off day
    "recurrence-old-onset": "unknown",  # begun in 2019, recurred at a time not recorded
}

# a window (at least 28 and at most 365 days before): begun from 2025-01-15 to 2025-12-18
WINDOW = {
    "exactly-28-days": "true", "27-days": "false", "current": "false", "active": "false", "none": "false",
    "recorded-before": "unknown",  # recorded on 2025-06-01, no onset: begun by then, but perhaps before the window
}


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_a_recent_episode_counts_only_a_record_begun_within_the_days(kb, evaluated, engine):
    """"Stroke in the last 3 months": a record begun within the days counts, one begun earlier does not, and
    one whose onset cannot be placed on either side of the cut-off day leaves it unknown."""
    loaded, evaluation = evaluated(engine)
    got = truths(evaluation)
    by_case = {name: got[(patient.patient_iri, NS + "crit-event-recent")] for patient, name in zip(loaded, CASES)}
    assert {case: by_case[case] for case in RECENT} == RECENT


def test_a_recent_episode_without_an_onset_says_why(kb, evaluated):
    loaded, evaluation = evaluated()
    patient = loaded[list(CASES).index("recorded-recently")].patient_iri
    [note] = [r["n"] for r in evaluation.store.select_values(f"""
        PREFIX gkg: <https://w3id.org/guidelinekg/ontology#>
        SELECT ?n WHERE {{ ?o gkg:criterion <{NS}crit-event-recent> ; gkg:forPatient <{patient}> ;
                              gkg:outcomeNote ?n }}""")]
    assert note == ("Condition/recorded-recently-c: no onset date is read, and it was recorded on 2026-01-10, so "
                    "whether it began within 90 days before the as-of date cannot be told")


def test_render_says_how_recent(tmp_path):
    recent = tmp_path / "recent.ttl"
    recent.write_text(FIXTURE.read_text(encoding="utf-8").replace(
        "gkg:applicability ex:crit-event-ever", "gkg:applicability ex:crit-event-recent"), encoding="utf-8")
    rendered = render_markdown([*resources.vocabulary_files(), recent])
    assert "Applies when: history of widget event [urn:example:dxh:codes WE-1], begun at most 90 days before" in rendered
    quoted = tmp_path / "quoted.ttl"
    quoted.write_text(FIXTURE.read_text(encoding="utf-8").replace("gkg:onsetAtMostDaysBefore 90",
                                                                  'gkg:onsetAtMostDaysBefore "90"'), encoding="utf-8")
    found = [f for f in validate([quoted], owl=False)["findings"] if f["kind"] == "shacl"]
    assert any("gkg:onsetAtMostDaysBefore is written once, as a positive number of days" in f["message"] for f in found)


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_a_window_of_days_and_the_records_its_outcomes_rest_on(kb, evaluated, engine):
    loaded, evaluation = evaluated(engine)
    got = truths(evaluation)
    by_case = {name: got[(patient.patient_iri, NS + "crit-event-window")] for patient, name in zip(loaded, CASES)}
    assert {case: by_case[case] for case in WINDOW} == WINDOW
    # rule 45: each outcome rests on the record that decided it (here the patient's one record)
    for case in ("current", "exactly-28-days", "recurrence-old-onset", "recorded-recently"):
        patient = loaded[list(CASES).index(case)].patient_iri
        for criterion in ("crit-event-recent", "crit-event-window"):
            rests_on = [r["cond"] for r in evaluation.store.select_values(f"""
                PREFIX gkg: <https://w3id.org/guidelinekg/ontology#>
                PREFIX prov: <http://www.w3.org/ns/prov#>
                SELECT ?cond WHERE {{ ?o gkg:criterion <{NS}{criterion}> ; gkg:forPatient <{patient}> ;
                                         prov:wasDerivedFrom ?cond . ?cond a gkg:Condition }}""")]
            assert [c.rsplit("/", 1)[-1] for c in rests_on] == [f"{case}-c"], (case, criterion, rests_on)


def test_dates_that_disagree_and_a_recurrence_say_so(kb, evaluated):
    loaded, evaluation = evaluated()

    def notes(case: str, criterion: str) -> list[str]:
        return outcome_notes(evaluation, loaded, case, criterion)

    assert notes("onset-after-recorded-before", "crit-event-now") == [
        "Condition/onset-after-recorded-before-c: its onset (2026-02-01) is after the as-of date 2026-01-15, but it "
        "was recorded before it (2025-01-01): the dates disagree, so whether it had begun by then cannot be told"]
    assert notes("recurrence-old-onset", "crit-event-recent") == [
        "Condition/recurrence-old-onset-c: it is recorded as a recurrence or relapse, and when it began again is not "
        "recorded, so whether it began within 90 days before the as-of date cannot be told"]
    assert notes("onset-year-recorded-before", "crit-event-now") == []  # recorded on 2026-01-02: begun


def test_a_history_counted_on_an_onset_period_names_its_days(kb, evaluated):
    """A period is shown as its days, never as a year ("from 2019" for 2019-12-20 to 2020-01-10)."""
    loaded, evaluation = evaluated()
    report = build_report(evaluation, loaded[list(CASES).index("onset-period-end-only")].patient_iri, kb.version())
    assert report["recommendations"][0]["because"] == [
        "prior widget event: true (Condition/onset-period-end-only-c (resolved, begun by 2019-05-01))"]


@pytest.mark.parametrize("name, line", [
    ("resolved", "widget event (present): false (Condition/resolved-c (resolved, from 2019-06-01 to 2022-03-01))"),
    ("refuted", "widget event (present): false (Condition/refuted-c (refuted, from 2019-06-01))"),
    ("active", "widget event (present): true (Condition/active-c (active, from 2019-06-01))"),
    # an end is a date: not "no date recorded"
    ("abated-no-onset", "widget event (present): false (Condition/abated-no-onset-c (resolved, ended 2022-03-01))"),
])
def test_a_decided_diagnosis_names_its_records_with_their_dates(kb, evaluated, name, line):
    """Before, a present diagnosis said only "true", and a resolved one "false" as if none were recorded: the
    explanation now shows each record it rests on and its dates (issue: the date of each fact used)."""
    from guidelinekg.report.explain import Criteria, Explainer

    loaded, evaluation = evaluated()
    patient = loaded[list(CASES).index(name)].patient_iri
    explainer = Explainer(Criteria.read(evaluation.store), Explainer.outcome_rows(evaluation.store, [patient])[patient])
    assert explainer.lines(NS + "crit-event-now") == [line]
