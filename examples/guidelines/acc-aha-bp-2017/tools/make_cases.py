"""Writes the vignettes under ../cases/: patient.json (FHIR R4 collection Bundle) and expected.json (the
format of tests/cases/, read by tests/vignettes.py; statement names after the guideline's namespace).

Run from the repository: .venv/bin/python examples/guidelines/acc-aha-bp-2017/tools/make_cases.py
Patient ids are "acc2017-NNN", unique across every guideline's cases.

Blood pressure comes as a panel Observation (LOINC 85354-9 with systolic 8480-6 and diastolic 8462-4
components, as US Core writes it) or as separate 8480-6 / 8462-4 Observations.
"""
import json
from pathlib import Path

AS_OF = "2026-01-15"
NS = "https://w3id.org/guidelinekg/guideline/acc-aha-bp-2017/"
D0 = "2025-11-03T10:00:00-05:00"
D1 = "2025-12-01T09:00:00-05:00"
D2 = "2026-01-08T09:30:00-05:00"
ADULT = "1980-06-15"  # 45 on the as-of date
SBP, DBP = "8480-6", "8462-4"
NOT_COVERED = "guideline-not-applicable"
OOO = "rec-out-of-office-confirm"
ALL = ["rec-normal", "rec-elevated", "rec-stage-1", "rec-stage-2"]
BOTH = [SBP, DBP]


def panel(when, sbp, dbp, unit="mm[Hg]"):
    return ("panel", when, sbp, dbp, unit)


def sep(when, sbp=None, dbp=None, unit="mm[Hg]"):
    """Separate 8480-6 and/or 8462-4 Observations at one time."""
    return ("sep", when, sbp, dbp, unit)


def twice(sbp, dbp):
    return [panel(D1, sbp, dbp), panel(D2, sbp, dbp)]


