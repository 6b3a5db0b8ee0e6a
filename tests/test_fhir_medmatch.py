"""Substance recognition for medication exposures (src/guidelinekg/patients/medmatch.py)."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox
import pytest
import rdflib

from guidelinekg.patients.medmatch import SubstanceMatch, SubstanceMatcher

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
EX = "https://example.org/test-guideline#"
DRUGS = "http://example.org/drugs"


@pytest.fixture(scope="module")
def matcher() -> SubstanceMatcher:
    return SubstanceMatcher.from_graph(rdflib.Graph().parse(FIXTURES / "test-guideline.ttl"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Brandex 750 mg", ["Examplomab"]),
        ("brandex", ["Examplomab"]),
        ("EXAMPLOMAB 100 mg/mL", ["Examplomab"]),
        ("Injectafer 750 mg", ["TestCarboxymaltose"]),
        ("test   carboxymaltose\ninfusion", ["TestCarboxymaltose"]),
        ("Brandexol 10 mg", []),
        ("Superbrandex", []),
        ("carboxymaltose", []),
        ("Brandex + Injectafer", ["Examplomab", "TestCarboxymaltose"]),
        ("", []),
    ],
)
def test_names_match_case_insensitive_whole_words(
    matcher: SubstanceMatcher, text: str, expected: list[str]
) -> None:
    assert matcher.match(codings=[], texts=[text]) == [SubstanceMatch(EX + s, "name") for s in expected]


@pytest.mark.parametrize(
    ("coding", "expected"),
    [
        ((DRUGS, "EX-1"), [SubstanceMatch(EX + "Examplomab", "code")]),  # gkg:VerifiedPrimary
        ((DRUGS, "OT-2"), [SubstanceMatch(EX + "Otherol", "code")]),  # gkg:VerifiedSecondary
        ((DRUGS, "EX-999"), []),  # gkg:Unverified: never used
        (("http://other.example/drugs", "EX-1"), []),  # another system
        ((None, "EX-1"), []),
    ],
)
def test_only_verified_codes_match(matcher: SubstanceMatcher, coding, expected) -> None:
    assert matcher.match(codings=[coding], texts=[]) == expected


def test_code_and_name_matches_are_both_reported(matcher: SubstanceMatcher) -> None:
    found = matcher.match(codings=[(DRUGS, "EX-1")], texts=["Examplomab (Brandex)"])
    assert found == [SubstanceMatch(EX + "Examplomab", "code"), SubstanceMatch(EX + "Examplomab", "name")]


def test_matcher_from_pyoxigraph_store_agrees(matcher: SubstanceMatcher) -> None:
    store = ox.Store()
    store.load(path=str(FIXTURES / "test-guideline.ttl"), format=ox.RdfFormat.TURTLE)
    from_store = SubstanceMatcher.from_graph(store)
    for codings, texts in [([(DRUGS, "EX-1")], []), ([(DRUGS, "EX-999")], ["Injectafer"]), ([], ["otherol"])]:
        assert from_store.match(codings=codings, texts=texts) == matcher.match(codings=codings, texts=texts)


def test_empty_graph_matches_nothing() -> None:
    empty = SubstanceMatcher.from_graph(rdflib.Graph())
    assert empty.match(codings=[(DRUGS, "EX-1")], texts=["Brandex"]) == []


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_matcher_from_the_reasoner_rule_store(matcher: SubstanceMatcher, engine: str) -> None:
    from guidelinekg.engine.store import open_store

    store = open_store(engine)
    store.load_turtle(FIXTURES / "test-guideline.ttl")
    from_store = SubstanceMatcher.from_graph(store)
    for codings, texts in [([(DRUGS, "EX-1")], ["Injectafer"]), ([(DRUGS, "EX-999")], ["otherol"])]:
        assert from_store.match(codings=codings, texts=texts) == matcher.match(codings=codings, texts=texts)
