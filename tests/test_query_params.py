"""Parameter values as RDF terms, query headers and the token checks of guidelinekg.endpoint.query."""

from __future__ import annotations

import doctest

import pyoxigraph as ox
import pytest

from guidelinekg.endpoint import query
from guidelinekg.errors import InputError
from guidelinekg.endpoint.query import Header, ParamSpec, parse_params, parse_value, tokens, typed_value

XSD = "http://www.w3.org/2001/XMLSchema#"
GKG = "https://w3id.org/guidelinekg/ontology#"


def lit(value: str, datatype: str = "string", language: str | None = None) -> ox.Literal:
    if language:
        return ox.Literal(value, language=language)
    return ox.Literal(value, datatype=ox.NamedNode(XSD + datatype))


@pytest.mark.parametrize(("raw", "term"), [
    ("<https://example.org/x>", ox.NamedNode("https://example.org/x")),
    ("https://example.org/x?a=1#f", ox.NamedNode("https://example.org/x?a=1#f")),
    ("urn:guidelinekg:run:1", ox.NamedNode("urn:guidelinekg:run:1")),
    ("gkg:Approved", ox.NamedNode(GKG + "Approved")),
    ("rls:rec-fcm", ox.NamedNode("https://w3id.org/guidelinekg/guideline/rls-iron/rec-fcm")),
    ("loinc:2276-4", ox.NamedNode("https://loinc.org/2276-4")),
    ('"adults with RLS"', lit("adults with RLS")),
    ('"fer\\"ritin"@EN', lit('fer"ritin', language="en")),
    ('"1.5"^^xsd:decimal', lit("1.5", "decimal")),
    ('"2026-01-15"^^<http://www.w3.org/2001/XMLSchema#date>', lit("2026-01-15", "date")),
    ("75", lit("75", "integer")),
    ("-0.5", lit("-0.5", "decimal")),
    ("1e3", lit("1e3", "double")),
    ("adults with RLS", lit("adults with RLS")),
    ("10:30", lit("10:30")),
    ("<unknownprefix:thing>", ox.NamedNode("unknownprefix:thing")),  # any scheme, in <...>
    ("tag:example.org,2026:x", ox.NamedNode("tag:example.org,2026:x")),  # a bare IRI of a known scheme
    ('x" } . ?s ?p ?o . FILTER("1', lit('x" } . ?s ?p ?o . FILTER("1')),  # just a string
    ("", lit("")),
])
def test_parse_value(raw, term):
    assert parse_value(raw) == term


@pytest.mark.parametrize(("raw", "message"), [
    ("<urn:x> } UNION { ?s ?p ?o", "does not end with '>'"),
    ("<urn:x> } UNION { ?s ?p ?o >", "is not a valid IRI"),
    ('"unterminated', "is not a literal"),
    ('"x"^^nope:type', "unknown datatype"),
    ("unknownprefix:thing", "unknown prefix 'unknownprefix'"),  # a mistyped prefix, not an IRI
])
def test_parse_value_errors(raw, message):
    with pytest.raises(InputError, match=message):
        parse_value(raw)


@pytest.mark.parametrize(("raw", "kind", "term"), [
    ("2026-01-15", "date", lit("2026-01-15", "date")),
    ("123", "string", lit("123")),
    ("adults", "string", lit("adults")),
    ("7", "integer", lit("7", "integer")),
    ("7", "decimal", lit("7", "decimal")),
    ("rls:rec-fcm", "IRI", ox.NamedNode("https://w3id.org/guidelinekg/guideline/rls-iron/rec-fcm")),
    ('"2026-01-15"^^xsd:date', "date", lit("2026-01-15", "date")),
])
def test_typed_value_reads_bare_values_as_the_declared_type(raw, kind, term):
    assert typed_value(raw, ParamSpec("p", kind, False, "")) == term


@pytest.mark.parametrize(("raw", "kind", "message"), [
    ("foo", "IRI", "expects an IRI"),
    ('"rls:rec-fcm"', "IRI", "expects an IRI"),
    ("2026-13-01", "date", "expects a date"),
    ("1.5", "integer", "expects an integer"),
])
def test_typed_value_errors(raw, kind, message):
    with pytest.raises(InputError, match=message):
        typed_value(raw, ParamSpec("p", kind, False, ""))


def test_parse_params():
    header = Header.parse("# param: asOf (date, required) the date\n# param: x (IRI, optional) x\nSELECT ?x")
    assert parse_params(["asOf=2026-01-15", "?y=3"], header) == {"asOf": lit("2026-01-15", "date"),
                                                                 "y": lit("3", "integer")}
    assert parse_params(["asOf=a=b"], Header(())) == {"asOf": lit("a=b")}
    with pytest.raises(InputError, match="missing required parameter"):
        parse_params(["x=urn:x"], header)
    with pytest.raises(InputError, match="given twice"):
        parse_params(["asOf=2026-01-15", "asOf=2026-01-16"], header)
    for bad in ("novalue", "1x=3", "a b=1"):
        with pytest.raises(InputError, match="NAME=VALUE"):
            parse_params([bad], header)


def test_header_parse():
    header = Header.parse(
        "# query: q\n# purpose: first line\n#          second line\n#\n"
        "# param: guideline (IRI, optional) a guideline; without it,\n#        every guideline.\n"
        "# returns: ?a ?b (the notation: <, <=)\nPREFIX gkg: <x>\n# not header: x\n")
    assert header.get("purpose") == "first line second line"
    assert header.params == (ParamSpec("guideline", "IRI", False, "a guideline; without it, every guideline."),)
    assert header.get("returns") == "?a ?b (the notation: <, <=)"
    assert header.get("not header") is None


def test_tokens_ignore_comments_strings_and_iris():
    text = ('# ?commented SERVICE\nSELECT ?a $b WHERE { ?a <http://x/?notvar#frag> "?str SERVICE" ;\n'
            "  gkg:p '''?long\n?x''' . FILTER(?a<?b) }")
    toks = tokens(text)
    assert [t.value for t in toks if t.kind == "var"] == ["?a", "$b", "?a", "?a", "?b"]
    assert not any(t.value.upper() == "SERVICE" for t in toks if t.kind == "word")
    assert [t.value for t in toks if t.kind == "pname"] == ["gkg:"]


def test_docstring_examples():
    from guidelinekg.endpoint import params as queryparams

    for module in (query, queryparams):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__
