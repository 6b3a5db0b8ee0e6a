"""Units as laboratories write them (ontology/unit-spellings.tsv) and annotations that UCUM ignores
(src/guidelinekg/patients/ucum.py, units.py; the unit lints of checks/units.py)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from guidelinekg.checks import units as unit_checks
from guidelinekg.cli import main
from guidelinekg.content import resources
from guidelinekg.content.loading import load_files
from guidelinekg.patients.fhir import load_patient
from guidelinekg.patients.model import GKG, RDF_TYPE, XSD, PatientData, iri, literal, triple
from guidelinekg.patients.ucum import SPELLINGS_FILE, Spellings, is_ucum, spelling_table, ucum_for_spelling
from guidelinekg.patients.units import MeasureCatalog, MeasureGroup, UnitConversionError, convert, normalise

PATIENT, OBS = "urn:test:patient", "urn:test:obs"
EGFR, CONC, WEIGHT, COUNT, SAT, ENZYME, HORMONE = (f"urn:test:m:{n}" for n in (
    "egfr", "conc", "weight", "count", "sat", "enzyme", "hormone"))  # fmt: skip
CATALOG = MeasureCatalog.build({EGFR: "mL/min/{1.73_m2}", CONC: "ng/mL", WEIGHT: "kg", COUNT: "10*9/L",
                                SAT: "%", ENZYME: "U/L", HORMONE: "[IU]/L"})  # fmt: skip


def observation(measure: str, value: str, *, unit: str | None = None, text: str | None = None) -> PatientData:
    o = iri(OBS)
    lines = [triple(iri(PATIENT), iri(RDF_TYPE), iri(GKG + "Patient")),
             triple(o, iri(RDF_TYPE), iri(GKG + "Observation")), triple(o, iri(GKG + "subject"), iri(PATIENT)),
             triple(o, iri(GKG + "observedMeasure"), iri(measure)),
             triple(o, iri(GKG + "value"), literal(value, XSD + "decimal"))]  # fmt: skip
    if unit is not None:
        lines.append(triple(o, iri(GKG + "unit"), literal(unit)))
    if text is not None:
        lines.append(triple(o, iri(GKG + "unitText"), literal(text)))
    return PatientData.build(PATIENT, lines)


def props(patient: PatientData, prop: str) -> list[str]:
    return sorted(t.object.value for t in patient.triples()
                  if t.subject.value == OBS and t.predicate.value == GKG + prop)  # fmt: skip


# --- the shipped table ----------------------------------------------------------------------------------


def test_the_shipped_table_is_read_and_every_line_checked():
    """Parsing the shipped file checks every line (codes UCUM, spellings not, none twice); it lies in the
    folder the project's artefacts are read from, so a GUIDELINEKG_HOME copy of ontology/ carries it."""
    path = resources.ontology_dir() / SPELLINGS_FILE
    table = Spellings.parse(path.read_text(encoding="utf-8"))
    assert table.units == spelling_table().units and len(table.units) > 100
    assert all(is_ucum(code) for code in table.units.values())
    assert set(table.chars) == {"µ", "μ", "⁄", "∕"}


@pytest.mark.parametrize(("text", "why"), [
    ("unit\tmcg/L\tmcg/L\n", "not a UCUM code"),
    ("unit\tug/L\tug/L\n", "UCUM code already"),
    ("unit\tmL/min/1.73m2\tmL/min/{1.73_m2}\nunit\tmL/min/1.73 m2\tmL/min/{1.73_m2}\n", "the same spelling"),
    ("unit\tlbs\t[lb_av]\nunit\tlbs\tkg\n", "given twice"),
    ("char\tµ\tu\nchar\tμ\tu\nunit\tµg/l\tug/L\nunit\tμg/l\tng/mL\n", "given two codes"),
    ("unit mcg/L ug/L\n", "tab-separated"),
    ("char\tab\tu\n", "more than one character"),
])  # fmt: skip
def test_a_malformed_table_is_refused(text: str, why: str):
    with pytest.raises(ValueError, match=why):
        Spellings.parse("# comment\n\n" + text)


