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
    from guidelinekg.endpoint import sparqlerrors

    for module in (query, queryparams, sparqlerrors):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__


# --- every spelling of a typed parameter is checked as the bare one is ---------------------------------------


@pytest.mark.parametrize(("raw", "kind", "term"), [
    ('"2026-01-15"', "date", lit("2026-01-15", "date")),  # a quoted plain string is read as the declared type
    ('"2026-01-15"^^<http://www.w3.org/2001/XMLSchema#date>', "date", lit("2026-01-15", "date")),
    ('"7"', "integer", lit("7", "integer")),
    ('"7"^^xsd:integer', "integer", lit("7", "integer")),
    ('"7"^^xsd:integer', "decimal", lit("7", "decimal")),  # as bare 7 for a decimal
    ('"1.5"', "decimal", lit("1.5", "decimal")),
    ('"patient-view"', "string", lit("patient-view")),
    ('"adults"@en', "string", lit("adults", language="en")),
])
def test_typed_value_reads_every_spelling_as_the_declared_type(raw, kind, term):
    assert typed_value(raw, ParamSpec("p", kind, False, "")) == term


@pytest.mark.parametrize(("raw", "kind", "message"), [
    ('"2026-02-30"^^xsd:date', "date", "not a valid xsd:date"),
    ('"2026-02-30"', "date", "expects a date"),
    ("2026-02-30", "date", "expects a date"),
    ("20260115", "date", "expects a date"),  # Python reads it as a date; xsd:date does not
    ("2026-W03-4", "date", "expects a date"),
    ("<http://x>", "date", "expects a date"),
    ("gkg:Strong", "date", "expects a date"),
    ('"2026-01-15"@en', "date", "expects a date"),
    ('"2026-01-15T10:00:00Z"^^xsd:dateTime', "date", "expects a date"),
    ('"7.5"^^xsd:integer', "integer", "not a valid xsd:integer"),
    ('"7.5"', "integer", "expects an integer"),
    ('"1.5"^^xsd:decimal', "integer", "expects an integer"),
    ('"1e3"^^xsd:double', "decimal", "expects a decimal number"),
    ("<urn:x>", "integer", "expects an integer"),
    ("<urn:x>", "string", "expects a string"),
    ('"7"^^xsd:integer', "string", "expects a string"),
])
def test_typed_value_refuses_every_spelling_that_is_not_of_the_type(raw, kind, message):
    with pytest.raises(InputError, match=message):
        typed_value(raw, ParamSpec("p", kind, False, ""))


@pytest.mark.parametrize("raw", ['"2026-02-30"^^xsd:date', '"x"^^xsd:integer', '"1,5"^^xsd:decimal',
                                 '"yes"^^xsd:boolean', '"2026-01-15T25:00:00"^^xsd:dateTime'])
def test_an_ill_typed_literal_is_refused_for_any_parameter(raw):
    with pytest.raises(InputError, match="is not a valid xsd:"):
        parse_value(raw)


def test_the_query_command_binds_a_date_however_it_is_written(tmp_path, capsys):
    from guidelinekg import cli

    data = tmp_path / "runs.ttl"
    data.write_text(f"""@prefix gkg: <{GKG}> . @prefix prov: <http://www.w3.org/ns/prov#> .
        @prefix xsd: <{XSD}> .
        <urn:x:w1> a gkg:Warning ; gkg:warningCode "stale-result" ; gkg:forPatient <urn:x:p1> ;
            prov:wasGeneratedBy <urn:x:run1> .
        <urn:x:run1> gkg:asOfDate "2026-01-15"^^xsd:date .
        """, encoding="utf-8")

    def run(value: str) -> tuple[int, str]:
        code = cli.main(["query", "cohort-counts", "--no-guidelines", "--data", str(data), "--format", "csv",
                         "--param", f"asOf={value}"])
        out, err = capsys.readouterr()
        return code, out + err

    bare = run("2026-01-15")
    assert bare[0] == 0 and "stale-result" in bare[1]
    for spelling in ('"2026-01-15"', '"2026-01-15"^^xsd:date', f'"2026-01-15"^^<{XSD}date>'):
        assert run(spelling) == bare, spelling
    for spelling, message in (('"2026-02-30"^^xsd:date', "not a valid xsd:date"), ("<http://x>", "expects a date"),
                              ('"2026-02-30"', "expects a date")):
        code, text = run(spelling)
        assert code == 2 and message in text and "Traceback" not in text, spelling
