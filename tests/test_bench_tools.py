"""The benchmark's tools: the synthetic cohort generator (bench/gen_cohort.py) and the hand-written reference
evaluator (bench/reference.py) must agree with the real engine, vignette by vignette and patient by patient.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from guidelinekg.patients.fhir import patients_from_json
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.report.patient import build_report, build_reports
from guidelinekg.patients.units import UnitConversionError, convert, normalise
from vignettes import load_vignettes, outcome_of

ROOT = Path(__file__).resolve().parents[1]


def _bench_module(name: str):
    """Import bench/<name>.py (bench/ is not a package and stays off sys.path)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


gen_cohort = _bench_module("gen_cohort")
reference = _bench_module("reference")

AS_OF = date(2026, 1, 15)
LOINC_IRI = "https://loinc.org/"
CAVEATS = {"non-morning-draw", "non-fasting-draw"}


def _whole_record(document: dict) -> bool:
    """Not a page of a search (a ``next`` link): the reference evaluator, the speed baseline of generated
    cohorts (whole records, as a complete export gives), does not mirror the reading of partial inputs
    (rules 18, 27, 34, 44, 46 with gkg:recordMayLack); test_incomplete_record.py and test_incomplete_draws.py
    test it on the engine."""
    return not any(str(link.get("relation", "")).lower() == "next" for link in document.get("link", []))


FHIR_VIGNETTES = [
    v for v in load_vignettes()
    if not v.expected["expect"].get("error") and v.patient.suffix == ".json"
    and "resourceType" in (doc := json.loads(v.patient.read_text(encoding="utf-8"))) and _whole_record(doc)
]
# A cohort where the rare features are common, so 300 patients exercise every rule.
STRESS = gen_cohort.Mix(
    rls=0.85, esrd=0.25, hf=0.25, child=0.2, age18_edge=0.08, no_birthdate=0.12, ferritin_exact75=0.15,
    tsat_exact20=0.1, weight_exact50=0.1, ferritin_pmol=0.25, ferritin_ugl=0.15, ferritin_bad_unit=0.08,
    implausible=0.05, oral_iron=0.25, iv_iron_recent=0.2, iv_iron_old=0.1, iv_near_draw_share=0.3,
    non_morning=0.15, non_fasting=0.15, future=0.1,
    ferritin_censored=0.2, weight_censored=0.05, preliminary=0.15, panel=0.3,
)


def parse(text: str):
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


def differences(engine: dict, ref: dict) -> dict:
    return {k: {"engine": engine[k], "reference": ref[k]} for k in engine if engine[k] != ref[k]}


# --- (a) the generator ----------------------------------------------------------------------------------


def test_generator_is_deterministic_and_has_the_requested_bad_rate(tmp_path):
    a = gen_cohort.generate(tmp_path / "a", 3000, 11, bad_rate=0.05)
    b = gen_cohort.generate(tmp_path / "b", 3000, 11, bad_rate=0.05)
    c = gen_cohort.generate(tmp_path / "c", 3000, 12, bad_rate=0.05)
    for kind in gen_cohort.FILES:
        name = f"{kind}.ndjson"
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    observations = [(tmp_path / x / "Observation.ndjson").read_bytes() for x in "ac"]
    assert observations[0] != observations[1]
    assert a["lines"] == b["lines"]

    stats: dict = {}
    cohort = reference.load_ndjson(tmp_path / "a", stats)
    assert len(cohort) == 3000
    total = sum(a["lines"].values())
    bad = stats.get("malformed", 0) + stats.get("no-subject", 0) + stats.get("unknown-patient", 0)
    assert bad == sum(a["bad"].values())
    assert 0.04 <= bad / total <= 0.06, bad / total
    assert min(stats.get(k, 0) for k in ("malformed", "no-subject", "unknown-patient")) > 0

    ids = defaultdict(set)
    for kind in gen_cohort.FILES:
        for line in (tmp_path / "a" / f"{kind}.ndjson").read_text(encoding="utf-8").splitlines():
            try:
                res = json.loads(line)
            except ValueError:
                continue
            assert res["resourceType"] == kind
            assert res["id"] not in ids[kind], f"duplicate {kind}/{res['id']}"
            ids[kind].add(res["id"])


