"""The analysis query library (queries/library/*.rq): expected rows on fixed data, the shipped content,
real run provenance, and meta-tests that keep every query documented, tested and correctly parameterised.

Fixed data: tests/fixtures/query/guideline.ttl (a made-up guideline, two versions, plus a second
guideline) and tests/fixtures/query/provenance.trig (two runs over three patients, one run over the
approved version 1.0 and one over the submitted version 2.0). Rows are compared in full, with IRIs
shortened to demo:, other:, gkg:, loinc:, rls:, prov: and blank nodes to "_:".
"""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pyoxigraph as ox
import pytest

from guidelinekg import cli
from guidelinekg.endpoint.query import (
    display_prefixes,
    PARAM_TYPES,
    QueryText,
    library_dir,
    library_queries,
    load_dataset,
    parse_params,
    run_query,
)

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures" / "query"
GUIDELINE = FIXTURES / "guideline.ttl"
PROVENANCE = FIXTURES / "provenance.trig"
FEEDBACK = HERE / "fixtures" / "hooks" / "feedback.trig"  # a CDS Hooks feedback log (guidelinekg hooks --feedback)
NAMESPACES = {
    "demo": "https://example.org/guidelinekg-test/query/demo/",
    "other": "https://example.org/guidelinekg-test/query/other/",
    **display_prefixes(),
}
LIBRARY = [p.stem for p in library_queries()]


def short(term) -> str | None:
    if term is None:
        return None
    if isinstance(term, ox.NamedNode):
        for prefix, namespace in NAMESPACES.items():
            if term.value.startswith(namespace):
                return f"{prefix}:{term.value[len(namespace):]}"
        return term.value
    if isinstance(term, ox.BlankNode):
        return "_:"
    return term.value


def expand(value: str) -> str:
    """demo:/other: names as <IRI> parameter values (the CLI knows only the shipped prefixes)."""
    for prefix in ("demo", "other"):
        if value.startswith(prefix + ":"):
            return f"<{NAMESPACES[prefix]}{value[len(prefix) + 1:]}>"
    return value


def select(store, name: str, **params: str):
    query = QueryText.from_library(name)
    bound = parse_params([f"{k}={expand(v)}" for k, v in params.items()], query.header)
    result = run_query(store, query, bound)
    assert result.form == "select"
    return result.variables, [tuple(short(t) for t in row) for row in result.rows]


@pytest.fixture(scope="module")
def fixed():
    return load_dataset([GUIDELINE, PROVENANCE, FEEDBACK], shipped_guidelines=False)


@pytest.fixture(scope="module")
def shipped():
    return load_dataset([])


#################################################################
# Expected results on the fixed data, one case per query (and per interesting parameter)
#################################################################

DG, OG = "demo:guideline", "other:guideline"
TRIAL = ("demo:cit-trial", "A made-up randomised trial of oral iron", "2020", "gkg:PrimarySource",
         "10.0000/demo.trial", "00000001")
TRIAL_WORK = ("demo:cit-trial", "gkg:PrimarySource", "10.0000/demo.trial", "00000001")
NONE4 = (None,) * 4

