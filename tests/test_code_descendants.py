"""A diagnosis code that stands for the codes below it (gkg:includesDescendants true; rules 07, 44, 45).

Value sets were enumerations: a guideline listing ICD-10-CM E11 for type 2 diabetes missed the E11.65 and
E11.9 that records carry, unless every subcode was listed. In a code system whose hierarchy is its codes'
prefixes (ICD-10, ICD-10-CM, ICD-9-CM: gkg:PrefixHierarchyCodeSystem in the ontology), a code with the flag
matches every code that begins with it; without the flag, a code matches itself only. Made-up content on the
real ICD-10-CM category E11: tests/fixtures/code-descendants/guideline.ttl.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.checks.validate import validate
from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.report.patient import build_report
from madeup import truths

FIXTURE = Path(__file__).parent / "fixtures" / "code-descendants" / "guideline.ttl"
NS = "urn:example:desc:"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
# coding of the condition -> (matches "E11 and below", matches "E11" alone)
CASES = {
    "e11": ((ICD10CM, "E11"), "true", "true"),
    "e11-65": ((ICD10CM, "E11.65"), "true", "false"),
    "e11-9": ((ICD10CM, "E11.9"), "true", "false"),
    "undotted": ((ICD10CM, "E1165"), "true", "false"),
    "oid-system": (("urn:oid:2.16.840.1.113883.6.90", "E11.9"), "true", "false"),
    "type-1": ((ICD10CM, "E10.9"), "false", "false"),
    "e1-alone": ((ICD10CM, "E1"), "false", "false"),  # not a code below E11, though a prefix of it
    "other-system": (("http://hl7.org/fhir/sid/icd-10", "E11.9"), "false", "false"),  # WHO ICD-10, not listed
    "snomed": (("http://snomed.info/sct", "44054006"), "false", "false"),
    "lowercase": ((ICD10CM, "e11.65"), "true", "false"),
    # an exact match too, in capitals as the guideline writes it (an attacker's c50.911 matched nothing)
    "lowercase-exact": ((ICD10CM, "e11"), "true", "true"),
    "lowercase-undotted": ((ICD10CM, "e1165"), "true", "false"),
    "e11-6-below": ((ICD10CM, "E11.649"), "true", "false"),
    "i9-undotted": (("http://hl7.org/fhir/sid/icd-9-cm", "25000"), "false", "false"),  # ICD-9-CM 250.0, not E11
}
# a flagged 4-character code against dotted, undotted and sibling records, and an ICD-9-CM code written dotted
BELOW = {
    "e11-65-undotted": ((ICD10CM, "E1165"), {"crit-e11-6": "true", "crit-250-0": "false"}),
    "e11-641": ((ICD10CM, "E11.641"), {"crit-e11-6": "true", "crit-250-0": "false"}),
    "e11-9": ((ICD10CM, "E11.9"), {"crit-e11-6": "false", "crit-250-0": "false"}),
    "i9-undotted": (("http://hl7.org/fhir/sid/icd-9-cm", "25000"), {"crit-e11-6": "false", "crit-250-0": "true"}),
    "i9-dotted": (("http://hl7.org/fhir/sid/icd-9-cm", "250.02"), {"crit-e11-6": "false", "crit-250-0": "true"}),
    "i9-other": (("http://hl7.org/fhir/sid/icd-9-cm", "251.0"), {"crit-e11-6": "false", "crit-250-0": "false"}),
}


def bundle(pid: str, system: str, code: str) -> dict:
    return {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": pid, "birthDate": "1960-01-01"}},
        {"resource": {"resourceType": "Condition", "id": f"{pid}-c", "subject": {"reference": f"Patient/{pid}"},
                      "code": {"coding": [{"system": system, "code": code}]}}}]}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load([FIXTURE])


def loaded(kb):
    return [load_patient_input(f"{name}.json", matcher=kb.matcher, measures=kb.measures, reads=kb.reads,
                               raw=json.dumps(bundle(name, *coding)).encode())
            for name, (coding, _, _) in CASES.items()]


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_a_code_with_its_descendants_matches_the_codes_below_it(kb, engine):
    patients = loaded(kb)
    evaluation = evaluate(kb, patients, as_of=date(2026, 1, 15), engine=engine)
    got = truths(evaluation)
    for patient, (name, (_, below, alone)) in zip(patients, CASES.items()):
        assert got[(patient.patient_iri, NS + "crit-t2dm")] == below, name
        assert got[(patient.patient_iri, NS + "crit-e11-only")] == alone, name


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_a_subcategory_and_an_icd9_code_match_dotted_and_undotted_records(tmp_path, engine):
    content = tmp_path / "below.ttl"
    content.write_text(FIXTURE.read_text(encoding="utf-8") + """
ex:code-e11-6 a gkg:Code ; skos:prefLabel "type 2 diabetes mellitus with hypoglycemia or other complications"@en ;
    skos:notation "E11.6" ; gkg:codeSystem "http://hl7.org/fhir/sid/icd-10-cm"^^xsd:anyURI ;
    gkg:includesDescendants true ; gkg:verificationStatus gkg:Unverified .
ex:crit-e11-6 a gkg:DiagnosisCriterion ; rdfs:label "E11.6 and below"@en ; gkg:requiresDiagnosis ex:code-e11-6 .
ex:code-250-0 a gkg:Code ; skos:prefLabel "diabetes mellitus without complication"@en ; skos:notation "250.0" ;
    gkg:codeSystem "http://hl7.org/fhir/sid/icd-9-cm"^^xsd:anyURI ; gkg:includesDescendants true ;
    gkg:verificationStatus gkg:Unverified .
