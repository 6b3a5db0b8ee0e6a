"""Time arithmetic the rules need, done once in Python: instants as hours since the epoch.

SPARQL engines differ on dateTime arithmetic and on comparing times with and without offsets; giving the
rules plain numbers (``gkg:effectiveHours`` etc.) keeps them portable and fast. A time without an offset
is read as UTC (FHIR allows it only for dates; the loader keeps the lexical form as given).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from guidelinekg.engine.store import RuleStore

GKG = "https://w3id.org/guidelinekg/ontology#"
XSD_DECIMAL = "http://www.w3.org/2001/XMLSchema#decimal"
XSD_DATE = "http://www.w3.org/2001/XMLSchema#date"
CONTEXT_IRI = "urn:guidelinekg:context"

TIME_PROPERTIES = {
    GKG + "effectiveTime": GKG + "effectiveHours",
    GKG + "exposureStart": GKG + "exposureStartHours",
    GKG + "exposureEnd": GKG + "exposureEndHours",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


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


def decimal_literal(lexical: str) -> str:
    return f'"{lexical}"^^<{XSD_DECIMAL}>'


def time_index_triples(store: RuleStore) -> list[str]:
    """N-Triples lines giving every time-valued patient fact its hours-since-epoch twin."""
    values = " ".join(f"<{p}>" for p in TIME_PROPERTIES)
    rows = store.select(f"SELECT ?s ?p ?t WHERE {{ VALUES ?p {{ {values} }} ?s ?p ?t }}")
    lines = []
    for row in rows:
        try:
            hours = hours_since_epoch(parse_instant(row["t"].value))
        except ValueError:
            continue  # a malformed time stays without an index; the patient shapes report it
        lines.append(f"{row['s'].n3} <{TIME_PROPERTIES[row['p'].value]}> {decimal_literal(hours)} .\n")
    return sorted(lines)


def context_triples(as_of: date, run_iri: str = CONTEXT_IRI) -> list[str]:
    """The evaluation context the rules read: the as-of date and the end of that day in hours."""
    end = datetime.combine(as_of + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)
    return [
        f"<{run_iri}> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{GKG}EvaluationContext> .\n",
        f"<{run_iri}> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://www.w3.org/ns/prov#Activity> .\n",
        f'<{run_iri}> <{GKG}asOfDate> "{as_of.isoformat()}"^^<{XSD_DATE}> .\n',
        f"<{run_iri}> <{GKG}asOfEndHours> {decimal_literal(hours_since_epoch(end))} .\n",
    ]
