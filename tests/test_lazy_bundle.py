"""The lazy read of a FHIR Bundle (guidelinekg.patients.fhirlazy) gives what the strict read gives.

The loader reads a Bundle lazily: only the resources the mapping reads are parsed, the rest is kept as
text. These tests hold it to the strict read (the whole document parsed and checked, as the loader did
before): the same facts and notes on every FHIR fixture, the same refusals, with their line, of what is
wrong anywhere but inside a resource nothing reads; and they pin what the lazy read no longer refuses
inside such a resource.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from guidelinekg.errors import InputError, Location
from guidelinekg.patients import loader
from guidelinekg.patients.decode import MAX_DEPTH, parse_json
from guidelinekg.patients.fhir import patients_from_json
from guidelinekg.patients.fhirlazy import read_bundle
from guidelinekg.patients.loader import load_patient_input

TESTS = Path(__file__).parent
FIXTURES = sorted({*TESTS.glob("cases/*/patient.json"), *(TESTS / "fixtures" / "fhir").rglob("*.json")})
SYNTHEA = sorted(p for p in (TESTS / "fixtures" / "fhir" / "synthea").glob("*.json")
                 if not p.name.startswith(("hospital", "practitioner")))
CARROLL = next(p for p in SYNTHEA if p.name.startswith("Carroll471"))
WEIGHT, HEIGHT = "29463-7", "8302-2"  # LOINC: the RLS guideline reads body weight, not height


def fixture_id(path: Path) -> str:
    return str(path.relative_to(TESTS))


def strict(data: bytes, kb, reads) -> list | InputError:
    """The patients (IRI, facts, notes) as the strict read maps them, or its error."""
    try:
        doc = parse_json(data.decode("utf-8-sig"), Location("x"), positions=False)
        found = patients_from_json(doc, source="x", matcher=kb.matcher, reads=reads)
    except InputError as exc:
        return exc
    return [(p.patient_iri, p.ntriples, p.notes) for p in found]


def lazy(data: bytes, kb, reads) -> list | InputError | None:
    """The same from the lazy read; ``None`` when it leaves the input to the strict read."""
    bundle = read_bundle(data.removeprefix(b"\xef\xbb\xbf"), reads)
    if bundle is None:
        return None
    try:
        found = patients_from_json(bundle.doc, source="x", matcher=kb.matcher, reads=reads, skipped=bundle.skipped)
    except InputError as exc:
        return exc
    return [(p.patient_iri, p.ntriples, p.notes) for p in found]


def is_bundle_with_entries(data: bytes) -> bool:
    try:
        doc = json.loads(data)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("resourceType") == "Bundle" and bool(doc.get("entry"))


@pytest.mark.parametrize("with_reads", [True, False], ids=["reads", "maps-all"])
@pytest.mark.parametrize("path", FIXTURES, ids=fixture_id)
def test_the_lazy_read_gives_what_the_strict_read_gives(kb, path, with_reads):
    data = path.read_bytes()
    reads = kb.reads if with_reads else None
    expected, got = strict(data, kb, reads), lazy(data, kb, reads)
    if isinstance(expected, InputError):
        assert got is None or isinstance(got, InputError), "the lazy read accepts what the strict read refuses"
        return
    if is_bundle_with_entries(data):
        assert got is not None, "the lazy read gave up on a Bundle the strict read accepts"
    assert got is None or got == expected


@pytest.mark.parametrize("path", FIXTURES, ids=fixture_id)
def test_the_loader_gives_what_it_gave_before(kb, path, monkeypatch):
    """Through the loader: the same patient (facts, notes, digest of the file) or the same error."""
    def outcome():
        try:
            p = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
        except InputError as exc:
            return exc.render()
        return p

    now = outcome()
    monkeypatch.setattr(loader, "_lazy_fhir", lambda *args: None)
    assert now == outcome()


def test_a_synthea_record_leaves_unread_resources_unparsed(kb):
    """What the lazy read is for: of a real record only a few resources are parsed."""
    bundle = read_bundle(CARROLL.read_bytes(), kb.reads)
    assert bundle is not None
    parsed = {e["resource"]["resourceType"] for e in bundle.doc["entry"]}
    # Procedure too: the shipped guideline reads dialysis procedures (its ESRD population)
    assert parsed <= {"Patient", "Condition", "MedicationRequest", "Observation", "Procedure"}
    assert {"Claim", "ExplanationOfBenefit", "Encounter"} <= set(bundle.skipped.counts)
    weights = [e["resource"] for e in bundle.doc["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert weights and all(WEIGHT in json.dumps(o["code"]) for o in weights)
    assert sum(len(v) for v in bundle.skipped.observations.values()) > 50


def reformatted(text: str, how: str) -> str:
    doc = json.loads(text)
    if how == "compact":
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    if how == "tabs":
        return json.dumps(doc, indent="\t")
    entries = []
    for entry in doc["entry"]:  # members in other orders, escapes: read member by member
        res = entry.pop("resource")
        res = {"id": res.pop("id"), **res, "note": [{"text": "a \"quoted\" note, \\ / caf\u00e9"}]}
        entries.append({"resource": res, **entry, "search": {"mode": "match"}})
    return json.dumps({**doc, "id": "b1", "meta": {"lastUpdated": "2025-01-01T00:00:00Z"}, "entry": entries},
                      indent=3)


@pytest.mark.parametrize("how", ["compact", "tabs", "reordered"])
def test_the_lazy_read_takes_a_bundle_however_it_is_written(kb, how):
    data = reformatted(CARROLL.read_text(encoding="utf-8"), how).encode()
    got = lazy(data, kb, kb.reads)
    assert got is not None and got == strict(data, kb, kb.reads)


@pytest.mark.parametrize("system, code", [("http://loinc.org", " 2276-4 "), ("http://loinc.org/", "2276-4"),
                                          ("urn:oid:2.16.840.1.113883.6.1", "2276-4")])
def test_a_read_code_spelled_otherwise_is_parsed_and_mapped_by_the_lazy_read(kb, system, code):
    """The lazy read judges an Observation by its codes as the mapping reads them (system as its FHIR URI,
    code trimmed): a ferritin coded " 2276-4" was counted among the results no guideline reads."""
    doc = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1"}},
        {"resource": {"resourceType": "Observation", "id": "o1", "status": "final",
                      "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-01-08",
                      "code": {"coding": [{"system": system, "code": code}]},
                      "valueQuantity": {"value": 45, "system": "http://unitsofmeasure.org", "code": "ng/mL"}}},
        {"resource": {"resourceType": "Observation", "id": "o2", "status": "final",  # height: not read
                      "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-01-08",
                      "code": {"coding": [{"system": system, "code": f" {HEIGHT}"}]},
                      "valueQuantity": {"value": 170, "system": "http://unitsofmeasure.org", "code": "cm"}}}]}
    data = json.dumps(doc).encode()
    bundle = read_bundle(data, kb.reads)
    assert [e["resource"]["id"] for e in bundle.doc["entry"]] == ["p1", "o1"]  # the height left as text
    got = lazy(data, kb, kb.reads)
    assert got == strict(data, kb, kb.reads)
    [(_, facts, notes)] = got
    assert any("Observation/o1" in line for line in facts) and not any("Observation/o2" in line for line in facts)
    assert [n.message for n in notes if n.code == "ignored-resource"] == [
        f"1 Observation resource ignored: no loaded guideline reads its codes (LOINC {HEIGHT})"]


# --- refused as before, with the line ------------------------------------------------------------------------


def refused(tmp_path: Path, text: str, kb) -> InputError:
    path = tmp_path / "patient.json"
    path.write_text(text, encoding="utf-8")
    assert read_bundle(text.encode(), kb.reads) is None, "the lazy read vouches for a document it must not"
    with pytest.raises(InputError) as caught:
        load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    return caught.value


def line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def carroll() -> str:
    return CARROLL.read_text(encoding="utf-8")


def insert_after(text: str, anchor: str, added: str, start: int = 0) -> tuple[str, int]:
    """``text`` with ``added`` after the first ``anchor`` from ``start``; the offset of ``added``."""
    at = text.index(anchor, start) + len(anchor)
    return text[:at] + added + text[at:], at + added.index('"')


def resource_at(text: str, kind: str, code: str | None = None) -> int:
    """The offset of the first resource of ``kind`` (with ``code`` in its text, when given)."""
    for m in re.finditer(rf'"resourceType": "{kind}"', text):
        end = text.find('"resourceType"', m.end())
        if code is None or code in text[m.start():end]:
            return m.start()
    raise AssertionError(kind)


@pytest.mark.parametrize("where", ["entry", "resourceType", "type", "resource", "fullUrl", "request"])
def test_a_key_given_twice_in_the_bundle_or_an_entry_is_refused_with_its_line(tmp_path, kb, where):
    text = carroll()
    claim_entry = text.rindex('"fullUrl"', 0, resource_at(text, "Claim"))
    anchor, added, start = {
        "entry": ('"type": "transaction",', '\n  "entry": [],', 0),
        "resourceType": ('"type": "transaction",', '\n  "resourceType": "Bundle",', 0),
        "type": ('"resourceType": "Bundle",', '\n  "type": "collection",', 0),
        "resource": (",", '\n      "resource": {"resourceType": "Basic", "id": "b"},', claim_entry),
        "fullUrl": (",", '\n      "fullUrl": "urn:uuid:x",', claim_entry),
        "request": ('"method": "POST",', '\n        "method": "PUT",', claim_entry),
    }[where]
    text, at = insert_after(text, anchor, added, start)
    if where in ("entry", "type", "resource"):  # the key inserted comes first: the one there is refused
        at = text.index(f'"{where}"', at + len(where) + 2)
    error = refused(tmp_path, text, kb)
    key = "method" if where == "request" else where
    assert f"duplicate key {key!r}" in error.message and error.location.line == line_at(text, at)


@pytest.mark.parametrize("kind, code", [("Observation", WEIGHT), ("Patient", None), ("MedicationRequest", None)])
def test_a_key_given_twice_in_a_resource_the_mapping_reads_is_refused_with_its_line(tmp_path, kb, kind, code):
    text = carroll()
    text, at = insert_after(text, '"id": ', '"dup", "id": ', resource_at(text, kind, code))
    at = text.index('"id"', at + 4)
    error = refused(tmp_path, text, kb)
    assert "duplicate key 'id'" in error.message and error.location.line == line_at(text, at)


def test_malformed_json_inside_a_claim_is_refused_with_its_line(tmp_path, kb):
    text = carroll()
    claim = resource_at(text, "Claim")
    at = text.index('"status": "active"', claim) + len('"status": "active"')
    text = text[:at] + ",," + text[at:]
    error = refused(tmp_path, text, kb)
    assert error.message.startswith("not valid JSON") and error.location.line == line_at(text, at + 1)


def test_a_lone_surrogate_inside_a_claim_is_refused(tmp_path, kb):
    text = carroll()
    text, at = insert_after(text, '"status": "active",', ' "note": "\\udc00",', resource_at(text, "Claim"))
    error = refused(tmp_path, text, kb)
    assert "surrogate" in error.message and error.location.line == line_at(text, at)


def nest(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("where", ["Patient", "request", "meta", "Claim"])
def test_deep_nesting_is_refused(tmp_path, kb, where):
    """In a resource the mapping reads, in the Bundle and its entries; inside a resource nothing reads,
    nesting deeper than msgspec's own limit (the strict read then refuses it)."""
    text = carroll()
    text, _ = {
        "Patient": lambda: insert_after(text, '"resourceType": "Patient",', f' "deep": {nest(130)},'),
        "request": lambda: insert_after(text, '"method": "POST",', f' "extension": {nest(130)},'),
        "meta": lambda: insert_after(text, '"type": "transaction",', f' "meta": {{"tag": {nest(130)}}},'),
        "Claim": lambda: insert_after(text, '"status": "active",', f' "note": {nest(5000)},',
                                      resource_at(text, "Claim")),
    }[where]()
    assert f"nested more than {MAX_DEPTH} levels deep" in refused(tmp_path, text, kb).message


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_the_nesting_limit_of_a_resource_read_is_that_of_the_whole_document(kb, extra):
    """A Bundle nests an entry's resource 4 deep: its own nesting may reach MAX_DEPTH - 3, not more."""
    text = carroll()
    inner = MAX_DEPTH - 3 - 2 + extra  # the Patient object, the array of "deep", then ``inner`` arrays
    data = insert_after(text, '"resourceType": "Patient",', f' "deep": [{nest(inner)}],')[0].encode()
    expected, got = strict(data, kb, kb.reads), lazy(data, kb, kb.reads)
    assert isinstance(expected, InputError) == (extra > 0)
    assert got == (None if extra > 0 else expected)


