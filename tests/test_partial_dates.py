"""FHIR times without a day ("2026-01", "2025") are spans, never a guessed first day.

An Observation's effective time and a Condition's onset and abatement recorded to the month or year only
are mapped as their first instant and, beside it, their last (gkg:effectiveSpanEnd, gkg:onsetSpanEnd,
gkg:abatementSpanEnd; patients/fhirclinical.py), and the rules decide only what the whole span decides:

- a result whose span reaches past the as-of date is not used, and may be newer than every other result of
  its measure: none is the latest, the test is ordered (rule 10, warning imprecise-result-date);
- a result whose span is wholly on or before the as-of date is the latest when every other result precedes
  it; when another reaches into its span, which is the latest cannot be told (rule 28, same warning, rule
  30 takes none, rule 31 does not call them simultaneous); its age counts from the span's first day (rules
  32, 33: a result that may be too old is too old);
- a condition's onset span counts as begun only when wholly on or before the as-of date, an abatement span
  as over only when wholly on or before it (as a dated abatement on the as-of date is over); a span reaching
  past the as-of date leaves the record unknown (rule 39), and the diagnosis outcome says why (rule 44's
  note), never "recorded only as provisional" or "no diagnosis recorded".

Before these rules, "2026-01" was silently 2026-01-01T00:00:00: each case below decided otherwise then.
Made-up content: tests/fixtures/partial-dates/guideline.ttl; FHIR input built here; both engines.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.engine.store import open_store
from guidelinekg.engine.timeline import time_index_triples
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.patients.model import GKG, PatientData
from guidelinekg.report.patient import build_report

FIXTURE = Path(__file__).parent / "fixtures" / "partial-dates" / "guideline.ttl"
NS = "urn:example:partial:"
AS_OF = date(2026, 1, 15)
ENGINES = ["oxigraph", "rdflib"]
XSD = "http://www.w3.org/2001/XMLSchema#"
WIDGET = "99999-9"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


@pytest.fixture(scope="module")
def pkb() -> KnowledgeBase:
    return KnowledgeBase.load([FIXTURE])


def widget(oid: str, value: float, **time) -> dict:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": WIDGET}]},
            "subject": {"reference": "Patient/p1"}, **time,
            "valueQuantity": {"value": value, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}}


def widgetitis(cid: str = "c1", **fields) -> dict:
    return {"resourceType": "Condition", "id": cid, "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "999999999"}]},
            "verificationStatus": {"coding": [{"system": VERIFICATION, "code": "confirmed"}]}, **fields}


def load(kb: KnowledgeBase, *resources: dict) -> PatientData:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "birthDate": "1980-01-01"}},
        *({"resource": r} for r in resources)]}
    return load_patient_input("partial.json", matcher=kb.matcher, measures=kb.measures, reads=kb.reads,
                              raw=json.dumps(bundle).encode())


def report(kb: KnowledgeBase, *resources: dict, engine: str = "oxigraph", as_of: date = AS_OF) -> dict:
    patient = load(kb, *resources)
    return build_report(evaluate(kb, [patient], as_of=as_of, engine=engine), patient.patient_iri, kb.version())


def status(rep: dict, rec: str) -> str:
    """made, undetermined or not made (false or suppressed) for the statement ``rec``."""
    names = {kind: {i["iri"].removeprefix(NS) for i in rep[kind]} for kind in ("recommendations", "undetermined")}
    return "made" if rec in names["recommendations"] else "undetermined" if rec in names["undetermined"] else "not made"


def warnings(rep: dict, code: str) -> list[str]:
    return [w["message"] for w in rep["warnings"] if w["code"] == code]


def because(rep: dict, rec: str) -> str:
    [item] = [i for i in rep["recommendations"] + rep["undetermined"] if i["iri"] == NS + rec]
    return "\n".join(item["because"])


def objects(p: PatientData, subject: str, prop: str) -> list[str]:
    return sorted(t.object.value for t in p.triples() if t.subject.value == subject and t.predicate.value == GKG + prop)


# --- the mapping: a span's end beside its start --------------------------------------------------------------


def test_a_time_without_a_day_gives_its_span_end(pkb) -> None:
    collected = {"resourceType": "Specimen", "id": "s1", "collection": {"collectedDateTime": "2024-02"}}
    p = load(pkb, widget("w1", 30, effectiveDateTime="2026-01"), widget("w2", 30, effectivePeriod={"start": "2025"}),
             {**widget("w3", 30, specimen={"reference": "Specimen/s1"})}, collected,
             widget("w4", 30, effectiveDateTime="2026-01-10"),
             widgetitis("c1", onsetPeriod={"start": "2025-12"}, abatementDateTime="2026"),
             widgetitis("c2", onsetDateTime="2025-12-03", abatementPeriod={"end": "2026-02"}))
    o, c = "urn:guidelinekg:Observation/", "urn:guidelinekg:Condition/"
    assert objects(p, o + "w1", "effectiveTime") == ["2026-01-01T00:00:00"]
    assert objects(p, o + "w1", "effectiveSpanEnd") == ["2026-01-31T23:59:59"]
    assert objects(p, o + "w2", "effectiveSpanEnd") == ["2025-12-31T23:59:59"]
    assert objects(p, o + "w3", "effectiveSpanEnd") == ["2024-02-29T23:59:59"]  # a leap year's February
    assert objects(p, o + "w4", "effectiveSpanEnd") == []  # a day: no span
    assert objects(p, c + "c1", "onsetSpanEnd") == ["2025-12-31T23:59:59"]
    assert objects(p, c + "c1", "abatementSpanEnd") == ["2026-12-31T23:59:59"]
    assert objects(p, c + "c2", "onsetSpanEnd") == []
    assert objects(p, c + "c2", "abatementSpanEnd") == ["2026-02-28T23:59:59"]
    notes = {n.message for n in p.notes if n.code == "imprecise-time"}
    assert ("Observation/w1 effectiveDateTime '2026-01' has no day: some time from 2026-01-01 to 2026-01-31; the "
            "result is not used while the span reaches past the as-of date, nor as the latest while another result "
            "of its measure may be earlier or later; its age counts from the span's first day") in notes
    assert not any("taken as" in n for n in notes), notes  # no first day is guessed any more


def test_the_engine_indexes_a_results_span_end() -> None:
    store = open_store()
    store.load_ntriples(f'<urn:o> <{GKG}effectiveSpanEnd> "2026-01-31T23:59:59"^^<{XSD}dateTime> .\n')
    lines = time_index_triples(store)
    assert f'<urn:o> <{GKG}effectiveSpanEndDay> "{date(2026, 1, 31).toordinal() - date(1970, 1, 1).toordinal()}"' \
           f'^^<{XSD}integer> .\n' in lines
    assert any(f"<{GKG}effectiveSpanEndHours>" in line for line in lines)


# --- results: not used past the as-of date, never the latest on a guess --------------------------------------

RESULTS = [  # (results as (id, value, time), rec-low's status, an imprecise-result-date warning naming)
    # the span reaches past the as-of date: not used, and perhaps newer than the precise result (was: 50 used)
    ([("w1", 30, "2025-12-20"), ("w2", 50, "2026-01")], "undetermined", "may be after the as-of date 2026-01-15"),
    ([("w2", 30, "2026-01")], "undetermined", "may be after the as-of date 2026-01-15"),  # was: made on it
    ([("w2", 30, "2026")], "undetermined", "some time from 2026-01-01 to 2026-12-31"),
    # a span reaching a precise result: which is the latest is unknown (was: the precise one, or the span's)
    ([("w1", 50, "2025-12-10"), ("w2", 30, "2025-12")], "undetermined", "may be earlier or later than 50 mg/dL of "
                                                                         "2025-12-10 (Observation/w1)"),
    ([("w1", 30, "2025-12-10T09:00:00Z"), ("w2", 50, "2025-12")], "undetermined", "may be earlier or later than"),
    # two spans that overlap (was: "2025" read as January, the December one latest)
    ([("w1", 30, "2025"), ("w2", 50, "2025-12")], "undetermined", "to 2025-12-31 (Observation/w2)"),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("results", "expected", "named"), RESULTS)
def test_a_result_that_may_be_after_the_as_of_date_or_another_result_is_not_used(pkb, engine, results, expected,
                                                                                 named) -> None:
    rep = report(pkb, *(widget(i, v, effectiveDateTime=t) for i, v, t in results), engine=engine)
    assert status(rep, "rec-low") == expected
    assert [o["loinc"] for o in rep["orders"]] == [WIDGET]  # the test is ordered
    found = warnings(rep, "imprecise-result-date")
    assert found and any(named in m for m in found), found
    assert all("none is used as the latest" in m and "repeat" not in m for m in found)  # the order says what to do
    assert "Observation/w2" in "\n".join(found)
    # the criterion's explanation gives the reason (rule 42 links the warning)
    assert "widget level < 42 mg/dL: unknown" in because(rep, "rec-low")
    assert "without a day" in because(rep, "rec-low")


UTC_RESULTS = [  # (the newer result's time, rec-low's status, warning on it): the older one is 50 mg/dL
    ("2026-01-16T01:30:00Z", "undetermined", "imprecise-result-date"),  # 20:30 on the 15th in New York
    ("2026-01-16T11:59:00+00:00", "undetermined", "imprecise-result-date"),  # 23:59 at UTC-12:00
    ("2026-01-16T12:00:00Z", "not made", "future-result"),  # the 16th everywhere: a future result
    ("2026-01-16T01:30:00+01:00", "not made", "future-result"),  # its local date is recorded: the 16th
    ("2026-01-15T23:00:00Z", "made", None),  # dated the as-of date as recorded: used
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("time", "expected", "code"), UTC_RESULTS)
def test_a_result_timed_in_utc_the_day_after_may_be_of_the_as_of_date(pkb, engine, time, expected, code) -> None:
    """Epic and Oracle Health send times in UTC, without the local date: a draw at 20:30 in New York on the
    as-of date is 01:30Z the next day. Ignored as a future result, it left the older 50 mg/dL as the latest,
    and 'not made' was decided on it; now the measure is unknown and the test ordered."""
    rep = report(pkb, widget("w1", 50, effectiveDateTime="2025-12-10T09:00:00Z"),
                 widget("w2", 30, effectiveDateTime=time), engine=engine)
    assert status(rep, "rec-low") == expected
    codes = {w["code"] for w in rep["warnings"]} & {"imprecise-result-date", "future-result"}
    assert codes == ({code} if code else set())
    if code == "imprecise-result-date":
        assert [o["loinc"] for o in rep["orders"]] == [WIDGET]
        (message,) = warnings(rep, code)
        assert f"timed {time[:19]}" in message and " in UTC" in message  # Z or +00:00, as the engine writes it
        assert "drawn on the as-of date 2026-01-15" in message


def test_the_engine_indexes_the_earliest_local_date_of_a_time_in_utc() -> None:
    store = open_store()
    store.load_ntriples(f'<urn:a> <{GKG}effectiveTime> "2026-01-16T01:30:00Z"^^<{XSD}dateTime> .\n'
                        f'<urn:b> <{GKG}effectiveTime> "2026-01-16T13:00:00Z"^^<{XSD}dateTime> .\n'
                        f'<urn:c> <{GKG}effectiveTime> "2026-01-16T01:30:00-05:00"^^<{XSD}dateTime> .\n')
    earliest = [line for line in time_index_triples(store) if "effectiveEarliestDay" in line]
    day = date(2026, 1, 15).toordinal() - date(1970, 1, 1).toordinal()
    assert earliest == [f'<urn:a> <{GKG}effectiveEarliestDay> "{day}"^^<{XSD}integer> .\n']


@pytest.mark.parametrize("engine", ENGINES)
def test_two_results_of_one_month_are_not_called_simultaneous(pkb, engine) -> None:
    """Both "2025-12": not one instant (as 2025-12-01T00:00 they once were, simultaneous-results-differ)."""
    rep = report(pkb, widget("w1", 30, effectiveDateTime="2025-12"), widget("w2", 50, effectiveDateTime="2025-12"),
                 engine=engine)
    assert status(rep, "rec-low") == "undetermined"
    assert warnings(rep, "simultaneous-results-differ") == []
    assert len(warnings(rep, "imprecise-result-date")) == 2  # each may be the later one


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("results", "expected"), [
    ([("w1", 50, "2025-11-20"), ("w2", 30, "2025-12")], "made"),  # the span follows every other result
    ([("w1", 30, "2025-11"), ("w2", 50, "2025-12-10")], "not made"),  # a precise result follows the span
    ([("w1", 50, "2025-11"), ("w2", 30, "2025-12")], "made"),  # two spans, one after the other
])
def test_a_span_wholly_before_the_as_of_date_and_every_other_result_is_used(pkb, engine, results, expected) -> None:
    rep = report(pkb, *(widget(i, v, effectiveDateTime=t) for i, v, t in results), engine=engine)
    assert status(rep, "rec-low") == expected
    assert warnings(rep, "imprecise-result-date") == []
    notes = warnings(rep, "imprecise-time")
    assert notes and all("has no day: some time from" in n for n in notes)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_span_is_as_old_as_its_first_day(pkb, engine) -> None:
    """The limit is 60 days; "2025-11" may be 46 to 75 days old on 2026-01-15: it may be too old, so it is."""
    rep = report(pkb, widget("w1", 30, effectiveDateTime="2025-11"), engine=engine)
    assert status(rep, "rec-low") == "undetermined"
    [stale] = warnings(rep, "stale-result")
    assert stale.startswith("widget level 30 mg/dL of 2025-11-01 to 2025-11-30 (a date without a day; "
                            "Observation/w1) is up to 75 days (about 2 months) old on 2026-01-15"), stale
    # its last day would be within the limit; its first day is not (a precise result of that day: 75 days too)
    within = report(pkb, widget("w1", 30, effectiveDateTime="2025-12"), engine=engine)
    assert status(within, "rec-low") == "made" and warnings(within, "stale-result") == []


# --- conditions: begun and over only where the whole span says so ---------------------------------------------

CONDITIONS = [  # (Condition fields, as-of date, rec-dx's status)
    ({"onsetDateTime": "2026-01"}, AS_OF, "undetermined"),  # may begin after the 15th (was: present)
    ({"onsetPeriod": {"start": "2026"}}, AS_OF, "undetermined"),
    ({"onsetDateTime": "2026-01"}, date(2026, 1, 31), "made"),  # the whole span on or before the as-of date
    ({"onsetDateTime": "2026-02"}, AS_OF, "not made"),  # wholly after it
    ({"onsetDateTime": "2025"}, AS_OF, "made"),
    ({"abatementDateTime": "2026-01"}, AS_OF, "undetermined"),  # may be over after the 15th (was: absent)
    ({"abatementPeriod": {"end": "2026"}}, AS_OF, "undetermined"),
    ({"abatementDateTime": "2026-01"}, date(2026, 1, 31), "not made"),  # over by the as-of date, whatever the day
    ({"abatementDateTime": "2025-12"}, AS_OF, "not made"),
    ({"abatementDateTime": "2026-02"}, AS_OF, "made"),  # over only after the as-of date: present on it
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("fields", "as_of", "expected"), CONDITIONS)
def test_an_onset_or_abatement_without_a_day_decides_only_what_its_whole_span_decides(pkb, engine, fields, as_of,
                                                                                      expected) -> None:
    rep = report(pkb, widgetitis(**fields), widget("w1", 50, effectiveDateTime="2026-01-05"), engine=engine,
                 as_of=as_of)
    assert status(rep, "rec-dx") == expected
    [note] = warnings(rep, "imprecise-time")  # the record's span, and how it is read: no first day guessed
    assert "has no day: some time from" in note and "only when the whole span is on or before the as-of date" in note
    if expected == "undetermined":
        text = because(rep, "rec-dx")
        what = "onset" if "onsetDateTime" in fields or "onsetPeriod" in fields else "abatement"
        assert f"widgetitis: unknown (Condition/c1: its {what} is recorded without a day (some time from " in text
        assert "cannot be told" in text
        assert "provisional" not in text and "no diagnosis" not in text, text
        [missing] = warnings(rep, "missing-data")  # the existing machinery: record or date it to decide
        assert "'widgetitis'" in missing
        assert rep["orders"] == []  # no test decides a diagnosis


def standings(kb: KnowledgeBase, *conditions: dict, engine: str) -> tuple[dict[str, str], dict]:
    """Each condition record's gkg:presentAsOf (rule 39) and the report."""
    patient = load(kb, *conditions)
    evaluation = evaluate(kb, [patient], as_of=AS_OF, engine=engine)
    rows = evaluation.store.select(f"SELECT ?c ?x WHERE {{ ?c <{GKG}presentAsOf> ?x }}")
    found = {r["c"].value.rsplit("/", 1)[-1]: r["x"].value.rsplit("#", 1)[-1] for r in rows}
    return found, build_report(evaluation, patient.patient_iri, kb.version())


