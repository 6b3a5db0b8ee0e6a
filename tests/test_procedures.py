"""Conditions known from procedures (issue #16, item 4): gkg:ProcedureCriterion (rule 34) reads FHIR
Procedures (code in any system through a value set, status, performed[x]) against the as-of date and an
optional gkg:performedAgeLimit, on a made-up guideline (tests/fixtures/madeup/procedures.ttl, not clinical
knowledge), from FHIR input to the report and its provenance, on both engines. Every patient is evaluated in
one run per engine (a module fixture); each case reads its own report.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.errors import Location
from guidelinekg.patients.decode import parse_json
from guidelinekg.patients.fhir import patients_from_json
from guidelinekg.patients.fhirlazy import read_bundle
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.patients.relevance import ReadCodes
from guidelinekg.report.patient import build_reports
from madeup import run_documents

FIXTURE = Path(__file__).parent / "fixtures" / "madeup" / "procedures.ttl"
AS_OF = date(2026, 2, 1)
EX = "urn:example:procs:"
TREAT_A = ("urn:example:procedures", "T-A")
TREAT_B = ("urn:example:other-procedures", "T-B")
SURGERY = ("urn:example:procedures", "S-1")
OTHER = ("urn:example:procedures", "Z-9")


def proc(code, status="completed", **performed) -> dict:
    system, value = code
    out = {"resourceType": "Procedure", "code": {"coding": [{"system": system, "code": value}]}, **performed}
    if status is not None:
        out["status"] = status
    return out


# (name, procedures, expected rec-state: "made" / "undetermined" / "no", the note fragment expected in the
# explanation of the procedure criterion (None: not checked))
STATE_CASES = [
    ("none", [], "no", "no procedure with these codes recorded"),
    ("recent", [proc(TREAT_A, performedDateTime="2026-01-20T09:00:00Z")], "made",
     "dated 2026-01-20, status completed"),
    ("other-system", [proc(TREAT_B, performedDateTime="2026-01-20")], "made", "dated 2026-01-20"),
    ("exactly-30-days", [proc(TREAT_A, performedDateTime="2026-01-02")], "made", None),
    ("31-days", [proc(TREAT_A, performedDateTime="2026-01-01")], "no",
     "none performed in the 30 days before the as-of date; latest record dated 2026-01-01"),
    ("long-ago", [proc(TREAT_A, performedDateTime="2025-11-01")], "no", None),
    ("in-progress", [proc(TREAT_A, "in-progress", performedPeriod={"start": "2025-06-01"})], "made",
     "status in-progress"),
    ("period-ended-recently", [proc(TREAT_A, performedPeriod={"start": "2025-12-01", "end": "2026-01-15"})],
     "made", "dated 2026-01-15"),
    ("period-ended-long-ago", [proc(TREAT_A, performedPeriod={"start": "2025-06-01", "end": "2025-10-15"})],
     "no", None),
    ("period-ends-after-as-of", [proc(TREAT_A, performedPeriod={"start": "2026-01-10", "end": "2026-03-01"})],
     "made", None),
    ("status-unknown", [proc(TREAT_A, "unknown", performedDateTime="2026-01-20")], "undetermined",
     "a matching record dated 2026-01-20, status unknown, cannot decide it"),
    ("status-missing", [proc(TREAT_A, None, performedDateTime="2026-01-20")], "undetermined",
     "status not recorded"),
    ("status-invalid", [proc(TREAT_A, "done", performedDateTime="2026-01-20")], "undetermined", None),
    ("no-date", [proc(TREAT_A)], "undetermined", "with no date"),
    ("in-progress-no-date", [proc(TREAT_A, "in-progress")], "undetermined", None),
    # a month without a day could lie on either side of the 30-day limit
    ("partial-date", [proc(TREAT_A, performedDateTime="2026-01")], "undetermined", "dated 2026-01-01 to 2026-01-31,"),
    ("partial-date-all-too-old", [proc(TREAT_A, performedDateTime="2025-06")], "no", None),
    # a valid period whose end has no day: not refused; when in January it ended is not known, but begun on
    # 2026-01-20 it was performed within the 30 days whenever it ended
    ("period-end-without-day", [proc(TREAT_A, performedPeriod={"start": "2026-01-20", "end": "2026-01"})],
     "made", None),
    # a start without a day as early as 2026-01-01: not all of the record is within the 30 days (an imprecise
    # record counts only when its earliest day is: conservative where the end alone would do)
    ("period-start-without-day", [proc(TREAT_A, performedPeriod={"start": "2026-01", "end": "2026-01-20"})],
     "undetermined", None),
    ("partial-date-future", [proc(TREAT_A, performedDateTime="2027")], "no", None),
    ("period-ends-before-it-starts", [proc(TREAT_A, performedPeriod={"start": "2026-01-25", "end": "2025-06-01"})],
     "undetermined", None),
    ("both-choices", [proc(TREAT_A, performedDateTime="2025-01-01", performedPeriod={"start": "2026-01-25"})],
     "undetermined", None),
    ("performed-string", [proc(TREAT_A, performedString="last week")], "undetermined", None),
    # stopped: performed only in part (an incomplete colonoscopy); whether that counts is not told
    ("stopped", [proc(TREAT_A, "stopped", performedDateTime="2026-01-20")], "undetermined", "status stopped"),
    ("not-done", [proc(TREAT_A, "not-done", performedDateTime="2026-01-20")], "no", "status not-done"),
    ("entered-in-error", [proc(TREAT_A, "entered-in-error", performedDateTime="2026-01-20")], "no", None),
    ("preparation", [proc(TREAT_A, "preparation", performedDateTime="2026-01-20")], "no", None),
    ("after-as-of", [proc(TREAT_A, performedDateTime="2026-03-01")], "no", None),
    ("started-after-as-of", [proc(TREAT_A, "in-progress", performedPeriod={"start": "2026-02-02"})], "no", None),
    ("end-only-after-as-of", [proc(TREAT_A, performedPeriod={"end": "2026-02-10"})], "undetermined", None),
    ("old-and-unknown", [proc(TREAT_A, performedDateTime="2025-01-01"),
                         proc(TREAT_A, "unknown", performedDateTime="2026-01-25")], "undetermined", None),
    ("unknown-and-recent", [proc(TREAT_A, "unknown", performedDateTime="2026-01-25"),
                            proc(TREAT_B, performedDateTime="2026-01-10")], "made", "dated 2026-01-10"),
    ("uncoded-other", [proc(OTHER, performedDateTime="2026-01-20")], "no", None),
    ("surgery-is-not-treatment", [proc(SURGERY, performedDateTime="2026-01-20")], "no", None),
]  # fmt: skip
# (name, procedures, rec-surgery made?) for a history at any time (no limit)
HISTORY_CASES = [
    ("long-ago", [proc(SURGERY, performedDateTime="2001-05-05")], "made"),
    ("no-date", [proc(SURGERY)], "made"),
    ("after-as-of", [proc(SURGERY, performedDateTime="2026-02-02")], "no"),
    ("status-unknown", [proc(SURGERY, "unknown", performedDateTime="2001-05-05")], "undetermined"),
    ("stopped", [proc(SURGERY, "stopped", performedDateTime="2020-01-01")], "undetermined"),
    ("on-hold", [proc(SURGERY, "on-hold")], "no"),
    # a month without a day: it may lie after the as-of date (2026-02-01) or not
    ("month-of-as-of", [proc(SURGERY, performedDateTime="2026-02")], "undetermined"),
    ("year-before", [proc(SURGERY, performedDateTime="2025")], "made"),
]  # fmt: skip


def bundle(pid: str, procedures: list[dict], conditions: list[dict] = ()) -> dict:
    resources = [{"resourceType": "Patient", "id": pid, "birthDate": "1970-01-01"}]
    for i, res in enumerate([*procedures, *conditions]):
        resources.append({**res, "id": f"{pid}-{i}", "subject": {"reference": f"Patient/{pid}"}})
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


def all_patients() -> dict[str, dict]:
    docs = {f"state-{name}": bundle(f"state-{name}", procs) for name, procs, _, _ in STATE_CASES}
    docs |= {f"hist-{name}": bundle(f"hist-{name}", procs) for name, procs, _ in HISTORY_CASES}
    diagnosis = {"resourceType": "Condition", "code": {"coding": [{"system": "urn:example:diagnoses", "code": "X1"}]}}
    docs["state-diagnosed"] = bundle("state-diagnosed", [], [diagnosis])
    return docs


@pytest.fixture(scope="module", params=["oxigraph", "rdflib"])
def run(request, tmp_path_factory):
    done = run_documents(FIXTURE, all_patients(), tmp_path_factory.mktemp("procs"), AS_OF, request.param)
    return done.reports, done.evaluation, done.patients


def standing(report: dict, statement: str) -> str:
    for key, word in (("recommendations", "made"), ("undetermined", "undetermined")):
        if any(r["iri"] == EX + statement for r in report[key]):
            return word
    return "no"


def because(report: dict, statement: str) -> list[str]:
    return [line for key in ("recommendations", "undetermined", "not_made") for r in report.get(key, [])
            if r["iri"] == EX + statement for line in r.get("because", [])]


@pytest.mark.parametrize("case", STATE_CASES, ids=[c[0] for c in STATE_CASES])
def test_state_known_from_a_recent_procedure(run, case):
    name, _, expected, note = case
    reports, _, _ = run
    report = reports[f"state-{name}"]
    assert standing(report, "rec-state") == expected
    if note is not None and expected != "no":
        lines = [line for line in because(report, "rec-state") if "example treatment" in line]
        assert any(note in line for line in lines), lines


def test_state_known_from_a_diagnosis_alone(run):
    reports, _, _ = run
    assert standing(reports["state-diagnosed"], "rec-state") == "made"


@pytest.mark.parametrize("case", HISTORY_CASES, ids=[c[0] for c in HISTORY_CASES])
def test_history_of_a_procedure_at_any_time(run, case):
    name, _, expected = case
    reports, _, _ = run
    assert standing(reports[f"hist-{name}"], "rec-surgery") == expected


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_a_date_without_a_day_wholly_within_the_limit_counts(tmp_path, engine):
    """Found by an author (colonoscopy "2020" under a 10-year limit): any date without a day under a limit was
    unknown. As of 2026-01-31 under 30 days, "2026-01" (1 to 31 January) is wholly within it: performed; as of
    2026-02-01 its first day is 31 days before: unknown (STATE_CASES, partial-date)."""
    docs = {"month": bundle("month", [proc(TREAT_A, performedDateTime="2026-01")])}
    done = run_documents(FIXTURE, docs, tmp_path, date(2026, 1, 31), engine)
    assert standing(done.reports["month"], "rec-state") == "made"


def test_outcome_rests_on_the_deciding_procedure_record(run):
    """Provenance: the outcome, and the recommendation through it (rule 90), derive from the record that
    decided it (the recent one), not from an undecidable one with the same code."""
    _, evaluation, patients = run
    store = evaluation.store
    patient = patients["state-unknown-and-recent"].patient_iri
    rows = store.select(f"""PREFIX gkg: <https://w3id.org/guidelinekg/ontology#>
        PREFIX prov: <http://www.w3.org/ns/prov#>
        SELECT ?id WHERE {{ ?r a gkg:RecommendationResult ; gkg:forPatient <{patient}> ; prov:wasDerivedFrom ?rec .
                           ?rec a gkg:ProcedureRecord ; gkg:identifier ?id }}""")
    assert sorted(str(getattr(r["id"], "value", r["id"])) for r in rows) == ["Procedure/state-unknown-and-recent-1"]


def test_notes_for_what_is_not_read():
    doc = bundle("p", [proc(TREAT_A, "done", performedDateTime="2026-01-20"), proc(TREAT_A, performedAge={"value": 40})])
    (p,) = patients_from_json(parse_json(json.dumps(doc), Location("<test>")))
    assert sorted(n.code for n in p.notes) == ["invalid-status", "unsupported-time"]
    assert p.text().count("procedureStatus") == 1 and '"done"' not in p.text()  # the second's "completed"
    assert p.text().count("performedStart") == 1  # the first's date; an age gives none
    doc = bundle("p", [proc(TREAT_A, performedPeriod={"start": "2026-01-25", "end": "2025-06-01"}),
                       proc(TREAT_A, performedDateTime="2026-01")])
    (p,) = patients_from_json(parse_json(json.dumps(doc), Location("<test>")))
    assert sorted(n.code for n in p.notes) == ["imprecise-time", "invalid-time"]
    assert p.text().count("performedImprecise") == 1


def test_procedures_read_only_when_a_guideline_asks_for_them():
    """Without a procedure criterion, Procedures are a type not used, in the strict and the lazy read alike;
    with one, a Procedure of codes no criterion asks for is counted, not mapped."""
    doc = bundle("p", [proc(TREAT_A, performedDateTime="2026-01-20"), proc(OTHER, performedDateTime="2026-01-20")])
    data = json.dumps(doc).encode()
    for reads in (ReadCodes(frozenset()), ReadCodes(frozenset(), frozenset({"urn:example:procedures|T-A"}))):
        strict = patients_from_json(parse_json(data.decode(), Location("<test>")), reads=reads)
        lazy = read_bundle(data, reads)
        assert lazy is not None
        lazy_patients = patients_from_json(lazy.doc, reads=reads, skipped=lazy.skipped)
        assert [(p.text(), p.notes) for p in lazy_patients] == [(p.text(), p.notes) for p in strict]
        texts = [n.message for p in strict for n in p.notes]
        if reads.procedures:
            assert strict[0].text().count("ProcedureRecord") == 1
            assert any("1 Procedure resource ignored: no loaded guideline reads its codes" in t for t in texts), texts
        else:
            assert "ProcedureRecord" not in strict[0].text()
            assert any("2 Procedure resources ignored: type not used" in t for t in texts), texts
            assert lazy.skipped.counts["Procedure"] == 2


RDF_PATIENT = """@prefix gkg: <https://w3id.org/guidelinekg/ontology#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix ex:  <https://example.org/procs/> .
ex:p a gkg:Patient ; gkg:birthDate "1970-01-01"^^xsd:date .
ex:p-proc a gkg:ProcedureRecord ; gkg:subject ex:p ; gkg:codeToken "urn:example:procedures|T-A" ;
    gkg:procedureStatus "{status}" ; gkg:performedStart "2026-01-20T10:00:00Z"^^xsd:dateTime .
