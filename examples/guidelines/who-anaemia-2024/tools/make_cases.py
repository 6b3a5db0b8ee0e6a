"""Writes the vignettes under ../cases/: patient.json (FHIR R4 collection Bundle) and expected.json (the
format of tests/cases/, read by tests/vignettes.py; statement names after the guideline's namespace).

Run from the repository: .venv/bin/python examples/guidelines/who-anaemia-2024/tools/make_cases.py
Patient ids start with "whoa2024-" so that they are unique across every guideline's cases.
"""
import json
from pathlib import Path

AS_OF = "2026-01-15"
HB_DATE = "2026-01-10T09:00:00+00:00"
NS = "https://w3id.org/guidelinekg/guideline/who-anaemia-2024/"
NOT_COVERED = "guideline-not-applicable"

# name, birth date (None: not recorded), gender (None: not recorded), results [(loinc, value, unit[, when])],
# expect (only the keys that are not empty), checks (statement local names), description
CASES = [
    ("001-age-5-months-not-covered", "2025-08-10", "female", [("718-7", 100, "g/L")],
     {"applicable": False, "warnings": [NOT_COVERED]}, ["rec-anaemia-6-23mo"],
     "Girl of 5 completed months (born 2025-08-10) with Hb 100 g/L: below the youngest band (6-23 months), so "
     "the guideline does not apply (coverage 'aged 6 months to 65 years' false). No WHO 2024 cut-off was "
     "found for infants under 6 months (facts.md 19)."),
    ("002-age-6-months-hb-104-anaemia", "2025-07-15", "male", [("718-7", 104, "g/L")],
     {"recommended": ["rec-anaemia-6-23mo"]}, ["rec-anaemia-6-23mo"],
     "Boy of exactly 6 completed months (born 2025-07-15) with Hb 104 g/L: the lower edge of 6-23 months is "
     "inclusive and 104 < 105, so record anaemia."),
    ("003-age-23-months-hb-105-no-anaemia", "2024-01-16", "female", [("718-7", 105, "g/L")],
     {}, ["rec-anaemia-6-23mo", "rec-anaemia-24-59mo"],
     "Girl one day short of 24 months (born 2024-01-16: 23 completed months) with Hb exactly 105 g/L: still "
     "in 6-23 months, and 105 is not < 105 (strict bound, facts.md 35): no anaemia, nothing reported."),
    ("004-age-24-months-hb-105-anaemia", "2024-01-15", "female", [("718-7", 105, "g/L")],
     {"recommended": ["rec-anaemia-24-59mo"]}, ["rec-anaemia-6-23mo", "rec-anaemia-24-59mo"],
     "As 003 one day older: born 2024-01-15, exactly 24 completed months, Hb 105 g/L. Now in 24-59 months, "
     "where the cut-off is 110: 105 < 110, anaemia. The same value changes class at the band edge."),
    ("005-age-59-months-hb-109.9-anaemia", "2021-02-15", "male", [("718-7", 109.9, "g/L")],
     {"recommended": ["rec-anaemia-24-59mo"]}, ["rec-anaemia-24-59mo", "rec-anaemia-5-11a"],
     "Boy of 59 completed months (4 years 11 months; born 2021-02-15), Hb 109.9 g/L: last month of 24-59 "
     "months, 109.9 < 110, anaemia. With the 2011 tables' integer band '100-109' a value of 109.9 falls in no "
     "band (facts.md 35); the strict '< 110' decides it."),
    ("006-age-60-months-hb-110-anaemia", "2021-01-15", "female", [("718-7", 110, "g/L")],
     {"recommended": ["rec-anaemia-5-11a"]}, ["rec-anaemia-24-59mo", "rec-anaemia-5-11a"],
     "Girl of exactly 60 months = 5 completed years (born 2021-01-15), Hb 110 g/L: out of 24-59 months (110 "
     "would not be < 110 there anyway), into 5-11 years where the cut-off is 115: anaemia. The month and "
     "year bands meet without a gap (facts.md 36)."),
    ("007-age-11-years-hb-115-no-anaemia", "2014-01-16", "female", [("718-7", 115, "g/L")],
     {}, ["rec-anaemia-5-11a", "rec-anaemia-12-14a"],
     "Girl one day short of 12 years (born 2014-01-16: 11 completed years), Hb exactly 115 g/L: in 5-11 years, "
     "115 is not < 115: no anaemia."),
    ("008-age-12-years-hb-115-anaemia", "2014-01-15", "female", [("718-7", 115, "g/L")],
     {"recommended": ["rec-anaemia-12-14a"]}, ["rec-anaemia-5-11a", "rec-anaemia-12-14a"],
     "As 007 one day older: exactly 12 years (born 2014-01-15), Hb 115 g/L. At 12-14 years the cut-off is "
     "120, so anaemia."),
    ("009-age-14-years-boy-hb-125-no-anaemia", "2011-01-16", "male", [("718-7", 125, "g/L")],
     {}, ["rec-anaemia-12-14a", "rec-anaemia-men"],
     "Boy one day short of 15 years (born 2011-01-16: 14 completed years), Hb 125 g/L: in 12-14 years, where "
     "the cut-off is 120 for girls and boys alike (facts.md 18): no anaemia. The men's band does not apply yet."),
    ("010-age-15-years-boy-hb-125-anaemia", "2011-01-15", "male", [("718-7", 125, "g/L")],
     {"recommended": ["rec-anaemia-men"]}, ["rec-anaemia-12-14a", "rec-anaemia-men"],
     "As 009 one day older: exactly 15 years (born 2011-01-15), Hb 125 g/L. 'Aged over 15' read as >= 15 "
     "(project assumption, facts.md 37): men's band, 125 < 130, anaemia."),
    ("011-age-15-female-hb-11.9-g-dl-anaemia", "2011-01-15", "female", [("718-7", 11.9, "g/dL")],
     {"recommended": ["rec-anaemia-women"]}, ["rec-anaemia-women", "rec-anaemia-men"],
     "Young woman of exactly 15 years (born 2011-01-15), Hb 11.9 g/dL, converted by UCUM to 119 g/L: women's "
     "band, 119 < 120, anaemia. Pregnancy is not known to the model (GAPS.md G2)."),
    ("012-man-30-hb-130-no-anaemia", "1995-06-01", "male", [("718-7", 130, "g/L")],
     {}, ["rec-anaemia-men"],
     "Man of 30 with Hb exactly 130 g/L: 130 is not < 130, no anaemia (strict bound)."),
    ("013-man-30-hb-12.9-g-dl-anaemia", "1995-06-01", "male", [("718-7", 12.9, "g/dL")],
     {"recommended": ["rec-anaemia-men"]}, ["rec-anaemia-men"],
     "Man of 30 with Hb 12.9 g/dL = 129 g/L: < 130, anaemia; the g/dL result is converted to the canonical g/L."),
    ("014-man-30-hb-13.0-g-dl-no-anaemia", "1995-06-01", "male", [("718-7", 13.0, "g/dL")],
     {}, ["rec-anaemia-men"],
     "Man of 30 with Hb 13.0 g/dL = 130 g/L exactly: the cut-off reached through the unit conversion is still "
     "strict, no anaemia."),
    ("015-woman-40-hb-125-no-anaemia", "1985-06-01", "female", [("718-7", 125, "g/L")],
     {}, ["rec-anaemia-women", "rec-anaemia-men"],
     "Woman of 40 with Hb 125 g/L: not anaemic by the women's cut-off (120), although a man with the same "
     "value would be (130): sex decides."),
    ("016-sex-unknown-40-hb-125-undetermined", "1985-06-01", "unknown", [("718-7", 125, "g/L")],
     {"undetermined": ["rec-anaemia-men"], "warnings": ["missing-data"]}, ["rec-anaemia-women", "rec-anaemia-men"],
     "Adult of 40 whose gender is recorded as 'unknown', Hb 125 g/L: anaemic by the men's cut-off, not by the "
     "women's. Kleene logic: the women's band is false whatever the sex (125 is not < 120); the men's band is "
     "unknown (sex unknown, 125 < 130), so it is undetermined, never guessed. No test can supply the sex: "
     "nothing is ordered, a missing-data warning says what is missing."),
    ("017-sex-unknown-40-hb-115-both-undetermined", "1985-06-01", "unknown", [("718-7", 115, "g/L")],
     {"undetermined": ["rec-anaemia-men", "rec-anaemia-women"], "warnings": ["missing-data"]},
     ["rec-anaemia-women", "rec-anaemia-men"],
     "Adult of 40 with gender 'unknown' and Hb 115 g/L: below both adult cut-offs, but each band needs the sex, "
     "so both are undetermined (a clinician would call this anaemia whatever the sex; the engine does not "
     "reason across statements). Nothing ordered; missing-data."),
    ("018-child-3-years-no-hb-order", "2023-01-15", "male", [],
     {"undetermined": ["rec-anaemia-24-59mo"], "orders": ["718-7"]}, ["rec-anaemia-24-59mo"],
     "Boy of 36 months with no haemoglobin result: the 24-59 months band is unknown, every other band is false "
     "by age. The recommendation is undetermined and haemoglobin (LOINC 718-7) is ordered."),
    ("019-sex-unknown-adult-no-hb", "1985-06-01", "unknown", [],
     {"undetermined": ["rec-anaemia-men", "rec-anaemia-women"], "orders": ["718-7"], "warnings": ["missing-data"]},
     ["rec-anaemia-women", "rec-anaemia-men"],
     "Adult of 40, gender 'unknown', no haemoglobin: both adult bands undetermined; haemoglobin is ordered "
     "(it is a threshold leaf) and the sex gives a missing-data warning."),
    ("020-man-65-hb-129-anaemia", "1960-06-01", "male", [("718-7", 129, "g/L")],
     {"recommended": ["rec-anaemia-men"]}, ["rec-anaemia-men"],
     "Man of 65 completed years, Hb 129 g/L: the upper age 65 is encoded as inclusive (project assumption, "
     "facts.md 38), so he is covered and anaemic (< 130)."),
    ("021-man-66-not-covered", "1959-06-01", "male", [("718-7", 129, "g/L")],
     {"applicable": False, "warnings": [NOT_COVERED]}, ["rec-anaemia-men"],
     "Man of 66 completed years, Hb 129 g/L: above the oldest band (15-65 years), so the guideline does not "
     "apply. No WHO 2024 cut-off for over-65s was found (facts.md 19)."),
    ("022-child-8-years-hb-11.5-g-dl-no-anaemia", "2017-09-01", "male", [("718-7", 11.5, "g/dL")],
     {}, ["rec-anaemia-5-11a"],
     "Boy of 8 with Hb 11.5 g/dL = 115 g/L, exactly the 5-11 years cut-off: not < 115, no anaemia."),
    ("023-child-10-years-sex-not-recorded-anaemia", "2015-05-20", None, [("718-7", 110, "g/L")],
     {"recommended": ["rec-anaemia-5-11a"]}, ["rec-anaemia-5-11a"],
     "Child of 10 with no gender recorded, Hb 110 g/L: below 15 years the cut-offs do not depend on sex "
     "(facts.md 18), so anaemia is decided (110 < 115) without it, and no missing-data warning."),
    ("024-hb-in-mmol-per-l-not-converted", "1990-03-10", "female", [("718-7", 7.0, "mmol/L")],
     {"undetermined": ["rec-anaemia-women"], "orders": ["718-7"], "warnings": ["unit-not-convertible"]},
     ["rec-anaemia-women"],
     "Woman of 35 whose Hb is reported as 7.0 mmol/L: no molar factor is given by any source read (facts.md "
     "34), so the result is unusable (unit-not-convertible), the band undetermined and haemoglobin ordered "
     "again; the value is never guessed."),
    ("025-hb-g-dl-sent-as-g-l-implausible", "1990-03-10", "female", [("718-7", 10.4, "g/L")],
     {"undetermined": ["rec-anaemia-women"], "orders": ["718-7"], "warnings": ["implausible-value"]},
     ["rec-anaemia-women"],
     "Woman of 35 with 'Hb 10.4 g/L', evidently a g/dL value sent with the wrong unit: below the plausible "
     "range (20-250 g/L, a project assumption), excluded with a warning and ordered again, never read as "
     "profound anaemia."),
    ("026-venous-hb-code-30350-3-anaemia", "1990-03-10", "female", [("30350-3", 100, "g/L")],
     {"recommended": ["rec-anaemia-women"]}, ["rec-anaemia-women"],
     "Woman of 35 whose Hb 100 g/L is coded LOINC 30350-3 (venous blood), declared equivalent to 718-7: used "
     "by the 718-7 threshold, 100 < 120, anaemia."),
    ("027-no-birth-date-not-decided", None, "female", [("718-7", 100, "g/L")],
     {"applicable": False, "warnings": [NOT_COVERED]}, ["rec-anaemia-women"],
     "Woman with no birth date recorded, Hb 100 g/L: the age bands, and so whether the guideline covers her "
     "(aged 6 months to 65 years), are unknown. An unknown coverage makes the guideline not applicable, with "
     "a guideline-not-applicable warning that says the coverage is unknown; nothing is guessed from the Hb "
     "alone (no band without an age). No separate missing-data warning names the birth date (GAPS.md G7)."),
    ("028-latest-hb-used-earlier-low-value-ignored", "1988-11-02", "male",
     [("718-7", 118, "g/L", "2025-10-01T08:00:00+00:00"), ("718-7", 141, "g/L")],
     {}, ["rec-anaemia-men"],
     "Man of 37 with Hb 118 g/L in October 2025 and 141 g/L on 2026-01-10: the latest usable result decides "
     "(141 is not < 130), so no anaemia is reported now; the earlier low value is not used."),
]

