"""When a MedicationRequest or a MedicationDispense says a product was taken: exposure evidence and its period.

A prescription (``MedicationRequest``) and a dispensing (``MedicationDispense``) are the usual records of
medication in real exports; neither proves the product was taken, but both are read as exposure, because
in every use the rules make of an exposure, assuming one is the safe side: a result drawn while a product
may have been taken is treated as unreliable and the test ordered again (rule 13), and a course "within the
last N days" triggers the monitoring that goes with it (rule 46). What is read, and how conservatively:

* **MedicationRequest**, with ``intent`` ``order``, ``original-order``, ``reflex-order``, ``filler-order``
  or ``instance-order`` (a ``proposal``, ``plan`` or ``option`` orders nothing) and ``status`` ``active``,
  ``on-hold``, ``completed`` or ``stopped`` (it was in force, maybe still is); not ``doNotPerform``.
  Start: the earliest ``dosageInstruction.timing.repeat.boundsPeriod.start``, else ``authoredOn``, else
  ``dispenseRequest.validityPeriod.start``. End: the latest ``boundsPeriod.end``; else the start plus the
  longest ``boundsDuration``; else the start plus ``dispenseRequest.expectedSupplyDuration`` times
  (1 + ``numberOfRepeatsAllowed``). With none of these the end is unknown: the exposure is taken as
  ongoing from its start (``exposure-end-unknown`` note), the conservative reading.
* **MedicationDispense** with ``status`` ``completed`` (the product was handed over). Start:
  ``whenHandedOver``, else ``whenPrepared``. End: the start plus ``daysSupply``; without it, ongoing from
  the start (``exposure-end-unknown``).
* Skipped with a ``skipped-status`` note: any other status or intent, and a ``doNotPerform`` request. A
  request or dispense without any start date is kept with a ``missing-time`` note and decides nothing
  (rules read exposures by their start).

Durations are UCUM time units (``s``, ``min``, ``h``, ``d``, ``wk``, ``mo`` = 30.4375 d, ``a`` = 365.25 d,
as UCUM defines them) or their spelled-out names in ``unit``; anything else is not used (``unsupported-
duration`` note) and the end is then unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from guidelinekg.patients.fhirbundle import fhir_datetime

REQUEST_INTENTS = ("order", "original-order", "reflex-order", "filler-order", "instance-order")
REQUEST_STATUSES = ("active", "on-hold", "completed", "stopped")
DISPENSE_STATUSES = ("completed",)
# UCUM time units (and the names exports spell them with) in days
DAYS = {
    "s": Decimal(1) / 86400, "min": Decimal(1) / 1440, "h": Decimal(1) / 24, "d": Decimal(1), "wk": Decimal(7),
    "mo": Decimal("30.4375"), "a": Decimal("365.25"),
    "second": Decimal(1) / 86400, "seconds": Decimal(1) / 86400, "minute": Decimal(1) / 1440,
    "minutes": Decimal(1) / 1440, "hour": Decimal(1) / 24, "hours": Decimal(1) / 24, "day": Decimal(1),
    "days": Decimal(1), "week": Decimal(7), "weeks": Decimal(7), "month": Decimal("30.4375"),
    "months": Decimal("30.4375"), "year": Decimal("365.25"), "years": Decimal("365.25"),
}  # fmt: skip


@dataclass
class ExposurePeriod:
    """What a request or dispense says: ``skip`` (why it is not exposure) or its start and end as
    xsd:dateTime lexical forms (``end`` ``None``: ongoing), and notes (code, text) about it."""

    skip: str | None = None
    start: str | None = None
    end: str | None = None
    notes: list[tuple[str, str]] = field(default_factory=list)


def _dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def duration_days(q: Any) -> Decimal | None:
    """A FHIR Duration (or SimpleQuantity of time) in days; ``None`` when it is not one this reads."""
    q = _dict(q)
    value = q.get("value")
    if isinstance(value, str):  # a number written as a string: the mapping's usual leniency
        try:
            value = Decimal(value.strip())
        except ArithmeticError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        return None
    if (isinstance(value, Decimal) and not value.is_finite()) or value < 0:
        return None
    for unit in (q.get("code") if q.get("system") in (None, "http://unitsofmeasure.org") else None,
                 q.get("unit")):
        if isinstance(unit, str) and unit.strip().lower() in DAYS:
            return Decimal(value) * DAYS[unit.strip().lower()]
        if isinstance(unit, str) and unit.strip() in DAYS:
            return Decimal(value) * DAYS[unit.strip()]
    return None


def _moment(lexical: str) -> datetime:
    """An xsd:dateTime lexical form as an aware datetime (no offset: UTC, as the rules read it)."""
    moment = datetime.fromisoformat(lexical.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def instant(value: Any) -> str | None:
    """The xsd:dateTime lexical form of a FHIR date or dateTime (its start), ``None`` when invalid."""
    parsed = fhir_datetime(value)
    return parsed[0] if parsed else None


def end_instant(value: Any) -> str | None:
    """The end of a FHIR date or dateTime as an instant: a dateTime is itself; a date, a year-month or a
    year covers the whole day, month or year, so its end is the start of the next one (FHIR Period.end
    "2026-01-14" includes that day)."""
    parsed = fhir_datetime(value)
    if parsed is None:
        return None
    if not isinstance(value, str) or "T" in value:
        return parsed[0]
    moment = datetime.fromisoformat(parsed[0])
    if len(value) == 4:
        nxt = moment.replace(year=moment.year + 1) if moment.year < 9999 else None
    elif len(value) == 7:
        nxt = moment.replace(year=moment.year + moment.month // 12, month=moment.month % 12 + 1) \
            if moment.year < 9999 or moment.month < 12 else None
    else:
        nxt = moment + timedelta(days=1) if moment.date() < date.max else None
    return nxt.isoformat() if nxt is not None else parsed[0]


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
    return pick(good, key=_moment) if good else None


def _unknown_end(period: ExposurePeriod, what: str) -> None:
    text = f"gives no end ({what}); taken as ongoing from its start, so results drawn since count as drawn on it"
    period.notes.append(("exposure-end-unknown", text))


def request_period(res: dict[str, Any]) -> ExposurePeriod:
    """The exposure a MedicationRequest records (see the module docstring)."""
    intent, status = res.get("intent"), res.get("status")
    if res.get("doNotPerform") is True:
        return ExposurePeriod(skip="is doNotPerform (an order not to give it)")
    if intent not in REQUEST_INTENTS:
        return ExposurePeriod(skip=f"has intent {intent}, not an order")
    if status not in REQUEST_STATUSES:
        return ExposurePeriod(skip=f"has status {status}")
    period = ExposurePeriod()
    timings = [_dict(_dict(d.get("timing")).get("repeat")) for d in _dicts(res.get("dosageInstruction"))] or [{}]
    bounds = [_dict(t.get("boundsPeriod")) for t in timings]
    dispense = _dict(res.get("dispenseRequest"))
    period.start = (_first(period, [(b.get("start"), "boundsPeriod.start") for b in bounds])
                    or _first(period, [(res.get("authoredOn"), "authoredOn")])
                    or _first(period, [(_dict(dispense.get("validityPeriod")).get("start"), "validityPeriod.start")]))
    if period.start is None:
        return period
    # each dosage instruction's end: its bounds' end, else its start plus its duration, else open
    ends: list[str | None] = []
    for timing, bound in zip(timings, bounds):
        end = end_instant(bound.get("end")) if bound.get("end") is not None else None
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
        period.end = max(closed, key=_moment)
        return period
    supply = duration_days(dispense.get("expectedSupplyDuration"))
    repeats = dispense.get("numberOfRepeatsAllowed")
    if supply is not None and isinstance(repeats, (int, Decimal, type(None))) and not isinstance(repeats, bool) \
            and (repeats is None or (repeats == int(repeats) and 0 <= repeats <= 1000)):
        by_supply = _plus(period.start, supply * (1 + int(repeats or 0)))
        if by_supply is not None:
            period.end = max([by_supply, *closed], key=_moment)
            return period
    if dispense.get("expectedSupplyDuration") is not None:
        period.notes.append(("unsupported-duration", "has an expectedSupplyDuration (or numberOfRepeatsAllowed) "
                             "this cannot read; not used"))
    _unknown_end(period, "a dosage instruction without boundsPeriod.end or boundsDuration, and no usable "
                 "dispenseRequest.expectedSupplyDuration")
    return period


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
        _unknown_end(period, "no daysSupply")
    return period
