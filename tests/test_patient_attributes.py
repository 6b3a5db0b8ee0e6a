"""Patient attributes beyond age in years (issue #16, item 1): administrative sex (FHIR Patient.gender, read
by gkg:AdministrativeSexCriterion, rule 49) and
ages in completed months, weeks and days, on a made-up guideline (tests/fixtures/madeup/attributes.ttl,
not clinical knowledge), from FHIR input to the report, on both engines. All patients are evaluated in one
run per engine (a module fixture); each case reads its own report.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.errors import Location
from guidelinekg.patients.decode import parse_json
from guidelinekg.patients.fhir import patients_from_json
from madeup import run_documents

FIXTURE = Path(__file__).parent / "fixtures" / "madeup" / "attributes.ttl"
AS_OF = date(2026, 2, 1)
EX = "urn:example:attrs:"

SEX_CASES = [  # (gender, level, made, undetermined)
    ("female", "12.5", [], []),                       # 12.5 is not < 12 for women
    ("male", "12.5", ["rec-men"], []),                # but is < 13 for men
    ("female", "11.5", ["rec-women"], []),
    (None, "12.5", [], ["rec-men"]),                  # sex unknown: men's threshold met, undecided
    ("unknown", "11.5", [], ["rec-men", "rec-women"]),
    ("other", "11.5", [], ["rec-men", "rec-women"]),  # "other" is neither: never a guess
]  # fmt: skip
AGE_CASES = [  # (birth date, made); level 10.5 for the 6-59 months band, else 12.5
    ("2025-08-01", ["rec-children"]),   # 6 months exactly on the as-of date: >= 6 mo
    ("2025-08-02", []),                 # one day short of 6 completed months (5 mo)
    ("2025-06-20", ["rec-children"]),   # 7 months 12 days: 7 mo (0 a, which a '0.5 a' band would miss)
    ("2021-03-01", ["rec-children"]),   # 59 mo
    ("2021-02-01", []),                 # 60 mo
    ("2026-01-05", ["rec-neonates"]),   # 27 days: < 28 d, not < 2 wk (3 completed weeks)
    ("2026-01-04", []),                 # 28 days
    ("2026-01-19", ["rec-neonates", "rec-two-weeks"]),  # 13 days: 1 completed week
    ("2024-02-29", []),                 # a leap-day birth: 23 mo, level 12.5 is not < 11
]  # fmt: skip
# birth dates known only to the year or month (FHIR allows it; de-identified exports keep only the year):
# an age criterion is decided only where the first and last possible birth dates agree (rule 43)
IMPRECISE_CASES = [  # (birth date, level, made, undetermined)
    ("1980", "11.5", ["rec-women"], []),        # 45 or 46 years: an adult either way
    ("2011", "11.5", [], ["rec-women"]),        # 14 or 15 years on 2026-02-01: '>= 15 a' unknown
    ("2023", "10.5", ["rec-children"], []),     # 25 to 37 months: within 6-59 mo either way
    ("2026-01", "12.5", [], ["rec-neonates", "rec-two-weeks"]),  # 1 to 31 days: '< 28 d' and '< 2 wk' unknown
    ("2025-12", "12.5", [], []),                # 32 to 62 days: no neonate, no 6-59 mo either way
]  # fmt: skip
# dates that stress the Julian day number formula (month ends, leap days, century years)
DAY_CASES = ["2024-02-28", "2024-02-29", "2024-03-01", "2023-12-31", "2000-02-29", "1900-03-01", "2026-01-04",
             "2026-01-05"]


def patient_json(pid: str, level: str | None, **patient) -> dict:
    resources = [{"resourceType": "Patient", "id": pid, **patient}]
    if level is not None:
        resources.append({"resourceType": "Observation", "id": f"o-{pid}", "status": "final",
                          "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": "2026-01-20",
                          "code": {"coding": [{"system": "http://loinc.org", "code": "99999-9"}]},
                          "valueQuantity": {"value": float(level), "unit": "g/dL",
                                            "system": "http://unitsofmeasure.org", "code": "g/dL"}})
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


def all_patients() -> dict[str, dict]:
    docs = {}
    for i, (gender, level, _, _) in enumerate(SEX_CASES):
        docs[f"sex{i}"] = patient_json(f"sex{i}", level, birthDate="1980-05-01", **({"gender": gender} if gender else {}))
    for i, (birth, made) in enumerate(AGE_CASES):
        level = "10.5" if made and made[0] == "rec-children" else "12.5"
        docs[f"age{i}"] = patient_json(f"age{i}", level, birthDate=birth, gender="female")
    for i, (birth, level, _, _) in enumerate(IMPRECISE_CASES):
        docs[f"imprecise{i}"] = patient_json(f"imprecise{i}", level, birthDate=birth, gender="female")
    for i, birth in enumerate(DAY_CASES):
        docs[f"day{i}"] = patient_json(f"day{i}", "12.5", birthDate=birth, gender="female")
    return docs


@pytest.fixture(scope="module", params=["oxigraph", "rdflib"])
def reports(request, tmp_path_factory) -> dict[str, dict]:
    return run_documents(FIXTURE, all_patients(), tmp_path_factory.mktemp("attrs"), AS_OF, request.param).reports


def made(report: dict) -> list[str]:
    return sorted(r["iri"].removeprefix(EX) for r in report["recommendations"])


def undetermined(report: dict) -> list[str]:
    return sorted(r["iri"].removeprefix(EX) for r in report["undetermined"])


@pytest.mark.parametrize("i", range(len(SEX_CASES)), ids=[f"{c[0]}-{c[1]}" for c in SEX_CASES])
def test_sex_specific_thresholds(reports, i):
    _, _, expected_made, expected_undetermined = SEX_CASES[i]
    report = reports[f"sex{i}"]
    assert made(report) == expected_made
    assert undetermined(report) == expected_undetermined
    if expected_undetermined:
        warning = next(w for w in report["warnings"] if w["code"] == "missing-data")
        assert "'male'" in warning["message"] or "'female'" in warning["message"]
        assert any("administrative sex not recorded" in line
                   for r in report["undetermined"] for line in r["because"])


@pytest.mark.parametrize("i", range(len(AGE_CASES)), ids=[c[0] for c in AGE_CASES])
def test_ages_in_months_weeks_and_days(reports, i):
    assert made(reports[f"age{i}"]) == AGE_CASES[i][1]


@pytest.mark.parametrize("i", range(len(IMPRECISE_CASES)), ids=[c[0] for c in IMPRECISE_CASES])
def test_a_birth_year_or_month_decides_what_both_ends_of_its_range_agree_on(reports, i):
    birth, _, expected_made, expected_undetermined = IMPRECISE_CASES[i]
    report = reports[f"imprecise{i}"]
    assert (made(report), undetermined(report)) == (expected_made, expected_undetermined)
    assert any(w["code"] == "imprecise-birthdate" for w in report["warnings"])
    if expected_undetermined:  # the explanation gives the range of ages
        assert any("birth date known only as between" in line for r in report["undetermined"] for line in r["because"])


@pytest.mark.parametrize("i", range(len(DAY_CASES)), ids=DAY_CASES)
def test_julian_day_count_equals_pythons(reports, i):
    """Rule 43 counts days from Julian day numbers it computes from the dates' parts; Python agrees."""
    days = (AS_OF - date.fromisoformat(DAY_CASES[i])).days
    assert ("rec-neonates" in made(reports[f"day{i}"])) == (days < 28)


def test_gender_is_read_and_checked():
    doc = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "a1", "gender": "F"}}]}
    (p,) = patients_from_json(parse_json(json.dumps(doc), Location("<test>")))
    assert [n.code for n in p.notes] == ["invalid-gender"]
    assert "administrativeSex" not in p.text()
    doc["entry"][0]["resource"]["gender"] = "female"
    (p,) = patients_from_json(parse_json(json.dumps(doc), Location("<test>")))
    assert '<https://w3id.org/guidelinekg/ontology#administrativeSex> "female"' in p.text()