# name, birth date, readings, expect (only the keys that are not empty), checks (statement local names),
# description
CASES = [
    ("001-normal-119-79", ADULT, twice(119, 79),
     {"recommended": ["rec-normal"]}, ["rec-normal", "rec-elevated"],
     "Adult of 45 with two panels (LOINC 85354-9) of 119/79 mm Hg on 2025-12-01 and 2026-01-08: average "
     "119/79 on 2 occasions, normal (<120 and <80): 'record normal blood pressure'. No out-of-office advice."),
    ("002-elevated-120-79-edge-119-120", ADULT, twice(120, 79),
     {"recommended": ["rec-elevated"]}, ["rec-normal", "rec-elevated"],
     "As 001 with systolic 120: the normal bound is strict (<120), the elevated range starts at 120: elevated."),
    ("003-elevated-129-79", ADULT, twice(129, 79),
     {"recommended": ["rec-elevated"]}, ["rec-elevated", "rec-stage-1"],
     "Average 129/79: the top of the elevated range (120-129 and <80)."),
    ("004-stage-1-130-79-edge-129-130", ADULT, twice(130, 79),
     {"recommended": ["rec-stage-1", OOO]}, ["rec-elevated", "rec-stage-1", OOO],
     "Average 130/79: systolic alone moves the patient from elevated to stage 1 (130-139 or 80-89), and "
     "out-of-office BP is recommended to confirm the diagnosis (Class I, Level A)."),
    ("005-stage-1-139-89", ADULT, twice(139, 89),
     {"recommended": ["rec-stage-1", OOO]}, ["rec-stage-1", "rec-stage-2"],
     "Average 139/89: the top of stage 1 on both readings, not yet stage 2."),
    ("006-stage-2-140-70-systolic-decides-edge-139-140", ADULT, twice(140, 70),
     {"recommended": ["rec-stage-2", OOO]}, ["rec-stage-1", "rec-stage-2", OOO],
     "Average 140/70: a normal diastolic does not matter, systolic >=140 alone is stage 2 ('or')."),
    ("007-stage-1-118-80-diastolic-decides-edge-79-80", ADULT, twice(118, 80),
     {"recommended": ["rec-stage-1", OOO]}, ["rec-normal", "rec-stage-1", OOO],
     "Average 118/80: a normal systolic, but diastolic 80 alone is stage 1 ('or'); normal needs both (<120 "
     "and <80)."),
    ("008-stage-2-118-90-diastolic-decides-edge-89-90", ADULT, twice(118, 90),
     {"recommended": ["rec-stage-2", OOO]}, ["rec-stage-1", "rec-stage-2"],
     "Average 118/90: diastolic 90 alone is stage 2."),
    ("009-125-85-higher-category-stage-1", ADULT, twice(125, 85),
     {"recommended": ["rec-stage-1", OOO]}, ["rec-elevated", "rec-stage-1"],
     "Average 125/85: systolic in the elevated range, diastolic in stage 1. Elevated needs diastolic <80 "
     "('and'), so it is false; stage 1 holds: the higher category, as the table's footnote says."),
    ("010-150-85-higher-category-stage-2-not-stage-1", ADULT, twice(150, 85),
     {"recommended": ["rec-stage-2", OOO]}, ["rec-stage-1", "rec-stage-2"],
     "Average 150/85: diastolic in the stage 1 range, systolic in stage 2. The footnote designates the higher "
     "category: stage 2 is recorded and stage 1 is not (stage 1 is written 'in the stage 1 range and not "
     "stage 2')."),
    ("011-one-occasion-only-undetermined-orders-bp", ADULT,
     [panel("2026-01-08T08:00:00-05:00", 150, 95), panel("2026-01-08T10:00:00-05:00", 152, 96)],
     {"undetermined": ALL + [OOO], "orders": BOTH}, ALL + [OOO],
     "Two panels of about 150/95 on the same day: 2 readings but 1 occasion. Every average needs readings on "
     ">=2 days, so every category is unknown: all are undetermined (no category is guessed from one visit) "
     "and systolic and diastolic BP (8480-6, 8462-4) are ordered."),
    ("012-average-crosses-into-stage-2", ADULT, [panel(D1, 138, 85), panel(D2, 144, 85)],
     {"recommended": ["rec-stage-2", OOO]}, ["rec-stage-1", "rec-stage-2"],
     "Systolic 138 (stage 1 alone) then 144 (stage 2 alone): the average, 141/85, is stage 2. Neither the first "
     "nor the latest reading decides; the average of both does."),
    ("013-average-129.5-elevated-half-open-range", ADULT, [panel(D1, 129, 78), panel(D2, 130, 78)],
     {"recommended": ["rec-elevated"]}, ["rec-elevated", "rec-stage-1"],
     "Systolic 129 then 130: average 129.5/78, between the table's integer ranges 120-129 and 130-139. Read as "
     "'mean below 130' (a project assumption, facts.md 31): elevated."),
    ("014-age-16-not-covered", "2009-09-01", twice(150, 95),
     {"applicable": False, "warnings": [NOT_COVERED]}, ["rec-stage-2"],
     "Adolescent of 16 with an average of 150/95: the guideline is for adults (>=18 years, a project "
     "assumption), so it does not apply; nothing is recorded."),
    ("015-mixed-panel-and-separate-observations", ADULT, [panel(D1, 132, 84), sep(D2, 128, 76)],
     {"recommended": ["rec-stage-1", OOO]}, ["rec-stage-1", OOO],
     "A panel of 132/84 on 2025-12-01 and two separate Observations (8480-6 = 128, 8462-4 = 76) on 2026-01-08: "
     "panel components and separate Observations are results of the same measures. Average 130/80: stage 1."),
    ("016-systolic-only-stage-2-decided", ADULT, [sep(D1, sbp=150), sep(D2, sbp=146)],
     {"recommended": ["rec-stage-2", OOO]}, ALL + [OOO],
     "Only systolic readings (150, 146; no diastolic): average 148 >= 140 is stage 2 whatever the diastolic "
     "('or'), and it rules out normal, elevated and stage 1 (Kleene logic): decided, nothing ordered."),
    ("017-diastolic-only-70-undetermined-orders-systolic", ADULT, [sep(D1, dbp=70), sep(D2, dbp=70)],
     {"undetermined": ALL + [OOO], "orders": [SBP]}, ALL + [OOO],
     "Only diastolic readings (70, 70): a diastolic <80 decides no category on its own, so all are "
     "undetermined and only systolic BP (8480-6) is ordered."),
    ("018-no-bp-undetermined-orders-both", ADULT, [],
     {"undetermined": ALL + [OOO], "orders": BOTH}, ALL + [OOO],
     "Adult with no blood pressure recorded: every category is undetermined and both measures are ordered."),
    ("019-three-occasions-averaged", ADULT, [panel(D0, 150, 78), panel(D1, 136, 78), panel(D2, 122, 78)],
     {"recommended": ["rec-stage-1", OOO]}, ["rec-elevated", "rec-stage-1", "rec-stage-2"],
     "Systolic 150, 136 and 122 on three days: the average, 136/78, is stage 1, although the latest reading "
     "alone (122/78) would be elevated and the first (150) stage 2."),
    ("020-old-reading-counts-no-window", ADULT, [panel("2019-03-01T09:00:00-05:00", 160, 100), panel(D2, 130, 80)],
     {"recommended": ["rec-stage-2", OOO]}, ["rec-stage-1", "rec-stage-2"],
     "A reading of 160/100 from 2019 and 130/80 now: with no window (the source gives none; a project "
     "assumption), the 2019 reading is averaged in: 145/90, stage 2. A window would have left one occasion "
     "(undetermined) or, with older readings, stage 1 (GAPS.md G3)."),
    ("021-age-exactly-18-covered", "2008-01-15", twice(119, 79),
     {"recommended": ["rec-normal"]}, ["rec-normal"],
     "Born 2008-01-15: 18 completed years on the as-of date, covered (>=18); average 119/79, normal."),
    ("022-implausible-systolic-excluded", ADULT, [panel(D1, 1300, 85), panel(D2, 135, 85)],
     {"recommended": [OOO], "undetermined": ["rec-stage-1", "rec-stage-2"], "orders": [SBP],
      "warnings": ["implausible-value"]}, ["rec-stage-1", "rec-stage-2", OOO],
     "Systolic typed 1300 on 2025-12-01 (diastolic 85), 135/85 on 2026-01-08. The 1300 is outside the "
     "plausible range (40-300, assumption) and excluded (implausible-value), leaving one systolic occasion. "
     "Diastolic 85 on 2 days is in the stage 1 range, so stage 1 or 2 (hypertension) is certain and the "
     "out-of-office advice is made; which stage depends on the systolic (>=140 would be stage 2): both "
     "undetermined, systolic ordered."),
    ("023-all-readings-averaged-not-per-occasion", ADULT,
     [panel("2025-12-01T09:00:00-05:00", 150, 78), panel("2025-12-01T09:10:00-05:00", 150, 78), panel(D2, 126, 78)],
     {"recommended": ["rec-stage-2", OOO]}, ["rec-stage-1", "rec-stage-2"],
     "Two readings of 150/78 on 2025-12-01 and one of 126/78 on 2026-01-08. The engine averages all readings: "
     "(150+150+126)/3 = 142, stage 2. Averaging per occasion first would give (150+126)/2 = 138, stage 1; the "
     "text read does not say which is meant (facts.md 29, GAPS.md G2)."),
    ("024-elevated-then-normal-average-normal", ADULT, [panel(D1, 124, 76), panel(D2, 114, 76)],
     {"recommended": ["rec-normal"]}, ["rec-normal", "rec-elevated"],
     "124/76 then 114/76: average 119/76, normal, although the first visit alone was elevated."),
    ("025-occasions-are-calendar-days-across-midnight", ADULT,
     [panel("2026-01-07T23:30:00-05:00", 150, 95), panel("2026-01-08T08:00:00-05:00", 146, 93)],
     {"recommended": ["rec-stage-2", OOO]}, ["rec-stage-2"],
     "Readings at 23:30 on 2026-01-07 and 08:00 on 2026-01-08 (local time as recorded; the same UTC day): "
     "occasions are counted as calendar days of the recorded local date, so these are 2 occasions and the "
     "average, 148/94, is stage 2. Whether two visits 8.5 hours apart are two 'occasions' in the guideline's "
     "sense is not checked (GAPS.md G2)."),
    ("026-unit-code-mmHg-read-as-mm-hg", ADULT, [panel(D1, 150, 95, unit="mmHg"), panel(D2, 150, 95, unit="mmHg")],
     {"recommended": ["rec-stage-2", OOO], "warnings": ["unit-not-ucum"]}, ALL + [OOO],
     "Two panels of 150/95 whose unit code is 'mmHg' under the UCUM system (not UCUM; UCUM writes mm[Hg]): the "
     "code is a spelling ontology/unit-spellings.tsv knows, so it is read as mm[Hg] with a unit-not-ucum note, as "
     "the same text in 'unit' is, and the readings decide stage 2 (GAPS.md G7: such a spelling belongs in the unit "
     "layer, not in one guideline; it was unusable before the unit layer read spelled codes)."),
]

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
DISPLAY = {SBP: "Systolic blood pressure", DBP: "Diastolic blood pressure"}
VITAL = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}]


