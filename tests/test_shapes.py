"""Tests of shapes/guideline.ttl, the SHACL shapes guideline content must satisfy.

- The shapes graph is valid SHACL (the W3C SHACL-SHACL meta-shapes that pySHACL ships) and SHACL Core only.
- Every shape is documented (sh:message, rdfs:label, rdfs:comment) and names only terms of ontology/gkg.ttl.
- Data-driven cases under tests/fixtures/shapes/ (see the README there): base.ttl conforms and has an
  instance of every targeted class; each file in cases/ is validated together with base.ttl, and the
  (focus node, source shape) pairs pySHACL reports must be exactly those the file annotates with
  ``test:violates``. Every shape that can report a result is the expected source of at least one.
- The shipped guideline content (ontology/guidelines/**/*.ttl) conforms.

Validation runs as the ``validate`` command runs it: the vocabulary is part of the data graph and no
inference is done, so ``sh:targetClass`` reaches instances of subclasses through ``rdfs:subClassOf``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources as importlib_resources
from pathlib import Path

import pyshacl
import pytest
from rdflib import RDF, RDFS, SH, BNode, Graph, Literal, Namespace, URIRef
from rdflib.collection import Collection
from rdflib.term import Node

from guidelinekg.content.resources import guideline_files, ontology_dir, shapes_dir

SHAPES_FILE = shapes_dir() / "guideline.ttl"
FIXTURES = Path(__file__).parent / "fixtures" / "shapes"
BASE_FILE = FIXTURES / "base.ttl"
CASE_FILES = sorted((FIXTURES / "cases").glob("*.ttl"))

GKGSH = Namespace("https://w3id.org/guidelinekg/shapes/guideline#")
TEST = Namespace("https://w3id.org/guidelinekg/test#")

# SHACL Core vocabulary: every sh: predicate the shapes may use. Anything else (sh:sparql, sh:rule,
# sh:target, sh:declare ...) belongs to SHACL-SPARQL or SHACL-AF, which not every engine runs.
TARGETS = {SH.targetClass, SH.targetNode, SH.targetSubjectsOf, SH.targetObjectsOf}
PATHS = {SH.alternativePath, SH.inversePath, SH.zeroOrMorePath, SH.oneOrMorePath, SH.zeroOrOnePath}
NON_VALIDATING = {SH.message, SH.severity, SH.deactivated, SH.name, SH.description, SH.order, SH.group,
                  SH.defaultValue}
CONSTRAINT_PARAMETERS = {
    SH["class"], SH.datatype, SH.nodeKind, SH.minCount, SH.maxCount, SH.minExclusive, SH.minInclusive,
    SH.maxExclusive, SH.maxInclusive, SH.minLength, SH.maxLength, SH.pattern, SH.flags, SH.languageIn,
    SH.uniqueLang, SH.equals, SH.disjoint, SH.lessThan, SH.lessThanOrEquals, SH["not"], SH["and"], SH["or"],
    SH.xone, SH.node, SH.property, SH.qualifiedValueShape, SH.qualifiedMinCount, SH.qualifiedMaxCount,
    SH.qualifiedValueShapesDisjoint, SH.closed, SH.ignoredProperties, SH.hasValue, SH["in"],
}
SHACL_CORE = TARGETS | PATHS | NON_VALIDATING | CONSTRAINT_PARAMETERS | {SH.path}
LOGICAL_LISTS = (SH["or"], SH["and"], SH.xone)
# Namespaces whose terms the shapes may use without ontology/gkg.ttl declaring them.
BUILT_IN = ("http://www.w3.org/ns/shacl#", "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
            "http://www.w3.org/2000/01/rdf-schema#", "http://www.w3.org/2001/XMLSchema#",
            "http://www.w3.org/2002/07/owl#", str(GKGSH))


# --- loading and running ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shapes() -> Graph:
    return Graph().parse(SHAPES_FILE)


@pytest.fixture(scope="module")
def vocabulary() -> Graph:
    return Graph().parse(ontology_dir() / "gkg.ttl")


@pytest.fixture(scope="module")
def base() -> Graph:
    return Graph().parse(BASE_FILE)


@dataclass(frozen=True)
class Result:
    """One sh:ValidationResult, reduced to what the tests compare and print."""

    focus: Node
    shape: Node
    path: Node | None
    message: str

    def __str__(self) -> str:
        where = f"{_short(self.focus)} violates {_short(self.shape)} (path {_short(self.path)})"
        return f"{where}: {self.message}"


def validate(shapes: Graph, *data: Graph) -> list[Result]:
    """Validate the union of ``data`` as the validate command does; the results, sorted."""
    graph = Graph()
    for part in data:
        graph += part
    _conforms, report, _text = pyshacl.validate(
        graph, shacl_graph=shapes, inference="none", advanced=True, inplace=True, do_owl_imports=False)
    results = []
    # Top-level results only; pySHACL adds nested sh:detail results for sh:node, which are not reported.
    for node in report.objects(None, SH.result):
        messages = sorted(str(m) for m in report.objects(node, SH.resultMessage))
        results.append(Result(focus=report.value(node, SH.focusNode),
                              shape=report.value(node, SH.sourceShape),
                              path=report.value(node, SH.resultPath),
                              message="; ".join(messages)))
    return sorted(results, key=str)


def _short(term: Node | None) -> str:
    if term is None:
        return "-"
    if isinstance(term, BNode):
        return "[]"
    for prefix, namespace in (("gkgsh:", str(GKGSH)), ("gkg:", "https://w3id.org/guidelinekg/ontology#"),
                              ("ex:", "https://example.org/gkg-test/"), ("loinc:", "https://loinc.org/")):
        if str(term).startswith(namespace):
            return prefix + str(term)[len(namespace):]
    return term.n3()


def split_case(path: Path) -> tuple[Graph, set[tuple[Node, Node]]]:
    """A case file's data (``test:`` triples removed) and its expected (focus node, source shape) pairs."""
    graph = Graph().parse(path)
    expected = {(focus, shape) for focus, shape in graph.subject_objects(TEST.violates)}
    data = Graph()
    for triple in graph:
        if not str(triple[1]).startswith(str(TEST)):
            data.add(triple)
    return data, expected


