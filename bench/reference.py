"""Hand-written reference evaluator of the RLS iron guideline: the benchmark's "speed of light" baseline.

Plain Python over dicts, with the guideline's criteria, thresholds, precedence and doses hard-coded from
``ontology/guidelines/rls-iron/guideline.ttl`` (this file lives in ``bench/`` only and is never used by the
tool). It implements the semantics of ``queries/rules/*.rq`` so that the benchmark can check that the real
engine agrees with it, patient by patient, and compare speed.

Two separate steps, so evaluation can be timed alone:

* parsing: :func:`load_ndjson` (a FHIR Bulk Data directory) or :func:`patients_from_bundle` (a FHIR R4
  Bundle dict) -> ``{patient_id: patient}``. This does what the tool's loader does (FHIR mapping, its
  ingest notes, substance recognition and unit normalisation);
* evaluation: :func:`evaluate_patient` ``(patient, as_of) -> outcome``, what the rules and the report do.
  The outcome is in the vocabulary of ``tests/vignettes.py`` ``outcome_of()``: ``applicable``,
  ``recommended``, ``not_recommended``, ``undetermined`` (statement local names), ``orders`` (LOINC codes),
  ``warnings`` (codes), ``monitoring`` (local names), ``doses`` ``{recommendation: [value, unit] or None}``.

A patient is a dict::

    {"id": "pt0000001",
     "birth": "1968-04-12" or None,          # only a full date gives an age (as the loader)
     "notes": ["missing-value", ...],          # the loader's ingest-note codes (become warnings)
     "deceased": (True | False | None, deceasedDateTime lexical form or None),
     "conditions": [(frozenset(system|code tokens), (clinical status codes, ...), (verification status codes, ...),
                     onset lexical form or None, abatement lexical form or None), ...],
     "obs": [(measure, key, time, value, unit_problem, fasting, comparator, status, span_end, conditioned,
              noted), ...],
     "exp": [(start, end, classes, end_assumed, substances, possible), ...],
     "procs": [(frozenset(system|code tokens), status or None, start, end, imprecise), ...],
     "allergies": [(frozenset(substances named, or perhaps), (clinical status codes, ...),
                    (verification status codes, ...), onsetDateTime or None), ...]}

``obs``: ``measure`` one of ``ferritin``, ``tsat``, ``weight``, ``phosphate``; ``key`` the observation's
IRI (ties of the latest result go to the smallest); ``time`` the xsd:dateTime lexical form the loader maps
(or ``None``); ``value`` the value in the measure's canonical unit as a float (``None`` when there is none);
``unit_problem`` True when the unit could not be converted; ``fasting`` the v2-0916 code or ``None``;
``comparator`` ``"lt"``, ``"le"``, ``"ge"`` or ``"gt"`` for a censored value (``value`` is then the bound),
else ``None``; ``status`` the Observation's FHIR status (``None`` when absent); ``conditioned`` whether its
Specimen records a condition (``Specimen.condition``: the RLS guideline lists none as making a result
unreliable, so each is unassessed [93]); ``noted`` whether it carries an ``Observation.note`` [94]. Each component of an
Observation with a LOINC coding is an observation of its own (key ``<parent>/component/<i>-<code>``).
``exp``: start and end lexical forms (``None`` when absent), the substance classes recognised
(``iron``, ``iv``, ``oral``), whether the end is assumed, the substances recognised (``SUBSTANCES`` keys), and
those only a code terms.ttl lists as unverified names (``UNVERIFIED_CODES``: perhaps the product's, when no
substance is recognised; a product recognised as none gives ``unrecognised-product``).
An assumed end: a record completed or stopped, or of status unknown (a dispense without ``daysSupply``)
that gives no end ends by its ``meta.lastUpdated`` (not a dispense's, nor an unknown record's) when that lies
within 365 days after its start, else 365 days after it.

Semantics (rule files in brackets): a result dated after the as-of date (the calendar date as recorded, the
offset ignored) is excluded [10], unless timed in UTC and of the as-of date at UTC-12:00 (its local date not
recorded: ``imprecise-result-date``, no latest result of its measure) [10, 30]; a result with a value and no usable time is not used and leaves its measure
without a latest result (``undated-result``) [16, 30]; so does one dated without a day whose span reaches past
the as-of date, or reaches the latest instant of another result (``imprecise-result-date``) [10, 28, 30]; a value outside the plausible range (ferritin 0-100000 ng/mL, TSAT 0-100 %, weight 0.2-700 kg,
phosphate 0-100 mg/dL) is excluded [11]; an unconvertible unit is excluded [12]; ferritin or TSAT drawn
while an iron product was taken or less than 24 h after it is unreliable (one that ended exactly 24 h before
is fine), and so is one drawn on a product only a code listed as unverified names as iron [13]; the latest
usable result per measure is used [20, 30], unless a result after its instant (or a
date without a day's span end after it), not a future one, is implausible, in an unconvertible unit or has no
value: then none is the latest (``newer-result-unusable``; one at that very instant, or drawn on iron, is no
such result) [21, 30]; Kleene
logic over the criteria [40-53], a diagnosis true when a record of it is present on the as-of date (begun,
not abated, not inactive, not refuted or entered in error) and confirmed or unverified, unknown when only
unconfirmed, provisional or differential [39, 44]; ESRD is an ESRD diagnosis, a recorded dialysis
dependence or a dialysis procedure performed in the last 30 days (its standing read as rule 34 does) [34];
every iron recommendation needs a usable TSAT result (crit-tsat-measured); coverage by RLS [60]; a patient dead on the as-of date
(or deceased without a date) gets nothing but ``patient-deceased`` and the data warnings [15]; ESRD and children prevail over
the general algorithm, its not-indicated statements included [62]; the other applicable not-indicated
statements suppress matching recommendations (less their gkg:exceptStatement), unknown ones keep them
undetermined [65]; undetermined statements order the measures of their unknown leaves [80] or warn
``missing-data`` for unknown leaves no test decides (age, a diagnosis) [81]; FCM 15 mg/kg up to 1000 mg in adults >= 50 kg, 15 mg/kg per dose under 50 kg [82],
body weight ordered when missing [83]; monitoring only when something is recommended [84]; an IV iron
course that began before the last 3 months and reaches into them only by an assumed end leaves "IV iron
within 3 months" unknown [46]: no phosphate monitoring, ``monitoring-undecided`` instead [84]; morning and
fasting caveats on the latest results, ``draw-time-unknown`` instead of a morning judgement for a
time without a local hour (date only, no offset, UTC) [85]; ``statements-conflict`` when a not-indicated statement
suppresses a recommendation [86]; ``already-taking-recommended`` when a made recommendation is for a
substance (or class) of a product taken at the end of the as-of date (begun before it, and ending at or after
it or not at all; an assumed end too, worded "may be taking") [79]; ``allergy-to-recommended`` when one is for a substance
(or class) an allergy record names (or perhaps names), not inactive, resolved, refuted or entered in error nor
begun after the as-of date, or for a product of a class that contains the substance it names ("iron") [77]; ``taking-same-class`` when one is for a
substance while a record not of it (its end recorded or none) names another of a class they share [79]; a not-indicated statement not decided yet
that keeps no recommendation undetermined is undetermined itself, its tests ordered [71, 80];
``taking-not-indicated`` when one that applies names a substance taken on the as-of date or ended at most a
day before, unless a recommendation it excepts is made for it [89]; ``guideline-not-applicable`` [87].
Censored results ("<10") are results: plausibility and the latest result take the bound [11, 30, 31] (a
censored and an exact result of one number differ); a threshold is true when every value the result
allows meets it, false when none does, else unknown, and its measure is ordered [40, 80]; a censored
weight gives no dose: body weight is ordered with ``censored-weight`` [82, 83]; the FCM dose is rounded
down to a whole mg [82]. Observations registered, cancelled, entered in error or unknown are skipped; one
without a status is used (``missing-status``); a preliminary latest result that decides a threshold gives
``preliminary-result`` [88]; one from a specimen with a recorded condition, ``specimen-condition-unassessed``
[93]; one with notes, ``result-note-not-read`` [94]. A latest result older on the as-of date than its measure's result age limit
(terms.ttl gkg:ResultAgeLimit: ferritin and TSAT 365 days, body weight 90 days; age = the as-of date minus
the result's date as recorded, a result exactly that old is used) is not used: ``stale-result`` (not for a patient the guideline does not cover, nor one not evaluated [33]), its
criteria are unknown (the test is ordered) and no dose is computed from it (body weight is ordered)
[08, 32, 41, 83]; no draw caveat is given for it [85]; an older result it superseded is never judged.

When the guideline content or the rules change, change this file too: ``tests/test_bench_tools.py``
compares it with the engine on every FHIR vignette and on a generated cohort. Known approximation: UCUM
syntax of free-text units is judged from a table of known units (it only decides the ``unit-not-ucum``
note). ``python bench/reference.py DIR [--as-of DATE]`` loads an export and prints both speeds.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote

# --- codes and measures ---------------------------------------------------------------------------------

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
V2_0916 = "http://terminology.hl7.org/CodeSystem/v2-0916"
UNII = "http://fdasis.nlm.nih.gov"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
# each diagnosis criterion's value set as system|code tokens (terms.ttl: SNOMED CT and ICD-10-CM)
RLS = frozenset({f"{SNOMED}|32914008", f"{ICD10CM}|G25.81"})
ESRD = frozenset({f"{SNOMED}|46177005", f"{ICD10CM}|N18.6", f"{SNOMED}|236435004", f"{SNOMED}|714152005"})
DIALYSIS_DEPENDENCE = frozenset({f"{ICD10CM}|Z99.2", f"{SNOMED}|105502003"})
# the procedure criterion's value set (rls:vs-dialysis-procedure) and its performed-age limit in days [34]
DIALYSIS_PROCEDURE = frozenset({
    f"{SNOMED}|302497006", f"{SNOMED}|71192002", f"{SNOMED}|265764009",
    *(f"http://www.ama-assn.org/go/cpt|{c}" for c in ("90935", "90937", "90945", "90947")),
    *(f"http://www.cms.gov/Medicare/Coding/ICD10|{c}" for c in ("5A1D70Z", "5A1D80Z", "5A1D90Z", "3E1M39Z")),
})
DIALYSIS_RECENT_DAYS = 30
HF = frozenset({f"{SNOMED}|84114007"})


def _tokens(system: str, code: str) -> list[str]:
    """A coding's tokens: system|code, and an ICD-10(-CM) code without its dot also dotted after the
    third character (G2581 -> G25.81)."""
    out = [f"{system}|{code}"]
    if system in (ICD10CM, "http://hl7.org/fhir/sid/icd-10") and "." not in code and 3 < len(code) <= 7 \
            and code[0].isalpha() and code[1].isdigit():
        out.append(f"{system}|{code[:3]}.{code[3:]}")
    return out
ACTIVE = frozenset({"active", "recurrence", "relapse"})

FERRITIN, TSAT, WEIGHT, PHOSPHATE = "ferritin", "tsat", "weight", "phosphate"
MEASURE_OF_LOINC = {"2276-4": FERRITIN, "20567-4": FERRITIN, "2502-3": TSAT, "14801-5": TSAT,
                    "29463-7": WEIGHT, "2777-1": PHOSPHATE}
LOINC_OF = {FERRITIN: "2276-4", TSAT: "2502-3", WEIGHT: "29463-7", PHOSPHATE: "2777-1"}
CANONICAL = {FERRITIN: "ng/mL", TSAT: "%", WEIGHT: "kg", PHOSPHATE: "mg/dL"}
# The plausible ranges of terms.ttl (gkg:PlausibleRange): value < min or value > max is implausible.
PLAUSIBLE = {FERRITIN: (0.0, 100000.0), TSAT: (0.0, 100.0), WEIGHT: (0.2, 700.0), PHOSPHATE: (0.0, 100.0)}
# The result age limits of terms.ttl (gkg:ResultAgeLimit, gkg:maximumAgeDays): an older latest result is not
# used. Phosphate has none (no criterion or dose reads it).
MAX_AGE_DAYS = {FERRITIN: 365, TSAT: 365, WEIGHT: 90}
DRAW_MEASURES = (FERRITIN, TSAT)  # req-no-iron-24h, req-morning, req-fasting apply to these
FERRITIN_PMOL = Decimal("2.247")  # pmol/L / 2.247 = ng/mL
NO_IRON_HOURS = 24
IV_WINDOW_SECONDS = int(Decimal("91.3125") * 86400)  # 3 months = 3 x 30.4375 d
MORNING_BEFORE = 12

# --- unit conversion (UCUM scale to the canonical unit; molar ferritin through the graph's factor) --------


def _units() -> tuple[dict[str, dict[str, tuple[Decimal, bool]]], frozenset[str]]:
    """measure -> UCUM code -> (scale, through the pmol/L factor)."""
    mass = {"g": Decimal(1), "mg": Decimal("1E-3"), "ug": Decimal("1E-6"), "ng": Decimal("1E-9"),
            "pg": Decimal("1E-12")}
    mol = {"mol": Decimal(1), "mmol": Decimal("1E-3"), "umol": Decimal("1E-6"), "nmol": Decimal("1E-9"),
           "pmol": Decimal("1E-12"), "fmol": Decimal("1E-15")}
    volume = {"L": Decimal(1), "l": Decimal(1), "dL": Decimal("0.1"), "dl": Decimal("0.1"),
              "mL": Decimal("1E-3"), "ml": Decimal("1E-3"), "uL": Decimal("1E-6"), "ul": Decimal("1E-6")}
    table: dict[str, dict[str, tuple[Decimal, bool]]] = {m: {} for m in CANONICAL}
    for mu, mf in mass.items():
        for vu, vf in volume.items():
            g_per_l = mf / vf
            table[FERRITIN][f"{mu}/{vu}"] = (g_per_l / Decimal("1E-6"), False)
            table[PHOSPHATE][f"{mu}/{vu}"] = (g_per_l / Decimal("1E-2"), False)
    for mu, mf in mol.items():
        for vu, vf in volume.items():
            table[FERRITIN][f"{mu}/{vu}"] = ((mf / vf) / Decimal("1E-12"), True)
    table[TSAT].update({"%": (Decimal(1), False), "1": (Decimal(100), False), "10*-2": (Decimal(1), False)})
    table[WEIGHT].update({"kg": (Decimal(1), False), "g": (Decimal("1E-3"), False),
                          "mg": (Decimal("1E-6"), False), "[lb_av]": (Decimal("0.45359237"), False),
                          "[oz_av]": (Decimal("0.028349523125"), False)})
    known = {u for units in table.values() for u in units}
    known |= set(mass) | set(mol)
    known |= {"kg", "%", "1", "U/L", "U", "[iU]/L", "h", "min", "d", "a", "kg/m2", "cm", "m"}
    return table, frozenset(known)


UNITS, KNOWN_UCUM = _units()
_ANNOTATED_PERCENT = re.compile(r"%\{[^{}]*\}")


def is_ucum(text: str) -> bool:
    """Approximates the UCUM grammar check with the units this evaluator knows."""
    return text in KNOWN_UCUM or bool(_ANNOTATED_PERCENT.fullmatch(text))


def normalise(measure: str, value: Decimal, unit: str | None) -> tuple[float | None, bool]:
    """``(value in the canonical unit, unit_problem)`` with the loader's decimal rounding."""
    if unit is None:
        return None, True
    canonical = CANONICAL[measure]
    if unit == canonical:
        return float(value), False
    conv = UNITS[measure].get(unit)
    if conv is None and measure == TSAT and _ANNOTATED_PERCENT.fullmatch(unit):
        conv = (Decimal(1), False)
    if conv is None:
        return None, True
    scale, molar = conv
    result = value * scale
    if molar:
        result = result / FERRITIN_PMOL
    digits = len(value.as_tuple().digits)
    return float(Context(prec=max(6, digits + 2), rounding=ROUND_HALF_EVEN).create_decimal(result)), False


