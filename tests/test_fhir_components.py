"""Real-shaped FHIR lab data: Observation components, censored values, Observation statuses, and what the
rules make of them (src/guidelinekg/patients/fhirobs.py, queries/rules/40, 82, 83, 88)."""

from __future__ import annotations

import json
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.errors import InputError, Location
from guidelinekg.patients.decode import parse_json
from guidelinekg.patients.fhir import patients_from_json
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.patients.model import GKG, RDF_TYPE, PatientData
from guidelinekg.patients.units import normalise
from guidelinekg.report.patient import build_report
from vignettes import CASES, outcome_of

REAL = Path(__file__).parent / "fixtures" / "fhir" / "real"
RLS = "https://w3id.org/guidelinekg/guideline/rls-iron/"
UCUM = "http://unitsofmeasure.org"
P1 = {"resourceType": "Patient", "id": "p1", "birthDate": "1970-05-20"}


def fhir(obj: dict) -> dict:
    return parse_json(json.dumps(obj), Location("<test>"))


def bundle(*resources: dict) -> dict:
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


def obs(oid: str, **fields) -> dict:
    return {"resourceType": "Observation", "id": oid, "status": "final", "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": "http://loinc.org", "code": "2276-4"}]},
            "effectiveDateTime": "2025-01-10T08:00:00Z", **fields}


def facts(patient: PatientData) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    for t in patient.triples():
        prop = t.predicate.value.removeprefix(GKG).removeprefix(RDF_TYPE.rsplit("#", 1)[0] + "#")
        out.setdefault(t.subject.value, {}).setdefault(prop, []).append(t.object.value)
    return {s: {p: sorted(v) for p, v in props.items()} for s, props in out.items()}


def notes(patient: PatientData) -> list[tuple[str, str]]:
    return sorted((n.code, n.message) for n in patient.notes)


# --- mapping ------------------------------------------------------------------------------------------


def test_us_core_blood_pressure_panel_and_lab_as_published():
    """The US Core examples unchanged: each BP component is a result; the panel has no 'no value' note."""
    resources = [json.loads((REAL / name).read_text(encoding="utf-8")) for name in
                 ("Patient-example.json", "Observation-blood-pressure.json", "Observation-serum-creatinine.json")]
    (p,) = patients_from_json(fhir(bundle(*resources)))
    got = facts(p)
    panel = "urn:guidelinekg:Observation/blood-pressure"
    systolic, diastolic = f"{panel}/component/0-8480-6", f"{panel}/component/1-8462-4"
    assert got[panel]["observedMeasure"] == ["https://loinc.org/85354-9"] and "value" not in got[panel]
    for node, code, value, index in ((systolic, "8480-6", "109", 0), (diastolic, "8462-4", "44", 1)):
        assert got[node]["observedMeasure"] == [f"https://loinc.org/{code}"]
        assert got[node]["value"] == [value] and got[node]["unit"] == ["mm[Hg]"]
        assert got[node]["effectiveTime"] == ["1999-07-02T00:00:00"]  # the parent's
        assert got[node]["subject"] == ["urn:guidelinekg:Patient/example"]
        assert got[node]["resultStatus"] == ["final"]
        assert got[node]["identifier"] == [f"Observation/blood-pressure.component[{index}]"]
    creatinine = got["urn:guidelinekg:Observation/serum-creatinine"]
    assert creatinine["value"] == ["1.0"] and creatinine["unit"] == ["mg/dL"]  # UCUM system, unit text, no code
    assert not [n for n in notes(p) if n[0] in ("missing-value", "unmapped-code")], notes(p)


def test_a_panel_without_loinc_maps_its_coded_components_and_notes_the_others():
    panel = obs("panel", code={"coding": [{"system": "http://lab.example.org", "code": "IRON"}], "text": "Iron studies"},
                component=[
                    {"code": {"coding": [{"system": "http://loinc.org", "code": "2276-4"}]},
                     "valueQuantity": {"value": 45, "system": UCUM, "code": "ng/mL"}},
                    {"code": {"coding": [{"system": "http://lab.example.org", "code": "X"}]},
                     "valueQuantity": {"value": 1, "system": UCUM, "code": "1"}},
                    {"code": {"coding": [{"system": "http://loinc.org", "code": "2502-3"}]},
                     "dataAbsentReason": {"text": "haemolysed"}}])
    (p,) = patients_from_json(fhir(bundle(P1, panel)))
    got = facts(p)
    assert "urn:guidelinekg:Observation/panel" not in got
    assert got["urn:guidelinekg:Observation/panel/component/0-2276-4"]["value"] == ["45"]
    assert "value" not in got["urn:guidelinekg:Observation/panel/component/2-2502-3"]
    assert notes(p) == [
        ("missing-value", "Observation/panel component[2] has no value (haemolysed); treated as missing"),
        ("unmapped-code", "Observation/panel component[1] has no LOINC coding (http://loinc.org); skipped"),
    ]


