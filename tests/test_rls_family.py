"""The RLS guideline family side by side (issue #17): AASM 2024, IRLSSG 2018 and AAN 2016 as guidelines
of their own (examples/guidelines/, encoded from the project's clinical facts file, with each fact's
status), compared by `guidelinekg conflicts` and, for one patient, by `recommend` with all three."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guidelinekg.cli import main

EXAMPLES = Path(__file__).parents[1] / "examples" / "guidelines"
FAMILY = [EXAMPLES / name for name in ("aasm-rls-2024", "irlssg-iron-2018", "aan-rls-2016")]
AASM, IRLSSG, AAN = "AASM 2024 RLS treatment guideline", "IRLSSG 2018 iron treatment guidelines", \
    "AAN 2016 RLS guideline (iron statements)"
CONTENT = [arg for g in FAMILY for arg in ("--content", str(g))]


@pytest.fixture(scope="module")
def conflicts() -> list[dict]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["conflicts", *CONTENT, "--format", "json"]) == 0
    return json.loads(out.getvalue())["disagreements"]


def find(items, kind, first, second, action_part):
    return [d for d in items if d["kind"] == kind and d["first"]["guideline"] == first
            and d["second"]["guideline"] == second and action_part in d["action"]]


def test_the_ferritin_ceiling_for_fcm_differs(conflicts):
    """AASM gives IV iron up to ferritin 100 ng/mL (or TSAT < 20%); IRLSSG finds FCM effective below
    300 ug/L: the region where only IRLSSG recommends it lies between."""
    [d] = [d for d in find(conflicts, "different-threshold", AASM, IRLSSG, "ferric carboxymaltose")
           if d["second"]["statement"].endswith("/rec-fcm-1000")]
    # each read where it takes effect in its own guideline: IRLSSG's FCM less its own "no iron if TSAT > 45%"
    assert d["regions"] == [
        f"serum ferritin > 75 and <= 100 ng/mL and transferrin saturation > 45 % and age >= 18 a (only {AASM})",
        f"serum ferritin <= 75 ng/mL and transferrin saturation > 45 % and age >= 18 a (only {AASM})",
        f"serum ferritin >= 300 ng/mL and transferrin saturation < 20 % and age >= 18 a (only {AASM})",
        f"serum ferritin > 100 and < 300 ng/mL and transferrin saturation >= 20 and <= 45 % (only {IRLSSG})",
        f"serum ferritin < 300 ng/mL and transferrin saturation <= 45 % and age < 18 a (only {IRLSSG})"]


def test_tsat_is_a_trigger_in_one_and_a_stop_rule_in_the_other(conflicts):
    """AASM: iron when TSAT < 20%, nothing above; IRLSSG: no iron if TSAT > 45%. Where AASM recommends
    IV FCM and TSAT is above 45%, they contradict."""
    [d] = find(conflicts, "contradiction", AASM, IRLSSG, "ferric carboxymaltose")
    assert d["second"]["stance"] == "not indicated" and "TSAT" in d["second"]["label"]
    assert all("transferrin saturation > 45 %" in r for r in d["regions"])
    assert d["first"]["grade"] == "strong, moderate" and d["first"]["citations"] and d["second"]["citations"]


def test_no_finding_between_alternatives(conflicts):
    """Gabapentinoids, opioids and the recommendations against are AASM's alone: no finding names them."""
    assert not [d for d in conflicts if any(x in d["action"].lower() for x in ("gabapentin", "opioid", "pramipexole"))]