BY_GRADE = [
    (DG, "demo:v1", "1.0", "gkg:Strong", "gkg:HighCertainty", "demo:rec-a", "oral iron for anaemia", "gkg:For", None,
     None, None),
    (DG, "demo:v1", "1.0", "gkg:Conditional", "gkg:LowCertainty", "demo:rec-b", "IV iron for mild anaemia", "gkg:For",
     None, None, None),
    (DG, "demo:v1", "1.0", "gkg:Conditional", "gkg:VeryLowCertainty", "demo:rec-c", "dietary advice", "gkg:For", None,
     None, None),
    (DG, "demo:v2", "2.0", "gkg:Strong", "gkg:ModerateCertainty", "demo:rec-d", "oral iron for anaemia (revised)",
     "gkg:For", None, None, None),
    (DG, "demo:v2", "2.0", None, None, "demo:rec-e", "iron for children", "gkg:For", "The fixture states no grading.",
     None, None),
    (OG, "other:v1", "0.9", "gkg:Conditional", "gkg:LowCertainty", "other:rec-z", "no transfusion in pregnancy",
     "gkg:Against", None, "other:class-2", "other:level-c"),  # its own grades beside GRADE's
]
CITATIONS = [
    (DG, "demo:v1", "demo:rec-a", "oral iron for anaemia", "marker", "demo:ref-1", "1", "gkg:Resolved", "resolves-to",
     *TRIAL),
    (DG, "demo:v1", "demo:rec-b", "IV iron for mild anaemia", "marker", "demo:ref-2", "2", "gkg:Resolved",
     "resolves-to", "demo:cit-review", "A made-up narrative summary", "2021", "gkg:SecondarySource",
     "10.0000/demo.review", None),
    (DG, "demo:v1", "demo:rec-c", "dietary advice", "marker", "demo:ref-3", "3", "gkg:Unresolved", "candidate", *TRIAL),
    (DG, "demo:v1", "demo:rec-c", "dietary advice", "verified-against", *NONE4, *TRIAL),
    (DG, "demo:v2", "demo:rec-d", "oral iron for anaemia (revised)", "citation", *NONE4, *TRIAL),
    (DG, "demo:v2", "demo:rec-e", "iron for children", *(None,) * 11),
    (OG, "other:v1", "other:rec-z", "no transfusion in pregnancy", "marker", "other:ref-1", "1",
     "gkg:ResolvedByContent", "resolves-to", "other:cit-label", "A made-up product label", None, "gkg:PrimarySource",
     None, None),
    (OG, "other:v1", "other:rec-z", "no transfusion in pregnancy", "marker", "other:ref-2", "2", "gkg:Unresolved",
     *(None,) * 7),  # a marker that names no work: no work's attributes may leak into this row
]
EVIDENCE = [
    (DG, "demo:v1", "demo:rec-a", "oral iron for anaemia", "demo:ev-a", "RR", "0.8", None, "0.7", "0.9", "0.95",
     "0.001", "anaemia persisting at 12 weeks", "randomised trial", *TRIAL_WORK),
    (DG, "demo:v1", "demo:rec-b", "IV iron for mild anaemia", *(None,) * 14),
    (DG, "demo:v1", "demo:rec-c", "dietary advice", *(None,) * 14),
    (DG, "demo:v2", "demo:rec-d", "oral iron for anaemia (revised)", "demo:ev-b", "OR", "1.5", None, "1.1", "2",
     "0.95", None, "response", None, *TRIAL_WORK),
    (DG, "demo:v2", "demo:rec-e", "iron for children", *(None,) * 14),
    (OG, "other:v1", "other:rec-z", "no transfusion in pregnancy", *(None,) * 14),
]
THRESHOLDS = [
    ("loinc:2498-4", "2498-4", "serum iron", "adults", "<", "50", "ug/dL", "false", "demo:crit-iron-lt-50",
     "demo:rec-b", "demo:v1", DG),
    ("loinc:2498-4", "2498-4", "serum iron", "adults", ">=", "100", "ug/dL", "true", "demo:crit-iron-ge-100",
     "demo:rec-c", "demo:v1", DG),
    ("loinc:2498-4", "2498-4", "serum iron", "adults", ">", "200", "ug/dL", "false", "demo:crit-iron-gt-200",
     "demo:ni-x", "demo:v1", DG),
    ("loinc:2498-4", "2498-4", "serum iron", "children", "<", "50", "ug/dL", "false", "demo:crit-iron-lt-50",
     "demo:rec-e", "demo:v2", DG),
    ("loinc:718-7", "718-7", "haemoglobin", "adults", "<", "10", "g/dL", "false", "demo:crit-hb-lt-10", "demo:rec-a",
     "demo:v1", DG),
    ("loinc:718-7", "718-7", "haemoglobin", "adults", "<", "10", "g/dL", "false", "demo:crit-hb-lt-10", "demo:rec-d",
     "demo:v2", DG),
    ("loinc:718-7", "718-7", "haemoglobin", "adults", ">=", "10", "g/dL", "false", "demo:crit-hb-ge-10", "demo:rec-b",
     "demo:v1", DG),
    ("loinc:718-7", "718-7", "haemoglobin", "pregnant women", "<", "8", "g/dL", "false", "_:", "other:rec-z",
     "other:v1", OG),
]
COHORT_COUNTS = [
    ("2026-01-15", "recommendation", "demo:rec-a", "oral iron for anaemia", "2"),
    ("2026-01-15", "recommendation", "demo:rec-b", "IV iron for mild anaemia", "1"),
    ("2026-01-15", "order", "loinc:2498-4", "serum iron", "1"),
    ("2026-01-15", "warning", "missing-data", None, "1"),
    ("2026-01-15", "warning", "non-fasting-draw", None, "1"),  # two non-fasting draws, one patient
    ("2026-01-15", "warning", "non-morning-draw", None, "1"),
    ("2026-02-01", "recommendation", "demo:rec-d", "oral iron for anaemia (revised)", "1"),
    ("2026-02-01", "order", "loinc:2498-4", "serum iron", "1"),
    ("2026-02-01", "warning", "missing-data", None, "1"),
]
STATUS_COUNTS = [
    ("2026-01-15", "demo:v1", "demo:rec-a", "gkg:Made", "2"),
    ("2026-01-15", "demo:v1", "demo:rec-b", "gkg:Made", "1"),
    ("2026-01-15", "demo:v1", "demo:rec-b", "gkg:Suppressed", "1"),
    ("2026-01-15", "demo:v1", "demo:rec-c", "gkg:Undetermined", "1"),
    ("2026-02-01", "demo:v2", "demo:rec-d", "gkg:Made", "1"),
    ("2026-02-01", "demo:v2", "demo:rec-e", "gkg:Undetermined", "1"),
]
UNAPPROVED = [  # version 2.0 is submitted; its status is in the content and in the run's graph: one row each
    (DG, "demo:v2", "2.0", "gkg:Submitted", "urn:guidelinekg:result:q3-d", "urn:guidelinekg:Patient/q3", "demo:rec-d",
     "gkg:Made", "urn:guidelinekg:run:demo-2", "2026-02-01"),
    (DG, "demo:v2", "2.0", "gkg:Submitted", "urn:guidelinekg:result:q3-e", "urn:guidelinekg:Patient/q3", "demo:rec-e",
     "gkg:Undetermined", "urn:guidelinekg:run:demo-2", "2026-02-01"),
]

