"""Time arithmetic the rules need, done once in Python: instants as hours since the epoch, dates as days.

SPARQL engines differ on dateTime arithmetic and on comparing times with and without offsets; giving the
rules plain numbers (``gkg:effectiveHours`` etc.) keeps them portable and fast. A time without an offset
is read as UTC (FHIR allows it only for dates; the loader keeps the lexical form as given). A result's
date (``gkg:effectiveDay``) is its calendar date as recorded (the offset ignored, as the explanation shows
it), so its age on the as-of date is a whole number of days (``gkg:asOfDay`` minus it). A time without a day
(``"2026-01"``) is a span from ``gkg:effectiveTime`` to ``gkg:effectiveSpanEnd``: both are indexed. A
result's time recorded in UTC also gets the earliest date it may have had where it was taken
(``gkg:effectiveEarliestDay``, at UTC-12:00) when that is an earlier date: its local date is not recorded.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from guidelinekg.engine.store import RuleStore

GKG = "https://w3id.org/guidelinekg/ontology#"
XSD_DECIMAL = "http://www.w3.org/2001/XMLSchema#decimal"
XSD_DATE = "http://www.w3.org/2001/XMLSchema#date"
XSD_INTEGER = "http://www.w3.org/2001/XMLSchema#integer"
CONTEXT_IRI = "urn:guidelinekg:context"

TIME_PROPERTIES = {
    GKG + "effectiveTime": GKG + "effectiveHours",
    GKG + "effectiveSpanEnd": GKG + "effectiveSpanEndHours",  # a result's time without a day: its span's end
    GKG + "exposureStart": GKG + "exposureStartHours",
    GKG + "exposureEnd": GKG + "exposureEndHours",
    GKG + "exposureKnownUntil": GKG + "exposureKnownUntilHours",  # with an assumed end: a stated lower bound
}
# the calendar date of a time as recorded, in days since the epoch (a result's age is counted in days, and
# how long ago a procedure was performed)
DAY_PROPERTIES = {
    GKG + "effectiveTime": GKG + "effectiveDay",
    GKG + "effectiveSpanEnd": GKG + "effectiveSpanEndDay",
    GKG + "performedStart": GKG + "performedStartDay",
    GKG + "performedEnd": GKG + "performedEndDay",
    GKG + "onsetTime": GKG + "onsetDay",  # how long before the as-of date a condition began
    GKG + "onsetSpanEnd": GKG + "onsetSpanEndDay",
    GKG + "recordedTime": GKG + "recordedDay",  # a condition without an onset had begun by the day it was recorded
    GKG + "recordedSpanEnd": GKG + "recordedSpanEndDay",
    GKG + "abatementTime": GKG + "abatementDay",  # over by then, so begun by then
    GKG + "abatementSpanEnd": GKG + "abatementSpanEndDay",
}
# a result's time recorded in UTC (Z, +00:00): the earliest date it may have had where it was taken
EARLIEST_DAY = GKG + "effectiveEarliestDay"
WESTMOST = timedelta(hours=12)  # UTC-12:00, the westmost offset in use
# every predicate time_index_triples writes: derived by the engine, never a recorded patient fact
INDEX_PREDICATES = frozenset(TIME_PROPERTIES.values()) | frozenset(DAY_PROPERTIES.values()) | {EARLIEST_DAY}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def parse_instant(lexical: str) -> datetime:
    """Parse an xsd:dateTime or xsd:date lexical form; naive values are taken as UTC."""
    text = lexical.strip()
    if len(text) == 10:
        value = datetime.combine(date.fromisoformat(text), datetime.min.time())
    else:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def hours_since_epoch(value: datetime) -> str:
    """Hours since 1970-01-01T00:00Z as an exact decimal lexical form (to the second)."""
    seconds = int((value - _EPOCH).total_seconds())
    whole, rest = divmod(seconds, 3600)
    if rest == 0:
        return f"{whole}.0"
    return f"{seconds / 3600:.6f}"


def day_number(value: date) -> int:
    """Days since 1970-01-01 of a calendar date."""
    return value.toordinal() - _EPOCH_ORDINAL


def decimal_literal(lexical: str) -> str:
    return f'"{lexical}"^^<{XSD_DECIMAL}>'


def time_index_triples(store: RuleStore) -> list[str]:
    """N-Triples lines giving every time-valued patient fact its hours-since-epoch twin, and its day number
    where a rule counts days."""
    values = " ".join(f"<{p}>" for p in {**TIME_PROPERTIES, **DAY_PROPERTIES})
    rows = store.select(f"SELECT ?s ?p ?t WHERE {{ VALUES ?p {{ {values} }} ?s ?p ?t }}")
    lines = []
    for row in rows:
        try:
            instant = parse_instant(row["t"].value)
        except ValueError:
            continue  # a malformed time stays without an index; the patient shapes report it
        if row["p"].value in TIME_PROPERTIES:
            hours = decimal_literal(hours_since_epoch(instant))
            lines.append(f"{row['s'].n3} <{TIME_PROPERTIES[row['p'].value]}> {hours} .\n")
        if row["p"].value in DAY_PROPERTIES:  # the date as recorded: parse_instant keeps the offset given
            day = day_number(instant.date())
            lines.append(f'{row["s"].n3} <{DAY_PROPERTIES[row["p"].value]}> "{day}"^^<{XSD_INTEGER}> .\n')
            if row["p"].value == GKG + "effectiveTime" and in_utc(row["t"].value):
                earliest = day_number((instant - WESTMOST).date())
                if earliest < day:
                    lines.append(f'{row["s"].n3} <{EARLIEST_DAY}> "{earliest}"^^<{XSD_INTEGER}> .\n')
    return sorted(lines)


def in_utc(lexical: str) -> bool:
    """Whether a time of day is recorded in UTC (``Z``, ``+00:00``, ``-00:00``): Epic and Oracle Health send
    times so, and the date where it was taken (its local date) is then not recorded.

    >>> in_utc("2026-01-16T01:30:00Z"), in_utc("2026-01-16T01:30:00+00:00"), in_utc("2026-01-15T20:30:00-05:00")
    (True, True, False)
    >>> in_utc("2026-01-16"), in_utc("2026-01-16T01:30:00")
    (False, False)
    """
    text = lexical.strip()
    return len(text) > 10 and (text.endswith("Z") or text.endswith(("+00:00", "-00:00")))


def context_triples(as_of: date, run_iri: str = CONTEXT_IRI) -> list[str]:
    """The evaluation context the rules read: the as-of date, the end of that day in hours, and the date in
    days (a result's age in days is this minus its ``gkg:effectiveDay``)."""
    end = datetime.combine(as_of + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)
    return [
        f"<{run_iri}> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{GKG}EvaluationContext> .\n",
        f"<{run_iri}> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://www.w3.org/ns/prov#Activity> .\n",
        f'<{run_iri}> <{GKG}asOfDate> "{as_of.isoformat()}"^^<{XSD_DATE}> .\n',
        f"<{run_iri}> <{GKG}asOfEndHours> {decimal_literal(hours_since_epoch(end))} .\n",
        f'<{run_iri}> <{GKG}asOfDay> "{day_number(as_of)}"^^<{XSD_INTEGER}> .\n',
    ]
