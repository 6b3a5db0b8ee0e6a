"""Substance recognition for medication exposures (src/guidelinekg/patients/medmatch.py), and the note for
products recognised as no substance: one per patient, never one per record."""

from __future__ import annotations

import json
from pathlib import Path

import pyoxigraph as ox
import pytest
import rdflib

from guidelinekg.patients.medmatch import SubstanceMatch, SubstanceMatcher, Unrecognised

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


# --- products matching no substance: one note per patient ------------------------------------------------


def test_describe_names_the_text_or_the_code(matcher: SubstanceMatcher) -> None:
    assert matcher.describe(codings=[(DRUGS, "ZZ-1")], texts=["Betanol  5 mg\ntablet"]) == "'Betanol 5 mg tablet'"
    assert matcher.describe(codings=[(DRUGS, "ZZ-1"), (None, "7")], texts=[]) == (
        f"product given only by code {DRUGS}|ZZ-1, 7 (no system), which the guideline's substances do not list")
    # a code the guideline lists, but not as verified: said, so the author knows what to verify
    assert matcher.describe(codings=[(DRUGS, "EX-999")], texts=[]) == (
        f"product given only by code {DRUGS}|EX-999, which the guideline lists only as unverified "
        f"({DRUGS}|EX-999 for examplomab), so it is read only as perhaps that")  # its rdfs:label, not its brand


def test_a_product_only_an_unverified_code_names_is_read_as_perhaps_it_in_the_note() -> None:
    """Not "exposure to none": a result drawn on it is not used (rule 13), a course of it leaves a criterion unknown
    (rule 46); said alone, and beside unrecognised products."""
    alone = Unrecognised()
    alone.add("<p>", "product given only by code s|1", "MedicationRequest/r", "2026-01-01T00:00:00", perhaps=True)
    ((_, note),) = alone.notes()
    assert note == ("1 medication record names a product only by a code the guideline lists as unverified, so it is "
                    "read only as perhaps the substance it is listed for (a result drawn while it was taken is not "
                    "used, a course of it leaves a criterion unknown); check what it is: product given only by code "
                    "s|1 (MedicationRequest/r, from 2026-01-01)")
    mixed = Unrecognised()
    mixed.add("<p>", "product given only by code s|1", "MedicationRequest/r", "2026-01-01T00:00:00", perhaps=True)
    mixed.add("<p>", "'Betanol'", "MedicationRequest/b", "2025-01-01T00:00:00")
    ((_, note),) = mixed.notes()
    assert ("a course of one is not counted; one named only by a code the guideline lists as unverified is read as "
            "perhaps the substance it is listed for (a result drawn while it was taken is not used, a course of it "
            "leaves a criterion unknown)); check whether any contains one: ") in note, note


def test_a_graph_without_substances_reads_no_medication() -> None:
    assert not SubstanceMatcher.from_graph(rdflib.Graph()).reads_substances
    assert SubstanceMatcher(codes={}, names={"urn:x:a": ["alphamab"]}).reads_substances


def test_unrecognised_products_one_note_most_recent_first_the_rest_counted() -> None:
    found = Unrecognised()
    for i in range(8):  # eight products, the k-th started in 201k, product 0 three times
        for n in range(3 if i == 0 else 1):
            found.add("<p1>", f"'Product {i}'", f"MedicationRequest/r{i}-{n}", f"201{i}-0{n + 1}-01T00:00:00")
    found.add("<p1>", "'Undated'", "MedicationStatement/s", None)
    found.add("<p2>", "'Other'", "MedicationDispense/d", "2020-01-01T00:00:00+01:00")
    (p1, one), (p2, other) = list(found.notes())
    assert (p1, p2) == ("<p1>", "<p2>")
    assert one.startswith("11 medication records name 9 products not recognised as any substance the guideline "
                          "reads, so they are read as exposure to none of them (a result drawn while one was taken "
                          "is not flagged, a course of one is not counted); check whether any contains one: ")
    assert one.endswith("one: 'Product 7' (MedicationRequest/r7-0, from 2017-01-01); 'Product 6' (MedicationRequest/r6-0, "
                        "from 2016-01-01); 'Product 5' (MedicationRequest/r5-0, from 2015-01-01); 'Product 4' "
                        "(MedicationRequest/r4-0, from 2014-01-01); 'Product 3' (MedicationRequest/r3-0, from "
                        "2013-01-01); and 4 more products (6 records)")
    assert other.startswith("1 medication record names a product not recognised as any substance the guideline reads")
    assert other.endswith(": 'Other' (MedicationDispense/d, from 2020-01-01)")
    several = Unrecognised()
    for n in (1, 3, 2):
        several.add("<p>", "'X'", f"MedicationRequest/{n}", f"2020-0{n}-01")
    ((_, note),) = several.notes()
    assert note.endswith(": 'X' (3 records, latest MedicationRequest/3 from 2020-03-01)")