def test_generator_mix_covers_the_guideline(tmp_path):
    gen_cohort.generate(tmp_path, 3000, 3, bad_rate=0.0)
    outcomes = reference.evaluate_all(reference.load_ndjson(tmp_path), AS_OF)
    seen = {w for o in outcomes.values() for w in o["warnings"]}
    for key in ("recommended", "undetermined", "monitoring"):
        seen |= {r for o in outcomes.values() for r in o[key]}
    for wanted in ("future-result", "implausible-value", "unit-not-convertible", "lab-drawn-on-iron",
                   "non-morning-draw", "non-fasting-draw", "missing-data", "statements-conflict",
                   "guideline-not-applicable", "rec-fcm", "rec-fcm-75-100", "rec-esrd-iron-sucrose",
                   "rec-pediatric-iron", "rec-hf-maintenance", "rec-oral-ferrous-sulfate",
                   "mon-phosphate-repeat", "stale-result"):
        assert wanted in seen, wanted
    assert {"2276-4", "2502-3", "29463-7"} <= {x for o in outcomes.values() for x in o["orders"]}


# --- the reference's hand-written unit table against the tool's UCUM conversion -------------------------


def test_reference_unit_table_matches_the_tool(kb):
    for measure, units in reference.UNITS.items():
        group = kb.measures.groups[LOINC_IRI + reference.LOINC_OF[measure]]
        canonical = reference.CANONICAL[measure]
        for unit in units:
            for value in (Decimal("168.525"), Decimal("45"), Decimal("0.5")):
                want = convert(value, unit, group, canonical).value if unit != canonical else value
                got, problem = reference.normalise(measure, value, unit)
                assert not problem and got == float(want), (measure, unit, value, got, want)
    group = kb.measures.groups[LOINC_IRI + "2276-4"]
    for unit in ("U/L", "mg", "%", "kg"):
        with pytest.raises(UnitConversionError):
            convert(Decimal(1), unit, group, "ng/mL")
        assert reference.normalise(reference.FERRITIN, Decimal(1), unit) == (None, True)