def quantity(value, unit):
    return {"value": value, "unit": "mmHg", "system": UCUM, "code": unit}


def bundle(pid, birth, readings):
    patient = {"resourceType": "Patient", "id": pid, "gender": "female" if int(pid[-3:]) % 2 else "male"}
    if birth is not None:
        patient["birthDate"] = birth
    entries = [{"resource": patient}]
    for i, (kind, when, sbp, dbp, unit) in enumerate(readings, 1):
        if kind == "panel":
            entries.append({"resource": {
                "resourceType": "Observation", "id": f"{pid}-bp-{i}", "status": "final", "category": VITAL,
                "code": {"coding": [{"system": LOINC, "code": "85354-9",
                                     "display": "Blood pressure panel with all children optional"}]},
                "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": when,
                "component": [
                    {"code": {"coding": [{"system": LOINC, "code": SBP, "display": DISPLAY[SBP]}]},
                     "valueQuantity": quantity(sbp, unit)},
                    {"code": {"coding": [{"system": LOINC, "code": DBP, "display": DISPLAY[DBP]}]},
                     "valueQuantity": quantity(dbp, unit)}]}})
            continue
        for code, value in ((SBP, sbp), (DBP, dbp)):
            if value is None:
                continue
            entries.append({"resource": {
                "resourceType": "Observation", "id": f"{pid}-{'sbp' if code == SBP else 'dbp'}-{i}",
                "status": "final", "category": VITAL,
                "code": {"coding": [{"system": LOINC, "code": code, "display": DISPLAY[code]}]},
                "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": when,
                "valueQuantity": quantity(value, unit)}})
    return {"resourceType": "Bundle", "id": f"bundle-{pid}", "type": "collection", "entry": entries}


def main():
    root = Path(__file__).resolve().parent.parent / "cases"
    numbers = set()
    for name, birth, readings, expect, checks, description in CASES:
        number = name.split("-", 1)[0]
        assert number not in numbers, name
        numbers.add(number)
        pid = f"acc2017-{number}"
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "patient.json").write_text(json.dumps(bundle(pid, birth, readings), indent=2) + "\n")
        full = {"applicable": True, "recommended": [], "not_recommended": [], "undetermined": [], "orders": [],
                "warnings": [], "monitoring": []}
        full.update(expect)
        (d / "expected.json").write_text(json.dumps(
            {"description": description, "checks": [NS + c for c in checks], "as_of": AS_OF, "expect": full},
            indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {len(CASES)} cases under {root}")


if __name__ == "__main__":
    main()