def recommend(capsys, patient: Path) -> dict:
    assert main(["recommend", str(patient), *CONTENT, "--as-of", "2026-02-01", "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_ferritin_150_the_guidelines_disagree_and_say_so(capsys):
    """Ferritin 150 ng/mL, TSAT 30%: IRLSSG recommends FCM (below 300), AASM's FCM does not apply (its
    band ends at 100): a different threshold, with both grades and sources."""
    document = recommend(capsys, EXAMPLES / "irlssg-iron-2018" / "cases" / "008-ferritin-150-tsat-30" / "patient.json")
    [d] = [d for d in document["disagreements"] if d["first"]["guideline"] == IRLSSG]
    assert d["kind"] == "different-threshold" and d["second"]["guideline"] == AASM
    assert d["first"]["status"] == "recommended" and d["second"]["status"] == "criteria not met"
    assert d["first"]["grades"] and d["second"]["grades"] == ["strong, moderate"]
    assert d["first"]["citations"] and d["second"]["citations"]


def test_tsat_50_iron_recommended_by_one_not_indicated_by_another(capsys):
    document = recommend(capsys, EXAMPLES / "irlssg-iron-2018" / "cases" / "003-ferritin-45-tsat-50" / "patient.json")
    pairs = {(d["first"]["guideline"], d["action"], d["second"]["status"]) for d in document["disagreements"]
             if d["kind"] == "contradiction" and d["second"]["guideline"] == IRLSSG}
    assert (AASM, "IV ferric carboxymaltose", "not indicated") in pairs
    assert (AASM, "oral ferrous sulfate", "not indicated") in pairs
    # AASM recommends oral ferrous sulfate for this adult itself: its children's statement is no
    # "different threshold" against AAN's ferrous sulfate with vitamin C
    assert not [d for d in document["disagreements"] if d["kind"] == "different-threshold"
                and d["second"]["guideline"] == AASM and "children" in d["second"]["label"]]


# Every content-level finding, each checked on a patient built inside its region ----------------------------

LOINC = {"serum ferritin": ("2276-4", "ng/mL"), "transferrin saturation": ("2502-3", "%")}


def point(bounds: dict) -> dict:
    """A value inside each interval of a region: the middle, or just past an open lower end."""
    out = {}
    for axis, iv in bounds.items():
        if axis == "only":
            continue
        low, high = float(iv["min"]), None if iv["max"] is None else float(iv["max"])
        value = (low + high) / 2 if high is not None else low + (10 if low else 1)
        out[axis.split(" (")[0]] = round(value, 1)
    return out


def patient(pid: str, values: dict) -> dict:
    age = values.get("age", 50)
    born = f"{2026 - int(age) - 1}-06-01"
    resources = [{"resourceType": "Patient", "id": pid, "birthDate": born},
                 {"resourceType": "Condition", "id": f"{pid}-rls", "subject": {"reference": f"Patient/{pid}"},
                  "code": {"coding": [{"system": "http://snomed.info/sct", "code": "32914008"}]}}]
    for name, (code, unit) in LOINC.items():
        value = values.get(name, 150 if name == "serum ferritin" else 30)
        resources.append({"resourceType": "Observation", "id": f"{pid}-{code}", "status": "final",
                          "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": "2026-01-20T08:00:00Z",
                          "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                          "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org",
                                            "code": unit}})
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


def test_every_finding_shows_for_a_patient_in_its_region(conflicts, capsys, tmp_path):
    """For each disagreement `conflicts` lists, a patient inside (the first of) its regions: `recommend` with
    the three guidelines says they disagree on that action, or the guideline said not to recommend it
    recommends it by another of its statements (a finding is made per pair of statements)."""
    from guidelinekg.checks.conflicts import guideline_stances

    stances = [s for group in guideline_stances(FAMILY) for s in group]
    assert len(conflicts) >= 10
    for i, d in enumerate(conflicts):
        bounds = d["bounds"][0]
        path = tmp_path / f"p{i}.json"
        path.write_text(json.dumps(patient(f"family-{i}", point(bounds))), encoding="utf-8")
        document = recommend(capsys, path)
        first, second = d["first"], d["second"]
        if d["kind"] == "different-threshold" and bounds.get("only") == second["guideline"]:
            first, second = second, first  # the region is where the second alone recommends it
        said = [x for x in document["disagreements"] if x["first"]["statement"] == first["statement"]
                and x["second"]["guideline"] == second["guideline"]]
        other = next(r for r in document["reports"] if r["guideline"]["version_iri"] == second["version_iri"])
        mine = next(r for r in document["reports"] if r["guideline"]["version_iri"] == first["version_iri"])
        assert first["statement"] in [r["iri"] for r in mine["recommendations"]], (i, d["regions"][0])
        mine_stance = next(s for s in stances if s.statement == first["statement"])
        same = {s.statement for s in stances if s.version == second["version_iri"] and mine_stance.same_action(s)}
        covered = any(r["iri"] in same and r["direction"] != "against" for r in other["recommendations"])
        assert said or (d["kind"] == "different-threshold" and covered), (i, d["kind"], d["regions"][0])


def test_a_patient_taking_what_a_recommendation_advises_against_is_warned(capsys):
    """AASM recommends against pramipexole (gkg:Against); the patient of case 023 takes it (rule 89)."""
    case = EXAMPLES / "aasm-rls-2024" / "cases" / "023-on-pramipexole-against-shown"
    assert main(["recommend", str(case / "patient.json"), "--content", str(FAMILY[0]), "--as-of", "2026-02-01",
                 "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    [warning] = [w for w in report["warnings"] if w["code"] == "taking-recommended-against"]
    assert "pramipexole" in warning["message"].lower() and "since 2025-06-01" in warning["message"]
    [rec] = [r for r in report["recommendations"] if r["iri"].endswith("/rec-against-pramipexole")]
    assert rec["direction"] == "against"
