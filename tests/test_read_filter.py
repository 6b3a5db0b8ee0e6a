"""What the FHIR mapping leaves out because no loaded guideline reads it never changes an answer.

Given what the loaded guidelines read (:class:`~guidelinekg.patients.relevance.ReadCodes`), the mapping
counts instead of mapping Observations of measures nothing reads, Conditions coded in the guidelines'
systems with no code a diagnosis criterion accepts (exactly, or below a code that includes its descendants),
and gives no fact for a medication record of no substance a guideline knows. The rules must derive the
same criterion outcomes, recommendations, orders and doses with the filter as without it, on every FHIR
vignette of the shipped and example guidelines, the Synthea records, and condition codes written every way
the code-descendants rules match them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.errors import InputError
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.patients.relevance import ReadCodes, prefix_key
from guidelinekg.report.patient import build_reports
from madeup import truths
from vignettes import CASES, load_vignettes

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "examples" / "guidelines"
SYNTHEA = Path(__file__).parent / "fixtures" / "fhir" / "synthea"
DESCENDANTS = Path(__file__).parent / "fixtures" / "code-descendants" / "guideline.ttl"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"


def _inputs(cases: Path) -> list[tuple[str, Path]]:
    return [(v.as_of, v.patient) for v in load_vignettes(cases) if v.patient.suffix == ".json"]


def _condition_docs(folder: Path) -> list[tuple[str, Path]]:
    """One patient per way of writing a diagnosis code, with an unrelated condition and an unknown product."""
    codings = [(ICD10CM, "E11"), (ICD10CM, "E11.65"), (ICD10CM, "e1165"), (ICD10CM, "E10.9"), (ICD10CM, "E1"),
               ("urn:oid:2.16.840.1.113883.6.90", "E11.9"), ("http://hl7.org/fhir/sid/icd-9-cm", "250.02"),
               (SNOMED, "44054006"), (SNOMED, "91019004"), ("urn:local:dx", "RLS"), (None, None)]
    out = []
    for n, (system, code) in enumerate(codings):
        coding = [{"system": system, "code": code, "display": "a diagnosis"}] if system else []
        doc = {"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": {"resourceType": "Patient", "id": f"p{n}", "birthDate": "1960-01-01", "gender": "female"}},
            {"resource": {"resourceType": "Condition", "id": f"c{n}", "subject": {"reference": f"Patient/p{n}"},
                          "code": {"coding": coding, "text": "a diagnosis"}, "onsetDateTime": "2020-01-01"}},
            {"resource": {"resourceType": "Condition", "id": f"x{n}", "subject": {"reference": f"Patient/p{n}"},
                          "code": {"coding": [{"system": SNOMED, "code": "38341003"},
                                                      {"system": ICD10CM, "code": "I10"}]}}},
            {"resource": {"resourceType": "MedicationStatement", "id": f"m{n}", "status": "active",
                          "subject": {"reference": f"Patient/p{n}"}, "effectiveDateTime": "2025-12-01",
                          "medicationCodeableConcept": {"text": "lisinopril 10 mg"}}}]}
        path = folder / f"dx-{n}.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        out.append(("2026-01-15", path))
    return out


def _outcomes(kb: KnowledgeBase, inputs: list[tuple[str, Path]], reads: ReadCodes | None) -> dict:
    """Criterion truths and each report's decisions, by patient; the inputs run in as few evaluations as
    their as-of dates and patient IRIs allow (two vignettes may use the same patient id)."""
    batches: dict[tuple[str, int], list] = defaultdict(list)
    seen: dict[str, set[str]] = defaultdict(set)
    found = {}
    for as_of, path in inputs:
        try:
            patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=reads)
        except InputError as exc:  # a vignette of bad input: refused the same way either way
            found[str(path)] = {"refused": str(exc)}
            continue
        n = 0
        while patient.patient_iri in seen[f"{as_of}/{n}"]:
            n += 1
        seen[f"{as_of}/{n}"].add(patient.patient_iri)
        batches[(as_of, n)].append((path, patient))
    for (as_of, _), batch in sorted(batches.items(), key=lambda item: (item[0][0], item[0][1])):
        evaluation = evaluate(kb, [p for _, p in batch], as_of=date.fromisoformat(as_of))
        reports = build_reports(evaluation, kb.version(), [p.patient_iri for _, p in batch])
        by_patient = defaultdict(dict)
        for (patient, criterion), truth in truths(evaluation).items():
            by_patient[patient][criterion] = truth
        for path, patient in batch:
            report = reports[patient.patient_iri]
            found[str(path)] = {
                "truths": by_patient[patient.patient_iri],
                **{key: json.dumps(report.get(key), sort_keys=True)
                   for key in ("recommendations", "orders", "restrictions", "monitoring", "population_not_met")},
            }
    return found


KNOWLEDGE = [("rls-iron", None, CASES), ("code-descendants", [DESCENDANTS], None),
             *((g.name, [g], g / "cases") for g in sorted(EXAMPLES.iterdir()) if (g / "cases").is_dir())]


@pytest.mark.parametrize(("name", "sources", "cases"), KNOWLEDGE, ids=[k[0] for k in KNOWLEDGE])
def test_what_the_mapping_leaves_out_changes_no_answer(tmp_path, name, sources, cases):
    kb = KnowledgeBase.load(sources) if sources else KnowledgeBase.load()
    inputs = [*(_inputs(cases) if cases else []), *_condition_docs(tmp_path),
              *(("2026-01-15", p) for p in sorted(SYNTHEA.glob("[A-Z]*.json")))]
    assert kb.reads is not None and kb.reads.diagnoses is not None
    filtered, everything = _outcomes(kb, inputs, kb.reads), _outcomes(kb, inputs, None)
    assert filtered.keys() == everything.keys()
    differ = [path for path in filtered if filtered[path] != everything[path]]
    assert not differ, f"{name}: the filter changed the answer for {differ[:3]}"
    assert any(v.get("truths") for v in filtered.values())  # criteria were evaluated at all


@pytest.fixture(scope="module")
def descendants() -> KnowledgeBase:
    return KnowledgeBase.load([DESCENDANTS])


def test_the_codes_read_are_those_of_the_diagnosis_criteria(descendants):
    reads = descendants.reads
    assert f"{ICD10CM}|E11" in reads.diagnoses
    assert prefix_key(f"{ICD10CM}|E11") in reads.diagnosis_prefixes
    assert prefix_key(f"{ICD10CM}|E11.9") not in reads.diagnosis_prefixes  # listed alone, not with those below


def _condition(system: str | None, code: str | None) -> dict:
    coding = [{"system": system, "code": code}] if system else []
    return {"resourceType": "Condition", "code": {"coding": coding, "text": "x"}}


@pytest.mark.parametrize(("system", "code", "read"), [
    (ICD10CM, "E11", True), (ICD10CM, "E11.65", True), (ICD10CM, "e1165", True), (ICD10CM, "E11.649", True),
    (ICD10CM, "E10.9", False), (ICD10CM, "E1", False), (ICD10CM, "I10", False),
    # left to the mapping, which notes what cannot be matched: no code, or only systems no criterion uses
    ("urn:local:dx", "RLS", True), (None, None, True), (SNOMED, "38341003", True),
])
def test_a_condition_is_read_when_a_criterion_could_match_it(descendants, system, code, read):
    unread = descendants.reads.unread("Condition", _condition(system, code))
    assert (unread is None) == read, unread
    if not read:  # named by its text and first coding
        assert unread == ("condition", [f"x ({'ICD-10-CM' if system == ICD10CM else system} {code})"])


def test_an_unread_condition_is_counted_not_mapped(descendants, tmp_path):
    [(_, path)] = [d for d in _condition_docs(tmp_path) if d[1].name == "dx-3.json"]  # E10.9: not read
    patient = load_patient_input(path, matcher=descendants.matcher, measures=descendants.measures,
                                 reads=descendants.reads)
    assert "ontology#Condition>" not in patient.text()
    notes = {n.code: n.message for n in patient.notes}
    assert notes["ignored-resource"] == (
        "2 Condition resources ignored: no diagnosis criterion of a loaded guideline accepts their codes (check the "
        "coding if one should count): SNOMED CT 38341003, a diagnosis (ICD-10-CM E10.9)")
    everything = load_patient_input(path, matcher=descendants.matcher, measures=descendants.measures)
    assert everything.text().count("ontology#Condition>") == 2  # without the filter both are mapped


def test_a_product_of_no_known_substance_gives_a_note_and_no_fact(tmp_path):
    kb = KnowledgeBase.load()  # the shipped guideline reads iron products
    [(_, path)] = [d for d in _condition_docs(tmp_path) if d[1].name == "dx-0.json"]
    patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    assert "MedicationExposure" not in patient.text()
    assert "lisinopril" in {n.code: n.message for n in patient.notes}["unrecognised-product"]
    everything = load_patient_input(path, matcher=kb.matcher, measures=kb.measures)
    assert "MedicationExposure" in everything.text()
