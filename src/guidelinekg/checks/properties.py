"""Lint: a vocabulary property written on a node of a kind that does not take it; and where a triple is written.

``property-wrong-kind``: the rules read a property on the kinds of node it belongs to, and the shapes check
it there; written on another kind (``gkg:requiresSex`` on a gkg:DiagnosisCriterion) it passes the syntax
check, SHACL (nothing constrains it there) and HermiT (a domain is an inference, not a constraint), and is
then ignored, or read as if the node were of the other kind. Which kinds a property belongs to is read from
the vocabulary, the shapes and the rules, never listed here: the property's ``rdfs:domain`` (a class, or an
``owl:unionOf`` of classes), with the ``sh:targetClass`` of every shape that checks it on its focus node
(through ``sh:property``, ``sh:node``, ``sh:and``, ``sh:or``, ``sh:xone``; not a shape that forbids it,
``sh:maxCount 0``). A property without a domain is left alone (the reports read gkg:requirement or
gkg:verifiedAgainst on any node), and so is a use a rule reads whatever the node's type (rule 08 reads
gkg:resultAgeLimit on any node with gkg:onMeasure). A node matches when one of its types, or their
superclasses (``rdfs:subClassOf`` in the content), is one of those kinds; an untyped node, or one typed
with an undefined ``gkg:`` class (``undefined-term``), is left to the checks that report those.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace

from pyoxigraph import BlankNode, NamedNode

from guidelinekg.content import resources
from guidelinekg.checks.criteria import _COMMENT, _PREFIX, _block_after, _requirements
from guidelinekg.checks.terms import statement_line
from guidelinekg.content.loading import Content, Finding, load_files
from guidelinekg.engine.rules import load_rules

GKG = "https://w3id.org/guidelinekg/ontology#"
SH = "http://www.w3.org/ns/shacl#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
OWL = "http://www.w3.org/2002/07/owl#"
RDF_TYPE, RDF_FIRST, RDF_REST = (NamedNode(RDF + n) for n in ("type", "first", "rest"))
DOMAIN, SUBCLASS = NamedNode(RDFS + "domain"), NamedNode(RDFS + "subClassOf")
UNION = NamedNode(OWL + "unionOf")
ANYWHERE = {OWL + "Thing", RDFS + "Resource"}  # a domain that says nothing
_FOCUS_LINKS = tuple(NamedNode(SH + n) for n in ("node", "and", "or", "xone"))


def property_kind_findings(content: Content, shapes: Content | None = None) -> list[Finding]:
    """``property-wrong-kind`` warnings: one per node and vocabulary property written on it that belongs
    to other kinds of node (``shapes``: the shipped shapes by default)."""
    vocabulary = {f.resolve() for f in resources.vocabulary_files()}
    vocabulary_graphs = {s.graph for s in content.files if s.path.resolve() in vocabulary}
    if not vocabulary_graphs:
        return []
    if shapes is None:
        shapes, _ = load_files(resources.shape_files())
    kinds, readers = _declared_kinds(content, shapes), _read_anywhere()
    defined = {q.subject.value for g in vocabulary_graphs for q in content.store.quads_for_pattern(None, None, None, g)
               if isinstance(q.subject, NamedNode)}  # fmt: skip
    parents: dict = defaultdict(set)
    for quad in content.store.quads_for_pattern(None, SUBCLASS, None, None):
        parents[quad.subject].add(quad.object)
    findings, texts, seen = [], {}, set()
    for quad in content.store.quads_for_pattern(None, None, None, None):
        prop = quad.predicate.value
        if quad.graph_name in vocabulary_graphs or prop not in kinds:
            continue
        if (quad.subject, prop) in seen:
            continue
        seen.add((quad.subject, prop))
        types = [t for t in content.objects(quad.subject, RDF_TYPE) if isinstance(t, NamedNode)]
        if not types or any(t.value.startswith(GKG) and t.value not in defined for t in types):
            continue  # untyped (criterion-not-decided, the shapes), or a misspelt class (undefined-term)
        if _closure(types, parents) & kinds[prop]:
            continue
        has = {q.predicate.value for q in content.store.quads_for_pattern(quad.subject, None, None, None)}
        if any(others <= has for others in readers.get(prop, ())):
            continue  # a rule reads it on any node that has these properties
        owners = sorted(content.compact(NamedNode(k)) for k in kinds[prop])
        own = ", ".join(sorted(content.compact(t) for t in types))
        message = (f"{content.compact(quad.predicate)} belongs to {' or '.join(owners)} (its rdfs:domain and the "
                   f"shapes that check it), and this node is {own}: no shape checks it here and the rules for "
                   "this kind of node do not read it, so it is ignored (or the node is read as the other kind): "
                   f"move it to a node of that kind (e.g. a {owners[0]} combined with this one in a gkg:AllOf), "
                   "or type this node as the kind you mean")  # fmt: skip
        finding = content.finding(quad.subject, "warning", "lint", "property-wrong-kind", message,
                                  where=(quad.predicate, quad.object), path=content.compact(quad.predicate),
                                  value=content.compact(quad.object))  # fmt: skip
        file, line = statement_line(content, quad, texts)
        findings.append(replace(finding, file=file or finding.file, line=line or finding.line))
    return findings


def _declared_kinds(content: Content, shapes: Content) -> dict[str, set[str]]:
    """Property -> the classes that take it: its rdfs:domain, and the target classes of the shapes that
    check it on their focus node (not a shape that forbids it, ``sh:maxCount 0``). Only properties with a
    domain: a property without one (gkg:requirement, gkg:verifiedAgainst) is read on any node by the
    reports, whatever shape checks it where."""
    kinds: dict[str, set[str]] = defaultdict(set)
    for quad in content.store.quads_for_pattern(None, DOMAIN, None, None):
        if isinstance(quad.subject, NamedNode) and quad.subject.value.startswith(GKG):
            kinds[quad.subject.value] |= _classes(content, quad.object)
    for quad in shapes.store.quads_for_pattern(None, NamedNode(SH + "targetClass"), None, None):
        for prop in _focus_paths(shapes, quad.subject, set()):
            if prop in kinds:
                kinds[prop].add(quad.object.value)
    return {k: v for k, v in kinds.items() if not v & ANYWHERE}


def _read_anywhere(directory=None) -> dict[str, list[frozenset[str]]]:
    """Property -> the sets of other properties with which a rule reads it whatever the node's type
    (``?use gkg:onMeasure ?m ; gkg:resultAgeLimit ?limit``: any node with gkg:onMeasure); a rule that
    types the node (``?c a gkg:AgeCriterion``) reads it on that kind only."""
    readers: dict[str, list[frozenset[str]]] = defaultdict(list)
    for rule in load_rules(directory).rules:
        text = _COMMENT.sub(r"\1", rule.text)
        prefixes = dict(_PREFIX.findall(text))
        where = _block_after(text, re.search(r"\bWHERE\s*\{", text, re.IGNORECASE))
        for variable in set(re.findall(r"\?(\w+)", where)):
            types, properties = _requirements(where, variable, prefixes)
            if not types:
                for prop in properties:
                    readers[prop].append(frozenset(properties - {prop}))
    return readers


def _focus_paths(shapes: Content, shape, seen: set) -> set[str]:
    """The properties ``shape`` checks (and does not forbid) on its focus node."""
    if shape in seen:
        return set()
    seen.add(shape)
    found = set()
    for prop_shape in [*shapes.objects(shape, NamedNode(SH + "property")), shape]:
        if any(m.value == "0" for m in shapes.objects(prop_shape, NamedNode(SH + "maxCount"))):
            continue  # forbidden here
        found |= {p.value for p in shapes.objects(prop_shape, NamedNode(SH + "path")) if isinstance(p, NamedNode)}
    for link in _FOCUS_LINKS:
        for operand in shapes.objects(shape, link):
            for member in _list(shapes, operand) or [operand]:
                found |= _focus_paths(shapes, member, seen)
    return found


def _classes(content: Content, node) -> set[str]:
    """A domain's classes: the class, or the members of its owl:unionOf."""
    if isinstance(node, NamedNode):
        return {node.value}
    return {m.value for u in content.objects(node, UNION) for m in _list(content, u) if isinstance(m, NamedNode)}


def _list(content: Content, node) -> list:
    items = []
    while isinstance(node, BlankNode) and len(items) < 1000:
        items += content.objects(node, RDF_FIRST)
        rest = content.objects(node, RDF_REST)
        node = rest[0] if rest else None
    return items


def _closure(types: list, parents: dict) -> set[str]:
    seen, todo = set(), list(types)
    while todo:
        cls = todo.pop()
        if cls.value not in seen:
            seen.add(cls.value)
            todo.extend(p for p in parents.get(cls, ()) if isinstance(p, NamedNode))
    return seen
