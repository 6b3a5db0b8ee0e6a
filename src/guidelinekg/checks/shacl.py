"""SHACL validation of guideline content with pySHACL, reported per focus node.

The data graph is the union of the loaded files, vocabulary included, so ``sh:targetClass`` reaches
instances of subclasses through the vocabulary's ``rdfs:subClassOf`` without any inference
(``inference="none"``). The report is read from pySHACL's results graph, never from its text.
pySHACL is imported only when validation runs, so the CLI starts fast.
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pyoxigraph import BlankNode, Literal, NamedNode

from guidelinekg.errors import ConfigurationError
from guidelinekg.content.loading import Content, Finding

if TYPE_CHECKING:  # pragma: no cover
    import rdflib

SH = "http://www.w3.org/ns/shacl#"
RDF_TYPE = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANGSTRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"

# sh:resultSeverity -> the report's severity scale
SEVERITY = {SH + "Violation": "error", SH + "Warning": "warning", SH + "Info": "info"}


def to_rdflib_graph(content: Content) -> rdflib.Graph:
    """Copy the union of ``content`` into an rdflib graph (blank node ids are kept)."""
    import rdflib

    graph = rdflib.Graph()
    for prefix, namespace in content.prefixes.items():
        graph.bind(prefix, namespace, override=False)
    for triple in content.triples():
        graph.add((_to_rdflib(triple.subject), _to_rdflib(triple.predicate), _to_rdflib(triple.object)))
    return graph


def _to_rdflib(term):
    import rdflib

    if isinstance(term, NamedNode):
        return rdflib.URIRef(term.value)
    if isinstance(term, BlankNode):
        return rdflib.BNode(term.value)
    if term.language:
        return rdflib.Literal(term.value, lang=term.language)
    if term.datatype.value == XSD_STRING:
        return rdflib.Literal(term.value)
    return rdflib.Literal(term.value, datatype=rdflib.URIRef(term.datatype.value))


def _from_rdflib(term):
    import rdflib

    if isinstance(term, rdflib.URIRef):
        return NamedNode(str(term))
    if isinstance(term, rdflib.BNode):
        return BlankNode(str(term))
    if term.language:
        return Literal(str(term), language=term.language)
    return Literal(str(term), datatype=NamedNode(str(term.datatype or XSD_STRING)))


def shacl_findings(content: Content, shapes: Content) -> list[Finding]:
    """Validate ``content`` against ``shapes``; one finding per top-level SHACL result.

    Args:
        content: the data (guideline files and the vocabulary they use).
        shapes: the shapes graph (``shapes/*.ttl``).

    Returns:
        Findings of kind ``"shacl"``, sorted. ``file`` and ``line`` locate the focus node's
        description; ``code`` is ``shacl:<component>`` (``shacl:minCount``, ``shacl:in``, ...).

    Raises:
        ConfigurationError: pySHACL cannot use the shapes.
    """
    with quiet_rdflib():
        return _validate(content, shapes)


class IllTypedLiteral(logging.Filter):
    """Drops rdflib's warning, with a traceback, on each ill-typed literal it meets (``"x"^^xsd:date``):
    the finding that reports the value says what is wrong and where."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Failed to convert Literal lexical form to value")


@contextmanager
def quiet_rdflib():
    """No rdflib log lines about ill-typed literals while the block runs."""
    logger, quiet = logging.getLogger("rdflib.term"), IllTypedLiteral()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def _validate(content: Content, shapes: Content) -> list[Finding]:
    import pyshacl
    import rdflib
    from pyshacl.errors import ConstraintLoadError, ReportableRuntimeError, ShapeLoadError

    data_graph = to_rdflib_graph(content)
    shapes_graph = to_rdflib_graph(shapes)
    try:
        _conforms, results, _text = pyshacl.validate(
            data_graph,
            shacl_graph=shapes_graph,
            inference="none",
            advanced=True,
            inplace=True,
            do_owl_imports=False,
            allow_warnings=True,
            allow_infos=True,
        )
    except (ShapeLoadError, ConstraintLoadError, ReportableRuntimeError) as exc:
        raise ConfigurationError(f"pySHACL cannot use the shapes: {exc}") from exc

    sh = rdflib.Namespace(SH)
    findings = []
    for report in results.subjects(rdflib.RDF.type, sh.ValidationReport):
        for result in results.objects(report, sh.result):
            findings.append(_finding(content, shapes, results, result, sh))
    return sorted(findings, key=Finding.sort_key)


def _finding(content: Content, shapes: Content, results, result, sh) -> Finding:
    focus_term = results.value(result, sh.focusNode)
    focus = _from_rdflib(focus_term)
    severity = SEVERITY.get(str(results.value(result, sh.resultSeverity)), "error")
    messages = sorted(str(m) for m in results.objects(result, sh.resultMessage))
    component = results.value(result, sh.sourceConstraintComponent)
    path = results.value(result, sh.resultPath)
    value = results.value(result, sh.value)
    message = "; ".join(messages) or "SHACL constraint not met"
    if str(component) == SH + "ClassConstraintComponent" and value is not None:
        shape = results.value(result, sh.sourceShape)
        message = _not_of_class(content, shapes, _from_rdflib(value), shape and _from_rdflib(shape)) + message
    return content.finding(
        focus,
        severity,
        "shacl",
        _component_code(content, component),
        message,
        path=_render_path(content, results, path, sh) if path is not None else "",
        value=_render_value(content, _from_rdflib(value)) if value not in (None, focus_term) else "",
        # located where the offending value is stated (a file may add a property to another's node)
        where=(_from_rdflib(path), None if value is None else _from_rdflib(value)) if _is_iri(path) else None,
    )


def _not_of_class(content: Content, shapes: Content, value, shape) -> str:
    """What is wrong with a value that is not of the class a shape asks for, before the shape's message, when
    the shape's message cannot tell: the value is described nowhere (a typo in its IRI), has no type, or is
    typed with a class nothing describes (a misspelt class). Empty for a literal, or a value of another
    known class (the shape's message says which class it needs)."""
    if isinstance(value, Literal):
        return ""
    name = _render_value(content, value)
    if not any(True for _ in content.store.quads_for_pattern(value, None, None, None)):
        return f"{name} is described nowhere (no triple has it as subject: a typo in its IRI?): "
    types = content.objects(value, RDF_TYPE)
    if not types:
        return f"{name} has no rdf:type: "
    unknown = sorted(content.compact(t) for t in types
                     if not any(True for _ in content.store.quads_for_pattern(t, None, None, None)))  # fmt: skip
    if not unknown:
        return ""
    wanted = sorted(content.compact(c) for c in shapes.objects(shape, NamedNode(SH + "class"))) if shape else []
    asked = f", not {' or '.join(wanted)}" if wanted else ""
    return f"{name} is typed {', '.join(unknown)}, a class nothing defines{asked} (a misspelt class?): "


def _is_iri(term) -> bool:
    import rdflib

    return isinstance(term, rdflib.URIRef)


def _component_code(content: Content, component) -> str:
    """``sh:MinCountConstraintComponent`` -> ``shacl:minCount``; other components compacted."""
    name = str(component or "")
    match = re.fullmatch(re.escape(SH) + r"(\w+)ConstraintComponent", name)
    if match:
        local = match.group(1)
        return f"shacl:{local[0].lower()}{local[1:]}"
    return content.compact(NamedNode(name)) if name else "shacl:unknown"


def _render_value(content: Content, term) -> str:
    if isinstance(term, Literal):
        return f'"{term.value}"'
    return content.compact(term) if isinstance(term, NamedNode) else content.label(term)


def _render_path(content: Content, results, path, sh) -> str:
    """A SHACL property path in SPARQL syntax: ``gkg:a/gkg:b``, ``^gkg:a``, ``gkg:a*``."""
    import rdflib

    if isinstance(path, rdflib.URIRef):
        return content.compact(NamedNode(str(path)))
    if (path, rdflib.RDF.first, None) in results:
        items = rdflib.collection.Collection(results, path)
        return "/".join(_render_path(content, results, item, sh) for item in items)
    for predicate, template in (
        (sh.inversePath, "^{}"),
        (sh.zeroOrMorePath, "({})*"),
        (sh.oneOrMorePath, "({})+"),
        (sh.zeroOrOnePath, "({})?"),
    ):
        inner = results.value(path, predicate)
        if inner is not None:
            return template.format(_render_path(content, results, inner, sh))
    alternatives = results.value(path, sh.alternativePath)
    if alternatives is not None:
        items = rdflib.collection.Collection(results, alternatives)
        return "(" + "|".join(_render_path(content, results, item, sh) for item in items) + ")"
    return "?"
