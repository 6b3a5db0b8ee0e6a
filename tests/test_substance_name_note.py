"""The unrecognised-product note names the substance a code is listed for, not a brand (patients/medmatch.py).

Found by a guideline author: a febuxostat product coded only by an RxNorm code the guideline lists as
unverified was noted as "... (rxnorm|73689 for Adenuric)": Adenuric, a skos:altLabel, was named because it
sorts before the substance's rdfs:label. The note now names the substance by its rdfs:label (English or
untagged first), else its skos:prefLabel, and only then a brand. Made-up content:
tests/fixtures/substance-names/substances.ttl.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyoxigraph as ox
import pytest
import rdflib

from guidelinekg.errors import Location
from guidelinekg.patients.decode import parse_json
from guidelinekg.patients.fhir import patients_from_json
from guidelinekg.patients.medmatch import SubstanceMatcher

FIXTURE = Path(__file__).parent / "fixtures" / "substance-names" / "substances.ttl"
DRUGS = "http://example.org/drugs"


def _from_rdflib() -> SubstanceMatcher:
    return SubstanceMatcher.from_graph(rdflib.Graph().parse(FIXTURE))


def _from_pyoxigraph() -> SubstanceMatcher:
    store = ox.Store()
    store.load(path=str(FIXTURE), format=ox.RdfFormat.TURTLE)
    return SubstanceMatcher.from_graph(store)


def _from_rule_store() -> SubstanceMatcher:
    from guidelinekg.engine.store import open_store  # noqa: PLC0415

    store = open_store("oxigraph")
    store.load_turtle(FIXTURE)
    return SubstanceMatcher.from_graph(store)


@pytest.fixture(params=[_from_rdflib, _from_pyoxigraph, _from_rule_store], ids=["rdflib", "pyoxigraph", "rule-store"])
def matcher(request) -> SubstanceMatcher:
    return request.param()


@pytest.mark.parametrize(("code", "name"), [
    ("73", "febuxomab"),  # its rdfs:label, not the brand "Adenumab" that sorts first
    ("74", "prefomab"),  # no rdfs:label: its skos:prefLabel, not the brand "Aaabrand"
    ("75", "zetamab"),  # its English label, not the German one ("Azetamab") nor the brand
])
def test_a_code_listed_only_as_unverified_names_the_substance(matcher, code, name):
    assert matcher.describe(codings=[(DRUGS, code)], texts=[]) == (
        f"product given only by code {DRUGS}|{code}, which the guideline lists only as unverified "
        f"({DRUGS}|{code} for {name}), so it is read only as perhaps that")


def test_a_product_text_with_such_a_code_names_the_substance_too(matcher):
    assert matcher.describe(codings=[(DRUGS, "73")], texts=["Unknown tablet 80 mg"]) == (
        f"'Unknown tablet 80 mg' (its code is listed by the guideline only as unverified ({DRUGS}|73 for "
        "febuxomab), so read only as perhaps that)")


def test_brands_still_match_by_name(matcher):
    assert [m.substance for m in matcher.match(codings=[], texts=["Adenumab 80 mg"])] == ["urn:example:names:febuxomab"]
    assert [m.substance for m in matcher.match(codings=[], texts=["Aaabrand"])] == ["urn:example:names:prefomab"]


def test_the_fhir_note_names_the_substance():
    doc = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1"}},
        {"resource": {"resourceType": "MedicationRequest", "id": "mr1", "status": "active", "intent": "order",
                      "subject": {"reference": "Patient/p1"}, "authoredOn": "2025-09-01",
                      "medicationCodeableConcept": {"coding": [{"system": DRUGS, "code": "73"}]}}}]}
    (patient,) = patients_from_json(parse_json(json.dumps(doc), Location("<test>")), matcher=_from_rdflib())
    [note] = [n.message for n in patient.notes if n.code == "unrecognised-product"]
    assert f"({DRUGS}|73 for febuxomab)" in note
    assert "Adenumab" not in note and "Ulomab" not in note
