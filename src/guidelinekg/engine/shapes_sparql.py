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
  ``sh:name``, ``sh:description`` are documentation.

Each query returns ``?focus ?path ?message ?severity ?value`` (``?value`` unbound for counts), one row per
SHACL validation result; the source shape and constraint component come with the compiled query.

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox

from guidelinekg.errors import ConfigurationError

SH = "http://www.w3.org/ns/shacl#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
SPEC = "https://www.w3.org/TR/shacl/"

TURTLE_EXAMPLE = """@prefix sh: <http://www.w3.org/ns/shacl#> . @prefix ex: <https://example.org/> .
ex:S a sh:NodeShape ; sh:targetClass ex:C ; sh:property [ sh:path ex:p ; sh:minCount 1 ] ."""

# Documentation predicates: allowed on any shape, never validate anything.
DOCUMENTATION = frozenset({RDF + "type", RDFS + "comment", RDFS + "label", SH + "name", SH + "description"})
NODE_SHAPE_PREDICATES = frozenset({SH + "targetClass", SH + "property"}) | DOCUMENTATION
PROPERTY_SHAPE_PREDICATES = frozenset({SH + "path", SH + "message", SH + "severity"}) | DOCUMENTATION

# XSD 1.1 lexical spaces of the datatypes the shapes use (Part 2, sections 3.3.x); the cast in
# _lexical_test rejects what a pattern cannot (day 30 of February, hour 24 with minutes).
_TZ = r"(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))?"
_DATE = r"-?([1-9][0-9]{3,}|0[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_DECIMAL = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)"
_FLOATING = rf"({_DECIMAL}([Ee][+-]?[0-9]+)?|[+-]?INF|NaN)"
LEXICAL_SPACE: dict[str, str | None] = {
    XSD + "string": None,  # every string is a lexical form
    XSD + "date": _DATE + _TZ,
    XSD + "dateTime": _DATE + r"T(([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?|24:00:00(\.0+)?)" + _TZ,
    XSD + "decimal": _DECIMAL,
    XSD + "integer": r"[+-]?[0-9]+",
    XSD + "double": _FLOATING,
    XSD + "float": _FLOATING,
}
NODE_KINDS = {
    SH + "IRI": "isIRI(?value)",
    SH + "Literal": "isLiteral(?value)",
    SH + "BlankNode": "isBlank(?value)",
    SH + "BlankNodeOrIRI": "(isBlank(?value) || isIRI(?value))",
    SH + "BlankNodeOrLiteral": "(isBlank(?value) || isLiteral(?value))",
    SH + "IRIOrLiteral": "(isIRI(?value) || isLiteral(?value))",
}


@dataclass(frozen=True)
class Violation:
    """One validation result; terms in N-Triples form (``<iri>``, ``"lex"^^<dt>``, ``_:b``)."""

    focus: str
    path: str
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
            for focus, path, message, severity, value in _select(store, q.sparql):
                out.append(Violation(focus, path, q.shape, q.component, severity, message, value))
        return sorted(out, key=lambda v: (v.focus, v.path, v.shape, v.component, v.value or ""))


def _select(store, sparql: str) -> list[tuple[str, str, str, str, str | None]]:
    """Rows of (focus, path, message, severity, value): focus and value as N-Triples, the rest plain."""
    if isinstance(store, ox.Store):
        return [(str(s["focus"]), s["path"].value, s["message"].value, s["severity"].value,
                 None if s["value"] is None else str(s["value"])) for s in store.query(sparql)]
    return [(r["focus"].n3, r["path"].value, r["message"].value, r["severity"].value,
             r["value"].n3 if "value" in r else None) for r in store.select(sparql)]


# --- reading the shapes graph ---------------------------------------------------------------------------


class _Shapes:
    """The shapes graph with the few accessors the compiler needs."""

    def __init__(self, store: ox.Store):
        self.store = store

    def objects(self, subject, predicate: str) -> list:
        quads = self.store.quads_for_pattern(subject, ox.NamedNode(predicate), None)
        return sorted((q.object for q in quads), key=str)

    def one(self, subject, predicate: str, where: str):
        values = self.objects(subject, predicate)
        if len(values) != 1:
            raise ConfigurationError(f"{where}: expected one {_short(predicate)}, found {len(values)}")
        return values[0]

    def predicates(self, subject) -> set[str]:
        return {q.predicate.value for q in self.store.quads_for_pattern(subject, None, None)}

    def items(self, head, where: str) -> list:
        """The members of an RDF list."""
        out, node, nil = [], head, ox.NamedNode(RDF + "nil")
        while node != nil:
            out.append(self.one(node, RDF + "first", f"{where} (a list)"))
            node = self.one(node, RDF + "rest", f"{where} (a list)")
        return out