@pytest.mark.parametrize(("written", "code"), [
    ("mL/min/1.73m2", "mL/min/{1.73_m2}"), ("mL/min/1.73 m2", "mL/min/{1.73_m2}"),
    ("mL/min/1.73m^2", "mL/min/{1.73_m2}"), ("ml/min/1,73m2", "mL/min/{1.73_m2}"),
    ("mL/min/1.73 m²", "mL/min/{1.73_m2}"), (" ML/MIN/1.73M2 ", "mL/min/{1.73_m2}"),
    ("µg/L", "ug/L"), ("μg/L", "ug/L"), ("mcg/L", "ug/L"), ("ng⁄mL", "ng/mL"), ("ng∕mL", "ng/mL"),
    ("lbs", "[lb_av]"), ("x10^9/L", "10*9/L"), ("×10⁹/L", "10*9/L"), ("x10E3/uL", "10*3/uL"), ("°C", "Cel"),
    ("mEq/L", "meq/L"), ("mmHg", "mm[Hg]"),
    # UCUM codes are never looked up (the loader reads them as UCUM); ambiguous or unknown spellings are absent
    ("ng/ml", None), ("mmol/l", None), ("10*9/L", None), ("10^9/L", None), ("IU/L", None), ("mIU/L", None),
    ("µIU/mL", None), ("10 3/uL", None), ("10 9/L", None), ("furlongs", None), ("", None),
])  # fmt: skip
def test_spellings_map_to_one_ucum_code(written: str, code: str | None):
    assert ucum_for_spelling(written) == code


# --- results in a spelled unit ---------------------------------------------------------------------------


@pytest.mark.parametrize(("measure", "value", "text", "expected"), [
    (EGFR, "45", "mL/min/1.73m2", "45"), (EGFR, "45", "mL/min/1.73 m2", "45"), (EGFR, "45", "mL/min/1.73m^2", "45"),
    (EGFR, "45", "ml/min/1,73m2", "45"), (EGFR, "0.75", "mL/s/1.73m2", "45"), (CONC, "45", "µg/L", "45"),
    (CONC, "45", "mcg/L", "45"), (CONC, "45", "ng⁄mL", "45"), (WEIGHT, "100", "lbs", "45.3592"),
    (COUNT, "250", "x10^9/L", "250"), (COUNT, "250", "x10E9/L", "250"),
])  # fmt: skip
def test_a_result_in_a_common_spelling_is_usable_and_shown_as_written(measure, value, text, expected):
    out = normalise(observation(measure, value, text=text), CATALOG)
    assert props(out, "unitProblem") == []
    assert props(out, "normalizedValue") == [expected]
    (note,) = props(out, "conversionNote")
    assert note.startswith(f"{value} {text} read as {value} {ucum_for_spelling(text)} (a common spelling")
    assert normalise(out, CATALOG) == out  # idempotent


@pytest.mark.parametrize(("measure", "text"), [
    (ENZYME, "IU/L"), (HORMONE, "IU/L"),  # an international unit or an enzyme unit: not mapped
    (COUNT, "10 9/L"),  # not 109/L
    (CONC, "furlongs"),
])  # fmt: skip
def test_a_spelling_the_table_lacks_stays_unusable(measure: str, text: str):
    out = normalise(observation(measure, "45", text=text), CATALOG)
    assert props(out, "normalizedValue") == []
    (problem,) = props(out, "unitProblem")
    assert f"unit {text!r} is not a UCUM unit" in problem


def test_a_spelled_unit_that_does_not_convert_names_the_unit_as_written():
    out = normalise(observation(WEIGHT, "45", text="mL/min/1.73m2"), CATALOG)
    (problem,) = props(out, "unitProblem")
    assert problem.startswith("cannot convert mL/min/1.73m2 (read as mL/min/{1.73_m2}) to kg")


def _bundle(tmp_path: Path, quantity: dict) -> Path:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "birthDate": "1960-01-01"}},
        {"resource": {"resourceType": "Observation", "id": "egfr-1", "status": "final",
                      "code": {"coding": [{"system": "http://loinc.org", "code": "62238-1"}]},
                      "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-01-08",
                      "valueQuantity": quantity}}]}), encoding="utf-8")  # fmt: skip
    return path


def test_an_ehr_egfr_without_a_ucum_code_is_read(tmp_path: Path):
    """The usual EHR spelling of the eGFR unit, as a FHIR Quantity's unit with no code."""
    loinc = "https://loinc.org/62238-1"
    catalog = MeasureCatalog.build({loinc: "mL/min/{1.73_m2}"})
    patient = normalise(load_patient(_bundle(tmp_path, {"value": 28, "unit": "mL/min/1.73m2"})), catalog)
    values = [t.object.value for t in patient.triples() if t.predicate.value == GKG + "normalizedValue"]
    problems = [t.object.value for t in patient.triples() if t.predicate.value == GKG + "unitProblem"]
    assert values == ["28"] and problems == []


