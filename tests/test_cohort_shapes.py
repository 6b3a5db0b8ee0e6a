"""The patient shapes compiled to SPARQL (guidelinekg.engine.shapes_sparql) report exactly what pySHACL reports.

Both validate the same data graph: the patient data plus the vocabulary (ontology/*.ttl), with no inference,
so ``sh:targetClass`` and ``sh:class`` follow ``rdfs:subClassOf`` in the data, as ``validate`` runs SHACL.
A result is compared as (focus node, path, source shape, constraint component, value), values in the
canonical form Oxigraph stores them in. Cases:

- every vignette's patient data (all conform);
- tests/fixtures/cohort/broken-patients.ttl: several violations of each constraint kind, and near misses;
- tests/fixtures/cohort/lexical-edges.ttl: the few literals on which Python's parsers (pySHACL) and XSD 1.1
  (the compiled queries) disagree, pinned exactly;
- SHACL outside the compiled subset fails with ConfigurationError;
- a 2,000-patient chunk, timed on both (printed; run with -s to see the numbers).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date
from pathlib import Path

import pyoxigraph as ox
import pyshacl
import pytest
import rdflib
import rdflib.collection
from rdflib import SH

from guidelinekg.cohort.run import CohortOptions, run_cohort
from guidelinekg.cohort.chunk import load_chunk
from guidelinekg.engine.patientcheck import INVALID
from guidelinekg.errors import ConfigurationError
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.content.resources import shapes_dir, vocabulary_files
from guidelinekg.engine.shapes_sparql import compile_shapes, load_patient_shapes
from guidelinekg.engine.store import open_store
from guidelinekg.checks.shacl import _from_rdflib
from vignettes import load_vignettes

FIXTURES = Path(__file__).parent / "fixtures" / "cohort"
SHAPES_FILE = shapes_dir() / "patient.ttl"
GKGSH = "https://w3id.org/guidelinekg/shapes/patient#"
SHACL = "http://www.w3.org/ns/shacl#"
VIGNETTES = [v for v in load_vignettes() if not v.expected["expect"].get("error")]


@pytest.fixture(scope="module")
def compiled():
    return load_patient_shapes()


@pytest.fixture(scope="module")
def shapes_graph() -> rdflib.Graph:
    return rdflib.Graph().parse(SHAPES_FILE)


@pytest.fixture(scope="module")
def vocabulary() -> rdflib.Graph:
    graph = rdflib.Graph()
    for path in vocabulary_files():
        graph.parse(path)
    return graph


def canonical(term: str | None) -> str | None:
    """An N-Triples term as Oxigraph stores it ("45.0"^^xsd:double becomes "45"^^xsd:double)."""
    if term is None:
        return None
    store = ox.Store()
    store.load(f"<urn:s> <urn:p> {term} .".encode(), format=ox.RdfFormat.N_TRIPLES)
    return str(next(iter(store)).object)


def ntriples_of(path: Path) -> str:
    store = ox.Store()
    store.load(path=str(path), format=ox.RdfFormat.TURTLE)
    return store.dump(format=ox.RdfFormat.N_TRIPLES, from_graph=ox.DefaultGraph()).decode()


def by_pyshacl(shapes_graph, vocabulary, data: str) -> set[tuple]:
    graph = rdflib.Graph()
    graph += vocabulary
    graph.parse(data=data, format="nt")
    _, report, _ = pyshacl.validate(graph, shacl_graph=shapes_graph, inference="none", advanced=True,
                                    inplace=True, do_owl_imports=False)

    def term(node):
        return None if node is None else str(_from_rdflib(node))

    return {(term(report.value(r, SH.focusNode)), term(report.value(r, SH.resultPath)) and str(report.value(r, SH.resultPath)),
             term(report.value(r, SH.sourceShape)), str(report.value(r, SH.sourceConstraintComponent)),
             canonical(term(report.value(r, SH.value))))
            for r in report.objects(None, SH.result)}


def by_compiled(compiled, data: str, engine: str | None = None) -> set[tuple]:
    vocabulary = "".join(ntriples_of(p) for p in vocabulary_files())
    if engine is None:
        store = ox.Store()
        store.load((vocabulary + data).encode(), format=ox.RdfFormat.N_TRIPLES)
    else:
        store = open_store(engine)
        store.load_ntriples(vocabulary + data)
    return {(v.focus, v.path, v.shape, v.component, canonical(v.value)) for v in compiled.validate(store)}


def patient_text(kb, vignette) -> str:
    return load_patient_input(vignette.patient, matcher=kb.matcher, measures=kb.measures, reads=kb.reads).text()


# --- the compiled subset ------------------------------------------------------------------------------------


def test_every_constraint_of_the_patient_shapes_is_compiled(compiled, shapes_graph):
    parameters = {"minCount", "maxCount", "datatype", "class", "nodeKind", "in", "or"}
    expected = set()
    # a node shape's own sh:or is one constraint of the node shape; its members are compiled into it
    or_members = {m for lst in shapes_graph.objects(None, SH["or"]) for m in rdflib.collection.Collection(shapes_graph, lst)}
    for shape in set(shapes_graph.subjects(SH.path, None)) - or_members:
        for p in parameters:
            if (shape, SH[p], None) in shapes_graph:
                expected.add((f"<{shape}>", f"{SHACL}{p[0].upper()}{p[1:]}ConstraintComponent"))
    for shape in shapes_graph.subjects(SH.targetClass, None):
        if (shape, SH["or"], None) in shapes_graph:
            expected.add((f"<{shape}>", f"{SHACL}OrConstraintComponent"))
    assert {(q.shape, q.component) for q in compiled.queries} == expected
    for q in compiled.queries:
        assert "SELECT DISTINCT ?focus ?path ?message ?severity ?value" in q.sparql


@pytest.mark.parametrize("snippet, names", [
    ("sh:property [ sh:path ex:p ; sh:pattern \"^a\" ]", "sh:pattern"),
    ("sh:property [ sh:path ex:p ; sh:minLength 2 ]", "sh:minLength"),
    ("sh:property [ sh:path ( ex:p ex:q ) ; sh:minCount 1 ]", "sh:path that is not an IRI"),
    ("sh:property [ sh:path ex:p ; sh:or ( [ sh:class ex:C ] ) ]", "sh:class"),
    ("sh:property [ sh:path ex:p ; sh:datatype xsd:gYear ]", "xsd:gYear"),
    ("sh:property [ sh:path ex:p ; sh:deactivated true ; sh:minCount 1 ]", "sh:deactivated"),
    ("sh:closed true", "sh:closed"),
    ("sh:targetNode ex:n", "sh:targetNode"),
])
def test_shacl_outside_the_subset_fails_loudly(snippet, names):
    turtle = f"""@prefix sh: <http://www.w3.org/ns/shacl#> . @prefix ex: <https://example.org/> .
        @prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
        ex:S a sh:NodeShape ; sh:targetClass ex:C ; {snippet} ."""
    with pytest.raises(ConfigurationError) as info:
        compile_shapes(turtle)
    assert names in str(info.value)
    if "not supported" in str(info.value):
        assert "For reference, see https://www.w3.org/TR/shacl/#" in str(info.value)


# --- the same results as pySHACL ----------------------------------------------------------------------------


@pytest.mark.parametrize("vignette", VIGNETTES, ids=lambda v: v.name)
def test_same_results_as_pyshacl_on_each_vignette(kb, compiled, shapes_graph, vocabulary, vignette):
    """Equal results; and none, except for a vignette about data the shapes refuse (it expects the warning)."""
    data = patient_text(kb, vignette)
    found = by_compiled(compiled, data)
    assert found == by_pyshacl(shapes_graph, vocabulary, data)
    assert bool(found) == ("patient-data-invalid" in vignette.expected["expect"].get("warnings", []))


def test_same_results_as_pyshacl_on_broken_patient_data(compiled, shapes_graph, vocabulary):
    data = ntriples_of(FIXTURES / "broken-patients.ttl")
    expected = by_pyshacl(shapes_graph, vocabulary, data)
    assert by_compiled(compiled, data) == expected
    kinds: dict[str, int] = {}
    for _, _, _, component, _ in expected:
        kinds[component] = kinds.get(component, 0) + 1
    assert set(kinds) == {q.component for q in compiled.queries}, "every constraint kind is broken"
    assert min(kinds.values()) >= 2, kinds
    assert {shape for _, _, shape, _, _ in expected} == {q.shape for q in compiled.queries}


@pytest.mark.filterwarnings("ignore:Serializing weird numerical")  # rdflib, on the ill-typed "12,5"
@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_the_queries_run_on_either_rule_store_engine(compiled, engine):
    data = ntriples_of(FIXTURES / "broken-patients.ttl")
    assert by_compiled(compiled, data, engine) == by_compiled(compiled, data)


def test_lexical_differences_from_pyshacl_are_exactly_these(compiled, shapes_graph, vocabulary):
    data = ntriples_of(FIXTURES / "lexical-edges.ttl")
    ours, theirs = by_compiled(compiled, data), by_pyshacl(shapes_graph, vocabulary, data)
    datatype = f"{SHACL}DatatypeConstraintComponent"
    xsd = "http://www.w3.org/2001/XMLSchema#"

    def result(node, path, shape, value):
        return (f"<https://example.org/lexical/{node}>", f"https://w3id.org/guidelinekg/ontology#{path}",
                f"<{GKGSH}{shape}>", datatype, value)

    assert ours - theirs == {  # not valid XSD, yet Python's parsers read them
        result("date-with-time", "birthDate", "PatientBirthDate", f'"1980-05-20T00:00:00"^^<{xsd}date>'),
        result("o-date-only", "effectiveTime", "ObservationTime", f'"2026-01-20"^^<{xsd}dateTime>'),
        result("o-no-seconds", "effectiveTime", "ObservationTime", f'"2026-01-20T08:15"^^<{xsd}dateTime>'),
        result("o-exponent", "normalizedValue", "ObservationNormalizedValue", f'"1e3"^^<{xsd}decimal>'),
    }
    assert theirs - ours == {  # valid XSD 1.1, beyond what Python's date type holds
        result("year-10000", "birthDate", "PatientBirthDate", f'"10000-01-01"^^<{xsd}date>'),
    }


# --- in a cohort: violations become warnings of the patient they are about ---------------------------------


def test_a_cohort_reports_each_violation_to_its_own_patient(compiled, tmp_path):
    source = tmp_path / "rdf"
    source.mkdir()
    (source / "broken.ttl").write_text((FIXTURES / "broken-patients.ttl").read_text(encoding="utf-8"))
    out = tmp_path / "out"
    run_cohort(CohortOptions(source=source, out=out, as_of=date(2026, 1, 15), chunk_size=3, progress=False))
    reports = {json.loads(line)["patient"]: json.loads(line)
               for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()}
    data = ntriples_of(FIXTURES / "broken-patients.ttl")
    owner = {}
    for line in data.splitlines():
        s, p, o = line.split(" ", 2)
        if p == "<https://w3id.org/guidelinekg/ontology#subject>":
            owner.setdefault(s, set()).add(o.rsplit(" .", 1)[0][1:-1])
    expected: dict[str, set] = {p: set() for p in reports}
    for v in by_compiled(compiled, data):
        for patient in owner.get(v[0], {v[0][1:-1]}):
            if patient in expected:
                expected[patient].add(v[0][1:-1])
    def foci(report):
        return {w["message"].split("(focus ", 1)[1].split(",", 1)[0] for w in report["warnings"]
                if w["code"] == INVALID}

    got = {p: foci(r) for p, r in reports.items()}
    assert got == expected
    ex = "https://example.org/broken/"
    assert got[ex + "p1"] >= {ex + "o3", ex + "m6"}  # o3 has two subjects: it is reported to both
    assert f"warning,{INVALID}," in (out / "summary.csv").read_text(encoding="utf-8")


# --- timing -------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_timing_on_a_2000_patient_chunk(kb, compiled, shapes_graph, vocabulary, tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import gen_cohort

    gen_cohort.generate(tmp_path, 2000, 5, bad_rate=0)
    text = "".join((tmp_path / f"{k}.ndjson").read_text(encoding="utf-8") for k in gen_cohort.FILES)
    patients, _ = load_chunk("ndjson", text, kb, "chunk")
    assert len(patients) == 2000
    data = "".join(p.text() for p in patients) + ntriples_of(FIXTURES / "broken-patients.ttl")

    store = kb.new_store()  # the chunk's store: knowledge and patient data, before the rules
    store.load_ntriples(data)
    started = time.perf_counter()
    ours = compiled.validate(store)
    sparql_ms = (time.perf_counter() - started) * 1000

    graph = rdflib.Graph()
    graph += vocabulary
    graph.parse(data=data, format="nt")
    started = time.perf_counter()
    _, report, _ = pyshacl.validate(graph, shacl_graph=shapes_graph, inference="none", advanced=True,
                                    inplace=True, do_owl_imports=False)
    pyshacl_ms = (time.perf_counter() - started) * 1000

    print(f"\n2,000-patient chunk: pySHACL {pyshacl_ms / 2000:.3f} ms/patient, "
          f"compiled SPARQL {sparql_ms / 2000:.3f} ms/patient ({pyshacl_ms / sparql_ms:.0f}x)")
    assert len(ours) == len(set(report.objects(None, SH.result))) > 0
    assert sparql_ms * 5 < pyshacl_ms


TOY_SHAPES = """@prefix sh: <http://www.w3.org/ns/shacl#> . @prefix ex: <https://example.org/toy/> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
ex:S a sh:NodeShape ; sh:targetClass ex:C ;
    sh:property [ sh:path ex:two ; sh:minCount 2 ; sh:maxCount 2 ; sh:message "two" ] ,
                [ sh:path ex:num ; sh:in ( 1 "a" ex:x ) ; sh:nodeKind sh:Literal ] ,
                [ sh:path ex:none ; sh:in ( ) ; sh:minCount 0 ; sh:severity sh:Warning ] ."""
TOY_DATA = """@prefix ex: <https://example.org/toy/> .
ex:a a ex:C ; ex:two 1 , 2 ; ex:num 1 , 1.0 , "a"@en , ex:x .
ex:b a ex:C ; ex:two 1 ; ex:none 1 .
ex:c a ex:C ; ex:two 1 , 2 , 3 ; ex:num "1" .
ex:d a ex:C ."""


def test_general_counts_and_term_equality_on_a_toy_graph(tmp_path):
    """Parameters the patient shapes use only one way: counts other than 1, sh:in compared by RDF term
    (1 and 1.0 differ), an empty sh:in, sh:severity."""
    (tmp_path / "data.ttl").write_text(TOY_DATA)
    data = ntriples_of(tmp_path / "data.ttl")
    toy = compile_shapes(TOY_SHAPES)
    graph = rdflib.Graph().parse(data=data, format="nt")
    shapes = rdflib.Graph().parse(data=TOY_SHAPES, format="turtle")
    _, report, _ = pyshacl.validate(graph, shacl_graph=shapes, inference="none", inplace=True,
                                    allow_warnings=True)

    def term(node):
        return None if node is None else str(_from_rdflib(node))

    theirs = {(term(report.value(r, SH.focusNode)), str(report.value(r, SH.sourceConstraintComponent)),
               canonical(term(report.value(r, SH.value))), str(report.value(r, SH.resultSeverity)))
              for r in report.objects(None, SH.result)}
    store = ox.Store()
    store.load(data.encode(), format=ox.RdfFormat.N_TRIPLES)
    ours = {(v.focus, v.component, v.value, v.severity) for v in toy.validate(store)}
    assert ours == theirs
    assert len(ours) == 8
