"""Disagreements between guidelines (issue #17): `guidelinekg conflicts` over content (each recommendation
read where it takes effect in its own guideline, less its own not-indicated statements), the validate lint
for guidelines checked together, and the patient-level section of `recommend` with several guidelines and
its provenance. On two made-up guidelines (tests/fixtures/conflicts/alpha and beta, not clinical
knowledge): alpha gives examplium up to a widget level of 100 ng/mL and not above; beta gives it below
300 ug/L (another unit, another IRI for the substance, the same name) and never with a gadget level
above 45 %."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guidelinekg.cli import main

HERE = Path(__file__).parent / "fixtures" / "conflicts"
ALPHA, BETA = HERE / "alpha", HERE / "beta"


def run_json(capsys, *args) -> dict:
    assert main([*args, "--format", "json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_conflicts_finds_each_kind_with_its_region(capsys):
    found = run_json(capsys, "conflicts", "--content", str(ALPHA), "--content", str(BETA))
    assert found["guidelines"] == ["Alpha 2026", "Beta 2018"]
    got = {(d["kind"], d["first"]["statement"].rsplit(":", 1)[1], d["first"]["guideline"],
            d["second"]["statement"].rsplit(":", 1)[1], d["second"]["guideline"], tuple(d["regions"]))
           for d in found["disagreements"]}
    assert got == {
        # alpha recommends it up to 100 where beta's stop rule (gadget > 45 %) says no
        ("contradiction", "rec", "Alpha 2026", "ni", "Beta 2018", ("widget level <= 100 ng/mL and gadget level > 45 %",)),
        # beta recommends it up to 300 ug/L (= ng/mL, converted; and where its own stop rule does not hold)
        # where alpha says no above 100
        ("contradiction", "rec", "Beta 2018", "ni", "Alpha 2026",
         ("widget level > 100 and < 300 ng/mL and gadget level <= 45 %",)),
        ("different-threshold", "rec", "Alpha 2026", "rec", "Beta 2018",
         ("widget level <= 100 ng/mL and gadget level > 45 % (only Alpha 2026)",
          "widget level > 100 and < 300 ng/mL and gadget level <= 45 % (only Beta 2018)")),
    }
    [first] = [d for d in found["disagreements"] if d["second"]["stance"] == "not indicated"
               and d["second"]["guideline"] == "Beta 2018"]
    assert first["bounds"] == [{"widget level (ng/mL)": {"min": "0", "min_included": True, "max": "100",
                                                         "max_included": True},
                                "gadget level (%)": {"min": "45", "min_included": False, "max": None,
                                                     "max_included": False}}]
    assert first["first"]["grade"] == "strong, low" and first["second"]["citations"] == ["Beta 2018"]


def test_unrelated_actions_do_not_conflict(capsys):
    """Alpha's otherium (for everyone) meets nothing in beta: no finding names it."""
    found = run_json(capsys, "conflicts", "--content", str(ALPHA), "--content", str(BETA))
    assert not [d for d in found["disagreements"] if "otherium" in json.dumps(d)]


def test_conflicts_needs_two_guidelines(capsys):
    assert main(["conflicts", "--content", str(ALPHA)]) == 2
    assert "found 1: give at least two" in capsys.readouterr().err


def test_validate_reports_them_when_guidelines_are_checked_together(capsys):
    report = run_json(capsys, "validate", str(ALPHA), str(BETA), "--no-owl")
    codes = sorted(f["code"] for f in report["findings"] if f["code"].startswith("guideline-"))
    assert codes == ["guideline-contradiction", "guideline-contradiction", "guideline-threshold-differs"]
    [info] = [f for f in report["findings"] if f["code"] == "guideline-threshold-differs"]
    assert info["severity"] == "info" and info["file"].endswith("alpha/guideline.ttl") and info["line"]


def bundle(pid: str, widget: float, gadget: float) -> dict:
    def obs(code, value, unit):
        return {"resourceType": "Observation", "id": f"{pid}-{code}", "status": "final", "effectiveDateTime": "2026-01-10",
                "subject": {"reference": f"Patient/{pid}"}, "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}
    resources = [{"resourceType": "Patient", "id": pid, "birthDate": "1970-01-01"},
                 obs("99991-2", widget, "ng/mL"), obs("99992-0", gadget, "%")]
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


@pytest.mark.parametrize(("widget", "gadget", "expected"), [
    (150, 30, [("contradiction", "Beta 2018", "recommended", "Alpha 2026", "not indicated")]),
    (80, 50, [("contradiction", "Alpha 2026", "recommended", "Beta 2018", "not indicated")]),
    (80, 30, []),  # both recommend it
    (350, 30, []),  # neither does
])
def test_recommend_says_where_guidelines_disagree_for_the_patient(capsys, tmp_path, widget, gadget, expected):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(bundle("p", widget, gadget)), encoding="utf-8")
    args = ["recommend", str(path), "--content", str(ALPHA), "--content", str(BETA), "--as-of", "2026-02-01"]
    document = run_json(capsys, *args)
    got = [(d["kind"], d["first"]["guideline"], d["first"]["status"], d["second"]["guideline"], d["second"]["status"])
           for d in document["disagreements"]]
    assert got == expected
    for d in document["disagreements"]:
        assert d["first"]["grades"] and d["first"]["citations"] and d["first"]["result"].startswith("urn:guidelinekg:")
    assert main(args) == 0
    text = capsys.readouterr().out
    assert ("Guidelines disagree for this patient" in text) == bool(expected)