# --- substances -----------------------------------------------------------------------------------------

IRON, IV, ORAL = "iron", "iv", "oral"
SUBSTANCES = {  # substance -> (labels, classes)
    "ferric-carboxymaltose": (("ferric carboxymaltose", "Injectafer", "Ferinject", "FCM"), (IRON, IV)),
    "ferumoxytol": (("ferumoxytol", "Feraheme"), (IRON, IV)),
    "iron-dextran": (("iron dextran", "INFeD", "low molecular weight iron dextran", "LMW iron dextran"),
                     (IRON, IV)),
    "iron-sucrose": (("iron sucrose", "Venofer"), (IRON, IV)),
    "ferrous-sulfate": (("ferrous sulfate", "ferrous sulphate", "Slow Fe", "Slow-Fe", "SlowFe", "Fer-In-Sol",
                         "FeSO4", "ferrous sulf", "Fe sulfate 325 mg", "Fe sulfate 325mg"), (IRON, ORAL)),
    "ferrous-gluconate": (("ferrous gluconate", "Fergon"), (IRON, ORAL)),
    "ferrous-fumarate": (("ferrous fumarate", "Hemocyte"), (IRON, ORAL)),
    "ferrous-bisglycinate": (("ferrous bisglycinate", "ferrous bisglycinate chelate", "iron bisglycinate"),
                             (IRON, ORAL)),
    "polysaccharide-iron-complex": (("polysaccharide-iron complex", "polysaccharide iron complex",
                                     "polysaccharide iron", "iron polysaccharide complex", "iron polysaccharide",
                                     "iron-polysaccharide complex", "Niferex", "Nu-Iron", "Ferrex"), (IRON, ORAL)),
    "carbonyl-iron": (("carbonyl iron",), (IRON, ORAL)),
    "heme-iron-polypeptide": (("heme iron polypeptide", "haem iron polypeptide", "Proferrin"), (IRON, ORAL)),
    "iron-protein-succinylate": (("iron protein succinylate",), (IRON, ORAL)),
    "ferric-maltol": (("ferric maltol", "Accrufer", "Feraccru"), (IRON, ORAL)),
    "ferric-citrate": (("ferric citrate", "Auryxia"), (IRON, ORAL)),
    "multivitamin-with-iron": (("multivitamin with iron", "multivitamins with iron",
                                "multivitamin with minerals and iron", "vitamin with iron", "vitamins with iron",
                                "Poly-Vi-Sol with Iron", "Tri-Vi-Sol with Iron"), (IRON, ORAL)),
    "sodium-ferric-gluconate": (("sodium ferric gluconate complex", "sodium ferric gluconate", "ferric gluconate",
                                 "Ferrlecit"), (IRON, IV)),
    "ferric-derisomaltose": (("ferric derisomaltose", "iron isomaltoside", "iron isomaltoside 1000", "Monoferric",
                              "Monofer"), (IRON, IV)),
    "iron-salt-not-named": (("iron", "Fe"), (IRON,)),  # "Iron 65 mg tablet", "FE SULFATE": longer names win
    # ("FE SULFATE 325 MG TAB" is ferrous sulfate)
}
SUBSTANCE_CODES = {(UNII, "6897GXD6OE"): "ferric-carboxymaltose", (UNII, "95HR524N2M"): "iron-dextran"}
# codes terms.ttl lists only as unverified: a product named by one (and by no name) is perhaps that substance
UNVERIFIED_CODES = {("http://www.nlm.nih.gov/research/umls/rxnorm", "310325"): "ferrous-sulfate"}
_LABEL_OF = {
    " ".join(label.split()).casefold(): s for s, (labels, _) in SUBSTANCES.items() for label in labels
}
_SUBSTANCE_RE = re.compile(
    r"(?<!\w)(?:" + "|".join(r"\s+".join(map(re.escape, label.split()))
                              for label in sorted(_LABEL_OF, key=lambda s: (-len(s), s))) + r")(?!\w)",
    re.IGNORECASE,
)

