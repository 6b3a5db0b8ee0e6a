"""Seeded synthetic cohort for the RLS iron guideline, as FHIR Bulk Data NDJSON (the ``$export`` layout).

Writes ``Patient.ndjson``, ``Condition.ndjson``, ``Observation.ndjson``, ``Specimen.ndjson``,
``MedicationStatement.ndjson``, ``MedicationAdministration.ndjson`` and ``Procedure.ndjson`` into OUTDIR, one resource per line.

Usage: python bench/gen_cohort.py OUTDIR --patients N --seed S [--bad-rate 0.01] [--as-of 2026-01-15]
       [--mix key=value ...]

The same seed, size, rates and as-of date give byte-identical files (one ``random.Random(seed)``, consumed in
a fixed order; lines are built with string formatting, streamed, nothing kept per patient). Every mix below
is a probability (see :class:`Mix`; ``--mix ferritin_pmol=0.2`` overrides one). Times are relative to the
as-of date (default 2026-01-15, the date the vignettes use), so ages, "last 3 months" and future results
mean what they say on that date.

What a patient gets (each independently unless said otherwise):

* Patient with ``birthDate`` (children ~7 %: age < 18 on the as-of date; a few right at the 18th birthday;
  ~1 % without a birth date) and ``gender``.
* Conditions (SNOMED CT): RLS 32914008 active (~90 %; of the others half have no RLS record and half a
  resolved/inactive/remission one), ESRD 46177005 (~8 %), heart failure 84114007 (~5 %).
* One blood draw (a Specimen with ``collection.collectedDateTime`` and usually a v2-0916 fasting status,
  ``NF`` for ~3 %) with ferritin 2276-4 (missing ~10 %) and TSAT 2502-3 (missing ~10 %) referencing it;
  ~3 % of draws are in the afternoon, ~1 % dated after the as-of date. ~20 % also have an older draw.
* Ferritin over every band of the guideline (<50, 50-75, exactly 75, 75-100, 100-300, >300 ng/mL); ~5 % in
  pmol/L, ~5 % in ug/L (UCUM ``system`` + ``code``), ~1 % in an unconvertible unit (``U/L``; note that
  ``mmol/L`` *is* convertible for ferritin: UCUM to pmol/L, then the graph's factor). A few implausible
  values (negative ferritin, TSAT > 100 %).
* Body weight 29463-7, 20-120 kg (missing ~15 %).
* Oral iron (~5 %): a MedicationStatement "Ferrous sulfate 325 mg" whose ``effectivePeriod`` surrounds the
  draw (or ends less than 24 h before it) so the draw is unreliable; a minority ended days before (reliable).
* IV iron in the last 3 months (~4 %, plus ~1 % older): a MedicationAdministration "Injectafer 750 mg".
* Dialysis (~3 %): a Condition coding dialysis dependence (ICD-10-CM Z99.2, also undotted; SNOMED CT
  105502003), another ESRD code (236435004, 714152005) or stage 5 CKD N18.5 (not ESRD); or a Procedure
  (hemodialysis, peritoneal or renal dialysis, or an unread colonoscopy) 0-60 days before the as-of date, of
  any status, as a dateTime, a period (open or closed) or a month only.
* About ``--bad-rate`` of all lines are bad records, *added* to the good ones (the good data never depends
  on them): malformed JSON, resources without ``subject``, references to patients not in the cohort.

Prints one summary line: patients, lines per file, bad lines, seconds.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass, fields, replace
from datetime import date, timedelta
from pathlib import Path

FILES = ("Patient", "Condition", "Observation", "Specimen", "MedicationStatement", "MedicationAdministration",
         "Procedure")
AS_OF = date(2026, 1, 15)

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
V2_0916 = "http://terminology.hl7.org/CodeSystem/v2-0916"

RLS, ESRD, HF = "32914008", "46177005", "84114007"
DISPLAY = {RLS: "Restless legs syndrome", ESRD: "End-stage renal disease", HF: "Heart failure"}
FERRITIN, TSAT, WEIGHT = "2276-4", "2502-3", "29463-7"
OBS_DISPLAY = {
    FERRITIN: "Ferritin [Mass/volume] in Serum or Plasma",
    TSAT: "Iron saturation [Mass Fraction] in Serum or Plasma",
    WEIGHT: "Body weight",
}
ZONES = ("+01:00", "Z", "-05:00", "+02:00", "+00:00")
PMOL_PER_NG = 2.247


@dataclass(frozen=True)
class Mix:
    """Probabilities of the cohort's features (per patient unless said otherwise)."""

    rls: float = 0.90  # RLS active; the others have no RLS record or an inactive one
    rls_inactive_share: float = 0.5  # of patients without active RLS: share with a resolved/inactive record
    esrd: float = 0.08
    hf: float = 0.05
    child: float = 0.07  # age < 18 on the as-of date
    age18_edge: float = 0.004  # birth date within a few days of the 18th birthday
    no_birthdate: float = 0.01
    ferritin_missing: float = 0.10
    tsat_missing: float = 0.10
    weight_missing: float = 0.15
    ferritin_exact75: float = 0.03  # of ferritin values: exactly 75 ng/mL
    tsat_exact20: float = 0.02
    weight_exact50: float = 0.01
    ferritin_pmol: float = 0.05  # of ferritin values
    ferritin_ugl: float = 0.05
    ferritin_bad_unit: float = 0.01
    implausible: float = 0.003  # per value of ferritin and TSAT
    prior_draw: float = 0.20  # an older draw (ferritin, TSAT) months before
    oral_iron: float = 0.05
    oral_iron_reliable_share: float = 0.15  # of oral iron: the course ended days before the draw
    iv_iron_recent: float = 0.04  # IV iron in the last 3 months
    iv_iron_old: float = 0.01  # IV iron 4-12 months ago
    iv_near_draw_share: float = 0.15  # of recent IV iron: given within 24 h before the draw
    non_morning: float = 0.03
    non_fasting: float = 0.03
    no_fasting_status: float = 0.10
    future: float = 0.01  # the latest draw is dated after the as-of date
    # Real-EHR shapes, off by default (no extra random draws, so the default cohort is unchanged):
    ferritin_censored: float = 0.0  # of ferritin values: reported with a comparator ("<45", ">=120")
    weight_censored: float = 0.0  # of weights: reported as "> value"
    preliminary: float = 0.0  # of draws: Observation.status preliminary
    panel: float = 0.0  # of draws with both: ferritin and TSAT as components of one panel Observation
    # ESRD / dialysis recognised otherwise than by 46177005 (rls:crit-esrd): a dialysis-dependence or other ESRD
    # code, or a dialysis Procedure 0-60 days before the as-of date (the limit is 30) of any status and shape
    dialysis: float = 0.03


