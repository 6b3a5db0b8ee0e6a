"""A Bundle that holds one resource twice, and a Bundle that says it is not the whole record.

1. The same resource (type and id) given twice with different content is two versions of one record: the
   newest by its meta (a later ``meta.lastUpdated``, else a higher numeric ``meta.versionId``) is used and
   the note says which copy is used and which set aside; when nothing says which is newer, neither is used
   (the measure is missing: its test is ordered) and a Patient is refused. Strict and lazy reads, the
   loader, ``recommend`` and ``cohort`` agree.
2. A search result cut short (an OperationOutcome with an error or fatal issue) or paged (a ``next`` link)
   gives a ``search-incomplete`` warning; a warning issue a ``search-warning``; an information issue is
   counted with the types not used, as before.

Every input is built here.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from guidelinekg.cli import main as cli_main
from guidelinekg.errors import InputError, Location
from guidelinekg.patients import loader
from guidelinekg.patients.decode import parse_json
from guidelinekg.patients.fhir import patients_from_json
from guidelinekg.patients.fhirlazy import read_bundle
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.patients.model import MAY_LACK_ANY, PatientData

AS_OF = "2026-01-15"
PID = "p1"
LOINC = "http://loinc.org"
FERRITIN, TSAT, WEIGHT = "2276-4", "2502-3", "29463-7"
OBS_IRI = "urn:guidelinekg:Observation/"
V1 = {"versionId": "1", "lastUpdated": "2026-01-08T14:00:00Z"}
V2 = {"versionId": "2", "lastUpdated": "2026-01-09T10:00:00Z"}


# --- building inputs ---------------------------------------------------------------------------------------


def patient(**fields) -> dict:
    return {"resourceType": "Patient", "id": PID, "birthDate": "1968-04-12", "gender": "male", **fields}


def condition() -> dict:
    return {"resourceType": "Condition", "id": "rls-1", "subject": {"reference": f"Patient/{PID}"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "32914008"}]}}


def result(oid: str, loinc: str, value: float, unit: str, meta: dict | None = None, status: str = "final",
           pid: str = PID) -> dict:
    res = {"resourceType": "Observation", "id": oid, "status": status, "code": {"coding": [{"system": LOINC,
           "code": loinc}]}, "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": "2026-01-08T08:15:00Z",
           "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}
    if meta is not None:
        res["meta"] = meta
    return res


def ferritin(value: float, meta: dict | None = None, status: str = "final", pid: str = PID) -> dict:
    return result(f"ferr-{pid}", FERRITIN, value, "ng/mL", meta, status, pid)


def record(*extra: dict, who: tuple[dict, ...] | None = None) -> list[dict]:
    """An adult with RLS (the Patient ``who``, else one), transferrin saturation 25% and a weight, and ``extra``."""
    return [*(who or (patient(),)), condition(), result("tsat-1", TSAT, 25, "%"), result("weight-1", WEIGHT, 70, "kg"),
            *extra]


def bundle(resources: list[dict], kind: str = "collection", **members) -> dict:
    return {"resourceType": "Bundle", "type": kind, **members,
            "entry": [{"fullUrl": f"urn:uuid:{r['resourceType']}-{r.get('id', i)}", "resource": r}
                      for i, r in enumerate(resources)]}


def text_of(doc: dict) -> bytes:
    return json.dumps(doc, indent=1).encode()


def strict(doc: dict, kb=None) -> list[PatientData]:
    """As the strict read maps it (numbers as the JSON reader gives them)."""
    parsed = parse_json(text_of(doc).decode(), Location("x"))
    return patients_from_json(parsed, source="x", matcher=kb and kb.matcher, reads=kb and kb.reads)


def lazy(doc: dict, kb) -> list[PatientData] | None:
    """As the lazy read maps it; ``None`` when it leaves the input to the strict read."""
    read = read_bundle(text_of(doc), kb.reads)
    if read is None:
        return None
    return patients_from_json(read.doc, source="x", matcher=kb.matcher, reads=kb.reads, skipped=read.skipped)


def both_loaders(tmp_path: Path, doc: dict, kb, monkeypatch) -> tuple[PatientData, PatientData]:
    """The patient through the loader as it is (lazy first) and with the strict read only."""
    path = tmp_path / "patient.json"
    path.write_bytes(text_of(doc))
    now = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    with monkeypatch.context() as m:
        m.setattr(loader, "_lazy_fhir", lambda *args: None)
        only_strict = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    return now, only_strict


def notes(p: PatientData, code: str) -> list[str]:
    return [n.message for n in p.notes if n.code == code]


def values(p: PatientData, oid: str) -> list[str]:
    """The ``gkg:value`` literals of an Observation."""
    subject = f"<{OBS_IRI}{oid}> <https://w3id.org/guidelinekg/ontology#value> "
    return [line[len(subject):].split('"')[1] for line in p.ntriples if line.startswith(subject)]


def report(tmp_path: Path, doc: dict, capsys) -> tuple[int, dict | str]:
    path = tmp_path / "in.json"
    path.write_bytes(text_of(doc))
    code = cli_main(["recommend", str(path), "--as-of", AS_OF, "--format", "json"])
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else err


# --- 1. a resource given twice --------------------------------------------------------------------------


@pytest.mark.parametrize("old, new", [
    (V1, V2),
    ({"lastUpdated": "2026-01-08T14:00:00Z"}, {"lastUpdated": "2026-01-09T10:00:00Z"}),  # no versionId
    ({"versionId": "1"}, {"versionId": "2"}),  # no lastUpdated
    ({"versionId": "9", "lastUpdated": "2026-01-09T10:00:00Z"}, {"versionId": "10", "lastUpdated": "2026-01-09T10:00:00Z"}),
    ({"versionId": "1", "lastUpdated": "2026-01-09T10:00:00+02:00"}, {"versionId": "1", "lastUpdated": "2026-01-09T09:00:00Z"}),
    ({"versionId": "5", "lastUpdated": "2026-01-08T14:00:00Z"}, {"versionId": "2", "lastUpdated": "2026-01-09T10:00:00Z"}),
], ids=["both", "lastUpdated", "versionId", "versionId-as-number", "instant-in-time-zones", "lastUpdated-first"])
def test_the_newest_copy_by_its_meta_is_used_and_the_note_says_which(old, new):
    first, second = ferritin(45, old), ferritin(150, new, status="amended")
    (a,) = strict(bundle(record(first, second)))
    (b,) = strict(bundle(record(second, first)))
    assert a == b, "which copy is used does not depend on entry order"
    assert values(a, f"ferr-{PID}") == ["150"]
    (text,) = notes(a, "duplicate-resource")
    used, aside = text.split(" is used; ")
    assert text.startswith(f"Observation/ferr-{PID} occurs twice, differently (in status, valueQuantity): ")
    assert "the newest" in used and aside.endswith("is set aside")
    for meta, part in ((new, used), (old, aside)):
        if "versionId" in meta:
            assert f"version {meta['versionId']}" in part
        if "lastUpdated" in meta:
            assert f"updated {meta['lastUpdated']}" in part


@pytest.mark.parametrize("old, new", [
    (None, None),
    (V1, V1),  # the same meta, different content
    ({"versionId": "1"}, None),
    ({"versionId": "W/1"}, {"versionId": "W/2"}),  # not numbers: no order
    ({"lastUpdated": "2026-01-08"}, {"lastUpdated": "2026-01-09"}),  # not instants
    ({"lastUpdated": "2026-01-09T10:00:00Z"}, {"versionId": "2"}),  # nothing both copies give
], ids=["no-meta", "same-meta", "one-meta", "opaque-versionId", "date-not-instant", "disjoint"])
def test_without_a_newest_copy_neither_is_used_and_the_note_names_both(old, new):
    first, second = ferritin(45, old), ferritin(150, new)
    (a,) = strict(bundle(record(first, second)))
    (b,) = strict(bundle(record(second, first)))
    assert a == b
    assert values(a, f"ferr-{PID}") == [] and not any(f"{OBS_IRI}ferr-{PID}>" in line for line in a.ntriples)
    (text,) = notes(a, "duplicate-resource")
    assert text.startswith(f"Observation/ferr-{PID} occurs twice, differently (in valueQuantity), and no "
                           "meta.lastUpdated or meta.versionId says which is newer (")
    named, rest = text.split("says which is newer (", 1)[1].rsplit(")", 1)
    assert rest == ": neither is used, as if not given"
    assert named.count(" and ") == 1 and len(set(named.split(" and "))) == 2, "each copy is named, differently"


def test_of_three_copies_the_newest_is_used_and_two_set_aside():
    copies = [ferritin(v, {"versionId": str(n)}) for n, v in ((1, 45), (2, 90), (3, 150))]
    (p,) = strict(bundle(record(*copies)))
    assert values(p, f"ferr-{PID}") == ["150"]
    assert notes(p, "duplicate-resource") == [
        (f"Observation/ferr-{PID} occurs 3 times, differently (in valueQuantity): version 3, the newest, is used; "
         "version 1 and version 2 are set aside")]
    tied = [ferritin(45, {"versionId": "1"}), ferritin(90, {"versionId": "3"}), ferritin(150, {"versionId": "3"})]
    (p,) = strict(bundle(record(*tied)))
    assert values(p, f"ferr-{PID}") == [] and "none is used" in notes(p, "duplicate-resource")[0]


def test_identical_copies_are_one_without_a_note():
    (p,) = strict(bundle(record(ferritin(45, V1), ferritin(45, V1))))
    assert values(p, f"ferr-{PID}") == ["45"] and notes(p, "duplicate-resource") == []


def test_a_reference_to_a_resource_neither_copy_of_which_is_used_resolves_to_nothing():
    specimen = {"resourceType": "Specimen", "id": "s1", "collection": {"collectedDateTime": "2026-01-08T08:15:00Z"}}
    other = {**specimen, "collection": {"collectedDateTime": "2026-01-07T08:15:00Z"}}
    obs = {**ferritin(45), "specimen": {"reference": "Specimen/s1"}}
    del obs["effectiveDateTime"]
    timed = f"<{OBS_IRI}ferr-{PID}> <https://w3id.org/guidelinekg/ontology#effectiveTime> "
    (one,) = strict(bundle(record(obs, specimen)))
    assert any(line.startswith(timed) for line in one.ntriples), "the Specimen gives the time when it is used"
    (p,) = strict(bundle(record(obs, specimen, other)))
    assert notes(p, "duplicate-resource")[0].startswith("Specimen/s1 occurs twice")
    assert not any(line.startswith(timed) for line in p.ntriples)


def test_a_patient_given_twice_without_a_newest_copy_is_refused_with_both_lines():
    doc = bundle([patient(), patient(gender="female"), condition()])
    text = json.dumps(doc, indent=1)
    with pytest.raises(InputError) as caught:
        patients_from_json(parse_json(text, Location("in.json")), source="in.json")
    message = caught.value.message
    assert message.startswith(f"Patient/{PID} occurs twice, differently (in gender), and no meta.lastUpdated")
    assert ": which copy describes the patient cannot be told" in message and "as if not given" not in message
    # each copy's line is that of its opening brace, the line before its resourceType
    first, second = (n for n, line in enumerate(text.splitlines()) if '"resourceType": "Patient"' in line)
    assert message.endswith(f"(lines {first} and {second})") and caught.value.location.line == second
    assert "meta.lastUpdated" in (caught.value.hint or "")


def test_a_patient_given_twice_with_versions_is_its_newest_copy():
    old, new = patient(meta=V1), patient(gender="female", meta=V2)
    (p,) = strict(bundle([new, condition(), old]))
    assert any(line.endswith('#administrativeSex> "female" .') for line in p.ntriples)
    assert notes(p, "duplicate-resource")[0].startswith(f"Patient/{PID} occurs twice, differently (in gender): "
                                                        "version 2 (updated 2026-01-09T10:00:00Z), the newest")


DUPLICATES = {
    "versions": record(ferritin(45, V1), ferritin(150, V2, status="amended")),
    "no-versions": record(ferritin(45), ferritin(150)),
    "patient-versions": record(who=(patient(meta=V1), patient(gender="female", meta=V2))),
}


@pytest.mark.parametrize("case", DUPLICATES)
def test_the_lazy_read_leaves_duplicates_to_the_strict_read_and_the_loader_agrees(kb, tmp_path, monkeypatch, case):
    doc = bundle(DUPLICATES[case])
    assert lazy(doc, kb) is None
    now, only_strict = both_loaders(tmp_path, doc, kb, monkeypatch)
    assert now == only_strict and notes(now, "duplicate-resource")


def test_a_patient_given_twice_without_versions_is_refused_by_both_loaders(kb, tmp_path, monkeypatch):
    with pytest.raises(InputError, match="which copy describes the patient cannot be told"):
        both_loaders(tmp_path, bundle([*record(), patient(gender="female")]), kb, monkeypatch)


def test_recommend_uses_the_amended_result(tmp_path, capsys):
    """The tester's case: ferritin 45 ng/mL (version 1) amended to 150 ng/mL (version 2): 150 is used, so
    iron is not indicated and nothing is recommended."""
    code, got = report(tmp_path, bundle(record(ferritin(45, V1), ferritin(150, V2, status="amended"))), capsys)
    assert code == 0 and got["recommendations"] == []
    assert any(">100" in n["label"] and "not indicated" in n["label"] for n in got["not_indicated"])
    assert any(w["code"] == "duplicate-resource" and "version 2" in w["message"] for w in got["warnings"])
    assert "150 ng/mL" in json.dumps(got)


def test_recommend_orders_the_test_when_no_copy_is_the_newest(tmp_path, capsys):
    code, got = report(tmp_path, bundle(record(ferritin(45), ferritin(150))), capsys)
    assert code == 0 and got["recommendations"] == []
    assert FERRITIN in {o["loinc"] for o in got["orders"]}
    assert any(w["code"] == "duplicate-resource" and "neither is used" in w["message"] for w in got["warnings"])


def test_recommend_refuses_a_patient_given_twice_without_versions(tmp_path, capsys):
    code, err = report(tmp_path, bundle([*record(), patient(gender="female")]), capsys)
    assert code == 2 and f"Patient/{PID} occurs twice" in err


def test_cohort_bulk_ndjson_with_a_result_given_twice(tmp_path):
    """Bulk NDJSON: a patient's records are one Bundle, so the same rule holds per patient."""
    source, out = tmp_path / "export", tmp_path / "out"
    source.mkdir()
    patients = [patient(id=p) for p in ("a", "b")]
    conditions = [{**condition(), "id": f"rls-{p}", "subject": {"reference": f"Patient/{p}"}} for p in ("a", "b")]
    observations = [ferritin(45, V1, pid="a"), ferritin(150, V2, "amended", pid="a"),
                    ferritin(45, pid="b"), ferritin(150, pid="b"),
                    *(result(f"{k}-{p}", loinc, v, u, pid=p) for p in ("a", "b")
                      for k, loinc, v, u in (("tsat", TSAT, 25, "%"), ("weight", WEIGHT, 70, "kg")))]
    for name, rows in (("Patient", patients), ("Condition", conditions), ("Observation", observations)):
        (source / f"{name}.ndjson").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    args = ["cohort", str(source), "--out", str(out), "--as-of", AS_OF, "--no-progress"]
    assert cli_main(args) == 0
    results = {r["patient"].rsplit("/", 1)[1]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    a, b = results["a"], results["b"]
    assert a["recommendations"] == [] and any(">100" in n["label"] for n in a["not_indicated"])
    assert any("version 2 (updated 2026-01-09T10:00:00Z), the newest, is used" in w["message"] for w in a["warnings"])
    assert b["recommendations"] == [] and FERRITIN in {o["loinc"] for o in b["orders"]}
    assert any("neither is used" in w["message"] for w in b["warnings"])


def test_cohort_sets_aside_a_bundle_whose_patient_is_given_twice_without_versions(tmp_path):
    source, out = tmp_path / "bundles", tmp_path / "out"
    source.mkdir()
    (source / "good.json").write_bytes(text_of(bundle([*record(), ferritin(45)])))
    twice = [patient(id="p2"), patient(id="p2", gender="female")]
    (source / "twice.json").write_bytes(text_of(bundle(twice)))
    assert cli_main(["cohort", str(source), "--out", str(out), "--as-of", AS_OF, "--no-progress"]) == 0
    bad = [json.loads(line) for line in (out / "bad-records.jsonl").read_text().splitlines()]
    assert [(Path(b["file"]).name, "Patient/p2 occurs twice" in b["reason"]) for b in bad] == [("twice.json", True)]
    assert [json.loads(line)["patient"] for line in (out / "results.jsonl").read_text().splitlines()] == [
        f"urn:guidelinekg:Patient/{PID}"]


# --- 2. a search cut short or paged --------------------------------------------------------------------


def outcome(oid: str | None, *issues: dict) -> dict:
    res = {"resourceType": "OperationOutcome", "issue": list(issues)}
    return res if oid is None else {"id": oid, **res}


ERROR = {"severity": "error", "code": "too-costly", "diagnostics": "Observation search truncated"}
FATAL = {"severity": "fatal", "code": "exception", "details": {"text": "the search failed half way"}}
WARNING = {"severity": "warning", "code": "processing",
           "diagnostics": "Some MedicationStatement resources were not returned: access denied"}
INFO = {"severity": "information", "code": "informational"}
NEXT = [{"relation": "self", "url": "https://ehr.example.org/fhir/Patient?_id=p1&_revinclude=*"},
        {"relation": "next", "url": "https://ehr.example.org/fhir/Patient?page=2"}]


def searchset(*extra: dict, **members) -> dict:
    doc = bundle([*record(ferritin(45)), *extra], "searchset", **members)
    for entry in doc["entry"]:
        kind = entry["resource"]["resourceType"]
        entry["search"] = {"mode": "outcome" if kind == "OperationOutcome" else "match" if kind == "Patient"
                           else "include"}
    return doc


@pytest.mark.parametrize("oid", ["err", None], ids=["with-id", "without-id"])
def test_an_error_outcome_gives_search_incomplete_on_every_read_path(kb, tmp_path, monkeypatch, oid):
    doc = searchset(outcome(oid, ERROR))
    (expected,) = strict(doc, kb)
    (text,) = notes(expected, "search-incomplete")
    assert "reports error (too-costly): Observation search truncated; the record may be incomplete" in text
    assert not any("OperationOutcome" in t for t in notes(expected, "ignored-resource"))
    got = lazy(doc, kb)
    assert got is not None, "the lazy read keeps reading a search result"
    assert got == [expected]
    now, only_strict = both_loaders(tmp_path, doc, kb, monkeypatch)
    assert now == only_strict and notes(now, "search-incomplete") == [text]


def test_each_severe_issue_is_a_warning_with_its_severity_code_and_text(kb):
    (p,) = strict(searchset(outcome("o1", FATAL, INFO), outcome("o2", ERROR)), kb)
    assert notes(p, "search-incomplete") == [
        f"OperationOutcome/o1 reports fatal (exception): the search failed half way; {MAY_LACK_ANY}",
        f"OperationOutcome/o2 reports error (too-costly): Observation search truncated; {MAY_LACK_ANY}"]


def test_a_warning_outcome_is_a_search_warning_and_an_information_one_is_counted_as_before(kb):
    (p,) = strict(searchset(outcome("w", WARNING), outcome("i", INFO)), kb)
    assert notes(p, "search-warning") == [
        ("OperationOutcome/w reports warning (processing): Some MedicationStatement resources were not "
         "returned: access denied; what it describes may be missing from the record")]
    assert notes(p, "search-incomplete") == []
    assert "1 OperationOutcome resource ignored: type not used" in notes(p, "ignored-resource")
    assert lazy(searchset(outcome("w", WARNING), outcome("i", INFO)), kb) == [p]


def test_an_outcome_is_read_in_any_bundle_and_a_malformed_issue_does_not_stop_the_read(kb):
    doc = bundle(record(ferritin(45), outcome("e", ERROR, {"severity": 5}, "not an issue")), "collection")
    (p,) = strict(doc, kb)
    assert len(notes(p, "search-incomplete")) == 1
    assert notes(p, "search-warning") == [
        "OperationOutcome/e reports no severity: no text given; what it describes may be missing from the record"]
    assert lazy(doc, kb) == [p]


def test_a_next_link_says_the_bundle_is_one_page(kb):
    (p,) = strict(searchset(link=NEXT), kb)
    assert notes(p, "search-incomplete") == [
        ("the Bundle is one page of a search; later pages were not read "
         f"(next: https://ehr.example.org/fhir/Patient?page=2): {MAY_LACK_ANY}")]
    (alone,) = strict(searchset(link=NEXT[:1]), kb)
    assert notes(alone, "search-incomplete") == []


@pytest.mark.parametrize("relation", ["previous", "prev", "Previous"])
def test_a_later_page_says_the_earlier_ones_were_not_read(kb, tmp_path, monkeypatch, relation):
    doc = searchset(link=[NEXT[0], {"relation": relation, "url": "https://ehr.example.org/fhir/Patient?page=1"}])
    (p,) = strict(doc, kb)
    assert notes(p, "search-incomplete") == [
        ("the Bundle is one page of a search; it is a later page, and the earlier ones were not read "
         f"(previous: https://ehr.example.org/fhir/Patient?page=1): {MAY_LACK_ANY}")]
    now, only_strict = both_loaders(tmp_path, doc, kb, monkeypatch)
    assert now == only_strict and now.notes == p.notes


@pytest.mark.parametrize("total, modes, gap", [
    (2, None, "a search that matched 2 resources, of which it holds 1"),  # the Patient is the only match
    (1, None, None),
    (0, None, None),  # fewer than held: not a gap this can judge
    (5, "none", None),  # entries without search.mode are matches: 5 of them
    (6, "none", "a search that matched 6 resources, of which it holds 5"),
])
def test_a_searchset_whose_total_exceeds_its_matches_is_one_part_of_the_search(kb, tmp_path, monkeypatch,
                                                                               total, modes, gap):
    doc = searchset(total=total)
    if modes == "none":
        for entry in doc["entry"]:
            del entry["search"]
    (p,) = strict(doc, kb)
    assert notes(p, "search-incomplete") == ([] if gap is None else [f"the Bundle is {gap}: {MAY_LACK_ANY}"])
    now, only_strict = both_loaders(tmp_path, doc, kb, monkeypatch)
    assert now == only_strict and now.notes == p.notes


def test_the_lazy_read_sees_the_next_link_too(kb, tmp_path, monkeypatch):
    doc = searchset(link=NEXT)
    now, only_strict = both_loaders(tmp_path, doc, kb, monkeypatch)
    assert now == only_strict


def test_recommend_warns_that_the_search_was_cut_short(tmp_path, capsys):
    code, got = report(tmp_path, searchset(outcome("err", ERROR), outcome("warn-1", WARNING)), capsys)
    assert code == 0
    found = {w["code"]: w["message"] for w in got["warnings"] if w["code"].startswith("search-")}
    assert "Observation search truncated" in found["search-incomplete"]
    assert "access denied" in found["search-warning"]


def test_nothing_changes_without_outcomes_or_links(kb):
    doc = searchset()
    (p,) = strict(doc, kb)
    assert not notes(p, "search-incomplete") and not notes(p, "search-warning") and lazy(doc, kb) == [p]
    assert strict(copy.deepcopy(doc), kb) == [p]


def test_a_medication_given_twice_without_a_newest_copy_still_names_its_product():
    """A product set aside would hide the exposure of every record naming it: one copy is used, and said."""
    med = {"resourceType": "Medication", "id": "m1", "code": {"text": "examplium 100 mg"}}
    other = {**med, "code": {"text": "examplium 200 mg"}}
    doc = bundle([patient(), med, other])
    (p,) = strict(doc)
    (note,) = notes(p, "duplicate-resource")
    assert note.startswith("Medication/m1 occurs twice, differently (in code)") and "is used (the first by content)" in note
    assert "as if not given" not in note


def test_copies_differing_only_in_their_meta_are_one():
    tagged = {**patient(), "meta": {"versionId": "3"}}
    (p,) = strict(bundle([patient(), tagged, condition()]))
    assert notes(p, "duplicate-resource") == []