def substances_of(codes: Iterable[tuple[Any, Any]], texts: Iterable[str]) -> frozenset[str]:
    found = {SUBSTANCE_CODES[c] for c in codes if c in SUBSTANCE_CODES}
    for text in texts:
        for hit in _SUBSTANCE_RE.finditer(text):
            found.add(_LABEL_OF[" ".join(hit.group(0).split()).casefold()])
    return frozenset(found)


def substance_classes(codes: Iterable[tuple[Any, Any]], texts: Iterable[str]) -> frozenset[str]:
    return frozenset(c for s in substances_of(codes, texts) for c in SUBSTANCES[s][1])


# --- FHIR -> patient dicts ------------------------------------------------------------------------------

_DATETIME = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
OBSERVATION_USED = ("final", "amended", "corrected", "preliminary")  # any other status is skipped
COMPARATORS = {"<": "lt", "<=": "le", ">=": "ge", ">": "gt"}
SKIPPED_STATUS = {"MedicationStatement": ("entered-in-error", "not-taken"),
                  "MedicationAdministration": ("entered-in-error", "not-done")}
MEDICATION = ("MedicationStatement", "MedicationAdministration", "MedicationRequest", "MedicationDispense")
MAPPED = ("Patient", "Observation", "Condition", "Procedure", "AllergyIntolerance", *MEDICATION)
# a substance every product of a class contains (terms.ttl gkg:containedSubstance): an allergy to it is one to each [77]
CONTAINED = {"iron-salt-not-named": IRON}
NO_KNOWN_ALLERGY = frozenset({"716186003", "409137002", "428607008", "429625007"})  # SNOMED CT [fhirallergy]
EVENT_STATUS = ("preparation", "in-progress", "not-done", "on-hold", "stopped", "completed", "entered-in-error",
                "unknown")  # FHIR R4 Procedure.status
# the code systems the guideline's diagnoses are coded in: a Condition coded in none is never matched
DIAGNOSIS_SYSTEMS = frozenset({SNOMED, ICD10CM})
# a request counts as exposure when in force and an order; a dispense when handed over
REQUEST_INTENTS = ("order", "original-order", "reflex-order", "filler-order", "instance-order")
REQUEST_STATUSES = ("active", "on-hold", "completed", "stopped", "unknown")  # unknown: in force or over
UCUM_DAYS = {"s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1, "wk": 7, "mo": 30.4375, "a": 365.25,
             "day": 1, "days": 1, "week": 7, "weeks": 7, "month": 30.4375, "months": 30.4375,
             "year": 365.25, "years": 365.25, "hour": 1 / 24, "hours": 1 / 24}
REFERENCED = ("Specimen", "Medication")


def fhir_datetime(text: Any) -> tuple[str, bool] | None:
    """``(xsd:dateTime lexical, has a day)`` of a FHIR date/dateTime, ``None`` when invalid."""
    m = _DATETIME.fullmatch(text) if isinstance(text, str) else None
    if not m:
        return None
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    try:
        datetime(
            int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0), int(second or 0)
        )
    except ValueError:
        return None
    if zone and zone != "Z" and (int(zone[1:3]) > 14 or int(zone[4:]) > 59):
        return None
    lexical = f"{year}-{month or '01'}-{day or '01'}T{hour or '00'}:{minute or '00'}:{second or '00'}"
    return lexical + (fraction or "") + (zone or ""), day is not None


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _codings(concept: Any) -> Iterable[tuple[Any, Any, Any]]:
    if isinstance(concept, dict):
        for c in concept.get("coding") or []:
            if isinstance(c, dict):
                system, code = c.get("system"), c.get("code")  # trimmed, as the loader reads them
                yield (system.strip() if isinstance(system, str) else system,
                       code.strip() if isinstance(code, str) else code, c.get("display"))


def _ref_key(ref: Any) -> tuple[str, str] | None:
    target = ref.get("reference") if isinstance(ref, dict) else None
    if not isinstance(target, str) or not target or target.startswith("#"):
        return None
    parts = target.split("/_history/")[0].rstrip("/").split("/")
    return (parts[-2], parts[-1]) if len(parts) >= 2 else None


def _new_patient(res: dict, pid: str) -> dict:
    notes: list[str] = []
    birth = res.get("birthDate")
    ok = None
    if birth is not None:
        if isinstance(birth, str) and _DATE.fullmatch(birth) and fhir_datetime(birth):
            ok = birth
        elif fhir_datetime(birth):
            notes.append("imprecise-birthdate")
        else:
            notes.append("invalid-birthdate")
    flag = res.get("deceasedBoolean")
    died = res.get("deceasedDateTime")
    deceased = (flag if isinstance(flag, bool) else None, None if died is None else _time(died, notes))
    return {"id": pid, "birth": ok, "notes": notes, "deceased": deceased, "conditions": [], "obs": [],
            "exp": [], "procs": [], "allergies": []}


def _time(value: Any, notes: list[str]) -> str | None:
    parsed = fhir_datetime(value)
    if parsed is None:
        notes.append("invalid-time")
        return None
    if not parsed[1]:
        notes.append("imprecise-time")
    return parsed[0]


def _quantity(q: dict, notes: list[str]) -> tuple[Decimal | None, str | None]:
    """The loader's reading of a Quantity: (value, UCUM unit) with its notes."""
    value = q.get("value")
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
            notes.append("value-as-string")
        except InvalidOperation:
            pass
    elif isinstance(value, int) and not isinstance(value, bool):
        value = Decimal(value)
    if not isinstance(value, Decimal) or not value.is_finite() or abs(value.adjusted()) > 40:
        notes.append("invalid-value")
        return None, None
    code, text = q.get("code"), q.get("unit")
    if q.get("system") == UCUM and isinstance(code, str) and code:
        return value, code
    if not (isinstance(text, str) and text.strip()):
        notes.append("missing-unit")
        return value, None
    if is_ucum(text.strip()):
        return value, text.strip()
    notes.append("unit-not-ucum")
    return value, None


def _loinc(concept: Any) -> list[str]:
    return sorted({c for s, c, _ in _codings(concept) if s == LOINC and isinstance(c, str) and c})


def _unread(res: dict, kind: str) -> bool:
    """An Observation with LOINC codings, none of a measure the guideline reads (a Procedure, a Condition, none
    of a code a criterion asks for): the loader counts it in one ignored-resource note of its patient instead
    of mapping it (patients.relevance)."""
    if kind == "Procedure":  # mapped only when coded as a procedure a criterion asks for
        tokens = _concept_tokens(res.get("code"))
        return bool(tokens) and not set(tokens) & DIALYSIS_PROCEDURE
    if kind == "Condition":  # coded in a diagnosis system, but with no code a diagnosis criterion accepts
        tokens = set(_concept_tokens(res.get("code")))
        return (bool({t.split("|", 1)[0] for t in tokens} & DIAGNOSIS_SYSTEMS)
                and not tokens & frozenset().union(*DIAGNOSES.values()))
    if kind != "Observation":
        return False
    codes = _loinc(res.get("code")) + [
        c for comp in res.get("component") or [] if isinstance(comp, dict) for c in _loinc(comp.get("code"))]
    return bool(codes) and not set(codes) & MEASURE_OF_LOINC.keys()


def _observation(res: dict, notes: list[str], specimen: dict | None, iri_key: str) -> list[tuple]:
    """The observation tuples (one per measure group; none for measures the guideline does not define), of
    the Observation and of each of its components with a LOINC coding."""
    loinc = _loinc

    loincs = loinc(res.get("code"))
    components = [c if isinstance(c, dict) else {} for c in res.get("component") or []]
    coded = [(i, c, codes) for i, c in enumerate(components) if (codes := loinc(c.get("code")))]
    if not loincs and not coded:
        notes.append("unmapped-code")
        return []
    if len(coded) < len(components):
        notes.append("unmapped-code")
    if not set(loincs) & MEASURE_OF_LOINC.keys():  # facts of measures the guideline does not read: not mapped
        loincs = []
    coded = [(i, c, codes) for i, c, codes in coded if set(codes) & MEASURE_OF_LOINC.keys()]
    if not loincs and not coded:
        return []
    status = res.get("status")
    if status is None:
        notes.append("missing-status")
    collection = _dict(_dict(specimen).get("collection"))
    when = None
    for value, period in ((res.get("effectiveDateTime"), None), (_dict(res.get("effectivePeriod")).get("start"),
                          res.get("effectivePeriod")), (res.get("effectiveInstant"), None),
                          (collection.get("collectedDateTime"), None),
                          (_dict(collection.get("collectedPeriod")).get("start"), collection.get("collectedPeriod"))):
        if value is not None and period is not None and _inverted(period):  # per-1 broken: undated
            notes.append("invalid-time")
            span_end = None
            break
        if value is not None:
            when = _time(value, notes)
            span_end = _span_end(value) if when is not None else None
            break
    else:
        notes.append("missing-time")
        span_end = None
    fasting = None
    for system, code, _ in _codings(collection.get("fastingStatusCodeableConcept")):
        if system == V2_0916 and code == "NF":
            fasting = "NF"
    # Specimen.condition with a code or a word (the RLS guideline lists none: each is unassessed [93]); notes [94]
    conditioned = any(_concept_tokens(c) or any(isinstance(t, str) and t.strip() for t in
                                                [c.get("text"), *(d for _, _, d in _codings(c))])
                      for c in _dict(specimen).get("condition") or [] if isinstance(c, dict))
    noted = any(isinstance(n, dict) for n in res.get("note") or [])
    extra = (conditioned, noted)
    out = []
    facts = [(iri_key, loincs, res, bool(components))] if loincs else []
    facts += [(f"{iri_key}/component/{i}-{quote(codes[0], safe='-._~')}", codes, c, False) for i, c, codes in coded]
    for key, codes, holder, panel in facts:
        q = _dict(holder.get("valueQuantity"))
        value: Decimal | None = None
        unit = comparator = None
        given = [k for k in holder if k.startswith("value") and holder[k] is not None]
        if len(given) > 1 or (given and holder.get("dataAbsentReason") is not None):  # obs-6, or two value[x]
            notes.append("invalid-value")
        elif q.get("comparator") is not None and q.get("comparator") not in COMPARATORS:
            notes.append("censored-value")
        elif q:
            value, unit = _quantity(q, notes)
            comparator = COMPARATORS.get(q.get("comparator")) if value is not None else None
        elif any(k.startswith("value") for k in holder):
            notes.append("unsupported-value")
        elif not panel:
            notes.append("missing-value")
        groups = sorted({MEASURE_OF_LOINC[c] for c in codes if c in MEASURE_OF_LOINC})
        if not groups:
            continue
        if value is None:
            out += [(g, key, when, None, False, fasting, None, status, span_end, *extra) for g in groups]
        elif len(groups) > 1:  # one value cannot be in two canonical units
            out += [(g, key, when, None, True, fasting, None, status, span_end, *extra) for g in groups]
        else:
            v, problem = normalise(groups[0], value, unit)
            out.append((groups[0], key, when, v, problem, fasting, comparator, status, span_end, *extra))
    return out


