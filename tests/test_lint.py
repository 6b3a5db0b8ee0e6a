"""Lints on fixture guidelines: every lint code has a case where it fires and one where it must not.

Each case is ``tests/fixtures/validate/lints/<code>--fires|--quiet/data.ttl``, loaded on top of the
lint-clean example guideline (``tests/fixtures/validate/example/``) and the core vocabulary. Its
``expected.txt`` pins every lint finding (golden file). To rewrite the golden files after a deliberate
change of wording: ``GUIDELINEKG_REGENERATE=1 pytest tests/test_lint.py`` and review the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from guidelinekg.checks import criteria, lint, units
from guidelinekg.content import resources
from guidelinekg.errors import ConfigurationError
from guidelinekg.content.loading import Finding, load_files

FIXTURES = Path(__file__).parent / "fixtures" / "validate"
EXAMPLE = FIXTURES / "example"
CASES_DIR = FIXTURES / "lints"
CASES = sorted(p for p in CASES_DIR.iterdir() if p.is_dir())

# Every code a lint can report: the SPARQL checks' codes, then the Python checks'.
LINT_CODES = {
    "unresolved-reference", "dangling-citation", "no-resolvable-citation", "secondary-support-only",
    "discrepancy", "unverified", "project-assumption",
    "threshold-overlap", "threshold-gap", "boundary-unit-mismatch", "recommendation-conflict", "derived-property-written",
    "threshold-unit-mismatch", "criterion-cycle", "points-score", "code-descendants-unsupported",
    "code-check-digit", "code-iri-mismatch", "code-unknown", "code-has-descendants", "code-system-alias",
    "disjoint-types", "measure-without-plausible-range", "undefined-term", "criterion-not-decided",
    "unit-factor-unused", "interval-not-duration", "unit-not-ucum", "threshold-units-incomparable",
    "substance-class-empty", "undescribed-reference", "dosing-statements-differ", "weight-based-dose-units",
    "recommendation-for-and-against", "recommendation-except", "caution-applicability-ignored",
}  # fmt: skip




def lint_files(*paths: Path) -> list[Finding]:
    content, problems = load_files([*resources.vocabulary_files(), *paths])
    assert problems == []
    return lint.run_lints(content)


def golden_line(finding: Finding) -> str:
    """A finding as in the text report, with the file's name only (fixtures live anywhere)."""
    where = f"{Path(finding.file).name}:{finding.line}" if finding.file else "-"
    return f"{where}: {finding.severity}: [{finding.code}] {finding.focus_label} ({finding.path}): {finding.message}"


def test_example_guideline_is_lint_clean():
    assert [golden_line(f) for f in lint_files(EXAMPLE)] == []


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_lint_case(case: Path):
    code, _, mode = case.name.partition("--")
    lines = [golden_line(f) for f in lint_files(EXAMPLE, case / "data.ttl")]
    codes = {re.search(r"\[([\w-]+)\]", line).group(1) for line in lines}
    if mode == "fires":
        assert code in codes, f"{code} did not fire:\n" + "\n".join(lines)
    else:
        assert code not in codes, f"{code} fired:\n" + "\n".join(lines)
    expected = case / "expected.txt"
    if os.environ.get("GUIDELINEKG_REGENERATE"):
        expected.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    assert lines == expected.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize(("unit", "spelling"), [
    ("mcg", "ug"), ("cc", "mL"), ("IU", "[iU]"), ("hrs", "h"), ("µg", "ug"), ("mcg/kg", "ug/kg"),
    ("IU/L", "[iU]/L"), ("mg/kg/day", "mg/kg/d"), ("mEq/L", "meq/L"), ("MG/DL", "mg/dL"), ("furlongs", None),
    ("tab", None), ("ug", None),  # None: no obvious UCUM spelling (or the unit is UCUM already)
])  # fmt: skip
def test_unit_not_ucum_names_the_ucum_spelling(unit: str, spelling: str | None):
    assert units.ucum_spelling(unit) == spelling


def test_a_unit_that_is_no_ucum_is_reported_once_not_as_a_mismatch_too(tmp_path: Path):
    """A threshold or interval in a unit that is no UCUM is unit-not-ucum only: not also a threshold in the
    wrong unit (the measure's is "mg/L") or an interval that is no duration."""
    data = tmp_path / "data.ttl"
    fires = (CASES_DIR / "unit-not-ucum--fires" / "data.ttl").read_text(encoding="utf-8")
    data.write_text(fires.split("ex:gizmo a")[0] + (
        'ex:crit-widget-lt-5 a gkg:LabThreshold ; rdfs:label "widget level <5000 mcg/L"@en ;\n'
        '    gkg:onMeasure ex:widget ; gkg:comparator gkg:LessThan ; gkg:thresholdValue 5000 ; '
        'gkg:thresholdUnit "mcg/L" .\n'), encoding="utf-8")  # fmt: skip
    codes = [f.code for f in lint_files(EXAMPLE, data)]
    assert codes.count("unit-not-ucum") == 5
    assert "threshold-unit-mismatch" not in codes and "interval-not-duration" not in codes


def test_every_lint_code_has_a_firing_and_a_quiet_case():
    names = {c.name for c in CASES}
    missing = sorted(f"{code}--{mode}" for code in LINT_CODES for mode in ("fires", "quiet")
                     if f"{code}--{mode}" not in names)  # fmt: skip
    assert missing == []
    assert {n.partition("--")[0] for n in names} == LINT_CODES


def test_shipped_content_reports_only_known_codes():
    findings = lint_files(*resources.guideline_files())
    assert {f.code for f in findings} <= LINT_CODES
    assert all(f.kind == "lint" and f.severity in ("error", "warning", "info") for f in findings)


