"""Reasoner properties: knowledge as data, idempotence, order independence, provenance, determinism."""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path

import pyshacl
import pytest
import rdflib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.patients.model import PatientData, facts_sha256
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.provenance.record import TIMING_PREDICATES, provenance_lines
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.report.patient import build_report
from guidelinekg.content.resources import ontology_dir, shapes_dir
from guidelinekg.engine.rules import run_rules
from vignettes import load_vignettes, outcome_of

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLE = Path(__file__).parents[1] / "examples" / "patient-ferritin-45.json"
GKG = "https://w3id.org/guidelinekg/ontology#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
VIGNETTES = [v for v in load_vignettes() if not v.expected["expect"].get("error")]


def madeup_patient(value: str | None) -> PatientData:
    p = "<urn:example:Patient/w1>"
    lines = [f"{p} <{RDF_TYPE}> <{GKG}Patient> .",
             f'{p} <{GKG}birthDate> "1980-01-01"^^<http://www.w3.org/2001/XMLSchema#date> .',
             f"<urn:example:Condition/c1> <{RDF_TYPE}> <{GKG}Condition> .",
             f"<urn:example:Condition/c1> <{GKG}subject> {p} .",
             f"<urn:example:Condition/c1> <{GKG}conditionCode> <urn:example:madeup:code-widgetitis> ."]
    if value is not None:
        o = "<urn:example:Observation/o1>"
        lines += [f"{o} <{RDF_TYPE}> <{GKG}Observation> .", f"{o} <{GKG}subject> {p} .",
                  f"{o} <{GKG}observedMeasure> <urn:example:madeup:widget-level> .",
                  f'{o} <{GKG}normalizedValue> "{value}"^^<http://www.w3.org/2001/XMLSchema#decimal> .',
                  f'{o} <{GKG}effectiveTime> "2026-01-02T09:00:00Z"^^<http://www.w3.org/2001/XMLSchema#dateTime> .']
    return PatientData.build("urn:example:Patient/w1", lines)


@pytest.fixture(scope="module")
def madeup_kb() -> KnowledgeBase:
    return KnowledgeBase.load([FIXTURES / "madeup" / "guideline.ttl"])


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
@pytest.mark.parametrize(("value", "made", "ordered"), [("41.9", True, False), ("42", False, False), (None, False, True)])
def test_new_guideline_with_new_threshold_needs_no_code_change(madeup_kb, engine, value, made, ordered):
    evaluation = evaluate(madeup_kb, [madeup_patient(value)], as_of=date(2026, 1, 5), engine=engine)
    report = build_report(evaluation, "urn:example:Patient/w1", madeup_kb.version())
    assert [r["iri"] for r in report["recommendations"]] == (["urn:example:madeup:rec-examplomab"] if made else [])
    assert [o["loinc"] for o in report["orders"]] == (["99999-9"] if ordered else [])
    if made:
        assert report["recommendations"][0]["dose"] == {"value": 7, "unit": "mg"}
        assert report["recommendations"][0]["strength"] == "strong"


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_no_match_returns_no_recommendation(madeup_kb, engine):
    """Guards the rdflib empty-GROUP-BY bug: a patient who matches nothing gets nothing."""
    evaluation = evaluate(madeup_kb, [madeup_patient("500")], as_of=date(2026, 1, 5), engine=engine)
    report = build_report(evaluation, "urn:example:Patient/w1", madeup_kb.version())
    assert report["recommendations"] == [] and report["undetermined"] == [] and report["not_recommended"] == []


def _load(kb, vignette):
    return load_patient_input(vignette.patient, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)


@pytest.mark.parametrize("vignette", VIGNETTES, ids=lambda v: v.name)
def test_running_rules_again_adds_nothing(kb, vignette):
    evaluation = evaluate(kb, [_load(kb, vignette)], as_of=date.fromisoformat(vignette.as_of))
    before = evaluation.store.size()
    run_rules(evaluation.store, kb.rules)
    assert evaluation.store.size() == before


def test_input_digest_read_from_the_store_equals_facts_sha256(kb):
    """The run's input hash is taken from the evaluation store (the facts are parsed once); it must be
    the digest `audit` recomputes with facts_sha256, for every vignette and for all of them together."""
    patients = [_load(kb, v) for v in VIGNETTES]
    for patient in patients:
        assert evaluate(kb, [patient], as_of=date(2026, 1, 15)).input_sha256 == facts_sha256([patient])
    assert evaluate(kb, patients, as_of=date(2026, 1, 15)).input_sha256 == facts_sha256(patients)
    assert len({facts_sha256([p]) for p in patients}) == len({p.patient_iri for p in patients})