def _inverted(period: Any) -> bool:
    """A FHIR Period that ends before it starts [periods.ends_before]: as instants when both bounds have a time,
    by the days written when both are dates (a date, month or year ends with its last day), and a date beside
    an instant only when it is in every zone: the end's last day before the start's day at UTC-12:00, the
    start's first day after the end's day at UTC+14:00."""
    period = _dict(period)
    start, end = period.get("start"), period.get("end")
    if fhir_datetime(start) is None or fhir_datetime(end) is None:
        return False
    if "T" in start and "T" in end:
        return seconds(fhir_datetime(end)[0]) < seconds(fhir_datetime(start)[0])
    last = (_span_end(end) or fhir_datetime(end)[0])[:10]  # a year or month: its last day
    first = fhir_datetime(start)[0][:10]
    if "T" in start:  # the start's day at UTC-12:00 (seconds: its instant; 43200 s = 12 h)
        first = date.fromordinal(_EPOCH_ORD + (seconds(fhir_datetime(start)[0]) - 43200) // 86400).isoformat()
    if "T" in end:  # the end's day at UTC+14:00
        last = date.fromordinal(_EPOCH_ORD + (seconds(fhir_datetime(end)[0]) + 50400) // 86400).isoformat()
    return last < first


def _span_end(text: Any) -> str | None:
    """The last instant of a FHIR date without a day ("2026-01": 2026-01-31T23:59:59), else None [10, 28]."""
    parsed = fhir_datetime(text)
    if parsed is None or parsed[1]:
        return None
    year, _, month = text[:7].partition("-")
    y, m = int(year), int(month or 12)
    after = date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)  # the first day after the span
    return f"{date.fromordinal(after.toordinal() - 1).isoformat()}T23:59:59"


def _days(q: Any) -> float | None:
    q = _dict(q)
    value = q.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)) or value < 0:
        return None
    for unit in (q.get("code"), q.get("unit")):
        if isinstance(unit, str) and unit.strip().lower() in UCUM_DAYS:
            return float(value) * UCUM_DAYS[unit.strip().lower()]
    return None


def _after(start: str, days: float | None) -> str | None:
    from datetime import datetime, timedelta

    return None if days is None else (datetime.fromisoformat(start) + timedelta(days=days)).isoformat()


def _prescribed(res: dict, notes: list[str]) -> tuple[str | None, str | None]:
    """(start, end) of a MedicationRequest's or MedicationDispense's exposure; an unknown end is ongoing."""
    if res["resourceType"] == "MedicationDispense":
        when = res.get("whenHandedOver", res.get("whenPrepared"))
        start = _time(when, notes) if when is not None else None
        end = _after(start, _days(res.get("daysSupply"))) if start else None
    else:
        repeats = [_dict(_dict(d.get("timing")).get("repeat")) for d in res.get("dosageInstruction") or []
                   if isinstance(d, dict)]
        bounds = [_dict(r.get("boundsPeriod")) for r in repeats]
        starts = sorted(s for b in bounds if "start" in b and (s := _time(b["start"], notes)))
        ends = sorted(e for b in bounds if "end" in b and (e := _time(b["end"], notes)))
        supply = _dict(res.get("dispenseRequest"))
        when = res.get("authoredOn", _dict(supply.get("validityPeriod")).get("start"))
        start = starts[0] if starts else (_time(when, notes) if when is not None else None)
        durations = [d for r in repeats if (d := _days(r.get("boundsDuration"))) is not None]
        n = supply.get("numberOfRepeatsAllowed")
        times = 1 + (int(n) if isinstance(n, (int, Decimal)) and not isinstance(n, bool) else 0)
        days = max(durations) if durations else (
            _days(supply.get("expectedSupplyDuration")) * times if _days(supply.get("expectedSupplyDuration"))
            is not None else None)
        end = ends[-1] if ends else (_after(start, days) if start else None)
    if start is not None and end is None:
        notes.append("exposure-end-unknown")
    return start, end


def _whole(value: Any, lexical: str | None) -> str | None:
    """An end given as a date (no time) covers that day: the next day's start."""
    from datetime import datetime, timedelta

    if lexical is None or not isinstance(value, str) or len(value) != 10:
        return lexical
    return (datetime.fromisoformat(lexical) + timedelta(days=1)).isoformat()


def _assumed_end(res: dict, start: str) -> str | None:
    """The end of a finished record that gives none [fhirmeds]: its meta.lastUpdated when within 365 days
    after its start (not a dispense's: it dates the hand-over; nor a record's of status unknown: it did not
    say it was over then), else 365 days after its start."""
    limit = _after(start, 365.0)
    stamp = _dict(res.get("meta")).get("lastUpdated")
    last = _time(stamp, []) if isinstance(stamp, str) and "T" in stamp else None
    if res["resourceType"] != "MedicationDispense" and res.get("status") != "unknown" and last is not None \
            and seconds(start) <= seconds(last) <= seconds(limit):
        return last
    return limit


def _exposure(res: dict, notes: list[str], medication: dict | None) -> tuple | None:
    start = end = None
    periods = [res.get("effectivePeriod")] if "effectiveDateTime" not in res else []
    periods += [_dict(_dict(d.get("timing")).get("repeat")).get("boundsPeriod") for d in res.get("dosageInstruction")
                or [] if isinstance(d, dict)] if res["resourceType"] == "MedicationRequest" else []
    if res["resourceType"] == "MedicationRequest":  # any period of it: its time unknown [fhirmeds.request_period]
        periods.append(_dict(res.get("dispenseRequest")).get("validityPeriod"))
    inverted = any(_inverted(period) for period in periods if period is not None)
    if inverted:  # per-1 broken: its time unknown, said instead of missing-time
        notes.append("invalid-time")
    elif res["resourceType"] in ("MedicationRequest", "MedicationDispense"):
        start, end = _prescribed(res, notes)
    elif "effectiveDateTime" in res:
        start = end = _time(res["effectiveDateTime"], notes)
        end = _whole(res["effectiveDateTime"], end)
    else:
        period = _dict(res.get("effectivePeriod"))
        if "start" in period:
            start = _time(period["start"], notes)
        if "end" in period:
            end = _whole(period["end"], _time(period["end"], notes))
    if start is None and not inverted:
        notes.append("missing-time")
    # a dispense is always completed here; unknown (a request, statement or administration): perhaps over
    finished = res.get("status") in ("completed", "stopped", "unknown")
    assumed = start is not None and end is None and finished
    if assumed:
        end = _assumed_end(res, start)
    concepts = [res.get("medicationCodeableConcept")]
    if medication is not None:
        concepts.append(medication.get("code"))
        ingredients = medication.get("ingredient") or []
        concepts += [i.get("itemCodeableConcept") for i in ingredients if isinstance(i, dict)]
    texts = [c.get("text") if isinstance(c, dict) else None for c in concepts]
    texts += [d for c in concepts for _, _, d in _codings(c)]
    texts.append(_dict(res.get("medicationReference")).get("display"))
    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    codes = [(s, c) for concept in concepts for s, c, _ in _codings(concept)]
    coded = [c for _, c in codes if isinstance(c, str) and c]  # a code alone names a product [medmatch.product]
    if not texts and not coded:
        notes.append("missing-product")
    if res["resourceType"] == "MedicationAdministration":
        dose = _dict(_dict(res.get("dosage")).get("dose"))
        if dose:
            _quantity(dose, notes)
    substances = substances_of(codes, texts)
    classes = frozenset(c for s in substances for c in SUBSTANCES[s][1])
    # named only by a code listed as unverified: perhaps that substance (gkg:possibleSubstance)
    possible = frozenset() if substances else frozenset(UNVERIFIED_CODES[c] for c in codes if c in UNVERIFIED_CODES)
    if not substances and (texts or coded):
        notes.append("unrecognised-product")  # one note per patient: warnings are a set
    if assumed and classes and res["resourceType"] not in ("MedicationRequest", "MedicationDispense"):
        notes.append("exposure-end-unknown")  # (a request's or a dispense's: noted above)
    return start, end, classes, assumed, substances, possible


def resource_iri(kind: str, rid: str) -> str:
    return f"urn:guidelinekg:{quote(kind, safe='')}/{quote(rid, safe='-._~')}"


def _add(patient: dict, res: dict, kind: str, resolve, key: str | tuple[str, str]) -> None:
    """Map one resource of ``patient`` (subject already resolved)."""
    notes = patient["notes"]
    if kind == "Procedure":
        _procedure(patient, res)
    elif kind == "Observation":
        patient["obs"] += _observation(res, notes, resolve(res.get("specimen"), res), resource_iri(*key))
    elif kind == "Condition":
        codes = frozenset(_concept_tokens(res.get("code")))
        if not codes or not {t.split("|", 1)[0] for t in codes} & DIAGNOSIS_SYSTEMS:
            notes.append("uncoded-condition")  # never matched as a diagnosis: said so
        if not codes:
            return
        statuses = tuple(c for _, c, _ in _codings(res.get("clinicalStatus")) if isinstance(c, str) and c)
        verified = tuple(c for _, c, _ in _codings(res.get("verificationStatus")) if isinstance(c, str) and c)
        times: dict[str, list[str]] = {"onset": [], "abatement": []}
        for what, value in (("onset", res.get("onsetDateTime")),
                            ("onset", _dict(res.get("onsetPeriod")).get("start")),
                            ("abatement", res.get("abatementDateTime")),
                            ("abatement", _dict(res.get("abatementPeriod")).get("end"))):
            if value is not None and (lexical := _time(value, notes)) is not None:
                times[what].append(lexical)
        if any(res.get(w + x) is not None for w in ("onset", "abatement") for x in ("Age", "Range", "String")):
            notes.append("unsupported-time")
        patient["conditions"].append(
            (codes, statuses, verified, tuple(times["onset"]), tuple(times["abatement"])))
    elif kind == "AllergyIntolerance":
        _allergy(patient, res)
    else:
        patient["exp"].append(_exposure(res, notes, resolve(res.get("medicationReference"), res)))


