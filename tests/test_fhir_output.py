"""`recommend --format fhir`: every vignette gives a valid FHIR R4 Bundle (checked with the fhir.resources R4
models) that says what the report says: one action per statement made, requests only for what is
recommended, doNotPerform for what is recommended against, an order per missing test, a DetectedIssue per
warning, data-required when a decision waits on data, and a Provenance of it all naming the run."""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from fhir.resources import construct_fhir_element

from guidelinekg.cli import main
from guidelinekg.engine.patientcheck import validate_patients
from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.engine.shapes_sparql import load_patient_shapes
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.report.fhirout import fhir_bundle
from guidelinekg.report.fhirrequests import LOINC
from guidelinekg.report.patient import build_report
from vignettes import CONTENT_NS as RLS
from vignettes import load_vignettes

VIGNETTES = [v for v in load_vignettes() if not v.expected["expect"].get("error")]
EXAMPLE = Path(__file__).parents[1] / "examples" / "patient-ferritin-45.json"


def bundle_of(kb, vignette) -> tuple[dict, dict]:
    patient = load_patient_input(vignette.patient, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    patient = validate_patients([patient], kb, load_patient_shapes())[0]
    evaluation = evaluate(kb, [patient], as_of=date.fromisoformat(vignette.as_of))
    report = build_report(evaluation, patient.patient_iri, kb.version(), facts=True)
    return report, fhir_bundle([report])


def by_type(bundle: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for entry in bundle["entry"]:
        out.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return out


def check_valid(bundle: dict) -> None:
    """Every resource parses as its FHIR R4 model (types, cardinalities, required choices); the key
    constraints beyond the models: unique fullUrls that name their resources, every urn:uuid reference
    resolved inside the Bundle."""
    construct_fhir_element("Bundle", bundle)
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(urls) == len(set(urls))
    for entry in bundle["entry"]:
        resource = entry["resource"]
        construct_fhir_element(resource["resourceType"], resource)
        assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"
    text = json.dumps(bundle)
    for ref in {part.split('"')[0] for part in text.split('"reference": "urn:uuid:')[1:]}:
        assert f"urn:uuid:{ref}" in urls, ref


def is_order(request: dict) -> bool:
    """A test to order (not a recommendation's, a not-indicated statement's or a monitoring request)."""
    return any(r.get("text", "").startswith("needed to decide: ") for r in request.get("reasonCode", []))


def canonicals(request: dict) -> list[str]:
    """The statements a request carries out: instantiatesCanonical, or the R4 workflow extension of that name
    (a CommunicationRequest has no such element), or a Task's instantiatesUri."""
    found = list(request.get("instantiatesCanonical", []))
    found += [e["valueCanonical"] for e in request.get("extension", [])
              if e["url"] == "http://hl7.org/fhir/StructureDefinition/workflow-instantiatesCanonical"]
    return found + ([request["instantiatesUri"]] if "instantiatesUri" in request else [])


def leaves(actions: list[dict]) -> list[dict]:
    out = []
    for action in actions:
        assert ("resource" in action) != ("action" in action), action  # rqg-1
        out += leaves(action["action"]) if "action" in action else [action]
    return out


@pytest.mark.parametrize("vignette", VIGNETTES, ids=lambda v: v.name)
def test_every_vignette_gives_a_valid_bundle_that_says_what_the_report_says(kb, vignette):
    report, bundle = bundle_of(kb, vignette)
    check_valid(bundle)
    resources = by_type(bundle)
    (group,) = resources["RequestGroup"]
    (guidance,) = resources["GuidanceResponse"]
    (provenance,) = resources["Provenance"]
    actions = leaves(group.get("action", []))
    monitored = sum(len(m["loinc"]) for m in report["monitoring"])
    assert len(actions) == (len(report["recommendations"]) + len(report["not_indicated"]) + len(report["orders"])
                            + monitored)
    entries = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    for rec, action in zip(report["recommendations"], actions):
        request = entries[action["resource"]["reference"]]
        assert rec["iri"] in (request.get("instantiatesCanonical") or [request.get("instantiatesUri")])
        assert request.get("doNotPerform", False) == (rec["direction"] == "against" and request["resourceType"] != "Task")
        if request["resourceType"] == "MedicationRequest":
            verified = {(c["system"], c["code"]) for c in rec["intervention"]["codes"]
                        if c["status"] in ("PRIMARY", "SECONDARY")}
            assert {(c["system"], c["code"]) for c in request["medicationCodeableConcept"].get("coding", [])} == verified
            dosage = request.get("dosageInstruction", [{}])[0]
            if rec.get("dose") and rec["direction"] != "against" and not rec.get("dose_basis"):
                assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == rec["dose"]["value"]
            assert "doseAndRate" not in dosage or not rec.get("dose_basis")  # a dose of a part is text only
        cautions = [n["text"] for n in request.get("note", []) if n["text"].startswith("Caution: ")]
        assert cautions == ["Caution: " + c["text"] for c in rec["cautions"]]
        for ref in request.get("reasonReference", []):  # only results that made the criterion true
            assert any(f["record"] and f["record"].split(".component[")[0] == ref["reference"] and f["truth"] == "true"
                       for f in rec["facts"])
    for ni, action in zip(report["not_indicated"], actions[len(report["recommendations"]):]):
        assert entries[action["resource"]["reference"]]["doNotPerform"] is True
        assert canonicals(entries[action["resource"]["reference"]]) == [ni["iri"]]  # found by an author: none
    # every request names the statements it carries out (an order: those that need the test)
    for kind in ("MedicationRequest", "ServiceRequest", "CommunicationRequest", "Task"):
        assert all(canonicals(r) for r in resources.get(kind, [])), kind
    assert sorted(c for r in resources.get("ServiceRequest", []) if is_order(r) for c in canonicals(r)) == sorted(
        i for o in report["orders"] for i in o["needed_for"])
    # a monitoring action is titled by its label (two may quote one sentence: found by an author)
    titles = [a["title"] for a in actions[len(actions) - monitored:]]
    assert titles == [f"Monitoring: {m['label']}" for m in report["monitoring"] for _ in m["loinc"]]
    ordered = {s["code"]["coding"][0]["code"] for s in resources.get("ServiceRequest", [])
               if is_order(s) and "coding" in s["code"]}
    assert ordered == {o["loinc"] for o in report["orders"]}
    rules = sorted(w["code"] for w in report["warnings"] if w["source"] == "rules")
    assert sorted(d["code"]["text"] for d in resources.get("DetectedIssue", [])) == rules
    noted = [i["details"]["text"] for o in resources.get("OperationOutcome", []) for i in o["issue"]]
    assert sorted(noted) == sorted(w["code"] for w in report["warnings"] if w["source"] == "input")
    waits = bool(report["undetermined"] or report["orders"] or report["applicability"] == "unknown")
    assert guidance["status"] == ("data-required" if waits else "success")
    wanted = {o["loinc"] for o in report["orders"]}
    got = {c["code"] for d in guidance.get("dataRequirement", []) for f in d.get("codeFilter", []) for c in f["code"]}
    assert wanted <= got
    if report["undetermined"]:  # what each undecided statement waits on is named
        assert guidance.get("dataRequirement") or report["applicability"] == "unknown", report["undetermined"]
    assert {t["reference"] for t in provenance["target"]} == {e["fullUrl"] for e in bundle["entry"]} - {
        f"urn:uuid:{provenance['id']}"}
    assert provenance["entity"][0]["what"]["identifier"]["value"] == report["provenance"]["run"]


def test_the_same_inputs_give_the_same_bytes(capsys):
    outputs = []
    for _ in range(2):
        assert main(["recommend", str(EXAMPLE), "--as-of", "2026-01-15", "--format", "fhir"]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    bundle = json.loads(outputs[0])
    check_valid(bundle)
    request = by_type(bundle)["MedicationRequest"][0]
    assert request["subject"] == {"reference": "Patient/example-1"}
    assert request["reasonReference"] == [{"reference": "Observation/ferritin-1"}, {"reference": "Observation/tsat-1"}]
    first = leaves(by_type(bundle)["RequestGroup"][0]["action"])[0]
    assert first["prefix"] == "first-line" and first["textEquivalent"].endswith("(strong recommendation, moderate certainty)")
    cautions = [n["text"] for n in request["note"] if n["text"].startswith("Caution: ")]
    assert cautions and "extravasation" in cautions[0]


def test_several_guidelines_give_one_bundle_with_a_request_group_each(capsys):
    root = Path(__file__).parents[1]
    assert main(["recommend", str(EXAMPLE), "--as-of", "2026-01-15", "--format", "fhir",
                 "--content", str(root / "ontology" / "guidelines" / "rls-iron"),
                 "--content", str(root / "examples" / "guidelines" / "aasm-rls-2024")]) == 0
    bundle = json.loads(capsys.readouterr().out)
    check_valid(bundle)
    groups = by_type(bundle)["RequestGroup"]
    assert len(groups) == 2 and len({g["instantiatesUri"][0] for g in groups}) == 2
    assert len(by_type(bundle)["GuidanceResponse"]) == 2 and len(by_type(bundle)["Provenance"]) == 1


# --- the guideline as PlanDefinitions (render --format fhir) ---------------------------------------------

GUIDELINES = [Path(__file__).parents[1] / "ontology" / "guidelines" / "rls-iron",
              *sorted((Path(__file__).parents[1] / "examples" / "guidelines").iterdir())]


@pytest.mark.parametrize("folder", GUIDELINES, ids=lambda p: p.name)
def test_every_guideline_exports_a_plan_definition_per_statement(folder, capsys):
    from guidelinekg.content.loading import load_files

    files = sorted(str(p) for p in folder.rglob("*.ttl"))
    assert main(["render", "--format", "fhir", *sum((["--data", f] for f in files), [])]) == 0
    bundle = json.loads(capsys.readouterr().out)
    construct_fhir_element("Bundle", bundle)
    for entry in bundle["entry"]:
        construct_fhir_element("PlanDefinition", entry["resource"])
    content, _ = load_files([Path(f) for f in files])
    typed = {q.subject.value for q in content.store.quads_for_pattern(None, None, None, None)
             if q.predicate.value.endswith("#type") and q.object.value.split("#")[-1] in
             ("Recommendation", "NotIndicatedStatement", "MonitoringAction")}
    urls = [e["resource"]["url"] for e in bundle["entry"]]
    assert sorted(urls) == sorted(u for u in typed if not u.startswith("_:")) and len(set(urls)) == len(urls)
    for entry in bundle["entry"]:
        action = entry["resource"]["action"][0]
        assert "condition" not in action or action["condition"][0]["expression"]["expression"]


def test_requests_instantiate_the_exported_plan_definitions(capsys):
    assert main(["render", "--format", "fhir"]) == 0
    urls = {e["resource"]["url"] for e in json.loads(capsys.readouterr().out)["entry"]}
    assert main(["recommend", str(EXAMPLE), "--as-of", "2026-01-15", "--format", "fhir"]) == 0
    bundle = json.loads(capsys.readouterr().out)
    canonicals = {c for e in bundle["entry"] for c in e["resource"].get("instantiatesCanonical", [])}
    assert canonicals and canonicals <= urls


def test_cohort_writes_fhir_ndjson_as_a_bulk_export(tmp_path, capsys):
    source = tmp_path / "in"
    source.mkdir()
    cases = [v for v in VIGNETTES if v.as_of == "2026-01-15" and v.patient.suffix == ".json"][:6]
    for v in cases:
        (source / f"{v.name}.json").write_bytes(v.patient.read_bytes())
    assert main(["cohort", str(source), "--out", str(tmp_path / "out"), "--as-of", "2026-01-15", "--fhir",
                 "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    manifest = json.loads((tmp_path / "out" / "fhir" / "manifest.json").read_text(encoding="utf-8"))
    ids: dict[str, dict] = {}
    for item in manifest["output"]:
        lines = (tmp_path / "out" / "fhir" / item["url"]).read_text(encoding="utf-8").splitlines()
        assert len(lines) == item["count"] == summary["fhir"][str(tmp_path / "out" / "fhir")][item["type"]]
        for line in lines:
            resource = json.loads(line)
            construct_fhir_element(resource["resourceType"], resource)
            ids[f"{resource['resourceType']}/{resource['id']}"] = resource
    assert len(manifest["output"]) >= 4 and manifest["transactionTime"] == "2026-01-15T00:00:00Z"
    refs = {part.split('"')[0] for r in ids.values() for part in json.dumps(r).split('"reference": "')[1:]}
    local = {r for r in refs if not r.startswith(("Patient/", "Observation/"))}
    assert local and local <= set(ids)  # every reference between the exported resources resolves
    assert sum(1 for k in ids if k.startswith("RequestGroup/")) == len(cases)
    # results.jsonl carries each test's code with its verification status: the shipped tests' LOINC codes
    # are verified, so the exported orders and monitoring requests name them as recommend --format fhir does
    reports = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    wanted = {c["code"] for r in reports for item in r["orders"] + r["monitoring"] for c in item["codes"]}
    assert wanted and all(c["status"] for r in reports for o in r["orders"] for c in o["codes"])
    exported = {c["code"] for k, r in ids.items() if k.startswith("ServiceRequest/")
                for c in r.get("code", {}).get("coding", []) if c["system"] == "http://loinc.org"}
    assert exported == wanted


EXAMPLES = sorted(d for d in (Path(__file__).parents[1] / "examples" / "guidelines").iterdir() if (d / "cases").is_dir())
EXAMPLE_CASES = [(g, v) for g in EXAMPLES for v in load_vignettes(g / "cases") if not v.expected["expect"].get("error")]


@pytest.fixture(scope="module")
def example_kbs():
    from guidelinekg.engine.knowledge import KnowledgeBase

    return {g: KnowledgeBase.load([g]) for g in EXAMPLES}


@pytest.mark.parametrize(("guideline", "vignette"), EXAMPLE_CASES, ids=lambda x: getattr(x, "name", None))
def test_example_guidelines_give_valid_bundles(example_kbs, guideline, vignette):
    """Other domains: repeated warnings, averaged readings, components, many recommendations."""
    report, bundle = bundle_of(example_kbs[guideline], vignette)
    check_valid(bundle)
    (group,) = by_type(bundle)["RequestGroup"]
    assert len(leaves(group.get("action", []))) == (len(report["recommendations"]) + len(report["not_indicated"])
                                                    + len(report["orders"]) + sum(len(m["loinc"]) for m in report["monitoring"]))
    for request in bundle["entry"]:
        for ref in request["resource"].get("reasonReference", []):
            assert "[" not in ref["reference"]  # a component's Observation, never a path into it


def test_several_guidelines_ordering_the_same_test_give_distinct_resources(capsys):
    root = Path(__file__).parents[1]
    patient = root / "tests" / "cases" / "021-no-iron-studies" / "patient.json"
    assert main(["recommend", str(patient), "--as-of", "2026-02-01", "--format", "fhir",
                 "--content", str(root / "ontology" / "guidelines" / "rls-iron"),
                 "--content", str(root / "examples" / "guidelines" / "aasm-rls-2024")]) == 0
    bundle = json.loads(capsys.readouterr().out)
    check_valid(bundle)  # unique fullUrls (bdl-7)
    orders = [r for r in by_type(bundle)["ServiceRequest"] if is_order(r)]
    assert len(orders) >= 4  # each guideline orders the iron studies it reads


# --- codes only where the content marks them verified; what an unknown coverage lacks --------------------

ROOT = Path(__file__).parents[1]
RLS_CONTENT = ROOT / "ontology" / "guidelines" / "rls-iron"
FERRITIN, TSAT = "2276-4", "2502-3"


def with_status(source: Path, target: Path, node: str, old: str, new: str) -> Path:
    """A copy of a content folder with one node's gkg:verificationStatus changed (the first after its
    subject line, which is the node's own in the shipped Turtle)."""
    shutil.copytree(source, target)
    for path in sorted(target.rglob("*.ttl")):
        text = path.read_text(encoding="utf-8")
        head = f"{node} a "
        if head in text:
            before, after = text.split(head, 1)
            status = f"gkg:verificationStatus {old}"
            assert status in after.split("\n\n", 1)[0], (path, node)
            path.write_text(before + head + after.replace(status, f"gkg:verificationStatus {new}", 1), encoding="utf-8")
            return target
    raise AssertionError(f"{node} not found in {source}")


@pytest.fixture(scope="module")
def ferritin_unverified(tmp_path_factory):
    """The shipped guideline with serum ferritin's LOINC code marked unverified."""
    from guidelinekg.engine.knowledge import KnowledgeBase

    folder = with_status(RLS_CONTENT, tmp_path_factory.mktemp("content") / "rls-iron", f"loinc:{FERRITIN}",
                         "gkg:VerifiedPrimary", "gkg:Unverified")
    return KnowledgeBase.load([folder])


def codings(concept: dict) -> set[str]:
    return {c["code"] for c in concept.get("coding", [])}


def test_an_unverified_test_code_is_withheld_from_orders_and_data_requirements(kb, ferritin_unverified):
    vignette = next(v for v in VIGNETTES if v.name == "021-no-iron-studies")
    shipped_report, shipped = bundle_of(kb, vignette)
    report, bundle = bundle_of(ferritin_unverified, vignette)
    check_valid(bundle)
    assert {o["loinc"] for o in report["orders"]} == {FERRITIN, TSAT}  # the decisions do not change
    assert [o["codes"] for o in report["orders"]] == [  # under facts=True: the code's status for the FHIR
        [{"system": LOINC, "code": o["loinc"], "status": "UNVERIFIED" if o["loinc"] == FERRITIN else "PRIMARY",
          "label": o["label"]}] for o in report["orders"]]
    for got, before in ((bundle, False), (shipped, True)):
        orders = {r["code"]["text"]: r["code"] for r in by_type(got)["ServiceRequest"] if is_order(r)}
        assert codings(orders["serum ferritin"]) == ({FERRITIN} if before else set())  # the name is kept
        assert codings(orders["transferrin saturation"]) == {TSAT}
        (guidance,) = by_type(got)["GuidanceResponse"]
        wanted = [c for d in guidance["dataRequirement"] for f in d.get("codeFilter", []) for c in f["code"]]
        assert {"display": "serum ferritin", **({"system": LOINC, "code": FERRITIN} if before else {})} in wanted
        assert {"system": LOINC, "code": TSAT, "display": "transferrin saturation"} in wanted
        assert before or FERRITIN not in json.dumps(got)
    assert {c["status"] for o in shipped_report["orders"] for c in o["codes"]} == {"PRIMARY"}


def test_an_unverified_test_code_is_withheld_from_monitoring(kb, ferritin_unverified):
    vignette = next(v for v in VIGNETTES if v.name == "010-ferritin-80-tsat-30-iv-only")
    report, bundle = bundle_of(ferritin_unverified, vignette)
    check_valid(bundle)
    assert any(FERRITIN in m["loinc"] for m in report["monitoring"])
    planned = [r for r in by_type(bundle)["ServiceRequest"] if RLS + "mon-iron-studies" in r.get("instantiatesCanonical", [])]
    assert sorted((r["code"]["text"], sorted(codings(r["code"]))) for r in planned) == [
        ("serum ferritin", []), ("transferrin saturation", [TSAT])]
    assert FERRITIN not in json.dumps(bundle)
    _, shipped = bundle_of(kb, vignette)
    assert {c for r in by_type(shipped)["ServiceRequest"] for c in codings(r["code"])} >= {FERRITIN, TSAT}


@pytest.mark.parametrize("status", ["gkg:Unverified", "gkg:VerifiedPrimary"])
def test_a_test_order_shows_its_code_only_when_its_measure_is_verified(tmp_path, status):
    """A recommended gkg:TestOrder: its code is its measure's LOINC code, with the measure's status."""
    from guidelinekg.engine.knowledge import KnowledgeBase
    from test_reasoner import madeup_patient

    fixtures = Path(__file__).parent / "fixtures"
    shutil.copytree(fixtures / "madeup", tmp_path / "madeup")
    actions = with_status(fixtures / "actions", tmp_path / "actions", "ex:gizmo-level", "gkg:Unverified", status)
    kb = KnowledgeBase.load([tmp_path / "madeup" / "guideline.ttl", actions / "actions.ttl"])
    evaluation = evaluate(kb, [madeup_patient("30")], as_of=date(2026, 1, 5))
    report = build_report(evaluation, "urn:example:Patient/w1", kb.version(), facts=True)
    bundle = fhir_bundle([report])
    check_valid(bundle)
    (order,) = [r for r in by_type(bundle)["ServiceRequest"]
                if r.get("instantiatesCanonical") == ["urn:example:madeup:rec-order-gizmo"]]
    verified = status == "gkg:VerifiedPrimary"
    assert order["code"] == {**({"coding": [{"system": LOINC, "code": "99998-1"}]} if verified else {}),
                             "text": "order a gizmo level"}


def test_one_function_decides_which_codes_are_shown():
    from guidelinekg.report.fhirrequests import shown_codings

    def code(c, status):
        return {"system": LOINC, "code": c, "status": status}

    assert shown_codings([code("1-8", "PRIMARY"), code("2-6", "SECONDARY"), code("3-4", "UNVERIFIED"),
                          code("4-2", "SOURCE-ONLY"), code("5-9", "ASSUMPTION"), code("6-7", None)]) == [
        {"system": LOINC, "code": "1-8"}, {"system": LOINC, "code": "2-6"}]
    assert shown_codings([code("1-8", "PRIMARY"), code("1-8", "UNVERIFIED")]) == []  # any doubt withholds it


def test_a_missing_measure_not_ordered_names_its_code_only_when_verified():
    from guidelinekg.report.fhirout import _requirements

    def report(status):
        codes = [{"system": LOINC, "code": "1-8", "status": status, "label": "a test"}]
        return {"orders": [], "undetermined": [{"missing": [{"kind": "measure", "measure": "urn:x:m", "codes": codes}]}]}

    assert _requirements(report("PRIMARY")) == [{"type": "Observation", "codeFilter": [
        {"path": "code", "code": [{"system": LOINC, "code": "1-8", "display": "a test"}]}]}]
    assert _requirements(report("UNVERIFIED")) == [{"type": "Observation", "codeFilter": [
        {"path": "code", "code": [{"display": "a test"}]}]}]


def guidance_of(bundle: dict) -> dict:
    (guidance,) = by_type(bundle)["GuidanceResponse"]
    return guidance


def test_an_unknown_age_coverage_requires_the_birth_date(tmp_path, example_kbs):
    """A guideline covering adults (an age criterion) and a patient without a birth date: whether it applies
    is unknown, and the GuidanceResponse names the birth date as what it lacks."""
    guideline = ROOT / "examples" / "guidelines" / "acc-aha-bp-2017"
    (case,) = [v for v in load_vignettes(guideline / "cases") if v.name.startswith("001-")]
    bundle_json = json.loads(case.patient.read_text(encoding="utf-8"))
    (patient,) = [e["resource"] for e in bundle_json["entry"] if e["resource"]["resourceType"] == "Patient"]
    del patient["birthDate"]
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(bundle_json), encoding="utf-8")
    report, bundle = bundle_of(example_kbs[guideline], dataclasses.replace(case, patient=path))
    check_valid(bundle)
    assert report["applicability"] == "unknown" and not report["applicable"]
    assert report["applicability_missing"] == [{"kind": "age", "measure": None}]
    guidance = guidance_of(bundle)
    assert guidance["status"] == "data-required"
    assert guidance["dataRequirement"] == [{"type": "Patient", "mustSupport": ["birthDate"]}]


def test_an_unknown_diagnosis_coverage_requires_the_diagnosis(kb):
    """The shipped guideline covers a diagnosis: recorded only as unconfirmed, coverage is unknown and the
    diagnosis is required; not recorded at all, the guideline does not apply (nothing is required)."""
    unconfirmed = next(v for v in VIGNETTES if v.name == "091-rls-unconfirmed")
    report, bundle = bundle_of(kb, unconfirmed)
    check_valid(bundle)
    assert report["applicability"] == "unknown" and [(m["kind"], m["label"]) for m in report["applicability_missing"]] == [
        ("diagnosis", "restless legs syndrome")]
    assert guidance_of(bundle)["status"] == "data-required"
    # the diagnosis named by its label, with its verified codes (tests/test_report_gaps.py: unverified left out)
    assert guidance_of(bundle)["dataRequirement"] == [{"type": "Condition", "codeFilter": [{"path": "code", "code": [
        {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "G25.81", "display": "restless legs syndrome"},
        {"system": "http://snomed.info/sct", "code": "32914008", "display": "restless legs syndrome"}]}]}]
    absent = next(v for v in VIGNETTES if v.name == "049-no-rls-diagnosis")
    report, bundle = bundle_of(kb, absent)
    assert report["applicability"] == "false" and report["applicability_missing"] == []
    assert guidance_of(bundle)["status"] == "success" and "dataRequirement" not in guidance_of(bundle)


def test_an_undecided_medication_criterion_asks_for_a_medication_record() -> None:
    """Found by a trial author: a guideline for patients taking apixaban left 'taking apixaban' undecided (a
    product coded only by an unverified code) and asked for {"type": "Patient"}. It asks for a medication record,
    filtered on medication[x] by the substances' verified codes (an unverified one withheld; none displayed as the
    criterion's label, which names the class, not the code), else named by its label."""
    from guidelinekg.report.fhirout import _requirements

    rxnorm = "http://www.nlm.nih.gov/research/umls/rxnorm"
    report = {"orders": [], "applicability_missing": [], "undetermined": [{"missing": [
        {"kind": "medication", "criterion": "urn:x:c", "label": "taking apixaban", "measure": None,
         "codes": [{"system": rxnorm, "code": "1364430", "status": "SECONDARY"},
                   {"system": rxnorm, "code": "1364435", "status": "UNVERIFIED"}]}]}]}
    assert _requirements(report) == [{"type": "MedicationStatement", "codeFilter": [{"path": "medication", "code": [
        {"system": rxnorm, "code": "1364430"}]}]}]
    report["undetermined"][0]["missing"][0]["codes"] = []
    assert _requirements(report) == [{"type": "MedicationStatement", "codeFilter": [{"path": "medication", "code": [
        {"display": "taking apixaban"}]}]}]


@pytest.mark.parametrize(("unit", "element"), [("mg/d", "rateQuantity"), ("ug/kg/h", "rateQuantity"),
                                               ("mg", "doseQuantity"), ("mg/kg", "doseQuantity")])
def test_a_dose_per_time_is_a_rate_not_an_amount_given_at_once(unit, element):
    """"At most 1000 mg/d" exported as doseQuantity would read as 1000 mg at once (FHIR: the amount given each
    time); an amount per time is Dosage.doseAndRate.rateQuantity. The text names the dosing statement as the
    dose's source, not as a computation."""
    from guidelinekg.report.fhirrequests import request_for

    rec = {"iri": "urn:example:rec", "intervention": {"kind": "medication", "label": "examplomab", "codes": []},
           "dose": {"value": 1000, "unit": unit}, "because": [f"dose: 1000 {unit} (examplomab at most 1000 {unit})"],
           "administration": [], "route": "oral"}
    request = request_for(rec, {"reference": "Patient/p"}, "2026-01-15")
    [dosage] = request["dosageInstruction"]
    assert list(dosage["doseAndRate"][0]) == [element]
    assert dosage["doseAndRate"][0][element] == {"value": 1000, "unit": unit, "system": "http://unitsofmeasure.org",
                                                 "code": unit}
    assert "computed" not in dosage["text"] and f"dose: 1000 {unit} (examplomab at most" in dosage["text"]
    construct_fhir_element("MedicationRequest", request)  # valid FHIR R4


def test_a_decision_waiting_on_a_restrictions_diagnosis_requires_it(tmp_path):
    """Found by an author: a recommendation undecided only because a not-indicated statement's diagnosis is
    provisional gave GuidanceResponse ``success`` with no dataRequirement (its own criterion holds), so a CDS
    consumer saw nothing needed. What the prevailing statement lacks is required too."""
    fixture = Path(__file__).parent / "fixtures" / "madeup" / "restricted-by-diagnosis.ttl"
    kb = KnowledgeBase.load([fixture])
    doc = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "birthDate": "1980-01-01"}},
        {"resource": {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
                      "code": {"coding": [{"system": "urn:example:diagnoses", "code": "X1"}]},
                      "verificationStatus": {"coding": [{
                          "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                          "code": "provisional"}]}}}]}
    path = tmp_path / "p1.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    report = build_report(evaluate(kb, [patient], as_of=date(2026, 1, 15)), patient.patient_iri, kb.version(),
                          facts=True)
    assert [u["iri"] for u in report["undetermined"]] == ["urn:example:restricted:rec"]
    bundle = fhir_bundle([report])
    check_valid(bundle)
    [guidance] = by_type(bundle)["GuidanceResponse"]
    assert guidance["status"] == "data-required"
    assert {"type": "Condition", "codeFilter": [{"path": "code", "code": [
        {"system": "urn:example:diagnoses", "code": "X1", "display": "example state"}]}]} in guidance["dataRequirement"]
