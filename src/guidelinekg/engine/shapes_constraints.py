"""The SHACL constraints the compiler of :mod:`guidelinekg.engine.shapes_sparql` knows, each as SPARQL.

Split from that module (which assembles the queries): reading the shapes graph (:class:`_Shapes`), the
constraints on each value node (one pattern each), shapes nested in others (whether a node conforms to
a shape, as a SPARQL condition: the members of a node-level ``sh:or`` or ``sh:not``, a
``sh:qualifiedValueShape``), and the two entailment regimes the patterns are written for:

* :class:`Plain` (the patient shapes): the data are validated as they are, ``sh:targetClass`` and
  ``sh:class`` follow ``rdfs:subClassOf*`` in the data, as pySHACL without inference does;
* :class:`Rdfs` (the provenance shapes of ``guidelinekg audit``): the data are validated as if their RDFS
  entailments under a vocabulary (``rdfs:subClassOf``, ``rdfs:subPropertyOf``, ``rdfs:domain``,
  ``rdfs:range``) were added, by rewriting each type test and path, so nothing is materialised: a node has
  a class when it is typed with a subclass, is the subject of a property whose domain is one, or the
  (non-literal) object of a property whose range is one, through sub-properties too; a path's values
  include those of its sub-properties. The vocabulary's own triples are not data (only its hierarchy
  counts), which is what materialising the entailments into a copy of the data graph gave.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import count

import pyoxigraph as ox

from guidelinekg.errors import ConfigurationError

SH = "http://www.w3.org/ns/shacl#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
SPEC = "https://www.w3.org/TR/shacl/"

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
    XSD + "boolean": r"true|false|1|0",
}
NODE_KINDS = {
    SH + "IRI": "isIRI(?value)",
    SH + "Literal": "isLiteral(?value)",
    SH + "BlankNode": "isBlank(?value)",
    SH + "BlankNodeOrIRI": "(isBlank(?value) || isIRI(?value))",
    SH + "BlankNodeOrLiteral": "(isBlank(?value) || isLiteral(?value))",
    SH + "IRIOrLiteral": "(isIRI(?value) || isLiteral(?value))",
}


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


# --- entailment regimes: how a type test and a path are written -------------------------------------------


class Plain:
    """The data as they are: a class through ``rdfs:subClassOf*`` in the data, a path as one predicate."""

    # Whether a query starts from the focus nodes (cheap to find by their type) rather than from the values
    # of the path (so that a costly class test runs only for the few focus nodes with an offending value).
    focus_first = False

    def values_are(self, path: str, cls: str) -> bool:
        """Whether every non-literal value of ``path`` has class ``cls`` whatever the data say."""
        return False

    def focus(self, target: str) -> str:
        return f"?focus <{RDF}type>/<{RDFS}subClassOf>* <{target}> ."

    def is_a(self, term: str, cls: str) -> str:
        return f"{term} <{RDF}type>/<{RDFS}subClassOf>* <{cls}>"

    def alternatives(self, term: str, cls: str) -> list[str]:
        """Patterns any of which gives ``term`` the class (the cheapest first)."""
        return [self.is_a(term, cls)]

    def path(self, subject: str, path: str, obj: str) -> str:
        return f"{subject} <{path}> {obj}"


class Rdfs(Plain):
    """The RDFS entailments of the data under a vocabulary, by rewriting (see the module docstring)."""

    def __init__(self, vocabulary: Iterable[ox.Triple]):
        edges: dict[str, dict[str, set[str]]] = {k: {} for k in ("subClassOf", "subPropertyOf", "domain", "range")}
        for t in vocabulary:
            kind = t.predicate.value[len(RDFS):] if t.predicate.value.startswith(RDFS) else None
            if kind in edges and isinstance(t.subject, ox.NamedNode) and isinstance(t.object, ox.NamedNode):
                edges[kind].setdefault(t.subject.value, set()).add(t.object.value)
        self._up = {"class": edges["subClassOf"], "property": edges["subPropertyOf"]}
        self._domain, self._range = edges["domain"], edges["range"]
        self._names = count()

    focus_first = True

    def values_are(self, path: str, cls: str) -> bool:
        return path in self._typing(cls)[2]  # a range of the path (or of a super-property) is a subclass

    def _closure(self, kind: str, node: str) -> set[str]:
        """``node`` and everything it is a sub-class (sub-property) of."""
        seen, todo = {node}, [node]
        while todo:
            for up in self._up[kind].get(todo.pop(), ()):
                if up not in seen:
                    seen.add(up)
                    todo.append(up)
        return seen

    def _below(self, kind: str, top: str) -> list[str]:
        nodes = set(self._up[kind]) | {top}
        return sorted(n for n in nodes if top in self._closure(kind, n))

    def _typing(self, cls: str) -> tuple[list[str], list[str], list[str]]:
        """Classes whose instances are ``cls``, and the properties whose subjects (objects) are."""
        classes = set(self._below("class", cls))
        properties = set(self._up["property"]) | set(self._domain) | set(self._range)

        def typed_by(axioms: dict[str, set[str]]) -> list[str]:
            return sorted(p for p in properties
                          if any(c in classes for q in self._closure("property", p) for c in axioms.get(q, ())))

        return sorted(classes), typed_by(self._domain), typed_by(self._range)

    def _var(self, stem: str) -> str:
        return f"?_{stem}{next(self._names)}"

    @staticmethod
    def _any_of(properties: list[str]) -> str:
        """A path of any of the properties: Oxigraph evaluates ``?s ?p ?o . VALUES ?p {...}`` by scanning
        every triple first, even with ``?s`` bound (4.4 s against 2 ms on a cohort's provenance)."""
        return "|".join(f"<{p}>" for p in properties)

    def _branches(self, term: str, cls: str) -> list[str]:
        classes, by_domain, by_range = self._typing(cls)
        if len(classes) == 1:
            branches = [f"{term} <{RDF}type> <{classes[0]}>"]
        else:
            t = self._var("t")
            branches = [f"{term} <{RDF}type> {t} . VALUES {t} {{ {' '.join(f'<{c}>' for c in classes)} }}"]
        if by_domain:
            branches.append(f"{term} {self._any_of(by_domain)} {self._var('o')}")
        if by_range:
            branches.append(f"{self._var('s')} {self._any_of(by_range)} {term} FILTER(!isLiteral({term}))")
        return branches

    def alternatives(self, term: str, cls: str) -> list[str]:
        return self._branches(term, cls)

    def is_a(self, term: str, cls: str) -> str:
        branches = self._branches(term, cls)
        return branches[0] if len(branches) == 1 else " UNION ".join(f"{{ {b} }}" for b in branches)

    def focus(self, target: str) -> str:
        branches = self._branches("?focus", target)
        if len(branches) == 1:
            return f"{branches[0]} ."
        union = " UNION ".join(f"{{ {b} }}" for b in branches)
        return f"{{ SELECT DISTINCT ?focus WHERE {{ {union} }} }}"

    def path(self, subject: str, path: str, obj: str) -> str:
        below = self._below("property", path)
        if below == [path]:
            return f"{subject} <{path}> {obj}"
        return f"{subject} {self._any_of(below)} {obj}"


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


def _datatype(shapes: _Shapes, shape, value, where: str, regime: Plain) -> str:
    if not isinstance(value, ox.NamedNode):
        raise ConfigurationError(f"{where}: sh:datatype must be an IRI")
    return f"FILTER(!{_lexical_test(value.value, where)})"


def _class(shapes: _Shapes, shape, value, where: str, regime: Plain) -> str:
    if not isinstance(value, ox.NamedNode):
        raise ConfigurationError(f"{where}: sh:class must be an IRI")
    path = shapes.objects(shape, SH + "path")
    if len(path) == 1 and regime.values_are(path[0].value, value.value):
        return "FILTER(isLiteral(?value))"  # an IRI or blank node value has the class by the path's range
    # MINUS: the instances of the class are found once, not once per value
    return f"MINUS {{ {regime.is_a('?value', value.value)} }}"


def _node_kind(shapes: _Shapes, shape, value, where: str, regime: Plain) -> str:
    if value.value not in NODE_KINDS:
        raise ConfigurationError(f"{where}: sh:nodeKind {value} is not a SHACL node kind")
    return f"FILTER(!{NODE_KINDS[value.value]})"


def _in(shapes: _Shapes, shape, value, where: str, regime: Plain) -> str:
    members = shapes.items(value, f"{where} sh:in")
    if any(isinstance(m, ox.BlankNode) for m in members):
        raise ConfigurationError(f"{where}: sh:in members must be IRIs or literals")
    # sameTerm, not '=' or IN: SHACL compares RDF terms, so 1 and 1.0 differ
    return "FILTER(!(" + " || ".join(f"sameTerm(?value, {m})" for m in members) + "))" if members else ""


def _or(shapes: _Shapes, shape, value, where: str, regime: Plain) -> str:
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


ValueCompiler = Callable[[_Shapes, object, object, str, Plain], str]

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

# Constraints on the focus node itself (a node shape's sh:or and sh:not, whose members are shapes) and the
# qualified count of a property shape; their members compile to conditions (conforms).
NODE_CONSTRAINT_MAP = {SH + "or": SH + "OrConstraintComponent", SH + "not": SH + "NotConstraintComponent"}
QUALIFIED = (SH + "qualifiedValueShape", SH + "qualifiedMinCount")


# --- shapes nested in others: does a node conform? --------------------------------------------------------

_MEMBER_NODE = {SH + "class", SH + "not", SH + "or", SH + "hasValue"}
_MEMBER_PROPERTY = {SH + "path", SH + "minCount", SH + "hasValue"}


def conforms_pattern(shapes: _Shapes, shape, term: str, where: str, regime: Plain,
                     depth: int = 0) -> list[str] | None:
    """Graph patterns any of which matches when ``term`` conforms to ``shape``, if the shape is only
    ``sh:class`` (a node shape), an ``sh:or`` of such shapes (any pattern of any member), or ``sh:minCount``
    0 or 1 and ``sh:hasValue`` (a property shape); else None. A pattern is joined once for all nodes;
    :func:`conforms` is tested node by node."""
    given = shapes.predicates(shape) - {RDF + "type", RDFS + "comment", RDFS + "label", SH + "name",
                                        SH + "description", SH + "message"}
    if given == {SH + "or"}:
        lists = shapes.objects(shape, SH + "or")
        if len(lists) != 1:
            return None
        members = [conforms_pattern(shapes, m, term, where, regime, depth + 1) for m in shapes.items(lists[0], where)]
        return None if None in members else [p for patterns in members for p in patterns] or None
    if SH + "path" in given:
        path = shapes.one(shape, SH + "path", where)
        counts = [_count(v, where, "minCount") for v in shapes.objects(shape, SH + "minCount")]
        if given - {SH + "path", SH + "minCount", SH + "hasValue"} or not isinstance(path, ox.NamedNode) or \
                any(n > 1 for n in counts):
            return None
        parts = [regime.path(term, path.value, f"?_v{depth}") for n in counts if n == 1]
        parts += [regime.path(term, path.value, str(v)) for v in shapes.objects(shape, SH + "hasValue")]
    else:
        classes = shapes.objects(shape, SH + "class")
        if given - {SH + "class"} or any(not isinstance(c, ox.NamedNode) for c in classes) or not classes:
            return None
        if len(classes) == 1:
            return regime.alternatives(term, classes[0].value)
        parts = [regime.is_a(term, c.value) for c in classes]
    return [" ".join(f"{{ {p} }}" for p in parts)] if parts else None


def conforms(shapes: _Shapes, shape, term: str, where: str, regime: Plain, depth: int = 0) -> str:
    """A SPARQL expression, true when the node ``term`` conforms to ``shape``: a node shape with
    ``sh:class``, ``sh:hasValue``, ``sh:not``, ``sh:or``, or a property shape (an IRI ``sh:path``) with
    ``sh:minCount`` 0 or 1 and ``sh:hasValue``; several constraints must all hold."""
    given = shapes.predicates(shape) - {RDF + "type", RDFS + "comment", RDFS + "label", SH + "name",
                                        SH + "description", SH + "message"}
    is_property = SH + "path" in given
    extra = given - (_MEMBER_PROPERTY if is_property else _MEMBER_NODE)
    if extra:
        raise _unsupported(f"{where} (a nested shape)", ", ".join(sorted(map(_short, extra))), "core-components")
    tests = []
    if is_property:
        path = shapes.one(shape, SH + "path", where)
        if not isinstance(path, ox.NamedNode):
            raise _unsupported(where, "a sh:path that is not an IRI", "property-paths")
        for value in shapes.objects(shape, SH + "minCount"):
            n = _count(value, where, "minCount")
            if n > 1:
                raise _unsupported(f"{where} (a nested shape)", f"sh:minCount {n}", "MinCountConstraintComponent")
            if n == 1:
                tests.append(f"EXISTS {{ {regime.path(term, path.value, f'?_v{depth}')} }}")
        for value in shapes.objects(shape, SH + "hasValue"):
            tests.append(f"EXISTS {{ {regime.path(term, path.value, str(value))} }}")
        return "(" + " && ".join(tests) + ")" if tests else "true"
    for value in shapes.objects(shape, SH + "class"):
        if not isinstance(value, ox.NamedNode):
            raise ConfigurationError(f"{where}: sh:class must be an IRI")
        tests.append(f"EXISTS {{ {regime.is_a(term, value.value)} }}")
    for value in shapes.objects(shape, SH + "hasValue"):
        tests.append(f"sameTerm({term}, {value})")
    for value in shapes.objects(shape, SH + "not"):
        tests.append(f"!{conforms(shapes, value, term, where, regime, depth + 1)}")
    for value in shapes.objects(shape, SH + "or"):
        members = [conforms(shapes, m, term, where, regime, depth + 1) for m in shapes.items(value, where)]
        tests.append("(" + " || ".join(members) + ")" if members else "false")
    return "(" + " && ".join(tests) + ")" if tests else "true"


def node_condition(shapes: _Shapes, shape, parameter: str, value, where: str, regime: Plain) -> str:
    """The condition a focus node must meet for a node-level ``sh:or`` or ``sh:not``."""
    if parameter == SH + "not":
        return f"!{conforms(shapes, value, '?focus', where, regime, 1)}"
    members = [conforms(shapes, m, "?focus", where, regime, 1) for m in shapes.items(value, where)]
    return "(" + " || ".join(members) + ")" if members else "false"
