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
SCT, LOINC, ICD10CM = "http://snomed.info/sct", "http://loinc.org", "http://hl7.org/fhir/sid/icd-10-cm"

# Pregnancy status results (LOINC 82810-3, a coded value; facts.md 44-49) and pregnancy conditions:
# ("status", system, code[, when]) and ("condition", system, code). The women's band (15-65 years) needs a
# recorded "not pregnant": every case that means a non-pregnant woman has NOT_PREGNANT.
NOT_PREGNANT = ("status", SCT, "60001007")
PREGNANT = ("status", SCT, "77386006")
STATUS_DISPLAY = {"60001007": "Not pregnant", "77386006": "Pregnant", "146799005": "Possible pregnancy",
                  "LA26683-5": "Not pregnant"}

# name, birth date (None: not recorded), gender (None: not recorded), results [(loinc, value, unit[, when])
# or a status or condition as above], expect (only the keys that are not empty), checks (statement local
# names), description
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
    ("011-age-15-female-hb-11.9-g-dl-anaemia", "2011-01-15", "female", [("718-7", 11.9, "g/dL"), NOT_PREGNANT],
     {"recommended": ["rec-anaemia-women"]}, ["rec-anaemia-women", "rec-anaemia-men"],
     "Young woman of exactly 15 years (born 2011-01-15), Hb 11.9 g/dL, converted by UCUM to 119 g/L, pregnancy "
     "status 'not pregnant' (SNOMED CT 60001007): women's band, 119 < 120, anaemia."),
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
    ("015-woman-40-hb-125-no-anaemia", "1985-06-01", "female", [("718-7", 125, "g/L"), NOT_PREGNANT],
     {}, ["rec-anaemia-women", "rec-anaemia-men"],
     "Woman of 40, not pregnant, with Hb 125 g/L: not anaemic by the women's cut-off (120), although a man "
     "with the same value would be (130): sex decides."),
    ("016-sex-unknown-40-hb-125-undetermined", "1985-06-01", "unknown", [("718-7", 125, "g/L")],
     {"undetermined": ["rec-anaemia-men"], "warnings": ["missing-data"]}, ["rec-anaemia-women", "rec-anaemia-men"],
     "Adult of 40 whose gender is recorded as 'unknown', Hb 125 g/L: anaemic by the men's cut-off, not by the "
     "women's. Kleene logic: the women's band is false whatever the sex (125 is not < 120); the men's band is "
     "unknown (sex unknown, 125 < 130), so it is undetermined, never guessed. No test can supply the sex: "
     "nothing is ordered, a missing-data warning says what is missing."),
    ("017-sex-unknown-40-hb-115-both-undetermined", "1985-06-01", "unknown", [("718-7", 115, "g/L")],
     {"undetermined": ["rec-anaemia-men", "rec-anaemia-women"], "orders": ["82810-3"], "warnings": ["missing-data"]},
     ["rec-anaemia-women", "rec-anaemia-men"],
     "Adult of 40 with gender 'unknown' and Hb 115 g/L: below both adult cut-offs, but each band needs the sex, "
     "so both are undetermined (a clinician would call this anaemia whatever the sex; the engine does not "
     "reason across statements); missing-data for the sex. The women's band also lacks a pregnancy status, "
     "so pregnancy status (LOINC 82810-3) is ordered: a test can supply that one."),
    ("018-child-3-years-no-hb-order", "2023-01-15", "male", [],
     {"undetermined": ["rec-anaemia-24-59mo"], "orders": ["718-7"]}, ["rec-anaemia-24-59mo"],
     "Boy of 36 months with no haemoglobin result: the 24-59 months band is unknown, every other band is false "
     "by age. The recommendation is undetermined and haemoglobin (LOINC 718-7) is ordered."),
    ("019-sex-unknown-adult-no-hb", "1985-06-01", "unknown", [],
     {"undetermined": ["rec-anaemia-men", "rec-anaemia-women"], "orders": ["718-7", "82810-3"],
      "warnings": ["missing-data"]},
     ["rec-anaemia-women", "rec-anaemia-men"],
     "Adult of 40, gender 'unknown', no haemoglobin, no pregnancy status: both adult bands undetermined; "
     "haemoglobin and, for the women's band, pregnancy status (82810-3) are ordered, and the sex gives a "
     "missing-data warning."),
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
    ("024-hb-in-mmol-per-l-not-converted", "1990-03-10", "female", [("718-7", 7.0, "mmol/L"), NOT_PREGNANT],
     {"undetermined": ["rec-anaemia-women"], "orders": ["718-7"], "warnings": ["unit-not-convertible"]},
     ["rec-anaemia-women"],
     "Woman of 35, not pregnant, whose Hb is reported as 7.0 mmol/L: no molar factor is given by any source read (facts.md "
     "34), so the result is unusable (unit-not-convertible), the band undetermined and haemoglobin ordered "
     "again; the value is never guessed."),
    ("025-hb-g-dl-sent-as-g-l-implausible", "1990-03-10", "female", [("718-7", 10.4, "g/L"), NOT_PREGNANT],
     {"undetermined": ["rec-anaemia-women"], "orders": ["718-7"], "warnings": ["implausible-value"]},
     ["rec-anaemia-women"],
     "Woman of 35, not pregnant, with 'Hb 10.4 g/L', evidently a g/dL value sent with the wrong unit: below the plausible "
     "range (20-250 g/L, a project assumption), excluded with a warning and ordered again, never read as "
     "profound anaemia."),
    ("026-venous-hb-code-30350-3-anaemia", "1990-03-10", "female", [("30350-3", 100, "g/L"), NOT_PREGNANT],
     {"recommended": ["rec-anaemia-women"]}, ["rec-anaemia-women"],
     "Woman of 35, not pregnant, whose Hb 100 g/L is coded LOINC 30350-3 (venous blood), declared equivalent to 718-7: used "
     "by the 718-7 threshold, 100 < 120, anaemia."),
    ("027-no-birth-date-not-decided", None, "female", [("718-7", 100, "g/L"), NOT_PREGNANT],
     {"applicable": False, "warnings": [NOT_COVERED]}, ["rec-anaemia-women"],
     "Woman with no birth date recorded, not pregnant, Hb 100 g/L: the age bands, and so whether the guideline covers her "
     "(aged 6 months to 65 years), are unknown. An unknown coverage makes the guideline not applicable, with "
     "a guideline-not-applicable warning that says the coverage is unknown; nothing is guessed from the Hb "
     "alone (no band without an age). No separate missing-data warning names the birth date (GAPS.md G7)."),
    ("028-latest-hb-used-earlier-low-value-ignored", "1988-11-02", "male",
     [("718-7", 118, "g/L", "2025-10-01T08:00:00+00:00"), ("718-7", 141, "g/L")],
     {}, ["rec-anaemia-men"],
     "Man of 37 with Hb 118 g/L in October 2025 and 141 g/L on 2026-01-10: the latest usable result decides "
     "(141 is not < 130), so no anaemia is reported now; the earlier low value is not used."),
    ("029-pregnant-woman-hb-115-women-band-not-made", "1997-04-20", "female", [("718-7", 115, "g/L"), PREGNANT],
     {}, ["rec-anaemia-women", "ns-cutoff-pregnancy-t1", "ns-cutoff-pregnancy-t2", "ns-cutoff-pregnancy-t3"],
     "Pregnant woman of 28 (pregnancy status SNOMED CT 77386006) with Hb 115 g/L: the women's band is for "
     "non-pregnant women, so it is false and 'record anaemia' is not made (before pregnancy status was read "
     "it was made wrongly: GAPS.md G2). Whether 115 g/L is anaemia in pregnancy depends on the trimester "
     "(110 / 105 / 110 g/L, facts.md 15-17), which is text only: nothing is reported."),
    ("030-woman-hb-115-no-pregnancy-status-order", "1997-04-20", "female", [("718-7", 115, "g/L")],
     {"undetermined": ["rec-anaemia-women"], "orders": ["82810-3"]}, ["rec-anaemia-women"],
     "Woman of 28 with Hb 115 g/L and no pregnancy status recorded: anaemic if not pregnant (< 120), perhaps "
     "not if pregnant. Non-pregnancy is never assumed: the women's band is unknown, the recommendation "
     "undetermined, and pregnancy status (LOINC 82810-3) is ordered."),
    ("031-woman-hb-125-no-pregnancy-status-decided", "1997-04-20", "female", [("718-7", 125, "g/L")],
     {}, ["rec-anaemia-women"],
     "Woman of 28 with Hb 125 g/L and no pregnancy status: 125 is not < 120, so the women's band is false "
     "whatever the pregnancy status (Kleene all-of): decided, not anaemic by it, and nothing is ordered. (If "
     "pregnant she is not anaemic either: every pregnancy cut-off is lower.)"),
    ("032-old-pregnant-newer-not-pregnant-anaemia", "1993-08-05", "female",
     [("718-7", 112, "g/L"), ("status", SCT, "77386006", "2025-03-01T10:00:00+00:00"),
      ("status", SCT, "60001007", "2026-01-10T09:00:00+00:00")],
     {"recommended": ["rec-anaemia-women"]}, ["rec-anaemia-women"],
     "Woman of 32 with pregnancy status 'pregnant' on 2025-03-01 and 'not pregnant' on 2026-01-10, Hb 112 g/L: "
     "the latest status decides (not pregnant), so the women's band holds, 112 < 120, anaemia."),
    ("033-old-not-pregnant-newer-pregnant-not-made", "1993-08-05", "female",
     [("718-7", 112, "g/L"), ("status", SCT, "60001007", "2025-03-01T10:00:00+00:00"),
      ("status", SCT, "77386006", "2026-01-10T09:00:00+00:00")],
     {}, ["rec-anaemia-women"],
     "As 032 with the statuses the other way round: 'not pregnant' in March 2025, 'pregnant' on 2026-01-10. "
     "The latest says pregnant: the women's band is false and nothing is reported (pregnancy cut-offs are "
     "text only)."),
    ("034-not-pregnant-status-but-pregnancy-condition", "1993-08-05", "female",
     [("718-7", 112, "g/L"), NOT_PREGNANT, ("condition", ICD10CM, "Z33.1")],
     {}, ["rec-anaemia-women"],
     "Woman of 32 whose latest pregnancy status is 'not pregnant' but who has an active condition ICD-10-CM "
     "Z33.1 'Pregnant state, incidental', Hb 112 g/L: the records disagree; a recorded pregnancy stops the "
     "women's band (crit-no-pregnancy-recorded), so 'record anaemia' is not made. Nothing says that the "
     "records disagree (GAPS.md G2)."),
    ("035-not-pregnant-as-loinc-answer-anaemia", "1993-08-05", "female",
     [("718-7", 112, "g/L"), ("status", LOINC, "LA26683-5")],
     {"recommended": ["rec-anaemia-women"]}, ["rec-anaemia-women"],
     "Woman of 32 whose pregnancy status is coded with the LOINC answer LA26683-5 'Not pregnant' (as in the "
     "IPS 1.x value set) instead of SNOMED CT: accepted as 'not pregnant' too; 112 < 120, anaemia."),
    ("036-possible-pregnancy-not-made-not-ordered", "1993-08-05", "female",
     [("718-7", 112, "g/L"), ("status", SCT, "146799005")],
     {}, ["rec-anaemia-women"],
     "Woman of 32 whose latest pregnancy status is 'possible pregnancy' (SNOMED CT 146799005), Hb 112 g/L: "
     "not a recorded 'not pregnant', so the women's band is false: not made, and, since a status is recorded, "
     "nothing is ordered. The right answer is 'undetermined until pregnancy is confirmed or excluded'; a coded "
     "answer cannot make the criterion unknown (GAPS.md G2)."),
    ("037-pregnant-hb-100-nothing-reported", "1997-04-20", "female", [("718-7", 100, "g/L"), PREGNANT],
     {}, ["rec-anaemia-women"],
     "Pregnant woman of 28 with Hb 100 g/L: anaemic in every trimester (100 is below 110, 105 and 110 g/L), "
     "but the pregnancy cut-offs are text only and the women's band is false: nothing is reported (GAPS.md "
     "G2). No band 'pregnant, any trimester, < 105' is encoded: WHO does not state one."),
]

