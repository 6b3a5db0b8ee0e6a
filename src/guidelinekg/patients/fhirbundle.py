"""The FHIR input as indexed resources, and the FHIR datatypes the mapping reads.

:class:`Bundle` holds the resources of one input (a Bundle's entries, or one bare resource) keyed by
type and id, and resolves References against them (contained, by ``fullUrl`` or by ``Type/id``; an absolute
URL never names a resource whose ``fullUrl`` is on another server). The helpers turn FHIR
``date``/``dateTime`` into ``xsd:dateTime`` and read CodeableConcepts.
:mod:`guidelinekg.patients.fhir` maps the indexed resources to patient triples.

A resource given twice (same type and id) with different content is two versions of one record: when
their ``meta`` says which is newer (a later ``meta.lastUpdated``, else a higher numeric
``meta.versionId``), the newest is used and the others set aside (:func:`newest`), with a
``duplicate-resource`` note saying which. When nothing says, none is guessed: neither copy is used (what it
records is missing, as for any result not given), or, for a Patient, the input is refused. Identical copies
are one.

What a Bundle says about its own completeness (:func:`search_notes`): a search result may be cut short,
and a server that truncated a search, was refused part of it, or pages it says so in the Bundle (an
OperationOutcome, with ``entry.search.mode`` ``outcome`` or not, and a ``next`` link), not in the resources.
Evaluated as if complete, a record missing its latest results gives advice without saying it may rest on
part of the record. So:

* an issue of severity ``fatal`` or ``error``: a ``search-incomplete`` note with its severity, code and
  text (``diagnostics``, else ``details``);
* a ``Bundle.link`` of relation ``next`` or ``previous``, or a searchset whose ``total`` exceeds the matches
  it holds: a ``search-incomplete`` note, the Bundle is one page of a search whose other pages were not read;
* an issue of severity ``warning`` (or of a severity FHIR does not define): a ``search-warning`` note, as a
  server may warn that resources were withheld;
* an OperationOutcome with ``information`` issues only says nothing about what is missing: it is counted
  with the types not used (``ignored-resource``), as before.

These are notes about the input as a whole: every patient of the Bundle gets them. What the missing part
would have held stays unknown: a measure without a result is ordered, and a ``search-incomplete`` note lacks
every closed-world record (a condition, allergy, procedure or medication not shown is unknown, not absent).
"""

from __future__ import annotations

import calendar
import re
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from guidelinekg.errors import InputError, Location
from guidelinekg.patients.codesystems import canonical_system, trimmed
from guidelinekg.patients.decode import where
from guidelinekg.patients.fhirschema import check_document, page_gap
from guidelinekg.patients.model import CUT_SHORT, MAY_LACK_ANY, IngestNote, iri, json_hash, resource_iri

BUNDLE_TYPES = ("collection", "searchset", "transaction", "batch", "document")

_DATETIME = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?",
    re.ASCII,  # \d is any Unicode digit otherwise: "١٩٦٨-04-12" is no FHIR date
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
    if not isinstance(text, str) or not re.fullmatch(r"\d{4}(-\d{2})?", text, re.ASCII) or not fhir_datetime(text):
        return None
    year, month = int(text[:4]), int(text[5:7]) if len(text) == 7 else None
    return date(year, month or 1, 1), date(year, month or 12, calendar.monthrange(year, month or 12)[1])


def code_iri(base: str, code: str) -> str:
    """``base`` + the code, percent-encoded where unsafe (``https://loinc.org/`` + ``12345-6``)."""
    return base + quote(code, safe="-._~")


def codings(concept: Any) -> Iterator[tuple[str | None, str | None, str | None]]:
    """``(system, code, display)`` of each coding of a CodeableConcept, system and code trimmed; a system
    named by its OID (or URI and a slash) as its FHIR R4 URI (:mod:`guidelinekg.patients.codesystems`)."""
    if isinstance(concept, dict):
        for c in concept.get("coding") or []:
            if isinstance(c, dict):
                yield canonical_system(c.get("system")), trimmed(c.get("code")), c.get("display")


_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", re.ASCII)


def version_of(res: dict[str, Any]) -> tuple[datetime | None, int | None]:
    """``(meta.lastUpdated, meta.versionId)`` of a resource: the instant when it is a FHIR instant (with its
    time zone), the version when it is a whole number; ``None`` for what is absent or else.

    >>> version_of({"meta": {"lastUpdated": "2026-01-09T10:00:00+01:00", "versionId": "2"}})
    (datetime.datetime(2026, 1, 9, 10, 0, tzinfo=datetime.timezone(datetime.timedelta(seconds=3600))), 2)
    >>> version_of({"meta": {"lastUpdated": "2026-01-09", "versionId": "W/2"}}), version_of({})
    ((None, None), (None, None))
    """
    meta = res.get("meta")
    meta = meta if isinstance(meta, dict) else {}
    updated, vid = meta.get("lastUpdated"), meta.get("versionId")
    instant = None
    if isinstance(updated, str) and _INSTANT.fullmatch(updated) and fhir_datetime(updated):
        instant = datetime.fromisoformat(updated)
    return instant, int(vid) if isinstance(vid, str) and re.fullmatch(r"[0-9]{1,18}", vid) else None