# Ferritin bands (ng/mL) and weights: <50, 50-75, 75-100, 100-300, >300 (exactly 75: Mix.ferritin_exact75).
BANDS = (
    (0.30, 3.0, 50.0), (0.20, 50.0, 75.0), (0.17, 75.0, 100.0), (0.23, 100.0, 300.0), (0.10, 300.0, 900.0)
)


def _cumulative(bands):
    total, out = 0.0, []
    for w, lo, hi in bands:
        total += w
        out.append((total, lo, hi))
    return tuple((c / total, lo, hi) for c, lo, hi in out)


CUM_BANDS = _cumulative(BANDS)


class _Writer:
    """Buffered line writer per resource type, with bad lines mixed in at the requested rate."""

    def __init__(self, outdir: Path, rng: random.Random, bad_rate: float):
        self.handles = {k: open(outdir / f"{k}.ndjson", "w", encoding="utf-8", newline="\n") for k in FILES}
        self.buffers: dict[str, list[str]] = {k: [] for k in FILES}
        self.counts = dict.fromkeys(FILES, 0)
        self.bad = dict.fromkeys(FILES, 0)
        self.rng = rng
        # a bad line follows a good one with probability q: bad / all = q / (1 + q) = bad_rate
        self.q = bad_rate / (1.0 - bad_rate) if 0 < bad_rate < 1 else 0.0
        self.serial = 0

    def add(self, kind: str, line: str) -> None:
        buf = self.buffers[kind]
        buf.append(line)
        self.counts[kind] += 1
        if self.q and self.rng.random() < self.q:
            buf.append(self._bad(kind))
            self.counts[kind] += 1
            self.bad[kind] += 1
        if len(buf) >= 20000:
            self.flush(kind)

    def _bad(self, kind: str) -> str:
        self.serial += 1
        n = self.serial
        r = self.rng.random()
        if kind == "Patient" or r < 1 / 3:  # malformed JSON: a truncated record, or not JSON at all
            if n % 2:
                return f'{{"resourceType":"{kind}","id":"bad{n}","status":"fin'
            return f"<<garbage line {n}>>"
        unknown = f"nobody{n}"
        if r < 2 / 3:  # no subject
            return _resource_without_subject(kind, n)
        return _resource_without_subject(kind, n)[:-1] + f',"subject":{{"reference":"Patient/{unknown}"}}}}'

    def flush(self, kind: str) -> None:
        buf = self.buffers[kind]
        if buf:
            self.handles[kind].write("\n".join(buf) + "\n")
            buf.clear()

    def close(self) -> None:
        for kind in FILES:
            self.flush(kind)
            self.handles[kind].close()