# --- reading the shapes graph ----------------------------------------------------------------------


def named_shapes(shapes: Graph) -> set[URIRef]:
    typed = set(shapes.subjects(RDF.type, SH.NodeShape)) | set(shapes.subjects(RDF.type, SH.PropertyShape))
    return {shape for shape in typed if isinstance(shape, URIRef)}


def nested_shapes(shapes: Graph) -> set[Node]:
    """Shapes whose results SHACL reports under an enclosing shape: operands of sh:or / sh:and / sh:xone /
    sh:not / sh:qualifiedValueShape, the property shapes of untargeted value shapes used through sh:node,
    and everything nested in those."""
    roots: set[Node] = set()
    for predicate in LOGICAL_LISTS:
        for head in shapes.objects(None, predicate):
            roots.update(Collection(shapes, head))
    roots.update(shapes.objects(None, SH["not"]))
    roots.update(shapes.objects(None, SH.qualifiedValueShape))
    for value_shape in set(shapes.objects(None, SH.node)):
        if not any(shapes.value(value_shape, target) is not None for target in TARGETS):
            roots.update(shapes.objects(value_shape, SH.property))
    found: set[Node] = set()
    todo = list(roots)
    while todo:
        shape = todo.pop()
        if shape not in found:
            found.add(shape)
            todo.extend(shapes.objects(shape, SH.property))
            todo.extend(shapes.objects(shape, SH.node))
    return found


def all_shapes(shapes: Graph) -> set[Node]:
    """Everything that is a shape by type, by having a path or a target, or by being referred to as one."""
    found: set[Node] = set(named_shapes(shapes))
    found |= set(shapes.subjects(SH.path, None))
    for predicate in TARGETS:
        found |= set(shapes.subjects(predicate, None))
    found |= set(shapes.objects(None, SH.property)) | set(shapes.objects(None, SH.node))
    return found | nested_shapes(shapes)


def reporting_shapes(shapes: Graph) -> set[Node]:
    """Shapes that can be the sh:sourceShape of a result: targeted node shapes with a constraint of their
    own, and the property shapes of targeted node shapes."""
    found: set[Node] = set()
    for shape in all_shapes(shapes):
        if not any(shapes.value(shape, target) is not None for target in TARGETS):
            continue
        if shapes.value(shape, SH.path) is not None:
            found.add(shape)
        parameters = {p for p in shapes.predicates(shape, None)} & (CONSTRAINT_PARAMETERS - {SH.property})
        if parameters:
            found.add(shape)
        found.update(shapes.objects(shape, SH.property))
    return found


def iris_in(graph: Graph) -> Iterator[URIRef]:
    for triple in graph:
        for term in triple:
            if isinstance(term, URIRef):
                yield term


# --- the shapes graph itself ---------------------------------------------------------------------


def test_shapes_conform_to_shacl_shacl(shapes: Graph) -> None:
    meta = Graph().parse(str(importlib_resources.files("pyshacl") / "assets" / "shacl-shacl.ttl"))
    conforms, _report, text = pyshacl.validate(shapes, shacl_graph=meta, inference="none")
    assert conforms, text


def test_shapes_use_shacl_core_only(shapes: Graph) -> None:
    used = {p for p in shapes.predicates() if str(p).startswith(str(SH))}
    assert used <= SHACL_CORE, f"not SHACL Core: {sorted(_short(p) for p in used - SHACL_CORE)}"