OVERRIDE_RATES = [  # per statement, hook and override reason, highest override rate first
    ("demo:ni-x", "no iron above 200 ug/dL", "order-select", "1", "0", "1", "1", "already-done", "1"),
    ("demo:ni-x", "no iron above 200 ug/dL", "order-select", "1", "0", "1", "1", "contraindication", "1"),
    ("demo:rec-b", "IV iron for mild anaemia", "patient-view", "1", "0", "1", "1", "contraindication", "1"),
    ("demo:rec-a", "oral iron for anaemia", "patient-view", "2", "1", "1", "0.5", "patient-preference", "1"),
    ("demo:rec-a", "oral iron for anaemia", "order-select", "1", "1", "0", "0", None, None),
    ("demo:rec-c", "dietary advice", "patient-view", "1", "0", "0", None, None, None),
]

CASES = [
    ("recommendations-by-grade", {}, BY_GRADE),
    ("recommendations-by-grade", {"guideline": OG}, BY_GRADE[5:]),
    ("recommendations-by-grade", {"version": "demo:v2"}, BY_GRADE[3:5]),
    ("grade-counts", {}, [
        (DG, "demo:v1", "gkg:Strong", "gkg:HighCertainty", "1"),
        (DG, "demo:v1", "gkg:Conditional", "gkg:LowCertainty", "1"),
        (DG, "demo:v1", "gkg:Conditional", "gkg:VeryLowCertainty", "1"),
        (DG, "demo:v2", "gkg:Strong", "gkg:ModerateCertainty", "1"),
        (DG, "demo:v2", None, None, "1"),
        (OG, "other:v1", "gkg:Conditional", "gkg:LowCertainty", "1"),
    ]),
    ("low-certainty-recommendations", {}, [
        (DG, "demo:v1", "gkg:VeryLowCertainty", "gkg:Conditional", "demo:rec-c", "dietary advice", "gkg:For", "adults"),
        (DG, "demo:v1", "gkg:LowCertainty", "gkg:Conditional", "demo:rec-b", "IV iron for mild anaemia", "gkg:For",
         "adults"),
        (OG, "other:v1", "gkg:LowCertainty", "gkg:Conditional", "other:rec-z", "no transfusion in pregnancy",
         "gkg:Against", "pregnant women"),
    ]),
    ("low-certainty-recommendations", {"certainty": "gkg:VeryLowCertainty"}, [
        (DG, "demo:v1", "gkg:VeryLowCertainty", "gkg:Conditional", "demo:rec-c", "dietary advice", "gkg:For", "adults"),
    ]),
    ("low-certainty-recommendations", {"certainty": "gkg:ModerateCertainty"}, []),  # not low: never listed
    ("thresholds-by-measure", {}, THRESHOLDS),
    ("thresholds-by-measure", {"measure": "loinc:718-7", "version": "demo:v1"}, [THRESHOLDS[4], THRESHOLDS[6]]),
    ("recommendation-citations", {}, CITATIONS),
    ("recommendation-citations", {"recommendation": "demo:rec-c"}, CITATIONS[2:4]),
    ("recommendation-evidence", {}, EVIDENCE),
    ("evidence-statistics", {}, [
        (DG, "demo:v1", "demo:ev-a", "oral iron trial", "demo:rec-a", "RR", "0.8", None, "0.7", "0.9", "0.95", "0.001",
         "anaemia persisting at 12 weeks", "randomised trial", "1", *TRIAL_WORK),
        (DG, "demo:v1", "demo:ev-c", "diet survey", None, "%", "62.5", "%", None, None, None, None, "adherence", None,
         "0", *NONE4),
        (DG, "demo:v2", "demo:ev-b", "revised trial analysis", "demo:rec-d", "OR", "1.5", None, "1.1", "2", "0.95", None,
         "response", None, "0", *TRIAL_WORK),
    ]),
    ("secondary-support-only", {}, [
        (DG, "demo:v1", "demo:ev-c", "diet survey", "no-citation", "0", "0", "false"),
        (DG, "demo:v1", "demo:rec-c", "dietary advice", "no-resolvable-citation", "1", "0", "true"),
        (DG, "demo:v1", "demo:ni-x", "no iron above 200 ug/dL", "secondary-only", "1", "1", "false"),
        (DG, "demo:v1", "demo:rec-b", "IV iron for mild anaemia", "secondary-only", "1", "1", "false"),
        (DG, "demo:v2", "demo:rec-e", "iron for children", "no-citation", "0", "0", "false"),
    ]),
    ("cohort-counts", {}, COHORT_COUNTS),
    ("cohort-counts", {"asOf": "2026-02-01"}, COHORT_COUNTS[6:]),
    ("cohort-status-counts", {}, STATUS_COUNTS),
    ("cohort-status-counts", {"status": "gkg:Undetermined"}, [STATUS_COUNTS[3], STATUS_COUNTS[5]]),
    ("unapproved-content-results", {}, UNAPPROVED),
    ("unapproved-content-results", {"status": "gkg:Made"}, UNAPPROVED[:1]),
    ("unapproved-content-results", {"version": "demo:v1"}, []),  # approved
    ("override-rates", {}, OVERRIDE_RATES),
    ("override-rates", {"statement": "demo:rec-a"}, OVERRIDE_RATES[3:5]),
    ("override-rates", {"hook": "order-select"}, [OVERRIDE_RATES[i] for i in (0, 1, 4)]),
]


