"""`guidelinekg query` through cli.main: output formats, parameters, errors with locations, injection
attempts, SERVICE refusal, data formats; and once end to end as a subprocess."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from guidelinekg import cli

FIXTURES = Path(__file__).parent / "fixtures" / "query"
FIXED = ["--no-guidelines", "--data", str(FIXTURES / "guideline.ttl"), "--data", str(FIXTURES / "provenance.trig")]
OTHER = "<https://example.org/guidelinekg-test/query/other/guideline>"
DEMO = "https://example.org/guidelinekg-test/query/demo/"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["query", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, text: str, name: str = "q.rq") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


#################################################################
# Output formats
#################################################################


def test_table(capsys):
    code, out, err = run(capsys, "grade-counts", *FIXED, "--param", f"guideline={OTHER}")
    assert (code, err) == (0, "")
    assert out == (
        "guideline                                                     version                                      "
        "          strength         certainty         recommendations\n"
        "------------------------------------------------------------  -----------------------------------------------"
        "------  ---------------  ----------------  ---------------\n"
        "<https://example.org/guidelinekg-test/query/other/guideline>  <https://example.org/guidelinekg-test/query/other"
        "/v1>  gkg:Conditional  gkg:LowCertainty  1\n"
        "(1 row)\n"
    )


def test_table_of_shipped_content_uses_compact_iris(capsys):
    code, out, _ = run(capsys, "low-certainty-recommendations.rq", "--format", "table")
    assert code == 0
    assert out.splitlines()[2].split()[:5] == ["rls:guideline", "rls:v2025-12-23", "gkg:VeryLowCertainty",
                                               "gkg:Conditional", "rls:rec-ferumoxytol"]
    assert out.endswith("(2 rows)\n")


def test_csv(capsys):
    code, out, _ = run(capsys, "cohort-status-counts", *FIXED, "-p", "status=gkg:Suppressed", "--format", "csv")
    assert code == 0
    assert out == ("asOf,version,recommendation,status,patients\r\n"
                   f"2026-01-15,{DEMO}v1,{DEMO}rec-b,https://w3id.org/guidelinekg/ontology#Suppressed,1\r\n")


def test_json(capsys):
    code, out, _ = run(capsys, "cohort-counts", *FIXED, "-p", "asOf=2026-02-01", "-f", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["head"] == {"vars": ["asOf", "kind", "item", "label", "patients"]}
    XSD = "http://www.w3.org/2001/XMLSchema#"
    assert doc["results"]["bindings"] == [
        {"asOf": {"type": "literal", "value": "2026-02-01", "datatype": XSD + "date"},
         "kind": {"type": "literal", "value": "recommendation"},
         "item": {"type": "uri", "value": DEMO + "rec-d"},
         "label": {"type": "literal", "value": "oral iron for anaemia (revised)"},
         "patients": {"type": "literal", "value": "1", "datatype": XSD + "integer"}},
        {"asOf": {"type": "literal", "value": "2026-02-01", "datatype": XSD + "date"},
         "kind": {"type": "literal", "value": "order"},
         "item": {"type": "uri", "value": "https://loinc.org/2498-4"},
         "label": {"type": "literal", "value": "serum iron"},
         "patients": {"type": "literal", "value": "1", "datatype": XSD + "integer"}},
        {"asOf": {"type": "literal", "value": "2026-02-01", "datatype": XSD + "date"},
         "kind": {"type": "literal", "value": "warning"},
         "item": {"type": "literal", "value": "missing-data"},
         "patients": {"type": "literal", "value": "1", "datatype": XSD + "integer"}},
    ]


def test_language_tags_and_blank_nodes_in_json(capsys, tmp_path):
    query = write(tmp_path, "SELECT ?l ?b WHERE { ?v gkg:versionLabel \"0.9\" ; rdfs:label ?l .\n"
                            "  ?r gkg:inVersion ?v ; gkg:applicability/gkg:member ?b }")
    _, out, _ = run(capsys, query, *FIXED, "-f", "json")
    [binding] = json.loads(out)["results"]["bindings"]
    assert binding["l"] == {"type": "literal", "value": "Other guideline 0.9", "xml:lang": "en"}
    assert binding["b"]["type"] == "bnode"


def test_ask_and_construct(capsys, tmp_path):
    ask = write(tmp_path, "ASK { ?r gkg:strength gkg:Strong ; gkg:inVersion ?v }", "ask.rq")
    assert run(capsys, ask, "-p", "v=rls:v2025-12-23") == (0, "true\n", "")
    assert run(capsys, ask, "-p", "v=<urn:nothing>") == (0, "false\n", "")
    assert json.loads(run(capsys, ask, "-f", "json", "-p", "v=<urn:nothing>")[1]) == {"head": {}, "boolean": False}
    construct = write(tmp_path, "CONSTRUCT { ?r gkg:certainty ?c . ?r gkg:note [ gkg:value 1 ] }\n"
                                "WHERE { ?r gkg:certainty ?c FILTER(?c = gkg:VeryLowCertainty) }", "c.rq")
    code, out, _ = run(capsys, construct)
    rls, gkg = "https://w3id.org/guidelinekg/guideline/rls-iron/", "https://w3id.org/guidelinekg/ontology#"
    assert code == 0
    assert out.splitlines() == [
        f"<{rls}rec-ferumoxytol> <{gkg}certainty> <{gkg}VeryLowCertainty> .",
        f"<{rls}rec-ferumoxytol> <{gkg}note> _:b0 .",
        f"<{rls}rec-lmw-iron-dextran> <{gkg}certainty> <{gkg}VeryLowCertainty> .",
        f"<{rls}rec-lmw-iron-dextran> <{gkg}note> _:b1 .",
        f'_:b0 <{gkg}value> "1"^^<http://www.w3.org/2001/XMLSchema#integer> .',
        f'_:b1 <{gkg}value> "1"^^<http://www.w3.org/2001/XMLSchema#integer> .',
    ]


def test_rows_of_a_query_without_order_by_are_sorted(capsys, tmp_path):
    query = write(tmp_path, "SELECT ?r WHERE { ?r a gkg:Recommendation }")
    code, out, _ = run(capsys, query, "-f", "csv")
    rows = out.split("\r\n")[1:-1]
    assert code == 0 and len(rows) == 9 and rows == sorted(rows)
    assert run(capsys, query, "-f", "csv")[1] == out


def test_list(capsys):
    code, out, _ = run(capsys, "--list")
    assert code == 0
    for name in ("recommendations-by-grade", "thresholds-by-measure", "cohort-counts", "unapproved-content-results"):
        assert f"\n{name}\n" in f"\n{out}"
    assert "params: asOf (date, optional)" in out


#################################################################
# Parameters: bound as terms; injection attempts change nothing
#################################################################

POPULATION = "SELECT ?population ?s WHERE { ?s gkg:population ?population }"


@pytest.mark.parametrize("attempt", ['x" } . ?s ?p ?o . FILTER("1', "x' } UNION { ?s ?p ?o } #",
                                     "x\\\" } . ?s ?p ?o . FILTER(\\\"1"])
def test_a_string_injection_is_just_a_string(capsys, tmp_path, attempt):
    query = write(tmp_path, POPULATION)
    harmless = run(capsys, query, "-p", "population=x")
    assert harmless == (0, "population  s\n----------  -\n(0 rows)\n", "")
    code, out, err = run(capsys, query, "-p", f"population={attempt}")
    assert (code, err) == (0, "") and out.endswith("(0 rows)\n")
    assert run(capsys, query, "-p", "population=children with RLS")[1].endswith("(2 rows)\n")


@pytest.mark.parametrize("attempt", ["<urn:x> } UNION { ?s ?p ?o", "<urn:x> } UNION { ?s ?p ?o }>",
                                     'x" } . ?s ?p ?o . FILTER("1'])
def test_an_iri_injection_is_refused_or_harmless(capsys, attempt):
    code, out, err = run(capsys, "thresholds-by-measure", "-p", f"measure={attempt}")
    assert (code, out) == (2, "")
    assert err.startswith("guidelinekg query: error: ") and err.count("\n") <= 2
    untyped_code, untyped_out, _ = run(capsys, "thresholds-by-measure", "-p", "measure=<urn:x>")
    assert (untyped_code, untyped_out.splitlines()[-1]) == (0, "(0 rows)")


def test_unknown_parameter(capsys):
    code, out, err = run(capsys, "grade-counts", "-p", "nope=1")
    assert (code, out) == (2, "")
    assert "unknown parameter 'nope': the query has no variable ?nope" in err
    assert "hint: its variables: ?certainty ?guideline ?recommendation ?recommendations ?strength ?version" in err


def test_parameter_not_in_the_select_clause(capsys, tmp_path):
    query = write(tmp_path, "SELECT ?r WHERE { ?r gkg:inVersion ?v }")
    code, _, err = run(capsys, query, "-p", "v=rls:v2025-12-23")
    assert code == 2 and "parameter 'v' cannot be bound: ?v is not in the SELECT clause" in err


@pytest.mark.parametrize(("param", "message"), [
    ("guideline=foo", "parameter 'guideline' expects an IRI, got 'foo'"),
    ("asOf=yesterday", "parameter 'asOf' expects a date (YYYY-MM-DD), got 'yesterday'"),
    ("bad", "expected NAME=VALUE"),
])
def test_badly_typed_parameters(capsys, param, message):
    query = "cohort-counts" if param.startswith("asOf") else "grade-counts"
    code, _, err = run(capsys, query, "-p", param)
    assert code == 2 and message in err


#################################################################
# Errors a person can act on
#################################################################


def test_syntax_error_has_line_and_column(capsys, tmp_path):
    query = write(tmp_path, "SELECT ?s WHERE {\n  ?s a gkg:Recommendation ;;\n  OPTIONAL ?s\n}\n")
    code, out, err = run(capsys, query)
    assert (code, out) == (2, "")
    assert err == f"guidelinekg query: error: {query}:3:12: SPARQL syntax error near '...;; OPTIONAL ?s }}'\n"


@pytest.mark.parametrize(("text", "message"), [
    # the parser said "2:1: expected OPTIONAL" (past the last line) for the first two
    ("SELECT * WHERE { ?s ?p }\n", "1:18: SPARQL syntax error: incomplete triple pattern '?s ?p': a triple needs "
                                   "a subject, a predicate and an object"),
    ("SELECT * WHERE {\n  ?s ?p ?o .\n  ?o <urn:p>\n}\n", "3:3: SPARQL syntax error: incomplete triple pattern "
                                                        "'?o <urn:p>'"),
    ("SELECT * { ?s ?p ?o ; <urn:q> }", "1:12: SPARQL syntax error: incomplete triple pattern '?s ?p ?o ; <urn:q>'"),
    ('SELECT * { ?s <urn:p> "1"^^xsd:integer , 1.5 , "x"@en-GB . ?s }', "1:60: SPARQL syntax error: incomplete triple "
                                                                         "pattern '?s'"),
    ("SELECT * { _:b ?p ?o . ?x }", "1:24: SPARQL syntax error: incomplete triple pattern '?x'"),  # _: no prefix
    ("SELECT * { ?s ?p ?o ?x }", "1:12: SPARQL syntax error: too many terms for one triple pattern in '?s ?p ?o ?x' "
                                 "(is a '.' missing?)"),
    # the parser's own sentence, found among hundreds of character ranges
    ("SELECT * WHERE { ?s ?p ?o } GROUP BY ?s", "1:40: SPARQL syntax error at the end of the query, after "
                                               "'...{ ?s ?p ?o } GROUP BY ?s': SELECT * is not authorized with GROUP BY"),
    ("SELECT * WHERE { ?s ?p ?o } LIMIT\n", "1:34: SPARQL syntax error at the end of the query, after "
                                          "'...* WHERE { ?s ?p ?o } LIMIT'"),
    ("SELEC ?s WHERE { ?s ?p ?o }", "1:10: SPARQL syntax error near 'SELEC ?s WHERE { ?s ?p ?o }'"),
    ("SELECT * { VALUES ?x { <urn:a> <urn:b> } FILTER(?x > ) }",  # VALUES data are no triple pattern
     "1:57: SPARQL syntax error at the end of the query, after '...<urn:b> } FILTER(?x > ) }'"),
])
def test_syntax_errors_say_what_is_wrong_not_what_the_parser_expected(capsys, tmp_path, text, message):
    query = write(tmp_path, text)
    code, out, err = run(capsys, query, *FIXED)
    assert (code, out) == (2, "")
    assert err.startswith(f"guidelinekg query: error: {query}:{message}")
    assert len(err.splitlines()) == 1 and "expected" not in err and "\\u{" not in err


def test_unknown_prefix_is_located(capsys, tmp_path):
    query = write(tmp_path, "PREFIX ex: <https://example.org/>\nSELECT ?s WHERE {\n  ?s ex:p ?o ;\n     zz:q ?x }\n")
    code, _, err = run(capsys, query)
    assert code == 2
    assert f"{query}:4:6: SPARQL syntax error: unknown prefix 'zz:'" in err
    assert "hint: declare it with PREFIX zz: <...>" in err


def test_unclosed_brace_is_located(capsys, tmp_path):
    query = write(tmp_path, "SELECT ?s WHERE {\n  ?s a gkg:Recommendation .\n  OPTIONAL { ?s rdfs:label ?l \n")
    code, _, err = run(capsys, query)
    assert code == 2 and f"{query}:3:12: SPARQL syntax error: '{{' is never closed" in err


@pytest.mark.parametrize(("text", "message"), [
    ("", "the query is empty"),
    ("# only a comment\n", "the query is empty"),
    ("PREFIX ex: <https://example.org/>\nINSERT DATA { ex:a ex:b ex:c }\n",
     ":2:1: INSERT is SPARQL Update: the data are read-only here"),
    ("DELETE WHERE { ?s ?p ?o }", ":1:1: DELETE is SPARQL Update"),
])
def test_an_empty_query_or_an_update_is_named_as_such(capsys, tmp_path, text, message):
    query = write(tmp_path, text)
    code, out, err = run(capsys, query, *FIXED)
    assert (code, out) == (2, "")
    assert message in err


def test_a_cohort_output_directory_is_read_as_its_provenance(capsys, tmp_path):
    """As load and audit do: DIR stands for DIR/provenance.trig.gz; a directory without it or RDF is named."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "provenance.trig.gz").write_bytes(gzip.compress((FIXTURES / "provenance.trig").read_bytes()))
    expected = run(capsys, "grade-counts", *FIXED)
    assert run(capsys, "grade-counts", "--no-guidelines", "--data", str(FIXTURES / "guideline.ttl"),
               "--data", str(out)) == expected
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "grade-counts", "--data", str(tmp_path / "empty"))
    assert code == 2 and "a directory with neither provenance.trig.gz nor RDF files" in err