def _allergy(patient: dict, res: dict) -> None:
    """An AllergyIntolerance: the substances it names (by name or code; an unverified code: perhaps), none for a
    "no known allergy" code; one naming none is counted in ``ignored-resource``. Kept with its statuses and
    onset, which say whether it is over on the as-of date [39] (its recordedDate and spans are not mirrored)."""
    concepts = [res.get("code")] + [r.get("substance") for r in res.get("reaction") or [] if isinstance(r, dict)]
    texts = [c.get("text") if isinstance(c, dict) else None for c in concepts]
    texts = [x for x in texts + [d for c in concepts for _, _, d in _codings(c)] if isinstance(x, str) and x.strip()]
    codes = [(s, c) for concept in concepts for s, c, _ in _codings(concept) if isinstance(c, str) and c]
    none = any(s == SNOMED and c in NO_KNOWN_ALLERGY for s, c, _ in _codings(res.get("code")))
    named = frozenset() if none else substances_of(codes, texts)
    named |= frozenset() if none else frozenset(UNVERIFIED_CODES[c] for c in codes if c in UNVERIFIED_CODES)
    if not named:
        patient["notes"].append("ignored-resource")
        return
    statuses = {c for _, c, _ in _codings(res.get("clinicalStatus")) if isinstance(c, str)}
    verified = {c for _, c, _ in _codings(res.get("verificationStatus")) if isinstance(c, str)}
    onset = res.get("onsetDateTime") if isinstance(res.get("onsetDateTime"), str) else None
    patient["allergies"].append((named, tuple(sorted(statuses)), tuple(sorted(verified)), onset))


def _concept_tokens(concept: Any) -> list[str]:
    return sorted({token for s, c, _ in _codings(concept)
                   if isinstance(s, str) and s and isinstance(c, str) and c for token in _tokens(s, c)})


def _bound(value: Any, last: bool) -> str | None:
    """The first (or ``last``) instant a FHIR dateTime can denote: a time of day is itself; a date, month or
    year its span's first or last second ("2026-02-10" as an end: 2026-02-10T23:59:59) [fhirclinical._bound]."""
    found = fhir_datetime(value)
    if found is None:
        return None
    if not last or "T" in value:
        return found[0]
    last_day = _span_end(value)  # a month or a year: its last second
    return last_day if last_day else f"{value}T23:59:59"


def _procedure(patient: dict, res: dict) -> None:
    """A Procedure as ``(tokens, status, start, end, imprecise)`` [34]: a performedDateTime is both start and
    end, a period's start and end each; a time without a day is a span (start: its first instant, end: its
    last) and marks the record imprecise."""
    notes = patient["notes"]
    tokens = frozenset(_concept_tokens(res.get("code")))
    if not tokens:
        notes.append("unmapped-code")
        return
    status = res.get("status")
    if status not in EVENT_STATUS:
        if status is not None:
            notes.append("invalid-status")
        status = None
    period = _dict(res.get("performedPeriod"))
    times = [(w, v) for w, v in (("start", res.get("performedDateTime")), ("end", res.get("performedDateTime")),
                                 ("start", period.get("start")), ("end", period.get("end"))) if v is not None]
    start = end = None
    imprecise = False
    if res.get("performedDateTime") is not None and res.get("performedPeriod") is not None:
        notes.append("invalid-time")
    else:
        bounds = {w: _bound(v, last=w == "end") for w, v in times}
        if _inverted(period):  # per-1, as a medication record's
            notes.append("invalid-time")
        else:
            for w, v in times:
                _time(v, notes)  # its notes (invalid, imprecise)
            start, end = bounds.get("start"), bounds.get("end")
            imprecise = any(not parsed[1] for _, v in times if (parsed := fhir_datetime(v)))
    for element in ("performedString", "performedAge", "performedRange"):
        if res.get(element) is not None:
            notes.append("unsupported-time")
    patient["procs"].append((tokens, status, start, end, imprecise))


def _skipped(res: dict, kind: str) -> bool:
    """Conditions are never skipped: their verification status is a fact the rules judge [39]."""
    if kind == "Observation":  # an Observation without a status is used (missing-status)
        return res.get("status") is not None and res.get("status") not in OBSERVATION_USED
    if kind == "MedicationRequest":
        return (res.get("doNotPerform") is True or res.get("intent") not in REQUEST_INTENTS
                or res.get("status") not in REQUEST_STATUSES)
    if kind == "MedicationDispense":
        return res.get("status") != "completed"
    return res.get("status") in SKIPPED_STATUS.get(kind, ())


def _json_hash(obj: Any) -> str:
    import hashlib

    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def patients_from_bundle(doc: dict) -> dict[str, dict]:
    """A FHIR R4 Bundle (or one resource), parsed with ``json.loads(parse_float=Decimal)``, as patient
    dicts keyed by Patient id, with the loader's notes (notes about no patient go to every patient)."""
    shared: list[str] = []
    if doc.get("resourceType") != "Bundle":
        entries = [(None, doc)]
    else:
        entries = [(e.get("fullUrl"), e.get("resource")) if isinstance(e, dict) else (None, None)
                   for e in doc.get("entry") or []]
    chosen: dict[tuple[str, str], dict] = {}
    by_url: dict[str, tuple[str, str]] = {}
    for url, res in entries:
        if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
            shared.append("invalid-entry")
            continue
        rid = res.get("id")
        key = (res["resourceType"], rid if isinstance(rid, str) and rid else _json_hash(res))
        if key in chosen and _json_hash(chosen[key]) != _json_hash(res):
            shared.append("duplicate-resource")
            res = min(res, chosen[key], key=_json_hash)
        chosen[key] = res
        if isinstance(url, str):
            by_url[url] = key

    def resolve(ref: Any, context: dict) -> dict | None:
        target = ref.get("reference") if isinstance(ref, dict) else None
        if not isinstance(target, str) or not target:
            return None
        if target.startswith("#"):
            for r in context.get("contained") or []:
                if isinstance(r, dict) and r.get("id") == target[1:]:
                    return r
            return None
        if target in by_url:
            return chosen[by_url[target]]
        k = _ref_key(ref)
        return chosen.get(k) if k else None

    patients = {
        key[1]: _new_patient(res, key[1]) for key, res in sorted(chosen.items()) if key[0] == "Patient"
    }
    ignored = set()
    for key, res in sorted(chosen.items()):
        kind = key[0]
        if kind not in MAPPED:
            if kind not in REFERENCED:
                ignored.add(kind)
            continue
        if kind == "Patient":
            continue
        who = "patient" if kind == "AllergyIntolerance" else "subject"
        target = resolve(res.get(who), res)
        if _unread(res, kind) and target is not None and target.get("resourceType") == "Patient":
            tid = target.get("id")
            patients[tid if isinstance(tid, str) and tid else _json_hash(target)]["notes"].append("ignored-resource")
            continue
        if _skipped(res, kind):
            shared.append("skipped-status")
            continue
        subject = _dict(res.get(who)).get("reference")
        if target is None or target.get("resourceType") != "Patient":
            shared.append("missing-subject" if not subject else
                          "unknown-patient" if target is None else "subject-not-patient")
            continue
        tid = target.get("id")
        pid = tid if isinstance(tid, str) and tid else _json_hash(target)
        _add(patients[pid], res, kind, resolve, key)
    if ignored:
        shared.append("ignored-resource")
    for p in patients.values():
        p["notes"] = sorted(set(p["notes"]) | set(shared))
    return patients


def load_ndjson(directory: str | Path, stats: dict | None = None) -> dict[str, dict]:
    """Read a Bulk Data export directory (``<Type>.ndjson``) into patient dicts keyed by Patient id.

    Bad lines are dropped and counted in ``stats`` (when given): ``malformed`` (not a JSON object with a
    resourceType), ``no-subject``, ``unknown-patient`` (the subject is not a Patient of the export);
    ``skipped`` counts resources the loader skips for their status (a ``skipped-status`` note of the
    patient). As in one Bundle per patient, an Observation finds only Specimens of its own patient.
    """
    d = Path(directory)
    counts = defaultdict(int)

    def read(kind: str):
        path = d / f"{kind}.ndjson"
        if not path.exists():
            return
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    res = json.loads(line, parse_float=Decimal)
                except ValueError:
                    counts["malformed"] += 1
                    continue
                if not isinstance(res, dict) or res.get("resourceType") != kind:
                    counts["malformed"] += 1
                    continue
                yield res

    patients: dict[str, dict] = {}
    for res in read("Patient"):
        rid = res.get("id")
        if isinstance(rid, str) and rid:
            patients[rid] = _new_patient(res, rid)
        else:
            counts["malformed"] += 1

    def owner(res: dict) -> str | None:
        """The id of the cohort patient the resource is about, or None (counted)."""
        k = _ref_key(res.get("subject"))
        if k is None:
            counts["no-subject"] += 1
            return None
        if k[0] != "Patient" or k[1] not in patients:
            counts["unknown-patient"] += 1
            return None
        return k[1]

    # a patient's specimens only (as in a per-patient Bundle); Medications have no subject
    specimens = {(pid, res["id"]): res for res in read("Specimen")
                 if (pid := owner(res)) is not None and isinstance(res.get("id"), str)}
    medications = {res["id"]: res for res in read("Medication") if isinstance(res.get("id"), str)}
    current = ""

    def resolve(ref: Any, context: dict) -> dict | None:
        k = _ref_key(ref)
        if k is None:
            return None
        if k[0] == "Specimen":
            return specimens.get((current, k[1]))
        return medications.get(k[1]) if k[0] == "Medication" else None

    for kind in ("Condition", "Observation", "Procedure", *MEDICATION):
        for res in read(kind):
            current = owner(res)
            if current is None:
                continue
            if _unread(res, kind):
                patients[current]["notes"].append("ignored-resource")
                continue
            if _skipped(res, kind):
                counts["skipped"] += 1
                patients[current]["notes"].append("skipped-status")
                continue
            rid = res.get("id")
            _add(patients[current], res, kind, resolve,
                 (kind, rid if isinstance(rid, str) and rid else _json_hash(res)))
    for p in patients.values():
        p["notes"] = sorted(set(p["notes"]))
    if stats is not None:
        stats.update(counts)
    return patients