def _resource_without_subject(kind: str, n: int) -> str:
    if kind == "Observation":
        return (
            f'{{"resourceType":"Observation","id":"bad{n}","status":"final",'
            f'"code":{{"coding":[{{"system":"{LOINC}","code":"{FERRITIN}"}}]}},'
            f'"effectiveDateTime":"2025-12-01T08:00:00Z",'
            f'"valueQuantity":{{"value":20,"unit":"ng/mL","system":"{UCUM}","code":"ng/mL"}}}}'
        )
    if kind == "Condition":
        return (
            f'{{"resourceType":"Condition","id":"bad{n}","code":{{"coding":[{{"system":"{SNOMED}",'
            f'"code":"{RLS}"}}]}}}}'
        )
    if kind == "Specimen":
        return (
            f'{{"resourceType":"Specimen","id":"bad{n}",'
            f'"collection":{{"collectedDateTime":"2025-12-01T08:00:00Z"}}}}'
        )
    if kind == "Procedure":
        return (
            f'{{"resourceType":"Procedure","id":"bad{n}","status":"completed",'
            f'"code":{{"coding":[{{"system":"{SNOMED}","code":"302497006"}}]}},'
            f'"performedDateTime":"2025-12-01T07:00:00Z"}}'
        )
    if kind == "MedicationStatement":
        return (
            f'{{"resourceType":"MedicationStatement","id":"bad{n}","status":"active",'
            f'"medicationCodeableConcept":{{"text":"Ferrous sulfate 325 mg"}},'
            f'"effectiveDateTime":"2025-12-01"}}'
        )
    return (
        f'{{"resourceType":"MedicationAdministration","id":"bad{n}","status":"completed",'
        f'"medicationCodeableConcept":{{"text":"Injectafer 750 mg"}},'
        f'"effectiveDateTime":"2025-12-01T10:00:00Z"}}'
    )


class _Clock:
    """Local date-times as minutes relative to the as-of date's midnight, formatted with a zone."""

    def __init__(self, as_of: date, back: int = 2500, ahead: int = 250):
        self.base = back
        self.days = [(as_of + timedelta(days=d)).isoformat() for d in range(-back, ahead)]

    def fmt(self, minutes: int, zone: str) -> str:
        day, rest = divmod(minutes, 1440)
        return f"{self.days[day + self.base]}T{rest // 60:02d}:{rest % 60:02d}:00{zone}"


