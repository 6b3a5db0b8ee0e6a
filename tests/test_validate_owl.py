"""The OWL step: HermiT through owlready2 in an isolated world (needs Java; each run takes about 1-2 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from guidelinekg.content import resources
from guidelinekg.content.loading import load_files
from guidelinekg.checks.owl import check_owl, java_problem

FIXTURES = Path(__file__).parent / "fixtures" / "validate"
EXAMPLE = FIXTURES / "example" / "guideline.ttl"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(java_problem() is not None, reason=f"HermiT cannot run: {java_problem()}"),
]

PREFIXES = """\
@prefix gkg:  <https://w3id.org/guidelinekg/ontology#> .
@prefix owl:  <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix ex:   <https://example.org/guideline/example/> .
"""


def owl(*paths: Path):
    content, problems = load_files([*resources.vocabulary_files(), *paths])
    assert problems == []
    return check_owl(content)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "extra.ttl"
    path.write_text(PREFIXES + text, encoding="utf-8")
    return path


def test_shipped_vocabulary_is_consistent():
    status, findings = owl()
    assert (status.status, findings) == ("consistent", [])
    assert status.seconds is not None and status.seconds > 0


def test_shipped_vocabulary_and_guidelines_are_consistent():
    status, findings = owl(*resources.guideline_files())
    assert (status.status, findings) == ("consistent", [])


def test_functional_property_with_two_values_is_inconsistent(tmp_path):
    status, findings = owl(EXAMPLE, write(tmp_path, "ex:crit-widget-lt-10 gkg:thresholdValue 12.0 .\n"))
    assert status.status == "inconsistent"
    assert [(f.severity, f.kind, f.code, f.file) for f in findings] == [
        ("error", "owl", "owl-inconsistent", "")
    ]


def test_unsatisfiable_class_is_named_and_imports_are_never_followed(tmp_path):
    extra = write(
        tmp_path,
        "<https://example.org/x> a owl:Ontology ; owl:imports <http://example.invalid/never.owl> .\n"
        'ex:Impossible a owl:Class ; rdfs:label "impossible recommendation"@en ;\n'
        "    rdfs:subClassOf gkg:Recommendation , [ a owl:Class ; owl:complementOf gkg:Statement ] .\n",
    )
    status, findings = owl(EXAMPLE, extra)
    assert status.status == "unsatisfiable"
    assert status.reason.startswith("1 owl:imports ignored")
    assert [(f.code, f.focus, f.focus_label, f.file, f.line) for f in findings] == [
        ("owl-unsatisfiable-class", "ex:Impossible", "impossible recommendation", str(extra), 6)
    ]
