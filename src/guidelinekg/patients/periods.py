"""FHIR dates and periods as instants: when a date or dateTime begins and ends, and whether a Period ends
before it starts (FHIR per-1), for every record the mapping reads (medication, Observation, Condition,
Procedure).

A FHIR date (or a year-month, a year) names days, not instants: its span begins and ends at local midnight
in a zone the record does not state. A period with one bound a date and the other an instant is therefore
inverted only when it is in every time zone (UTC-12:00 to UTC+14:00), so an evening draw written in UTC
("2026-12-02T01:30:00Z") with an end the same local date ("2026-12-01") is no error.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from guidelinekg.patients.fhirbundle import date_range, fhir_datetime

WEST, EAST = timezone(timedelta(hours=-12)), timezone(timedelta(hours=14))  # the range of UTC offsets in use


def moment_of(lexical: str) -> datetime:
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


def _first_day(value: str) -> date:
    """The first day a FHIR date, year-month or year names."""
    return date.fromisoformat(instant(value)[:10])


def _last_day(value: str) -> date:
    """The last day a FHIR date, year-month or year names."""
    span = date_range(value)
    return span[1] if span else date.fromisoformat(value[:10])


def _day_at(lexical: str, zone: timezone) -> date:
    """The calendar day an instant falls on at the offset ``zone`` (the day written at the range's ends)."""
    try:
        return moment_of(lexical).astimezone(zone).date()
    except OverflowError:
        return date.fromisoformat(lexical[:10])


def ends_before(start: Any, end: Any) -> bool:
    """Whether a FHIR period from ``start`` to ``end`` (FHIR dates or dateTimes) ends before it starts (per-1),
    in every time zone a date may be local to: both with a time, as instants; both dates, by the days written
    (a date ends with its whole day); a date beside an instant, only when the date's day is over before the
    instant in every zone (UTC-12:00 to UTC+14:00): an end date before the start's day at UTC-12:00, a start
    date after the end's day at UTC+14:00. ``False`` when a bound does not parse (it decides nothing)."""
    first, last = instant(start), instant(end)
    if first is None or last is None:
        return False
    if "T" in start and "T" in end:
        return moment_of(last) < moment_of(first)
    if "T" in start:  # the latest the end's day can be over: at UTC-12:00
        return _last_day(end) < _day_at(first, WEST)
    if "T" in end:  # the earliest the start's day can begin: at UTC+14:00
        return _day_at(last, EAST) < _first_day(start)
    return _last_day(end) < _first_day(start)


def inverted(element: str, period: Any) -> str | None:
    """Why the FHIR Period ``element`` is invalid when it ends before it starts (per-1, :func:`ends_before`);
    a bound that does not parse decides nothing."""
    start, end = (period.get("start"), period.get("end")) if isinstance(period, dict) else (None, None)
    return f"{element} ends {end}, before it starts {start}" if ends_before(start, end) else None
