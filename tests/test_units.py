"""Normalisation of observation values to the canonical unit of their measure (src/guidelinekg/patients/units.py)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyoxigraph as ox
import pytest
import rdflib

from guidelinekg.patients import units
from guidelinekg.patients.fhir import load_patient
from guidelinekg.patients.model import GKG, RDF_TYPE, XSD, PatientData, iri, literal, triple
from guidelinekg.patients.units import (
    MeasureCatalog,
    MeasureGroup,
    UnitConversionError,
    UnitFactor,
    convert,
    normalise,
)

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
FERRITIN, FERRITIN_IA, TSAT, WEIGHT = (
    f"https://loinc.org/{c}" for c in ("2276-4", "20567-4", "2502-3", "29463-7")
)
PATIENT = "urn:test:patient"


@pytest.fixture(scope="module")
def catalog() -> MeasureCatalog:
    return MeasureCatalog.from_graph(rdflib.Graph().parse(FIXTURES / "test-guideline.ttl"))


def observation(
    measure: str, value: str | None, unit: str | None, *, unit_text: str | None = None
) -> PatientData:
    o = iri("urn:test:obs")
    lines = [
        triple(iri(PATIENT), iri(RDF_TYPE), iri(GKG + "Patient")),
        triple(o, iri(RDF_TYPE), iri(GKG + "Observation")),
        triple(o, iri(GKG + "subject"), iri(PATIENT)),
        triple(o, iri(GKG + "observedMeasure"), iri(measure)),
    ]
    if value is not None:
        lines.append(triple(o, iri(GKG + "value"), literal(value, XSD + "decimal")))
    if unit is not None:
        lines.append(triple(o, iri(GKG + "unit"), literal(unit)))
    if unit_text is not None:
        lines.append(triple(o, iri(GKG + "unitText"), literal(unit_text)))
    return PatientData.build(PATIENT, lines)


def props(patient: PatientData, prop: str) -> list[str]:
    return sorted(
        t.object.value
        for t in patient.triples()
        if t.subject.value == "urn:test:obs" and t.predicate.value == GKG + prop
    )


def test_catalog_from_graph(catalog: MeasureCatalog) -> None:
    group = catalog.groups[FERRITIN]
    assert group is catalog.groups[FERRITIN_IA]
    assert group.measures == {FERRITIN, FERRITIN_IA}
    assert group.canonical_units == {"ng/mL"}
    assert group.factors == (UnitFactor("pmol/L", "ng/mL", Decimal("2.247")),)
    assert catalog.groups[TSAT].canonical_units == {"%"}


def test_catalog_from_pyoxigraph_store_equals_rdflib(catalog: MeasureCatalog) -> None:
    store = ox.Store()
    store.load(
        path=str(FIXTURES / "test-guideline.ttl"), format=ox.RdfFormat.TURTLE, to_graph=ox.NamedNode("urn:g")
    )
    assert MeasureCatalog.from_graph(store) == catalog


def test_pmol_per_litre_ferritin_by_graph_factor(catalog: MeasureCatalog) -> None:
    out = normalise(observation(FERRITIN, "101.1", "pmol/L"), catalog)
    (value,) = props(out, "normalizedValue")
    assert abs(Decimal(value) - 45) < Decimal("0.01")
    assert Decimal(value) == (Decimal("101.1") / Decimal("2.247")).quantize(Decimal("0.0001"))
    assert props(out, "normalizedUnit") == ["ng/mL"]
    (note,) = props(out, "conversionNote")
    assert note.startswith("101.1 pmol/L ÷ 2.247 = ") and note.endswith(
        " ng/mL (factor from the guideline graph)"
    )


def test_ug_per_litre_by_ucum_is_exact(catalog: MeasureCatalog) -> None:
    out = normalise(observation(FERRITIN, "45", "ug/L"), catalog)
    assert props(out, "normalizedValue") == ["45"]
    assert props(out, "conversionNote") == ["45 ug/L = 45 ng/mL (UCUM)"]


def test_ucum_scale_is_shown(catalog: MeasureCatalog) -> None:
    out = normalise(observation(FERRITIN, "0.045", "mg/L"), catalog)
    assert props(out, "normalizedValue") == ["45"]
    assert props(out, "conversionNote") == ["0.045 mg/L × 1000 = 45 ng/mL (UCUM)"]


@pytest.mark.parametrize("value, unit, canonical, expected", [
    ("84.00000000000000", "d", "wk", "12.000000000"),  # 1/7 rounded to 12 digits gave 11.999999999988
    ("84", "d", "wk", "12.0000"),
    ("196.0000000000000", "d", "wk", "28.000000000"),
    ("154.32358352941431", "[lb_av]", "kg", "70.000000000"),
    ("1", "d", "wk", "0.142857"),  # a short value keeps its digits and two more
])
def test_a_ucum_conversion_keeps_no_more_digits_than_its_factor(value, unit, canonical, expected) -> None:
    group = MeasureGroup(frozenset(), frozenset({canonical}), ())
    assert str(units.convert(Decimal(value), unit, group, canonical).value) == expected


def test_ucum_then_graph_factor(catalog: MeasureCatalog) -> None:
    out = normalise(observation(FERRITIN, "0.1011", "nmol/L"), catalog)
    (value,) = props(out, "normalizedValue")
    assert abs(Decimal(value) - 45) < Decimal("0.01")
    (note,) = props(out, "conversionNote")
    assert "(UCUM); " in note and "÷ 2.247" in note


def test_canonical_unit_is_kept_without_note_in_one_form(catalog: MeasureCatalog) -> None:
    """The value as Oxigraph writes it ("18.50" is "18.5"), so that equal values are one term in every engine
    (rdflib's COUNT(DISTINCT) took "41.9" and "41.90" at one instant as two results that differ)."""
    out = normalise(observation(TSAT, "18.50", "%"), catalog)
    assert props(out, "normalizedValue") == ["18.5"]
    assert props(out, "normalizedUnit") == ["%"]
    assert props(out, "conversionNote") == []


def test_equivalent_measure_gets_the_group(catalog: MeasureCatalog) -> None:
    out = normalise(observation(FERRITIN_IA, "30", "ng/mL"), catalog)
    assert props(out, "observedMeasure") == sorted([FERRITIN, FERRITIN_IA])
    out = normalise(observation(FERRITIN, None, None), catalog)
    assert props(out, "observedMeasure") == sorted([FERRITIN, FERRITIN_IA])
    assert props(out, "unitProblem") == []  # no value: nothing to normalise


@pytest.mark.parametrize(
    ("measure", "value", "unit", "unit_text", "reason"),
    [
        (WEIGHT, "70", "mmol/L", None, "no unit factor"),
        (FERRITIN, "3", None, "furlongs", "'furlongs' is not a UCUM unit"),
        (FERRITIN, "3", "furlongs", None, "'furlongs' is not a valid UCUM unit"),
        (FERRITIN, "45", None, None, "no unit given"),
        (TSAT, "20", "mg", None, "UCUM cannot convert mg"),
    ],
)
def test_unconvertible_units_give_a_problem_and_no_value(
    catalog, measure, value, unit, unit_text, reason
) -> None:
    out = normalise(observation(measure, value, unit, unit_text=unit_text), catalog)
    assert props(out, "normalizedValue") == []
    (problem,) = props(out, "unitProblem")
    assert reason in problem


def test_unknown_measures_are_left_alone(catalog: MeasureCatalog) -> None:
    patient = observation("https://loinc.org/718-7", "13", "g/dL")
    assert normalise(patient, catalog) == patient


def test_conflicting_canonical_units_are_a_problem() -> None:
    catalog = MeasureCatalog.build(
        {"urn:m:a": "ng/mL", "urn:m:b": "ug/L"}, equivalents=[("urn:m:a", "urn:m:b")]
    )
    out = normalise(observation("urn:m:a", "1", "ng/mL"), catalog)
    assert "2 canonical units" in props(out, "unitProblem")[0]


def test_inverse_factor_and_offset_units() -> None:
    group = MeasureGroup(
        frozenset(), frozenset({"pmol/L"}), (UnitFactor("pmol/L", "ng/mL", Decimal("2.247")),)
    )
    assert convert(Decimal(20), "ng/mL", group, "pmol/L").value == Decimal("44.94")
    celsius = convert(Decimal(37), "Cel", MeasureGroup(frozenset(), frozenset(), ()), "[degF]")
    assert celsius.value == Decimal("98.6")
    with pytest.raises(UnitConversionError, match="no unit factor"):
        convert(Decimal(1), "mmol/L", MeasureGroup(frozenset(), frozenset(), ()), "ng/mL")


def test_rounding_keeps_significant_digits() -> None:
    group = MeasureGroup(frozenset(), frozenset(), (UnitFactor("pmol/L", "ng/mL", Decimal("2.247")),))
    assert convert(Decimal(1), "pmol/L", group, "ng/mL").value == Decimal("0.445038")
    assert convert(Decimal("168.525"), "pmol/L", group, "ng/mL").value == Decimal(75)  # exact, no float error


def test_registry_is_not_built_when_no_unit_needs_ucum(catalog: MeasureCatalog, monkeypatch) -> None:
    def fail(*args):
        raise AssertionError("UCUM was consulted")

    monkeypatch.setattr(units, "ucum_conversion", fail)
    monkeypatch.setattr(units, "_ucum_registry", fail)
    normalise(observation(FERRITIN, "101.1", "pmol/L"), catalog)
    normalise(observation(TSAT, "20", "%"), catalog)


def test_normalise_is_idempotent_and_fhir_output_is_normalised(catalog: MeasureCatalog) -> None:
    patient = load_patient(FIXTURES / "bundle-collection.json")
    once = normalise(patient, catalog)
    assert normalise(once, catalog) == once
    normalised = {t.subject.value for t in once.triples() if t.predicate.value == GKG + "normalizedValue"}
    problems = {t.subject.value for t in once.triples() if t.predicate.value == GKG + "unitProblem"}
    assert "urn:guidelinekg:Observation/ferritin-pmol" in normalised
    assert "urn:guidelinekg:Observation/ferritin-ugl" in normalised
    assert problems == {"urn:guidelinekg:Observation/ferritin-furlongs"}


def test_is_ucum() -> None:
    assert units.is_ucum("ng/mL") and units.is_ucum("10*3/uL") and units.is_ucum("%")
    assert not units.is_ucum("furlongs") and not units.is_ucum("IU/L") and not units.is_ucum("")


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_catalog_from_the_reasoner_rule_store(catalog: MeasureCatalog, engine: str) -> None:
    from guidelinekg.engine.store import open_store

    store = open_store(engine)
    store.load_turtle(FIXTURES / "test-guideline.ttl")
    assert MeasureCatalog.from_graph(store) == catalog


@pytest.mark.parametrize(
    ("unit", "reason"),
    [
        ("10*1000.ug/L", "an exponent of more than three digits"),  # refused before Pint overflows
        ("10*999999999999.ng/mL", "an exponent of more than three digits"),  # Pint would compute it for hours
        ("(" * 500 + "ug/L" + ")" * 500, "is not a valid UCUM unit"),  # RecursionError in the parser
        ("g." * 3000 + "g", "not a valid UCUM unit"),
        ("{ferritin}", "UCUM cannot convert {ferritin} (dimensionless)"),  # a lone annotation is the unity 1
        ("10*300.g/L", "out of range"),  # converts, to 4.5E+308 ng/mL: no xsd:decimal holds it
    ],
)
def test_odd_units_are_unusable_never_an_exception(catalog, unit: str, reason: str) -> None:
    out = normalise(observation(FERRITIN, "45", unit), catalog)
    assert props(out, "normalizedValue") == []
    (problem,) = props(out, "unitProblem")
    assert reason in problem and len(problem) < 400


@pytest.mark.parametrize("code", ["10*1000.ug/L", "(" * 500 + "g" + ")" * 500, "{x}", "g." * 3000 + "g"])
def test_ucum_helpers_never_raise_anything_but_unit_conversion_error(code: str) -> None:
    assert isinstance(units.is_ucum(code), bool)
    with pytest.raises(UnitConversionError):
        units.ucum_conversion(code, "ng/mL")


def test_a_tiny_converted_value_is_rounded_to_what_the_store_holds(catalog) -> None:
    out = normalise(observation(FERRITIN, "1.234567", "zg/L"), catalog)  # 1.234567E-15 ng/mL
    assert props(out, "normalizedValue") == ["0.000000000000001235"]
    gone = normalise(observation(FERRITIN, "1", "10*-30.g/L"), catalog)
    assert props(gone, "normalizedValue") == [] and "out of range" in props(gone, "unitProblem")[0]


def test_a_value_the_store_cannot_hold_is_a_problem(catalog) -> None:
    out = normalise(observation(FERRITIN, "1" + "0" * 25, "ng/mL"), catalog)
    assert props(out, "normalizedValue") == [] and "out of range" in props(out, "unitProblem")[0]


def test_a_factor_with_an_offset_converts_both_ways() -> None:
    """HbA1c: NGSP % = IFCC mmol/mol / 10.929 + 2.15 (a gkg:UnitFactor with gkg:addend)."""
    hba1c = units.UnitFactor("mmol/mol", "%", Decimal("10.929"), Decimal("2.15"))
    to_percent = units.MeasureGroup(frozenset(), frozenset({"%"}), (hba1c,))
    c = units.convert(Decimal("53"), "mmol/mol", to_percent, "%")
    assert c.value == Decimal("6.99948") and "53 mmol/mol ÷ 10.929 + 2.15 = 6.99948 %" in c.note
    to_ifcc = units.MeasureGroup(frozenset(), frozenset({"mmol/mol"}), (hba1c,))
    back = units.convert(Decimal("7.0"), "%", to_ifcc, "mmol/mol")
    assert back.value == Decimal("53.0056") and "(7 % - 2.15) × 10.929 = 53.0056 mmol/mol" in back.note


@pytest.mark.parametrize(("unit", "canonical"), [("mmol/mol", "%"), ("%", "mmol/mol"), ("10*3/10*3", "%"),
                                                 ("g/g", "1")])
def test_ratios_of_like_units_are_not_converted_by_ucum_alone(unit: str, canonical: str) -> None:
    """UCUM relates any two dimensionless units (1 mmol/mol = 0.1 %): that an HbA1c in mmol/mol is a %
    divided by ten is false, so only a factor in the graph converts a ratio of like units; a plain number at
    another scale (1, %, 10*-2) still converts."""
    group = units.MeasureGroup(frozenset(), frozenset({canonical}), ())
    with pytest.raises(UnitConversionError, match="only as pure numbers"):
        units.convert(Decimal("53"), unit, group, canonical)
    assert units.convert(Decimal("53"), canonical, group, canonical).value == Decimal("53")


@pytest.mark.parametrize(("unit", "canonical"), [("mg/g{creat}", "mg/g"), ("mmol/mol{Hb}", "mmol/mol")])
def test_a_ratio_with_an_annotation_added_is_the_same_unit(unit: str, canonical: str) -> None:
    """Found by an author: an albumin/creatinine ratio in mg/g{creat} was refused against mg/g (two pure numbers),
    although the docs say an extra annotation is no matter; mg/mmol{creat} was accepted. Only the annotation
    differs: the value is kept as it is. The reverse (an annotation the canonical unit has, the result lacks)
    is still refused."""
    group = units.MeasureGroup(frozenset(), frozenset({canonical}), ())
    converted = units.convert(Decimal("45"), unit, group, canonical)
    assert converted.value == Decimal("45") and "(an annotation only)" in converted.note
    with pytest.raises(UnitConversionError):
        units.convert(Decimal("45"), canonical, units.MeasureGroup(frozenset(), frozenset({unit}), ()), unit)


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
@pytest.mark.parametrize(("value", "unit", "low", "sign"), [
    ("2.3", "mmol/L", False, ""), ("2.29", "mmol/L", True, ""), ("41.9", "mg/dL", True, ""),
    ("42", "mg/dL", False, ""), ("2.3", "mmol/L", True, "<"),  # "< 2.3 mmol/L": below 2.3 whatever it is
    # the stated unit however written, or rescaled by a power of ten: still compared as published
    ("2.3", "mmol/l", False, ""), ("2300", "umol/L", False, ""), ("2299", "umol/L", True, ""),
    ("0.0023", "mol/L", False, ""),
])  # fmt: skip
def test_a_threshold_stated_in_two_units_is_compared_in_the_results_unit(engine, value, unit, low, sign):
    """'< 42 mg/dL', also stated as '< 2.3 mmol/L' (gkg:alsoStatedAs): 2.3 mmol/L is 41.44 mg/dL, below 42,
    yet as published it is not below 2.3, so a result in mmol/L is compared in mmol/L (rule 40)."""
    from datetime import date as day

    from guidelinekg.engine.knowledge import KnowledgeBase
    from guidelinekg.engine.reasoning import evaluate
    from guidelinekg.patients.model import PatientData
    from guidelinekg.report.patient import build_report

    madeup = Path(__file__).parent / "fixtures"
    kb = KnowledgeBase.load([madeup / "madeup" / "guideline.ttl", madeup / "two-units" / "two-units.ttl"])
    gkg, p, o = "https://w3id.org/guidelinekg/ontology#", "<urn:example:Patient/u1>", "<urn:example:Observation/u1>"
    rdf_type, xsd = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type", "http://www.w3.org/2001/XMLSchema#"
    lines = [f"{p} <{rdf_type}> <{gkg}Patient> .", f'{p} <{gkg}birthDate> "1980-01-01"^^<{xsd}date> .',
             f"<urn:example:Condition/u1> <{rdf_type}> <{gkg}Condition> .",
             f"<urn:example:Condition/u1> <{gkg}subject> {p} .",
             f"<urn:example:Condition/u1> <{gkg}conditionCode> <urn:example:madeup:code-widgetitis> .",
             f"{o} <{rdf_type}> <{gkg}Observation> .", f"{o} <{gkg}subject> {p} .",
             f"{o} <{gkg}observedMeasure> <urn:example:madeup:widget-level> .",
             f'{o} <{gkg}value> "{value}"^^<{xsd}decimal> .', f'{o} <{gkg}unit> "{unit}" .',
             f'{o} <{gkg}effectiveTime> "2026-01-02T09:00:00Z"^^<{xsd}dateTime> .']
    if sign:  # a censored result (valueQuantity.comparator)
        lines.append(f"{o} <{gkg}valueComparator> <{gkg}LessThan> .")
    data = units.normalise(PatientData.build("urn:example:Patient/u1", lines), kb.measures)
    report = build_report(evaluate(kb, [data], as_of=day(2026, 1, 5), engine=engine), data.patient_iri, kb.version())
    made = [r for r in report["recommendations"] if r["iri"] == "urn:example:madeup:rec-examplomab"]
    assert bool(made) is low
    if unit == "mmol/L" and made:  # the note keeps a censored result's comparator
        note = f"compared as the guideline also states it: {sign + ' ' if sign else ''}{value} mmol/L against 2.3 mmol/L"
        assert any(note in line for line in made[0]["because"]), made[0]["because"]


@pytest.mark.parametrize(("unit", "value", "expected"), [("1", "0.25", "25"), ("10*-2", "25", "25")])
def test_plain_numbers_at_another_scale_still_convert(unit: str, value: str, expected: str) -> None:
    group = units.MeasureGroup(frozenset(), frozenset({"%"}), ())
    assert units.convert(Decimal(value), unit, group, "%").value == Decimal(expected)


def _stated(unit: str, value: str, stated=frozenset({"mmol/L"}), canonical="mg/dL") -> dict:
    lines = units._as_stated("<urn:example:o>", Decimal(value), unit, frozenset(stated), canonical)
    return {line.split(" ")[1].rsplit("#", 1)[1][:-1]: line.split(" ", 2)[2] for line in lines}


def test_the_value_as_stated_is_given_only_where_the_stated_unit_is_the_published_one() -> None:
    """gkg:statedValue: the result's value in a gkg:alsoStatedAs unit, exact (no rounding decides)."""
    assert _stated("mmol/l", "6.995") == {"statedUnit": '"mmol/L" .', "statedValue": '"6.995"^^<http://www.w3.org/2001/XMLSchema#decimal> .'}
    assert _stated("umol/L", "6995")["statedValue"].startswith('"6.995"')
    # an extra annotation of the result's unit is no matter, as in every conversion (found by an attacker:
    # "3.999 mmol/L{gluc}" was compared in mg/dL, "3.999 mmol/L" as published, with opposite answers)
    assert _stated("mmol/L{gluc}", "6.995")["statedUnit"] == '"mmol/L" .'
    assert _stated("mmol/L", "7", stated=frozenset({"mmol/L{gluc}"})) == {}  # one the result lacks keeps them apart
    assert _stated("mg/dL", "126") == {}  # the canonical unit: compared as the threshold itself is published
    assert _stated("g/L", "1.26") == {}  # UCUM relates it to the canonical unit: compared there
    assert _stated("mmol/L", "7", stated=frozenset()) == {}
    # a rescaling of a stated unit that UCUM also relates to the canonical unit is compared in the canonical one
    assert _stated("[lb_av]", "132", stated={"[lb_av]"}, canonical="kg") != {}
    assert _stated("[oz_av]", "2112", stated={"[lb_av]"}, canonical="kg") == {}
    assert _stated("%", "6.5", stated={"mmol/mol"}, canonical="%") == {}  # pure numbers: never related


def test_a_value_as_stated_given_with_the_data_is_taken_out_and_said(catalog) -> None:
    """gkg:statedValue is the loader's: patient RDF that writes one could decide a threshold. It is taken out
    with a note, and the result normalised from its value and unit as any other."""
    data = observation(FERRITIN, "45", "ng/mL")
    data = data.extended([f'{data.facts("Observation").popitem()[0]} <{GKG}statedValue> "9"^^<http://www.w3.org/2001/XMLSchema#decimal> .'])
    out = normalise(data, catalog)
    assert props(out, "statedValue") == [] and props(out, "normalizedValue") == ["45"]
    assert any("only the loader writes" in n.message for n in out.notes), out.notes


def test_normalising_a_result_compared_as_stated_twice_changes_nothing() -> None:
    """Found by a reviewer: the loader's own gkg:statedUnit/statedValue, read back, made the result unusable."""
    from guidelinekg.engine.knowledge import KnowledgeBase

    fixtures = Path(__file__).parent / "fixtures"
    kb = KnowledgeBase.load([fixtures / "madeup" / "guideline.ttl", fixtures / "two-units" / "two-units.ttl"])
    once = normalise(observation("urn:example:madeup:widget-level", "2.3", "mmol/L"), kb.measures)
    assert props(once, "statedValue") == ["2.3"] and props(once, "normalizedValue") and once.notes == []
    assert normalise(once, kb.measures) == once


def test_a_coded_value_of_a_measure_read_as_a_number_is_a_problem(catalog: MeasureCatalog) -> None:
    """Found by a data engineer: a transferrin saturation sent as valueCodeableConcept ("low") was dropped
    without a word, and the test ordered again; it is now unusable with its reason (rule 12 warns)."""
    patient = observation("https://loinc.org/2276-4", None, None)
    coded = triple(iri("urn:test:obs"), iri(GKG + "valueCodeToken"), literal("http://snomed.info/sct|281302008"))
    out = normalise(patient.extended([coded], []), catalog)
    (problem,) = props(out, "unitProblem")
    assert problem.startswith("a coded value (http://snomed.info/sct|281302008) where a number in ")
    unknown = observation("https://loinc.org/718-7", None, None).extended([coded], [])  # a measure not known
    assert props(normalise(unknown, catalog), "unitProblem") == []