def test_the_provenance_records_the_disagreement_and_audits(capsys, tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(bundle("p", 150, 30)), encoding="utf-8")
    trig = tmp_path / "run.trig"
    assert main(["recommend", str(path), "--content", str(ALPHA), "--content", str(BETA), "--as-of", "2026-02-01",
                 "--provenance", str(trig)]) == 0
    capsys.readouterr()
    import pyoxigraph as ox

    store = ox.Store()
    store.load(trig.read_bytes(), format=ox.RdfFormat.TRIG)
    rows = list(store.query("""PREFIX gkg: <https://w3id.org/guidelinekg/ontology#>
        PREFIX prov: <http://www.w3.org/ns/prov#>
        SELECT ?kind (COUNT(DISTINCT ?from) AS ?n) WHERE { GRAPH ?g { ?d a gkg:Disagreement ;
          gkg:disagreementKind ?kind ; prov:wasDerivedFrom ?from } } GROUP BY ?kind""",
        use_default_graph_as_union=False))
    assert [(r["kind"].value, int(r["n"].value)) for r in rows] == [("contradiction", 4)]  # 2 results, 2 runs
    report = run_json(capsys, "audit", str(trig))
    same = [f for f in report["notes"] if f["code"] == "disagreements-same"]
    assert len(same) == 1 and "1 disagreement(s)" in same[0]["message"]  # recomputed from the replayed runs
    assert not [f for f in report["notes"] if f["severity"] == "failure"]
    # a disagreement's kind edited, or one removed: the recomputation differs
    text = trig.read_text(encoding="utf-8")
    graph = text[text.index("<urn:guidelinekg:disagreements:"):]
    graph = graph[:graph.index("}") + 1]
    for tampered, code in ((text.replace('"contradiction"', '"different-threshold"'), "disagreements-differ"),
                           (text.replace("gkg:Disagreement", "gkg:Dispute"), "disagreements-differ"),
                           (text.replace(graph, ""), "disagreements-missing")):
        trig.write_text(tampered, encoding="utf-8")
        assert tampered != text
        main(["audit", str(trig), "--format", "json"])
        report = json.loads(capsys.readouterr().out)
        assert code in [f["code"] for f in report["notes"] if f["severity"] == "failure"], report["notes"]


def test_the_document_follows_its_schema(capsys, tmp_path):
    import jsonschema
    from referencing import Registry, Resource

    docs = Path(__file__).parents[1] / "docs"
    one, several = (json.loads((docs / name).read_text(encoding="utf-8"))
                    for name in ("recommend.schema.json", "recommend-several.schema.json"))
    registry = Registry().with_resources([(one["$id"], Resource.from_contents(one))])
    path = tmp_path / "p.json"
    path.write_text(json.dumps(bundle("p", 150, 30)), encoding="utf-8")
    document = run_json(capsys, "recommend", str(path), "--content", str(ALPHA), "--content", str(BETA),
                        "--as-of", "2026-02-01")
    assert document["disagreements"]
    jsonschema.Draft202012Validator(several, registry=registry).validate(document)
    document["disagreements"][0]["kind"] = "mild"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(several, registry=registry).validate(document)


def test_the_command_as_a_process():
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "guidelinekg.cli", "conflicts", "--content", str(ALPHA),
                          "--content", str(BETA)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("3 disagreements among 2 guidelines: Alpha 2026; Beta 2018\n")
    assert "  where: widget level > 100 and < 300 ng/mL and gadget level <= 45 % (only Beta 2018)" in run.stdout


