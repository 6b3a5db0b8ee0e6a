"""Medication records as US EHR exports write them (Synthea among them), read against the shipped RLS guideline.

1. A MedicationRequest coded only in RxNorm (``medicationCodeableConcept.coding`` with system, code and
   display, no ``text``): the RxNorm display names the product ("ferrous sulfate 325 MG Oral Tablet") and is
   matched by name, as a text is, so iron studies drawn on it are not used. No RxNorm code could be checked
   against a release, so the one product code seen in such records (310325) is listed in terms.ttl as
   unverified: a coding without a display is never read as ferrous sulfate, only as perhaps it (the
   unrecognised-product note names the substance the guideline lists the code for; rule 79 says "may be
   taking").
2. "FE SULFATE 325 MG TAB", a pharmacy system's abbreviation, was read as iron of no named salt: enough for the
   24-hour iron-free rule, but a patient on it got no already-taking-recommended warning when oral ferrous
   sulfate was recommended (rule 79), only "of the same class, may be a duplication". "FE SULFATE 325 MG" (the
   ferrous sulfate tablet's strength) is now a name of ferrous sulfate in terms.ttl; "FE SULFATE" alone still
   does not say ferrous or ferric (ferric sulfate is a topical haemostatic) and stays iron.
3. A MedicationStatement or MedicationAdministration of status ``unknown`` with an ``effectivePeriod`` that
   has a start and no end was read as taken ever since: one from 2019 made every later iron study "drawn on
   it". It may be over, so it now gets the assumed end a MedicationRequest of status ``unknown`` got (365 days
   after its start, never its ``meta.lastUpdated``; ``gkg:exposureEndAssumed``), and rules 79 and 89 say "may
   still be taking". The third trial's F9 fixture, its request replaced by such a record.

The record is Synthea's own (tests/fixtures/fhir/synthea/Kallie862_*.json), placed in the timeline of the
third EHR trial's fixture (tests/fixtures/ehr-trial3/M1-iron-abbreviated.json). Outcomes on both engines.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import rdflib

from test_bench_tools import reference
from test_ehr_trial3 import AS_OF, ENGINES, FERRITIN, FIXTURES, TSAT, codes, load, notes, ordered, recommend, values

GKG = "https://w3id.org/guidelinekg/ontology#"
RLS = "https://w3id.org/guidelinekg/guideline/rls-iron/"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
REQUEST = "urn:guidelinekg:MedicationRequest/mr1"
SYNTHEA = Path(__file__).parent / "fixtures" / "fhir" / "synthea"
assert AS_OF == "2026-12-08"  # the fixture's labs: 2026-12-01; its request: authored 2026-11-20


def synthea_iron_concept() -> dict:
    """The medicationCodeableConcept of the ferrous sulfate MedicationRequest Synthea wrote for Kallie862."""
    (path,) = SYNTHEA.glob("Kallie862_*.json")
    doc = json.loads(path.read_text(encoding="utf-8"))
    (concept,) = [e["resource"]["medicationCodeableConcept"] for e in doc["entry"]
                  if e["resource"]["resourceType"] == "MedicationRequest"
                  and "ferrous" in json.dumps(e["resource"].get("medicationCodeableConcept"))]
    return concept


def coded_only(display: bool) -> dict:
    """Synthea's concept without its text (how most US exports write it), and without the display if asked."""
    concept = copy.deepcopy(synthea_iron_concept())
    concept.pop("text")
    if not display:
        for coding in concept["coding"]:
            coding.pop("display")
    return concept


def with_concept(concept: dict):
    def change(res: dict) -> None:
        if res["resourceType"] == "MedicationRequest":
            res["medicationCodeableConcept"] = concept
    return change


def bundle(tmp_path: Path, concept: dict, **request: object) -> Path:
    doc = json.loads((FIXTURES / "M1-iron-abbreviated.json").read_text(encoding="utf-8"))
    for entry in doc["entry"]:
        if entry["resource"]["resourceType"] == "MedicationRequest":
            entry["resource"]["medicationCodeableConcept"] = concept
            entry["resource"].update(request)
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_the_synthea_record_is_coded_in_rxnorm_with_a_display():
    """What the tests below start from, as Synthea wrote it."""
    assert synthea_iron_concept()["coding"] == [
        {"system": RXNORM, "code": "310325", "display": "ferrous sulfate 325 MG Oral Tablet"}]


