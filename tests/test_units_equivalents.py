"""Equivalents and osmoles are not moles (src/guidelinekg/patients/ucum.py, :func:`counted_apart`).

A trial author's serum magnesium of 1.2 meq/L was converted to 1.2 mmol/L "(UCUM)" and decided "not indicated"
against ">= 0.7 mmol/L": UCUM defines 1 eq as 1 mol, which holds only of an ion of charge 1, and magnesium (2+) in
1.2 meq/L is 0.6 mmol/L. A conversion that changes how many eq or osm a unit counts is now refused, as any unit
that does not convert (the result is unusable, ``unit-not-convertible``, the test ordered), unless the guideline
graph gives a ``gkg:UnitFactor`` for the measure; eq to eq and mol to mol stay UCUM's. The lint
``threshold-unit-mismatch`` reports a meq/L threshold on a mmol/L measure (tests/fixtures/validate/lints/).
The guideline of tests/fixtures/equivalents/ is FICTIONAL. Run on both SPARQL engines.
"""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from guidelinekg.cli import main
from guidelinekg.patients import units
from guidelinekg.patients.ucum import UnitConversionError, counted_apart, pure_number, ucum_conversion

FIXTURES = Path(__file__).parent / "fixtures" / "equivalents"
ENGINES = ["oxigraph", "rdflib"]
EQV = "https://w3id.org/guidelinekg/guideline/equivalents-demo/"
MG = "19123-9"


@pytest.mark.parametrize(("from_unit", "to_unit"), [
    ("meq/L", "mmol/L"), ("mmol/L", "meq/L"), ("ueq/mL", "mmol/L"), ("meq/(24.h)", "mmol/d"), ("eq", "mol"),
    ("meq.L-1", "mmol/L"), ("meq/L{serum}", "mmol/L"), ("mmol/meq", "1"), ("meq/mmol", "1"), ("/meq", "/mmol"),
    ("mosm/kg", "mmol/kg"), ("mosm/kg", "meq/kg"), ("meq/L", "umol/mL"), ("10*3.ueq/L", "mmol/L"),
])  # fmt: skip
def test_equivalents_and_moles_do_not_convert(from_unit: str, to_unit: str) -> None:
    with pytest.raises(UnitConversionError) as caught:
        ucum_conversion(from_unit, to_unit)
    message = str(caught.value)
    assert "1 eq = 1 osm = 1 mol" in message and "gkg:UnitFactor" in message and "valence" in message
    assert counted_apart(from_unit, to_unit) == message


@pytest.mark.parametrize(("from_unit", "to_unit", "scale"), [
    ("meq/L", "eq/L", "0.001"), ("meq/(24.h)", "meq/d", "1"), ("ueq/mL", "meq/L", "1"), ("mmol/L", "umol/L", "1000"),
    ("meq/mmol", "eq/mol", "1"), ("mosm/kg", "osm/kg", "0.001"), ("mmol/mol", "1", "0.001"), ("kat/L", "mol/(s.L)", "1"),
])  # fmt: skip
def test_equivalents_to_equivalents_and_moles_to_moles_stay_ucums(from_unit: str, to_unit: str, scale: str) -> None:
    assert ucum_conversion(from_unit, to_unit) == (Decimal(scale), Decimal(0))
    assert counted_apart(from_unit, to_unit) is None


def test_other_kinds_keep_their_own_reason() -> None:
    """A unit of another dimension is refused as before (mass against substance), not as equivalents."""
    with pytest.raises(UnitConversionError, match=r"UCUM cannot convert meq/L \(\[substance\]"):
        ucum_conversion("meq/L", "mg/dL")
    assert pure_number("mmol/mol") and not pure_number("meq/mmol")  # meq/mmol is no plain number of UCUM's


def _group(*factors: units.UnitFactor, canonical: str = "mmol/L") -> units.MeasureGroup:
    return units.MeasureGroup(frozenset(), frozenset({canonical}), factors)


def test_without_a_factor_the_result_is_not_converted() -> None:
    with pytest.raises(UnitConversionError, match="count an amount of substance differently") as caught:
        units.convert(Decimal("1.2"), "meq/L", _group(), "mmol/L")
    assert "the guideline graph gives no unit factor for this measure" in str(caught.value)


def test_the_graph_factor_converts_any_prefix_and_either_way() -> None:
    factor = units.UnitFactor("meq/L", "mmol/L", Decimal(2))
    direct = units.convert(Decimal("1.2"), "meq/L", _group(factor), "mmol/L")
    assert direct.value == Decimal("0.6") and "÷ 2" in direct.note and "(factor from the guideline graph)" in direct.note
    prefixed = units.convert(Decimal("0.0012"), "eq/L", _group(factor), "mmol/L")  # UCUM to meq/L, then the factor
    assert prefixed.value == Decimal("0.6") and "(UCUM)" in prefixed.note and "(factor from the guideline graph)" in prefixed.note
    back = units.convert(Decimal("0.6"), "mmol/L", _group(factor, canonical="meq/L"), "meq/L")
    assert back.value == Decimal("1.2")
    micro = units.convert(Decimal("600"), "umol/L", _group(factor, canonical="meq/L"), "meq/L")  # umol/L -> mmol/L, ×2
    assert micro.value == Decimal("1.2")


