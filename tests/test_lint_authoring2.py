"""Validate findings that guideline authors trying new domains (diabetes diagnosis, AF anticoagulation) met
as silent failures or misleading messages: equivalent measures in two canonical units
(``equivalent-measure-units``), a gkg:alsoStatedAs that can never apply or says another value
(``stated-unit-unusable``, ``stated-value-differs``), a member of a junction that is no criterion (the
SHACL message and ``criterion-not-decided`` located at the reference), and a property on a kind of node it
does not belong to (``property-wrong-kind``). Each case is small Turtle on top of the lint-clean example
guideline of ``tests/fixtures/validate/example/``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from guidelinekg.checks import lint, units
from guidelinekg.checks.shacl import shacl_findings
from guidelinekg.checks.validate import validate
from guidelinekg.content import resources
from guidelinekg.content.loading import Content, Finding, load_files

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLE = FIXTURES / "validate" / "example"
ROOT = Path(__file__).parent.parent
PREFIXES = """@prefix gkg:  <https://w3id.org/guidelinekg/ontology#> .
@prefix ex:   <https://example.org/guideline/example/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
"""
NEW_CODES = {"equivalent-measure-units", "stated-unit-unusable", "stated-value-differs", "property-wrong-kind"}


def load(tmp_path: Path, text: str, *, example: bool = True) -> tuple[Content, Path]:
    data = tmp_path / "data.ttl"
    data.write_text(PREFIXES + text, encoding="utf-8")
    content, problems = load_files([*resources.vocabulary_files(), *([EXAMPLE] if example else []), data])
    assert problems == []
    return content, data


def lints(tmp_path: Path, text: str, code: str) -> list[Finding]:
    content, _ = load(tmp_path, text)
    return [f for f in lint.run_lints(content) if f.code == code]


def line_of(path: Path, fragment: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if fragment in line)


# --- equivalent measures in two canonical units ------------------------------------------------------

HBA1C = """
ex:a1c-ngsp a gkg:Measure ; rdfs:label "HbA1c (NGSP)"@en ; gkg:canonicalUnit "%" ;
    gkg:plausibleMin 2 ; gkg:plausibleMax 25 .
ex:a1c-ifcc a gkg:Measure ; rdfs:label "HbA1c (IFCC)"@en ; gkg:canonicalUnit "{unit}" ;
    gkg:plausibleMin 0 ; gkg:plausibleMax 250 ;
    gkg:equivalentMeasure ex:a1c-ngsp .
"""


def test_equivalent_measures_in_two_units_are_an_error_at_the_link(tmp_path):
    found = lints(tmp_path, HBA1C.replace("{unit}", "mmol/mol"), "equivalent-measure-units")
    assert len(found) == 1
    finding = found[0]
    assert finding.severity == "error" and finding.path == "gkg:equivalentMeasure"
    assert finding.line == line_of(tmp_path / "data.ttl", "gkg:equivalentMeasure ex:a1c-ngsp")
    assert "equivalent measures must share one canonical unit" in finding.message
    assert "%" in finding.message and "mmol/mol" in finding.message


def test_equivalent_measures_in_one_unit_are_quiet(tmp_path):
    assert lints(tmp_path, HBA1C.replace("{unit}", "%"), "equivalent-measure-units") == []


def test_units_that_convert_still_clash_within_a_group(tmp_path):
    """A result is converted to the group's one unit: two units, even convertible ones, leave none."""
    text = """
ex:creat a gkg:Measure ; rdfs:label "creatinine"@en ; gkg:canonicalUnit "mg/dL" ; gkg:unitFactor ex:creat-molar ;
    gkg:plausibleMin 0.1 ; gkg:plausibleMax 30 .
ex:creat-molar-code a gkg:Measure ; rdfs:label "creatinine (molar)"@en ; gkg:canonicalUnit "umol/L" ;
    gkg:plausibleMin 5 ; gkg:plausibleMax 3000 ; gkg:equivalentMeasure ex:creat .
ex:creat-molar a gkg:UnitFactor ; rdfs:label "creatinine umol/L to mg/dL"@en ;
    gkg:fromUnit "umol/L" ; gkg:toUnit "mg/dL" ; gkg:divideBy 88.42 .
"""
    assert len(lints(tmp_path, text, "equivalent-measure-units")) == 1