@pytest.mark.parametrize(("comparator", "iri"), [("<", "LessThan"), ("<=", "LessOrEqual"), (">=", "GreaterOrEqual"),
                                                  (">", "GreaterThan")])
def test_a_censored_value_keeps_its_bound_and_comparator(comparator, iri):
    quantity = {"value": 10, "comparator": comparator, "system": UCUM, "code": "ng/mL"}
    (p,) = patients_from_json(fhir(bundle(P1, obs("c", valueQuantity=quantity))))
    node = facts(p)["urn:guidelinekg:Observation/c"]
    assert node["value"] == ["10"] and node["valueComparator"] == [GKG + iri]
    assert not p.notes


@pytest.mark.parametrize("comparator", ["ad", "&lt;", ""])
def test_a_comparator_fhir_r4_does_not_define_leaves_the_value_missing(comparator):
    quantity = {"value": 10, "comparator": comparator, "system": UCUM, "code": "ng/mL"}
    (p,) = patients_from_json(fhir(bundle(P1, obs("c", valueQuantity=quantity))))
    node = facts(p)["urn:guidelinekg:Observation/c"]
    assert "value" not in node and "valueComparator" not in node
    assert [n[0] for n in notes(p)] == ["censored-value"]


def test_a_censored_bound_is_converted_like_a_value(kb):
    quantity = {"value": 22.47, "comparator": "<", "system": UCUM, "code": "pmol/L"}
    (p,) = patients_from_json(fhir(bundle(P1, obs("c", valueQuantity=quantity))))
    node = facts(normalise(p, kb.measures))["urn:guidelinekg:Observation/c"]
    assert node["normalizedValue"] == ["10"] and node["valueComparator"] == [GKG + "LessThan"]


@pytest.mark.parametrize(("status", "used", "note"), [
    ("final", True, None), ("amended", True, None), ("corrected", True, None), ("preliminary", True, None),
    (None, True, "missing-status"), ("registered", False, "skipped-status"), ("cancelled", False, "skipped-status"),
    ("entered-in-error", False, "skipped-status"), ("unknown", False, "skipped-status"),
    ("finished", False, "skipped-status"),
])
def test_observation_status(status, used, note):
    resource = obs("s", valueQuantity={"value": 45, "system": UCUM, "code": "ng/mL"})
    if status is None:
        del resource["status"]
    else:
        resource["status"] = status
    (p,) = patients_from_json(fhir(bundle(P1, resource)))
    node = facts(p).get("urn:guidelinekg:Observation/s")
    assert (node is not None) == used
    if used:
        assert node.get("resultStatus") == ([status] if status else None)
    assert [n[0] for n in notes(p)] == ([note] if note else [])


# --- the rules: what a censored value decides -----------------------------------------------------------

FERRITIN_CRITERIA = {  # the shipped ferritin thresholds: criterion -> (comparator, threshold)
    "crit-ferritin-le-75": ("<=", 75), "crit-ferritin-gt-75": (">", 75), "crit-ferritin-le-100": ("<=", 100),
    "crit-ferritin-gt-100": (">", 100), "crit-ferritin-lt-200": ("<", 200), "crit-ferritin-lt-50": ("<", 50),
    "crit-ferritin-lt-100": ("<", 100), "crit-ferritin-ge-100": (">=", 100), "crit-ferritin-le-300": ("<=", 300),
}
OPS = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, ">": lambda a, b: a > b}


