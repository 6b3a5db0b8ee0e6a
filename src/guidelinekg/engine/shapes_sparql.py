"""Compile the SHACL Core subset used by ``shapes/patient.ttl`` to SPARQL SELECT queries.

pySHACL costs about 0.6 ms per patient, as much as a tenth of a cohort run. The patient shapes use a small
part of SHACL Core, and each of its constraints is one SPARQL pattern, so they are compiled once and run on
the store that already holds a chunk's patients (Oxigraph: a few microseconds per patient).

Supported, exactly (anything else in a shape raises :class:`ConfigurationError`, never a silent pass):

* node shapes with ``sh:targetClass`` (instances of subclasses too, through ``rdfs:subClassOf*`` in the
  data, as SHACL says) and ``sh:property``;
* property shapes with an IRI ``sh:path`` and ``sh:minCount``, ``sh:maxCount``, ``sh:datatype``,
  ``sh:class``, ``sh:nodeKind``, ``sh:in`` and ``sh:or`` of shapes that each hold only ``sh:datatype``;
* ``sh:message`` and ``sh:severity`` (default ``sh:Violation``); ``rdfs:comment``, ``rdfs:label``,
  ``sh:name``, ``sh:description`` are documentation;
* for ``shapes/provenance.ttl`` (``guidelinekg audit``): a node shape's own ``sh:or`` and ``sh:not`` and a
  property shape's ``sh:qualifiedValueShape`` with ``sh:qualifiedMinCount``, whose shapes may use
  ``sh:class``, ``sh:hasValue``, ``sh:not``, ``sh:or`` and (with an IRI ``sh:path``) ``sh:minCount`` 0 or 1
  (:func:`guidelinekg.engine.shapes_constraints.conforms`); and ``compile_shapes(..., vocabulary=...)``
  validates the data under their RDFS entailments by that vocabulary, rewritten into each pattern.

Each query returns ``?focus ?path ?message ?severity ?value`` (``?value`` unbound for counts), one row per
SHACL validation result; the source shape and constraint component come with the compiled query. A node
shape's own constraint reports no path and the focus node as its value, as pySHACL does. The constraints
themselves, the shapes reader and the entailment regimes are :mod:`guidelinekg.engine.shapes_constraints`.

``sh:datatype`` follows SHACL: a literal matches when its datatype is the IRI and its lexical form is in
the datatype's lexical space (XSD 1.1 patterns, plus a cast for calendar validity such as 2023-02-30).
pySHACL decides well-formedness with Python's parsers, which are looser for a few forms (``"2026-01-20"``
typed ``xsd:dateTime``, ``"1e3"`` typed ``xsd:decimal``) and stricter for others (years beyond 9999);
``tests/test_cohort_shapes.py`` pins each of these differences.

>>> shapes = compile_shapes(TURTLE_EXAMPLE)
>>> [q.component.rsplit("#", 1)[1] for q in shapes.queries]
['MinCountConstraintComponent']
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox

from guidelinekg.engine.shapes_constraints import (  # noqa: F401  (re-exported: the compiled subset)
    COUNT_CONSTRAINT_MAP,
    COUNT_CONSTRAINTS,
    LEXICAL_SPACE,
    NODE_CONSTRAINT_MAP,
    NODE_KINDS,
    QUALIFIED,
    RDF,
    RDFS,
    SH,
    SPEC,
    VALUE_CONSTRAINT_MAP,
    VALUE_CONSTRAINTS,
    XSD,
    Plain,
    Rdfs,
    _count,
    _Shapes,
    _short,
    _unsupported,
    conforms,
    conforms_pattern,
    node_condition,
)
from guidelinekg.errors import ConfigurationError

TURTLE_EXAMPLE = """@prefix sh: <http://www.w3.org/ns/shacl#> . @prefix ex: <https://example.org/> .
ex:S a sh:NodeShape ; sh:targetClass ex:C ; sh:property [ sh:path ex:p ; sh:minCount 1 ] ."""

# Documentation predicates: allowed on any shape, never validate anything.
DOCUMENTATION = frozenset({RDF + "type", RDFS + "comment", RDFS + "label", SH + "name", SH + "description"})
NODE_SHAPE_PREDICATES = frozenset({SH + "targetClass", SH + "property", SH + "message", SH + "severity"}) | \
    DOCUMENTATION | NODE_CONSTRAINT_MAP.keys()
PROPERTY_SHAPE_PREDICATES = frozenset({SH + "path", SH + "message", SH + "severity"}) | DOCUMENTATION


@dataclass(frozen=True)
class Violation:
    """One validation result; terms in N-Triples form (``<iri>``, ``"lex"^^<dt>``, ``_:b``)."""

    focus: str
    path: str | None  # None for a node shape's own constraint
    shape: str
    component: str
    severity: str
    message: str
    value: str | None = None


@dataclass(frozen=True)
class CompiledQuery:
    """One SELECT returning the violations of one constraint of one property shape."""

    shape: str  # the property shape (N-Triples term)
    component: str  # sh:...ConstraintComponent IRI
    sparql: str
    # A SELECT ?focus of the only focus nodes that may violate (None: any may). When it finds none, ``sparql``
    # is not run; when it finds IRIs, ``sparql`` runs for them alone (a VALUES block after its HEAD).
    # Oxigraph evaluates a NOT EXISTS or OPTIONAL over the whole graph before joining it, even when the
    # rows it would filter are few or none; bound first, it follows the bindings.
    candidates: str | None = None


@dataclass(frozen=True)
class CompiledShapes:
    """A shapes graph compiled to queries; plain data, so it travels to worker processes as it is."""

    queries: tuple[CompiledQuery, ...]
    sha256: str

    def validate(self, store) -> list[Violation]:
        """Run every query on ``store`` (a pyoxigraph ``Store`` or a :class:`guidelinekg.engine.store.RuleStore`).

        Returns:
            The violations, sorted.
        """
        out: list[Violation] = []
        for q in self.queries:
            sparql = q.sparql
            if q.candidates is not None:
                focus_nodes = sorted({row[0] for row in _select_focus(store, q.candidates)})
                if not focus_nodes:
                    continue
                if all(f.startswith("<") for f in focus_nodes):
                    sparql = sparql.replace(HEAD, f"{HEAD}\n  VALUES ?focus {{ {' '.join(focus_nodes)} }}", 1)
            for focus, path, message, severity, value in _select(store, sparql):
                out.append(Violation(focus, path, q.shape, q.component, severity, message, value))
        return sorted(out, key=lambda v: (v.focus, v.path or "", v.shape, v.component, v.value or ""))


def _select(store, sparql: str) -> list[tuple[str, str | None, str, str, str | None]]:
    """Rows of (focus, path, message, severity, value): focus and value as N-Triples, the rest plain."""
    if isinstance(store, ox.Store):
        return [(str(s["focus"]), None if s["path"] is None else s["path"].value, s["message"].value,
                 s["severity"].value, None if s["value"] is None else str(s["value"]))
                for s in store.query(sparql)]
    return [(r["focus"].n3, r["path"].value if "path" in r else None, r["message"].value, r["severity"].value,
             r["value"].n3 if "value" in r else None) for r in store.select(sparql)]


def _select_focus(store, sparql: str) -> list[tuple[str]]:
    """Rows of (focus,) as N-Triples terms."""
    if isinstance(store, ox.Store):
        return [(str(s["focus"]),) for s in store.query(sparql)]
    return [(r["focus"].n3,) for r in store.select(sparql)]


# --- the compiler -----------------------------------------------------------------------------------------


def _string(value: str) -> str:
    return str(ox.Literal(value))


def _bindings(path: str | None, message: str, severity: str) -> str:
    bound = f"BIND(<{path}> AS ?path) " if path is not None else ""
    return f"{bound}BIND({_string(message)} AS ?message) BIND(<{severity}> AS ?severity)"


def _message(shapes: _Shapes, shape) -> tuple[str, str]:
    messages = [m.value for m in shapes.objects(shape, SH + "message")]
    severities = shapes.objects(shape, SH + "severity")
    return "; ".join(messages) or "SHACL constraint not met", severities[0].value if severities else SH + "Violation"


HEAD = "SELECT DISTINCT ?focus ?path ?message ?severity ?value WHERE {"


def compile_shapes(turtle: str | bytes | Path, vocabulary: Iterable[ox.Triple] | None = None) -> CompiledShapes:
    """Compile a SHACL shapes graph (Turtle text, or a file) into queries.

    Args:
        vocabulary: the triples of an RDFS vocabulary: the queries then validate the data as if their
            RDFS entailments under it were added (:class:`guidelinekg.engine.shapes_constraints.Rdfs`);
            ``None``: the data as they are.

    Raises:
        ConfigurationError: a syntax error, or a shape uses SHACL beyond the supported subset.
    """
    if isinstance(turtle, Path):
        data, where = turtle.read_bytes(), str(turtle)
    else:
        data, where = (turtle.encode() if isinstance(turtle, str) else turtle), "<shapes>"
    store = ox.Store()
    try:
        store.load(data, format=ox.RdfFormat.TURTLE)
    except SyntaxError as exc:
        raise ConfigurationError(f"{where}:{exc.lineno}:{exc.offset}: Turtle syntax error: {exc.msg}") \
            from None
    regime = Plain() if vocabulary is None else Rdfs(vocabulary)
    shapes = _Shapes(store)
    typed = store.quads_for_pattern(None, ox.NamedNode(RDF + "type"), ox.NamedNode(SH + "NodeShape"))
    targeting = store.quads_for_pattern(None, ox.NamedNode(SH + "targetClass"), None)
    node_shapes = sorted({q.subject for q in typed} | {q.subject for q in targeting}, key=str)
    queries: list[CompiledQuery] = []
    for node in node_shapes:
        label = f"{where}: node shape {node}"
        extra = {p for p in shapes.predicates(node) - NODE_SHAPE_PREDICATES if p.startswith(SH)}
        if extra:
            raise _unsupported(label, ", ".join(sorted(map(_short, extra))), "core-components")
        for target in shapes.objects(node, SH + "targetClass"):
            if not isinstance(target, ox.NamedNode):
                raise ConfigurationError(f"{label}: sh:targetClass must be an IRI")
            queries += _compile_node(shapes, target.value, node, label, regime)
            for prop in shapes.objects(node, SH + "property"):
                queries += _compile_property(shapes, target.value, prop, f"{where}: property shape {prop}", regime)
    text = "\n".join(f"{q.shape} {q.component}\n{q.sparql}" for q in queries)
    return CompiledShapes(tuple(queries), hashlib.sha256(text.encode()).hexdigest())


def _compile_node(shapes: _Shapes, target: str, node, where: str, regime: Plain) -> list[CompiledQuery]:
    """A node shape's own sh:or and sh:not: the focus nodes that fail the condition, reported with
    themselves as the value and no path."""
    message, severity = _message(shapes, node)
    out = []
    for parameter, component in NODE_CONSTRAINT_MAP.items():
        for value in shapes.objects(node, parameter):
            condition = node_condition(shapes, node, parameter, value, f"{where} {_short(parameter)}", regime)
            body = f"{regime.focus(target)}\n  FILTER(!{condition})\n  BIND(?focus AS ?value)"
            out.append(CompiledQuery(str(node), component,
                                     f"{HEAD}\n  {body}\n  {_bindings(None, message, severity)}\n}}"))
    return out


def _compile_property(shapes: _Shapes, target: str, prop, where: str, regime: Plain) -> list[CompiledQuery]:
    known = PROPERTY_SHAPE_PREDICATES | VALUE_CONSTRAINT_MAP.keys() | COUNT_CONSTRAINT_MAP.keys() | set(QUALIFIED)
    extra = {p for p in shapes.predicates(prop) - known if p.startswith(SH)}
    if extra:
        raise _unsupported(where, ", ".join(sorted(map(_short, extra))), "core-components")
    path = shapes.one(prop, SH + "path", where)
    if not isinstance(path, ox.NamedNode):
        raise _unsupported(where, "a sh:path that is not an IRI", "property-paths")
    message, severity = _message(shapes, prop)
    bind = _bindings(path.value, message, severity)
    shape = str(prop)
    out = []
    focus = regime.focus(target)
    for parameter, (component, op) in COUNT_CONSTRAINT_MAP.items():
        for value in shapes.objects(prop, parameter):
            n = _count(value, where, parameter.rsplit("#", 1)[1])
            if op == "<" and n == 0:
                continue  # sh:minCount 0 holds for every focus node
            if op == "<" and n == 1:
                body = f"{focus}\n  FILTER NOT EXISTS {{ {regime.path('?focus', path.value, '?v')} }}"
            elif op == "<":
                counted = f"{focus} OPTIONAL {{ {regime.path('?focus', path.value, '?v')} }}"
                body = (f"{{ SELECT ?focus (COUNT(DISTINCT ?v) AS ?n) WHERE {{ {counted} }}"
                        f" GROUP BY ?focus }}\n  FILTER(?n < {n})")
            elif regime.focus_first:
                body = (f"{{ SELECT ?focus WHERE {{ {focus} {regime.path('?focus', path.value, '?v')} }} "
                        f"GROUP BY ?focus HAVING (COUNT(DISTINCT ?v) > {n}) }}")
            else:  # values are counted first, so only focus nodes with too many are tested for their class
                body = (f"{{ SELECT ?focus WHERE {{ {regime.path('?focus', path.value, '?v')} }} GROUP BY ?focus "
                        f"HAVING (COUNT(DISTINCT ?v) > {n}) }}\n  {focus}")
            out.append(CompiledQuery(shape, component, f"{HEAD}\n  {body}\n  {bind}\n}}"))
    for parameter, (component, compiler) in VALUE_CONSTRAINT_MAP.items():
        for value in shapes.objects(prop, parameter):
            test = compiler(shapes, prop, value, where, regime)
            # the (rare) offending values first, then whether their focus node is targeted
            values = regime.path("?focus", path.value, "?value")
            if regime.focus_first:
                body = f"{{ SELECT DISTINCT ?focus ?value WHERE {{ {focus} {values} {test} }} }}"
            else:
                body = f"{{ SELECT DISTINCT ?focus ?value WHERE {{ {values} {test} }} }}\n  {focus}"
            out.append(CompiledQuery(shape, component, f"{HEAD}\n  {body}\n  {bind}\n}}"))
    out += _compile_qualified(shapes, focus, prop, path.value, where, regime, bind)
    return out


def _compile_qualified(shapes: _Shapes, focus: str, prop, path: str, where: str, regime: Plain,
                       bind: str) -> list[CompiledQuery]:
    """sh:qualifiedMinCount: fewer values than required conform to the sh:qualifiedValueShape."""
    inner, minimum = (shapes.objects(prop, p) for p in QUALIFIED)
    if not inner and not minimum:
        return []
    if len(inner) != 1 or len(minimum) != 1:
        raise _unsupported(where, "sh:qualifiedValueShape without exactly one sh:qualifiedMinCount",
                           "QualifiedValueShapeConstraintComponent")
    n = _count(minimum[0], where, "qualifiedMinCount")
    if n == 0:
        return []
    label = f"{where} sh:qualifiedValueShape"
    patterns = conforms_pattern(shapes, inner[0], "?v", label, regime, 1)
    values = regime.path("?focus", path, "?v")
    candidates = None
    if patterns is not None and n == 1:
        # the focus nodes with a value that conforms by the first (cheapest) pattern are taken out at once;
        # the other patterns are tried only for the focus nodes left (usually none): they are the query's
        # candidates, so the NOT EXISTS run only when some are left, and then for them alone
        first = f"SELECT ?focus WHERE {{ {focus} MINUS {{ {focus} {values} {{ {patterns[0]} }} }} }}"
        candidates = first if len(patterns) > 1 else None
        body = f"{{ {first} }}"
        for i in range(1, len(patterns)):
            term = f"?_q{i}"
            other = conforms_pattern(shapes, inner[0], term, label, regime, 1)[i]
            body += f"\n  FILTER NOT EXISTS {{ {regime.path('?focus', path, term)} {{ {other} }} }}"
    else:
        if patterns is not None:
            union = " UNION ".join(f"{{ {p} }}" for p in patterns)
            conforming = f"{{ SELECT DISTINCT ?focus ?v WHERE {{ {focus} {values} {{ {union} }} }} }}"
        else:
            conforming = f"{values} FILTER({conforms(shapes, inner[0], '?v', label, regime, 1)})"
        counted = f"{focus} OPTIONAL {{ {conforming} }}"
        body = f"{{ SELECT ?focus (COUNT(DISTINCT ?v) AS ?n) WHERE {{ {counted} }} GROUP BY ?focus }}\n  FILTER(?n < {n})"
    return [CompiledQuery(str(prop), SH + "QualifiedMinCountConstraintComponent", f"{HEAD}\n  {body}\n  {bind}\n}}",
                          candidates)]


def load_patient_shapes() -> CompiledShapes:
    """The shipped ``shapes/patient.ttl``, compiled."""
    from guidelinekg.content.resources import shapes_dir

    return compile_shapes(shapes_dir() / "patient.ttl")