def test_a_group_linked_transitively_and_backwards_is_one_finding(tmp_path):
    text = """
ex:m1 a gkg:Measure ; rdfs:label "m1"@en ; gkg:canonicalUnit "%" ; gkg:plausibleMin 0 ; gkg:plausibleMax 100 ;
    gkg:equivalentMeasure ex:m2 .
ex:m2 a gkg:Measure ; rdfs:label "m2"@en ; gkg:canonicalUnit "%" ; gkg:plausibleMin 0 ; gkg:plausibleMax 100 .
ex:m3 a gkg:Measure ; rdfs:label "m3"@en ; gkg:canonicalUnit "mmol/mol" ; gkg:plausibleMin 0 ; gkg:plausibleMax 250 .
ex:m2 gkg:equivalentMeasure ex:m3 .
"""
    found = lints(tmp_path, text, "equivalent-measure-units")
    assert len(found) == 1 and "m3" in found[0].message and "m1" in found[0].message


def _guideline(directory: Path, name: str, measures: str) -> None:
    directory.mkdir()
    (directory / "guideline.ttl").write_text(PREFIXES + f"""
ex:{name} a gkg:Guideline ; rdfs:label "{name}"@en .
ex:{name}-v1 a gkg:GuidelineVersion ; rdfs:label "{name} v1"@en ;
    gkg:versionOf ex:{name} ; gkg:versionLabel "1" ; gkg:reviewStatus gkg:Submitted .
""" + measures, encoding="utf-8")


def test_equivalent_measures_read_in_units_that_do_not_convert_across_guidelines(tmp_path):
    """One guideline makes X and W equivalent in %, another Y and W in mmol/mol: X and Y are one test read
    in two units that do not convert (each guideline alone is consistent)."""
    _guideline(tmp_path / "a", "a", """
ex:x a gkg:Measure ; rdfs:label "test X"@en ; gkg:canonicalUnit "%" ; gkg:equivalentMeasure ex:w .
ex:w a gkg:Measure ; rdfs:label "test W"@en ; gkg:canonicalUnit "%" .
""")
    _guideline(tmp_path / "b", "b", """
ex:y a gkg:Measure ; rdfs:label "test Y"@en ; gkg:canonicalUnit "mmol/mol" ; gkg:equivalentMeasure ex:w .
ex:w a gkg:Measure ; rdfs:label "test W"@en ; gkg:canonicalUnit "mmol/mol" .
""")
    contents = []
    for name in ("a", "b"):
        content, problems = load_files([*resources.vocabulary_files(), tmp_path / name])
        assert problems == []
        contents.append(content)
        assert [f for f in lint.run_lints(content) if f.code == "equivalent-measure-units"] == []
    found = units.equivalent_cross_findings(contents)
    assert [f.code for f in found] == ["equivalent-measure-units"]
    assert "equivalent measures must share one canonical unit" in found[0].message
    report = validate([tmp_path / "a", tmp_path / "b"], owl=False)
    assert "equivalent-measure-units" in {f["code"] for f in report["findings"]}


# --- gkg:alsoStatedAs that can never apply, or says another value ------------------------------------

ALSO = """
ex:a1c a gkg:Measure ; rdfs:label "HbA1c"@en ; gkg:canonicalUnit "%" ;
    gkg:plausibleMin 2 ; gkg:plausibleMax 25 {factor}.
ex:a1c-factor a gkg:UnitFactor ; rdfs:label "HbA1c mmol/mol to %"@en ;
    gkg:fromUnit "mmol/mol" ; gkg:toUnit "%" ; gkg:divideBy 10.929 ; gkg:addend 2.15 .
ex:crit-a1c-ge-6.5 a gkg:LabThreshold ; rdfs:label "HbA1c >=6.5 %"@en ;
    gkg:onMeasure ex:a1c ; gkg:comparator gkg:GreaterOrEqual ; gkg:thresholdValue 6.5 ; gkg:thresholdUnit "%" ;
    gkg:alsoStatedAs [ a gkg:Quantity ; gkg:value {value} ; gkg:unit "mmol/mol" ] .
ex:crit-a1c-lt-6.5 a gkg:LabThreshold ; rdfs:label "HbA1c <6.5 %"@en ;
    gkg:onMeasure ex:a1c ; gkg:comparator gkg:LessThan ; gkg:thresholdValue 6.5 ; gkg:thresholdUnit "%" .
"""