def oracle(result_op: str, bound: Decimal, op: str, threshold: int) -> str:
    """The truth by brute force: sample the values the censored result allows (the thresholds and bounds are
    whole numbers, so steps of 0.001 and 1 around the bound find every mixed case)."""
    samples = [bound + Decimal(d) for d in ("-1000", "-1", "-0.001", "0", "0.001", "1", "1000")]
    allowed = [x for x in samples if OPS[result_op](x, bound)]
    meets = {OPS[op](x, threshold) for x in allowed}
    return "true" if meets == {True} else "false" if meets == {False} else "unknown"


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_censored_ferritin_against_every_shipped_threshold(kb, engine):
    """Every comparator against bounds at, below and above each threshold: the rules agree with brute force."""
    bounds = [Decimal(b) for b in ("10", "49", "50", "51", "75", "99", "100", "101", "200", "300", "1000")]
    cases, resources = {}, []
    for i, (result_op, bound) in enumerate((o, b) for o in OPS for b in bounds):
        pid = f"c{i}"
        cases[f"urn:guidelinekg:Patient/{pid}"] = (result_op, bound)
        resources += [{"resourceType": "Patient", "id": pid, "birthDate": "1970-05-20"},
                      obs(f"f{i}", subject={"reference": f"Patient/{pid}"},
                          valueQuantity={"value": float(bound), "comparator": result_op, "system": UCUM,
                                         "code": "ng/mL"})]
    patients = [normalise(p, kb.measures) for p in patients_from_json(fhir(bundle(*resources)))]
    evaluation = evaluate(kb, patients, as_of=date(2025, 2, 1), engine=engine)
    rows = evaluation.store.select(
        f"SELECT ?p ?c ?t WHERE {{ ?o <{GKG}forPatient> ?p ; <{GKG}criterion> ?c ; <{GKG}truth> ?t . }}")
    truth = {(r["p"].value, r["c"].value): r["t"].value.removeprefix(GKG).lower() for r in rows}
    wrong = []
    for patient, (result_op, bound) in cases.items():
        for crit, (op, threshold) in FERRITIN_CRITERIA.items():
            want, got = oracle(result_op, bound, op, threshold), truth.get((patient, RLS + crit))
            if got != want:
                wrong.append(f"{result_op}{bound} against {op} {threshold}: {got}, expected {want}")
    assert not wrong, "\n".join(wrong)


# --- the rules: doses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("direction", "doses"), [("RoundDown", (697, 874)), ("RoundNearest", (697, 875)),
                                                  ("RoundUp", (698, 875))])
def test_dose_rounding_direction_comes_from_the_graph(tmp_path, direction, doses):
    """rules/82 applies the dose's gkg:doseRounding as the graph states it (46.4932 kg and 58.3 kg at
    15 mg/kg are 697.398 mg and 874.5 mg)."""
    content = tmp_path / "rls-iron"
    shutil.copytree(Path(__file__).parents[1] / "ontology" / "guidelines" / "rls-iron", content)
    guideline = content / "guideline.ttl"
    text = guideline.read_text(encoding="utf-8")
    assert text.count("gkg:roundingDirection gkg:RoundDown") == 1
    guideline.write_text(text.replace("gkg:roundingDirection gkg:RoundDown", f"gkg:roundingDirection gkg:{direction}"),
                         encoding="utf-8")
    kb = KnowledgeBase.load([content])
    for case, want in zip(("105-dose-rounded-down-weight-in-lb", "110-preliminary-iron-panel-amended-weight"), doses):
        patient = load_patient_input(CASES / case / "patient.json", matcher=kb.matcher, measures=kb.measures)
        evaluation = evaluate(kb, [patient], as_of=date(2026, 2, 1))
        report = build_report(evaluation, patient.patient_iri, kb.version())
        assert outcome_of(report)["doses"]["rec-fcm"] == [want, "mg"], case
        (fcm,) = [r for r in report["recommendations"] if r["iri"] == RLS + "rec-fcm"]
        dose_line = next(line for line in fcm["because"] if line.startswith("dose:"))
        assert "(project assumption)" in dose_line and f"; dose {want} mg" in dose_line


def test_a_component_of_the_wrong_json_type_is_refused_where_it_stands():
    with pytest.raises(InputError, match=r"Observation/c component\[0\]\.valueQuantity\.value: must be a JSON number"):
        patients_from_json(fhir(bundle(P1, obs("c", component=[
            {"code": {"coding": [{"system": "http://loinc.org", "code": "2276-4"}]},
             "valueQuantity": {"value": True, "system": UCUM, "code": "ng/mL"}}]))))
    with pytest.raises(InputError, match=r"Observation/c component: must be a JSON array"):
        patients_from_json(fhir(bundle(P1, obs("c", component={"code": {"text": "x"}}))))
