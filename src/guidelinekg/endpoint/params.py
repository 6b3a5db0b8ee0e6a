"""Query parameters: RDF terms from their command-line form, typed by a query header's ``# param:`` lines.

Also the query header (``# key: value`` lines) that declares them. :mod:`guidelinekg.endpoint.query`
re-exports these names. Values become pyoxigraph terms (never
query text); prefixed names use the prefixes declared for every query.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

import pyoxigraph as ox

from guidelinekg.errors import InputError
from guidelinekg.content.resources import content_prefixes

XSD = "http://www.w3.org/2001/XMLSchema#"

# Compact IRIs in table output (and accepted in parameter values); the guideline content's own prefixes
# (its @prefix declarations, see resources.content_prefixes) are added to these.
BASE_DISPLAY_PREFIXES = {
    "gkg": "https://w3id.org/guidelinekg/ontology#",
    "loinc": "https://loinc.org/",
    "prov": "http://www.w3.org/ns/prov#",
}
# Declared for every query (a query's own PREFIX wins) and accepted in parameter values.
BASE_QUERY_PREFIXES = {
    **BASE_DISPLAY_PREFIXES,
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": XSD,
    "owl": "http://www.w3.org/2002/07/owl#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "dcterms": "http://purl.org/dc/terms/",
    "bibo": "http://purl.org/ontology/bibo/",
    "cito": "http://purl.org/spar/cito/",
    "sct": "http://snomed.info/id/",
    "rule": "https://w3id.org/guidelinekg/rules/",
}



@cache
def display_prefixes() -> dict[str, str]:
    """Prefixes for compact output: the vocabulary's and those the shipped guideline content declares."""
    return {**BASE_DISPLAY_PREFIXES, **content_prefixes()}


@cache
def query_prefixes() -> dict[str, str]:
    """Prefixes declared for every query and accepted in parameter values."""
    return {**BASE_QUERY_PREFIXES, **content_prefixes()}


PARAM_TYPES = ("IRI", "string", "integer", "decimal", "date")


@dataclass(frozen=True)
class ParamSpec:
    """One ``# param: name (TYPE, optional|required) description`` line of a query header."""

    name: str
    type: str
    required: bool
    description: str



_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"(?:@([A-Za-z]+(?:-[A-Za-z0-9]+)*)|\^\^(\S+))?', re.DOTALL)
_PNAME = re.compile(r"([A-Za-z][\w-]*):([^\s<>\"{}|\\^`]*)")
_ABSOLUTE_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+")
_NUMBERS = ((re.compile(r"[+-]?\d+", re.ASCII), "integer"), (re.compile(r"[+-]?\d*\.\d+", re.ASCII), "decimal"),
            (re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)[eE][+-]?\d+", re.ASCII), "double"))
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", '"': '"', "'": "'", "\\": "\\"}


# Schemes a bare (unbracketed) parameter value may use without "//"; any other needs <...>.
IRI_SCHEMES = ("urn", "tag", "mailto", "info", "did", "data")


def _iri(value: str, raw: str) -> ox.NamedNode:
    try:
        return ox.NamedNode(value)
    except ValueError as exc:
        raise InputError(f"parameter value {raw!r} is not a valid IRI: {exc}") from None


def _expand(raw: str) -> ox.NamedNode | None:
    m = _PNAME.fullmatch(raw)
    if m and m[1] in query_prefixes():
        return _iri(query_prefixes()[m[1]] + m[2], raw)
    return None


# Lexical forms of the XSD datatypes a parameter is checked against: a literal of one of these types that
# does not match is refused, never bound (an ill-typed literal equals nothing: 0 rows, said nowhere).
_LEXICAL = {
    "integer": re.compile(r"[+-]?\d+", re.ASCII),
    "decimal": re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII),
    "double": re.compile(r"[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|INF)|NaN", re.ASCII),
    "float": re.compile(r"[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|INF)|NaN", re.ASCII),
    "boolean": re.compile(r"true|false|1|0", re.ASCII),
    "date": re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:Z|[+-]\d{2}:\d{2})?", re.ASCII),
    "dateTime": re.compile(r"(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?", re.ASCII),
}
_SHOWN = {"date": "a date (YYYY-MM-DD)", "dateTime": "a date-time (YYYY-MM-DDThh:mm:ss)", "integer": "an integer",
          "boolean": "true, false, 1 or 0", "double": "a number", "float": "a number",
          "decimal": "a decimal number"}