@pytest.mark.parametrize("quantity", [
    {"value": 28, "system": "http://unitsofmeasure.org", "code": "mL/min/1.73m2"},
    {"value": 28, "unit": "mL/min/1.73m2", "system": "http://unitsofmeasure.org", "code": "mL/min/1.73m2"},
    {"value": 28, "unit": "eGFR units", "system": "http://unitsofmeasure.org", "code": "mL/min/1.73 m2"},
])
def test_a_known_spelling_in_the_ucum_code_is_read_as_the_same_text_in_unit_is(tmp_path: Path, quantity):
    """Labs put their spelling in ``code`` under the UCUM system too: read through the table, as in ``unit``,
    never an unconvertible unit that leaves the eGFR unknown and orders it again."""
    catalog = MeasureCatalog.build({"https://loinc.org/62238-1": "mL/min/{1.73_m2}"})
    patient = normalise(load_patient(_bundle(tmp_path, quantity)), catalog)
    values = [t.object.value for t in patient.triples() if t.predicate.value == GKG + "normalizedValue"]
    problems = [t.object.value for t in patient.triples() if t.predicate.value == GKG + "unitProblem"]
    assert values == ["28"] and problems == []


@pytest.mark.parametrize("quantity", [
    {"value": 28, "unit": "mL/s/1.73m2", "system": "http://unitsofmeasure.org", "code": "mL/min/1.73m2"},
    {"value": 28, "unit": "mL/min/{1.73_m2}", "code": "mL/min/1.73m2"},  # no UCUM system: the code is not read
    # a spelled unit against a UCUM code of another scale ('unit lbs, code kg' was used as pounds, 60 times here)
    {"value": 28, "unit": "mL/s/1.73m2", "system": "http://unitsofmeasure.org", "code": "mL/min/{1.73_m2}"},
])
def test_a_spelled_ucum_code_is_not_read_where_the_unit_names_another_or_no_system_is_given(tmp_path: Path, quantity):
    """Found by a reviewer: a spelled code replaced the unit text, so 'unit kg, code lbs' was read as pounds."""
    catalog = MeasureCatalog.build({"https://loinc.org/62238-1": "mL/min/{1.73_m2}"})
    patient = normalise(load_patient(_bundle(tmp_path, quantity)), catalog)
    values = [t.object.value for t in patient.triples() if t.predicate.value == GKG + "normalizedValue"]
    assert values == ([] if "system" in quantity else ["28"])  # the unit text alone, when no system is given
    if "system" in quantity:
        assert [t for t in patient.triples() if t.predicate.value == GKG + "unitProblem"]


def test_an_unknown_non_ucum_code_under_the_ucum_system_stays_unusable(tmp_path: Path):
    catalog = MeasureCatalog.build({"https://loinc.org/62238-1": "mL/min/{1.73_m2}"})
    quantity = {"value": 28, "system": "http://unitsofmeasure.org", "code": "eGFR units"}
    patient = normalise(load_patient(_bundle(tmp_path, quantity)), catalog)
    assert [t for t in patient.triples() if t.predicate.value == GKG + "normalizedValue"] == []
    assert [t for t in patient.triples() if t.predicate.value == GKG + "unitProblem"]


def test_recommend_explains_a_result_in_a_spelled_unit_as_written(tmp_path: Path, capsys):
    """End to end with the shipped guideline: a result whose unit is text only (µg/L) is used, and the
    explanation shows the unit as written."""
    bundle = json.loads((resources.project_home() / "examples" / "patient-ferritin-45.json").read_text("utf-8"))
    for entry in bundle["entry"]:
        quantity = entry["resource"].get("valueQuantity")
        if quantity and quantity["code"] == "ng/mL":
            entry["resource"]["valueQuantity"] = {"value": 45, "unit": "µg/L"}
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    assert main(["recommend", str(path), "--as-of", "2026-02-01", "--format", "text"]) == 0
    out = capsys.readouterr().out
    assert "45 µg/L read as 45 ug/L (a common spelling of that UCUM unit); 45 ug/L = 45 ng/mL (UCUM)" in out
    assert "unit-not-convertible" not in out


# --- annotations -----------------------------------------------------------------------------------------