"""


@pytest.mark.parametrize("status, expected", [("completed", "made"), ("not-done", "no")])
def test_procedure_records_in_patient_rdf(tmp_path, status, expected):
    """Patient RDF states procedure records directly; the engine gives their dates day numbers."""
    kb = KnowledgeBase.load([FIXTURE])
    path = tmp_path / "p.ttl"
    path.write_text(RDF_PATIENT.format(status=status), encoding="utf-8")
    patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    evaluation = evaluate(kb, [patient], as_of=AS_OF)
    (report,) = build_reports(evaluation, kb.version(), [patient.patient_iri]).values()
    assert standing(report, "rec-state") == expected


def test_an_invalid_status_in_patient_rdf_is_reported_and_decides_nothing(tmp_path, capsys):
    from guidelinekg.cli import main

    path = tmp_path / "p.ttl"
    path.write_text(RDF_PATIENT.format(status="done"), encoding="utf-8")
    code = main(["recommend", str(path), "--content", str(FIXTURE), "--as-of", "2026-02-01", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [w["code"] for w in report["warnings"] if w["code"] == "patient-data-invalid"] == ["patient-data-invalid"]
    assert standing(report, "rec-state") == "undetermined"


def test_render_shows_the_codes_and_the_limit(capsys):
    from guidelinekg.cli import main

    assert main(["render", "--data", str(FIXTURE), "procedure"]) == 0
    text = capsys.readouterr().out
    assert ("procedure example treatment [urn:example:procedures T-A, unverified; urn:example:other-procedures T-B, "
            "unverified] performed within the last 30 days") in text  # the made-up codes are marked unverified
    assert "procedure example surgery [urn:example:procedures S-1, unverified] performed at any time" in text
