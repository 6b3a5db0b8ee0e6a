"""The JSON types of the FHIR R4 elements the mapping reads, checked before anything is mapped.

A FHIR element of the wrong JSON type (``"coding": 5``, ``"code": []``, ``"contained": 5``, a number where
a date string belongs) means the file is not FHIR JSON: the input is refused with the element's path and
its line and column (:class:`~guidelinekg.errors.InputError`), rather than guessed at. So are values no
store could hold: a number out of the range of an ``xsd:decimal`` (:func:`decimal_problem`), an id longer
than FHIR's 64 characters, a string longer than FHIR's 1 MiB. Only elements the mapping reads are checked
(:data:`SCHEMAS`); anything else in a resource is left alone. JSON ``null`` counts as absent.

Leniencies the mapping keeps (each noted on the patient, see :mod:`guidelinekg.patients.fhir`): a
Quantity value written as a string of a number, a date string that is not a FHIR date, an unknown resource
type, a Bundle entry without a resource.

What no schema can say: a ``modifierExtension`` (on the resource or on any element inside it, contained
resources included) or ``implicitRules`` changes what the resource means in a way only its author's rules
say ("not given", "refuted", "negated"). FHIR R4 (Extensibility, 2.19.0.4): an application that does not
understand one SHALL NOT use the element as if it were not there. The mapping understands none, so
:func:`modifiers` finds them and the mapping does not use such a resource (``unsupported-modifier``; a
Patient is refused). :data:`MODIFIER_TEXT` finds the texts of resources that may hold one, so a lazy read
walks only those. So is a resource tagged ``SUBSETTED`` (:func:`subsetted`: the server sent only some of its
elements, for ``_elements`` or ``_summary``; FHIR R4 says it must not be used as if whole): its status may
be the one left out, so it is not used, and the record of its kind is partial (:class:`Subsetted`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from decimal import Decimal
from typing import Any

from guidelinekg.errors import InputError, Location
from guidelinekg.patients.decode import where
from guidelinekg.patients.model import (
    MAY_LACK, MAY_LACK_ANY, IngestNote, decimal_problem, number_from_text, number_text, records_lacking,
)

MAX_STRING = 1024 * 1024  # FHIR R4: "strings SHALL NOT exceed 1 MB in size"
MAX_ID = 64  # FHIR R4 id: "length limit of 64 characters"
_RESOURCE_TYPE = re.compile(r"[A-Za-z]{1,64}")

# Leaf kinds; a dict is a JSON object with those members, a one-item list a JSON array of that item.
STRING, DECIMAL, RESOURCE = "string", "decimal", "resource"
BOOLEAN = "boolean"

CODING = {"system": STRING, "code": STRING, "display": STRING}
CONCEPT = {"coding": [CODING], "text": STRING}
REFERENCE = {"reference": STRING, "display": STRING}
PERIOD = {"start": STRING, "end": STRING}
QUANTITY = {"value": DECIMAL, "comparator": STRING, "unit": STRING, "system": STRING, "code": STRING}
_EXPOSURE = {
    "status": STRING,
    "subject": REFERENCE,
    "effectiveDateTime": STRING,
    "effectivePeriod": PERIOD,
    "medicationCodeableConcept": CONCEPT,
    "medicationReference": REFERENCE,
}
SCHEMAS: dict[str, dict[str, Any]] = {
    "Patient": {"birthDate": STRING, "gender": STRING, "deceasedBoolean": BOOLEAN, "deceasedDateTime": STRING,
                "active": BOOLEAN, "link": [{"other": REFERENCE, "type": STRING}]},
    "Observation": {
        "status": STRING,
        "code": CONCEPT,
        "subject": REFERENCE,
        "specimen": REFERENCE,
        "effectiveDateTime": STRING,
        "effectivePeriod": PERIOD,
        "effectiveInstant": STRING,
        "valueQuantity": QUANTITY,
        "valueCodeableConcept": CONCEPT,
        "dataAbsentReason": CONCEPT,
        "component": [{"code": CONCEPT, "valueQuantity": QUANTITY, "valueCodeableConcept": CONCEPT,
                       "dataAbsentReason": CONCEPT}],
        "note": [{"text": STRING}],
    },
    "Specimen": {
        "collection": {
            "collectedDateTime": STRING,
            "collectedPeriod": PERIOD,
            "fastingStatusCodeableConcept": CONCEPT,
        },
        "condition": [CONCEPT],
    },
    "Condition": {
        "verificationStatus": CONCEPT,
        "clinicalStatus": CONCEPT,
        "code": CONCEPT,
        "subject": REFERENCE,
        "onsetDateTime": STRING,
        "onsetPeriod": PERIOD,
        "abatementDateTime": STRING,
        "abatementPeriod": PERIOD,
    },
    "MedicationStatement": _EXPOSURE,
    "MedicationAdministration": {**_EXPOSURE, "dosage": {"dose": QUANTITY}},
    "MedicationRequest": {
        **_EXPOSURE,
        "intent": STRING,
        "doNotPerform": BOOLEAN,
        "authoredOn": STRING,
        "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": PERIOD, "boundsDuration": QUANTITY}}}],
        "dispenseRequest": {
            "validityPeriod": PERIOD,
            "numberOfRepeatsAllowed": DECIMAL,
            "expectedSupplyDuration": QUANTITY,
        },
    },
    "MedicationDispense": {
        **_EXPOSURE,
        "whenPrepared": STRING,
        "whenHandedOver": STRING,
        "daysSupply": QUANTITY,
    },
    "Medication": {"code": CONCEPT, "ingredient": [{"itemCodeableConcept": CONCEPT}]},
    "Procedure": {
        "status": STRING,
        "code": CONCEPT,
        "subject": REFERENCE,
        "performedDateTime": STRING,
        "performedPeriod": PERIOD,
    },
    "AllergyIntolerance": {
        "verificationStatus": CONCEPT,
        "clinicalStatus": CONCEPT,
        "code": CONCEPT,
        "patient": REFERENCE,
        "criticality": STRING,
        "onsetDateTime": STRING,
        "onsetPeriod": PERIOD,
        "recordedDate": STRING,
        "reaction": [{"substance": CONCEPT}],
    },
}
BUNDLE = {"type": STRING, "entry": [{"fullUrl": STRING, "resource": RESOURCE}]}


def check_document(doc: dict[str, Any], source: str, unread: frozenset[str] = frozenset()) -> None:
    """Check a FHIR Bundle or bare resource (already known to be a JSON object with a ``resourceType``); of
    resources of the ``unread`` types (none of the loaded guidelines reads them), only the type and id.

    Raises:
        InputError: an element the mapping reads has the wrong JSON type or an unusable value; the message
            names the resource and the element's path, the location its line and column.
    """
    checker = _Checker(Location(source), unread)
    if doc.get("resourceType") == "Bundle":
        checker.members(doc, BUNDLE, "Bundle", "")
    else:
        checker.resource(doc, "the resource", "", None, None)


def check_resource(res: dict[str, Any], source: str) -> None:
    """Check one resource of a Bundle entry on its own: one a lazy read (:mod:`guidelinekg.patients.fhirlazy`)
    parses only when a reference leads to it.

    Raises:
        InputError: as :func:`check_document`.
    """
    _Checker(Location(source)).resource(res, "Bundle", "entry.resource", None, None)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, (Decimal, int, float)):
        return f"a number ({number_text(Decimal(str(value)))})"
    if isinstance(value, str):
        return f"a string ({value[:40]!r}{'...' if len(value) > 40 else ''})"
    return "an array" if isinstance(value, list) else "an object"


class _Checker:
    """Walks a document along :data:`SCHEMAS`; ``record`` names the resource being checked
    (``Observation/o1``) and ``path`` the element within it (``code.coding[0].code``)."""

    def __init__(self, location: Location, unread: frozenset[str] = frozenset()):
        self.location = location
        self.unread = unread  # types the mapping will not read: their elements are not its concern

    def fail(self, record: str, path: str, problem: str, parent: Any, key: Any) -> None:
        where_ = where(parent, key, default=self.location)
        raise InputError(f"{record} {path}: {problem}" if path else f"{record}: {problem}", where_)

    def members(self, obj: dict[str, Any], spec: dict[str, Any], record: str, path: str) -> None:
        for key, sub in spec.items():
            if obj.get(key) is not None:
                self.value(obj[key], sub, record, f"{path}.{key}" if path else key, obj, key)

    def value(self, value: Any, spec: Any, record: str, path: str, parent: Any, key: Any) -> None:
        if value is None:
            return
        if isinstance(spec, dict):
            if not isinstance(value, dict):
                self.fail(record, path, f"must be a JSON object, not {_kind(value)}", parent, key)
            self.members(value, spec, record, path)
        elif isinstance(spec, list):
            if not isinstance(value, list):
                self.fail(record, path, f"must be a JSON array, not {_kind(value)}", parent, key)
            for i, item in enumerate(value):
                self.value(item, spec[0], record, f"{path}[{i}]", value, i)
        elif spec == RESOURCE:
            self.resource(value, record, path, parent, key)
        elif spec == DECIMAL:
            self.decimal(value, record, path, parent, key)
        elif spec == BOOLEAN:
            if not isinstance(value, bool):
                self.fail(record, path, f"must be a JSON boolean, not {_kind(value)}", parent, key)
        else:
            self.string(value, record, path, parent, key, MAX_STRING)

    def string(self, value: Any, record: str, path: str, parent: Any, key: Any, limit: int) -> None:
        if not isinstance(value, str):
            self.fail(record, path, f"must be a JSON string, not {_kind(value)}", parent, key)
        if len(value) > limit:
            what = "an id" if limit == MAX_ID else "a string"
            self.fail(record, path, f"has {len(value)} characters; FHIR allows {what} of at most {limit}",
                      parent, key)

    def decimal(self, value: Any, record: str, path: str, parent: Any, key: Any) -> None:
        if isinstance(value, str):  # the mapping accepts a number written as a string, with a note
            if (number := number_from_text(value)) is None:
                return  # not a number at all ("NaN", "4_5"): the mapping notes it and treats the value as missing
        elif isinstance(value, bool) or not isinstance(value, (Decimal, int, float)):
            self.fail(record, path, f"must be a JSON number, not {_kind(value)}", parent, key)
        else:
            number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
        problem = decimal_problem(number)
        if problem:
            self.fail(record, path, f"{number_text(number)} is out of range ({problem})", parent, key)

    def resource(self, res: Any, record: str, path: str, parent: Any, key: Any) -> None:
        if not isinstance(res, dict):
            self.fail(record, path, f"must be a JSON object (a resource), not {_kind(res)}", parent, key)
        kind = res.get("resourceType")
        if kind is None:
            return  # noted by the bundle index (an entry without a resource)
        inner = f"{path}.resourceType" if path else "resourceType"
        self.string(kind, record, inner, res, "resourceType", MAX_STRING)
        if not _RESOURCE_TYPE.fullmatch(kind):
            self.fail(record, inner, f"{kind[:40]!r} is not a FHIR resource type", res, "resourceType")
        rid = res.get("id")
        if rid is not None:
            self.string(rid, kind, "id", res, "id", MAX_ID)
        name = f"{kind}/{rid}" if isinstance(rid, str) and rid else kind
        self.members(res, {"contained": [RESOURCE], **({} if kind in self.unread else SCHEMAS.get(kind, {}))}, name, "")


# In a resource's JSON text: may hold a modifier (a key may be written with \u escapes: those are walked too)
MODIFIER_TEXT = re.compile(rb"modifierExtension|implicitRules|SUBSETTED|\\u")


def modifiers(res: Any, path: str = "") -> list[tuple[str, Any, str]]:
    """``(what, parent, key)`` of each ``modifierExtension`` and ``implicitRules`` anywhere in a resource:
    ``what`` names the extension's url (or the rules) and the element it is on.

    >>> [w for w, _, _ in modifiers({"implicitRules": "http://x/r", "dosage": {"modifierExtension": [
    ...     {"url": "http://x/not-given"}]}, "contained": [{"modifierExtension": []}]})]
    ["implicitRules 'http://x/r'", "modifierExtension 'http://x/not-given' on dosage"]
    """
    found: list[tuple[str, Any, str]] = []
    if isinstance(res, list):
        for i, item in enumerate(res):
            found += modifiers(item, f"{path}[{i}]")
    elif isinstance(res, dict):
        for key, value in res.items():
            if key == "implicitRules" and value is not None:
                found.append((f"implicitRules {str(value)[:200]!r}" + (f" on {path}" if path else ""), res, key))
            elif key == "modifierExtension" and value not in (None, []):
                for ext in value if isinstance(value, list) else [value]:
                    url = ext.get("url") if isinstance(ext, dict) else None
                    shown = repr(url[:200]) if isinstance(url, str) else "without a url"
                    found.append((f"modifierExtension {shown}" + (f" on {path}" if path else ""), res, key))
            else:
                found += modifiers(value, f"{path}.{key}" if path else key)
    return found


def modifier_text(found: list[tuple[str, Any, str]]) -> str:
    """What a note says of the modifiers :func:`modifiers` found."""
    listed = "; ".join(what for what, _, _ in found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
    return (f"has {listed}, which changes what it means in a way this mapping does not understand (FHIR R4: "
            "not to be used as if it were absent)")


def subsetted(res: dict[str, Any]) -> bool:
    """Whether ``res`` is tagged ``SUBSETTED`` (``meta.tag``, HL7 v3 ObservationValue): only part of it was sent."""
    meta = res.get("meta")
    tags = meta.get("tag") if isinstance(meta, dict) else None
    return isinstance(tags, list) and any(isinstance(t, dict) and t.get("code") == "SUBSETTED" for t in tags)


class Subsetted:
    """The subsetted resources not used, by patient and type: one note each (``subsetted-resource``), with the
    closed-world records of the type as what the patient's record may lack."""

    def __init__(self) -> None:
        self.found: dict[tuple[str | None, str], list[str]] = defaultdict(list)

    def add(self, patient: str | None, kind: str, record: str) -> None:
        self.found[(patient, kind)].append(record)

    def notes(self) -> list[tuple[str | None, IngestNote]]:
        out = []
        for (patient, kind), records in sorted(self.found.items(), key=lambda item: (str(item[0][0]), item[0][1])):
            listed = ", ".join(records[:3]) + (f" and {len(records) - 3} more" if len(records) > 3 else "")
            text = (f"{listed} {'is' if len(records) == 1 else 'are'} tagged SUBSETTED: the server sent only part of "
                    f"{'it' if len(records) == 1 else 'them'} (_elements or _summary), so a status or date may be "
                    f"missing; not used, and {MAY_LACK_ANY if kind == 'Observation' else MAY_LACK}")
            out.append((patient, IngestNote("subsetted-resource", text, records[0] if len(records) == 1 else None,
                                            records_lacking([kind]))))
        return out