@pytest.mark.parametrize(("name", "params", "expected"), CASES,
                         ids=[f"{n}{'-' + '-'.join(p) if p else ''}" for n, p, _ in CASES])
def test_expected_rows_on_fixed_data(fixed, name, params, expected):
    variables, rows = select(fixed, name, **params)
    assert rows == expected
    assert all(len(row) == len(variables) for row in rows)


def test_every_library_query_has_a_full_case():
    assert sorted({name for name, params, _ in CASES if not params}) == LIBRARY


@pytest.mark.parametrize("fmt", ["nq", "nt+jsonld"])
def test_other_input_formats_give_the_same_rows(fixed, tmp_path, fmt):
    """The provenance as N-Quads (as `cohort` writes it), the guideline as N-Triples or JSON-LD."""
    provenance = list(ox.parse(path=PROVENANCE))
    paths = [GUIDELINE, tmp_path / "provenance.nq", FEEDBACK]
    paths[1].write_bytes(ox.serialize(provenance, format=ox.RdfFormat.N_QUADS))
    if fmt == "nt+jsonld":  # half of the triples in each file; a blank node's triples stay in one file
        guideline = list(ox.parse(path=GUIDELINE))
        blank = [isinstance(q.subject, ox.BlankNode) or isinstance(q.object, ox.BlankNode) for q in guideline]
        nt = [q.triple for i, q in enumerate(guideline) if not blank[i] and i % 2]
        jsonld = [q for i, q in enumerate(guideline) if blank[i] or not i % 2]
        paths = [tmp_path / "a.nt", tmp_path / "b.jsonld", paths[1], FEEDBACK]
        paths[0].write_bytes(ox.serialize(nt, format=ox.RdfFormat.N_TRIPLES))
        paths[1].write_bytes(ox.serialize(jsonld, format=ox.RdfFormat.JSON_LD))
    other = load_dataset(paths, shipped_guidelines=False)
    for name in LIBRARY:
        assert select(other, name) == select(fixed, name), name


