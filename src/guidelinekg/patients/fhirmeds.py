"""How long each medication record says a product was taken: exposure evidence and its period.

A prescription (``MedicationRequest``) or a dispensing (``MedicationDispense``) proves no intake, but both
are read as exposure: as a result's context, assuming one is the safe side (a result drawn on it is
unreliable, the test ordered again: rule 13). An end this module assumes (*finished*, *stopped* below) is
flagged (``gkg:exposureEndAssumed``): a medication-exposure criterion ("X within the last N days", rule 46)
that only such an end would make true is unknown, not true, since there the assumption is no safe side.
What is read, and how conservatively:

* **MedicationRequest**, with ``intent`` ``order``, ``original-order``, ``reflex-order``, ``filler-order``
  or ``instance-order`` (a ``proposal``, ``plan`` or ``option`` orders nothing), or ``plan`` reported by the
  patient or another (``reportedBoolean`` true or a ``reportedReference``: Oracle Health records a home
  medication so), and ``status`` ``active``, ``on-hold``, ``completed``, ``stopped`` (it was in force, maybe
  still is) or ``unknown`` (it may be any of them: in force or over); not ``doNotPerform``.
  Start: the earliest ``dosageInstruction.timing.repeat.boundsPeriod.start``, else ``authoredOn``, else
  ``dispenseRequest.validityPeriod.start``. End, the first of these the record states:

  1. every dosage instruction bounded: the latest ``boundsPeriod.end``, or the instruction's start plus its
     ``boundsDuration``;
  2. ``dispenseRequest.validityPeriod.end`` (the last day it may be dispensed) plus one
     ``expectedSupplyDuration`` when given (what was handed over that day lasts that long);
  3. the start plus ``expectedSupplyDuration`` times (1 + ``numberOfRepeatsAllowed``);

  an instruction bounded while another is not gives the later of its end and the end of 2 or 3. With none
  of them the end is unknown (``exposure-end-unknown`` note, naming what was assumed): an ``active`` or
  ``on-hold`` request is taken as ongoing from its start; a ``completed`` or ``stopped`` one did end, when is
  not recorded, and an ``unknown`` one may have: see *finished* below (an ``unknown`` one never by its
  ``meta.lastUpdated``: the record did not say it was over then). *Stopped*, with an end from 1-3: halted before that
  planned end, on a date not recorded: ended by its ``meta.lastUpdated`` when between its start and that
  end, else by it.
* **MedicationDispense** with ``status`` ``completed`` (the product was handed over). Start:
  ``whenHandedOver``, else ``whenPrepared``. End: the start plus ``daysSupply``; without it the supply
  handed over ran out at a time not recorded: *finished* (without ``meta.lastUpdated``, which dates the
  hand-over, not the last dose).
* **MedicationStatement** and **MedicationAdministration** (statuses skipped: :mod:`guidelinekg.patients.fhir`):
  ``effectiveDateTime`` is a moment (a date covers its whole day), else ``effectivePeriod``. A record in
  force (``active``, ``in-progress`` or ``on-hold``: :data:`IN_FORCE_STATUSES`) says the product is still
  taken: its ``effectiveDateTime`` is the start, and, like a period without an end, it is ongoing, as it
  says (no note). One ``completed`` or ``stopped`` with a start and no end: *finished*; one ``unknown`` (in
  force or over: the record does not say) with a start and no end: the same, never by its ``meta.lastUpdated``,
  as a request of status ``unknown``. Any other status (``unknown``, none) with ``effectiveDateTime``: that
  moment; none with a start and no end: ongoing.
* *Finished*, end not recorded: the exposure is taken to end at the record's ``meta.lastUpdated`` (the
  record already said it was finished then) when that lies after the start and within
  :data:`FINISHED_WITHOUT_END_DAYS` of it, else :data:`FINISHED_WITHOUT_END_DAYS` days after the start (a
  project assumption, not a source's: a record that says it is over is not read as taken for more than a
  year, so an old prescription does not make every later result "drawn on it", while results drawn in the
  year after its start still count). ``exposure-end-unknown`` says which; the exposure is written with
  ``gkg:exposureEndAssumed`` true (:attr:`ExposurePeriod.end_assumed`), so rule 46 leaves a criterion unknown
  when the recorded start lies before its window and only the assumed end reaches into it.
* Skipped with a ``skipped-status`` note: any other status or intent, and a ``doNotPerform`` request. A
  record without any start date (``missing-time``) or with a period ending before it starts (``invalid-time``,
  :func:`.periods.inverted`: an ``effectivePeriod``, a request's ``boundsPeriod`` or ``validityPeriod``; no
  date of it is guessed) is kept and decides nothing; the input may then lack an exposure (:mod:`.gaps`).

Durations: UCUM time units (``mo`` = 30.4375 d, ``a`` = 365.25 d) or their names in ``unit``; else not used
(``unsupported-duration``). What product a record names: :func:`guidelinekg.patients.medmatch.product`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from guidelinekg.patients.codesystems import canonical_system
from guidelinekg.patients.fhirbundle import fhir_datetime
from guidelinekg.patients.model import number_from_text
from guidelinekg.patients.periods import end_instant, ends_before, instant, inverted, moment_of

REQUEST_INTENTS = ("order", "original-order", "reflex-order", "filler-order", "instance-order")
REQUEST_STATUSES = ("active", "on-hold", "completed", "stopped", "unknown")
DISPENSE_STATUSES = ("completed",)
FINISHED_STATUSES = ("completed", "stopped")  # over, when not always recorded
IN_FORCE_STATUSES = ("active", "in-progress", "on-hold")  # a statement's or an administration's, still taken
FINISHED_WITHOUT_END_DAYS = 365  # project assumption: see the module docstring
START_ELEMENTS = {
    "statement": "effectiveDateTime or effectivePeriod.start",
    "administration": "effectiveDateTime or effectivePeriod.start",
    "request": "dosageInstruction.timing.repeat.boundsPeriod.start, authoredOn or validityPeriod.start",
    "dispense": "whenHandedOver or whenPrepared",
}
# UCUM time units (and the names exports spell them with) in days
_UNITS = {("s", "second", "seconds"): Decimal(1) / 86400, ("min", "minute", "minutes"): Decimal(1) / 1440,
          ("h", "hour", "hours"): Decimal(1) / 24, ("d", "day", "days"): Decimal(1),
          ("wk", "week", "weeks"): Decimal(7), ("mo", "month", "months"): Decimal("30.4375"),
          ("a", "year", "years"): Decimal("365.25")}
DAYS = {name: days for names, days in _UNITS.items() for name in names}


@dataclass
class ExposurePeriod:
    """What a medication record says: ``skip`` (why it is not exposure) or its start and end as
    xsd:dateTime lexical forms (``end`` ``None``: ongoing; ``end_assumed``: an end this module assumed for a
    finished record, not one it states), notes (code, text) to give when its product is one a guideline
    knows, and notes to give whatever the product (``always``: a statement's times)."""

    skip: str | None = None
    start: str | None = None
    end: str | None = None
    notes: list[tuple[str, str]] = field(default_factory=list)
    always: list[tuple[str, str]] = field(default_factory=list)
    end_assumed: bool = False
    known_until: str | None = None  # with an assumed end: the latest end an instruction states (a lower bound)
    invalid: str | None = None  # why its time is unknown: a period that ends before it starts (no start, no end)

    def facts(self) -> list[tuple[str, str, str]]:
        """``(gkg: property, lexical form, XSD datatype)``: the start, the end, whether the end is assumed."""
        out = [(prop, value, "dateTime") for prop, value in (("exposureStart", self.start), ("exposureEnd", self.end))
               if value]
        if self.end and self.end_assumed:
            out.append(("exposureEndAssumed", "true", "boolean"))
            if self.known_until:
                out.append(("exposureKnownUntil", self.known_until, "dateTime"))
        return out


def _dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def duration_days(q: Any) -> Decimal | None:
    """A FHIR Duration (or SimpleQuantity of time) in days; ``None`` when it is not one this reads."""
    q = _dict(q)
    value = q.get("value")
    if isinstance(value, str):  # a number written as a string: the mapping's usual leniency
        value = number_from_text(value)
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)) or not Decimal(value).is_finite() or value < 0:
        return None
    for unit in (q.get("code") if canonical_system(q.get("system")) in (None, "http://unitsofmeasure.org") else None,
                 q.get("unit")):
        if isinstance(unit, str) and unit.strip().lower() in DAYS:  # (every key is lower case)
            return Decimal(value) * DAYS[unit.strip().lower()]
    return None