def _short(iri: str) -> str:
    for prefix, ns in (("sh:", SH), ("rdf:", RDF), ("rdfs:", RDFS), ("xsd:", XSD)):
        if iri.startswith(ns):
            return prefix + iri[len(ns):]
    return f"<{iri}>"


def _unsupported(where: str, what: str, section: str) -> ConfigurationError:
    return ConfigurationError(
        f"{where}: {what} is not supported by the SPARQL compiler of the patient shapes "
        f"(guidelinekg.engine.shapes_sparql); extend the compiler or validate with pySHACL. "
        f"For reference, see {SPEC}#{section}")


# --- value constraints: each compiles to a pattern that keeps the ?value that violate it ------------------


def _lexical_test(datatype: str, where: str) -> str:
    """A SPARQL expression, true when ``?value`` is a well-formed literal of ``datatype``."""
    if datatype not in LEXICAL_SPACE:
        raise _unsupported(where, f"sh:datatype {_short(datatype)} (no lexical check compiled for it)",
                           "DatatypeConstraintComponent")
    pattern = LEXICAL_SPACE[datatype]
    test = f"(isLiteral(?value) && datatype(?value) = <{datatype}>"
    if pattern is not None:
        regex = pattern.replace("\\", "\\\\")
        test += f' && REGEX(STR(?value), "^({regex})$") && COALESCE(isLiteral({_cast(datatype)}), false)'
    return test + ")"


def _cast(datatype: str) -> str:
    """A cast that fails for a value outside the calendar (or out of range). SPARQL 1.1 requires casts to
    xsd:dateTime but not to xsd:date, so a date is checked as the dateTime of its midnight."""
    if datatype == XSD + "date":
        without_zone = 'REPLACE(STR(?value), "(Z|[+-][0-9][0-9]:[0-9][0-9])$", "")'
        return f'<{XSD}dateTime>(CONCAT({without_zone}, "T00:00:00"))'
    return f"<{datatype}>(STR(?value))"


def _datatype(shapes: _Shapes, shape, value, where: str) -> str:
    if not isinstance(value, ox.NamedNode):
        raise ConfigurationError(f"{where}: sh:datatype must be an IRI")
    return f"FILTER(!{_lexical_test(value.value, where)})"


def _class(shapes: _Shapes, shape, value, where: str) -> str:
    if not isinstance(value, ox.NamedNode):
        raise ConfigurationError(f"{where}: sh:class must be an IRI")
    # MINUS: the instances of the class are found once, not once per value
    return f"MINUS {{ ?value <{RDF}type>/<{RDFS}subClassOf>* <{value.value}> }}"


def _node_kind(shapes: _Shapes, shape, value, where: str) -> str:
    if value.value not in NODE_KINDS:
        raise ConfigurationError(f"{where}: sh:nodeKind {value} is not a SHACL node kind")
    return f"FILTER(!{NODE_KINDS[value.value]})"


def _in(shapes: _Shapes, shape, value, where: str) -> str:
    members = shapes.items(value, f"{where} sh:in")
    if any(isinstance(m, ox.BlankNode) for m in members):
        raise ConfigurationError(f"{where}: sh:in members must be IRIs or literals")
    # sameTerm, not '=' or IN: SHACL compares RDF terms, so 1 and 1.0 differ
    return "FILTER(!(" + " || ".join(f"sameTerm(?value, {m})" for m in members) + "))" if members else ""


def _or(shapes: _Shapes, shape, value, where: str) -> str:
    tests = []
    for member in shapes.items(value, f"{where} sh:or"):
        extra = shapes.predicates(member) - {SH + "datatype", RDF + "type"}
        if extra:
            what = "a member shape with " + ", ".join(sorted(map(_short, extra)))
            raise _unsupported(f"{where} sh:or", what, "OrConstraintComponent")
        dt = shapes.one(member, SH + "datatype", f"{where} sh:or member")
        tests.append(_lexical_test(dt.value, where))
    return "FILTER(!(" + " || ".join(tests) + "))" if tests else ""


def _count(value, where: str, name: str) -> int:
    if not (isinstance(value, ox.Literal) and value.datatype.value == XSD + "integer"):
        raise ConfigurationError(f"{where}: sh:{name} must be an xsd:integer")
    return int(value.value)


ValueCompiler = Callable[[_Shapes, object, object, str], str]

