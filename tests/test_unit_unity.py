"""Scores, indices and ratios: measures whose canonical unit is the plain number 1 (perhaps annotated).

Found by a trial author encoding an osteoporosis guideline (DXA T-scores, canonical unit ``1``): a T-score
of -2.6 sent in ``%`` was read as -0.026 (UCUM rescales pure numbers), inside the plausible range, and the
"T-score <= -2.5" recommendation silently became false; a T-score in ``{T-score}`` (a lone annotation, which
UCUM defines as the unity 1) was refused as "not a valid UCUM unit" and the DXA ordered again; one sent
without a unit was refused too. Now: a scaled pure number (%, 10*-2) is never rescaled into a unity measure
(unusable, with the reason, unless the graph gives a factor); a lone annotation is 1; a value without a unit
is read as the unity measure's plain number, with a note. Percentages still rescale into a % measure.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from guidelinekg.patients.ucum import ucum_conversion, unity
from guidelinekg.patients.units import MeasureCatalog, MeasureGroup, UnitConversionError, UnitFactor, convert, normalise
from guidelinekg.patients.model import GKG, IngestNote, PatientData, iri, literal, triple
from test_units import observation, props

T_SCORE, INDEX, TSAT = "urn:m:t-score", "urn:m:index", "urn:m:tsat"
CATALOG = MeasureCatalog.build({T_SCORE: "1", INDEX: "{index}", TSAT: "%"})


@pytest.mark.parametrize(("unit", "expected"), [("{T-score}", "-2.6"), ("1", "-2.6"), ("{SD}", "-2.6")])
def test_a_lone_annotation_is_the_unity(unit, expected):
    out = normalise(observation(T_SCORE, "-2.6", unit), CATALOG)
    assert props(out, "normalizedValue") == [expected] and not props(out, "unitProblem")
    # the same number, said so (not "-2.6 {T-score} = -2.6 1 (UCUM)", a conversion that converts nothing; nor
    # "= -2.6 1", which an author read as a typo)
    assert props(out, "conversionNote") == ([] if unit == "1" else [
        f"-2.6 {unit} = -2.6 (a plain number, as the measure is)"])
    assert ucum_conversion("{score}", "1") == (Decimal(1), Decimal(0))


@pytest.mark.parametrize("unit", ["%", "10*-2", "[ppth]"])
def test_a_scaled_pure_number_is_never_rescaled_into_a_unity_measure(unit):
    out = normalise(observation(T_SCORE, "-2.6", unit), CATALOG)
    assert not props(out, "normalizedValue")
    [problem] = props(out, "unitProblem")
    assert "a percentage of a score means nothing, so the value is not rescaled" in problem
    assert "gkg:UnitFactor" in problem


def test_an_annotated_unity_measure_reads_a_bare_number_and_refuses_a_percentage():
    """Found by a trial author (T-scores, canonical ``{T-score}``): a result in UCUM ``1``, the usual code of a
    unitless value, was refused (the annotation was missing) although one with no unit was read: ``{T-score}``
    is the unity 1, so is ``1``. Another annotation ({SD} for {index}) is still refused: it may name another
    score."""
    out = normalise(observation(INDEX, "3", "1"), CATALOG)
    assert props(out, "normalizedValue") == ["3"] and not props(out, "unitProblem")
    assert props(out, "conversionNote") == ["3 1 = 3 {index} (a plain number, as the measure is)"]
    assert "annotated {index}" in props(normalise(observation(INDEX, "3", "{SD}"), CATALOG), "unitProblem")[0]
    assert "not rescaled" in props(normalise(observation(INDEX, "3", "%{index}"), CATALOG), "unitProblem")[0]


def test_a_percentage_measure_still_reads_a_fraction():
    out = normalise(observation(TSAT, "0.25", "1"), CATALOG)
    assert props(out, "normalizedValue") == ["25"] and not props(out, "unitProblem")


def test_a_graph_factor_still_relates_them():
    group = MeasureGroup(frozenset(), frozenset({"1"}), (UnitFactor("%", "1", Decimal("1")),))
    assert convert(Decimal("-2.6"), "%", group, "1").value == Decimal("-2.6")
    with pytest.raises(UnitConversionError, match="not rescaled"):
        convert(Decimal("-2.6"), "%", MeasureGroup(frozenset(), frozenset(), ()), "1")


def test_no_unit_reads_as_the_unity_measure_number_only():
    out = normalise(observation(T_SCORE, "-3.1", None), CATALOG)
    assert props(out, "normalizedValue") == ["-3.1"] and not props(out, "unitProblem")
    assert props(out, "conversionNote") == ["no unit given: read as 1, a plain number as the measure is"]
    assert "no unit given" in props(normalise(observation(TSAT, "25", None), CATALOG), "unitProblem")[0]


def test_unity():
    assert [unity(u) for u in ("1", "{T-score}", "1{x}", "%", "mg/dL", "%{saturation}")] == [
        True, True, True, False, False, False]


@pytest.mark.parametrize("unit", ["{#}", "{score}", "{ratio}"])
def test_a_count_or_score_is_never_rescaled_into_a_percentage_measure(unit):
    """Review: with a lone annotation read as 1, 7 {#} became 700 % (and 0.5 {#} a plausible 50 %)."""
    out = normalise(observation(TSAT, "0.5", unit), CATALOG)
    assert not props(out, "normalizedValue")
    assert "is a count or a score" in props(out, "unitProblem")[0]


def test_a_plain_number_read_as_the_measure_is_no_missing_unit_warning():
    """Found in a trial: a parity of 2 without a unit was read as 2 (the explanation said so) and the report
    still warned 'value has no unit'. A measure with a unit keeps the warning: its value is not used."""
    def fhir_like(measure: str, record: str) -> PatientData:
        node = iri(f"urn:guidelinekg:{record}")
        lines = [triple(node, iri(RDF_TYPE_), iri(GKG + "Observation")), triple(node, iri(GKG + "observedMeasure"), iri(measure)),
                 triple(node, iri(GKG + "value"), literal("2", "http://www.w3.org/2001/XMLSchema#decimal"))]
        return PatientData.build("urn:guidelinekg:Patient/p1", lines, [IngestNote("missing-unit", f"{record} value has no unit", record)])

    assert [n.code for n in normalise(fhir_like(T_SCORE, "Observation/o1"), CATALOG).notes] == []
    assert [n.code for n in normalise(fhir_like(TSAT, "Observation/o2"), CATALOG).notes] == ["missing-unit"]


RDF_TYPE_ = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