def test_registry_matches_the_query_files():
    on_disk = {p.stem for p in (resources.queries_dir() / "checks").glob("*.rq")}
    assert on_disk == set(lint.SPARQL_CHECKS)
    assert len(lint.SPARQL_CHECKS) == len(set(lint.SPARQL_CHECKS))


def test_decided_criterion_kinds_are_read_from_the_rules_and_match_the_vocabulary():
    """criterion-not-decided keeps its list in one place, read from queries/rules/: the kinds the rules
    decide are exactly the vocabulary's subclasses of gkg:Criterion (a new kind needs a rule, and a rule
    that names a kind the vocabulary lacks is a typo)."""
    kinds = criteria.decided_kinds()
    known = {"AgeCriterion", "DiagnosisCriterion", "MedicationExposureCriterion", "AllOf", "AnyOf", "Not",
             "Always"}  # fmt: skip
    assert {criteria.GKG + k for k in known} <= kinds.typed
    assert frozenset({criteria.GKG + "onMeasure", criteria.GKG + "comparator"}) in kinds.shapes  # rule 41
    content, _ = load_files(resources.vocabulary_files())
    every_kind = criteria._subclasses(content, criteria.CRITERION) - {criteria.CRITERION.value}
    assert kinds.classes(content) == every_kind


def test_decided_kinds_follow_what_a_rule_requires(tmp_path):
    """Only required patterns count: a type in OPTIONAL does not; VALUES or FILTER IN lists do."""
    head = "# stratum: 4\nPREFIX gkg: <https://w3id.org/guidelinekg/ontology#>\n"
    template = "INSERT { ?o a gkg:CriterionOutcome ; gkg:criterion ?k } WHERE { %s }"
    rules = {"a": "?k a ?t . FILTER(?t IN (gkg:AllOf, gkg:AnyOf)) OPTIONAL { ?k a gkg:Not }",
             "b": "?x gkg:holds ?k . ?k gkg:onMeasure ?m ; gkg:comparator ?c # a comment: ?k a gkg:Always\n",
             "c": "?k a gkg:Always . FILTER NOT EXISTS { ?k a gkg:Not }"}  # fmt: skip
    for name, where in rules.items():
        (tmp_path / f"{name}.rq").write_text(head + template % where, encoding="utf-8")
    not_deciding = "INSERT { ?k gkg:memberCount 1 } WHERE { ?k a gkg:Not }"
    (tmp_path / "d.rq").write_text(head + not_deciding, encoding="utf-8")
    kinds = criteria.decided_kinds(tmp_path)
    assert kinds.typed == {criteria.GKG + k for k in ("AllOf", "AnyOf", "Always")}
    assert kinds.shapes == {frozenset({criteria.GKG + "onMeasure", criteria.GKG + "comparator"})}


@pytest.mark.parametrize("check", lint.load_checks(), ids=lambda c: c.name)
def test_check_file_has_header_and_contract(check: lint.SparqlCheck):
    header = [line for line in check.text.splitlines() if line.startswith("#")]
    assert header[0] == f"# check: {check.name}"
    for field in ("purpose:", "encodes:", "returns:"):
        assert any(line.startswith(f"# {field}") for line in header), field
    select = re.search(r"SELECT\s+(?:DISTINCT\s+)?(.*?)\s+WHERE", check.text, re.DOTALL).group(1)
    variables = re.findall(r"\?(\w+)", select)
    assert (
        set(lint.REQUIRED_VARIABLES)
        <= set(variables)
        <= set(lint.REQUIRED_VARIABLES + lint.OPTIONAL_VARIABLES)
    )


def write_check(directory: Path, name: str, text: str) -> lint.SparqlCheck:
    path = directory / f"{name}.rq"
    path.write_text(text, encoding="utf-8")
    return lint.SparqlCheck(name, path, text)


def test_check_with_wrong_variables_is_a_configuration_error(tmp_path):
    check = write_check(tmp_path, "bad", "# purpose: x\n# returns: x\nSELECT ?focus WHERE { ?focus ?p ?o }")
    content, _ = load_files(resources.vocabulary_files())
    with pytest.raises(ConfigurationError, match=r"bad\.rq: must select \?severity \?code \?message"):
        lint.run_lints(content, checks=[check])


def test_check_with_unknown_severity_is_a_configuration_error(tmp_path):
    text = ('# purpose: x\n# returns: x\nSELECT ?severity ?code ?focus ?message WHERE {\n'
            '  ?focus a <http://www.w3.org/2002/07/owl#Ontology> . BIND("fatal" AS ?severity)\n'
            '  BIND("c" AS ?code) BIND("m" AS ?message) }')  # fmt: skip
    content, _ = load_files(resources.vocabulary_files())
    with pytest.raises(ConfigurationError, match="got 'fatal'"):
        lint.run_lints(content, checks=[write_check(tmp_path, "sev", text)])


def test_check_without_header_is_refused(tmp_path, monkeypatch):
    for name in lint.SPARQL_CHECKS:
        (tmp_path / f"{name}.rq").write_text(
            "SELECT ?severity ?code ?focus ?message WHERE {}", encoding="utf-8"
        )
    with pytest.raises(ConfigurationError, match="header"):
        lint.load_checks(tmp_path)


def test_related_rows_are_merged_in_sorted_order():
    """Rows that differ only in ?related become one finding; the labels are sorted."""
    findings = lint_files(EXAMPLE, FIXTURES / "lints" / "unresolved-reference--fires" / "data.ttl")
    (ref2,) = [f for f in findings if f.focus == "ex:ref-2"]
    assert ref2.message == "unresolved source reference, cited by: check widget level first"
    (ref3,) = [f for f in findings if f.focus == "ex:ref-3"]
    assert ref3.message == "unresolved source reference, cited by no statement"