def _valid(text: str, kind: str) -> bool:
    """Whether ``text`` is a lexical form of ``xsd:kind`` (dates must exist: no 30 February)."""
    m = _LEXICAL[kind].fullmatch(text)
    if m is None:
        return False
    if kind == "dateTime":
        try:
            datetime.fromisoformat(text)
        except ValueError:
            return False
    elif kind == "date":
        try:
            date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return False
    return True


def checked(term: ox.NamedNode | ox.Literal, raw: str) -> ox.NamedNode | ox.Literal:
    """``term``, unless it is a literal of a datatype in :data:`_LEXICAL` whose text is not of that type."""
    if isinstance(term, ox.Literal) and term.datatype.value.startswith(XSD):
        kind = term.datatype.value[len(XSD):]
        if kind in _LEXICAL and not _valid(term.value, kind):
            raise InputError(f"parameter value {raw!r} is not a valid xsd:{kind}: {term.value!r} is not "
                             f"{_SHOWN.get(kind, 'of that type')}")
    return term


def parse_value(raw: str) -> ox.NamedNode | ox.Literal:
    """An RDF term from its command-line form.

    ``<iri>``, a prefixed name with a known prefix (``gkg:Strong``) or a bare absolute IRI (with ``//``,
    or of a scheme in :data:`IRI_SCHEMES`) give an IRI; ``foo:bar`` with no such prefix is an error; ``"text"``, ``"text"@en`` and ``"1.5"^^xsd:decimal`` a literal; a plain number a typed literal
    (xsd:integer, xsd:decimal, xsd:double); anything else a plain string literal.

    >>> parse_value("gkg:Strong")
    <NamedNode value=https://w3id.org/guidelinekg/ontology#Strong>
    >>> parse_value('x" } . ?s ?p ?o . FILTER("1')
    <Literal value=x" } . ?s ?p ?o . FILTER("1 datatype=<NamedNode value=http://www.w3.org/2001/XMLSchema#string>>
    """
    if raw.startswith("<"):
        if not raw.endswith(">"):
            raise InputError(f"parameter value {raw!r} opens an IRI with '<' but does not end with '>'",
                             hint='quote it ("...") to pass a string')
        return _iri(raw[1:-1], raw)
    if raw.startswith('"'):
        m = _QUOTED.fullmatch(raw)
        if not m:
            raise InputError(f"parameter value {raw!r} is not a literal",
                             hint='write "text", "text"@en or "1.5"^^xsd:decimal')
        text = re.sub(r"\\(.)", lambda e: _ESCAPES.get(e[1], e[0]), m[1], flags=re.DOTALL)
        if m[2]:
            return ox.Literal(text, language=m[2].lower())
        if m[3]:
            datatype = _iri(m[3][1:-1], m[3]) if m[3].startswith("<") and m[3].endswith(">") else _expand(m[3])
            if datatype is None:
                raise InputError(f"unknown datatype {m[3]!r} in parameter value {raw!r}",
                                 hint=f"write <IRI> or use a known prefix: {', '.join(query_prefixes())}")
            return checked(ox.Literal(text, datatype=datatype), raw)
        return ox.Literal(text)
    expanded = _expand(raw)
    if expanded is not None:
        return expanded
    if _ABSOLUTE_IRI.fullmatch(raw):
        scheme = raw.split(":", 1)[0]
        if "://" in raw or scheme.lower() in IRI_SCHEMES:
            return _iri(raw, raw)
        # "foo:bar" is more likely a prefixed name with a mistyped prefix than an IRI of scheme "foo"
        raise InputError(f"unknown prefix {scheme!r} in parameter value {raw!r}",
                         hint=f"use a known prefix ({', '.join(query_prefixes())}) or write <{raw}> for an IRI")
    for pattern, number_type in _NUMBERS:
        if pattern.fullmatch(raw):
            return ox.Literal(raw, datatype=ox.NamedNode(XSD + number_type))
    return ox.Literal(raw)