def _condition(cid: str, pid: str, code: str, status: str) -> str:
    return (
        f'{{"resourceType":"Condition","id":"{cid}","clinicalStatus":{{"coding":[{{"system":"{CLINICAL}",'
        f'"code":"{status}"}}]}},"code":{{"coding":[{{"system":"{SNOMED}","code":"{code}",'
        f'"display":"{DISPLAY[code]}"}}]}},"subject":{{"reference":"Patient/{pid}"}}}}'
    )


def _quantity(value: str, unit: str, comparator: str | None = None) -> str:
    censored = f'"comparator":"{comparator}",' if comparator else ""
    return f'{{"value":{value},{censored}"unit":"{unit}","system":"{UCUM}","code":"{unit}"}}'


def _code(loinc: str) -> str:
    return f'{{"coding":[{{"system":"{LOINC}","code":"{loinc}","display":"{OBS_DISPLAY[loinc]}"}}]}}'


def _observation(
    oid: str, pid: str, loinc: str, when: str, value: str, unit: str, specimen: str | None,
    comparator: str | None = None, status: str = "final",
) -> str:
    spec = f',"specimen":{{"reference":"Specimen/{specimen}"}}' if specimen else ""
    return (
        f'{{"resourceType":"Observation","id":"{oid}","status":"{status}","code":{_code(loinc)},'
        f'"subject":{{"reference":"Patient/{pid}"}},'
        f'"effectiveDateTime":"{when}"{spec},"valueQuantity":{_quantity(value, unit, comparator)}}}'
    )


def _panel(oid: str, pid: str, when: str, specimen: str, status: str, parts: list[tuple]) -> str:
    """An iron-studies panel (local code, no LOINC) whose results are components: (loinc, value, unit,
    comparator) each."""
    components = ",".join(f'{{"code":{_code(loinc)},"valueQuantity":{_quantity(value, unit, comparator)}}}'
                          for loinc, value, unit, comparator in parts)
    return (
        f'{{"resourceType":"Observation","id":"{oid}","status":"{status}",'
        f'"code":{{"coding":[{{"system":"http://lab.example.org/codes","code":"IRONST"}}],"text":"Iron studies"}},'
        f'"subject":{{"reference":"Patient/{pid}"}},"effectiveDateTime":"{when}",'
        f'"specimen":{{"reference":"Specimen/{specimen}"}},"component":[{components}]}}'
    )


def _specimen(sid: str, pid: str, when: str, fasting: str | None) -> str:
    fast = (
        f',"fastingStatusCodeableConcept":{{"coding":[{{"system":"{V2_0916}","code":"{fasting}"}}]}}'
        if fasting
        else ""
    )
    return (
        f'{{"resourceType":"Specimen","id":"{sid}","subject":{{"reference":"Patient/{pid}"}},'
        f'"collection":{{"collectedDateTime":"{when}"{fast}}}}}'
    )