def test_references_to_resources_left_as_text_resolve_as_before(kb):
    """An Observation nothing reads that is not about a Patient of the input, a product named by a
    resource of a type nothing reads: parsed when the mapping reaches them, with the notes of before."""
    loinc = {"system": "http://loinc.org", "code": HEIGHT}
    entries = [
        {"fullUrl": "urn:uuid:p", "resource": {"resourceType": "Patient", "id": "p", "birthDate": "1970-01-01"}},
        {"fullUrl": "urn:uuid:g", "resource": {"resourceType": "Group", "id": "g", "type": "person"}},
        {"resource": {"resourceType": "ImmunizationRecommendation", "id": "pr", "code": {"text": "Ferinject 500 mg"}}},
        {"resource": {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"coding": [loinc]},
                      "subject": {"reference": "urn:uuid:g"}, "valueQuantity": {"value": 180, "unit": "cm"}}},
        {"resource": {"resourceType": "Observation", "id": "o2", "status": "final", "code": {"coding": [loinc]},
                      "subject": {"reference": "Patient/nobody"}}},
        {"resource": {"resourceType": "Observation", "id": "o3", "status": "final", "code": {"coding": [loinc]},
                      "subject": {"reference": "urn:uuid:p"}}},
        {"resource": {"resourceType": "MedicationStatement", "id": "ms", "status": "active",
                      "medicationReference": {"reference": "ImmunizationRecommendation/pr"},
                      "subject": {"reference": "urn:uuid:p"},
                      "effectiveDateTime": "2025-01-01"}},
    ]
    data = json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}, indent=2).encode()
    bundle = read_bundle(data, kb.reads)
    assert bundle is not None and {"Group", "ImmunizationRecommendation"} <= set(bundle.skipped.counts)
    expected = strict(data, kb, kb.reads)
    notes = " ".join(n.message for _, _, found in expected for n in found)
    assert "Observation/o1 is about 'urn:uuid:g', not a Patient" in notes and "Ferinject" in str(expected)
    assert lazy(data, kb, kb.reads) == expected


