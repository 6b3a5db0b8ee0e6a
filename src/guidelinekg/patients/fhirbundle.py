"""The FHIR input as indexed resources, and the FHIR datatypes the mapping reads.

:class:`Bundle` holds the resources of one input (a Bundle's entries, or one bare resource) keyed by
type and id, with duplicates resolved deterministically, and resolves References against them
(contained, by ``fullUrl`` or by ``Type/id``). The helpers turn FHIR ``date``/``dateTime`` into
``xsd:dateTime`` and read CodeableConcepts. :mod:`guidelinekg.patients.fhir` maps the indexed resources to
patient triples.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from guidelinekg.errors import InputError, Location
from guidelinekg.patients.fhirschema import check_document
from guidelinekg.patients.model import IngestNote, iri, json_hash, resource_iri

BUNDLE_TYPES = ("collection", "searchset", "transaction", "batch", "document")

_DATETIME = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?"
)


def fhir_datetime(text: Any) -> tuple[str, bool] | None:
    """``(xsd:dateTime lexical, precise)`` for a FHIR date or dateTime, ``None`` when invalid.

    >>> fhir_datetime("2025-03-01"), fhir_datetime("2025-03-01T08:30:00+01:00"), fhir_datetime("2025")
    (('2025-03-01T00:00:00', True), ('2025-03-01T08:30:00+01:00', True), ('2025-01-01T00:00:00', False))
    """
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


def date_range(text: Any) -> tuple[date, date] | None:
    """The first and last day a FHIR date of a year or year-month only allows; ``None`` for anything else.

    >>> date_range("1970"), date_range("2024-02"), date_range("2024-02-10")
    ((datetime.date(1970, 1, 1), datetime.date(1970, 12, 31)), (datetime.date(2024, 2, 1), datetime.date(2024, 2, 29)), None)
    """
    if not isinstance(text, str) or not re.fullmatch(r"\d{4}(-\d{2})?", text) or not fhir_datetime(text):
        return None
    year, month = int(text[:4]), int(text[5:7]) if len(text) == 7 else None
    return date(year, month or 1, 1), date(year, month or 12, calendar.monthrange(year, month or 12)[1])


def code_iri(base: str, code: str) -> str:
    """``base`` + the code, percent-encoded where unsafe (``https://loinc.org/`` + ``12345-6``)."""
    return base + quote(code, safe="-._~")


def codings(concept: Any) -> Iterator[tuple[str | None, str | None, str | None]]:
    """``(system, code, display)`` of each coding of a CodeableConcept."""
    if isinstance(concept, dict):
        for c in concept.get("coding") or []:
            if isinstance(c, dict):
                yield c.get("system"), c.get("code"), c.get("display")


class Bundle:
    """The resources of the input with the indexes that references are resolved against."""

    def __init__(self, doc: dict[str, Any], source: str, skipped: Any = None):
        check_document(doc, source)  # every element read below has its FHIR JSON type
        self.source = source
        self.notes: list[IngestNote] = []
        location = Location(source)
        entries: list[tuple[str | None, Any]]
        if doc["resourceType"] != "Bundle":
            entries = [(None, doc)]
        else:
            if doc.get("type") not in BUNDLE_TYPES:
                raise InputError(
                    f"Bundle of type {(doc.get('type') or '')[:40]!r} is not accepted; "
                    f"accepted: {', '.join(BUNDLE_TYPES)}",
                    location,
                )
            raw = doc.get("entry")
            if not isinstance(raw, list) or not raw:
                raise InputError(
                    "the Bundle has no entries", location, hint="add the Patient and its resources"
                )
            entries = [
                (e.get("fullUrl"), e.get("resource")) if isinstance(e, dict) else (None, None) for e in raw
            ]
        chosen: dict[tuple[str, str], dict[str, Any]] = {}
        self.key_by_url: dict[str, tuple[str, str]] = {}
        for url, res in entries:
            if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
                self.notes.append(
                    IngestNote(
                        "invalid-entry", f"a Bundle entry ({url or 'no fullUrl'}) has no resource; ignored"
                    )
                )
                continue
            rid = res.get("id")
            key = (res["resourceType"], rid if isinstance(rid, str) and rid else json_hash(res))
            if key in chosen and json_hash(chosen[key]) != json_hash(res):
                record = f"{key[0]}/{key[1]}"
                self.notes.append(
                    IngestNote(
                        "duplicate-resource", f"{record} occurs twice, differently; one is used", record
                    )
                )
                res = min(res, chosen[key], key=json_hash)
            chosen[key] = res
            if isinstance(url, str):
                self.key_by_url[url] = key
        self.by_key = chosen
        self.key_of = {id(res): key for key, res in chosen.items()}
        # From a lazy read (guidelinekg.patients.fhirlazy.Skipped): the resources left as text, parsed when a
        # reference leads to one. No fullUrl or key of the input is then given twice.
        self.skipped = skipped
        if skipped is not None:
            self.key_by_url.update(skipped.urls)

    def resources(self) -> list[tuple[tuple[str, str], dict[str, Any]]]:
        return sorted(self.by_key.items(), key=lambda kv: kv[0])

    def resolve(self, ref: Any, context: dict[str, Any]) -> dict[str, Any] | None:
        """The resource a Reference points to: contained (``#id``), by fullUrl, or by ``Type/id``."""
        target = ref.get("reference") if isinstance(ref, dict) else None
        if not isinstance(target, str) or not target:
            return None
        if target.startswith("#"):
            for res in context.get("contained") or []:
                if isinstance(res, dict) and res.get("id") == target[1:]:
                    return res
            return None
        if target in self.key_by_url:
            return self.get(self.key_by_url[target])
        parts = target.split("/_history/")[0].rstrip("/").split("/")
        return self.get((parts[-2], parts[-1])) if len(parts) >= 2 else None

    def get(self, key: tuple[str, str]) -> dict[str, Any] | None:
        """The resource of that key (type, id); one a lazy read left as text is parsed and checked now."""
        res = self.by_key.get(key)
        if res is None and self.skipped is not None and (res := self.skipped.load(key, self.source)) is not None:
            self.key_of[id(res)] = key
        return res

    def unread_observations(self, ignored: Any) -> list[dict[str, Any]]:
        """From a lazy read: each Observation left as text (none of its codes is read) counted in ``ignored``
        (:class:`~guidelinekg.patients.relevance.Ignored`) under its Patient; those not about a Patient of
        the input, parsed, for the mapping to note why (as it does when everything is parsed)."""
        mapped = []
        for reference, observations in self.skipped.observations.items() if self.skipped is not None else ():
            target = self.resolve({"reference": reference}, {})
            if target is not None and target.get("resourceType") == "Patient":
                patient = self.node(target)
                for _, label, codes in observations:
                    ignored.add(patient, "Observation", label, codes)
            else:
                mapped += [self.get(key) for key, _, _ in observations]
        return mapped

    def record(self, res: dict[str, Any]) -> str:
        key = self.key_of.get(id(res)) or (res["resourceType"], res.get("id") or json_hash(res))
        return f"{key[0]}/{key[1]}"

    def node(self, res: dict[str, Any]) -> str:
        """The resource's IRI, formatted for N-Triples."""
        kind, rid = self.record(res).split("/", 1)
        return iri(resource_iri(kind, rid))


def field(res: dict[str, Any], key: str) -> dict[str, Any]:
    """``res[key]`` when it is a JSON object, else an empty one (FHIR elements are optional)."""
    value = res.get(key)
    return value if isinstance(value, dict) else {}
