"""Lint: every term of the vocabulary's namespace that content uses must be one the vocabulary defines.

The rules match terms exactly: content that says ``gkg:sex`` or ``gkg:thresholdValu`` (a term in the
``gkg:`` namespace that ``ontology/*.ttl`` does not define) passes the syntax check and SHACL (an unknown
property is simply not constrained), and every rule that reads the intended term then finds nothing, so
the statements that depend on it drop out of the report without a word. ``undefined-term`` names each
such use, on the line where the term is written, with the closest defined term of the same kind (a
property for a predicate, a class for a type) as the fix; a value of a property whose range the vocabulary
enumerates (``gkg:route gkg:Intramuscular``) is compared with that range's terms, and when none is close
they are listed (``known routes: gkg:Intravenous, gkg:Oral``).

:func:`statement_line` is the line any triple is written on, for the findings of other checks located at a
triple rather than at the node's first line (a reference to an undefined IRI, a gkg:equivalentMeasure link).
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from pyoxigraph import Literal, NamedNode

from guidelinekg.content import resources
from guidelinekg.content.loading import Content, Finding

GKG = "https://w3id.org/guidelinekg/ontology#"
RDF_TYPE = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
OWL = "http://www.w3.org/2002/07/owl#"
PROPERTY_TYPES = {OWL + "ObjectProperty", OWL + "DatatypeProperty", OWL + "AnnotationProperty"}
CLASS_TYPES = {OWL + "Class", "http://www.w3.org/2000/01/rdf-schema#Class"}
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
RDFS_RANGE, RDFS_LABEL = NamedNode(RDFS + "range"), NamedNode(RDFS + "label")


def undefined_term_findings(content: Content) -> list[Finding]:
    """``undefined-term`` errors: one per node and undefined term it uses (none without the vocabulary)."""
    vocabulary = {f.resolve() for f in resources.vocabulary_files()}
    vocabulary_graphs = {s.graph for s in content.files if s.path.resolve() in vocabulary}
    if not vocabulary_graphs:
        return []  # nothing to compare with
    kinds: dict[str, str] = {}  # defined term -> "property", "class" or "other"
    members: dict[str, list[str]] = defaultdict(list)  # a class -> the terms typed with it
    for graph in vocabulary_graphs:
        for quad in content.store.quads_for_pattern(None, None, None, graph):
            term = quad.subject
            if isinstance(term, NamedNode) and term.value.startswith(GKG):
                kind = kinds.get(term.value, "other")
                if quad.predicate == RDF_TYPE and isinstance(quad.object, NamedNode):
                    kind = ("property" if quad.object.value in PROPERTY_TYPES
                            else "class" if quad.object.value in CLASS_TYPES else kind)  # fmt: skip
                    members[quad.object.value].append(term.value)
                kinds[term.value] = kind
    uses: dict[tuple, dict[str, str]] = defaultdict(dict)  # (subject, term) -> {role: path}
    graphs: dict[tuple, object] = {}  # (subject, term) -> the graph (file) of its first use
    for quad in content.store.quads_for_pattern(None, None, None, None):
        if quad.graph_name in vocabulary_graphs:
            continue
        for role, term in (("subject", quad.subject), ("property", quad.predicate), ("object", quad.object)):
            if isinstance(term, NamedNode) and term.value.startswith(GKG) and term.value not in kinds:
                if role == "object" and quad.predicate == RDF_TYPE:
                    role = "class"
                uses[(quad.subject, term.value)].setdefault(role, quad.predicate)
                graphs.setdefault((quad.subject, term.value), quad.graph_name)
    findings, texts = [], {}
    for (subject, term), roles in uses.items():
        role = next(r for r in ("property", "class", "object", "subject") if r in roles)
        compact = content.compact(NamedNode(term))
        known = _known_values(content, vocabulary_graphs, members, roles[role]) if role == "object" else None
        message = (f"{compact} is not a term of the vocabulary (ontology/gkg.ttl, ontology/patient.ttl), "
                   "so no rule reads it and what depends on it drops out of the report: "
                   + _fix(term, role, kinds, known))  # fmt: skip
        finding = content.finding(subject, "error", "lint", "undefined-term", message,
                                  path=content.compact(roles[role]), value=compact)  # fmt: skip
        source = next(s for s in content.files if s.graph == graphs[(subject, term)])
        start = finding.line if source.display == finding.file else None  # the subject is described elsewhere
        line = _term_line(content, texts, source.path, start, term)
        findings.append(replace(finding, file=source.display, line=line or start))
    return findings


def _known_values(content: Content, graphs: set, members: dict[str, list[str]], predicate) -> tuple | None:
    """``(name, terms)``: the vocabulary's terms of the class that is the range of ``predicate`` (its
    label in the plural, e.g. "routes", and its members), or None when the range is no such list."""
    for graph in graphs:
        for quad in content.store.quads_for_pattern(predicate, RDFS_RANGE, None, graph):
            terms = sorted(members.get(quad.object.value, ()))
            if not terms:
                continue
            labels = [q.object.value for q in content.store.quads_for_pattern(quad.object, RDFS_LABEL, None, graph)
                      if getattr(q.object, "language", None) in (None, "", "en")]  # fmt: skip
            if not labels:
                return f"{content.compact(quad.object)} terms", terms
            name = min(labels)
            plural = (name[:-1] + "ies" if name.endswith("y") and name[-2:-1] not in "aeiou"
                      else name + "es" if name.endswith(("s", "x", "ch", "sh")) else name + "s")  # fmt: skip
            return plural, terms
    return None


def _fix(term: str, role: str, kinds: dict[str, str], known: tuple | None = None) -> str:
    """The closest defined terms of the kind the use needs (any kind when none is close); for a value of
    a property whose range the vocabulary lists (``known``), the closest of those, else the list."""
    local = term[len(GKG) :]
    if known is not None:
        name, terms = known
        names = {t[len(GKG) :].lower(): t[len(GKG) :] for t in terms}
        close = difflib.get_close_matches(local.lower(), names, n=1, cutoff=0.75)
        if close:
            return f"did you mean gkg:{names[close[0]]}?"
        return f"unknown term gkg:{local}; known {name}: " + ", ".join(f"gkg:{names[n]}" for n in sorted(names))  # fmt: skip
    wanted = {"property": "property", "class": "class"}.get(role)
    pools = [[t for t, k in kinds.items() if k == wanted]] if wanted else []
    pools.append(list(kinds))
    for pool in pools:
        names = {t[len(GKG) :].lower(): t[len(GKG) :] for t in pool}
        close = difflib.get_close_matches(local.lower(), names, n=1, cutoff=0.75)
        if not close and len(local) >= 3:  # a term named by a part of it: gkg:sex for gkg:requiresSex
            ratio = lambda n: difflib.SequenceMatcher(None, local.lower(), n).ratio()
            close = sorted((n for n in names if local.lower() in n), key=lambda n: (-ratio(n), n))[:2]
        if close:
            return "did you mean " + " or ".join(f"gkg:{names[c]}" for c in close) + "?"
    kind = {"property": "a property", "class": "a class"}.get(role, "a term")
    return (f"use {kind} the vocabulary defines, or name a term of your own in your guideline's namespace "
            "(the engine reads only the vocabulary's)")


def _term_line(content: Content, texts: dict, path: Path, start: int | None, term: str) -> int | None:
    """The first line at or after ``start`` (the subject's line) of the file that writes ``term``;
    ``texts`` keeps the lines of the files read so far."""
    spellings = [re.escape(f"<{term}>")] + [
        rf"(?<![\w:-]){re.escape(prefix)}:{re.escape(term[len(namespace):])}(?![\w-])"
        for prefix, namespace in content.prefixes.items() if namespace == GKG
    ]  # fmt: skip
    pattern = re.compile("|".join(spellings))
    if path not in texts:
        texts[path] = path.read_text(encoding="utf-8", errors="replace").splitlines()
    lines = texts[path]
    for number in range(start or 1, len(lines) + 1):
        if pattern.search(lines[number - 1]):
            return number
    return None


def statement_line(content: Content, quad, texts: dict) -> tuple[str, int | None]:
    """``(file, line)`` where ``quad`` is written: its file, and the first line from its subject's (the
    named subject's, or the file's start) that writes the object (else the property); ``texts`` caches
    the files' lines."""
    source = next((s for s in content.files if s.graph == quad.graph_name), None)
    if source is None:
        return "", None
    named = isinstance(quad.subject, NamedNode)
    start = content._lines.get((source.display, quad.subject.value)) if named else None
    if source.path not in texts:
        texts[source.path] = source.path.read_text(encoding="utf-8", errors="replace").splitlines()
    lines = texts[source.path]
    for term in (quad.object, quad.predicate):
        pattern = _spelling(content, term)
        if pattern is None:
            continue
        found = next((n for n in range(start or 1, len(lines) + 1) if pattern.search(lines[n - 1])), None)
        if found is not None:
            return source.display, found
    return source.display, start


def _spelling(content: Content, term) -> re.Pattern | None:
    """A pattern matching how Turtle may write ``term`` (an IRI in full or with a prefix; a literal)."""
    if isinstance(term, Literal):
        return re.compile(rf"""(["']){re.escape(term.value)}\1|(?<![\w."'+-]){re.escape(term.value)}(?![\w"'])""")
    if not isinstance(term, NamedNode):
        return None
    spellings = [re.escape(f"<{term.value}>")] + [
        rf"(?<![\w:-]){re.escape(prefix)}:{re.escape(term.value[len(namespace):])}(?![\w-])"
        for prefix, namespace in content.prefixes.items() if namespace and term.value.startswith(namespace)
    ]  # fmt: skip
    return re.compile("|".join(spellings))