def test_every_reported_shape_is_named(shapes: Graph) -> None:
    """Only named shapes can carry the message a user sees; anonymous ones are fine where SHACL reports
    an enclosing shape instead (see nested_shapes)."""
    anonymous = {s for s in all_shapes(shapes) - nested_shapes(shapes) if not isinstance(s, URIRef)}
    untyped = {s for s in all_shapes(shapes) - nested_shapes(shapes) - anonymous} - named_shapes(shapes)
    assert not anonymous, f"{len(anonymous)} anonymous shapes that SHACL would report themselves"
    assert not untyped, f"shapes not typed sh:NodeShape or sh:PropertyShape: {sorted(map(_short, untyped))}"


def test_every_shape_has_message_label_and_comment(shapes: Graph) -> None:
    problems = []
    for shape in sorted(named_shapes(shapes)):
        messages = list(shapes.objects(shape, SH.message))
        if len(messages) != 1:
            problems.append(f"{_short(shape)}: {len(messages)} sh:message (expected 1)")
        for predicate in (SH.message, RDFS.label, RDFS.comment):
            texts = list(shapes.objects(shape, predicate))
            if not texts:
                problems.append(f"{_short(shape)}: no {_short(predicate)}")
            problems.extend(f"{_short(shape)}: empty or non-literal {predicate.n3(shapes.namespace_manager)}"
                            for text in texts if not isinstance(text, Literal) or not str(text).strip())
    assert not problems, "\n".join(problems)


def test_every_named_shape_is_used(shapes: Graph) -> None:
    used = set(shapes.objects(None, SH.property)) | set(shapes.objects(None, SH.node))
    targeted = {s for s in named_shapes(shapes) if any(shapes.value(s, t) is not None for t in TARGETS)}
    unused = named_shapes(shapes) - used - targeted
    assert not unused, f"shapes that never apply: {sorted(map(_short, unused))}"


def test_shapes_name_only_declared_terms(shapes: Graph, vocabulary: Graph) -> None:
    """A misspelt class or property in a shape would silently never match; every term must exist."""
    declared = set(vocabulary.subjects()) | {URIRef(str(GKGSH).rstrip("#"))}  # the shapes file's own IRI
    unknown = {iri for iri in iris_in(shapes) if not str(iri).startswith(BUILT_IN) and iri not in declared}
    assert not unknown, f"not declared in ontology/gkg.ttl: {sorted(map(_short, unknown))}"


# --- fixtures: every shape fires on a case and holds on the base -------------------------------------


def test_base_conforms(shapes: Graph, vocabulary: Graph, base: Graph) -> None:
    results = validate(shapes, vocabulary, base)
    assert not results, "\n".join(map(str, results))


def test_base_instantiates_every_target(shapes: Graph, vocabulary: Graph, base: Graph) -> None:
    """So that each shape is also seen to hold, not only to fire."""
    data = vocabulary + base
    missing = []
    for shape, cls in shapes.subject_objects(SH.targetClass):
        subclasses = set(data.transitive_subjects(RDFS.subClassOf, cls))
        if not any((None, RDF.type, sub) in base for sub in subclasses):
            missing.append(f"{_short(shape)}: no instance of {_short(cls)}")
    for shape, prop in shapes.subject_objects(SH.targetSubjectsOf):
        if (None, prop, None) not in base:
            missing.append(f"{_short(shape)}: nothing has {_short(prop)}")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("case", CASE_FILES, ids=[path.stem for path in CASE_FILES])
def test_case(case: Path, shapes: Graph, vocabulary: Graph, base: Graph) -> None:
    data, expected = split_case(case)
    results = validate(shapes, vocabulary, base, data)
    actual = {(r.focus, r.shape) for r in results}
    missing = sorted(f"{_short(f)} should violate {_short(s)}" for f, s in expected - actual)
    unexpected = [str(r) for r in results if (r.focus, r.shape) not in expected]
    assert not missing and not unexpected, "\n".join(["missing:", *missing, "unexpected:", *unexpected])
    for result in results:
        assert result.message == str(shapes.value(result.shape, SH.message)), str(result)
        path = shapes.value(result.shape, SH.path)
        if isinstance(path, URIRef):
            assert result.path == path, str(result)


def test_every_reporting_shape_fires_in_some_case(shapes: Graph) -> None:
    expected = set().union(*(split_case(path)[1] for path in CASE_FILES))
    fired = {shape for _focus, shape in expected}
    reporting = reporting_shapes(shapes)
    assert not reporting - fired, f"no case violates: {sorted(map(_short, reporting - fired))}"
    assert not fired - reporting, f"cases expect unknown shapes: {sorted(map(_short, fired - reporting))}"


# --- the shipped content -------------------------------------------------------------------------


def _content_graph(paths: Iterable[Path]) -> Graph:
    graph = Graph()
    for path in paths:
        graph.parse(path)
    return graph


def test_shipped_guideline_content_conforms(shapes: Graph, vocabulary: Graph) -> None:
    files = guideline_files()
    assert files, f"no guideline content under {ontology_dir() / 'guidelines'}"
    results = validate(shapes, vocabulary, _content_graph(files))
    assert not results, f"{len(results)} violations in shipped content:\n" + "\n".join(map(str, results))