ex:crit-250-0 a gkg:DiagnosisCriterion ; rdfs:label "250.0 and below"@en ; gkg:requiresDiagnosis ex:code-250-0 .
""", encoding="utf-8")
    kb = KnowledgeBase.load([content])
    patients = [load_patient_input(f"{name}.json", matcher=kb.matcher, measures=kb.measures, reads=kb.reads,
                                   raw=json.dumps(bundle(name, *coding)).encode())
                for name, (coding, _) in BELOW.items()]
    got = truths(evaluate(kb, patients, as_of=date(2026, 1, 15), engine=engine))
    for patient, (name, (_, expected)) in zip(patients, BELOW.items()):
        for criterion, truth in expected.items():
            assert got[(patient.patient_iri, NS + criterion)] == truth, (name, criterion)


def test_the_recommendation_rests_on_the_record_coded_below(kb):
    patients = loaded(kb)
    evaluation = evaluate(kb, patients, as_of=date(2026, 1, 15))
    e11_65 = patients[list(CASES).index("e11-65")]
    report = build_report(evaluation, e11_65.patient_iri, kb.version())
    assert [r["iri"] for r in report["recommendations"]] == [NS + "rec-t2dm"]
    # the explanation names the record (with its dates) and the code the category matched; an exact match no code
    assert report["recommendations"][0]["because"] == [
        "type 2 diabetes mellitus: true (Condition/e11-65-c (no clinical status, no date recorded) coded E11.65)"]
    exact = build_report(evaluation, patients[list(CASES).index("e11")].patient_iri, kb.version())
    assert exact["recommendations"][0]["because"] == [
        "type 2 diabetes mellitus: true (Condition/e11-c (no clinical status, no date recorded))"]
    rests_on = [r["cond"] for r in evaluation.store.select_values(f"""
        PREFIX gkg: <https://w3id.org/guidelinekg/ontology#>
        PREFIX prov: <http://www.w3.org/ns/prov#>
        SELECT ?cond WHERE {{ ?o gkg:criterion <{NS}crit-t2dm> ; gkg:forPatient <{e11_65.patient_iri}> ;
                                 prov:wasDerivedFrom ?cond . ?cond a gkg:Condition }}""")]
    assert len(rests_on) == 1 and rests_on[0].endswith("e11-65-c")


def test_the_explanation_names_the_code_that_matched_among_several(tmp_path):
    """A record coded E11.9 (ICD-10-CM) and 250.00 (ICD-9-CM), against a criterion on ICD-9-CM 250 and below:
    the code named is 250.00, not the record's smallest code."""
    content = tmp_path / "icd9.ttl"
    content.write_text(FIXTURE.read_text(encoding="utf-8").replace(
        'skos:notation "E11" ;\n    gkg:codeSystem "http://hl7.org/fhir/sid/icd-10-cm"^^xsd:anyURI ; gkg:includesDescendants true',
        'skos:notation "250" ;\n    gkg:codeSystem "http://hl7.org/fhir/sid/icd-9-cm"^^xsd:anyURI ; gkg:includesDescendants true',
        1), encoding="utf-8")
    kb = KnowledgeBase.load([content])
    doc = bundle("dual", ICD10CM, "E11.9")
    doc["entry"][1]["resource"]["code"]["coding"].append({"system": "http://hl7.org/fhir/sid/icd-9-cm", "code": "250.00"})
    patient = load_patient_input("dual.json", matcher=kb.matcher, measures=kb.measures, reads=kb.reads,
                                 raw=json.dumps(doc).encode())
    report = build_report(evaluate(kb, [patient], as_of=date(2026, 1, 15)), patient.patient_iri, kb.version())
    assert report["recommendations"][0]["because"] == [
        "type 2 diabetes mellitus: true (Condition/dual-c (no clinical status, no date recorded) coded 250.00)"]


def test_validate_accepts_it_on_icd_and_refuses_it_where_it_cannot_match(tmp_path):
    assert not [f for f in validate([FIXTURE], owl=False)["findings"] if f["severity"] == "error"]
    snomed = tmp_path / "snomed.ttl"
    snomed.write_text(FIXTURE.read_text(encoding="utf-8").replace(
        'skos:notation "E11" ;\n    gkg:codeSystem "http://hl7.org/fhir/sid/icd-10-cm"^^xsd:anyURI ; gkg:includesDescendants true',
        'skos:notation "44054006" ;\n    gkg:codeSystem "http://snomed.info/sct"^^xsd:anyURI ; gkg:includesDescendants true', 1),
        encoding="utf-8")
    found = [f for f in validate([snomed], owl=False)["findings"] if f["code"] == "code-descendants-unsupported"]
    assert len(found) == 1 and "hierarchy is not known offline" in found[0]["message"]
    quoted = tmp_path / "quoted.ttl"
    quoted.write_text(FIXTURE.read_text(encoding="utf-8").replace("gkg:includesDescendants true",
                                                                  'gkg:includesDescendants "true"'), encoding="utf-8")
    found = [f for f in validate([quoted], owl=False)["findings"] if f["kind"] == "shacl"]
    assert any("gkg:includesDescendants is written once, as true or false" in f["message"] for f in found), found