def test_an_rxnorm_coding_is_recognised_by_its_display(kb):
    p = load("M1-iron-abbreviated", kb, with_concept(coded_only(display=True)))
    assert values(p, REQUEST, "exposureSubstance") == [RLS + "ferrous-sulfate"]
    assert values(p, REQUEST, "matchedBy") == ["name"]  # the display, not the code
    assert values(p, REQUEST, "productText") == ["ferrous sulfate 325 MG Oral Tablet"]
    assert values(p, REQUEST, "possibleSubstance") == [] and not notes(p, "unrecognised-product")


@pytest.mark.parametrize("engine", ENGINES)
def test_iron_studies_drawn_on_an_rxnorm_coded_request_are_not_used(capsys, tmp_path, engine):
    report = recommend(capsys, bundle(tmp_path, coded_only(display=True)), engine)
    drawn = [w["message"] for w in report["warnings"] if w["code"] == "lab-drawn-on-iron"]
    assert len(drawn) == 2 and all("while taking ferrous sulfate 325 MG Oral Tablet" in m for m in drawn), drawn
    assert ordered(report) == [FERRITIN, TSAT] and report["recommendations"] == []
    assert "unrecognised-product" not in codes(report)


def test_the_rxnorm_code_is_listed_as_unverified_and_never_matches(kb):
    """Terminology data, not Python, says what an RxNorm code is; no RxNorm code of the shipped guideline is
    used to match (none could be verified), and 310325 is only a possible ferrous sulfate."""
    coding = [(RXNORM, "310325")]
    assert kb.matcher.match(codings=coding, texts=[]) == []
    assert kb.matcher.possible(coding) == [RLS + "ferrous-sulfate"]
    p = load("M1-iron-abbreviated", kb, with_concept(coded_only(display=False)))
    assert values(p, REQUEST, "exposureSubstance") == []
    assert values(p, REQUEST, "possibleSubstance") == [RLS + "ferrous-sulfate"]
    (note,) = notes(p, "unrecognised-product")
    assert f"product given only by code {RXNORM}|310325, which the guideline lists only as unverified" in note.message
    assert "for ferrous sulfate" in note.message


@pytest.mark.parametrize("engine", ENGINES)
def test_iron_studies_drawn_on_a_request_coded_without_a_display_are_not_used(capsys, tmp_path, engine):
    """Found by a reviewer: perhaps ferrous sulfate is not "not iron". Iron studies drawn during a request only
    the unverified code names were trusted, and IV iron recommended on them; they may have been drawn on iron,
    so they are set aside and ordered again (rule 13), saying why only "may"."""
    report = recommend(capsys, bundle(tmp_path, coded_only(display=False)), engine)
    drawn = sorted(w["message"] for w in report["warnings"] if w["code"] == "lab-drawn-on-iron")
    assert drawn == [f"{measure} drawn 2026-12-01T08:10:00-05:00 may have been drawn while taking the product of "
                     "MedicationRequest/mr1, which only a code the guideline lists as unverified names as ferrous "
                     "sulfate, or less than 24 h after it; the result is not used: check what the product is (a result "
                     "drawn 24 h or more after the last dose would be used)."
                     for measure in ("serum ferritin", "transferrin saturation")], drawn
    assert ordered(report) == [FERRITIN, TSAT] and report["recommendations"] == []
    (note,) = [w["message"] for w in report["warnings"] if w["code"] == "unrecognised-product"]
    assert note.startswith("1 medication record names a product only by a code the guideline lists as unverified, "
                           "so it is read only as perhaps the substance it is listed for (a result drawn while it "
                           "was taken is not used"), note


@pytest.mark.parametrize("engine", ENGINES)
def test_on_a_page_of_a_search_the_perhaps_record_is_the_warning(capsys, tmp_path, engine):
    """A page of a search may lack medication records (rule 18), but the one read perhaps shows the draw on iron:
    rule 13's warning names it, and rule 18 adds no second one."""
    path = bundle(tmp_path, coded_only(display=False))
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc.update(type="searchset", link=[{"relation": "next", "url": "https://ehr.example/fhir/Patient/p1/$everything?page=2"}])
    path.write_text(json.dumps(doc), encoding="utf-8")
    report = recommend(capsys, path, engine)
    drawn = [w["message"] for w in report["warnings"] if w["code"] == "lab-drawn-on-iron"]
    assert len(drawn) == 2 and all("may have been drawn while taking the product of MedicationRequest/mr1" in m
                                   for m in drawn), drawn
    assert "search-incomplete" in codes(report)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_result_drawn_on_a_named_iron_product_too_is_set_aside_once(capsys, tmp_path, engine):
    """A record named by its text as iron at the draw is rule 13's plain warning: the perhaps one adds none."""
    path = bundle(tmp_path, coded_only(display=False))
    doc = json.loads(path.read_text(encoding="utf-8"))
    (request,) = [e for e in doc["entry"] if e["resource"]["resourceType"] == "MedicationRequest"]
    named = copy.deepcopy(request)
    named["resource"].update(id="mr2", medicationCodeableConcept={"text": "Ferrous sulfate 325 mg"})
    named.pop("fullUrl", None)
    doc["entry"].append(named)
    path.write_text(json.dumps(doc), encoding="utf-8")
    report = recommend(capsys, path, engine)
    drawn = [w["message"] for w in report["warnings"] if w["code"] == "lab-drawn-on-iron"]
    assert len(drawn) == 2 and all("while taking Ferrous sulfate 325 mg or less" in m for m in drawn), drawn