def generate(
    outdir: str | Path,
    patients: int,
    seed: int,
    *,
    bad_rate: float = 0.01,
    mix: Mix = Mix(),
    as_of: date = AS_OF,
) -> dict:
    """Write the cohort; return ``{"patients", "lines": {file: n}, "bad": {file: n}, "seconds"}``."""
    started = time.perf_counter()
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    rand = rng.random
    randint = rng.randint
    w = _Writer(out, rng, bad_rate)
    clock = _Clock(as_of)
    fmt = clock.fmt
    as_of_ord = as_of.toordinal()
    adult_min = as_of_ord - date(as_of.year - 18, as_of.month, as_of.day).toordinal()  # days to 18 years
    m = mix
    for i in range(patients):
        pid = f"pt{i:07d}"
        zone = ZONES[i % len(ZONES)]
        # --- Patient -------------------------------------------------------------------------------
        r = rand()
        if r < m.age18_edge:
            days_back = adult_min + randint(-4, 4)
        elif rand() < m.child:
            days_back = randint(300, adult_min - 1)
        else:
            days_back = randint(adult_min + 1, 90 * 365)
        child = days_back < adult_min
        gender = "female" if rand() < 0.6 else "male"
        if rand() < m.no_birthdate:
            w.add("Patient", f'{{"resourceType":"Patient","id":"{pid}","gender":"{gender}"}}')
        else:
            birth = date.fromordinal(as_of_ord - days_back).isoformat()
            w.add(
                "Patient",
                f'{{"resourceType":"Patient","id":"{pid}","gender":"{gender}","birthDate":"{birth}"}}',
            )
        # --- Conditions ----------------------------------------------------------------------------
        if rand() < m.rls:
            w.add("Condition", _condition(f"{pid}-rls", pid, RLS, "active"))
        elif rand() < m.rls_inactive_share:
            status = ("resolved", "inactive", "remission")[randint(0, 2)]
            w.add("Condition", _condition(f"{pid}-rls", pid, RLS, status))
        if rand() < m.esrd:
            w.add("Condition", _condition(f"{pid}-esrd", pid, ESRD, "active"))
        if rand() < m.hf:
            w.add("Condition", _condition(f"{pid}-hf", pid, HF, "active"))
        # --- the latest draw -----------------------------------------------------------------------
        if rand() < m.future:
            day = randint(1, 60)
        else:
            day = -min(int(rng.expovariate(1 / 40.0)), 700)
        hour = randint(12, 17) if rand() < m.non_morning else randint(6, 10)
        draw = day * 1440 + hour * 60 + randint(0, 59)
        draw_t = fmt(draw, zone)
        _draw(w, rng, m, pid, "1", draw_t)
        # --- an older draw -------------------------------------------------------------------------
        if rand() < m.prior_draw:
            old = draw - randint(60, 500) * 1440
            _draw(w, rng, m, pid, "0", fmt(old, zone))
        # --- body weight ---------------------------------------------------------------------------
        if rand() >= m.weight_missing:
            if rand() < m.weight_exact50:
                kg = "50"
            elif child:
                kg = f"{20 + rand() * 50:.1f}"
            else:
                kg = f"{40 + rand() * 80:.1f}"
            when = fmt(draw - randint(0, 90) * 1440 - randint(0, 120), zone)
            above = ">" if m.weight_censored and rand() < m.weight_censored else None
            w.add("Observation", _observation(f"{pid}-wt", pid, WEIGHT, when, kg, "kg", None, above))
        # --- oral iron around the draw -------------------------------------------------------------
        if rand() < m.oral_iron:
            start = draw - randint(7, 120) * 1440
            r = rand()
            if r < m.oral_iron_reliable_share:
                # ended days before: reliable; a day after its start at the earliest (a period that ends
                # before it starts is invalid FHIR: its time unknown, so no result is reliable)
                end = max(start + 1440, draw - randint(2, 30) * 1440 - randint(0, 600))
            elif r < m.oral_iron_reliable_share + 0.15:
                end = draw - randint(30, 23 * 60)  # ended less than 24 h before: unreliable
            elif r < m.oral_iron_reliable_share + 0.35:
                end = None  # still taking it
            else:
                end = draw + randint(1, 60) * 1440  # the period surrounds the draw
            period = f'"start":"{fmt(start, zone)}"'
            if end is not None:
                period += f',"end":"{fmt(end, zone)}"'
            status = "active" if end is None or end > 0 else "completed"
            w.add(
                "MedicationStatement",
                f'{{"resourceType":"MedicationStatement","id":"{pid}-oral","status":"{status}",'
                f'"medicationCodeableConcept":{{"text":"Ferrous sulfate 325 mg"}},'
                f'"subject":{{"reference":"Patient/{pid}"}},"effectivePeriod":{{{period}}}}}',
            )
        # --- IV iron -------------------------------------------------------------------------------
        r = rand()
        if r < m.iv_iron_recent + m.iv_iron_old:
            if r < m.iv_iron_recent:
                if rand() < m.iv_near_draw_share:
                    given = draw - randint(60, 23 * 60)  # within 24 h before the draw: unreliable
                else:
                    given = -randint(1, 88) * 1440 + randint(8 * 60, 16 * 60)
            else:
                given = -randint(95, 365) * 1440 + randint(8 * 60, 16 * 60)
            w.add(
                "MedicationAdministration",
                f'{{"resourceType":"MedicationAdministration","id":"{pid}-iv","status":"completed",'
                f'"medicationCodeableConcept":{{"text":"Injectafer 750 mg"}},'
                f'"subject":{{"reference":"Patient/{pid}"}},"effectiveDateTime":"{fmt(given, zone)}"}}',
            )
        # --- dialysis (rls:crit-esrd other than by the ESRD code above) ----------------------------
        if m.dialysis and rand() < m.dialysis:
            _dialysis(w, rng, pid, fmt, zone)
    w.close()
    return {
        "patients": patients,
        "lines": dict(w.counts),
        "bad": dict(w.bad),
        "seconds": time.perf_counter() - started,
    }