def test_named_graphs_remain_available_to_graph(fixed):
    query = QueryText("SELECT DISTINCT ?g WHERE { GRAPH ?g { ?r a gkg:RecommendationResult } } ORDER BY ?g", "-")
    assert [short(r[0]) for r in run_query(fixed, query, {}).rows] == [
        "urn:guidelinekg:run:demo-1", "urn:guidelinekg:run:demo-2"]


def test_unapproved_content_results_without_status_and_with_a_changed_status(tmp_path):
    """A version without any review status is listed (status unbound); one recorded as approved in a
    run and as under review later is listed with the non-approved status."""
    extra = tmp_path / "extra.ttl"
    extra.write_text(f"""
        @prefix gkg: <https://w3id.org/guidelinekg/ontology#> .
        @prefix demo: <{NAMESPACES['demo']}> .
        demo:v1 gkg:reviewStatus gkg:UnderReview .
        demo:v3 a gkg:GuidelineVersion ; gkg:versionOf demo:guideline .
        <urn:guidelinekg:result:q9> a gkg:RecommendationResult ; gkg:guidelineVersion demo:v3 ;
            gkg:status gkg:Made ; gkg:instantiates demo:rec-a .
        """, encoding="utf-8")
    store = load_dataset([GUIDELINE, PROVENANCE, extra], shipped_guidelines=False)
    _, rows = select(store, "unapproved-content-results", guideline="demo:guideline")
    assert [(r[1], r[3], r[4]) for r in rows] == [
        ("demo:v1", "gkg:UnderReview", "urn:guidelinekg:result:q1-a"),
        ("demo:v1", "gkg:UnderReview", "urn:guidelinekg:result:q1-b"),
        ("demo:v1", "gkg:UnderReview", "urn:guidelinekg:result:q2-a"),
        ("demo:v1", "gkg:UnderReview", "urn:guidelinekg:result:q2-b"),
        ("demo:v1", "gkg:UnderReview", "urn:guidelinekg:result:q2-c"),
        ("demo:v2", "gkg:Submitted", "urn:guidelinekg:result:q3-d"),
        ("demo:v2", "gkg:Submitted", "urn:guidelinekg:result:q3-e"),
        ("demo:v3", None, "urn:guidelinekg:result:q9"),
    ]


#################################################################
# Parameters restrict rows exactly like a filter on their column (the OPTIONAL trap, see README)
#################################################################

PARAMS = [(name, spec.name) for name in LIBRARY for spec in QueryText.from_library(name).header.params]