# The registry: (parameter, component, compiler) for constraints on each value node, and the two counts.
VALUE_CONSTRAINTS: list[tuple[str, str, ValueCompiler]] = [
    (SH + "datatype", SH + "DatatypeConstraintComponent", _datatype),
    (SH + "class", SH + "ClassConstraintComponent", _class),
    (SH + "nodeKind", SH + "NodeKindConstraintComponent", _node_kind),
    (SH + "in", SH + "InConstraintComponent", _in),
    (SH + "or", SH + "OrConstraintComponent", _or),
]
COUNT_CONSTRAINTS: list[tuple[str, str, str]] = [
    (SH + "minCount", SH + "MinCountConstraintComponent", "<"),
    (SH + "maxCount", SH + "MaxCountConstraintComponent", ">"),
]
VALUE_CONSTRAINT_MAP = {p: (c, f) for p, c, f in VALUE_CONSTRAINTS}
COUNT_CONSTRAINT_MAP = {p: (c, op) for p, c, op in COUNT_CONSTRAINTS}


# --- the compiler -----------------------------------------------------------------------------------------


def _string(value: str) -> str:
    return str(ox.Literal(value))


def _focus(target: str) -> str:
    return f"?focus <{RDF}type>/<{RDFS}subClassOf>* <{target}> ."


def _bindings(path: str, message: str, severity: str) -> str:
    return f"BIND(<{path}> AS ?path) BIND({_string(message)} AS ?message) BIND(<{severity}> AS ?severity)"


def compile_shapes(turtle: str | bytes | Path) -> CompiledShapes:
    """Compile a SHACL shapes graph (Turtle text, or a file) into queries.

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
            for prop in shapes.objects(node, SH + "property"):
                queries += _compile_property(shapes, target.value, prop, f"{where}: property shape {prop}")
    text = "\n".join(f"{q.shape} {q.component}\n{q.sparql}" for q in queries)
    return CompiledShapes(tuple(queries), hashlib.sha256(text.encode()).hexdigest())


def _compile_property(shapes: _Shapes, target: str, prop, where: str) -> list[CompiledQuery]:
    known = PROPERTY_SHAPE_PREDICATES | VALUE_CONSTRAINT_MAP.keys() | COUNT_CONSTRAINT_MAP.keys()
    extra = {p for p in shapes.predicates(prop) - known if p.startswith(SH)}
    if extra:
        raise _unsupported(where, ", ".join(sorted(map(_short, extra))), "core-components")
    path = shapes.one(prop, SH + "path", where)
    if not isinstance(path, ox.NamedNode):
        raise _unsupported(where, "a sh:path that is not an IRI", "property-paths")
    messages = [m.value for m in shapes.objects(prop, SH + "message")]
    message = "; ".join(messages) or "SHACL constraint not met"
    severities = shapes.objects(prop, SH + "severity")
    severity = severities[0].value if severities else SH + "Violation"
    bind = _bindings(path.value, message, severity)
    shape = str(prop)
    out = []
    head = "SELECT DISTINCT ?focus ?path ?message ?severity ?value WHERE {"
    for parameter, (component, op) in COUNT_CONSTRAINT_MAP.items():
        for value in shapes.objects(prop, parameter):
            n = _count(value, where, parameter.rsplit("#", 1)[1])
            if op == "<" and n == 0:
                continue  # sh:minCount 0 holds for every focus node
            if op == "<" and n == 1:
                body = f"{_focus(target)}\n  FILTER NOT EXISTS {{ ?focus <{path.value}> ?v }}"
            elif op == "<":
                counted = f"{_focus(target)} OPTIONAL {{ ?focus <{path.value}> ?v }}"
                body = (f"{{ SELECT ?focus (COUNT(DISTINCT ?v) AS ?n) WHERE {{ {counted} }}"
                        f" GROUP BY ?focus }}\n  FILTER(?n < {n})")
            else:  # values are counted first, so only focus nodes with too many are tested for their class
                body = (f"{{ SELECT ?focus WHERE {{ ?focus <{path.value}> ?v }} GROUP BY ?focus "
                        f"HAVING (COUNT(DISTINCT ?v) > {n}) }}\n  {_focus(target)}")
            out.append(CompiledQuery(shape, component, f"{head}\n  {body}\n  {bind}\n}}"))
    for parameter, (component, compiler) in VALUE_CONSTRAINT_MAP.items():
        for value in shapes.objects(prop, parameter):
            test = compiler(shapes, prop, value, where)
            # the (rare) offending values first, then whether their focus node is targeted
            body = (f"{{ SELECT DISTINCT ?focus ?value WHERE {{ ?focus <{path.value}> ?value {test} }} }}"
                    f"\n  {_focus(target)}")
            out.append(CompiledQuery(shape, component, f"{head}\n  {body}\n  {bind}\n}}"))
    return out


def load_patient_shapes() -> CompiledShapes:
    """The shipped ``shapes/patient.ttl``, compiled."""
    from guidelinekg.content.resources import shapes_dir

    return compile_shapes(shapes_dir() / "patient.ttl")