def test_both_ways_of_reading_the_run_graph_give_the_same_triples(kb):
    """Few patients: the knowledge lines are dropped from a dump; many: the knowledge quads are taken out
    and put back. Same lines either way, and the store is unchanged afterwards."""
    evaluation = evaluate(kb, [_load(kb, v) for v in VIGNETTES], as_of=date(2026, 1, 15))
    size = evaluation.store.size()
    few = kb.derived_ntriples(evaluation.store, patients=1)
    many = kb.derived_ntriples(evaluation.store, patients=len(VIGNETTES))
    assert evaluation.store.size() == size
    assert sorted(few.splitlines()) == sorted(many.splitlines())
    assert len(few.splitlines()) == size - len(kb._quads)  # the knowledge, exactly, is left out


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), index=st.integers(min_value=0, max_value=10**6))
def test_triple_order_does_not_change_the_result(kb, seed, index):
    vignette = VIGNETTES[index % len(VIGNETTES)]
    patient = _load(kb, vignette)
    as_of = date.fromisoformat(vignette.as_of)
    expected = outcome_of(build_report(evaluate(kb, [patient], as_of=as_of), patient.patient_iri, kb.version()))
    shuffled = list(patient.ntriples)
    random.Random(seed).shuffle(shuffled)
    reordered = PatientData(patient.patient_iri, shuffled, list(reversed(patient.notes)))
    got = outcome_of(build_report(evaluate(kb, [reordered], as_of=as_of), patient.patient_iri, kb.version()))
    assert got == expected


@pytest.fixture(scope="module")
def provenance_shapes() -> tuple[rdflib.Graph, rdflib.Graph]:
    vocabulary = rdflib.Graph()
    for f in sorted(ontology_dir().glob("*.ttl")):
        vocabulary.parse(f)
    return rdflib.Graph().parse(shapes_dir() / "provenance.ttl"), vocabulary


def _conforms(lines, provenance_shapes):
    shapes, vocabulary = provenance_shapes
    data = rdflib.Graph().parse(data="".join(lines), format="nt")
    conforms, _, text = pyshacl.validate(data, shacl_graph=shapes, ont_graph=vocabulary, inference="rdfs")
    return conforms, text


@pytest.mark.parametrize("vignette", VIGNETTES, ids=lambda v: v.name)
def test_every_output_has_complete_provenance(kb, vignette, provenance_shapes):
    evaluation = evaluate(kb, [_load(kb, vignette)], as_of=date.fromisoformat(vignette.as_of))
    conforms, text = _conforms(provenance_lines(evaluation), provenance_shapes)
    assert conforms, text


@pytest.mark.parametrize("drop", [f"<{GKG}ruleFile>", "<http://www.w3.org/ns/prov#wasGeneratedBy>",
                                  f"<{GKG}asOfDate>", f"<{GKG}instantiates>"])
def test_provenance_shapes_catch_incomplete_provenance(kb, provenance_shapes, drop):
    patient = load_patient_input(EXAMPLE, matcher=kb.matcher, measures=kb.measures)
    lines = provenance_lines(evaluate(kb, [patient], as_of=date(2026, 1, 15)))
    conforms, _ = _conforms([line for line in lines if f" {drop} " not in line], provenance_shapes)
    assert not conforms


def test_same_inputs_give_identical_json_and_provenance_apart_from_timing(kb):
    patient = load_patient_input(EXAMPLE, matcher=kb.matcher, measures=kb.measures)
    runs = [evaluate(kb, [patient], as_of=date(2026, 1, 15)) for _ in range(2)]
    reports = [json.dumps(build_report(r, patient.patient_iri, kb.version()), sort_keys=True) for r in runs]
    assert reports[0] == reports[1]
    untimed = [[line for line in provenance_lines(r) if not any(p in line for p in TIMING_PREDICATES)] for r in runs]
    assert untimed[0] == untimed[1]
    assert untimed[0] != provenance_lines(runs[0])  # the timing fields exist and are the only difference


def test_as_of_changes_the_run_and_is_recorded(kb):
    patient = load_patient_input(EXAMPLE, matcher=kb.matcher, measures=kb.measures)
    a = evaluate(kb, [patient], as_of=date(2026, 1, 15))
    b = evaluate(kb, [patient], as_of=date(2026, 1, 16))
    assert a.run_iri != b.run_iri
    assert build_report(b, patient.patient_iri, kb.version())["as_of"] == "2026-01-16"


@pytest.mark.parametrize("name", ["023-no-birth-date", "058-birth-date-after-as-of"])
def test_an_undetermined_recommendation_says_which_prevailing_statement_is_undecided(kb, name):
    """rec-fcm's own criterion holds; it is undetermined because the pediatric precedence (rule 62) might
    apply. The report says so, with that criterion's explanation, instead of a bare 'true'."""
    [vignette] = [v for v in VIGNETTES if v.name == name]
    patient = load_patient_input(vignette.patient, matcher=kb.matcher, measures=kb.measures)
    evaluation = evaluate(kb, [patient], as_of=date.fromisoformat(vignette.as_of))
    report = build_report(evaluation, patient.patient_iri, kb.version())
    [fcm] = [u for u in report["undetermined"] if u["iri"].endswith("/rec-fcm")]
    assert fcm["because"][0].endswith("(all of): true")  # the band, with TSAT measured (content)
    i = fcm["because"].index("undecided whether this prevails: pediatric statements prevail over the adult algorithm")
    assert fcm["because"][i + 1] == "  child (age <18 years): unknown (no usable birth date)"
    [pediatric] = [u for u in report["undetermined"] if u["iri"].endswith("/rec-pediatric-iron")]
    assert not any(line.startswith("undecided whether") for line in pediatric["because"])  # its own criterion


