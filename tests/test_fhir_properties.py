"""Properties of the FHIR mapping: the result does not depend on the order of Bundle entries."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import rdflib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guidelinekg.errors import Location
from guidelinekg.patients.fhir import patients_from_json
from guidelinekg.patients.medmatch import SubstanceMatcher
from guidelinekg.patients.decode import parse_json
from guidelinekg.patients.units import MeasureCatalog, normalise

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
BUNDLES = [
    "bundle-collection.json",
    "bundle-searchset.json",
    "bundle-transaction.json",
    "bundle-two-patients.json",
]
GRAPH = rdflib.Graph().parse(FIXTURES / "test-guideline.ttl")
MATCHER = SubstanceMatcher.from_graph(GRAPH)
CATALOG = MeasureCatalog.from_graph(GRAPH)


def _load(name: str) -> dict:
    return parse_json((FIXTURES / name).read_text(), Location(name))


DOCS = {name: _load(name) for name in BUNDLES}
# A variant with a second, different copy of one resource: which copy wins must not depend on order.
_duplicate = copy.deepcopy(DOCS["bundle-collection.json"]["entry"][4])
_duplicate["resource"]["valueQuantity"]["value"] = parse_json("19.0", Location("x"))
DOCS["with-duplicate"] = {
    **DOCS["bundle-collection.json"],
    "entry": [*DOCS["bundle-collection.json"]["entry"], _duplicate],
}
BUNDLES.append("with-duplicate")
BASELINE = {name: patients_from_json(copy.deepcopy(doc), matcher=MATCHER) for name, doc in DOCS.items()}


@pytest.mark.parametrize("name", BUNDLES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_entry_order_does_not_change_the_patient_data(name: str, data: st.DataObject) -> None:
    doc = copy.deepcopy(DOCS[name])
    doc["entry"] = data.draw(st.permutations(doc["entry"]), label="entries")
    assert patients_from_json(doc, matcher=MATCHER) == BASELINE[name]


@settings(max_examples=20, deadline=None)
@given(entries=st.permutations(DOCS["bundle-collection.json"]["entry"]))
def test_entry_order_does_not_change_normalised_data(entries: list) -> None:
    doc = {**copy.deepcopy(DOCS["bundle-collection.json"]), "entry": copy.deepcopy(entries)}
    (patient,) = patients_from_json(doc, matcher=MATCHER)
    (baseline,) = BASELINE["bundle-collection.json"]
    assert normalise(patient, CATALOG) == normalise(baseline, CATALOG)


def test_a_changed_entry_does_change_the_data() -> None:
    """Guards the property above against a loader that ignores its input."""
    doc = copy.deepcopy(DOCS["bundle-collection.json"])
    doc["entry"][2]["resource"]["valueQuantity"]["value"] = parse_json("101.2", Location("x"))
    assert patients_from_json(doc, matcher=MATCHER) != BASELINE["bundle-collection.json"]