def _newer(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether ``a``'s meta says it is newer than ``b``: a later ``lastUpdated`` (both given and different),
    else a higher ``versionId`` (both numeric and different)."""
    (ta, va), (tb, vb) = version_of(a), version_of(b)
    if ta is not None and tb is not None and ta != tb:
        return ta > tb
    return va is not None and vb is not None and va > vb


def _described(res: dict[str, Any]) -> str:
    """A copy as its meta names it (``version 2 (updated 2026-01-09T10:00:00Z)``), or ``""``."""
    meta = field(res, "meta")
    vid, updated = meta.get("versionId"), meta.get("lastUpdated")
    when = f"updated {updated[:40]}" if isinstance(updated, str) else ""
    if isinstance(vid, str):
        return f"version {vid[:20]}" + (f" ({when})" if when else "")
    return f"the copy {when}" if when else ""


def _listed(names: list[str]) -> str:
    return " and ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} and {names[-1]}"


def newest(found: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str]:
    """Of the different copies of one resource, the one whose meta says it is newer than every other
    (``None`` when none is), and the note's text after the record: which copy is used and which set aside,
    or, without a newest, which copies there are. The result does not depend on the copies' order.

    >>> old, new = ({"id": "o", "value": v, "meta": {"versionId": str(v)}} for v in (1, 2))
    >>> newest([new, old])
    ({'id': 'o', 'value': 2, 'meta': {'versionId': '2'}}, 'occurs twice, differently (in value): version 2, the newest, is used; version 1 is set aside')
    >>> newest([{"id": "o", "value": 2}, old])[1]
    'occurs twice, differently (in value), and no meta.lastUpdated or meta.versionId says which is newer (copy 6eeb2988 and version 1)'
    """
    differ = sorted({k for r in found for k in r
                     if k != "meta" and len({json_hash(o.get(k)) for o in found}) > 1})
    times = "twice" if len(found) == 2 else f"{len(found)} times"
    head = f"occurs {times}, differently" + (f" (in {', '.join(differ)})" if differ else "")
    described = {json_hash(r): _described(r) for r in found}
    seen = Counter(described.values())
    names = {h: f"{name} (copy {h[:8]})" if name and seen[name] > 1 else name or f"copy {h[:8]}"
             for h, name in described.items()}  # as the meta names them, else by content
    kept = next((r for r in found if all(r is o or _newer(r, o) for o in found)), None)
    if kept is None:
        return None, (f"{head}, and no meta.lastUpdated or meta.versionId says which is newer "
                      f"({_listed(sorted(names.values()))})")
    aside = sorted(names[json_hash(r)] for r in found if r is not kept)
    verb = "is" if len(aside) == 1 else "are"
    return kept, f"{head}: {names[json_hash(kept)]}, the newest, is used; {_listed(aside)} {verb} set aside"


# Resources that records refer to for what they name (a product, a specimen), not facts of their own
REFERENCED_TYPES = ("Specimen", "Medication")


class Bundle:
    """The resources of the input with the indexes that references are resolved against."""

    def __init__(self, doc: dict[str, Any], source: str, skipped: Any = None, unread: frozenset[str] = frozenset()):
        check_document(doc, source, unread)  # every element read below has its FHIR JSON type
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
        copies: dict[tuple[str, str], list[dict[str, Any]]] = {}
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
            copies.setdefault(key, []).append(res)
            if isinstance(url, str):
                self.key_by_url[url] = key
        chosen: dict[tuple[str, str], dict[str, Any]] = {}
        for key, given in copies.items():
            if len(given) == 1:  # the usual case: nothing to compare (hashing every resource costs ms)
                chosen[key] = given[0]
                continue
            # copies that differ only in their meta say the same: one of them (the newest if meta tells)
            by_content: dict[str, list[dict[str, Any]]] = {}
            for r in given:
                by_content.setdefault(json_hash({k: v for k, v in r.items() if k != "meta"}), []).append(r)
            if len(by_content) == 1:
                same = list({json_hash(r): r for r in given}.values())
                chosen[key] = newest(same)[0] or min(same, key=json_hash)
                continue
            found = [newest(c)[0] or min(c, key=json_hash) for c in by_content.values()]
            kept, text = newest(found)
            record = f"{key[0]}/{key[1]}"
            if kept is None and key[0] == "Medication":  # a product set aside would hide the exposure of every
                kept = min(found, key=json_hash)           # record naming it: one copy is used (a time is not)
                text += (f"; {_described(kept) or 'copy ' + json_hash(kept)[:8]} is used (the first by content), "
                         "since setting both aside would hide what the records naming it say")
            if kept is None and key[0] == "Patient":  # who the patient is: not a question to guess at
                at = sorted((where(r, default=location) for r in found), key=lambda w: w.line or 0)
                lines = [str(w.line) for w in at if w.line is not None]
                raise InputError(
                    f"{record} {text}: which copy describes the patient cannot be told"
                    + (f" (lines {_listed(lines)})" if lines else ""),
                    at[-1],
                    hint="keep only the current copy of the Patient, or give each its meta.lastUpdated",
                )
            if kept is None:
                text += f": {'neither' if len(found) == 2 else 'none'} is used, as if not given"
            self.notes.append(IngestNote("duplicate-resource", f"{record} {text}", record))
            if kept is not None:
                chosen[key] = kept
        self.by_key = chosen
        self.key_of = {id(res): key for key, res in chosen.items()}
        # From a lazy read (guidelinekg.patients.fhirlazy.Skipped): the resources left as text, parsed when a
        # reference leads to one. No fullUrl or key of the input is then given twice.
        self.skipped = skipped
        if skipped is not None:
            self.key_by_url.update(skipped.urls)
        left = skipped.raws if skipped is not None else ()  # a lazy read left them as text: parsed here
        outcomes = [key for key in (*chosen, *left) if key[0] == OUTCOME]
        notes, self.read_types = search_notes(
            page_gap(doc, skipped.held if skipped is not None else None) if doc["resourceType"] == "Bundle" else None,
            [(f"{key[0]}/{key[1]}", self.get(key)) for key in sorted(outcomes)],
        )
        self.notes += notes

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
        parts = (plain := target.split("/_history/")[0].rstrip("/")).split("/")
        key = (parts[-2], parts[-1]) if len(parts) >= 2 else None
        if key is None or "://" in plain and plain not in self.key_by_url and key in self.key_by_url.values():
            return None  # that server's resource, not the one of this id whose fullUrl is on another
        return self.get(key)

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


# --- what a Bundle says about its own completeness ------------------------------------------------------

OUTCOME = "OperationOutcome"
SEVERE = ("fatal", "error")
QUIET = ("information",)
MAX_TEXT = 300  # characters of a server's text quoted in a note


def _text(value: Any) -> str | None:
    return value.strip()[:MAX_TEXT] if isinstance(value, str) and value.strip() else None


def issue_text(issue: dict[str, Any]) -> str:
    """What an issue says: ``diagnostics``, else ``details.text``, else its codings' displays or codes.

    >>> issue_text({"diagnostics": "Observation search truncated"}), issue_text({"details": {"text": "x"}})
    ('Observation search truncated', 'x')
    >>> issue_text({"details": {"coding": [{"code": "MSG_NO_MATCH"}]}}), issue_text({})
    ('MSG_NO_MATCH', 'no text given')
    """
    details = issue.get("details") if isinstance(issue.get("details"), dict) else {}
    codings = details.get("coding") if isinstance(details.get("coding"), list) else []
    shown = [_text(c.get("display")) or _text(c.get("code")) for c in codings if isinstance(c, dict)]
    return (_text(issue.get("diagnostics")) or _text(details.get("text"))
            or "; ".join(s for s in shown if s) or "no text given")


def outcome_notes(record: str, outcome: dict[str, Any]) -> list[IngestNote]:
    """The notes of one OperationOutcome's issues (none for information only)."""
    notes = []
    for issue in outcome.get("issue") if isinstance(outcome.get("issue"), list) else []:
        if not isinstance(issue, dict) or issue.get("severity") in QUIET:
            continue
        severity, code = (_text(issue.get(k)) for k in ("severity", "code"))
        what = f"{severity or 'no severity'}{f' ({code})' if code else ''}: {issue_text(issue)}"
        if severity in SEVERE:
            notes.append(IngestNote("search-incomplete", f"{record} reports {what}; {MAY_LACK_ANY}", record,
                                    CUT_SHORT))
        else:
            notes.append(IngestNote("search-warning", f"{record} reports {what}; what it describes may be "
                                    "missing from the record", record))
    return notes


def search_notes(
    gap: str | None, outcomes: list[tuple[str, dict[str, Any] | None]]
) -> tuple[list[IngestNote], Counter[str]]:
    """The notes of a Bundle that holds only part of a search (``gap``: why, from
    :func:`~guidelinekg.patients.fhirschema.page_gap`) and of its OperationOutcomes (``(record, resource)``,
    sorted), and how many resources of each type gave one (read here, so not counted as a type not used).

    >>> notes, read = search_notes("one page of a search; later pages were not read",
    ...     [("OperationOutcome/e", {"issue": [{"severity": "error", "code": "too-costly"}]})])
    >>> [n.code for n in notes], read
    (['search-incomplete', 'search-incomplete'], Counter({'OperationOutcome': 1}))
    """
    notes: list[IngestNote] = []
    read: Counter[str] = Counter()
    if gap is not None:
        notes.append(IngestNote("search-incomplete", f"the Bundle is {gap}: {MAY_LACK_ANY}", lacks=CUT_SHORT))
    for record, outcome in outcomes:
        found = outcome_notes(record, outcome) if isinstance(outcome, dict) else []
        notes += found
        read[OUTCOME] += bool(found)
    return notes, +read
