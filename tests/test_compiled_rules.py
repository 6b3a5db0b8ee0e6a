"""The compiled rule engine (engine/sql*.py: SPARQL Update -> SQL on DuckDB) must derive exactly the triples
Oxigraph derives: expression by expression (against Oxigraph's own answers), rule file by rule file, on
clinical vignettes and on a generated cohort. bench/bench_compiled.py runs the same comparison on 20,000
patients and measures the speed; here only equality is asserted.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pyoxigraph as ox
import pytest

from guidelinekg.engine.patientcheck import validate_patients
from guidelinekg.engine.rules import load_rules, run_rules
from guidelinekg.engine.shapes_sparql import load_patient_shapes
from guidelinekg.engine.sqlexpr import Unsupported
from guidelinekg.engine.sqlstore import SqlStore, compile_update
from guidelinekg.errors import ConfigurationError
from guidelinekg.patients.loader import load_patient_input
from vignettes import load_vignettes

ROOT = Path(__file__).resolve().parents[1]
XSD = "PREFIX xsd: <http://www.w3.org/2001/XMLSchema#> "


# the known traps of a second engine: exact decimals (64.6 * 15 is 969), integer division giving a
# decimal, truncated quotients, a product past 18 digits being an error, ROUND half up, xsd:integer
# truncating, numbers equal across types, comparisons of a string with a number, errors caught by
# COALESCE, the canonical forms of results
EXPRESSIONS = [
    "2/3", "-2/3", "1.000000000000000001 * 1.5", "123456789.123456789 * 987654321.987654321", "1/7*7",
    "-7/2", "FLOOR(-3.5)", "CEIL(-3.5)", "ROUND(-3.5)", "ROUND(2.5)", "ROUND(3.45)", "xsd:integer(-3.7)",
    "64.6 * 15", "7 * 0.5", "ABS(-2.5)", "-(2.5)", "5 / 2", "1e0/3", "1 + 2", "1.0 + 2", "6/3", "0.1 + 0.2",
    "xsd:integer(ROUND(400/365.25))", "1e0 + 1", "FLOOR(7/2)", "10/3", "2.0 * 3.0", "1.5e0 * 2", "1/0",
    "1.5/0", "STRLEN(\"abc\") + 1", "xsd:integer(\"42\")", "xsd:decimal(\"2.50\")", "xsd:integer(\"4.2\")",
    "IF(1 < 2.5, \"a\", \"b\")", "3 = 3.0", "\"abc\" = 3", "COALESCE(1/0, 7)", "45 >= 45.0", "44.99 < 45",
    "-0.0", "1 > \"a\"", "xsd:double(\"1.5\") * 2", "YEAR(\"2020-03-04T10:00:00Z\"^^xsd:dateTime) + 1",
    "HOURS(\"2020-03-04T23:30:00-05:00\"^^xsd:dateTime)", "CONCAT(STR(2.50), \"x\")",
    "ROUND(12.345 * 100) / 100", "SHA1(\"x\")", "SUBSTR(\"héllo\", 2, 3)", "STRAFTER(\"a:b:c\", \":\")",
    "STRBEFORE(\"abc\", \"z\")", "CONCAT(\"a\"@en, \"b\"@en)", "LANG(\"a\"@en-GB)", "UCASE(\"é\")",
    "IF(\"\", 1, 2)", "IF(0.0, 1, 2)", "!BOUND(?nothing) && true", "\"b\" > \"a\"", "true = \"true\"",
    "DATATYPE(1.5)", "IRI(CONCAT(\"urn:x:\", STR(3)))", "REPLACE(\"a-b-c\", \"-\", \"+\")",
    "REGEX(\"Ferritin\", \"^ferr\", \"i\")", "xsd:date(\"2020-01-02T03:04:05Z\"^^xsd:dateTime)",
]


def _bind(expression: str) -> str:
    return XSD + f"INSERT {{ <urn:r> <urn:v> ?x }} WHERE {{ BIND(({expression}) AS ?x) }}"


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_an_expression_has_oxigraphs_value(expression):
    reference = ox.Store()
    reference.update(_bind(expression))
    expected = sorted(str(q.object) for q in reference)
    compiled = SqlStore()
    compiled.update(_bind(expression))
    got = sorted(line.decode().split(" ", 2)[2][:-2] for line in compiled.dump_ntriples().splitlines())
    assert got == expected


def test_every_shipped_rule_compiles():
    for rule in load_rules().rules:
        assert compile_update(rule.text), rule.name


@pytest.mark.parametrize("text, construct", [
    ("DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }", "Modify"),
    ("INSERT DATA { <urn:a> <urn:b> <urn:c> }", "INSERT DATA"),
    ("INSERT { ?s <urn:p> ?o } WHERE { ?s <urn:q> ?o MINUS { ?s <urn:r> ?o } }", "Minus"),
    ("INSERT { ?s <urn:p> ?n } WHERE { SELECT ?s (MAX(?o) AS ?n) WHERE { ?s <urn:q> ?o } GROUP BY (STR(?s)) }",
     "GROUP BY an expression"),
    ("INSERT { ?s <urn:p> ?o } WHERE { ?s <urn:q> ?o } ORDER BY ?o", "rdflib cannot read"),
    ("INSERT { ?s <urn:p> [] } WHERE { ?s <urn:q> ?o }", "blank node"),
])
def test_a_construct_it_does_not_translate_is_refused_by_name(text, construct):
    with pytest.raises(Unsupported, match=construct):
        compile_update(text)
    with pytest.raises(ConfigurationError, match="compiled engine cannot run this rule"):
        SqlStore().update(text)


def _derived_on_both(kb, patients, as_of):
    store = kb.new_store("oxigraph")
    store.load_ntriples("".join(p.text() for p in patients))
    from guidelinekg.engine.reasoning import note_triples
    from guidelinekg.engine.timeline import context_triples, time_index_triples

    store.load_ntriples("".join(line for p in patients for line in note_triples(p)))
    store.load_ntriples("".join(time_index_triples(store)))
    store.load_ntriples("".join(context_triples(as_of, "urn:guidelinekg:run:test")))
    compiled = SqlStore()
    compiled.load_ntriples(store.dump_ntriples().decode("utf-8"))
    run_rules(store, kb.rules)
    run_rules(compiled, kb.rules)
    return set(store.dump_ntriples().splitlines()), set(compiled.dump_ntriples().splitlines())


# vignettes of different paths: a weight-based dose (in lb, rounded), an age at its boundary, a censored result
# in another unit, a stale weight, IV iron and phosphate, hemodialysis, a month-only date, oral iron taken
VIGNETTES = ["001-", "019-", "105-", "108-", "130-", "146-", "157-", "194-", "196-"]


@pytest.mark.parametrize("prefix", VIGNETTES)
def test_a_vignette_derives_the_same_triples(kb, prefix):
    vignette = next(v for v in load_vignettes() if v.name.startswith(prefix))
    patient = load_patient_input(vignette.patient, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    patient = validate_patients([patient], kb, load_patient_shapes())[0]
    oxigraph, compiled = _derived_on_both(kb, [patient], date.fromisoformat(vignette.as_of))
    assert compiled == oxigraph, (sorted(oxigraph - compiled)[:5], sorted(compiled - oxigraph)[:5])


def test_a_generated_cohort_derives_the_same_triples(kb, tmp_path):
    from guidelinekg.cohort.chunk import disjoint_groups, load_chunk, shapes_for
    from guidelinekg.cohort.partition import prepare

    subprocess.run([sys.executable, str(ROOT / "bench" / "gen_cohort.py"), str(tmp_path / "in"), "--patients",
                    "150", "--seed", "7"], check=True, capture_output=True)
    partition, _ = prepare(tmp_path / "in", tmp_path / "work", 150)
    loaded, _ = load_chunk(partition.kind, (tmp_path / "work" / partition.chunks[0]).read_text(), kb, "chunk")
    patients = [p for group in disjoint_groups(loaded) for p in validate_patients(group, kb, shapes_for({}))]
    assert len(patients) > 100
    oxigraph, compiled = _derived_on_both(kb, patients, date(2026, 1, 15))
    assert len(oxigraph) > 50_000
    assert compiled == oxigraph, (sorted(oxigraph - compiled)[:5], sorted(compiled - oxigraph)[:5])