# --- what the lazy read no longer checks inside a resource nothing reads ---------------------------------


@pytest.mark.parametrize("change", ["duplicate key", "wrong JSON type", "huge exponent"])
def test_inside_a_resource_nothing_reads_only_the_json_syntax_is_checked(tmp_path, kb, change):
    """A Claim and an Observation of a measure no guideline reads are ignored (counted): what is wrong
    inside them, but the JSON syntax, is no longer refused (it was), and changes nothing."""
    text = carroll()
    for kind, code in (("Claim", None), ("Observation", HEIGHT)):
        added = {"duplicate key": '"status": "x",',
                 "wrong JSON type": '"contained": 5,' if kind == "Claim" else '"effectiveInstant": 5,',
                 "huge exponent": '"valueHuge": 1e99999999999999999999,'}[change]
        text = insert_after(text, f'"resourceType": "{kind}",', " " + added, resource_at(text, kind, code))[0]
    assert isinstance(strict(text.encode(), kb, kb.reads), InputError)
    path = tmp_path / "patient.json"
    path.write_text(text, encoding="utf-8")
    patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    before = load_patient_input(CARROLL, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    assert (patient.ntriples, patient.notes) == (before.ntriples, before.notes)


@pytest.mark.parametrize("how", ["gzip", "bom"])
def test_a_compressed_or_marked_bundle_is_read_lazily_too(tmp_path, kb, monkeypatch, how):
    import gzip

    from guidelinekg.patients import fhirlazy

    data = CARROLL.read_bytes()
    path = tmp_path / "patient.json"
    path.write_bytes(gzip.compress(data) if how == "gzip" else b"\xef\xbb\xbf" + data)
    before = load_patient_input(CARROLL, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    results = []

    def spy(*args):
        results.append(read_bundle(*args))
        return results[-1]

    monkeypatch.setattr(fhirlazy, "read_bundle", spy)
    patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    assert results and results[0] is not None
    assert (patient.ntriples, patient.notes) == (before.ntriples, before.notes)
