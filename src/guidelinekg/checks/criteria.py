"""Lint: every criterion must be of a kind the engine decides, read from the rules themselves.

A rule decides criteria when it inserts a ``gkg:CriterionOutcome`` with ``gkg:criterion ?c``. What it
requires of ``?c`` in its WHERE clause (outside OPTIONAL, MINUS and EXISTS) says which criteria those are:
``?c a gkg:AgeCriterion`` decides criteria typed exactly so (the rules do no subclass reasoning), and a
rule that names no type (``?c gkg:onMeasure ?m ; gkg:comparator ?cmp``) decides any node with those
properties, whatever its type: the kinds it stands for are the ``rdfs:domain`` of its properties in the
vocabulary (gkg:ObservationThreshold) and their subclasses. :func:`decided_kinds` is that reading, the one
place the list lives; a criterion of no such kind (``gkg:Criterion`` itself, a misspelt or invented class,
no type) gets no outcome, and every statement that depends on it drops out of the report, so
``criterion-not-decided`` is an error.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace
from pathlib import Path

from pyoxigraph import BlankNode, NamedNode

from guidelinekg.checks.terms import statement_line
from guidelinekg.content.loading import Content, Finding
from guidelinekg.engine.rules import load_rules

GKG = "https://w3id.org/guidelinekg/ontology#"
RDF_TYPE = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
SUBCLASS, DOMAIN, RANGE = (NamedNode(RDFS + n) for n in ("subClassOf", "domain", "range"))
CRITERION = NamedNode(GKG + "Criterion")

_COMMENT = re.compile(r"(?m)(^|\s)#.*$")
_PREFIX = re.compile(r"PREFIX\s+([\w-]*):\s*<([^>]*)>", re.IGNORECASE)
_CRITERION_OF = re.compile(r"(?:gkg:|<https://w3id\.org/guidelinekg/ontology#)criterion>?\s+\?(\w+)")
_OPTIONAL_BLOCK = re.compile(r"\b(?:OPTIONAL|MINUS|EXISTS)\s*\{", re.IGNORECASE)


@dataclass(frozen=True)
class DecidedKinds:
    """What the rules decide: classes matched by type, and property sets matched whatever the type."""

    typed: frozenset[str]  # class IRIs
    shapes: frozenset[frozenset[str]]  # property IRIs a node needs, all of them

    def classes(self, content: Content) -> set[str]:
        """Every class a decided criterion may be typed with: the typed ones, and the domains of the
        shapes' properties with their subclasses (in ``content``, which holds the vocabulary)."""
        found = set(self.typed)
        for shape in self.shapes:
            for prop in shape:
                for domain in content.objects(NamedNode(prop), DOMAIN):
                    if isinstance(domain, NamedNode):
                        found |= _subclasses(content, domain)
        return found


def decided_kinds(directory: Path | None = None) -> DecidedKinds:
    """Read the criterion-deciding rules of ``queries/rules/`` (or ``directory``)."""
    typed: set[str] = set()
    shapes: set[frozenset[str]] = set()
    for rule in load_rules(directory).rules:
        text = _COMMENT.sub(r"\1", rule.text)
        prefixes = dict(_PREFIX.findall(text))
        insert = _block_after(text, re.search(r"\bINSERT\s*\{", text, re.IGNORECASE))
        if "CriterionOutcome" not in insert:
            continue
        variable = _CRITERION_OF.search(insert)
        if variable is None:
            continue
        where = _block_after(text, re.search(r"\bWHERE\s*\{", text, re.IGNORECASE))
        types, properties = _requirements(_without_optional(where), variable.group(1), prefixes)
        if types:
            typed |= types
        elif properties:
            shapes.add(frozenset(properties))
    return DecidedKinds(frozenset(typed), frozenset(shapes))


def criterion_findings(content: Content, kinds: DecidedKinds | None = None) -> list[Finding]:
    """``criterion-not-decided`` errors: criteria (objects of a property whose range is gkg:Criterion, or
    typed a subclass of it) that no rule decides."""
    kinds = kinds or decided_kinds()
    classes = kinds.classes(content)
    links = [p for p in content.subjects(RANGE, CRITERION) if isinstance(p, NamedNode)]
    nodes = {q.object for p in links for q in content.store.quads_for_pattern(None, p, None, None)}
    nodes |= {q.subject for c in _subclasses(content, CRITERION)
              for q in content.store.quads_for_pattern(None, RDF_TYPE, NamedNode(c), None)}  # fmt: skip
    choices = sorted(content.compact(NamedNode(c)) for c in classes if c.startswith(GKG))
    findings, texts = [], {}
    for node in sorted(nodes, key=str):
        if isinstance(node, (NamedNode, BlankNode)):
            types = {t.value for t in content.objects(node, RDF_TYPE) if isinstance(t, NamedNode)}
            properties = {q.predicate.value for q in content.store.quads_for_pattern(node, None, None, None)}
            if types & classes or any(shape <= properties for shape in kinds.shapes):
                continue
            message = _message(content, types, classes, choices, bool(properties))
            if not properties and isinstance(node, NamedNode):  # a typo of a defined criterion's IRI?
                named = [n.value for n in nodes if isinstance(n, NamedNode) and n != node]
                close = difflib.get_close_matches(node.value, named, n=1, cutoff=0.8)
                message += f" (did you mean {content.compact(NamedNode(close[0]))}?)" if close else ""
            finding = content.finding(node, "error", "lint", "criterion-not-decided", message, path="rdf:type")
            if finding.line is None:  # described nowhere (a typo in a reference): the line that refers to it
                uses = sorted(content.store.quads_for_pattern(None, None, node, None), key=str)
                if uses:
                    file, line = statement_line(content, uses[0], texts)
                    finding = replace(finding, file=file or finding.file, line=line)
            findings.append(finding)
    return findings