DIALYSIS_CONDITIONS = ((ICD10CM, "Z99.2", "Dependence on renal dialysis"), (ICD10CM, "Z992", "Dependence on renal dialysis"),
                       (SNOMED, "105502003", "Dependence on renal dialysis"),
                       (SNOMED, "236435004", "End stage renal failure on dialysis"),
                       (SNOMED, "714152005", "Chronic kidney disease stage 5 on dialysis"),
                       (ICD10CM, "N18.5", "Chronic kidney disease, stage 5"))  # the last is not ESRD
DIALYSIS_PROCEDURES = (("302497006", "Hemodialysis"), ("71192002", "Peritoneal dialysis"),
                       ("265764009", "Renal dialysis"), ("73761001", "Colonoscopy"))  # the last is not read
PROCEDURE_STATUSES = ("completed", "completed", "completed", "in-progress", "stopped", "not-done", "unknown",
                      "entered-in-error", None)


def _dialysis(w: _Writer, rng: random.Random, pid: str, fmt, zone: str) -> None:
    """A dialysis-dependence (or other) Condition, or a dialysis Procedure of some status and time shape."""
    if rng.random() < 0.35:
        system, code, display = rng.choice(DIALYSIS_CONDITIONS)
        w.add("Condition", (
            f'{{"resourceType":"Condition","id":"{pid}-dialysis","clinicalStatus":{{"coding":[{{"system":"{CLINICAL}",'
            f'"code":"active"}}]}},"code":{{"coding":[{{"system":"{system}","code":"{code}",'
            f'"display":"{display}"}}]}},"subject":{{"reference":"Patient/{pid}"}}}}'))
        return
    code, display = rng.choice(DIALYSIS_PROCEDURES)
    status = rng.choice(PROCEDURE_STATUSES)
    start = -rng.randint(0, 60) * 1440 + rng.randint(6 * 60, 20 * 60)
    r = rng.random()
    if r < 0.6:
        performed = f'"performedDateTime":"{fmt(start, zone)}"'
    elif r < 0.85:
        end = "" if rng.random() < 0.3 else f',"end":"{fmt(start + 240, zone)}"'
        performed = f'"performedPeriod":{{"start":"{fmt(start, zone)}"{end}}}'
    else:
        performed = f'"performedDateTime":"{fmt(start, "")[:7]}"'  # a month only: imprecise
    stated = f'"status":"{status}",' if status else ""
    w.add("Procedure", (
        f'{{"resourceType":"Procedure","id":"{pid}-proc",{stated}"code":{{"coding":[{{"system":"{SNOMED}",'
        f'"code":"{code}","display":"{display}"}}]}},"subject":{{"reference":"Patient/{pid}"}},{performed}}}'))


def _ferritin(rng: random.Random, m: Mix) -> float:
    if rng.random() < m.ferritin_exact75:
        return 75.0
    r = rng.random()
    for cum, lo, hi in CUM_BANDS:
        if r < cum:
            return round(lo + rng.random() * (hi - lo), 1)
    return 500.0  # pragma: no cover


