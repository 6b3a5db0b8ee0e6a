"""Allergy criteria (gkg:AllergyCriterion, rule 27) over FHIR AllergyIntolerance, table-driven, on both engines.

A made-up guideline (tests/fixtures/madeup/allergy.ttl): examplicillin for everyone unless allergic to an
examplicillin-class substance (a gkg:Not of the allergy criterion), and a not-indicated statement for the
allergic. Each case is one patient's AllergyIntolerance records; the table gives the criterion's truth.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.errors import InputError
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.report.fhirout import fhir_bundle
from guidelinekg.report.patient import build_report
from madeup import run_documents, truths

FIXTURE = Path(__file__).parent / "fixtures" / "madeup" / "allergy.ttl"
AS_OF = date(2026, 1, 15)
CRITERION = "urn:example:allergy:allergic"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
P1 = {"coding": [{"system": "urn:example:substances", "code": "P1", "display": "Examplicillin"}]}  # verified


def _status(system: str, code: str) -> dict:
    return {"coding": [{"system": system, "code": code}]}


def _named(text: str, **more) -> dict:
    return {"code": {"text": text}, **more}


# name -> (AllergyIntolerance records, the criterion's truth)
CASES = {
    "none": ([], "false"),
    "verified-code": ([{"code": P1, "criticality": "high"}], "true"),
    "name": ([_named("examplicillin")], "true"),
    "synonym-in-text": ([_named("Brandicillin 500 mg tablets")], "true"),
    "reaction-substance": ([{"code": {"text": "drug allergy"},
                             "reaction": [{"substance": {"text": "examplicillin"}}]}], "true"),
    "no-statuses-no-dates": ([{"code": P1}], "true"),
    "active-confirmed": ([{"code": P1, "clinicalStatus": _status(CLINICAL, "active"),
                           "verificationStatus": _status(VERIFICATION, "confirmed")}], "true"),
    "unconfirmed": ([_named("examplicillin", verificationStatus=_status(VERIFICATION, "unconfirmed"))], "unknown"),
    "refuted": ([_named("examplicillin", verificationStatus=_status(VERIFICATION, "refuted"))], "false"),
    "entered-in-error": ([_named("examplicillin", verificationStatus=_status(VERIFICATION, "entered-in-error"))],
                         "false"),
    "inactive": ([_named("examplicillin", clinicalStatus=_status(CLINICAL, "inactive"))], "false"),
    "resolved": ([_named("examplicillin", clinicalStatus=_status(CLINICAL, "resolved"))], "false"),
    "unverified-code-only": ([{"code": {"coding": [{"system": "urn:example:substances", "code": "P2"}]}}], "unknown"),
    "other-class-member": ([_named("otheracillin")], "true"),
    "substance-of-no-class-asked": ([_named("latexium")], "false"),
    "unknown-substance": ([_named("peanuts")], "false"),
    "onset-after-as-of": ([{"code": P1, "onsetDateTime": "2026-02-01"}], "false"),
    "onset-before": ([{"code": P1, "onsetDateTime": "2010-05-01"}], "true"),
    "onset-month-across-as-of": ([{"code": P1, "onsetDateTime": "2026-01"}], "unknown"),
    "recorded-after-no-onset": ([{"code": P1, "recordedDate": "2026-03-01"}], "unknown"),
    "recorded-in-the-as-of-month": ([{"code": P1, "recordedDate": "2026-01"}], "unknown"),
    "recorded-before": ([{"code": P1, "recordedDate": "2020-03-01"}], "true"),
    "refuted-and-active": ([_named("examplicillin", verificationStatus=_status(VERIFICATION, "refuted")),
                            {"code": P1}], "true"),
    "no-known-drug-allergy": ([{"code": {"coding": [{"system": "http://snomed.info/sct", "code": "409137002",
                                                      "display": "No known drug allergy"}],
                                          "text": "NKDA (examplicillin tolerated)"},
                                 "reaction": [{"substance": {"text": "examplicillin"}}]}], "false"),
    "status-not-a-code": ([_named("examplicillin", clinicalStatus=_status(CLINICAL, "Active"))], "unknown"),
    "status-local-code": ([_named("examplicillin", clinicalStatus=_status("urn:local", "A"))], "unknown"),
    "status-text-only": ([_named("examplicillin", clinicalStatus={"text": "Resolved"})], "unknown"),
    "verification-text-only": ([_named("examplicillin", verificationStatus={"text": "Refuted"})], "unknown"),
    "local-and-fhir-status": ([_named("examplicillin", clinicalStatus={"coding": [
        {"system": "urn:local", "code": "A"}, {"system": CLINICAL, "code": "resolved"}]})], "false"),
    "negated-text": ([_named("No known allergy to examplicillin")], "unknown"),
    "denies-text": ([_named("Patient denies examplicillin allergy")], "unknown"),
    "unverified-code-and-other-substance": ([{"code": {"coding": [{"system": "urn:example:substances", "code": "P2"}]},
                                             "reaction": [{"substance": {"text": "latexium"}}]}], "unknown"),
    "intolerance-type": ([_named("examplicillin", type="intolerance")], "true"),  # "allergy or intolerance"
    "resolved-and-unconfirmed": ([_named("examplicillin", clinicalStatus=_status(CLINICAL, "resolved")),
                                  _named("examplicillin", verificationStatus=_status(VERIFICATION, "unconfirmed"))],
                                 "unknown"),
}


def bundle(pid: str, allergies: list[dict]) -> dict:
    entries = [{"resource": {"resourceType": "Patient", "id": pid, "birthDate": "1970-01-01"}}]
    entries += [{"resource": {"resourceType": "AllergyIntolerance", "id": f"{pid}-a{n}",
                              "patient": {"reference": f"Patient/{pid}"}, **a}} for n, a in enumerate(allergies)]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


@pytest.fixture(scope="module", params=["oxigraph", "rdflib"])
def run(request, tmp_path_factory):
    docs = {name: bundle(name, allergies) for name, (allergies, _) in CASES.items()}
    return run_documents(FIXTURE, docs, tmp_path_factory.mktemp("allergy"), AS_OF, engine=request.param)


@pytest.mark.parametrize("name", CASES)
def test_allergy_truth(run, name):
    assert truths(run.evaluation)[(f"urn:guidelinekg:Patient/{name}", CRITERION)] == CASES[name][1]


def _statements(report: dict, key: str) -> list[str]:
    return sorted(item["iri"].rsplit(":", 1)[1] for item in report[key])


def test_the_allergic_get_the_statement_against_and_the_doubtful_are_undecided(run):
    allergic, unknown, clear = run.reports["verified-code"], run.reports["unconfirmed"], run.reports["none"]
    assert _statements(allergic, "not_indicated") == ["ni-allergic"]
    assert _statements(allergic, "recommendations") == ["rec-latexium"]
    assert _statements(clear, "recommendations") == ["rec-cillin", "rec-latexium"] and not clear["not_indicated"]
    assert _statements(unknown, "undetermined") == ["rec-cillin"] and not unknown["not_indicated"]


def _explanation(report: dict, key: str) -> str:
    return "\n".join(line for item in report[key] for line in item["because"])


def test_the_explanation_names_the_records(run):
    said = _explanation(run.reports["verified-code"], "not_indicated")
    assert "allergy to examplicillins: true (AllergyIntolerance/verified-code-a0 (examplicillin, criticality high))" in said
    said = _explanation(run.reports["synonym-in-text"], "not_indicated")  # the substance matched, and the record's name
    assert "(AllergyIntolerance/synonym-in-text-a0 (examplicillin: 'Brandicillin 500 mg tablets'))" in said
    said = _explanation(run.reports["refuted"], "recommendations")  # a record that does not count, and why
    assert "allergy to examplicillins: false (AllergyIntolerance/refuted-a0 (examplicillin, refuted))" in said
    said = _explanation(run.reports["negated-text"], "undetermined")
    assert "its text reads as a negation" in said and "(perhaps examplicillin)" in said
    unconfirmed = _explanation(run.reports["unconfirmed"], "undetermined")
    assert "allergy to examplicillins: unknown (recorded, but unconfirmed or not known to be in force" in unconfirmed
    assert "AllergyIntolerance/unconfirmed-a0 is unconfirmed" in unconfirmed
    perhaps = _explanation(run.reports["unverified-code-only"], "undetermined")
    assert "AllergyIntolerance/unverified-code-only-a0 (perhaps otheracillin)" in perhaps
    assert "a code the guideline lists as unverified" in perhaps
    said = _explanation(run.reports["status-text-only"], "undetermined")
    assert "its clinical status is given only as text, not as a code" in said
    said = _explanation(run.reports["status-not-a-code"], "undetermined")
    assert "its clinical status (Active) is not a FHIR code" in said
    said = _explanation(run.reports["recorded-in-the-as-of-month"], "undetermined")
    assert "it was recorded in 2026-01, perhaps after the as-of date 2026-01-15" in said
    dated = _explanation(run.reports["onset-month-across-as-of"], "undetermined")
    assert "some time from 2026-01-01 to 2026-01-31" in dated


def test_a_record_of_no_substance_the_guideline_knows_is_counted_not_mapped(run):
    warnings = {w["code"]: w["message"] for w in run.reports["unknown-substance"]["warnings"]}
    assert "1 AllergyIntolerance resource ignored" in warnings["ignored-resource"]
    assert "peanuts" in warnings["ignored-resource"]
    assert "AllergyRecord" not in run.patients["unknown-substance"].text()


def test_the_provenance_rests_on_the_allergy_records(run):
    derived = {(r["o"], r["f"]) for r in run.evaluation.store.select_values(
        "PREFIX gkg: <https://w3id.org/guidelinekg/ontology#> PREFIX prov: <http://www.w3.org/ns/prov#> "
        "SELECT ?o ?f WHERE { ?o gkg:criterion <urn:example:allergy:allergic> ; prov:wasDerivedFrom ?f }")}
    records = {f for _, f in derived}
    assert "urn:guidelinekg:AllergyIntolerance/verified-code-a0" in records
    assert "urn:guidelinekg:AllergyIntolerance/refuted-and-active-a1" in records  # the one in force decided it
    assert "urn:guidelinekg:AllergyIntolerance/refuted-and-active-a0" not in records
    results = {r["f"] for r in run.evaluation.store.select_values(
        "PREFIX gkg: <https://w3id.org/guidelinekg/ontology#> PREFIX prov: <http://www.w3.org/ns/prov#> "
        "SELECT ?f WHERE { ?r a gkg:RestrictionResult ; gkg:forPatient <urn:guidelinekg:Patient/verified-code> ; "
        "prov:wasDerivedFrom ?f . ?f a gkg:AllergyRecord }")}
    assert results == {"urn:guidelinekg:AllergyIntolerance/verified-code-a0"}  # rule 90: the fact a result rests on


def test_fhir_output_asks_for_the_allergy_record(run):
    report = build_report(run.evaluation, "urn:guidelinekg:Patient/unconfirmed",
                          KnowledgeBase.load([FIXTURE]).version(), facts=True)
    bundle_out = fhir_bundle([report])
    wanted = [req for entry in bundle_out.get("entry", []) for req in
              entry["resource"].get("dataRequirement", []) if req.get("type") == "AllergyIntolerance"]
    assert wanted, json.dumps(bundle_out)[:2000]
    assert wanted[0]["codeFilter"][0]["path"] == "code"
    assert wanted[0]["codeFilter"][0]["code"] == [{"system": "urn:example:substances", "code": "P1"}]  # verified
    # only; not displayed as "allergy to examplicillins", which names the class, not the substance's code


NO_MEDICINE = Path(__file__).parent / "fixtures" / "madeup" / "same-sample.ttl"  # no allergy criterion, no drug


def test_without_an_allergy_criterion_or_a_medicine_allergies_are_a_type_not_used(tmp_path):
    kb = KnowledgeBase.load([NO_MEDICINE])
    assert KnowledgeBase.load().reads.allergies  # the shipped guideline recommends medicines: read (rule 77)
    path = tmp_path / "a.json"
    path.write_text(json.dumps(bundle("p", [{"code": P1}])), encoding="utf-8")
    patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    assert "AllergyRecord" not in patient.text()
    assert any("AllergyIntolerance resource ignored: type not used" in n.message for n in patient.notes)


def test_an_allergy_without_its_patient_is_noted(tmp_path):
    kb = KnowledgeBase.load([FIXTURE])
    doc = bundle("p", [])
    doc["entry"].append({"resource": {"resourceType": "AllergyIntolerance", "id": "x", "code": P1,
                                      "subject": {"reference": "Patient/p"}}})  # not FHIR: the element is patient
    path = tmp_path / "a.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    assert "AllergyRecord" not in patient.text()
    assert any(n.code == "missing-subject" and "patient.reference" in n.message for n in patient.notes)


@pytest.mark.parametrize(("sources", "kind", "bad"), [
    ([NO_MEDICINE], "AllergyIntolerance", {"patient": {"reference": "Patient/p"}, "criticality": 5}),
    ([FIXTURE], "Procedure", {"subject": {"reference": "Patient/p"}, "status": 7}),  # no procedure criterion
])
def test_a_malformed_resource_of_a_type_no_guideline_reads_refuses_nothing(tmp_path, sources, kind, bad):
    kb = KnowledgeBase.load(sources) if sources else KnowledgeBase.load()
    doc = bundle("p", [])
    doc["entry"].append({"resource": {"resourceType": kind, "id": "x", **bad}})
    doc["entry"].append({"resource": {"resourceType": kind, "id": "y", **bad}, "fullUrl": "urn:uuid:1"})
    doc["entry"].append({"resource": {"resourceType": kind, "id": "y", **bad}, "fullUrl": "urn:uuid:1"})  # strict read
    path = tmp_path / "a.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    assert any(f"{kind} resource" in n.message and "type not used" in n.message for n in patient.notes)
    with pytest.raises(InputError, match="must be a JSON string"):  # read, it is refused as before
        load_patient_input(path, matcher=kb.matcher, measures=kb.measures)


def test_cds_hooks_ask_for_allergies_and_read_them():
    from guidelinekg.engine.guidelines import load_guidelines
    from guidelinekg.hooks.advice import Advisor, advise
    from guidelinekg.hooks.protocol import parse_call, services, templates

    advisor = Advisor(load_guidelines([FIXTURE]), as_of=AS_OF)
    keys = templates(advisor.reads_procedures, advisor.reads_allergies)
    assert keys["allergyIntolerances"] == "AllergyIntolerance?patient={{context.patientId}}"
    assert "allergyIntolerances" not in templates(False)  # a guideline without allergy criteria: not asked
    doc = bundle("p", [{"code": P1}])
    searchset = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    prefetch = {key: dict(searchset) for key in keys if key != "patient"}
    prefetch["patient"] = doc["entry"][0]["resource"]
    prefetch["allergyIntolerances"] = {**searchset, "entry": [{"resource": doc["entry"][1]["resource"]}]}
    body = {"hook": "patient-view", "hookInstance": "d1f1a0c0-0000-4000-8000-000000000001",
            "context": {"userId": "Practitioner/x", "patientId": "p"}, "prefetch": prefetch}
    call = parse_call(json.dumps(body).encode(), services()["guidelinekg-patient-view"])
    [report] = advise(call, advisor, list(keys)).reports
    assert _statements(report, "not_indicated") == ["ni-allergic"]
    assert _statements(report, "recommendations") == ["rec-latexium"]


def test_a_bulk_export_without_allergies_is_said_to_be_partial():
    from guidelinekg.cohort.exportscope import scope_notes, types_read

    kb = KnowledgeBase.load([FIXTURE])
    assert "AllergyIntolerance" in types_read(kb) and "AllergyIntolerance" not in types_read(KnowledgeBase.load([NO_MEDICINE]))
    manifest = {"file": "manifest.json", "request": "https://x/$export?_type=Patient,Condition,MedicationRequest"}
    [(warning, note, lacks)] = scope_notes(manifest, kb)
    assert "AllergyIntolerance" in warning and "AllergyIntolerance" in note and lacks == ("AllergyRecord", "MedicationExposure")


def test_an_allergy_to_a_recommended_drug_no_criterion_excludes_is_warned(run):
    warned = {name: [w["message"] for w in run.reports[name]["warnings"] if w["code"] == "allergy-to-recommended"]
              for name in CASES}
    assert warned["substance-of-no-class-asked"] == [
        "The patient has a recorded allergy or intolerance to latexium (AllergyIntolerance/substance-of-no-class-"
        "asked-a0: 'latexium') while 'latexium for everyone' is recommended: check the allergy before prescribing."]
    assert not warned["none"] and not warned["verified-code"]  # examplicillin is excluded, not recommended
    # a recommendation made to a patient whose allergy record does not count (refuted): no warning
    assert not any(warned[name] for name in ("refuted", "resolved", "entered-in-error"))


def test_a_substance_of_a_class_under_the_criterion_s_counts(tmp_path):
    """A reviewer: rule 27 matched direct members only, while the lint and the FHIR codes followed skos:broader."""
    moved = tmp_path / "allergy.ttl"
    text = FIXTURE.read_text(encoding="utf-8").replace(
        "ex:cillins a gkg:SubstanceClass ; rdfs:label \"examplicillins\"@en .",
        "ex:cillins a gkg:SubstanceClass ; rdfs:label \"examplicillins\"@en .\n"
        "ex:aminocillins a gkg:SubstanceClass ; rdfs:label \"aminocillins\"@en ; skos:broader ex:cillins .")
    text = text.replace("gkg:memberOfClass ex:cillins ; gkg:code ex:code-examplicillin",
                        "gkg:memberOfClass ex:aminocillins ; gkg:code ex:code-examplicillin")
    assert "ex:aminocillins ; gkg:code ex:code-examplicillin" in text
    moved.write_text(text, encoding="utf-8")
    docs = {"sub": bundle("sub", [{"code": P1}])}
    run_ = run_documents(moved, docs, tmp_path, AS_OF)
    assert truths(run_.evaluation)[("urn:guidelinekg:Patient/sub", CRITERION)] == "true"


def test_patient_rdf_gives_allergy_records_by_substance_or_by_name(tmp_path):
    kb = KnowledgeBase.load([FIXTURE])
    path = tmp_path / "p.ttl"
    path.write_text("""@prefix gkg: <https://w3id.org/guidelinekg/ontology#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
