"""Lint: a link of the vocabulary that leads to a node described nowhere (a misspelt IRI).

``undescribed-reference``: the rules follow a link (``gkg:exceptStatement``, ``gkg:citation``,
``gkg:intervention``, ``gkg:prevailsOver``, ...) to the node it names and read that node's triples. An IRI
written with a typo (``mf:rec-metformin-continu``) is still valid Turtle, passes HermiT and, for most links,
SHACL (a shape checks a target's class on only some of them: ``gkg:substance`` is reported by both), and the
link then leads to nothing: an exception that
excepts nothing, a citation without a work, a precedence over no statement, silently. Every object of a
vocabulary object property (``owl:ObjectProperty`` in ``ontology/*.ttl``) that is an IRI in the referring
node's own namespace (a code system's IRI, ``sct:84114007``, is never described) and that no triple of the
content or the vocabulary has as its subject is an error, on the line that writes it, with the closest
described IRI as the fix. Links to criteria are left to ``criterion-not-decided``
(:mod:`guidelinekg.checks.criteria`) and links to citations and source references (by their
``rdfs:range``) to ``dangling-citation`` (``queries/checks/dangling-citation.rq``), which report the same
typo in their own words.
"""

from __future__ import annotations

import difflib
from dataclasses import replace

from pyoxigraph import NamedNode

from guidelinekg.checks.terms import statement_line
from guidelinekg.content import resources
from guidelinekg.content.loading import Content, Finding

GKG = "https://w3id.org/guidelinekg/ontology#"
RDF_TYPE = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
OBJECT_PROPERTY = NamedNode("http://www.w3.org/2002/07/owl#ObjectProperty")
RANGE = NamedNode("http://www.w3.org/2000/01/rdf-schema#range")
SUBCLASS = NamedNode("http://www.w3.org/2000/01/rdf-schema#subClassOf")
CRITERION = NamedNode(GKG + "Criterion")
# ranges whose links other checks report (criterion-not-decided, dangling-citation)
REPORTED_ELSEWHERE = (CRITERION, NamedNode(GKG + "Citation"), NamedNode(GKG + "SourceReference"))


def reference_findings(content: Content) -> list[Finding]:
    """``undescribed-reference`` errors: one per link to an IRI described nowhere."""
    vocabulary = {f.resolve() for f in resources.vocabulary_files()}
    vocabulary_graphs = {s.graph for s in content.files if s.path.resolve() in vocabulary}
    if not vocabulary_graphs:
        return []  # without the vocabulary, which links are its object properties is not known
    elsewhere = {c for cls in REPORTED_ELSEWHERE for c in _subclasses(content, cls)}
    links = {q.subject for g in vocabulary_graphs for q in content.store.quads_for_pattern(None, RDF_TYPE, OBJECT_PROPERTY, g)
             if isinstance(q.subject, NamedNode) and q.subject.value.startswith(GKG)
             and not any(r in elsewhere for r in content.objects(q.subject, RANGE))}  # fmt: skip
    described = {q.subject for q in content.store.quads_for_pattern(None, None, None, None)
                 if isinstance(q.subject, NamedNode)}  # fmt: skip
    findings, texts, seen = [], {}, set()
    for link in sorted(links, key=str):
        for quad in sorted(content.store.quads_for_pattern(None, link, None, None), key=str):
            target = quad.object
            if (quad.graph_name in vocabulary_graphs or not isinstance(target, NamedNode) or target in described
                    or _namespace(target.value) != _namespace(quad.subject.value) or (quad.subject, link, target) in seen):
                continue  # (only in the referring node's own namespace: a code system's IRI, sct:84114007, is not described)
            seen.add((quad.subject, link, target))
            # the closest described IRI of the namespace, by local name (whole IRIs share their namespace,
            # so any two would look alike)
            space = _namespace(target.value)
            names = {n.value[len(space):]: n.value for n in described if _namespace(n.value) == space}
            close = difflib.get_close_matches(target.value[len(space):], sorted(names), n=1, cutoff=0.8)
            fix = (f"did you mean {content.compact(NamedNode(names[close[0]]))}?" if close else
                   "write the IRI of a node the content describes, or describe this one")
            message = (f"{content.compact(target)} is described nowhere (no triple has it as subject), so this "
                       f"{content.compact(link)} link leads to nothing and what it says is silently lost: {fix}")
            finding = content.finding(quad.subject, "error", "lint", "undescribed-reference", message,
                                      path=content.compact(link), value=content.compact(target))
            file, line = statement_line(content, quad, texts)
            findings.append(replace(finding, file=file or finding.file, line=line or finding.line))
    return findings


def _namespace(iri: str) -> str:
    """An IRI without its last segment (after the last ``#``, ``/`` or ``:``)."""
    return iri[:max(iri.rfind("#"), iri.rfind("/"), iri.rfind(":")) + 1]


def _subclasses(content: Content, cls: NamedNode) -> set:
    found, todo = {cls}, [cls]
    while todo:
        for q in content.store.quads_for_pattern(None, SUBCLASS, todo.pop(), None):
            if q.subject not in found:
                found.add(q.subject)
                todo.append(q.subject)
    return found