def typed_value(raw: str, spec: ParamSpec) -> ox.NamedNode | ox.Literal:
    """The term for a parameter a query header declares, checked against its type however it is written.

    A bare value is read as the type (``2026-01-15`` a date, ``7`` an integer); a quoted plain string
    (``"2026-01-15"``) is read the same way (the shell's quotes, or a habit: never a string where a date is
    declared, which would match nothing); a typed literal must be of the declared type (an ``integer`` for
    a ``decimal`` becomes a decimal) and valid (``"2026-02-30"^^xsd:date`` is refused); an IRI, a
    language-tagged string or another datatype is refused. A ``string`` takes a bare value, a quoted string
    or a language-tagged one; an ``IRI`` any spelling of an IRI.

    >>> typed_value('"2026-01-15"', ParamSpec("asOf", "date", False, "")).datatype
    <NamedNode value=http://www.w3.org/2001/XMLSchema#date>
    """
    if spec.type == "string" and not raw.startswith(('"', "<")):
        return ox.Literal(raw)
    term = parse_value(raw) if raw.startswith(('"', "<")) or spec.type in ("IRI", "string") else ox.Literal(raw)
    if spec.type == "IRI":
        if not isinstance(term, ox.NamedNode):
            raise InputError(f"parameter {spec.name!r} expects an IRI, got {raw!r}",
                             hint="write <https://...>, an absolute IRI, or a prefixed name such as gkg:Strong")
        return term
    plain = isinstance(term, ox.Literal) and term.language is None and term.datatype.value == XSD + "string"
    if spec.type == "string":
        if not (plain or (isinstance(term, ox.Literal) and term.language)):
            raise InputError(f"parameter {spec.name!r} expects a string, got {raw!r}",
                             hint='write the text as it is, or "text" / "text"@en')
        return term
    if spec.type not in ("date", "integer", "decimal"):  # a type this version does not know: as written
        return term
    accepted = ("integer", "decimal") if spec.type == "decimal" else (spec.type,)
    kind = term.datatype.value.removeprefix(XSD) if isinstance(term, ox.Literal) and not term.language else None
    lexical = spec.type if plain else kind if kind in accepted else None  # what the text must be
    if lexical is None or not _valid(term.value, lexical):
        raise InputError(f"parameter {spec.name!r} expects {_SHOWN[spec.type]}, got {raw!r}",
                         hint=f"write it bare, e.g. {spec.name}={_EXAMPLE[spec.type]}")
    return ox.Literal(term.value, datatype=ox.NamedNode(XSD + spec.type))


_EXAMPLE = {"date": "2026-01-15", "integer": "7", "decimal": "1.5"}


def parse_params(pairs: Sequence[str], header: Header) -> dict[str, ox.NamedNode | ox.Literal]:
    """``name=value`` pairs to terms, typed by the header's ``# param:`` lines where it declares them."""
    specs = {s.name: s for s in header.params}
    params: dict[str, ox.NamedNode | ox.Literal] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip().lstrip("?$")
        if not sep or not re.fullmatch(r"[A-Za-z_]\w*", name):
            raise InputError(f"--param {pair!r}: expected NAME=VALUE with a SPARQL variable name")
        if name in params:
            raise InputError(f"--param {name!r} is given twice")
        params[name] = typed_value(raw, specs[name]) if name in specs else parse_value(raw)
    missing = [s.name for s in specs.values() if s.required and s.name not in params]
    if missing:
        raise InputError(f"missing required parameter(s): {', '.join(missing)}")
    return params


@dataclass(frozen=True)
class Header:
    """The leading comment block of a query: ``# key: value`` lines, continuation lines indented."""

    fields: tuple[tuple[str, str], ...]

    def get(self, key: str) -> str | None:
        return next((v for k, v in self.fields if k == key), None)

    @property
    def params(self) -> tuple[ParamSpec, ...]:
        specs = []
        for key, value in self.fields:
            m = re.fullmatch(r"(\w+)\s*\(\s*(\w+)\s*,\s*(optional|required)\s*\)\s*(.*)", value, re.DOTALL)
            if key == "param" and m:
                specs.append(ParamSpec(m[1], m[2], m[3] == "required", m[4]))
        return tuple(specs)

    @classmethod
    def parse(cls, text: str) -> Header:
        fields: list[list[str]] = []
        for line in text.splitlines():
            if not line.startswith("#"):
                break
            m = re.match(r"# ?([A-Za-z][\w ]*?):\s?(.*)$", line)
            if m:
                fields.append([m[1], m[2].strip()])
            elif fields and line[1:].strip():
                fields[-1][1] += " " + line[1:].strip()
        return cls(tuple((k, v) for k, v in fields))