# --- through the FHIR mapping -----------------------------------------------------------------------------


def _patient(matcher: SubstanceMatcher | None, *records: dict):
    from guidelinekg.errors import Location
    from guidelinekg.patients.decode import parse_json
    from guidelinekg.patients.fhir import patients_from_json

    entries = [{"resource": {"resourceType": "Patient", "id": "p1"}}]
    for n, fields in enumerate(records):
        entries.append({"resource": {"resourceType": "MedicationStatement", "id": f"s{n}", "status": "active",
                                     "subject": {"reference": "Patient/p1"},
                                     "effectiveDateTime": f"2025-{n % 12 + 1:02d}-01", **fields}})
    doc = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    (patient,) = patients_from_json(parse_json(json.dumps(doc), Location("<test>")), matcher=matcher)
    return patient


def _notes(patient, code: str) -> list[str]:
    return [n.message for n in patient.notes if n.code == code]


def _substances(patient) -> list[str]:
    return sorted(t.object.value for t in patient.triples() if t.predicate.value.endswith("#exposureSubstance"))


def test_a_product_only_coded_gets_no_missing_product_note(matcher: SubstanceMatcher) -> None:
    p = _patient(matcher, {"medicationCodeableConcept": {"coding": [{"system": DRUGS, "code": "ZZ-1"}]}})
    assert _notes(p, "missing-product") == []
    (note,) = _notes(p, "unrecognised-product")
    assert note.endswith(f": product given only by code {DRUGS}|ZZ-1, which the guideline's substances do not list "
                         "(MedicationStatement/s0, from 2025-01-01)")
    # the same code-only product with a code the guideline verified: recognised, no note
    p = _patient(matcher, {"medicationCodeableConcept": {"coding": [{"system": DRUGS, "code": "EX-1"}]}})
    assert _substances(p) == [EX + "Examplomab"]
    assert _notes(p, "unrecognised-product") == [] and _notes(p, "missing-product") == []
    # a Medication that names no product in any way: still missing-product, one per record
    p = _patient(matcher, {"medicationCodeableConcept": {"coding": [{"system": DRUGS}]}})
    assert len(_notes(p, "missing-product")) == 1 and _notes(p, "unrecognised-product") == []


def test_an_unrecognised_named_product_is_noted(matcher: SubstanceMatcher) -> None:
    p = _patient(matcher, {"medicationCodeableConcept": {"text": "Brandexol 10 mg"}},
                 {"medicationCodeableConcept": {"text": "Injectafer 750 mg"}})
    assert _substances(p) == [EX + "TestCarboxymaltose"]
    (note,) = _notes(p, "unrecognised-product")
    assert note.endswith(": 'Brandexol 10 mg' (MedicationStatement/s0, from 2025-01-01)")


def test_twenty_unrelated_records_give_one_note(matcher: SubstanceMatcher) -> None:
    records = [{"medicationCodeableConcept": {"text": f"Unrelated {n} mg"}} for n in range(20)]
    p = _patient(matcher, *records)
    (note,) = _notes(p, "unrecognised-product")
    assert note.startswith("20 medication records name 20 products")
    assert note.endswith("and 15 more products (15 records)")
    assert sum(n.code == "unrecognised-product" for n in p.notes) == 1


def test_no_note_without_substances_to_recognise(matcher: SubstanceMatcher) -> None:
    coded = {"medicationCodeableConcept": {"coding": [{"system": DRUGS, "code": "ZZ-1"}]}}
    for m in (None, SubstanceMatcher.from_graph(rdflib.Graph())):  # no guideline; one that reads no medication
        p = _patient(m, coded, {"medicationCodeableConcept": {"text": "Unrelated"}})
        assert _notes(p, "unrecognised-product") == [] and _notes(p, "missing-product") == []
    # a record skipped for its status is no exposure at all: not listed
    p = _patient(matcher, {**coded, "status": "not-taken"})
    assert _notes(p, "unrecognised-product") == []


RLS = "https://w3id.org/guidelinekg/guideline/rls-iron/"


@pytest.mark.parametrize(("text", "expected"), [
    ("Iron 65 mg tablet", ["iron-salt-not-named"]),  # found by a tester: it was no iron at all
    ("iron supplement", ["iron-salt-not-named"]),
    ("Iron sucrose 200 mg IV", ["iron-sucrose"]),  # a longer name wins
    ("Multivitamin with iron", ["multivitamin-with-iron"]),
    ("Ironwood 5 mg", []),  # a whole word only
])  # fmt: skip
def test_the_rls_content_recognises_a_product_named_only_iron(kb, text, expected) -> None:
    """A product named only "iron" is an iron-containing product (the 24-hour iron-free requirement reads its
    class), whatever its salt; any longer name it is part of still names its own substance."""
    assert sorted(m.substance.removeprefix(RLS) for m in kb.matcher.match(codings=[], texts=[text])) == expected