def test_also_stated_in_a_unit_that_never_converts_is_a_warning_at_the_threshold(tmp_path):
    content, data = load(tmp_path, ALSO.replace("{factor}", "").replace("{value}", "48"))
    found = lint.run_lints(content)
    unusable = [f for f in found if f.code == "stated-unit-unusable"]
    assert len(unusable) == 1
    finding = unusable[0]
    assert finding.severity == "warning" and finding.focus == "ex:crit-a1c-ge-6.5"
    assert finding.line == line_of(data, "gkg:alsoStatedAs") and finding.value == "48 mmol/mol"
    assert "gkg:UnitFactor" in finding.message and "remove the gkg:alsoStatedAs" in finding.message
    # the boundary between the two bands is no gap for results in mmol/mol: none is usable
    assert "boundary-unit-mismatch" not in {f.code for f in found}


def test_also_stated_in_a_unit_the_measure_converts_is_quiet(tmp_path):
    text = ALSO.replace("{factor}", "; gkg:unitFactor ex:a1c-factor ").replace("{value}", "48")
    assert lints(tmp_path, text, "stated-unit-unusable") == []
    assert lints(tmp_path, text, "stated-value-differs") == []


def test_also_stated_value_far_from_the_threshold_is_a_warning(tmp_path):
    text = ALSO.replace("{factor}", "; gkg:unitFactor ex:a1c-factor ").replace("{value}", "58")
    found = lints(tmp_path, text, "stated-value-differs")
    assert len(found) == 1
    assert found[0].severity == "warning" and found[0].focus == "ex:crit-a1c-ge-6.5"
    assert "58 mmol/mol" in found[0].message and "check the value the source states" in found[0].message


@pytest.mark.parametrize(("value", "fires"), [("7.0", False), ("7", False), ("6.9", False), ("8.0", True)])
def test_also_stated_value_within_rounding_or_a_few_percent_is_quiet(tmp_path, value, fires):
    text = f"""
ex:glucose a gkg:Measure ; rdfs:label "glucose"@en ; gkg:canonicalUnit "mg/dL" ; gkg:unitFactor ex:glucose-molar ;
    gkg:plausibleMin 10 ; gkg:plausibleMax 2000 .
ex:glucose-molar a gkg:UnitFactor ; rdfs:label "glucose mg/dL to mmol/L"@en ;
    gkg:fromUnit "mg/dL" ; gkg:toUnit "mmol/L" ; gkg:divideBy 18.016 .
ex:crit-glucose-ge-126 a gkg:LabThreshold ; rdfs:label "glucose >=126 mg/dL"@en ;
    gkg:onMeasure ex:glucose ; gkg:comparator gkg:GreaterOrEqual ; gkg:thresholdValue 126 ; gkg:thresholdUnit "mg/dL" ;
    gkg:alsoStatedAs [ a gkg:Quantity ; gkg:value {value} ; gkg:unit "mmol/L" ] .
"""
    assert bool(lints(tmp_path, text, "stated-value-differs")) is fires


# --- a junction member that is no criterion ----------------------------------------------------------

JUNCTION = """
ex:crit-htn a gkg:LabThreshold ; rdfs:label "widget >=30"@en ;
    gkg:onMeasure ex:widget ; gkg:comparator gkg:GreaterOrEqual ; gkg:thresholdValue 30 ; gkg:thresholdUnit "mg/L" .
ex:crit-age a gkg:AgeCritrion ; rdfs:label "age >=80"@en ;
    gkg:comparator gkg:GreaterOrEqual ; gkg:thresholdValue 80 ; gkg:thresholdUnit "a" .
ex:crit-pair a gkg:AllOf ; rdfs:label "pair"@en ;
    gkg:member ex:crit-widget-lt-10 ,
        ex:crit-htm .
ex:crit-pair-age a gkg:AllOf ; rdfs:label "pair with age"@en ; gkg:member ex:crit-widget-lt-10 , ex:crit-age .
"""