def _message(content: Content, types: set[str], classes: set[str], choices: list[str], described: bool) -> str:
    what = "the criterion has no type: no rule (queries/rules/) decides it"
    fix = f"type it as one of the kinds the rules decide: {', '.join(choices)}"
    if not described:
        what = "the criterion is described nowhere (no triple has it as subject): no rule decides it"
        fix = (f"if the IRI is a typo, write the criterion's IRI as it is defined; else describe it, typed as one "
               f"of the kinds the rules decide: {', '.join(choices)}")
    if types:
        kinds = ", ".join(sorted(content.compact(NamedNode(t)) for t in types))
        what = f"no rule (queries/rules/) decides a criterion of type {kinds}"
        above = sorted(content.compact(NamedNode(c)) for t in types
                       for c in _superclasses(content, t) & classes)  # fmt: skip
        if above:  # a subclass of a decided kind
            fix = f"the rules match types exactly, not subclasses: type it {' or '.join(above)}"
    return (f"{what}, so it is never true, false or unknown and every statement that depends on it drops out "
            f"of the report: {fix}")


def _superclasses(content: Content, cls: str) -> set[str]:
    found, todo = set(), [NamedNode(cls)]
    while todo:
        current = todo.pop()
        for parent in content.objects(current, SUBCLASS):
            if isinstance(parent, NamedNode) and parent.value not in found:
                found.add(parent.value)
                todo.append(parent)
    return found


def _subclasses(content: Content, cls: NamedNode) -> set[str]:
    found, todo = set(), [cls]
    while todo:
        current = todo.pop()
        if isinstance(current, NamedNode) and current.value not in found:
            found.add(current.value)
            todo.extend(content.subjects(SUBCLASS, current))
    return found


def _block_after(text: str, match: re.Match | None) -> str:
    """The text inside the braces opened at the end of ``match`` (empty without a match)."""
    if match is None:
        return ""
    depth, start = 1, match.end()
    for index in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[start:index]
    return text[start:]


def _without_optional(where: str) -> str:
    """``where`` without its OPTIONAL, MINUS and (NOT) EXISTS groups: what a solution must match."""
    while match := _OPTIONAL_BLOCK.search(where):
        inner = _block_after(where, match)
        where = where[: match.start()] + " " + where[match.end() + len(inner) + 1 :]
    return where


def _requirements(where: str, variable: str, prefixes: dict[str, str]) -> tuple[set[str], set[str]]:
    """The classes (``?v a C``, or ``?v a ?k`` with ``?k`` in VALUES or FILTER IN) and the properties
    ``?v`` must have in the triple patterns of ``where`` where it is the subject."""
    types, properties = set(), set()
    for match in re.finditer(rf"(?:^|(?<=[{{}}.]))\s*\?{variable}\s+([^.{{}}]*)", where):
        for pair in match.group(1).split(";"):
            parts = pair.strip().split(None, 1)
            if len(parts) != 2:
                continue
            predicate, objects = parts
            if predicate == "a":
                for obj in (o.strip() for o in objects.split(",")):
                    listed = _class_values(where, obj, prefixes) if obj.startswith("?") else None
                    types |= listed if listed is not None else {_iri(obj, prefixes)}
            elif not predicate.startswith("?"):
                properties.add(_iri(predicate, prefixes))
    return {t for t in types if t}, {p for p in properties if p}


def _class_values(where: str, variable: str, prefixes: dict[str, str]) -> set[str]:
    """The constants a variable is restricted to by ``VALUES ?k { ... }`` or ``FILTER(?k IN (...))``."""
    name = re.escape(variable)
    found = re.search(rf"VALUES\s+{name}\s*\{{([^}}]*)\}}", where, re.IGNORECASE) or re.search(
        rf"{name}\s+IN\s*\(([^)]*)\)", where, re.IGNORECASE)
    return {_iri(t, prefixes) for t in re.split(r"[\s,]+", found.group(1)) if t} if found else set()


def _iri(token: str, prefixes: dict[str, str]) -> str:
    if token.startswith("<") and token.endswith(">"):
        return token[1:-1]
    prefix, colon, local = token.partition(":")
    return prefixes[prefix] + local if colon and prefix in prefixes else ""