def test_a_guideline_folder_is_read_as_its_turtle_files(capsys, tmp_path):
    """Found by an author: validate, recommend and cohort take a guideline folder, query refused it. Its RDF
    files are read (each file's blank nodes its own), but .json, a vignette's FHIR patient."""
    folder = tmp_path / "guideline"
    (folder / "more").mkdir(parents=True)
    (folder / "guideline.ttl").write_bytes((FIXTURES / "guideline.ttl").read_bytes())
    (folder / "more" / "notes.ttl").write_text("[] <urn:x:note> \"a blank node of another file\" .\n")
    (folder / "more" / "also.nt").write_text("<urn:x:s> <urn:x:also> \"N-Triples too\" .\n")  # review: was skipped
    (folder / "patient.json").write_text('{"resourceType": "Patient"}')  # a vignette's patient: not JSON-LD
    expected = run(capsys, "grade-counts", "--no-guidelines", "--data", str(FIXTURES / "guideline.ttl"))
    assert expected[0] == 0 and run(capsys, "grade-counts", "--no-guidelines", "--data", str(folder)) == expected
    text = write(tmp_path, "SELECT (COUNT(DISTINCT ?b) AS ?n) WHERE { ?b <urn:x:note> ?t }")
    code, out, _ = run(capsys, text, "--no-guidelines", "--data", str(folder), "--data", str(folder), "--format", "csv")
    assert code == 0 and out.splitlines()[1] == "2"  # one blank node per file read, never merged
    also = write(tmp_path, "SELECT ?t WHERE { ?s <urn:x:also> ?t }", "also.rq")
    assert run(capsys, also, "--no-guidelines", "--data", str(folder), "--format", "csv")[1].splitlines()[1:] == [
        "N-Triples too"]