@pytest.mark.parametrize("engine", ENGINES)
def test_a_request_coded_without_a_display_is_only_perhaps_ferrous_sulfate(capsys, tmp_path, engine):
    """Iron studies drawn a week before the request was written are used; the oral iron then recommended is
    one the patient may be taking: said so, with why it is only "may"."""
    report = recommend(capsys, bundle(tmp_path, coded_only(display=False), authoredOn="2026-12-03T10:00:00-05:00"),
                       engine)
    assert "lab-drawn-on-iron" not in codes(report)
    (taking,) = [w["message"] for w in report["warnings"] if w["code"] == "already-taking-recommended"]
    assert taking.startswith("The patient may be taking ferrous sulfate (since 2026-12-03; only a code the "
                             "guideline lists as unverified names it as ferrous sulfate)"), taking
    assert "unrecognised-product" in codes(report)


# --- 2. "FE SULFATE 325 MG TAB" --------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("FE SULFATE 325 MG TAB", ["ferrous-sulfate"]),
    ("FE SULFATE 325MG TAB", ["ferrous-sulfate"]),
    ("Fe  sulfate 325 mg tablet", ["ferrous-sulfate"]),
    ("FE SULFATE", ["iron-salt-not-named"]),  # ferrous or ferric is not said
    ("Fe sulfate 20% solution", ["iron-salt-not-named"]),  # not the tablet: ferric sulfate is a haemostatic solution
    ("FE SULFATE 3250 MG", ["iron-salt-not-named"]),  # whole words only
])  # fmt: skip
def test_fe_sulfate_at_the_tablets_strength_is_ferrous_sulfate(kb, text, expected):
    assert sorted(m.substance.removeprefix(RLS) for m in kb.matcher.match(codings=[], texts=[text])) == expected
    assert sorted(reference.substances_of([], [text])) == expected  # the benchmark's reference reads it alike


def test_fe_sulfate_325_mg_is_oral_iron(kb):
    """The class the oral iron recommendation reads, as the shipped terms give it."""
    (found,) = kb.matcher.match(codings=[], texts=["FE SULFATE 325 MG TAB"])
    terms = rdflib.Graph().parse(Path(__file__).parents[1] / "ontology" / "guidelines" / "rls-iron" / "terms.ttl")
    classes = {str(o) for o in terms.objects(rdflib.URIRef(found.substance), rdflib.URIRef(GKG + "memberOfClass"))}
    assert classes == {RLS + "IronContainingProduct", RLS + "OralIron"}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_patient_on_fe_sulfate_325_mg_is_already_taking_the_oral_iron_recommended(capsys, tmp_path, engine):
    """Iron studies drawn before the tablets were prescribed are used; oral ferrous sulfate is recommended."""
    report = recommend(capsys, bundle(tmp_path, {"text": "FE SULFATE 325 MG TAB"},
                                      authoredOn="2026-12-03T10:00:00-05:00"), engine)
    assert "lab-drawn-on-iron" not in codes(report)
    (taking,) = [w["message"] for w in report["warnings"] if w["code"] == "already-taking-recommended"]
    assert taking.startswith("The patient is already taking FE SULFATE 325 MG TAB (since 2026-12-03), a product of "
                             "ferrous sulfate, while 'oral ferrous sulfate 65 mg elemental iron daily' is recommended")
    same = [w["message"] for w in report["warnings"] if w["code"] == "taking-same-class"]
    assert not any("as ferrous sulfate" in m for m in same), same  # the substance itself, not "the same class"


# --- 3. a statement or administration of status unknown with an open period -------------------------------------

STATEMENT = "urn:guidelinekg:MedicationStatement/ms1"


def unknown_record(kind: str, start: str, product: str = "Ferrous sulfate 325 mg tablet", **fields) -> dict:
    return {"resourceType": kind, "id": "ms1", "status": "unknown", "subject": {"reference": "Patient/p1"},
            "effectivePeriod": {"start": start}, "medicationCodeableConcept": {"text": product}, **fields}


