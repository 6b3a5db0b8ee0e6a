"""The terms the rules derive, read from their INSERT templates: what patient data may not state.

:func:`derived_terms` gives the predicates and classes the (patient-scope) rules insert. The audit uses them
to tell the facts a run was given from what its engine added; :mod:`guidelinekg.engine.patientcheck` uses them
to keep patient input from stating a derived result (``gkg:holds`` a criterion) that the rules would read.
"""

from __future__ import annotations

import re

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
_CACHE: dict[str, tuple[frozenset[str], frozenset[str]]] = {}


def derived_terms_of(rules) -> tuple[frozenset[str], frozenset[str]]:
    """:func:`derived_terms`, once per rule set (keyed by its hash)."""
    key = rules.sha256
    if key not in _CACHE:
        _CACHE[key] = derived_terms(rules)
    return _CACHE[key]


def derived_terms(rules) -> tuple[frozenset[str], frozenset[str]]:
    """Predicates and classes the rules insert, from their INSERT templates (a variable predicate counts
    with every IRI its BIND can produce). On a recorded patient fact they mark a triple the engine added,
    not one the run was given. Knowledge-scope rules are left out: they insert into the guideline graph
    only (e.g. rule 07's gkg:codeToken on a guideline's codes), never onto a patient's facts, and a patient
    fact may use the same predicate (a condition's gkg:codeToken is input).

    Read by :func:`_update_templates`, a scanner of the SPARQL Update text (a few milliseconds for the
    rules; rdflib's parser and algebra took 2.5 s). ``tests/test_audit.py`` checks it against rdflib's
    algebra on the shipped rules."""
    predicates, classes = set(), set()
    for rule in rules.rules:
        if rule.scope == "knowledge":
            continue
        for template, binds in _update_templates(rule.text):
            for _, p, o in template:
                if p.startswith("?"):
                    predicates |= binds.get(p, set())
                elif p == RDF_TYPE and not o.startswith(("?", '"')):
                    classes.add(o)
                elif p != RDF_TYPE:
                    predicates.add(p)
    return frozenset(predicates), frozenset(classes)


_TOKEN = re.compile(r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<iri><[^<>"{}|^`\\\x00-\x20]*>)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<var>[?$][A-Za-z0-9_]+)
  | (?P<name>(?:[A-Za-z][\w.-]*)?:[\w.-]*|[A-Za-z_][\w-]*)
  | (?P<number>[+-]?[0-9][0-9.eE+-]*)
  | (?P<punct>\^\^|&&|\|\||[!<>=]=?|[{}()\[\];,.*/+@?|^-])
""", re.VERBOSE)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, at = [], 0
    while at < len(text):
        m = _TOKEN.match(text, at)
        if m is None:
            raise ValueError(f"cannot read the rule at {text[at:at + 30]!r}")
        if m.lastgroup != "ws":
            out.append((m.lastgroup, m.group()))
        at = m.end()
    return out


def _update_templates(text: str) -> list[tuple[list[tuple[str, str, str]], dict[str, set[str]]]]:
    """Each INSERT template of a SPARQL Update as (subject, predicate, object) terms (IRIs expanded,
    ``a`` as rdf:type, variables as ``?name``), with the IRIs each variable's BINDs in the operation use."""
    tokens, prefixes = _tokens(text), {}
    for i, (kind, value) in enumerate(tokens):
        if value.upper() == "PREFIX" and kind == "name":
            prefixes[tokens[i + 1][1].rstrip(":")] = tokens[i + 2][1][1:-1]

    def term(kind: str, value: str) -> str:
        if kind == "iri":
            return value[1:-1]
        if kind == "name" and ":" in value:
            prefix, local = value.split(":", 1)
            return prefixes[prefix] + local
        if kind == "name" and value == "a":
            return RDF_TYPE
        return "?" + value[1:] if kind == "var" else value

    operations: list[list[int]] = [[]]  # token positions of each operation, split at top-level ';'
    depth = 0
    for i, (kind, value) in enumerate(tokens):
        depth += {"{": 1, "}": -1}.get(value, 0) if kind == "punct" else 0
        if depth == 0 and value == ";" and kind == "punct":
            operations.append([])
        else:
            operations[-1].append(i)
    out = []
    for positions in operations:
        op = [tokens[i] for i in positions]
        binds: dict[str, set[str]] = {}
        for i, (kind, value) in enumerate(op):
            if kind == "name" and value.upper() == "BIND":
                end, depth = i + 1, 0
                while True:
                    depth += {"(": 1, ")": -1}.get(op[end][1], 0) if op[end][0] == "punct" else 0
                    if depth == 0:
                        break
                    end += 1
                inner = op[i + 2:end]
                var = "?" + inner[-1][1][1:]
                iris = {term(k, v) for k, v in inner[:-2] if k == "iri" or (k == "name" and ":" in v)}
                binds.setdefault(var, set()).update(iris)
        for i, (kind, value) in enumerate(op):
            if kind == "name" and value.upper() == "INSERT":
                start = i + 2 if op[i + 1][1].upper() == "DATA" else i + 1
                out.append((_triples(op, start, term), binds))
    return out


def _triples(op: list[tuple[str, str]], start: int, term) -> list[tuple[str, str, str]]:
    """The triples of the template opening at ``op[start]`` ('{'); GRAPH blocks inside count too."""
    triples: list[tuple[str, str, str]] = []
    i, depth, stack = start + 1, 1, []  # stack: subjects of [ ] blank node property lists
    subject = predicate = None
    blank = 0
    while depth:
        kind, value = op[i]
        if kind == "punct" and value == "{":
            depth, subject, predicate = depth + 1, None, None
        elif kind == "punct" and value == "}":
            depth, subject, predicate = depth - 1, None, None
        elif kind == "name" and value.upper() == "GRAPH":
            i += 1  # the graph name
        elif kind == "punct" and value == ".":
            subject = predicate = None
        elif kind == "punct" and value == ";":
            predicate = None
        elif kind == "punct" and value == ",":
            pass
        elif kind == "punct" and value == "[":
            blank += 1
            node = f"_:b{blank}"
            if subject is not None and predicate is not None:
                triples.append((subject, predicate, node))
            stack.append((subject, predicate))
            subject, predicate = node, None
        elif kind == "punct" and value == "]":
            subject, predicate = stack.pop()
        elif kind == "punct" and value in "()":
            raise ValueError("a collection in an INSERT template is not read")
        elif kind == "punct" and value == "^^":
            i += 1  # a literal's datatype
        elif kind == "punct" and value == "@":
            i += 1  # a language tag
        elif subject is None:
            subject = term(kind, value)
        elif predicate is None:
            predicate = term(kind, value)
        else:
            triples.append((subject, predicate, term(kind, value)))
        i += 1
    return triples