DISPLAY = {"718-7": "Hemoglobin [Mass/volume] in Blood", "30350-3": "Hemoglobin [Mass/volume] in Venous blood"}


def bundle(pid, birth, gender, results):
    patient = {"resourceType": "Patient", "id": pid}
    if gender is not None:
        patient["gender"] = gender
    if birth is not None:
        patient["birthDate"] = birth
    entries = [{"resource": patient}]
    for i, (code, value, unit, *when) in enumerate(results, 1):
        entries.append({"resource": {
            "resourceType": "Observation", "id": f"{pid}-hb-{i}", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "laboratory"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": DISPLAY[code]}]},
            "subject": {"reference": f"Patient/{pid}"},
            "effectiveDateTime": when[0] if when else HB_DATE,
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}})
    return {"resourceType": "Bundle", "id": f"bundle-{pid}", "type": "collection", "entry": entries}


def main():
    root = Path(__file__).resolve().parent.parent / "cases"
    names = set()
    for name, birth, gender, results, expect, checks, description in CASES:
        number = name.split("-", 1)[0]
        assert number not in names, name
        names.add(number)
        pid = f"whoa2024-{number}"
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "patient.json").write_text(json.dumps(bundle(pid, birth, gender, results), indent=2) + "\n")
        full = {"applicable": True, "recommended": [], "not_recommended": [], "undetermined": [], "orders": [],
                "warnings": [], "monitoring": []}
        full.update(expect)
        (d / "expected.json").write_text(json.dumps(
            {"description": description, "checks": [NS + c for c in checks], "as_of": AS_OF, "expect": full},
            indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {len(CASES)} cases under {root}")


if __name__ == "__main__":
    main()
