"""Specimen conditions (FHIR Specimen.condition, HL7 v2-0493: HEM haemolysed, CLOT clotted ...) and result notes
(Observation.note): the mapping keeps them (src/guidelinekg/patients/fhirobs.py); a guideline's
gkg:SpecimenConditionRequirement makes a result from a listed condition unreliable (rule 22: not used, the test
ordered); a condition it does not list leaves the result used with a warning when a decision rests on it (rule
93); a note is never read, and a decision resting on its result says so (rule 94). On a made-up guideline
(tests/fixtures/madeup/specimen-condition.ttl, not clinical knowledge), both engines."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.errors import InputError, Location
from guidelinekg.patients.decode import parse_json
from guidelinekg.patients.fhir import patients_from_json
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.patients.model import GKG, RDF_TYPE, PatientData
from madeup import run_documents

FIXTURE = Path(__file__).parent / "fixtures" / "madeup" / "specimen-condition.ttl"
AS_OF = date(2026, 2, 1)
EX = "urn:example:specimen:"
K = "99995-3"
V2_0493 = "http://terminology.hl7.org/CodeSystem/v2-0493"
SCT = "http://snomed.info/sct"
T1, T2 = "2026-01-20T08:00:00+01:00", "2026-01-30T08:00:00+01:00"


def condition(*codes: tuple[str, str], text: str | None = None, display: str | None = None) -> dict:
    concept: dict = {"coding": [{"system": s, "code": c, **({"display": display} if display else {})}
                                for s, c in codes]}
    if text:
        concept["text"] = text
    return concept


def bundle(pid: str, results: list[tuple[float, str, list[dict], int]], comparator: str | None = None) -> dict:
    """A patient with widget K results: (value, time, its specimen's conditions, how many notes)."""
    resources: list[dict] = [{"resourceType": "Patient", "id": pid, "birthDate": "1970-01-01"}]
    for i, (value, when, conditions, notes) in enumerate(results):
        quantity = {"value": value, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"}
        if comparator:
            quantity["comparator"] = comparator
        obs = {"resourceType": "Observation", "id": f"{pid}-k{i}", "status": "final",
               "code": {"coding": [{"system": "http://loinc.org", "code": K}]},
               "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": when, "valueQuantity": quantity}
        if conditions:
            resources.append({"resourceType": "Specimen", "id": f"{pid}-s{i}", "condition": conditions,
                              "subject": {"reference": f"Patient/{pid}"}})
            obs["specimen"] = {"reference": f"Specimen/{pid}-s{i}"}
        if notes:
            obs["note"] = [{"text": f"note {n}"} for n in range(notes)]
        resources.append(obs)
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


HEM = condition((V2_0493, "HEM"), display="Hemolyzed")
CLOT = condition((V2_0493, "CLOT"))
FROZEN = condition((V2_0493, "FROZ"), display="Frozen")
LIPAEMIC_TEXT = condition(text="lipaemic")  # no code: never listed, named by its text

# (name, results, rec-supplement standing, orders, warning codes)
CASES = [
    ("haemolysed", [(3.0, T1, [HEM], 0)], "undetermined", [K], ["unreliable-specimen"]),
    # a SNOMED CT coding beside HEM: matched by HEM
    ("haemolysed-two-codings", [(3.0, T1, [condition((SCT, "118128002"), (V2_0493, "HEM"))], 0)],
     "undetermined", [K], ["unreliable-specimen"]),
    # listed through a value set
    ("clotted", [(3.0, T1, [CLOT], 0)], "undetermined", [K], ["unreliable-specimen"]),
    # an excluded result decides nothing: its note and other conditions give no warning
    ("haemolysed-with-note-and-frozen", [(4.0, T1, [FROZEN, HEM], 2)], "undetermined", [K], ["unreliable-specimen"]),
    # the older intact result is the latest usable one, as after any unreliable result (rule 13)
    ("haemolysed-after-intact", [(3.0, T1, [], 0), (4.0, T2, [HEM], 0)], "made", [], ["unreliable-specimen"]),
    ("intact", [(3.0, T1, [], 0)], "made", [], []),
    # a condition the guideline does not mention: used, with a warning since it decides
    ("frozen", [(3.0, T1, [FROZEN], 0)], "made", [], ["specimen-condition-unassessed"]),
    ("frozen-false", [(4.0, T1, [FROZEN], 0)], "no", [], ["specimen-condition-unassessed"]),
    ("text-only", [(3.0, T1, [LIPAEMIC_TEXT], 0)], "made", [], ["specimen-condition-unassessed"]),
    ("with-notes", [(3.0, T1, [], 2)], "made", [], ["result-note-not-read"]),
    # an older result with a note and an unassessed condition decides nothing: no warning
    ("old-noted-frozen", [(3.0, T1, [FROZEN], 1), (3.2, T2, [], 0)], "made", [], []),
]  # fmt: skip


@pytest.fixture(scope="module", params=["oxigraph", "rdflib"])
def run(request, tmp_path_factory):
    docs = {name: bundle(name, results) for name, results, *_ in CASES}
    docs["censored"] = bundle("censored", [(4.0, T1, [FROZEN], 1)], comparator="<")  # "< 4" cannot decide "< 3.5"
    return run_documents(FIXTURE, docs, tmp_path_factory.mktemp("specimen"), AS_OF, request.param)


def standing(report: dict) -> str:
    for key, word in (("recommendations", "made"), ("undetermined", "undetermined")):
        if any(r["iri"] == EX + "rec-supplement" for r in report[key]):
            return word
    return "no"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_specimen_conditions_and_notes(run, case):
    name, _, expected, ordered, warnings = case
    report = run.reports[name]
    assert standing(report) == expected
    assert sorted(o["loinc"] for o in report["orders"]) == ordered
    assert sorted(w["code"] for w in report["warnings"]) == warnings


def test_the_exclusion_names_the_result_the_condition_and_the_requirement(run):
    (w,) = run.reports["haemolysed"]["warnings"]
    assert w["message"] == (
        "widget K (Observation/haemolysed-k0, drawn 2026-01-20T08:00:00+01:00) is from a specimen the laboratory "
        f"recorded as Hemolyzed ({V2_0493}|HEM); the guideline says such a result is unreliable (widget K from an "
        "intact specimen): it is not used.")
    (order,) = run.reports["haemolysed"]["orders"]
    assert "Draw widget K without haemolysis." in json.dumps(order)
    (w,) = run.reports["clotted"]["warnings"]
    assert f"recorded as CLOT ({V2_0493}|CLOT)" in w["message"]  # no display: named by its code


def test_an_unassessed_condition_is_named(run):
    (w,) = run.reports["frozen"]["warnings"]
    assert w["message"].startswith("Observation/frozen-k0 (2026-01-20T08:00:00+01:00) is from a specimen the "
                                   "laboratory recorded as Frozen; the guideline does not say whether that makes "
                                   "this result unreliable")
    (w,) = run.reports["text-only"]["warnings"]
    assert "recorded as lipaemic;" in w["message"]


def test_one_note_warning_per_record(run):
    (w,) = run.reports["with-notes"]["warnings"]
    assert w["message"].startswith("Observation/with-notes-k0 carries 2 notes (Observation.note) that this tool "
                                   "does not read")


def test_no_warning_when_no_decision_rests_on_the_result(run):
    report = run.reports["censored"]
    assert standing(report) == "undetermined" and report["warnings"] == []


# --- the FHIR mapping ---------------------------------------------------------------------------------------

def mapped(doc: dict) -> PatientData:
    (patient,) = patients_from_json(parse_json(json.dumps(doc), Location("<test>")))
    return patient


def facts(patient: PatientData) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    for t in patient.triples():
        out.setdefault(t.subject.value, {}).setdefault(t.predicate.value, []).append(t.object.value)
    return out


def test_mapping_keeps_every_coding_and_a_name_per_condition():
    doc = bundle("p", [(3.0, T1, [condition((SCT, "118128002"), (V2_0493, "HEM"), display="Haemolysed"),
                                  LIPAEMIC_TEXT, {"text": "  "}, {}], 3)])
    got = facts(mapped(doc))
    obs = got["urn:guidelinekg:Observation/p-k0"]
    assert obs[GKG + "noteCount"] == ["3"]
    nodes = sorted(obs[GKG + "specimenCondition"])
    assert nodes == [f"urn:guidelinekg:Observation/p-k0/specimen-condition/{i}" for i in (0, 1)]  # no word: none
    first, second = (got[n] for n in nodes)
    assert first[RDF_TYPE] == [GKG + "SpecimenCondition"] and first[GKG + "subject"] == ["urn:guidelinekg:Patient/p"]
    assert sorted(first[GKG + "conditionToken"]) == [f"{SCT}|118128002", f"{V2_0493}|HEM"]
    assert first[GKG + "conditionName"] == ["Haemolysed"]
    assert second[GKG + "conditionName"] == ["lipaemic"] and GKG + "conditionToken" not in second


def test_components_share_their_observations_specimen_and_notes():
    doc = bundle("p", [])
    doc["entry"] += [
        {"resource": {"resourceType": "Specimen", "id": "s", "condition": [HEM]}},
        {"resource": {"resourceType": "Observation", "id": "panel", "status": "final", "effectiveDateTime": T1,
                      "subject": {"reference": "Patient/p"}, "specimen": {"reference": "Specimen/s"},
                      "note": [{"text": "haemolysed"}],
                      "code": {"coding": [{"system": "http://loinc.org", "code": "24326-1"}]},
                      "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": K}]},
                                     "valueQuantity": {"value": 3.0, "unit": "mmol/L",
                                                       "system": "http://unitsofmeasure.org", "code": "mmol/L"}}]}},
    ]
    got = facts(mapped(doc))
    component = got[f"urn:guidelinekg:Observation/panel/component/0-{K}"]
    assert component[GKG + "noteCount"] == ["1"]
    assert component[GKG + "specimenCondition"] == ["urn:guidelinekg:Observation/panel/specimen-condition/0"]


