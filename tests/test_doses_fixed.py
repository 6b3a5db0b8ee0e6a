"""A fixed dose given by dosing statements (report/doses.py): the one that applies to the patient is the dose.

Found by an author (apixaban 5 mg, or 2.5 mg when two of three criteria hold): fixed doses in dosing statements
were accepted by validate and never shown, so a dose that depends on criteria needed one recommendation per
dose, and missing data left the drug itself undecided.
"""

from __future__ import annotations

from guidelinekg.report.doses import dose_of

ST = {"i": "urn:x:apixaban"}
FIVE = {"d": "urn:x:dosing-5", "value": "5", "unit": "mg", "dlabel": "apixaban 5 mg bid"}
TWO = {"d": "urn:x:dosing-2.5", "value": "2.5", "unit": "mg", "dlabel": "apixaban 2.5 mg bid"}


def _dose(fixed, state):
    because: list[str] = []
    return dose_of(ST, None, {}, set(), because, fixed, state), because


def test_the_dosing_statement_that_holds_gives_the_dose():
    dose, because = _dose([TWO], {TWO["d"]: "holds"})  # the 5 mg statement failed: not passed in
    assert dose == {"value": 2.5, "unit": "mg"} and because == ["dose: 2.5 mg (apixaban 2.5 mg bid)"]


def test_an_undecided_dosing_statement_leaves_the_dose_unstated_and_says_why():
    dose, because = _dose([FIVE, TWO], {FIVE["d"]: "undecided", TWO["d"]: "undecided"})
    assert dose is None and "whether apixaban 2.5 mg bid or apixaban 5 mg bid applies is unknown" in because[0]


def test_two_dosing_statements_that_apply_with_different_doses_give_none():
    dose, because = _dose([FIVE, TWO], {FIVE["d"]: "holds"})  # one without applicability, one that holds
    assert dose is None and "give different doses" in because[0]


def test_the_interventions_own_dose_comes_first():
    because: list[str] = []
    dose = dose_of({**ST, "doseValue": "10", "doseUnit": "mg"}, None, {}, set(), because, [FIVE], {})
    assert dose == {"value": 10, "unit": "mg"} and because == []


def test_one_amount_of_two_bases_is_two_doses():
    """Found by a reviewer: 65 mg of elemental iron and 65 mg of the salt were one dose, shown with either basis."""
    iron = {**FIVE, "d": "urn:x:dosing-iron", "basis": "elemental iron"}
    dose, because = _dose([FIVE, iron], {FIVE["d"]: "holds", iron["d"]: "holds"})
    assert dose is None and "give different doses" in because[0]


def _explain(criterion: str) -> list[str]:
    return {"urn:x:two-of-three": ["at least 2 of: age, weight, creatinine: true", "  age ≥80 years: true"],
            "urn:x:fewer": ["fewer than 2 of: unknown", "  body weight ≤ 60 kg: unknown (no usable result)"]}[criterion]


def test_the_dose_says_why_its_dosing_statement_applies():
    """Found by an author: "2.5 mg (dose reduction)" was shown without the age, weight or creatinine that chose it,
    so a boundary decision could not be checked; an undecided dose did not say which data it waits for."""
    two, five = {**TWO, "crit": "urn:x:two-of-three"}, {**FIVE, "crit": "urn:x:fewer"}
    because: list[str] = []
    dose = dose_of(ST, None, {}, set(), because, [two], {TWO["d"]: "holds"}, explain=_explain)
    assert dose == {"value": 2.5, "unit": "mg"}
    assert because == ["dose: 2.5 mg (apixaban 2.5 mg bid)", "  at least 2 of: age, weight, creatinine: true",
                       "    age ≥80 years: true"]
    because = []
    assert dose_of(ST, None, {}, set(), because, [five, two], {FIVE["d"]: "undecided", TWO["d"]: "holds"},
                   explain=_explain) is None
    assert because[1:] == ["  fewer than 2 of: unknown", "    body weight ≤ 60 kg: unknown (no usable result)"]


def test_a_dose_with_its_own_frequency_carries_it_and_two_frequencies_are_two_doses():
    """Found by an author: gkg:frequency on a gkg:Dose ("2.5 mg twice daily") passed validate and vanished from
    the report and the FHIR timing. It now goes with the dose; the same amount at two frequencies is no dose."""
    bid, daily = {**TWO, "freq": "twice daily"}, {**TWO, "d": "urn:x:other", "freq": "daily"}
    dose, because = _dose([bid], {TWO["d"]: "holds"})
    assert dose == {"value": 2.5, "unit": "mg", "frequency": "twice daily"}
    dose, because = _dose([bid, daily], {TWO["d"]: "holds", "urn:x:other": "holds"})
    assert dose is None and "give different doses" in because[0] and "2.5 mg twice daily" in because[0]


def test_a_weight_based_dose_carries_its_own_frequency():
    computed = {"value": "35", "unit": "mg", "perKg": "0.5", "perUnit": "mg/kg", "weight": "71.3", "capped": "false",
                "dtext": "0.5 mg/kg", "freq": "every 4 weeks"}
    because: list[str] = []
    dose = dose_of(ST, computed, {}, set(), because, [], {})
    assert dose == {"value": 35, "unit": "mg", "frequency": "every 4 weeks"}