def test_an_undecided_not_indicated_statement_is_said_to_set_aside_not_to_prevail(kb):
    """A not-indicated statement that restricts a recommendation (rule 65) is no precedence: undecided, the
    explanation says whether it applies and sets the recommendation aside, not whether it 'prevails'."""
    [vignette] = [v for v in VIGNETTES if v.name == "021-no-iron-studies"]
    patient = load_patient_input(vignette.patient, matcher=kb.matcher, measures=kb.measures)
    report = build_report(evaluate(kb, [patient], as_of=date.fromisoformat(vignette.as_of)), patient.patient_iri,
                          kb.version())
    [fcm] = [u for u in report["undetermined"] if u["iri"].endswith("/rec-fcm")]
    line = "undecided whether this applies and sets it aside: iron generally not indicated at ferritin >100 ng/mL"
    assert line in fcm["because"]
    assert not any(x.startswith("undecided whether this prevails") for x in fcm["because"])


def test_invalid_content_leaves_criteria_unknown_never_guessed(tmp_path):
    """Content that fails validation is refused by the commands; if it reaches the rules anyway (the
    library API), an unknown comparator or a quoted threshold gives 'unknown', not a guess: the age
    criterion used to read an unknown comparator as >=, and a quoted threshold dropped its outcome."""
    from guidelinekg.content.resources import guideline_files

    for f in guideline_files():
        text = f.read_text(encoding="utf-8")
        text = text.replace("gkg:comparator gkg:LessThan ; gkg:thresholdValue 18.0",
                            "gkg:comparator gkg:Lessthan ; gkg:thresholdValue 18.0")
        text = text.replace("gkg:LessOrEqual ; gkg:thresholdValue 75.0", 'gkg:LessOrEqual ; gkg:thresholdValue "75"')
        (tmp_path / f.name).write_text(text, encoding="utf-8")
    assert "gkg:Lessthan" in (tmp_path / "guideline.ttl").read_text(encoding="utf-8")
    kb = KnowledgeBase.load(sorted(tmp_path.glob("*.ttl")))
    patient = load_patient_input(EXAMPLE, matcher=kb.matcher, measures=kb.measures)
    report = build_report(evaluate(kb, [patient], as_of=date(2026, 1, 15)), patient.patient_iri, kb.version())
    [fcm] = [u for u in report["undetermined"] if u["iri"].endswith("/rec-fcm")]
    ferritin = "    serum ferritin ≤ 75 ng/mL: unknown (measured 45 ng/mL on 2026-01-08, Observation/ferritin-1)"
    assert ferritin in fcm["because"]
    assert "  child (age <18 years): unknown (age 57 years, born 1968-04-12)" in fcm["because"]
    assert {u["iri"].rsplit("/", 1)[-1] for u in report["undetermined"]} >= {"rec-fcm", "rec-pediatric-iron"}
    assert report["not_recommended"] == []


def test_a_made_recommendation_derives_from_the_facts_that_kept_a_precedence_off(kb):
    """rec-fcm is made for the 57-year-old because the pediatric precedence fails: the result is derived
    from that outcome, so (rule 90) from the patient record whose birth date decided it."""
    patient = load_patient_input(EXAMPLE, matcher=kb.matcher, measures=kb.measures)
    evaluation = evaluate(kb, [patient], as_of=date(2026, 1, 15))
    rows = evaluation.store.select(f"""PREFIX gkg: <{GKG}> PREFIX prov: <http://www.w3.org/ns/prov#>
        SELECT ?f WHERE {{ ?res gkg:instantiates <https://w3id.org/guidelinekg/guideline/rls-iron/rec-fcm> ;
          gkg:status gkg:Made ; prov:wasDerivedFrom ?f }}""")
    derived_from = {r["f"].value for r in rows}
    assert patient.patient_iri in derived_from
    child = "https://w3id.org/guidelinekg/guideline/rls-iron/crit-child"
    outcomes = {r["o"].value for r in evaluation.store.select(f"""PREFIX gkg: <{GKG}>
        SELECT ?o WHERE {{ ?o gkg:criterion <{child}> ; gkg:truth gkg:False }}""")}
    assert outcomes and outcomes <= derived_from


def test_a_clock_stepped_back_during_a_run_never_records_an_end_before_its_start(kb):
    """The audit fails a run that ended before it started (times-inconsistent): only an edit may make one, so
    a wall clock stepped back during the run (NTP, a resumed VM) records the start as the end."""
    from datetime import datetime, timezone

    times = iter([datetime(2026, 1, 15, 12, 0, 5, tzinfo=timezone.utc), datetime(2026, 1, 15, 12, 0, 3, tzinfo=timezone.utc)])
    patient = load_patient_input(EXAMPLE, matcher=kb.matcher, measures=kb.measures)
    evaluation = evaluate(kb, [patient], as_of=date(2026, 1, 15), clock=lambda: next(times))
    assert evaluation.ended == evaluation.started == datetime(2026, 1, 15, 12, 0, 5, tzinfo=timezone.utc)