def _plus(start: str, days: Decimal) -> str | None:
    """The xsd:dateTime ``start`` plus ``days``, its zone kept; ``None`` beyond what a date can hold."""
    try:
        return (datetime.fromisoformat(start.replace("Z", "+00:00")) + timedelta(days=float(days))).isoformat()
    except (ValueError, OverflowError):
        return None


def _first(period: ExposurePeriod, values: list[tuple[Any, str]], pick=min) -> str | None:
    """The earliest (``pick=min``) instant among FHIR dateTimes that parse, compared as instants; a value
    that does not parse is noted and passed over (a later valid one still counts)."""
    good = []
    for value, element in values:
        if value is None:
            continue
        lexical = instant(value)
        if lexical is None:
            period.notes.append(("invalid-time", f"{element} {value!r} is not a FHIR dateTime; not used"))
        else:
            good.append(lexical)
    return pick(good, key=moment_of) if good else None


def _unknown_end(period: ExposurePeriod, status: Any, what: str) -> None:
    said = "has status unknown (it may be in force)" if status == "unknown" else f"is {status}"
    period.notes.append(("exposure-end-unknown", f"{said} and gives no end ({what}): taken as ongoing from its "
                         "start, so results drawn since count as drawn on it"))


def _later(ends: list[str]) -> str:
    return max(ends, key=moment_of)