# --- (b) vignettes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("vignette", FHIR_VIGNETTES, ids=lambda v: v.name)
def test_reference_agrees_with_engine_on_vignette(kb, vignette):
    patient = load_patient_input(vignette.patient, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    evaluation = evaluate(kb, [patient], as_of=date.fromisoformat(vignette.as_of))
    engine = outcome_of(build_report(evaluation, patient.patient_iri, kb.version()))
    bundle = parse(vignette.patient.read_text(encoding="utf-8"))
    [ref_patient] = reference.patients_from_bundle(bundle).values()
    ref = reference.evaluate_patient(ref_patient, vignette.as_of)
    assert ref == engine, differences(engine, ref)


TRIAL3 = ROOT / "tests" / "fixtures" / "ehr-trial3"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@pytest.mark.parametrize("name, swap", [
    ("F8-mr-unknown", {}), ("F9-mr-unknown-2019", {}),  # status unknown without an end: an assumed end
    ("F9-mr-unknown-2019", {'"2019-01-10"': '"2026-12-03"'}),
    ("F9-mr-unknown-2019", {'"2019-01-10"': '"2019-01-10T09:00:00Z", "meta": {"lastUpdated": "2019-02-01T00:00:00Z"}'}),
    *(("F9-mr-unknown-2019", {'"MedicationRequest"': f'"{kind}"', '"intent": "order",': "",
                              '"authoredOn": "2019-01-10"': f'"effectivePeriod": {{"start": "{start}"}}'})
      for kind in ("MedicationStatement", "MedicationAdministration") for start in ("2019-01-10", "2026-12-03")),
    ("B12-period-inverted", {'"2026-12-05T08:00:00-05:00"': '"2026-12-02T01:30:00Z"',
                             '"2026-12-01T08:20:00-05:00"': '"2026-12-01"'}),  # valid: an evening in New York
    ("B12-period-inverted", {'"2026-12-05T08:00:00-05:00"': '"2026-12-02T13:00:00Z"',
                             '"2026-12-01T08:20:00-05:00"': '"2026-12-01"'}),  # inverted in every zone
    # a request named only by a code listed as unverified (perhaps ferrous sulfate): the iron studies drawn
    # during it are not used [13]; written after them, the oral iron recommended "may be" taken [79]
    *(("M1-iron-abbreviated", {'"text": "FE SULFATE 325 MG TAB"': f'"coding": [{{"system": "{RXNORM}", "code": "310325"}}]',
                               **swap}) for swap in ({}, {'"2026-11-20T10:42:00-05:00"': '"2026-12-03"'})),
])
def test_reference_agrees_with_engine_on_trial_probes(kb, tmp_path, name, swap):
    """Probes a reviewer sent (a request of status unknown, a date beside an instant in UTC), as of 2026-12-08; a
    statement or administration of status unknown with an open period (an assumed end, as the request's); and a
    request coded only by RxNorm 310325, which terms.ttl lists as unverified."""
    text = (TRIAL3 / f"{name}.json").read_text(encoding="utf-8")
    for old, new in swap.items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "probe.json"
    path.write_text(text, encoding="utf-8")
    patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    evaluation = evaluate(kb, [patient], as_of=date(2026, 12, 8))
    engine = outcome_of(build_report(evaluation, patient.patient_iri, kb.version()))
    [ref_patient] = reference.patients_from_bundle(parse(text)).values()
    assert reference.evaluate_patient(ref_patient, "2026-12-08") == engine


def test_reference_reports_draw_caveats():
    """An afternoon, non-fasting ferritin gives both caveats; the example's morning fasting draw none."""
    bundle = parse((ROOT / "examples" / "patient-ferritin-45.json").read_text(encoding="utf-8"))
    probe = copy.deepcopy(bundle)
    for entry in probe["entry"]:
        res = entry["resource"]
        if res["resourceType"] == "Specimen":
            res["collection"]["fastingStatusCodeableConcept"]["coding"][0]["code"] = "NF"
        if res.get("id") == "ferritin-1":
            res["effectiveDateTime"] = "2026-01-08T15:15:00+01:00"
    [patient] = reference.patients_from_bundle(probe).values()
    assert CAVEATS <= set(reference.evaluate_patient(patient, AS_OF)["warnings"])
    [plain] = reference.patients_from_bundle(bundle).values()
    assert not CAVEATS & set(reference.evaluate_patient(plain, AS_OF)["warnings"])


PERIODS = [(start, end) for start in ("2026-12-02T01:30:00Z", "2026-12-02T13:00:00Z", "2026-12-02T08:00:00+09:00",
                                      "2026-12-03T01:30:00+09:00", "2026-12-01T21:30:00-05:00", "2026-12-02",
                                      "2026-12", "2026")
           for end in ("2026-12-01", "2026-11", "2026-12-01T09:00:00Z", "2026-12-01T12:00:00Z",
                       "2026-12-02T08:00:00+09:00", "2026-11-30T20:00:00-05:00", "2026-12-01T18:00:00-05:00",
                       "2025", "not a date")]


def test_reference_reads_inverted_periods_as_the_loader_does():
    """A period ends before it starts [periods.ends_before]: a date beside an instant only in every zone."""
    from guidelinekg.patients.periods import ends_before

    got = {(s, e): reference._inverted({"start": s, "end": e}) for s, e in PERIODS}
    assert got == {(s, e): ends_before(s, e) for s, e in PERIODS}
    assert got[("2026-12-02T01:30:00Z", "2026-12-01")] is False and got[("2026-12-02T13:00:00Z", "2026-12-01")]


# --- (c) a generated cohort -----------------------------------------------------------------------------


def engine_outcomes(kb, directory: Path, as_of: date) -> dict[str, dict]:
    """Group the NDJSON per patient (bad lines dropped as the reference drops them), one collection Bundle
    per patient, the tool's loader, one batch evaluation."""
    resources: dict[str, list] = {}
    for kind in gen_cohort.FILES:
        for line in (directory / f"{kind}.ndjson").read_text(encoding="utf-8").splitlines():
            try:
                res = parse(line)
            except ValueError:
                continue
            if kind == "Patient":
                resources[res["id"]] = [res]
                continue
            ref = (res.get("subject") or {}).get("reference") or ""
            if ref.startswith("Patient/") and ref[8:] in resources:
                resources[ref[8:]].append(res)
    patients = []
    for pid, items in resources.items():
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in items]}
        [patient] = patients_from_json(bundle, matcher=kb.matcher, reads=kb.reads)
        patients.append(normalise(patient, kb.measures))
    evaluation = evaluate(kb, patients, as_of=as_of)
    reports = build_reports(evaluation, kb.version())
    return {pid: outcome_of(reports[f"urn:guidelinekg:Patient/{pid}"]) for pid in resources}


def test_reference_agrees_with_engine_on_a_generated_cohort(kb, tmp_path):
    gen_cohort.generate(tmp_path, 300, 2026, bad_rate=0.02, mix=STRESS)
    cohort = reference.load_ndjson(tmp_path)
    engine = engine_outcomes(kb, tmp_path, AS_OF)
    assert engine.keys() == cohort.keys() and len(cohort) == 300
    disagreements = {}
    for pid, patient in cohort.items():
        ref = reference.evaluate_patient(patient, AS_OF)
        if engine[pid] != ref:
            disagreements[pid] = differences(engine[pid], ref)
    assert not disagreements, f"{len(disagreements)} patients differ, e.g. {list(disagreements.items())[:3]}"