DISPLAY = {"718-7": "Hemoglobin [Mass/volume] in Blood", "30350-3": "Hemoglobin [Mass/volume] in Venous blood"}


def bundle(pid, birth, gender, results):
    patient = {"resourceType": "Patient", "id": pid}
    if gender is not None:
        patient["gender"] = gender
    if birth is not None:
        patient["birthDate"] = birth
    entries = [{"resource": patient}]
    for i, item in enumerate(results, 1):
        if item[0] == "status":
            _, system, code, *when = item
            entries.append({"resource": {
                "resourceType": "Observation", "id": f"{pid}-pregnancy-status-{i}", "status": "final",
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                          "code": "social-history"}]}],
                "code": {"coding": [{"system": LOINC, "code": "82810-3", "display": "Pregnancy status"}]},
                "subject": {"reference": f"Patient/{pid}"},
                "effectiveDateTime": when[0] if when else HB_DATE,
                "valueCodeableConcept": {"coding": [{"system": system, "code": code,
                                                     "display": STATUS_DISPLAY[code]}]}}})
            continue
        if item[0] == "condition":
            _, system, code = item
            entries.append({"resource": {
                "resourceType": "Condition", "id": f"{pid}-condition-{i}",
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                               "code": "active"}]},
                "code": {"coding": [{"system": system, "code": code}]},
                "subject": {"reference": f"Patient/{pid}"}, "onsetDateTime": "2025-12-01"}})
            continue
        code, value, unit, *when = item
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
