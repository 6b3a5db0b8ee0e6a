"""Fuzzing the FHIR reader: random mutations of the fixture bundles (a value of another JSON type, a huge or
tiny number, an odd string or unit, a deleted key, a duplicated key, mangled bytes) either load as patient
data or are refused with an :class:`InputError`; nothing else ever escapes (no TypeError, no
OverflowError, no UnicodeEncodeError, no csv.Error).

The loader runs as ``recommend`` runs it: from a file, with the shipped guideline's substance matcher and
measures (so units are converted and plausible ranges apply), and the lines it returns must parse as
N-Triples.
"""

from __future__ import annotations

import copy
import json
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import rdflib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guidelinekg.content.resources import guideline_files
from guidelinekg.errors import InputError
from guidelinekg.patients.fhir import patients_from_json
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.patients.medmatch import SubstanceMatcher
from guidelinekg.patients.model import PatientData
from guidelinekg.patients.units import MeasureCatalog, normalise

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
BUNDLES = ["bundle-collection.json", "bundle-searchset.json", "bundle-transaction.json",
           "bundle-two-patients.json"]
DOCS = {name: json.loads((FIXTURES / name).read_text(encoding="utf-8")) for name in BUNDLES}
DOCS["example"] = json.loads((Path(__file__).parents[1] / "examples" / "patient-ferritin-45.json").read_text())
GRAPH = rdflib.Graph()
for _path in guideline_files():
    GRAPH.parse(_path)
MATCHER = SubstanceMatcher.from_graph(GRAPH)
CATALOG = MeasureCatalog.from_graph(GRAPH)


class Raw(str):
    """JSON text put in place as it is (a number no Python float can hold, a constant)."""


ODD_STRINGS = ["", " ", "x" * 70, "\u0000", "\ud800", "2025-13-45", "2026-01-08T25:00:00Z", "1e400", "NaN", "-0",
               "Patient/", "#", "#missing", "urn:uuid:", "http://loinc.org", "http://unitsofmeasure.org",
               "2276-4", "10*1000.ug/L", "10*300.g/L", "{x}", "(" * 300 + "g" + ")" * 300, "mmol/L", "g/L", "kg",
               "%", "ug/L", "pmol/L", "[iU]/L", "Ferinject", "Observation", "Bundle", "é" * 3, "\U0001f600"]
ODD_NUMBERS = [Raw(t) for t in ["1e28", "1e400", "-1e400", "1e-30", "9" * 500, "0.0000000000000000001", "-0",
                                "170141183460469231732", "1.7e20", "0", "-45", "1e999999999", "4.5e-7"]]
leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(ODD_NUMBERS), st.sampled_from(ODD_STRINGS), st.text(max_size=8),
)
json_value = st.recursive(
    leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
        ["coding", "code", "system", "value", "unit", "reference", "resourceType", "id", "text", "start"]),
        inner, max_size=3), max_leaves=6)


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += paths(value, (*prefix, i))
    return found


def dumps(node: Any) -> str:
    """JSON text; :class:`Raw` values as written, and an object's ``"__dup__"`` pair list with its keys repeated."""
    if isinstance(node, Raw):
        return str(node)
    if isinstance(node, dict):
        pairs = node.get("__dup__") or list(node.items())
        return "{" + ",".join(f"{json.dumps(k)}:{dumps(v)}" for k, v in pairs) + "}"
    if isinstance(node, list):
        return "[" + ",".join(dumps(v) for v in node) + "]"
    return json.dumps(node)


@st.composite
def mutated(draw: st.DrawFn, name: str) -> str:
    doc = copy.deepcopy(DOCS[name])
    for _ in range(draw(st.integers(1, 4), label="mutations")):
        if not paths(doc)[1:]:  # every key deleted (or the one left replaced by a scalar): nothing to mutate
            break
        target = draw(st.sampled_from(paths(doc)[1:]), label="path")
        parent = doc
        for key in target[:-1]:
            parent = parent[key]
        key = target[-1]
        action = draw(st.sampled_from(["replace", "replace", "delete", "duplicate"]), label="action")
        if action == "delete" and isinstance(parent, dict):
            del parent[key]
        elif action == "duplicate" and isinstance(parent, dict):
            parent["__dup__"] = [*parent.items(), (key, draw(json_value))]
            break  # the document is refused anyway; keep the path list valid
        else:
            parent[key] = draw(json_value, label="value")
    return dumps(doc)


def check_loads_or_refuses(text: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.json"
        path.write_bytes(text)
        try:
            patient = load_patient_input(path, matcher=MATCHER, measures=CATALOG)
        except InputError as exc:
            assert str(exc) and "\n" not in exc.message  # one line (a hint may follow)
            return
    assert isinstance(patient, PatientData)
    assert len(list(patient.triples())) == len(patient.ntriples)  # valid N-Triples, one triple a line


SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", sorted(DOCS))
@SETTINGS
@given(data=st.data())
def test_a_mutated_bundle_loads_or_is_refused(name: str, data: st.DataObject) -> None:
    text = data.draw(mutated(name), label="document")
    check_loads_or_refuses(text.encode("utf-8", "surrogatepass"))


@SETTINGS
@given(data=st.data())
def test_mutated_bytes_load_or_are_refused(data: st.DataObject) -> None:
    raw = bytearray(json.dumps(DOCS["example"]).encode())
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(raw)))
        raw[at:at + data.draw(st.integers(0, 4))] = data.draw(st.binary(max_size=4))
    check_loads_or_refuses(bytes(raw))


@SETTINGS
@given(data=st.data())
def test_several_patients_map_or_are_refused(data: st.DataObject) -> None:
    """patients_from_json on parsed mutations of the two-patient bundle (a cohort's path): the same contract."""
    from guidelinekg.errors import Location
    from guidelinekg.patients.decode import parse_json

    text = data.draw(mutated("bundle-two-patients.json"))
    try:
        patients = [normalise(p, CATALOG) for p in
                    patients_from_json(parse_json(text, Location("x")), matcher=MATCHER)]
    except InputError:
        return
    assert patients and all(isinstance(p, PatientData) for p in patients)


def test_the_fuzzer_reaches_the_mapping() -> None:
    """Guards the tests above against mutations that are all refused before anything is mapped."""
    assert json.loads(dumps({"a": Raw("1e400")}), parse_float=Decimal) == {"a": Decimal("1e400")}
    check_loads_or_refuses(dumps(DOCS["example"]).encode())