def _updated(res: dict[str, Any], read: bool) -> str | None:  # meta.lastUpdated, an instant, when read
    stamp = _dict(res.get("meta")).get("lastUpdated") if read else None
    return instant(stamp) if isinstance(stamp, str) and "T" in stamp else None


def _finished(period: ExposurePeriod, res: dict[str, Any], what: str, updated: bool = True,
              stated: list[str] | None = None) -> None:
    """The end of a finished exposure whose end is not recorded (see the module docstring); ``stated``: the
    ends of instructions that have one, when another has none (the latest end wins)."""
    assert period.start is not None
    status, start = res.get("status"), moment_of(period.start)
    said, over = ((f"is {status} but gives no end", "ended") if status != "unknown" else
                  ("has status unknown (in force or over: the record does not say) and gives no end", "ends"))
    assumed = _plus(period.start, Decimal(FINISHED_WITHOUT_END_DAYS))
    if assumed is None:  # beyond what a date can hold
        _unknown_end(period, status, what)
        return
    last = _updated(res, updated)
    if last is not None and start <= moment_of(last) <= moment_of(assumed):
        period.end, why = last, f"its meta.lastUpdated, when the record already said {status}"
    else:
        period.end = assumed
        why = (f"{FINISHED_WITHOUT_END_DAYS} days after its start (a project assumption: a record not said to be "
               f"in force is not read as taken for longer without an end)")
    period.end_assumed = True
    if stated and moment_of(_later(stated)) > moment_of(period.end):
        period.end, why = _later(stated), "the latest end its dosage instructions give"
        period.end_assumed = False
    elif stated:  # an instruction bounded, another not: the course ran at least until the stated end
        period.known_until = _later(stated)
    text = (f"{said} ({what}): when it {over} is unknown; taken as ended by {period.end}, "
            f"{why}, so results drawn until then count as drawn on it and later ones do not")
    if period.known_until:
        text += f" (its dosage instructions say it ran at least until {period.known_until})"
    if period.end_assumed:
        text += ("; a criterion on taking it within a recent span that begins after all the record states (its "
                 "start, and any instruction's end) is unknown, not taken as met")
    period.notes.append(("exposure-end-unknown", text))


