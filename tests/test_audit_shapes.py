"""shapes/provenance.ttl compiled to SPARQL under RDFS entailments reports exactly what pySHACL reports.

``guidelinekg audit`` checks completeness with the compiled shapes (:mod:`guidelinekg.audit.completeness`);
pySHACL, with its own RDFS inference over the vocabulary (``ontology/*.ttl``), is the reference. Both run on
the provenance of a cohort of vignettes (orders, warnings, doses, suppressed and undetermined results), as
recorded and broken in each way a shape can see: each result is compared as (focus node, path, constraint
component, message).
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pyoxigraph as ox
import pyshacl
import pytest
import rdflib
from rdflib import SH

from guidelinekg.audit.completeness import check_shapes, provenance_shapes
from guidelinekg.checks.shacl import _from_rdflib
from guidelinekg.cli import main
from guidelinekg.content.resources import ontology_dir, project_home, shapes_dir
from guidelinekg.engine.shapes_sparql import compile_shapes

CASES = project_home() / "tests" / "cases"
GKG = "https://w3id.org/guidelinekg/ontology#"
PROV = "http://www.w3.org/ns/prov#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
XSD = "http://www.w3.org/2001/XMLSchema#"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[list[ox.Triple]]:
    """The runs of a cohort over five vignettes (a run each: their bundles reuse node ids)."""
    tmp = tmp_path_factory.mktemp("shapes")
    bundles = tmp / "bundles"
    bundles.mkdir()
    for case in ("001", "007", "011", "021", "029"):
        (source,) = CASES.glob(f"{case}-*/patient.json")
        shutil.copy(source, bundles / f"{case}.json")
    out = tmp / "out"
    assert main(["cohort", str(bundles), "--out", str(out), "--as-of", "2026-01-15", "--no-progress",
                 "--chunk-size", "5"]) == 0
    quads = list(ox.parse(gzip.decompress((out / "provenance.trig.gz").read_bytes()), format=ox.RdfFormat.TRIG))
    graphs: dict = {}
    for q in quads:
        graphs.setdefault(q.graph_name, []).append(q.triple)
    assert len(graphs) == 5
    return list(graphs.values())


@pytest.fixture(scope="module")
def recorded(runs) -> list[ox.Triple]:
    """The five runs' triples together: a graph with every kind of result, and (where the vignettes share
    an observation's IRI) an issue named for two patients, which the shapes see."""
    return list(dict.fromkeys(t for run in runs for t in run))


@pytest.fixture(scope="module")
def reference():
    vocabulary = rdflib.Graph()
    for f in sorted(ontology_dir().glob("*.ttl")):
        vocabulary.parse(f)
    return rdflib.Graph().parse(shapes_dir() / "provenance.ttl"), vocabulary


def _key(focus, path, component, message) -> tuple:
    # blank node labels are the parser's: the variants have at most one blank focus node
    return ("_:" if focus.startswith("_:") else focus), path, component, message


def by_pyshacl(reference, triples: list[ox.Triple]) -> set[tuple]:
    shapes, vocabulary = reference
    data = rdflib.Graph().parse(data=ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES).decode(), format="nt")
    _, report, _ = pyshacl.validate(data, shacl_graph=shapes, ont_graph=vocabulary, inference="rdfs")
    out = set()
    for r in report.objects(None, SH.result):
        path = report.value(r, SH.resultPath)
        out.add(_key(str(_from_rdflib(report.value(r, SH.focusNode))), str(path) if path is not None else None,
                     str(report.value(r, SH.sourceConstraintComponent)), str(report.value(r, SH.resultMessage))))
    return out


def by_compiled(triples: list[ox.Triple]) -> set[tuple]:
    store = ox.Store()
    store.extend(ox.Quad(t.subject, t.predicate, t.object) for t in triples)
    return {_key(v.focus, v.path, v.component, v.message) for v in provenance_shapes().validate(store)}


def _iri(value: str) -> ox.NamedNode:
    return ox.NamedNode(value)


def _first(triples, predicate: str, obj: str | None = None):
    return next(t for t in triples if t.predicate.value == predicate and (obj is None or t.object.value == obj))


def _drop(predicate: str, obj: str | None = None, first: bool = False):
    def change(triples):
        if first:
            target = _first(triples, predicate, obj)
            return [t for t in triples if t != target]
        return [t for t in triples if not (t.predicate.value == predicate and (obj is None or t.object.value == obj))]
    return change


def _replace_object(predicate: str, value, obj: str | None = None):
    def change(triples):
        target = _first(triples, predicate, obj)
        return [ox.Triple(t.subject, t.predicate, value) if t == target else t for t in triples]
    return change


def _add_to_first(predicate: str, new_predicate: str, value, obj: str | None = None):
    def change(triples):
        target = _first(triples, predicate, obj)
        return triples + [ox.Triple(target.subject, _iri(new_predicate), value)]
    return change


