"""Patient input detected from content (FHIR, JSON-LD, Turtle), RDF patient input, and the patient shapes."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pyoxigraph as ox
import pyshacl
import pytest
import rdflib

from guidelinekg.errors import InputError
from guidelinekg.patients.fhir import load_patient
from guidelinekg.patients.medmatch import SubstanceMatcher
from guidelinekg.patients.model import GKG, PatientData, xsd_decimal
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.patients.units import MeasureCatalog

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
RDF = FIXTURES / "rdf"
SHAPES = Path(__file__).parents[1] / "shapes" / "patient.ttl"
SH = rdflib.Namespace("http://www.w3.org/ns/shacl#")


@pytest.fixture(scope="module")
def guideline() -> rdflib.Graph:
    return rdflib.Graph().parse(FIXTURES / "test-guideline.ttl")


def values(patient: PatientData, subject: str, prop: str) -> list[str]:
    return sorted(
        t.object.value
        for t in patient.triples()
        if t.subject.value == subject and t.predicate.value == GKG + prop
    )


# --- detection ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "name", "patient"),
    [
        (FIXTURES / "bundle-collection.json", "input.ttl", "urn:guidelinekg:Patient/p1"),
        (RDF / "patient.ttl", "input.json", "https://example.org/patients/p7"),
        (RDF / "patient.jsonld", "input.txt", "https://example.org/patients/p10"),
    ],
    ids=["fhir", "turtle", "json-ld"],
)
def test_kind_is_detected_from_content_not_extension(
    tmp_path: Path, fixture: Path, name: str, patient: str
) -> None:
    path = tmp_path / name
    shutil.copy(fixture, path)
    assert load_patient_input(path).patient_iri == patient


def test_fhir_through_the_detecting_loader_equals_the_fhir_loader(guideline: rdflib.Graph) -> None:
    matcher = SubstanceMatcher.from_graph(guideline)
    path = FIXTURES / "bundle-collection.json"
    assert load_patient_input(path, matcher=matcher) == load_patient(path, matcher=matcher)


def test_json_ld_with_inline_context(guideline: rdflib.Graph) -> None:
    patient = load_patient_input(RDF / "patient.jsonld", measures=MeasureCatalog.from_graph(guideline))
    obs = "https://example.org/patients/p10-obs"
    assert values(patient, obs, "value") == ["45"]
    assert values(patient, obs, "normalizedValue") == ["45"]
    assert values(patient, "https://example.org/patients/p10", "birthDate") == ["1980-08-08"]


def test_json_ld_remote_context_is_refused_without_network(monkeypatch) -> None:
    def no_network(*args, **kwargs):
        raise AssertionError("the loader tried to reach the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    with pytest.raises(InputError, match="remote context .* is not fetched") as err:
        load_patient_input(RDF / "patient-remote-context.jsonld")
    assert "inline" in str(err.value)


def test_json_ld_import_in_nested_context_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonld"
    path.write_text('{"@graph": [{"@context": {"@import": "http://example.org/ctx"}, "@id": "http://a"}]}')
    with pytest.raises(InputError, match="@import"):
        load_patient_input(path)


def test_turtle_syntax_error_has_line_and_column() -> None:
    with pytest.raises(InputError, match="Turtle syntax error") as err:
        load_patient_input(RDF / "patient-syntax-error.ttl")
    # line 5 uses the undeclared prefix xsd: at column 33
    assert (err.value.location.line, err.value.location.column) == (5, 33)
    assert "patient-syntax-error.ttl:5:33" in str(err.value)


def test_plain_text_is_read_as_turtle_and_says_so() -> None:
    with pytest.raises(InputError, match="read as Turtle because the content is not JSON"):
        load_patient_input(RDF / "patient-not-rdf.txt")


def test_json_neither_fhir_nor_json_ld(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"patient": "p1"}')
    with pytest.raises(InputError, match="neither FHIR .* nor JSON-LD"):
        load_patient_input(path)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (None, "found 2"),
        ("@prefix ex: <http://ex/> . ex:a ex:b ex:c .", "found 0"),
        ("[ a <" + GKG + "Patient> ] .", "blank"),
    ],
)
def test_rdf_must_have_exactly_one_patient_iri(tmp_path: Path, text: str | None, found: str) -> None:
    path = tmp_path / "p.ttl"
    path.write_text(text) if text else shutil.copy(RDF / "patient-two.ttl", path)
    with pytest.raises(InputError, match=found):
        load_patient_input(path)


# --- RDF patient input ----------------------------------------------------------------------------------


def test_turtle_patient_is_normalised_and_matched(guideline: rdflib.Graph) -> None:
    patient = load_patient_input(
        RDF / "patient.ttl",
        matcher=SubstanceMatcher.from_graph(guideline),
        measures=MeasureCatalog.from_graph(guideline),
    )
    assert values(patient, "https://example.org/patients/p7-ferritin", "normalizedUnit") == ["ng/mL"]
    exposure = "https://example.org/patients/p7-iv"
    assert values(patient, exposure, "exposureSubstance") == ["https://example.org/test-guideline#Examplomab"]
    assert values(patient, exposure, "matchedBy") == ["name"]


def test_blank_nodes_are_skolemized_deterministically(tmp_path: Path) -> None:
    """Blank nodes become IRIs numbered per patient (the rules cannot name a blank node)."""
    first = load_patient_input(RDF / "patient.ttl")
    again = load_patient_input(RDF / "patient.ttl")
    assert first == again
    assert not any("_:" in line for line in first.ntriples)
    blanks = {line.split()[0] for line in first.ntriples if line.startswith("<urn:guidelinekg:skolem:")}
    assert len(blanks) == 1
    other = tmp_path / "other.ttl"
    other.write_text((RDF / "patient.ttl").read_text().replace("ex:p7 ", "ex:p70 "))
    assert blanks.isdisjoint(line.split()[0] for line in load_patient_input(other).ntriples)


def test_rdf_patient_loads_into_a_store() -> None:
    patient = load_patient_input(RDF / "patient.ttl")
    store = ox.Store()
    patient.load_into(store, graph="urn:patients:p7")
    assert len(store) == len(patient.ntriples)


@pytest.mark.parametrize(
    ("given", "expected"),
    [("101.10", "101.10"), ("1E+2", "100"), ("-0", "0"), ("0.000", "0.000"), ("NaN", None), ("1E+99", None)],
)
def test_xsd_decimal(given: str, expected: str | None) -> None:
    from decimal import Decimal

    assert xsd_decimal(Decimal(given)) == expected


# --- patient shapes -------------------------------------------------------------------------------------


def validate(graph: rdflib.Graph) -> tuple[bool, rdflib.Graph]:
    conforms, report, _ = pyshacl.validate(graph, shacl_graph=rdflib.Graph().parse(SHAPES))
    return conforms, report


def test_every_patient_shape_constraint_has_a_message() -> None:
    shapes = rdflib.Graph().parse(SHAPES)
    property_shapes = set(shapes.subjects(SH.path, None))
    assert property_shapes
    assert [s for s in property_shapes if (s, SH.message, None) not in shapes] == []


@pytest.mark.parametrize("fixture", [RDF / "patient.ttl", RDF / "patient.jsonld"])
def test_good_rdf_patients_conform(fixture: Path) -> None:
    assert validate(load_patient_input(fixture).to_rdflib())[0]


@pytest.mark.parametrize(
    "name", ["bundle-collection.json", "bundle-searchset.json", "bundle-transaction.json"]
)
def test_our_fhir_output_conforms(guideline: rdflib.Graph, name: str) -> None:
    patient = load_patient_input(
        FIXTURES / name,
        matcher=SubstanceMatcher.from_graph(guideline),
        measures=MeasureCatalog.from_graph(guideline),
    )
    conforms, report = validate(patient.to_rdflib())
    assert conforms, report.serialize(format="turtle")


def test_bad_patient_violations_say_what_and_where() -> None:
    conforms, report = validate(rdflib.Graph().parse(RDF / "patient-bad.ttl"))
    assert not conforms
    ex = rdflib.Namespace("https://example.org/patients/")
    gkg = rdflib.Namespace(GKG)
    found = {
        (report.value(r, SH.focusNode), report.value(r, SH.resultPath)): str(
            report.value(r, SH.resultMessage)
        )
        for r in report.subjects(rdflib.RDF.type, SH.ValidationResult)
    }
    expected = {
        (ex["p8"], gkg.birthDate),
        (ex["p8-obs"], gkg.observedMeasure),
        (ex["p8-obs"], gkg.value),
        (ex["p8-obs"], gkg.unit),
        (ex["p8-obs"], gkg.effectiveTime),
        (ex["p8-condition"], gkg.subject),
        (ex["p8-condition"], None),  # neither a SNOMED CT IRI nor a system|code token: the node-level sh:or
        (ex["p8-med"], gkg.exposureStart),
    }
    assert set(found) == expected
    assert "add effectiveDateTime to the FHIR Observation" in found[(ex["p8-obs"], gkg.effectiveTime)]
    assert "gkg:codeToken" in found[(ex["p8-condition"], None)]
    assert "http://snomed.info/" in found[(ex["p8-condition"], None)]


def test_json_array_of_fhir_resources_asks_for_a_bundle(tmp_path: Path) -> None:
    path = tmp_path / "resources.json"
    path.write_text('[{"resourceType": "Patient", "id": "x"}]')
    with pytest.raises(InputError, match="array of FHIR resources") as err:
        load_patient_input(path)
    assert "Bundle" in str(err.value)


# --- input no store or parser can take --------------------------------------------------------------------

PATIENT_TTL = f"@prefix gkg: <{GKG}> .\n<urn:example:p1> a gkg:Patient .\n"


@pytest.mark.parametrize(
    ("value", "problem"),
    [("10000000000000000000000000000.0", "1.000E+28 is out of range"), ("1e400", "1E+400 is out of range"),
     ('"INF"^^<http://www.w3.org/2001/XMLSchema#double>', "not a finite number"),
     ("0.0000000000000000001", "18 digits after the decimal point")],
)
def test_rdf_value_out_of_range_is_refused(tmp_path: Path, value: str, problem: str) -> None:
    path = tmp_path / "p.ttl"
    path.write_text(PATIENT_TTL + f"<urn:example:o1> a gkg:Observation ; gkg:subject <urn:example:p1> ; "
                    f"gkg:value {value} .\n")
    with pytest.raises(InputError, match="<urn:example:o1> gkg:value") as err:
        load_patient_input(path)
    assert problem in err.value.message


@pytest.mark.parametrize("suffix", [".ttl", ".jsonld"])
def test_a_literal_longer_than_the_parser_buffer_is_unusable_input(tmp_path: Path, suffix: str) -> None:
    big = "x" * (16 * 1024 * 1024 + 10)
    path = tmp_path / f"p{suffix}"
    if suffix == ".ttl":
        path.write_text(PATIENT_TTL + f'<urn:example:p1> gkg:identifier "{big}" .\n')
    else:
        path.write_text(f'{{"@context": {{"gkg": "{GKG}"}}, "@id": "urn:example:p1", "@type": "gkg:Patient", '
                        f'"gkg:identifier": "{big}"}}')
    with pytest.raises(InputError, match="buffer") as err:
        load_patient_input(path)
    assert "too long for the RDF parser" in err.value.hint


def test_a_file_or_gzip_larger_than_the_limit_is_refused(tmp_path: Path, monkeypatch) -> None:
    import gzip

    from guidelinekg.patients import loader

    monkeypatch.setattr(loader, "MAX_BYTES", 1000)
    plain, packed = tmp_path / "p.ttl", tmp_path / "p.ttl.gz"
    plain.write_text(PATIENT_TTL + "#" * 2000 + "\n")
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert len(packed.read_bytes()) < 1000
    for path in (plain, packed):
        with pytest.raises(InputError, match="more than 0 MiB"):
            load_patient_input(path)


def test_a_long_literal_survives_the_engine_csv_reader() -> None:
    """The store's SPARQL CSV reader accepts fields over the csv module's default 128 KiB."""
    from guidelinekg.engine.store import OxigraphStore

    store = OxigraphStore()
    store.load_ntriples(f'<urn:s> <urn:p> "{"x" * 200_000}" .\n')
    (row,) = store.select_values("SELECT ?o WHERE { <urn:s> <urn:p> ?o }")
    assert len(row["o"]) == 200_000


@pytest.mark.parametrize("literal", ['"45"', '"45"@en', '"45"^^<http://www.w3.org/2001/XMLSchema#string>'])
def test_a_string_value_is_never_read_as_a_number(kb, literal):
    """A cohort reads patient RDF whose shapes flag gkg:value "45" (a string); the units must not turn it into
    45 ng/mL that decides a recommendation. A typed number is read as before."""
    from guidelinekg.patients.units import normalise

    o = "<urn:o>"
    lines = [f"{o} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{GKG}Observation> .",
             f"{o} <{GKG}observedMeasure> <https://loinc.org/2276-4> .", f'{o} <{GKG}unit> "ng/mL" .']
    text = normalise(PatientData.build("urn:p", [*lines, f"{o} <{GKG}value> {literal} ."]), kb.measures)
    typed = normalise(PatientData.build("urn:p", [*lines, f'{o} <{GKG}value> "45"^^<http://www.w3.org/2001/XMLSchema#decimal> .']), kb.measures)
    assert not [line for line in text.ntriples if "normalizedValue" in line]
    assert [line for line in typed.ntriples if "normalizedValue" in line]