def test_service_is_refused(capsys, tmp_path):
    query = write(tmp_path, "SELECT * WHERE {\n  ?s ?p ?o .\n  SERVICE <http://127.0.0.1:9/sparql> { ?s ?q ?x }\n}")
    code, out, err = run(capsys, query)
    assert (code, out) == (2, "")
    assert f"{query}:3:3: the query calls a remote endpoint (SERVICE), which is refused" in err
    assert "--allow-service" in err
    code, _, err = run(capsys, query, "--allow-service")  # passes the check; the engine refuses port 9
    assert code == 2 and "the query failed" in err


def test_service_in_a_comment_string_or_name_is_not_a_call(capsys, tmp_path):
    query = write(tmp_path, '# SERVICE <http://example.org/>\nPREFIX ex: <https://example.org/>\n'
                            'SELECT ?x ?SERVICE WHERE { BIND("SERVICE" AS ?x) OPTIONAL { ?x ex:SERVICE ?SERVICE } }')
    assert run(capsys, query, "-f", "csv") == (0, "x,SERVICE\r\nSERVICE,\r\n", "")


@pytest.mark.parametrize(("name", "text", "message"), [
    ("bad.ttl", "@prefix ex: <https://example.org/> .\nex:a ex:b\n", "bad.ttl:3:1: Turtle syntax error: Unexpected end"),
    ("remote.jsonld", '{"@context": "https://example.org/context.jsonld", "@id": "https://example.org/a"}',
     "remote.jsonld: JSON-LD syntax error"),
    ("data.xyz", "", "cannot tell the RDF format from the extension '.xyz'"),
])
def test_bad_data_files(capsys, tmp_path, name, text, message):
    path = write(tmp_path, text, name)
    code, out, err = run(capsys, "grade-counts", "--data", path)
    assert (code, out) == (2, "")
    assert message in err
    if name == "remote.jsonld":
        assert "remote JSON-LD contexts are never fetched" in err