def _link(links: Any, *relations: str) -> dict | None:
    """The first link of one of ``relations`` (relation types compare in any case: RFC 8288)."""
    for link in links if isinstance(links, list) else ():
        if isinstance(link, dict) and str(link.get("relation", "")).lower() in relations:
            return link
    return None


def page_gap(bundle: Any, held: int | None = None) -> str | None:
    """Why a Bundle holds only part of what its search found, or ``None``: a ``next`` link (later pages
    not read), a ``previous`` (or ``prev``) link (a later page: earlier ones not read), or a searchset
    whose ``total`` exceeds the matches it holds (entries of ``search.mode`` ``include`` or ``outcome``
    are not matches; ``held``: their number, when ``bundle`` no longer holds every entry read).

    >>> page_gap({"resourceType": "Bundle", "link": [{"relation": "Next", "url": "https://x/p2"}]})
    'one page of a search; later pages were not read (next: https://x/p2)'
    >>> page_gap({"resourceType": "Bundle", "type": "searchset", "total": Decimal(3), "entry": [{"resource": {}}]})
    'a search that matched 3 resources, of which it holds 1'
    >>> page_gap({"resourceType": "Bundle", "type": "searchset", "total": 1, "entry": [{"resource": {}}]})
    """
    if not isinstance(bundle, dict):
        return None
    for relations, which in ((("next",), "later pages were not read"),
                             (("previous", "prev"), "it is a later page, and the earlier ones were not read")):
        if (link := _link(bundle.get("link"), *relations)) is not None:
            url = link.get("url")
            shown = f" ({relations[0]}: {url.strip()})" if isinstance(url, str) and url.strip() else ""
            return f"one page of a search; {which}{shown}"
    total = bundle.get("total")
    if bundle.get("type") == "searchset" and isinstance(total, (int, Decimal)) and not isinstance(total, bool):
        if held is None:
            held = matches(bundle.get("entry"))
        if total > held:
            return f"a search that matched {total} resources, of which it holds {held}"
    return None


def matches(entries: Any) -> int:
    """How many of a searchset's entries are its matches (not ``search.mode`` ``include`` or ``outcome``)."""
    return sum(1 for e in entries if not (isinstance(e, dict) and isinstance(e.get("search"), dict)
                                          and e["search"].get("mode") in ("include", "outcome"))) \
        if isinstance(entries, list) else 0