# --- the guideline, hand-coded --------------------------------------------------------------------------

T, F, U = "T", "F", "U"
LAB = {  # criterion -> (measure, comparator, threshold)
    "crit-ferritin-le-75": (FERRITIN, "le", 75.0), "crit-tsat-lt-20": (TSAT, "lt", 20.0),
    "crit-ferritin-gt-75": (FERRITIN, "gt", 75.0), "crit-ferritin-le-100": (FERRITIN, "le", 100.0),
    "crit-ferritin-gt-100": (FERRITIN, "gt", 100.0), "crit-ferritin-lt-200": (FERRITIN, "lt", 200.0),
    "crit-ferritin-lt-50": (FERRITIN, "lt", 50.0), "crit-ferritin-lt-100": (FERRITIN, "lt", 100.0),
    "crit-ferritin-ge-100": (FERRITIN, "ge", 100.0), "crit-ferritin-le-300": (FERRITIN, "le", 300.0),
    "crit-weight-ge-50": (WEIGHT, "ge", 50.0), "crit-weight-lt-50": (WEIGHT, "lt", 50.0),
    # "TSAT measured": any usable result, censored too (rls:crit-tsat-measured)
    "crit-tsat-ge-0": (TSAT, "ge", 0.0), "crit-tsat-le-100": (TSAT, "le", 100.0),
}
COMPOSITE = {  # criterion -> (kind, members), members before the criteria that use them
    # ESRD or dialysis: a diagnosis, a recorded dialysis dependence, or a dialysis in the last 30 days
    "crit-esrd": ("any", ("crit-esrd-dx", "crit-dialysis-dependence", "crit-dialysis-recent")),
    "crit-not-esrd": ("not", ("crit-esrd",)),
    "crit-adult-not-esrd": ("all", ("crit-adult", "crit-not-esrd")),
    "crit-tsat-measured": ("any", ("crit-tsat-ge-0", "crit-tsat-le-100")),
    "crit-iron-deficient": ("any", ("crit-ferritin-le-75", "crit-tsat-lt-20")),
    "crit-band-low": ("all", ("crit-iron-deficient", "crit-tsat-measured")),
    "crit-ferritin-75-100": ("all", ("crit-ferritin-gt-75", "crit-ferritin-le-100")),
    "crit-band-mid": ("all", ("crit-tsat-measured", "crit-ferritin-75-100")),
    "crit-esrd-iron-sucrose": ("all", ("crit-esrd", "crit-ferritin-lt-200", "crit-tsat-lt-20")),
    "crit-pediatric-iron": ("all", ("crit-child", "crit-ferritin-lt-50", "crit-tsat-measured")),
    "crit-hf-ferritin-100-300-tsat": ("all", ("crit-ferritin-ge-100", "crit-ferritin-le-300",
                                              "crit-tsat-lt-20")),
    "crit-hf-iron-status": ("any", ("crit-ferritin-lt-100", "crit-hf-ferritin-100-300-tsat")),
    "crit-hf-maintenance": ("all", ("crit-hf", "crit-hf-iron-status", "crit-tsat-measured")),
    "crit-adult-weight-ge-50": ("all", ("crit-adult", "crit-weight-ge-50")),
}
AGE = ("crit-child", "crit-adult")


def _leaves(c: str) -> list[str]:
    if c in COMPOSITE:
        return [c, *(x for m in COMPOSITE[c][1] for x in _leaves(m))]
    return [c]


DIAGNOSES = {"crit-rls": RLS, "crit-esrd-dx": ESRD, "crit-dialysis-dependence": DIALYSIS_DEPENDENCE,
             "crit-hf": HF}
PROCEDURES = {"crit-dialysis-recent": (DIALYSIS_PROCEDURE, DIALYSIS_RECENT_DAYS)}  # codes, age limit [34]
LAB_UNDER = {c: tuple(sorted({LAB[x][0] for x in _leaves(c) if x in LAB}))
             for c in [*LAB, *COMPOSITE, *AGE, *DIAGNOSES, *PROCEDURES]}
# the unknown leaves no test decides (age, a diagnosis recorded only as unconfirmed, a procedure that cannot
# be placed) [81]
AGE_UNDER = {c: tuple(x for x in _leaves(c) if x in AGE or x in DIAGNOSES or x in PROCEDURES) for c in LAB_UNDER}

BAND_LOW = "crit-band-low"
# recommendation -> (applicability, dose); dose "weight" = FCM 15 mg/kg: up to 1000 mg for adults >= 50 kg,
# per dose (no maximum) under 50 kg
RECOMMENDATIONS = {
    "rec-fcm": (BAND_LOW, "weight"),
    "rec-oral-ferrous-sulfate": (BAND_LOW, (65, "mg")),
    "rec-lmw-iron-dextran": (BAND_LOW, None),
    "rec-ferumoxytol": (BAND_LOW, None),
    "rec-iv-only-75-100": ("crit-band-mid", None),
    "rec-fcm-75-100": ("crit-band-mid", "weight"),
    "rec-esrd-iron-sucrose": ("crit-esrd-iron-sucrose", None),
    "rec-pediatric-iron": ("crit-pediatric-iron", None),
    "rec-hf-maintenance": ("crit-hf-maintenance", (500, "mg")),
}
# recommendation -> its intervention's substance, or its class (gkg:interventionClass) [79]
RECOMMENDED_SUBSTANCES = {
    "rec-fcm": {"ferric-carboxymaltose"}, "rec-oral-ferrous-sulfate": {"ferrous-sulfate"},
    "rec-lmw-iron-dextran": {"iron-dextran"}, "rec-ferumoxytol": {"ferumoxytol"}, "rec-iv-only-75-100": {IV},
    "rec-fcm-75-100": {"ferric-carboxymaltose"}, "rec-esrd-iron-sucrose": {"iron-sucrose"},
    "rec-pediatric-iron": {IRON}, "rec-hf-maintenance": {"ferric-carboxymaltose"},
}
GENERAL = ("rec-fcm", "rec-oral-ferrous-sulfate", "rec-lmw-iron-dextran", "rec-ferumoxytol",
           "rec-iv-only-75-100", "rec-fcm-75-100")
# not-indicated statement -> (applicability, recommendations whose intervention it matches, less its
# gkg:exceptStatement) [65]
# a not-indicated statement -> the substances or classes of its intervention, and the recommendations it
# names as its exceptions (gkg:exceptStatement) [89]
NI_SUBSTANCES = {"ni-oral-75-100": {ORAL}, "pit-oral-75-100": {ORAL}, "ni-iron-above-100": {IRON},
                 "pit-iron-sucrose": {"iron-sucrose"}}
NI_EXCEPT = {"ni-iron-above-100": ("rec-hf-maintenance",)}
NOT_INDICATED = {
    "ni-oral-75-100": ("crit-ferritin-75-100", ("rec-oral-ferrous-sulfate",)),
    "pit-oral-75-100": ("crit-ferritin-75-100", ("rec-oral-ferrous-sulfate",)),
    "ni-iron-above-100": ("crit-ferritin-gt-100", tuple(
        r for r in RECOMMENDATIONS if r not in ("rec-iv-only-75-100", "rec-hf-maintenance"))),
    "pit-iron-sucrose": ("crit-adult-not-esrd", ("rec-esrd-iron-sucrose",)),
}
GENERAL_NI = ("ni-iron-above-100", "ni-oral-75-100", "pit-oral-75-100")
PRECEDENCE = {  # precedence -> (when, statements it prevails over: recommendations and not-indicated) [62]
    "prec-esrd": ("crit-esrd", (*GENERAL, *GENERAL_NI)),
    "prec-children": ("crit-child", (*GENERAL, "rec-esrd-iron-sucrose", "rec-hf-maintenance", *GENERAL_NI)),
}
# statement -> the criteria of the precedences that prevail over it
PREVAILED = {s: tuple(dict.fromkeys(c for c, over in PRECEDENCE.values() if s in over))
             for s in (*RECOMMENDATIONS, *NOT_INDICATED)}
# recommendation -> the not-indicated statements that restrict it
RESTRICTED_BY = {
    r: tuple(ni for ni, (_, recs) in NOT_INDICATED.items() if r in recs) for r in RECOMMENDATIONS
}
# precedence -> the statement that prevails (a special population's own): not made for a patient of the
# population whose criteria fail, it is said so [72]
PREVAILING = {"prec-esrd": "rec-esrd-iron-sucrose", "prec-children": "rec-pediatric-iron"}
# recommendation -> the cautions about it (gkg:aboutStatement), shown with it
CAUTIONS = {
    **{r: ["pit-extravasation"] for r in ("rec-fcm", "rec-fcm-75-100", "rec-iv-only-75-100",
                                          "rec-esrd-iron-sucrose", "rec-hf-maintenance")},
    "rec-ferumoxytol": ["caution-ferumoxytol-observation", "pit-extravasation"],
    "rec-lmw-iron-dextran": ["caution-iron-dextran-anaphylaxis", "caution-iron-dextran-test-dose", "pit-extravasation"],
    "rec-oral-ferrous-sulfate": ["caution-oral-absorption", "caution-oral-constipation"],
    "rec-pediatric-iron": ["caution-pediatric-constipation"],
}
WEIGHT_DOSE_PER_KG, WEIGHT_DOSE_MAX, WEIGHT_DOSE_LIMIT_KG = Decimal(15), Decimal(1000), 50.0