@pytest.mark.parametrize(("name", "param"), PARAMS, ids=[f"{n}-{p}" for n, p in PARAMS])
def test_a_parameter_selects_exactly_the_rows_with_that_value(fixed, name, param):
    variables, rows = select(fixed, name)
    column = variables.index(param)
    values = sorted({row[column] for row in rows if row[column] is not None})
    assert values, f"the fixture gives no value for ?{param}"
    for value in values:
        assert select(fixed, name, **{param: value})[1] == [r for r in rows if r[column] == value], value
    spec = next(s for s in QueryText.from_library(name).header.params if s.name == param)
    nothing = {"IRI": "<urn:guidelinekg:test:nothing>", "date": "1900-01-01", "string": "nothing"}[spec.type]
    assert select(fixed, name, **{param: nothing})[1] == []


#################################################################
# The shipped content
#################################################################


@pytest.mark.parametrize("name", LIBRARY)
def test_every_library_query_runs_on_the_shipped_content(shipped, name):
    query = QueryText.from_library(name)
    result = run_query(shipped, query, {})
    if name.startswith("cohort-") or name in ("unapproved-content-results", "override-rates"):
        assert result.rows == ()  # no run provenance or CDS Hooks feedback in the shipped content
    else:
        assert result.rows


def test_shipped_thresholds_include_ferritin_75_for_fcm(shipped):
    _, rows = select(shipped, "thresholds-by-measure", measure="loinc:2276-4")
    picked = [(r[3], r[4], r[5], r[6], r[7], r[9]) for r in rows]
    assert ("adults with RLS", "<=", "75", "ng/mL", "false", "rls:rec-fcm") in picked
    assert ("children with RLS", "<", "50", "ng/mL", "false", "rls:rec-pediatric-iron") in picked
    assert {r[0] for r in rows} == {"loinc:2276-4"}


def test_shipped_grades_and_low_certainty(shipped):
    _, rows = select(shipped, "recommendations-by-grade")
    assert rows[0][3:6] == ("gkg:Strong", "gkg:ModerateCertainty", "rls:rec-fcm")
    _, low = select(shipped, "low-certainty-recommendations")
    assert [r[4] for r in low] == ["rls:rec-ferumoxytol", "rls:rec-lmw-iron-dextran"]
    _, counts = select(shipped, "grade-counts")
    assert sum(int(r[4]) for r in counts) == len(rows) == 9


def test_shipped_citations_and_evidence(shipped):
    _, rows = select(shipped, "recommendation-citations", recommendation="rls:rec-fcm")
    markers = [(r[5], r[6], r[7]) for r in rows if r[4] == "marker"]
    assert markers == [("rls:ref-1", "1", "gkg:Unresolved")] * 3 + [("rls:ref-2", "2", "gkg:Unresolved")] * 3 + [
        ("rls:ref-4", "4", "gkg:Unresolved")]  # refs 1 and 2 have three candidate works each
    verified = [r for r in rows if r[4] == "verified-against"]
    assert [(r[9], r[12], r[13], r[14]) for r in verified] == [
        ("rls:cit-aasm-2024", "gkg:PrimarySource", "10.5664/jcsm.11390", "39324694")]
    _, evidence = select(shipped, "evidence-statistics")
    safety = [r for r in evidence if r[2] == "rls:ev-safety-iv-iron"]
    assert [r[5:12] for r in safety] == [("OR", "1.68", None, "0.92", "3.07", "0.95", "0.093")]
    _, unsupported = select(shipped, "secondary-support-only")
    assert ("rls:rec-fcm", "no-resolvable-citation", "3", "0", "true") in [
        (r[2], r[4], r[5], r[6], r[7]) for r in unsupported]


def test_a_recommend_run_over_the_submitted_shipped_version(tmp_path, capsys):
    """Real provenance: `recommend --provenance` for the example patient, then the run-level queries."""
    run = tmp_path / "run.ttl"
    example = HERE.parent / "examples" / "patient-ferritin-45.json"
    assert cli.main(["recommend", str(example), "--as-of", "2026-01-15", "--provenance", str(run)]) == 0
    capsys.readouterr()
    store = load_dataset([run])
    _, counts = select(store, "cohort-counts")
    made = [r[2] for r in counts if r[1] == "recommendation"]
    assert "rls:rec-fcm" in made and all(r[4] == "1" for r in counts)
    _, unapproved = select(store, "unapproved-content-results", status="gkg:Made")
    assert sorted(r[6] for r in unapproved) == sorted(made)
    assert {r[3] for r in unapproved} == {"gkg:Submitted"}