def replacing_the_request(record: dict):
    def change(res: dict) -> None:
        if res["resourceType"] == "MedicationRequest":
            res.clear()
            res.update(record)
    return change


def f9_with(tmp_path: Path, record: dict) -> Path:
    doc = json.loads((FIXTURES / "F9-mr-unknown-2019.json").read_text(encoding="utf-8"))
    for entry in doc["entry"]:
        replacing_the_request(record)(entry["resource"])
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", ["MedicationStatement", "MedicationAdministration"])
def test_an_open_period_of_status_unknown_is_assumed_to_end_a_year_after_its_start(kb, kind):
    record = unknown_record(kind, "2019-01-10", meta={"lastUpdated": "2019-03-01T12:00:00Z"})
    p = load("F9-mr-unknown-2019", kb, replacing_the_request(record))
    node = STATEMENT.replace("MedicationStatement", kind)
    assert values(p, node, "exposureStart") == ["2019-01-10T00:00:00"]
    # not its lastUpdated: that does not say it was over then
    assert values(p, node, "exposureEnd") == ["2020-01-10T00:00:00"] and values(p, node, "exposureEndAssumed") == ["true"]
    (note,) = notes(p, "exposure-end-unknown")
    assert note.message.startswith(f"{kind}/ms1 has status unknown (in force or over: the record does not say) and "
                                   "gives no end (no effectivePeriod.end): when it ends is unknown; taken as ended by "
                                   "2020-01-10T00:00:00, 365 days after its start"), note.message


@pytest.mark.parametrize("status, fields, end", [
    ("unknown", {"effectivePeriod": {"start": "2019-01-10", "end": "2019-02-10"}}, "2019-02-11T00:00:00"),  # recorded
    ("unknown", {"effectiveDateTime": "2019-01-10"}, "2019-01-11T00:00:00"),  # that moment (its day), as before
    ("active", {"effectivePeriod": {"start": "2019-01-10"}}, None),  # says it is still taken: ongoing, as before
])  # fmt: skip
def test_a_recorded_end_a_moment_or_a_record_in_force_is_read_as_before(kb, status, fields, end):
    record = {**unknown_record("MedicationStatement", "2019-01-10"), "status": status}
    record.pop("effectivePeriod")
    p = load("F9-mr-unknown-2019", kb, replacing_the_request({**record, **fields}))
    assert values(p, STATEMENT, "exposureEnd") == ([end] if end else [])
    assert values(p, STATEMENT, "exposureEndAssumed") == [] and not notes(p, "exposure-end-unknown")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", ["MedicationStatement", "MedicationAdministration"])
def test_iron_studies_years_after_a_statement_of_status_unknown_are_used(capsys, tmp_path, engine, kind):
    """Begun 2019-01-10, the iron studies drawn 2026-12-01: they were "drawn on it", and nothing was
    recommended; now as with the request of status unknown it stands for."""
    report = recommend(capsys, f9_with(tmp_path, unknown_record(kind, "2019-01-10")), engine)
    request = recommend(capsys, FIXTURES / "F9-mr-unknown-2019.json", engine)
    assert "lab-drawn-on-iron" not in codes(report) and ordered(report) == []
    made = [r["label"] for r in report["recommendations"]]
    assert "oral ferrous sulfate 65 mg elemental iron daily" in made
    assert made == [r["label"] for r in request["recommendations"]]
    assert "already-taking-recommended" not in codes(report)  # over by the as-of date, as assumed


@pytest.mark.parametrize("engine", ENGINES)
def test_a_recent_statement_of_status_unknown_is_perhaps_still_taken(capsys, tmp_path, engine):
    """Begun after the draw (2026-12-03): its assumed end reaches past the as-of date: "may still be taking"."""
    report = recommend(capsys, f9_with(tmp_path, unknown_record("MedicationStatement", "2026-12-03")), engine)
    (taking,) = [w["message"] for w in report["warnings"] if w["code"] == "already-taking-recommended"]
    assert taking.startswith("The patient may still be taking Ferrous sulfate 325 mg tablet (since 2026-12-03; its "
                             "status unknown, without the date it ended if it did), "), taking
    record = unknown_record("MedicationStatement", "2026-12-03", product="Iron sucrose 200 mg IV")
    report = recommend(capsys, f9_with(tmp_path, record), engine)
    (taking,) = [w["message"] for w in report["warnings"] if w["code"] == "taking-not-indicated"]
    assert taking.startswith("The patient may still be taking Iron sucrose 200 mg IV (since 2026-12-03) (its status "
                             "unknown; whether and when it ended is not recorded), which "), taking