def _draw(w: _Writer, rng: random.Random, m: Mix, pid: str, k: str, when: str) -> None:
    """A Specimen with ferritin and TSAT results referencing it (either may be missing)."""
    rand = rng.random
    has_f = rand() >= m.ferritin_missing
    has_t = rand() >= m.tsat_missing
    if not (has_f or has_t):
        return
    sid = f"{pid}-s{k}"
    r = rand()
    fasting = None if r < m.no_fasting_status else ("NF" if r < m.no_fasting_status + m.non_fasting else "F")
    w.add("Specimen", _specimen(sid, pid, when, fasting))
    # drawn only when asked for, so that the default cohort is what it was before these options
    status = "preliminary" if m.preliminary and rand() < m.preliminary else "final"
    panel = bool(has_f and has_t and m.panel and rand() < m.panel)
    parts: list[tuple] = []  # the panel's components

    def result(loinc: str, value: str, unit: str, censored: str | None) -> None:
        if panel:
            parts.append((loinc, value, unit, censored))
        else:
            oid = f"{pid}-{'f' if loinc == FERRITIN else 't'}{k}"
            w.add("Observation", _observation(oid, pid, loinc, when, value, unit, sid, censored, status))

    if has_f:
        ng = _ferritin(rng, m)
        if rand() < m.implausible:
            ng = -round(1 + rand() * 10, 1)
        r = rand()
        if r < m.ferritin_pmol:
            value, unit = ("168.525" if ng == 75.0 else f"{ng * PMOL_PER_NG:.1f}"), "pmol/L"
        elif r < m.ferritin_pmol + m.ferritin_ugl:
            value, unit = f"{ng:g}", "ug/L"
        elif r < m.ferritin_pmol + m.ferritin_ugl + m.ferritin_bad_unit:
            value, unit = f"{ng:g}", "U/L"
        else:
            value, unit = f"{ng:g}", "ng/mL"
        censored = rng.choice(("<", "<=", ">=", ">")) if m.ferritin_censored and rand() < m.ferritin_censored else None
        result(FERRITIN, value, unit, censored)
    if has_t:
        if rand() < m.tsat_exact20:
            pct = "20"
        elif rand() < m.implausible:
            pct = f"{101 + rand() * 50:.1f}"
        else:
            pct = f"{5 + rand() * 45:.1f}"
        result(TSAT, pct, "%", None)
    if panel:
        w.add("Observation", _panel(f"{pid}-p{k}", pid, when, sid, status, parts))


def parse_mix(items: list[str]) -> Mix:
    known = {f.name for f in fields(Mix)}
    changes = {}
    for item in items:
        key, _, value = item.partition("=")
        if key not in known:
            raise SystemExit(f"gen_cohort: unknown mix {key!r}; known: {', '.join(sorted(known))}")
        changes[key] = float(value)
    return replace(Mix(), **changes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir")
    parser.add_argument("--patients", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--bad-rate", type=float, default=0.01)
    parser.add_argument("--as-of", default=AS_OF.isoformat(), help="reference date (default %(default)s)")
    parser.add_argument("--mix", action="append", default=[], metavar="KEY=P", help="override a probability")
    args = parser.parse_args(argv)
    if not 0 <= args.bad_rate < 1:
        parser.error("--bad-rate must be in [0, 1)")
    stats = generate(
        args.outdir, args.patients, args.seed, bad_rate=args.bad_rate, mix=parse_mix(args.mix),
        as_of=date.fromisoformat(args.as_of),
    )
    lines = " ".join(f"{k}={v}" for k, v in stats["lines"].items())
    bad = sum(stats["bad"].values())
    rate = stats["patients"] / stats["seconds"] if stats["seconds"] else 0.0
    print(
        f"patients={stats['patients']} {lines} bad={bad} seconds={stats['seconds']:.2f} "
        f"({rate:,.0f} patients/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