@pytest.mark.parametrize("engine", ENGINES)
def test_a_record_that_is_present_outweighs_one_a_span_leaves_unknown(pkb, engine) -> None:
    found, rep = standings(pkb, widgetitis("c1", onsetDateTime="2026-01"), widgetitis("c2", onsetDateTime="2025-06-01"),
                           engine=engine)
    assert found == {"c1": "Unknown", "c2": "True"}
    assert status(rep, "rec-dx") == "made"
    assert "without a day" not in because(rep, "rec-dx")


@pytest.mark.parametrize("engine", ENGINES)
def test_an_unknown_diagnosis_names_the_record_whose_date_leaves_it_so(pkb, engine) -> None:
    provisional = widgetitis("c1")
    provisional["verificationStatus"]["coding"][0]["code"] = "provisional"
    found, rep = standings(pkb, provisional, widgetitis("c2", abatementDateTime="2026-01"), engine=engine)
    assert found == {"c1": "Unknown", "c2": "Unknown"}
    text = because(rep, "rec-dx")
    assert ("widgetitis: unknown (Condition/c2: its abatement is recorded without a day (some time from 2026-01-01 "
            "to 2026-01-31): whether it was over by the as-of date 2026-01-15 cannot be told)") in text
    # a record unknown only for its verification status is explained as before
    _, alone = standings(pkb, provisional, engine=engine)
    assert "widgetitis: unknown (recorded only as unconfirmed, provisional or differential" in because(alone, "rec-dx")