def request_period(res: dict[str, Any]) -> ExposurePeriod:
    """The exposure a MedicationRequest records (see the module docstring)."""
    intent, status = res.get("intent"), res.get("status")
    if res.get("doNotPerform") is True:
        return ExposurePeriod(skip="is doNotPerform (an order not to give it)")
    reported = res.get("reportedBoolean") is True or isinstance(res.get("reportedReference"), dict)
    if intent not in REQUEST_INTENTS and not (intent == "plan" and reported):
        return ExposurePeriod(skip=f"has intent {intent}, not an order")
    if status not in REQUEST_STATUSES:
        return ExposurePeriod(skip=f"has status {status}")
    period = ExposurePeriod()
    timings = [_dict(_dict(d.get("timing")).get("repeat")) for d in _dicts(res.get("dosageInstruction"))] or [{}]
    bounds = [_dict(t.get("boundsPeriod")) for t in timings]
    dispense = _dict(res.get("dispenseRequest"))
    validity = _dict(dispense.get("validityPeriod"))
    wrong = [inverted("dosageInstruction.timing.repeat.boundsPeriod", b) for b in bounds]
    if why := next(filter(None, [*wrong, inverted("dispenseRequest.validityPeriod", validity)]), None):
        return ExposurePeriod(invalid=why)  # any of its periods: which of its dates is wrong cannot be told
    period.start = (_first(period, [(b.get("start"), "boundsPeriod.start") for b in bounds])
                    or _first(period, [(res.get("authoredOn"), "authoredOn")])
                    or _first(period, [(validity.get("start"), "validityPeriod.start")]))
    if period.start is None:
        return period
    # 1. each dosage instruction's end: its bounds' end, else its start plus its duration, else open
    ends: list[str | None] = []
    for timing, bound in zip(timings, bounds):
        end = _end(period, bound.get("end"), "boundsPeriod.end")
        if end is None and timing.get("boundsDuration") is not None:
            days = duration_days(timing["boundsDuration"])
            own = instant(bound.get("start")) or period.start
            end = _plus(own, days) if days is not None else None
            if end is None:
                period.notes.append(("unsupported-duration", "has a boundsDuration that is not a number of a UCUM "
                                     "time unit a date can hold; not used"))
        ends.append(end)
    closed = [e for e in ends if e is not None]
    if len(closed) == len(ends):
        period.end = _later(closed)
        return period
    supply = duration_days(dispense.get("expectedSupplyDuration"))
    repeats = dispense.get("numberOfRepeatsAllowed")
    if not isinstance(repeats, (int, Decimal, type(None))) or isinstance(repeats, bool) \
            or (repeats is not None and (repeats != int(repeats) or not 0 <= repeats <= 1000)):
        repeats = supply = None  # (the supply is read with its repeats only)
    if dispense.get("expectedSupplyDuration") is not None and supply is None:
        period.notes.append(("unsupported-duration", "has an expectedSupplyDuration (or numberOfRepeatsAllowed) "
                             "this cannot read; not used"))
    # 2. the last day it may be dispensed, and what was handed over then; 3. the supply and its repeats
    stated = valid_until = _end(period, validity.get("end"), "validityPeriod.end")
    written = next(v for v in [*(b.get("start") for b in bounds), res.get("authoredOn"), validity.get("start")]
                   if instant(v) == period.start)  # the start as written: a date, or an instant
    if valid_until is not None and ends_before(written, validity.get("end")):  # in every zone, as a period
        period.notes.append(("invalid-time", f"validityPeriod.end {validity.get('end')} is before the start "
                             f"{written}; not used"))
        stated = valid_until = None
    if valid_until is not None and supply is not None:
        stated = _plus(valid_until, supply)
    elif valid_until is None and supply is not None:
        stated = _plus(period.start, supply * (1 + int(repeats or 0)))
    if stated is not None:
        period.end = _later([stated, *closed])
        return period
    what = ("a dosage instruction without boundsPeriod.end or boundsDuration, no dispenseRequest.validityPeriod.end "
            "and no usable dispenseRequest.expectedSupplyDuration")
    if status in FINISHED_STATUSES or status == "unknown":  # unknown: perhaps over, its lastUpdated not an end
        _finished(period, res, what, updated=status != "unknown", stated=closed)
    else:
        _unknown_end(period, status, what)
    return period


