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
from datetime import datetime, timedelta
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
    """What a request or dispense says: ``skip`` (why it is not exposure) or its start and end, each a FHIR
    value with the element it came from; ``end_lexical`` an end computed from a duration (xsd:dateTime)."""

    skip: str | None = None
    start: tuple[Any, str] | None = None
    end: tuple[Any, str] | None = None
    end_lexical: str | None = None
    notes: list[tuple[str, str]] = field(default_factory=list)


def _dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def duration_days(q: Any) -> Decimal | None:
    """A FHIR Duration (or SimpleQuantity of time) in days; ``None`` when it is not one this reads."""
    q = _dict(q)
    value = q.get("value")
    if not isinstance(value, (int, Decimal)) or isinstance(value, bool) or value < 0:
        return None
    for unit in (q.get("code") if q.get("system") in (None, "http://unitsofmeasure.org") else None,
                 q.get("unit")):
        if isinstance(unit, str) and unit.strip().lower() in DAYS:
            return Decimal(value) * DAYS[unit.strip().lower()]
        if isinstance(unit, str) and unit.strip() in DAYS:
            return Decimal(value) * DAYS[unit.strip()]
    return None


def _plus(start: Any, days: Decimal) -> str | None:
    """The FHIR dateTime ``start`` plus ``days``, as an xsd:dateTime lexical form (its zone kept)."""
    parsed = fhir_datetime(start)
    if parsed is None:
        return None
    try:
        moment = datetime.fromisoformat(parsed[0]) + timedelta(days=float(days))
    except (ValueError, OverflowError):
        return None
    return moment.isoformat()


def _earliest(values: list[tuple[Any, str]], latest: bool = False) -> tuple[Any, str] | None:
    """The earliest (or latest) of FHIR dateTimes by their parsed instant; unparsable ones last."""
    parsed = [(fhir_datetime(v), v, e) for v, e in values if v is not None]
    good = [(p[0], v, e) for p, v, e in parsed if p is not None]
    if not good:
        return (parsed[0][1], parsed[0][2]) if parsed else None
    pick = max(good) if latest else min(good)
    return pick[1], pick[2]


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
    timings = [_dict(_dict(d.get("timing")).get("repeat")) for d in _dicts(res.get("dosageInstruction"))]
    bounds = [_dict(t.get("boundsPeriod")) for t in timings]
    starts = [(b.get("start"), "dosageInstruction.timing.repeat.boundsPeriod.start") for b in bounds]
    dispense = _dict(res.get("dispenseRequest"))
    period.start = (_earliest([s for s in starts if s[0] is not None])
                    or ((res["authoredOn"], "authoredOn") if res.get("authoredOn") is not None else None)
                    or ((v, "dispenseRequest.validityPeriod.start")
                        if (v := _dict(dispense.get("validityPeriod")).get("start")) is not None else None))
    ends = [(b.get("end"), "dosageInstruction.timing.repeat.boundsPeriod.end") for b in bounds if b.get("end")]
    if ends:
        period.end = _earliest(ends, latest=True)
        return period
    if period.start is None:
        return period
    durations = [d for t in timings if (d := duration_days(t.get("boundsDuration"))) is not None]
    supply = duration_days(dispense.get("expectedSupplyDuration"))
    repeats = dispense.get("numberOfRepeatsAllowed")
    repeats = int(repeats) if isinstance(repeats, (int, Decimal)) and not isinstance(repeats, bool) \
        and repeats == int(repeats) and 0 <= repeats <= 1000 else 0
    if durations:
        period.end_lexical = _plus(period.start[0], max(durations))
    elif supply is not None:
        period.end_lexical = _plus(period.start[0], supply * (1 + repeats))
    unread_bounds = any(t.get("boundsDuration") is not None for t in timings) and not durations
    if unread_bounds or (dispense.get("expectedSupplyDuration") is not None and supply is None):
        period.notes.append(("unsupported-duration", "has a duration that is not a number in a UCUM time unit; not used"))
    if period.end_lexical is None:
        _unknown_end(period, "no boundsPeriod.end, boundsDuration or dispenseRequest.expectedSupplyDuration")
    return period


def dispense_period(res: dict[str, Any]) -> ExposurePeriod:
    """The exposure a MedicationDispense records (see the module docstring)."""
    status = res.get("status")
    if status not in DISPENSE_STATUSES:
        return ExposurePeriod(skip=f"has status {status}, not handed over")
    period = ExposurePeriod()
    for element in ("whenHandedOver", "whenPrepared"):
        if res.get(element) is not None:
            period.start = (res[element], element)
            break
    if period.start is None:
        return period
    days = duration_days(res.get("daysSupply"))
    if days is not None:
        period.end_lexical = _plus(period.start[0], days)
    elif res.get("daysSupply") is not None:
        period.notes.append(("unsupported-duration", "has a daysSupply that is not a duration; not used"))
    if period.end_lexical is None:
        _unknown_end(period, "no daysSupply")
    return period