CLASSES = """@prefix gkg: <https://w3id.org/guidelinekg/ontology#> .
@prefix ex: <urn:example:alpha:> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
ex:ExampliumProducts a gkg:SubstanceClass ; rdfs:label "examplium products"@en .
ex:OralExampliumProducts a gkg:SubstanceClass ; rdfs:label "oral examplium products"@en ; skos:broader ex:ExampliumProducts .
ex:int-any a gkg:Intervention ; rdfs:label "any examplium"@en ; gkg:interventionClass ex:ExampliumProducts .
ex:int-oral-class a gkg:Intervention ; rdfs:label "oral examplium"@en ; gkg:interventionClass ex:OralExampliumProducts .
ex:rec-oral-class a gkg:Recommendation ; rdfs:label "oral examplium for everyone"@en ; gkg:inVersion ex:v1 ;
    gkg:section ex:sec ; gkg:order 4 ; gkg:sourceText "Made up." ; gkg:direction gkg:For ;
    gkg:strength gkg:Conditional ; gkg:certainty gkg:LowCertainty ; gkg:intervention ex:int-oral-class ;
    gkg:applicability ex:always ; gkg:population "adults" ; gkg:citation ex:cit .
ex:ni-any a gkg:NotIndicatedStatement ; rdfs:label "no examplium of any kind above widget 100"@en ; gkg:inVersion ex:v1 ;
    gkg:section ex:sec ; gkg:order 5 ; gkg:sourceText "Made up." ; gkg:notIndicatedIntervention ex:int-any ;
    gkg:applicability ex:widget-gt-100 ; gkg:population "adults" ; gkg:citation ex:cit .
"""


def test_a_class_restricts_the_classes_under_it(capsys, tmp_path):
    """Rule 05: a not-indicated statement about a class restricts a recommendation of a narrower class
    (skos:broader), as it restricts the substances of the class."""
    import shutil

    folder = tmp_path / "alpha"
    shutil.copytree(ALPHA, folder)
    (folder / "classes.ttl").write_text(CLASSES, encoding="utf-8")
    path = tmp_path / "p.json"
    path.write_text(json.dumps(bundle("p", 150, 30)), encoding="utf-8")
    report = run_json(capsys, "recommend", str(path), "--content", str(folder), "--as-of", "2026-02-01")
    assert [n["iri"] for n in report["not_recommended"]] == ["urn:example:alpha:rec-oral-class"]
    assert "urn:example:alpha:ni-any" in [n["iri"] for n in report["not_indicated"]]


def test_the_most_direct_no_is_given_for_the_patient():
    """A guideline that sets the action aside for the patient (a contradiction) and also has a statement for
    it whose criteria fail says no, not 'a different threshold'."""
    from guidelinekg.checks.conflicts import FOR, Stance
    from guidelinekg.report.disagree import patient_disagreements

    def stance(version, statement):
        return Stance(version, version, statement, statement, FOR, "examplium", frozenset({"name:examplium"}), ())

    def report(version, recommendations=(), aside=()):
        return {"guideline": {"label": version, "version_iri": version}, "applicable": True, "undetermined": [],
                "not_indicated": [], "recommendations": list(recommendations), "not_recommended": list(aside)}

    made = {"iri": "a1", "label": "a1", "direction": "for", "citations": [], "result": "r-a1", "grades": [],
            "intervention": {"label": "examplium"}}
    set_aside = {"iri": "b1", "reason": "a special population prevails", "result": "r-b1"}
    reports = [report("A", [made]), report("B", aside=[set_aside])]
    found = patient_disagreements(reports, {"A": [stance("A", "a1")], "B": [stance("B", "b1"), stance("B", "b2")]})
    assert [(d["kind"], d["second"]["statement"]) for d in found] == [("contradiction", "b1")]


def test_cohort_says_where_guidelines_disagree_for_each_patient(capsys, tmp_path):
    """cohort with several guidelines: --out/disagreements.jsonl holds, per patient, what recommend says."""
    source = tmp_path / "in"
    source.mkdir()
    values = {"p0": (150, 30), "p1": (80, 50), "p2": (80, 30), "p3": (350, 30)}
    for pid, (widget, gadget) in values.items():
        (source / f"{pid}.json").write_text(json.dumps(bundle(pid, widget, gadget)), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["cohort", str(source), "--out", str(out), "--as-of", "2026-02-01", "--no-progress",
                 "--content", str(ALPHA), "--content", str(BETA)]) == 0
    summary = json.loads(capsys.readouterr().out)
    lines = [json.loads(line) for line in (out / "disagreements.jsonl").read_text(encoding="utf-8").splitlines()]
    assert summary["disagreements"] == {"patients": 2, "by_kind": {"contradiction": 2}}
    for line in lines:
        pid = line["patient"].rsplit("/", 1)[1]
        (source / "one.json").write_text(json.dumps(bundle(pid, *values[pid])), encoding="utf-8")
        alone = run_json(capsys, "recommend", str(source / "one.json"), "--content", str(ALPHA), "--content",
                         str(BETA), "--as-of", "2026-02-01")
        strip = lambda ds: [{**d, "first": {k: v for k, v in d["first"].items() if k != "result"},  # noqa: E731
                             "second": {k: v for k, v in d["second"].items() if k != "result"}} for d in ds]
        assert strip(line["disagreements"]) == strip(alone["disagreements"])
    assert sorted(line["patient"].rsplit("/", 1)[1] for line in lines) == ["p0", "p1"]