def _on_a(cls: str, change_predicate: str, value=None, add: bool = False):
    """Replace (or, with no value, drop; with ``add``, add one more) ``change_predicate`` of the first node of
    class ``cls``."""
    def change(triples):
        node = _first(triples, RDF_TYPE, cls).subject
        if add:
            return triples + [ox.Triple(node, _iri(change_predicate), value)]
        if value is None:
            return [t for t in triples if not (t.subject == node and t.predicate.value == change_predicate)]
        return [ox.Triple(t.subject, t.predicate, value) if t.subject == node and t.predicate.value == change_predicate
                else t for t in triples]
    return change


def _untype(cls: str):
    def change(triples):
        target = _first(triples, RDF_TYPE, cls)
        return [t for t in triples if t != target]
    return change


def _no_derivation_of_a_result(triples):
    result = _first(triples, RDF_TYPE, GKG + "RecommendationResult").subject
    return [t for t in triples if not (t.subject == result and t.predicate.value == PROV + "wasDerivedFrom")]


def _derived_from_the_patient_only(triples):
    """A result whose only derivation is the patient record (conforms by the sh:or's second member)."""
    result = _first(triples, RDF_TYPE, GKG + "RecommendationResult").subject
    patient = next(t.object for t in triples if t.subject == result and t.predicate.value == GKG + "forPatient")
    kept = [t for t in triples if not (t.subject == result and t.predicate.value == PROV + "wasDerivedFrom")]
    return kept + [ox.Triple(result, _iri(PROV + "wasDerivedFrom"), patient)]


def _facts_untyped(triples):
    """No patient fact keeps its rdf:type: each is still one by the domain of its properties."""
    facts = {GKG + c for c in ("Observation", "Condition", "MedicationExposure", "ProcedureRecord", "PatientFact")}
    return [t for t in triples if not (t.predicate.value == RDF_TYPE and t.object.value in facts)]


def _blank_result_derived_from_nothing(triples):
    """A result that is a blank node and has no derivation: the focus the compiled query cannot bind."""
    result = _first(triples, RDF_TYPE, GKG + "RecommendationResult").subject
    blank = ox.BlankNode("result")

    def rename(term):
        return blank if term == result else term
    return [ox.Triple(rename(t.subject), t.predicate, rename(t.object)) for t in triples
            if not (t.subject == result and t.predicate.value == PROV + "wasDerivedFrom")]


def _sha_of_one_file_only(triples):
    with_sha = [t for t in triples if t.predicate.value == GKG + "sha256"]
    return [t for t in triples if t not in with_sha[1:]]


VARIANTS = {
    "as recorded": lambda ts: ts,
    "no guideline version used": _drop(PROV + "used", "https://w3id.org/guidelinekg/guideline/rls-iron/v2025-12-23"),
    "no rule file on results": _drop(GKG + "ruleFile"),
    "no as-of date": _drop(GKG + "asOfDate"),
    "as-of date a string": _replace_object(GKG + "asOfDate", ox.Literal("2026-01-15")),
    "two as-of dates": _add_to_first(GKG + "asOfDate", GKG + "asOfDate",
                                     ox.Literal("2026-01-16", datatype=_iri(XSD + "date"))),
    "no software": _drop(PROV + "wasAssociatedWith"),
    "software without version": _drop(GKG + "softwareVersion"),
    "no status": _drop(GKG + "status", first=True),
    "status outside the list": _replace_object(GKG + "status", _iri(GKG + "Maybe")),
    # on a recommendation result (the first gkg:forPatient line may be the shared issue that already has two)
    "second patient on a result": _on_a(GKG + "RecommendationResult", GKG + "forPatient",
                                        _iri("urn:guidelinekg:Patient/other"), add=True),
    "patient a literal": _on_a(GKG + "RecommendationResult", GKG + "forPatient",
                               ox.Literal("urn:guidelinekg:Patient/x")),
    "suppressed without suppressedBy": _drop(GKG + "suppressedBy"),
    "undetermined without its reason": _drop(GKG + "undeterminedBecause"),
    "a result derived from nothing": _no_derivation_of_a_result,
    "a result derived from the patient only": _derived_from_the_patient_only,
    "patient facts untyped (still facts by domain)": _facts_untyped,
    "a blank-node result derived from nothing": _blank_result_derived_from_nothing,
    "warning code an integer": _replace_object(GKG + "warningCode", ox.Literal("7", datatype=_iri(XSD + "integer"))),
    "generated by something else": _on_a(GKG + "RecommendationResult", PROV + "wasGeneratedBy",
                                         _iri("urn:guidelinekg:not-a-run")),
    "an order without measure": _on_a(GKG + "Order", GKG + "measure"),
    "an order for nothing": _on_a(GKG + "Order", GKG + "orderedFor"),
    "a monitoring item without its rule": _on_a(GKG + "MonitoringItem", GKG + "ruleFile"),
    "a warning without message": _on_a(GKG + "Warning", GKG + "message"),
    "a dose untyped (still one by range)": _untype(GKG + "ComputedDose"),
    "an untyped dose without its rule (a focus by range)": lambda ts: _untype(GKG + "ComputedDose")(
        _on_a(GKG + "ComputedDose", GKG + "ruleFile")(ts)),
    "one file with a sha256": _sha_of_one_file_only,
    "an entity without a used triple": _drop(PROV + "used"),
}