def test_cohort_counts_match_the_cohort_summary(tmp_path, capsys):
    """Real cohort output (three patients, chunks of two: two named graphs): the query's counts are the
    recommendation, order and warning rows of summary.csv."""
    bundles = tmp_path / "in"
    bundles.mkdir()
    for case in ("001-iron-deficient-45kg", "021-no-iron-studies", "034-non-fasting-draw"):
        shutil.copy(HERE / "cases" / case / "patient.json", bundles / f"{case}.json")
    out = tmp_path / "out"
    assert cli.main(["cohort", str(bundles), "--out", str(out), "--as-of", "2026-02-01", "--chunk-size", "2",
                     "--no-progress"]) == 0
    capsys.readouterr()
    with (out / "summary.csv").open(encoding="utf-8") as f:
        summary = sorted((r["kind"], r["item"], r["patients"]) for r in csv.DictReader(f)
                         if r["kind"] in ("recommendation", "order", "warning"))
    _, rows = select(load_dataset([out / "provenance.trig.gz"]), "cohort-counts")
    found = sorted((kind, item.replace("loinc:", "") if kind == "order" else
                    item.replace("rls:", NAMESPACES["rls"]), n) for _, kind, item, _, n in rows)
    assert found == summary
    assert {r[0] for r in rows} == {"2026-02-01"}


#################################################################
# Meta-tests: every library query is documented, ordered and tested
#################################################################


@pytest.mark.parametrize("name", LIBRARY)
def test_header_documents_purpose_params_and_returns(fixed, name):
    query = QueryText.from_library(name)
    header = query.header
    assert header.get("query") == name
    assert len(header.get("purpose") or "") > 40
    declared = [v for k, v in header.fields if k == "param"]
    assert declared or header.get("params") == "none"
    assert len(header.params) == len(declared), "every param line reads 'name (TYPE, optional|required) ...'"
    assert all(p.type in PARAM_TYPES and p.description for p in header.params)
    result = run_query(fixed, query, {})
    returns = re.findall(r"\?(\w+)", header.get("returns") or "")
    assert sorted(set(returns)) == sorted(result.variables), "'returns' names every column, and only those"
    assert {p.name for p in header.params} <= set(result.variables), "parameters are projected variables"
    assert re.search(r"^ORDER BY", query.text, re.MULTILINE), "a total ORDER BY keeps the output deterministic"


@pytest.mark.parametrize("name", LIBRARY)
def test_every_library_query_is_tested_and_listed_by_name(name):
    tests = "".join(p.read_text(encoding="utf-8") for p in HERE.glob("test_query*.py"))
    assert f'"{name}"' in tests
    assert f"`{name}`" in (library_dir() / "README.md").read_text(encoding="utf-8")


def test_a_query_dataset_holds_what_the_knowledge_rules_derive(shipped):
    """gkg:memberCount in a `query` dataset is each all-of / any-of's number of distinct members, counted
    here from the dataset's own triples; gkg:restrictsRecommendation links only not-indicated statements
    to recommendations."""
    gkg = "https://w3id.org/guidelinekg/ontology#"
    rdf_type = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    default = ox.DefaultGraph()
    combos = {q.subject for kind in ("AllOf", "AnyOf")
              for q in shipped.quads_for_pattern(None, rdf_type, ox.NamedNode(gkg + kind), default)}
    counts = {q.subject: int(q.object.value)
              for q in shipped.quads_for_pattern(None, ox.NamedNode(gkg + "memberCount"), None, default)}
    assert combos and counts == {
        c: len({q.object for q in shipped.quads_for_pattern(c, ox.NamedNode(gkg + "member"), None, default)})
        for c in combos
    }
    restricts = list(shipped.quads_for_pattern(None, ox.NamedNode(gkg + "restrictsRecommendation"), None, default))
    assert restricts
    for q in restricts:
        assert ox.Quad(q.subject, rdf_type, ox.NamedNode(gkg + "NotIndicatedStatement"), default) in shipped
        assert ox.Quad(q.object, rdf_type, ox.NamedNode(gkg + "Recommendation"), default) in shipped