def _end(period: ExposurePeriod, value: Any, element: str) -> str | None:
    """The end instant of a FHIR date or dateTime given as an end (:func:`end_instant`); an invalid one is
    noted and not used."""
    if value is None:
        return None
    end = end_instant(value)
    if end is None:
        period.notes.append(("invalid-time", f"{element} {value!r} is not a FHIR dateTime; not used"))
    return end


def dispense_period(res: dict[str, Any]) -> ExposurePeriod:
    """The exposure a MedicationDispense records (see the module docstring)."""
    status = res.get("status")
    if status not in DISPENSE_STATUSES:
        return ExposurePeriod(skip=f"has status {status}, not handed over")
    period = ExposurePeriod()
    period.start = (_first(period, [(res.get("whenHandedOver"), "whenHandedOver")])
                    or _first(period, [(res.get("whenPrepared"), "whenPrepared")]))
    if period.start is None:
        return period
    days = duration_days(res.get("daysSupply"))
    if days is not None:
        period.end = _plus(period.start, days)
    if period.end is None and res.get("daysSupply") is not None:
        period.notes.append(("unsupported-duration", "has a daysSupply that is not a duration a date can hold; "
                             "not used"))
    if period.end is None:
        _finished(period, res, "no usable daysSupply", updated=False)
    return period


def effective_period(res: dict[str, Any]) -> ExposurePeriod:
    """The exposure a MedicationStatement or MedicationAdministration records (see the module docstring);
    its time notes are given whatever the product (``always``), as for any record."""
    period = ExposurePeriod()
    if "effectiveDateTime" in res:
        moment = res["effectiveDateTime"]
        period.start = _timed(period, moment, "effectiveDateTime")
        # in force (active, in-progress, on-hold): taken since that moment, its end not recorded: ongoing
        in_force = res.get("status") in IN_FORCE_STATUSES
        period.end = end_instant(moment) if period.start is not None and not in_force else None
    else:
        effective = _dict(res.get("effectivePeriod"))
        if why := inverted("effectivePeriod", effective):
            return ExposurePeriod(invalid=why)
        if "start" in effective:
            period.start = _timed(period, effective["start"], "effectivePeriod.start")
        if "end" in effective and _timed(period, effective["end"], "effectivePeriod.end", is_end=True):
            period.end = end_instant(effective["end"])
    status = res.get("status")
    if period.start is not None and period.end is None and (status in FINISHED_STATUSES or status == "unknown"):
        _finished(period, res, "no effectivePeriod.end", updated=status != "unknown")  # unknown: as a request's
    return period


def _timed(period: ExposurePeriod, value: Any, element: str, is_end: bool = False) -> str | None:
    parsed = fhir_datetime(value)
    if parsed is None:
        period.always.append(("invalid-time", f"{element} {value!r} is not a FHIR dateTime; not used"))
        return None
    if not parsed[1]:
        taken = f"{end_instant(value)} (the end of that period)" if is_end else parsed[0]
        period.always.append(("imprecise-time", f"{element} {value!r} has no day; taken as {taken}"))
    return parsed[0]


def exposure_period(kind: str, res: dict[str, Any]) -> ExposurePeriod:
    """The period of a record of any kind (``statement``, ``administration``, ``request``, ``dispense``)."""
    period = {"request": request_period, "dispense": dispense_period}.get(kind, effective_period)(res)
    if kind == "request" and res.get("status") == "stopped" and period.end and not period.end_assumed:
        last, planned, period.end_assumed = _updated(res, True), period.end, True
        if last is not None and moment_of(period.start) <= moment_of(last) < moment_of(planned):
            period.end = last
        period.notes.append(("exposure-end-unknown", f"is stopped: halted before its planned end ({planned}) on a date "
                             f"not recorded; taken as ended by {period.end}, an assumed end"))
    return period