def test_missing_inputs(capsys, tmp_path):
    code, _, err = run(capsys, "no-such-query")
    assert code == 2 and "no-such-query: no such query file or library query" in err
    assert "library queries: cohort-counts," in err
    for name in ("missing.ttl", "missing.trig.gz", "missing-dir"):  # no extension: missing, not "unknown format"
        code, out, err = run(capsys, "grade-counts", "--no-guidelines", "--data", str(tmp_path / name))
        assert (code, out) == (2, "")
        assert err == f"guidelinekg query: error: {tmp_path / name}: no such file or directory\n"
    code, _, err = run(capsys)
    assert code == 2 and "give a query FILE" in err


@pytest.mark.slow
def test_end_to_end_subprocess():
    proc = subprocess.run([sys.executable, "-m", "guidelinekg.cli", "query", "low-certainty-recommendations",
                           "--format", "csv", "-p", "certainty=gkg:VeryLowCertainty"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "guideline,version,certainty,strength,recommendation,label,direction,population"
    assert [line.split(",")[4].rsplit("/", 1)[1] for line in lines[1:]] == ["rec-ferumoxytol", "rec-lmw-iron-dextran"]


def test_service_is_decided_on_the_parsed_query(capsys, tmp_path):
    """The forms a token scanner missed (SERVICE right after '.', after an escaped local name) are refused;
    a query too deep for the parser is refused only when it says 'service' at all."""
    for text in ("SELECT * WHERE { ?s ?p ?o .SERVICE <http://127.0.0.1:9/sparql> { ?s ?q ?x } }",
                 "PREFIX ex: <https://example.org/>\nSELECT * WHERE {\n ?s ex:a\\# ?o .\n SERVICE <http://127.0.0.1:9/> { } }",
                 "PREFIX ex: <https://example.org/>\nSELECT * WHERE { ?s ex:a\\' ?o . SERVICE <http://127.0.0.1:9/> { } } #'"):
        query = write(tmp_path, text)
        code, out, err = run(capsys, query, "--no-guidelines")
        assert (code, out) == (2, "") and "the query calls a remote endpoint (SERVICE), which is refused" in err
    deep = "SELECT * WHERE { " + "{ " * 60 + "?s ?p ?o " + "} " * 60 + "}"
    code, _, err = run(capsys, write(tmp_path, deep + " # a service"), "--no-guidelines")
    assert code == 2 and "could not be parsed" in err
    code, out, err = run(capsys, write(tmp_path, deep), "--no-guidelines", "-f", "csv")
    assert (code, err) == (0, "") and out.startswith("o,p,s\r\n")