def test_normalise_leaves_a_unit_problem_and_no_value() -> None:
    from guidelinekg.patients.model import GKG, RDF_TYPE, XSD, PatientData, iri, literal, triple

    measure, patient, obs = "https://loinc.org/" + MG, "urn:test:patient", iri("urn:test:obs")
    lines = [triple(iri(patient), iri(RDF_TYPE), iri(GKG + "Patient")), triple(obs, iri(RDF_TYPE), iri(GKG + "Observation")),
             triple(obs, iri(GKG + "subject"), iri(patient)), triple(obs, iri(GKG + "observedMeasure"), iri(measure)),
             triple(obs, iri(GKG + "value"), literal("1.2", XSD + "decimal")), triple(obs, iri(GKG + "unit"), literal("meq/L"))]
    catalog = units.MeasureCatalog({measure: _group()})
    out = units.normalise(PatientData.build(patient, lines), catalog)
    facts = {t.predicate.value.removeprefix(GKG): t.object.value for t in out.triples() if t.subject.value == "urn:test:obs"}
    assert "normalizedValue" not in facts and "count an amount of substance differently" in facts["unitProblem"]


# --- end to end: a FHIR result in meq/L, the fictional guideline without and with the graph's factor --------------


def _content(tmp_path: Path, factor: bool) -> Path:
    directory = tmp_path / ("with-factor" if factor else "no-factor")
    directory.mkdir()
    shutil.copy(FIXTURES / "guideline.ttl", directory)
    if factor:
        shutil.copy(FIXTURES / "factor.ttl", directory)
    return directory


def _patient(tmp_path: Path, value: float, code: str, unit: str) -> Path:
    quantity = {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": code}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "m1", "birthDate": "1960-01-01"}},
        {"resource": {"resourceType": "Observation", "id": "mg1", "status": "final",
                      "code": {"coding": [{"system": "http://loinc.org", "code": MG}]},
                      "subject": {"reference": "Patient/m1"}, "effectiveDateTime": "2026-12-08T07:00:00Z",
                      "valueQuantity": quantity}}]}
    path = tmp_path / f"patient-{value}-{code.replace('/', '_')}.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path


def _recommend(capsys, patient: Path, content: Path, engine: str) -> dict:
    assert main(["recommend", str(patient), "--content", str(content), "--as-of", "2026-12-08", "--engine", engine,
                 "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def _decided(report: dict) -> dict[str, list[str]]:
    return {key: [s["iri"].removeprefix(EQV) for s in report[key]]
            for key in ("recommendations", "not_indicated", "undetermined")}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_divalent_ion_in_meq_without_a_factor_is_unusable_and_ordered(capsys, tmp_path, engine) -> None:
    report = _recommend(capsys, _patient(tmp_path, 1.2, "meq/L", "mEq/L"), _content(tmp_path, False), engine)
    assert _decided(report) == {"recommendations": [], "not_indicated": [], "undetermined": ["rec-mg"]}
    assert [o["loinc"] for o in report["orders"]] == [MG]
    [warning] = [w for w in report["warnings"] if w["code"] == "unit-not-convertible"]
    assert "Observation/mg1" in warning["message"] and "meq/L" in warning["message"]
    assert "gkg:UnitFactor" in warning["message"] and "1.2 mmol/L" not in json.dumps(report)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("value", "code", "decided", "shown"), [
    (1.2, "meq/L", "recommendations", "1.2 meq/L ÷ 2 = 0.6 mmol/L (factor from the guideline graph)"),
    (1.6, "meq/L", "not_indicated", "1.6 meq/L ÷ 2 = 0.8 mmol/L (factor from the guideline graph)"),
    (1200, "ueq/L", "recommendations", "1200 ueq/L × 0.001 = 1.2 meq/L (UCUM); 1.2 meq/L ÷ 2 = 0.6 mmol/L"),
])  # fmt: skip
def test_with_the_graph_factor_it_is_read_at_its_valence(capsys, tmp_path, engine, value, code, decided, shown):
    report = _recommend(capsys, _patient(tmp_path, value, code, code), _content(tmp_path, True), engine)
    expected = {"recommendations": [], "not_indicated": [], "undetermined": []}
    expected[decided] = ["rec-mg" if decided == "recommendations" else "ni-mg"]
    assert _decided(report) == expected and report["orders"] == []
    assert "unit-not-convertible" not in [w["code"] for w in report["warnings"]]
    [statement] = report[decided]
    assert any(shown in line for line in statement["because"]), statement["because"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_result_in_the_measures_own_unit_is_read_as_before(capsys, tmp_path, engine) -> None:
    report = _recommend(capsys, _patient(tmp_path, 0.6, "mmol/L", "mmol/L"), _content(tmp_path, False), engine)
    assert _decided(report) == {"recommendations": ["rec-mg"], "not_indicated": [], "undetermined": []}