def test_a_member_described_nowhere_is_located_at_the_reference_with_the_likely_iri(tmp_path):
    content, data = load(tmp_path, JUNCTION)
    found = [f for f in lint.run_lints(content) if f.code == "criterion-not-decided" and f.focus == "ex:crit-htm"]
    assert len(found) == 1
    assert found[0].file.endswith("data.ttl") and found[0].line == line_of(data, "ex:crit-htm .")
    assert "described nowhere" in found[0].message and "did you mean ex:crit-htn?" in found[0].message


def test_shacl_says_what_is_wrong_with_a_member_that_is_no_criterion(tmp_path):
    content, _ = load(tmp_path, JUNCTION)
    shapes, problems = load_files(resources.shape_files())
    assert problems == []
    messages = {f.value: f.message for f in shacl_findings(content, shapes) if f.code == "shacl:class"
                and f.path == "gkg:member"}  # fmt: skip
    assert messages["ex:crit-htm"].startswith("ex:crit-htm is described nowhere")
    assert messages["ex:crit-age"].startswith("ex:crit-age is typed gkg:AgeCritrion, a class nothing defines, "
                                              "not gkg:Criterion")
    assert "at least two gkg:member values, each" not in messages["ex:crit-htm"]  # the old, misleading wording


# --- a property on a kind of node it does not belong to ----------------------------------------------

WRONG_KIND = """
ex:vs-dm a gkg:ValueSet ; rdfs:label "diabetes"@en .
ex:crit-dm a gkg:DiagnosisCriterion ; rdfs:label "diabetes"@en ; gkg:requiresDiagnosis ex:vs-dm ;
    gkg:requiresSex "male" .
"""


def test_a_property_on_a_kind_that_does_not_take_it_is_a_located_warning(tmp_path):
    content, data = load(tmp_path, WRONG_KIND)
    found = [f for f in lint.run_lints(content) if f.code == "property-wrong-kind"]
    assert [(f.focus, f.path, f.severity) for f in found] == [("ex:crit-dm", "gkg:requiresSex", "warning")]
    assert found[0].line == line_of(data, 'gkg:requiresSex "male"')
    assert "gkg:AdministrativeSexCriterion" in found[0].message and "gkg:AllOf" in found[0].message


@pytest.mark.parametrize("text", [
    # the kind it belongs to
    'ex:crit-male a gkg:AdministrativeSexCriterion ; rdfs:label "male"@en ; gkg:requiresSex "male" .',
    # a rule reads gkg:resultAgeLimit on any node with gkg:onMeasure (rule 08), whatever its domain says
    'ex:age-30 a gkg:ResultAgeLimit ; rdfs:label "30 days"@en ; gkg:maximumAgeDays 30 .\n'
    'ex:vs-np a gkg:ValueSet ; rdfs:label "not pregnant"@en .\n'
    'ex:crit-np a gkg:CodedResultCriterion ; rdfs:label "not pregnant"@en ; gkg:onMeasure ex:widget ;\n'
    '    gkg:resultCode ex:vs-np ; gkg:resultAgeLimit ex:age-30 .',
    # a property without a domain is read on any statement by the reports
    'ex:req a gkg:PreAnalyticRequirement ; rdfs:label "fasting"@en .\n'
    'ex:gps a gkg:GoodPracticeStatement ; rdfs:label "draw fasting"@en ; gkg:requirement ex:req .',
    # a subclass of the domain, declared by the guideline
    'ex:MySexCriterion rdfs:subClassOf gkg:AdministrativeSexCriterion .\n'
    'ex:crit-female a ex:MySexCriterion ; rdfs:label "female"@en ; gkg:requiresSex "female" .',
])  # fmt: skip
def test_a_property_on_a_kind_that_takes_it_is_quiet(tmp_path, text):
    assert lints(tmp_path, text, "property-wrong-kind") == []


# --- shipped and example content stay free of these findings ----------------------------------------

CONTENT = [resources.ontology_dir() / "guidelines", *sorted((ROOT / "examples" / "guidelines").iterdir()),
           ROOT / "docs" / "examples" / "authoring"]  # fmt: skip


@pytest.mark.parametrize("directory", CONTENT, ids=[p.name for p in CONTENT])
def test_shipped_and_example_content_report_none_of_these(directory):
    content, problems = load_files([*resources.vocabulary_files(), directory])
    assert problems == []
    assert [f for f in lint.run_lints(content) if f.code in NEW_CODES] == []