CONFORMING = {"as recorded", "a dose untyped (still one by range)", "a result derived from the patient only",
              "patient facts untyped (still facts by domain)"}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_compiled_provenance_shapes_report_what_pyshacl_reports(recorded, reference, name):
    triples = VARIANTS[name](list(recorded))
    if name != "as recorded":
        assert triples != recorded, "the variant changed nothing"
    ours, theirs = by_compiled(triples), by_pyshacl(reference, triples)
    assert ours == theirs
    if name not in CONFORMING:
        assert ours - by_compiled(recorded), "the variant breaks no shape"


def test_each_recorded_run_is_complete(runs, reference):
    for triples in runs:
        assert by_compiled(triples) == set() == by_pyshacl(reference, triples)


def test_findings_name_focus_and_path_once_per_message(recorded):
    store = ox.Store()
    store.extend(ox.Quad(t.subject, t.predicate, t.object) for t in _drop(GKG + "ruleFile")(list(recorded)))
    findings: list = []
    assert check_shapes(store, provenance_shapes(), findings) == "incomplete"
    assert findings and {f.code for f in findings} == {"incomplete-provenance"}
    assert any("(path ruleFile)" in f.message for f in findings)
    assert not any(f.subject.startswith("<") for f in findings)
    assert len({(f.subject, f.message) for f in findings}) == len(findings)


def test_node_level_or_not_and_qualified_shapes_compile_and_others_fail_loudly():
    from guidelinekg.errors import ConfigurationError

    base = """@prefix sh: <http://www.w3.org/ns/shacl#> . @prefix ex: <https://example.org/> .
        ex:S a sh:NodeShape ; sh:targetClass ex:C ; {} ."""
    ok = compile_shapes(base.format("sh:or ( [ sh:not [ sh:path ex:p ; sh:hasValue ex:v ] ] [ sh:path ex:q ; sh:minCount 1 ] )"))
    assert [q.component.rsplit("#", 1)[1] for q in ok.queries] == ["OrConstraintComponent"]
    ok = compile_shapes(base.format("sh:property [ sh:path ex:p ; sh:qualifiedValueShape [ sh:class ex:D ] ; "
                                    "sh:qualifiedMinCount 2 ]"))
    assert [q.component.rsplit("#", 1)[1] for q in ok.queries] == ["QualifiedMinCountConstraintComponent"]
    for snippet, names in [
        ("sh:or ( [ sh:path ex:p ; sh:maxCount 1 ] )", "sh:maxCount"),
        ("sh:property [ sh:path ex:p ; sh:qualifiedValueShape [ sh:class ex:D ] ]", "qualifiedMinCount"),
        ("sh:xone ( [ sh:class ex:D ] )", "sh:xone"),
    ]:
        with pytest.raises(ConfigurationError) as info:
            compile_shapes(base.format(snippet))
        assert names in str(info.value)


def test_patient_shapes_compile_as_before():
    """The extension leaves the patient shapes' queries unchanged (their digest is in cohort manifests)."""
    from guidelinekg.engine.shapes_sparql import load_patient_shapes

    queries = load_patient_shapes().queries
    # no rewriting for the plain regime (a node-level sh:or names its members' values ?_v1, ...: not a rewrite)
    node_level = ("OrConstraintComponent", "NotConstraintComponent")
    assert all("?_" not in q.sparql for q in queries if not q.component.endswith(node_level))
    assert all("?_" not in q.sparql.replace("?_v", "") for q in queries)
    assert all("rdf-syntax-ns#type>/<http://www.w3.org/2000/01/rdf-schema#subClassOf>*" in q.sparql for q in queries)


def test_the_audit_does_not_parse_shapes_with_rdflib():
    """pySHACL and rdflib's SPARQL parser are not on the audit's path any more (they cost seconds)."""
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path; from guidelinekg.audit.auditor import Auditor; "
            "Auditor()._cached('shapes', __import__('guidelinekg.audit.completeness', fromlist=['x']).provenance_shapes); "
            "from guidelinekg.audit.recorded import derived_terms; from guidelinekg.engine.rules import load_rules; "
            "derived_terms(load_rules()); print('pyshacl' in sys.modules, 'rdflib.plugins.sparql.parser' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_provenance_file_used_exists():
    assert (Path(shapes_dir()) / "provenance.ttl").is_file()