def test_a_clearance_in_ml_per_min_is_not_an_egfr():
    """UCUM ignores annotations, so mL/min converted to mL/min/{1.73_m2} with factor 1: a creatinine
    clearance silently read as an eGFR indexed to body surface."""
    out = normalise(observation(EGFR, "45", unit="mL/min"), CATALOG)
    assert props(out, "normalizedValue") == []
    (problem,) = props(out, "unitProblem")
    assert problem.startswith("cannot convert mL/min to mL/min/{1.73_m2}: mL/min/{1.73_m2} is annotated "
                              "{1.73_m2} and mL/min is not")


@pytest.mark.parametrize(("unit", "canonical", "value"), [
    ("%{saturation}", "%", Decimal(18)),  # an extra annotation: the same number
    ("mL/min/{1.73_m2}", "mL/min/{1.73_m2}", Decimal(45)),
    ("mL/s/{1.73_m2}", "mL/min/{1.73_m2}", Decimal(2700)),
    ("{cells}/uL", "10*9/L", Decimal("0.045")),
])  # fmt: skip
def test_units_with_the_annotations_of_the_target_convert(unit: str, canonical: str, value: Decimal):
    assert convert(Decimal(45 if unit != "%{saturation}" else 18), unit, MeasureGroup(frozenset(), frozenset(), ()),
                   canonical).value == value  # fmt: skip


@pytest.mark.parametrize(("unit", "canonical"), [
    ("mL/min", "mL/min/{1.73_m2}"), ("mL/min/{BSA}", "mL/min/{1.73_m2}"), ("%", "%{saturation}"),
    ("mL/s", "mL/min/{1.73_m2}"),
])  # fmt: skip
def test_a_unit_lacking_an_annotation_of_the_target_does_not_convert(unit: str, canonical: str):
    with pytest.raises(UnitConversionError, match="UCUM ignores annotations"):
        convert(Decimal(1), unit, MeasureGroup(frozenset(), frozenset(), ()), canonical)


def test_saturation_annotated_tsat_still_reads_on_the_shipped_fixture_guideline():
    import rdflib

    catalog = MeasureCatalog.from_graph(rdflib.Graph().parse(
        Path(__file__).parent / "fixtures" / "fhir" / "test-guideline.ttl"))
    out = normalise(observation("https://loinc.org/2502-3", "18", unit="%{saturation}"), catalog)
    assert props(out, "normalizedValue") == ["18"] and props(out, "unitProblem") == []


# --- lints -----------------------------------------------------------------------------------------------

TERMS = """@prefix gkg: <https://w3id.org/guidelinekg/ontology#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix ex: <https://example.org/unit-spellings/> .
<https://loinc.org/62238-1> a gkg:Measure ; rdfs:label "eGFR"@en ; gkg:canonicalUnit "{unit}" .
"""


def _content(tmp_path: Path, name: str, text: str):
    path = tmp_path / name
    path.mkdir()
    (path / "terms.ttl").write_text(text, encoding="utf-8")
    content, problems = load_files([*resources.vocabulary_files(), path])
    assert problems == []
    return content


@pytest.mark.parametrize(("threshold", "fires"), [("mL/min", True), ("mL/min/{1.73_m2}", False)])
def test_a_threshold_without_the_annotation_of_its_measure_is_a_mismatch(tmp_path: Path, threshold, fires):
    content = _content(tmp_path, "g", TERMS.replace("{unit}", "mL/min/{1.73_m2}") + (
        'ex:crit a gkg:LabThreshold ; gkg:onMeasure <https://loinc.org/62238-1> ; gkg:comparator gkg:LessThan ;'
        f' gkg:thresholdValue 30 ; gkg:thresholdUnit "{threshold}" .\n'))  # fmt: skip
    findings = unit_checks.threshold_unit_findings(content)
    assert [f.code for f in findings] == (["threshold-unit-mismatch"] if fires else [])
    assert not fires or "UCUM ignores annotations" in findings[0].message


@pytest.mark.parametrize("order", [0, 1])
def test_guidelines_reading_one_measure_with_and_without_an_annotation_clash(tmp_path: Path, order: int):
    contents = [_content(tmp_path, "a", TERMS.replace("{unit}", "mL/min/{1.73_m2}")),
                _content(tmp_path, "b", TERMS.replace("{unit}", "mL/min"))]
    if order:
        contents.reverse()
    codes = [f.code for f in unit_checks.cross_guideline_findings(contents)]
    assert codes == ["measure-unit-clash"]


def test_unit_not_ucum_names_the_code_results_in_that_spelling_are_read_as():
    assert unit_checks.ucum_spelling("mL/min/1.73m2") == "mL/min/{1.73_m2}"
    assert unit_checks.ucum_spelling("x10^9/L") == "10*9/L"
