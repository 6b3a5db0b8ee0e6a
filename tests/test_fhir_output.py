"""`recommend --format fhir`: every vignette gives a valid FHIR R4 Bundle (checked with the fhir.resources R4
models) that says what the report says: one action per statement made, requests only for what is
recommended, doNotPerform for what is recommended against, an order per missing test, a DetectedIssue per
warning, data-required when a decision waits on data, and a Provenance of it all naming the run."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from fhir.resources import construct_fhir_element

from guidelinekg.cli import main
from guidelinekg.engine.patientcheck import validate_patients
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.engine.shapes_sparql import load_patient_shapes
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.report.fhirout import LOINC, fhir_bundle
from guidelinekg.report.patient import build_report
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
    ordered = {s["code"]["coding"][0]["code"] for s in resources.get("ServiceRequest", [])
               if "instantiatesCanonical" not in s and "coding" in s["code"] and not s.get("doNotPerform")}
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
    orders = [r for r in by_type(bundle)["ServiceRequest"] if "instantiatesCanonical" not in r and not r.get("doNotPerform")]
    assert len(orders) >= 4  # each guideline orders the iron studies it reads