<urn:ex:p1> a gkg:Patient ; gkg:birthDate "1970-01-01"^^xsd:date .
<urn:ex:p1-a> a gkg:AllergyRecord ; gkg:subject <urn:ex:p1> ; gkg:allergenText "Brandicillin" .
""", encoding="utf-8")
    patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    assert "<urn:example:allergy:examplicillin>" in patient.text()  # matched by name, as a product text is
    from guidelinekg.engine.reasoning import evaluate
    from madeup import truths as truths_of

    assert truths_of(evaluate(kb, [patient], as_of=AS_OF))[("urn:ex:p1", CRITERION)] == "true"


def test_the_shipped_guideline_warns_of_an_allergy_to_the_iron_it_recommends(tmp_path):
    """A reviewer: with no allergy criterion in any guideline, allergy records were a type not used, so rule 77
    never warned. A guideline that recommends a medicine reads them."""
    from guidelinekg.engine.reasoning import evaluate
    from guidelinekg.report.patient import build_report as build

    kb = KnowledgeBase.load()
    doc = json.loads((Path(__file__).parents[1] / "examples" / "patient-ferritin-45.json").read_text(encoding="utf-8"))
    patient_id = next(e["resource"]["id"] for e in doc["entry"] if e["resource"]["resourceType"] == "Patient")
    doc["entry"].append({"resource": {"resourceType": "AllergyIntolerance", "id": "fcm", "criticality": "high",
                                      "patient": {"reference": f"Patient/{patient_id}"},
                                      "code": {"text": "ferric carboxymaltose"}}})
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    report = build(evaluate(kb, [patient], as_of=date(2026, 1, 20)), patient.patient_iri, kb.version())
    made = [r["label"] for r in report["recommendations"]]
    warned = [w["message"] for w in report["warnings"] if w["code"] == "allergy-to-recommended"]
    assert any("ferric carboxymaltose" in m for m in made), made
    assert len(warned) == 1 and "allergy or intolerance to ferric carboxymaltose (AllergyIntolerance/fcm" in warned[0]


def _shipped_warnings(tmp_path: Path, engine: str, *allergens: str) -> tuple[list[str], list[str]]:
    """The labels of the recommendations made to the example patient (ferritin 45) with allergy records naming
    ``allergens`` (as text), and the allergy-to-recommended warnings."""
    from guidelinekg.engine.reasoning import evaluate
    from guidelinekg.report.patient import build_report as build

    kb = KnowledgeBase.load()
    doc = json.loads((Path(__file__).parents[1] / "examples" / "patient-ferritin-45.json").read_text(encoding="utf-8"))
    patient_id = next(e["resource"]["id"] for e in doc["entry"] if e["resource"]["resourceType"] == "Patient")
    for i, text in enumerate(allergens):
        doc["entry"].append({"resource": {"resourceType": "AllergyIntolerance", "id": f"a{i}",
                                          "patient": {"reference": f"Patient/{patient_id}"}, "code": {"text": text}}})
    path = tmp_path / f"{engine}.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    report = build(evaluate(kb, [patient], as_of=date(2026, 1, 20), engine=engine), patient.patient_iri, kb.version())
    return ([r["label"] for r in report["recommendations"]],
            sorted(w["message"] for w in report["warnings"] if w["code"] == "allergy-to-recommended"))


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_an_allergy_to_iron_warns_of_every_iron_product_recommended(tmp_path, engine):
    """Found by a reviewer: an allergy recorded as plain "iron" warned only of "iron supplementation" (a class
    it is a member of), not of oral ferrous sulfate or IV iron, which contain it. The terms say every
    iron-containing product contains iron (gkg:containedSubstance), so each recommended product is warned of."""
    made, warned = _shipped_warnings(tmp_path, engine, "Iron")
    assert len(made) == 4 and len(warned) == 4, (made, warned)
    for label in ("IV ferric carboxymaltose 1000 mg", "IV ferumoxytol", "IV low molecular weight iron dextran",
                  "oral ferrous sulfate 65 mg elemental iron daily"):
        assert (f"The patient has a recorded allergy or intolerance to iron (AllergyIntolerance/a0: 'Iron'; every one "
                f"of the iron-containing products contains it) while '{label}' is recommended: check the allergy "
                "before prescribing.") in warned, warned


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_an_allergy_to_one_iron_product_is_not_one_to_the_others(tmp_path, engine):
    """Containment runs one way: ferrous sulfate contains iron, an allergy to it is not one to IV iron."""
    _, warned = _shipped_warnings(tmp_path, engine, "ferrous sulfate")
    assert warned == ["The patient has a recorded allergy or intolerance to ferrous sulfate (AllergyIntolerance/a0: "
                      "'ferrous sulfate') while 'oral ferrous sulfate 65 mg elemental iron daily' is recommended: "
                      "check the allergy before prescribing."]


# A criterion with gkg:excludesIntolerance (a hypersensitivity): a record of type intolerance does not count.
# name -> (records, the criterion's truth)
HYPERSENSITIVITY = {
    "intolerance": ([_named("examplicillin", type="intolerance", criticality="low")], "false"),
    "allergy": ([_named("examplicillin", type="allergy")], "true"),
    "no-type": ([_named("examplicillin")], "true"),
    "unconfirmed-intolerance": ([_named("examplicillin", type="intolerance",
                                        verificationStatus=_status(VERIFICATION, "unconfirmed"))], "false"),
    "intolerance-and-unconfirmed-allergy": ([_named("examplicillin", type="intolerance"),
                                             _named("examplicillin", type="allergy",
                                                    verificationStatus=_status(VERIFICATION, "unconfirmed"))],
                                            "unknown"),
    "type-not-a-code": ([_named("examplicillin", type="side effect")], "true"),  # not kept: counted, as no type
}


@pytest.fixture(scope="module", params=["oxigraph", "rdflib"])
def hypersensitivity(request, tmp_path_factory):
    docs = {name: bundle(name, records) for name, (records, _) in HYPERSENSITIVITY.items()}
    fixture = FIXTURE.parent / "allergy-hypersensitivity.ttl"
    return run_documents(fixture, docs, tmp_path_factory.mktemp("hypersensitivity"), AS_OF, engine=request.param)


@pytest.mark.parametrize("name", HYPERSENSITIVITY)
def test_an_intolerance_is_not_a_hypersensitivity(hypersensitivity, name):
    truth = truths(hypersensitivity.evaluation)[(f"urn:guidelinekg:Patient/{name}",
                                                 "urn:example:hypersensitivity:hypersensitive")]
    assert truth == HYPERSENSITIVITY[name][1]


def test_the_explanation_says_an_intolerance_does_not_count(hypersensitivity):
    report = hypersensitivity.reports["intolerance"]
    assert _statements(report, "recommendations") == ["rec-cillin"]
    said = _explanation(report, "recommendations")
    assert ("hypersensitivity to examplicillins: false (AllergyIntolerance/intolerance-a0 (examplicillin, an "
            "intolerance, which this criterion does not count))") in said
    assert _statements(hypersensitivity.reports["allergy"], "not_indicated") == ["ni-hypersensitive"]


def test_fhir_output_links_the_allergy_warning_and_the_proposed_drug_both_ways(run):
    """Found by a clinician: the DetectedIssue of an allergy to a recommended drug named no request, so a
    system showing the MedicationRequest showed no allergy. It now implicates the request, and the request
    lists it (MedicationRequest.detectedIssue); a warning about no statement implicates nothing."""
    from test_fhir_output import check_valid

    report = build_report(run.evaluation, "urn:guidelinekg:Patient/substance-of-no-class-asked",
                          KnowledgeBase.load([FIXTURE]).version(), facts=True)
    bundle_out = fhir_bundle([report])
    check_valid(bundle_out)
    resources = {f"urn:uuid:{e['resource']['id']}": e["resource"] for e in bundle_out["entry"]}
    [issue_url] = [u for u, r in resources.items() if r["resourceType"] == "DetectedIssue"
                   and r["code"]["text"] == "allergy-to-recommended"]
    [request] = [resources[i["reference"]] for i in resources[issue_url]["implicated"]]
    assert request["resourceType"] == "MedicationRequest"
    assert request["instantiatesCanonical"] == ["urn:example:allergy:rec-latexium"]
    assert request["detectedIssue"] == [{"reference": issue_url}]
    others = [r for r in resources.values() if r["resourceType"] == "MedicationRequest" and r is not request]
    assert all("detectedIssue" not in r for r in others)