# --- evaluation -----------------------------------------------------------------------------------------

_EPOCH_ORD = date(1970, 1, 1).toordinal()
_UTC = UTC
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)


def _utc(lexical: str) -> bool:
    """A time of day recorded in UTC (its local date not recorded) [10]."""
    return len(lexical) > 10 and lexical.endswith(("Z", "+00:00", "-00:00"))


def seconds(lexical: str | None) -> int | None:
    """Seconds since the epoch of an xsd:dateTime lexical form (no offset: UTC), as the time index."""
    if lexical is None:
        return None
    try:
        value = datetime.fromisoformat(lexical.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    return int((value - _EPOCH).total_seconds())


def _cmp(v: float, op: str, t: float) -> bool:
    if op == "lt":
        return v < t
    if op == "le":
        return v <= t
    if op == "gt":
        return v > t
    return v >= t


def _censored(v: float, result_op: str | None, op: str, t: float) -> str:
    """[40]: a result (``v``, or a bound when ``result_op`` is set) against ``op t``: T when every value the
    result allows meets it, F when none does, else U."""
    if result_op is None:
        return T if _cmp(v, op, t) else F
    below, up_to = result_op in ("lt", "le"), op in ("lt", "le")
    if below:  # values < v (or <= v) lie wholly below t, or at most reach it where it does not count
        settled = v < t or (v == t and (result_op == "lt" or op in ("le", "gt")))
    else:
        settled = v > t or (v == t and (result_op == "gt" or op in ("ge", "lt")))
    return (T if below == up_to else F) if settled else U


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def evaluate_patient(patient: dict, as_of: date | str) -> dict:
    """The outcome of one patient as of ``as_of`` (``outcome_of()`` vocabulary)."""
    if isinstance(as_of, str):
        as_of = date.fromisoformat(as_of)
    end = (as_of.toordinal() + 1 - _EPOCH_ORD) * 86400
    warnings = set(patient["notes"])

    # exposures: (start, end) in seconds, per class
    iron_spans = []
    iv_recent = iv_maybe = False  # IV iron within 3 months: true, or unknown on an assumed end only [46]
    window = end - IV_WINDOW_SECONDS
    taking: set[str] = set()  # substances taken at the end of the as-of date, or perhaps (an assumed end) [79]
    taking_each: list[set[str]] = []  # ... each record's, an end recorded or none (not assumed) [79, same class]
    recent: set[str] = set()  # ... or ended at most a day before it [89]
    for start_l, end_l, classes, assumed, substances, possible in patient["exp"]:
        perhaps = frozenset(c for x in possible for c in SUBSTANCES[x][1])  # an unverified code's [13, 46, 79]
        if not classes and not perhaps:
            continue
        s = seconds(start_l)
        if s is None:
            continue
        e = seconds(end_l)
        if IRON in classes or IRON in perhaps:  # perhaps drawn on it: not used either [13]
            iron_spans.append((s, e))
        if s < end and (e is None or e >= end):
            taking |= substances | possible  # "may be taking" [79]
            if not assumed and substances:
                taking_each.append(set(substances))
        if s < end and (e is None or e >= end - 86400):  # taken on the as-of date, or up to a day before [89]
            recent |= substances
        if IV in classes and s < end and (end if e is None else e) >= window:
            if assumed and s < window:
                iv_maybe = True
            else:
                iv_recent = True
        elif IV in perhaps and s < end and (end if e is None else e) >= window:
            iv_maybe = True  # perhaps IV iron in the window: unknown [46]

    # issues and the latest usable result per measure [10-13, 20, 30]
    latest: dict[str, tuple] = {}
    values_at_latest: dict[str, set] = {}
    undated: set[str] = set()
    day = as_of.isoformat()
    spans: dict[str, list[tuple]] = {}  # usable results of a measure that has one dated without a day [28]
    unreadable: dict[str, list[int]] = {}  # per measure, the instants (or span ends) of results whose value
    for o in patient["obs"]:               # cannot be used: implausible, unit, no number [21]
        measure, key, when, value, problem, _, comparator, _, span_end, _, _ = o
        h = seconds(when)
        bad = future = False
        if when is not None and when[:10] > day and _utc(when) and \
                (datetime.fromisoformat(when.replace("Z", "+00:00")) - timedelta(hours=12)).date() <= as_of:
            warnings.add("imprecise-result-date")  # in UTC: of the as-of date west of Greenwich [10, 30]
            undated.add(measure)
            bad = True
        elif when is not None and when[:10] > day:  # after the as-of date, by the date as recorded [10]
            warnings.add("future-result")
            bad = future = True  # not yet a result, as of the as-of date: it supersedes none [10, 21]
        elif span_end is not None and span_end[:10] > day:  # a span reaching past the as-of date [10, 30]
            warnings.add("imprecise-result-date")
            undated.add(measure)
            bad = True
        if value is not None and not problem and h is None:  # a value that cannot be placed in time [16]
            warnings.add("undated-result")
            undated.add(measure)
        low, high = PLAUSIBLE.get(measure, (0.0, float("inf")))
        if value is not None and (value < low or value > high):
            warnings.add("implausible-value")
            bad = True
        if problem:
            warnings.add("unit-not-convertible")
            bad = True
        implausible = value is not None and (value < low or value > high)
        if h is not None and (implausible or problem or value is None) and not future:
            unreadable.setdefault(measure, []).append(seconds(span_end) if span_end else h)
        if h is not None and measure in DRAW_MEASURES:
            for s, e in iron_spans:
                if s <= h and (e is None or e > h - NO_IRON_HOURS * 3600):  # ended 24 h before: fine
                    warnings.add("lab-drawn-on-iron")
                    bad = True
                    break
        if bad or value is None or h is None:
            continue
        spans.setdefault(measure, []).append((h, seconds(span_end) if span_end else None))
        best = latest.get(measure)
        if best is None or h > best[0] or (h == best[0] and key < best[1]):
            latest[measure] = (h, key, value, o)
        if best is None or h > best[0]:  # "<10" and "10" differ [30, 31]
            values_at_latest[measure] = {(value, comparator)}
        elif h == best[0]:
            values_at_latest[measure].add((value, comparator))
    for measure, values in values_at_latest.items():
        if len(values) > 1:  # [30, 31]: differing results at the latest instant: none is the latest
            warnings.add("simultaneous-results-differ")
            del latest[measure]
    for measure in undated:  # an undated result may be newer than all of them: no latest result [16, 30]
        latest.pop(measure, None)
    for measure, ends in unreadable.items():  # a newer result whose value cannot be used: no latest [21, 30]
        top = max((h for h, _ in spans.get(measure, [])), default=None)
        if top is not None and max(ends) > top:
            warnings.add("newer-result-unusable")
            latest.pop(measure, None)
    for measure, results in spans.items():  # [28] a span that reaches the latest first instant of another
        top = max(h for h, _ in results)
        reaching = [(h, e) for h, e in results if (e if e is not None else h) >= top]
        if any(e is not None for _, e in results) and len(reaching) > 1 and any(e is not None for _, e in reaching):
            warnings.add("imprecise-result-date")
            latest.pop(measure, None)

    # a latest result older than its measure's age limit is not used, as if missing [32, 41, 83]
    too_old: dict[str, tuple] = {}
    for measure in [m for m in latest if m in MAX_AGE_DAYS]:
        when = latest[measure][3][2]
        if as_of.toordinal() - date.fromisoformat(when[:10]).toordinal() > MAX_AGE_DAYS[measure]:
            too_old[measure] = latest.pop(measure)  # warned only for a covered, evaluated patient [33]

    # caveats on the results used (not on one too old to be used) [85]
    for measure in DRAW_MEASURES:
        if measure in latest:
            o = latest[measure][3]
            zone = o[2][19:].lstrip(".0123456789")
            if zone in ("", "Z", "+00:00", "-00:00"):  # no local hour recorded (date only, no offset, UTC)
                warnings.add("draw-time-unknown")
            elif int(o[2][11:13]) >= MORNING_BEFORE:
                warnings.add("non-morning-draw")
            if o[5] == "NF":
                warnings.add("non-fasting-draw")

    # criteria [40-53]
    truth: dict[str, str] = {}
    for c, (measure, op, threshold) in LAB.items():
        got = latest.get(measure)
        truth[c] = U if got is None else _censored(got[2], got[3][6], op, threshold)
    for measure, (_, _, _, o) in latest.items():  # [88]: a decision rests on a preliminary result
        decides = any(truth[c] != U for c, lab in LAB.items() if lab[0] == measure)
        if o[7] == "preliminary" and decides:
            warnings.add("preliminary-result")
        if o[9] and decides:  # [93]: a specimen condition the guideline does not list
            warnings.add("specimen-condition-unassessed")
        if o[10] and decides:  # [94]: notes not read
            warnings.add("result-note-not-read")
    birth = patient["birth"]
    if birth is not None and birth > as_of.isoformat():
        warnings.add("birth-date-after-as-of")  # [14]: no age, as without a birth date [43]
        birth = None
    if birth is None:
        truth["crit-child"] = truth["crit-adult"] = U
    else:
        d = as_of.isoformat()
        age = int(d[:4]) - int(birth[:4]) - (1 if d[5:10] < birth[5:10] else 0)
        truth["crit-child"] = T if age < 18 else F
        truth["crit-adult"] = F if age < 18 else T
    present: dict[str, set[str]] = {T: set(), U: set()}  # codes by the standing of their records [39]
    for codes, statuses, verified, onsets, abatements in patient["conditions"]:
        if (any(t[:10] > day for t in onsets) or any(t[:10] <= day for t in abatements)
                or (statuses and not any(s in ACTIVE for s in statuses))
                or {"refuted", "entered-in-error"} & set(verified)):
            continue
        present[T if not verified or "confirmed" in verified else U] |= codes
    for c, codes in DIAGNOSES.items():  # [44]
        truth[c] = T if codes & present[T] else (U if codes & present[U] else F)
    today = as_of.toordinal()
    for c, (codes, limit) in PROCEDURES.items():  # [34]: the best standing of the matching records
        best = 3
        for tokens, status, start_l, end_l, imprecise in patient["procs"]:
            if not tokens & codes:
                continue
            st = status or ""
            s = date.fromisoformat(start_l[:10]).toordinal() if start_l else None
            e = date.fromisoformat(end_l[:10]).toordinal() if end_l else None
            last = min(e, today) if e is not None else (today if st == "in-progress" and s is not None else s)
            if st in ("not-done", "entered-in-error", "preparation", "on-hold") or (s is not None and s > today):
                rank = 2
            elif ((s is None or imprecise) and e is not None and e > today) or (limit is not None and last is None):
                rank = 1
            elif limit is not None and today - last > limit:
                rank = 2
            elif limit is not None and imprecise and (s is None or today - s > limit):  # a span partly too old
                rank = 1
            else:
                rank = 0 if st in ("completed", "in-progress") else 1  # stopped: performed only in part
            best = min(best, rank)
        truth[c] = {0: T, 1: U}.get(best, F)
    for c, (kind, members) in COMPOSITE.items():
        values = [truth[m] for m in members]
        if kind == "not":
            truth[c] = {T: F, F: T, U: U}[values[0]]
        elif kind == "all":
            truth[c] = F if F in values else (U if U in values else T)
        else:
            truth[c] = T if T in values else (U if U in values else F)

    out = {"applicable": truth["crit-rls"] == T, "recommended": [], "not_recommended": [], "undetermined": [],
           "orders": [], "warnings": [], "monitoring": [], "doses": {}, "not_indicated": [],
           "population_not_met": [], "cautions": {}, "recommended_against": [],
           "insufficient_evidence": []}  # the guideline has none
    flag, died = patient.get("deceased", (None, None))
    if (died[:10] <= day) if died is not None else flag is True:  # [15]: no guideline is applied [60, 87]
        out["applicable"] = False
        out["warnings"] = sorted(warnings | {"patient-deceased"})
        return out
    if too_old and truth["crit-rls"] != F:  # not for a patient the guideline does not cover [33]
        warnings.add("stale-result")
    if truth["crit-rls"] != T:
        warnings.add("guideline-not-applicable")
        out["warnings"] = sorted(warnings)
        return out

    # not-indicated statements a special population sets aside [62]; the others restrict [65]
    restricting = {}
    for ni, (applicability, _) in NOT_INDICATED.items():
        t = truth[applicability]
        if t != F and not any(truth[c] == T for c in PREVAILED[ni]):
            undecided = [c for c in PREVAILED[ni] if truth[c] == U]  # a precedence that may set it aside [65]
            restricting[ni] = (undecided[0], U) if undecided else (applicability, t)
            if t == T and not undecided:  # it applies, whether or not it restricts anything [71]
                out["not_indicated"].append(ni)
    for prec, (when, _) in PRECEDENCE.items():  # [72]
        rec = PREVAILING[prec]
        if truth[when] == T and truth[RECOMMENDATIONS[rec][0]] == F:
            out["population_not_met"].append(rec)

    # statuses [70], orders and missing data [80, 81, 83], doses [82], conflicts [86]
    orders: set[str] = set()
    made = False
    for r, (applicability, dose) in RECOMMENDATIONS.items():
        rt = truth[applicability]
        if rt == F:
            continue
        suppressed = False
        because = [applicability] if rt == U else []
        for c in PREVAILED[r]:
            t = truth[c]
            if t == T:
                suppressed = True
            elif t == U:
                because.append(c)
        for ni in RESTRICTED_BY[r]:
            if ni in restricting:
                c, t = restricting[ni]
                if t == T:
                    suppressed = True
                    if rt == T:  # both hold: they conflict for this patient [86]
                        warnings.add("statements-conflict")
                else:
                    because.append(c)
        if suppressed:
            out["not_recommended"].append(r)
        elif because:
            out["undetermined"].append(r)
            for c in because:  # the measures of the unknown threshold leaves (missing, or censored) [80]
                for x in _leaves(c):
                    if x in LAB and truth[x] == U:
                        orders.add(LOINC_OF[LAB[x][0]])
                for a in AGE_UNDER[c]:
                    if truth[a] == U:
                        warnings.add("missing-data")
        else:
            made = True
            out["recommended"].append(r)
            if r in CAUTIONS:
                out["cautions"][r] = CAUTIONS[r]
            if dose == "weight":
                w = latest.get(WEIGHT)
                if w is None or w[3][6] is not None:  # none, too old or censored: never dosed from [82, 83]
                    orders.add(LOINC_OF[WEIGHT])
                    out["doses"][r] = None
                    seen = w if w is not None else too_old.get(WEIGHT)  # a too-old one is named too [83]
                    if seen is not None and seen[3][6] is not None:
                        warnings.add("censored-weight")
                elif w[2] < WEIGHT_DOSE_LIMIT_KG or truth["crit-adult"] == T:  # rounded down to a whole mg [82]
                    mg = WEIGHT_DOSE_PER_KG * Decimal(repr(w[2]))  # under 50 kg: 15 mg/kg per dose, no maximum
                    if w[2] >= WEIGHT_DOSE_LIMIT_KG:  # adults >= 50 kg: up to 1000 mg as a single dose
                        mg = min(mg, WEIGHT_DOSE_MAX)
                    out["doses"][r] = [_number(mg.to_integral_value(rounding=ROUND_FLOOR)), "mg"]
                else:
                    out["doses"][r] = None
            else:
                out["doses"][r] = list(dose) if dose else None
    for r in out["recommended"]:  # a made recommendation for a substance an allergy record names [77]
        wanted = RECOMMENDED_SUBSTANCES[r]
        given = {t for t in SUBSTANCES if t in wanted or wanted & set(SUBSTANCES[t][1])}  # the products of it
        for named, statuses, verified, onset in patient.get("allergies", ()):
            over = (bool(set(statuses) & {"inactive", "resolved"}) and "active" not in statuses
                    or bool(set(verified) & {"refuted", "entered-in-error"}) or (onset or "")[:10] > day)
            if not over and any(s in given or CONTAINED.get(s) in set().union(*(SUBSTANCES[t][1] for t in given))
                                for s in named):
                warnings.add("allergy-to-recommended")
    for r in out["recommended"]:  # a made recommendation for what the patient takes [79]
        wanted = RECOMMENDED_SUBSTANCES[r]
        if any(s in wanted or wanted & set(SUBSTANCES[s][1]) for s in taking):
            warnings.add("already-taking-recommended")
        # another member of a class the recommended substance belongs to, in a record without it [79]
        for given in (w for w in wanted if w in SUBSTANCES):
            if any(given not in each and any(o != given and set(SUBSTANCES[o][1]) & set(SUBSTANCES[given][1])
                                             for o in each if o in SUBSTANCES) for each in taking_each):
                warnings.add("taking-same-class")
    for ni, (applicability, recs) in NOT_INDICATED.items():  # not decided yet, restricting nothing live [71]
        if restricting.get(ni, (None, T))[1] != U or any(truth[RECOMMENDATIONS[r][0]] != F for r in recs):
            continue
        out["undetermined"].append(ni)
        c = applicability if truth[applicability] == U else restricting[ni][0]
        for x in _leaves(c):  # its tests [80], or what no test supplies [81]
            if x in LAB and truth[x] == U:
                orders.add(LOINC_OF[LAB[x][0]])
        for a in AGE_UNDER[c]:
            if truth[a] == U:
                warnings.add("missing-data")
    for ni in out["not_indicated"]:  # taking what a statement that applies says is not indicated [89]
        named = NI_SUBSTANCES[ni]
        excepted = set().union(*(RECOMMENDED_SUBSTANCES[r] for r in NI_EXCEPT.get(ni, ()) if r in out["recommended"]))
        if any((s in named or named & set(SUBSTANCES[s][1]))
               and not (s in excepted or excepted & set(SUBSTANCES[s][1])) for s in recent):
            warnings.add("taking-not-indicated")
    if made:  # [84]
        out["monitoring"].append("mon-iron-studies")
        if iv_recent:
            out["monitoring"].append("mon-phosphate-repeat")
        elif iv_maybe:
            warnings.add("monitoring-undecided")
    for key in ("recommended", "not_recommended", "undetermined", "monitoring", "not_indicated", "population_not_met"):
        out[key].sort()
    out["orders"] = sorted(orders)
    out["warnings"] = sorted(warnings)
    return out


def evaluate_all(patients: dict[str, dict], as_of: date | str) -> dict[str, dict]:
    if isinstance(as_of, str):
        as_of = date.fromisoformat(as_of)
    return {pid: evaluate_patient(p, as_of) for pid, p in patients.items()}


if __name__ == "__main__":  # python bench/reference.py DIR [--as-of DATE]: load, evaluate, time
    import argparse
    import time
    from collections import Counter

    parser = argparse.ArgumentParser(description="reference evaluator over a Bulk Data NDJSON directory")
    parser.add_argument("directory")
    parser.add_argument("--as-of", default="2026-01-15")
    args = parser.parse_args()
    t0 = time.perf_counter()
    counts: dict = {}
    cohort = load_ndjson(args.directory, counts)
    t1 = time.perf_counter()
    results = evaluate_all(cohort, args.as_of)
    t2 = time.perf_counter()
    n = len(cohort)
    print(f"patients={n} bad={dict(counts)} load={t1 - t0:.2f}s ({n / (t1 - t0):,.0f}/s) "
          f"evaluate={t2 - t1:.2f}s ({n / (t2 - t1):,.0f}/s)")
    tally = Counter(r for o in results.values() for r in o["recommended"])
    print("recommended:", dict(sorted(tally.items())))
    print("warnings:", dict(sorted(Counter(w for o in results.values() for w in o["warnings"]).items())))