def test_a_note_warning_names_the_observation_of_a_component(tmp_path):
    doc = bundle("p", [])
    doc["entry"].append({"resource": {
        "resourceType": "Observation", "id": "panel", "status": "final", "effectiveDateTime": T1,
        "subject": {"reference": "Patient/p"}, "note": [{"text": "query"}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "24326-1"}]},
        "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": K}]},
                       "valueQuantity": {"value": 3.0, "unit": "mmol/L", "system": "http://unitsofmeasure.org",
                                         "code": "mmol/L"}}]}})
    done = run_documents(FIXTURE, {"p": doc}, tmp_path, AS_OF)
    (w,) = done.reports["p"]["warnings"]
    assert w["code"] == "result-note-not-read" and w["message"].startswith("Observation/panel carries 1 note ")


def test_the_cli_path_reads_them_too(tmp_path):
    """The lazy read the CLI uses (src/guidelinekg/patients/fhirlazy.py) maps the same facts."""
    from guidelinekg.engine.knowledge import KnowledgeBase

    kb = KnowledgeBase.load([FIXTURE])
    path = tmp_path / "p.json"
    doc = bundle("p", [(3.0, T1, [HEM], 1)])
    path.write_text(json.dumps(doc), encoding="utf-8")
    patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    assert facts(patient)["urn:guidelinekg:Observation/p-k0"][GKG + "noteCount"] == ["1"]
    assert facts(patient)["urn:guidelinekg:Observation/p-k0/specimen-condition/0"][GKG + "conditionToken"] == [
        f"{V2_0493}|HEM"]


@pytest.mark.parametrize("bad", [{"condition": 5}, {"condition": [{"coding": 5}]}])
def test_a_condition_of_the_wrong_json_type_is_refused(bad):
    doc = bundle("p", [(3.0, T1, [HEM], 0)])
    next(e for e in doc["entry"] if e["resource"]["resourceType"] == "Specimen")["resource"].update(bad)
    with pytest.raises(InputError, match="condition"):
        mapped(doc)


def test_a_note_of_the_wrong_json_type_is_refused():
    doc = bundle("p", [(3.0, T1, [], 0)])
    next(e for e in doc["entry"] if e["resource"]["resourceType"] == "Observation")["resource"]["note"] = [
        {"text": 5}]
    with pytest.raises(InputError, match="note"):
        mapped(doc)
