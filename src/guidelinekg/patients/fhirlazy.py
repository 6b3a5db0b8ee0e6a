"""Reading a FHIR Bundle lazily: only the resources the mapping may read become Python objects.

A real record (a Synthea patient: a 0.4-1 MB Bundle) is mostly resources nothing reads: Claims,
ExplanationOfBenefits, Encounters, Observations of measures no loaded guideline reads. Parsing and checking
all of it costs ten times what the rest of the patient's evaluation does. So :func:`read_bundle`:

1. checks the JSON syntax of the whole document and finds each entry's resource with msgspec, which keeps
   the resource as its text (``msgspec.Raw``), unparsed;
2. walks the Bundle and each entry itself, key by key, with the text of each value from msgspec: a key
   given twice there (two ``entry``, two ``resource``, two ``fullUrl``) breaks the walk. The values
   besides the resources are parsed as strictly as :func:`~guidelinekg.patients.decode.parse_json` does;
3. parses strictly (:func:`~guidelinekg.patients.decode.fast_parse`: duplicate keys, numbers' lexical
   forms, nesting) every resource of a type the mapping reads (:data:`PARSED_TYPES`), except an
   Observation none of whose LOINC codes a loaded guideline reads (``reads``,
   :mod:`guidelinekg.patients.relevance`): of that one only the codes and the subject are read;
4. leaves every other resource as text (:class:`Skipped`): the mapping counts it (``ignored-resource``),
   and parses and checks it only if a reference leads to it.

Whenever it cannot vouch that the result is the one the strict read gives (a Bundle or entry written in
an unusual way, a fullUrl or resource given twice, anything a strict parse refuses), it returns ``None``,
and the caller reads the whole document strictly, which also says where an error is. What the strict read
checks and this does not, inside a resource left as text (the mapping ignores it anyway): duplicate keys,
numbers no ``Decimal`` holds, the FHIR JSON types of elements (:mod:`guidelinekg.patients.fhirschema`).
Nesting deeper than :data:`~guidelinekg.patients.decode.MAX_DEPTH` anywhere sends the document to the
strict read (msgspec's own limit depends on the Python version).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgspec

from guidelinekg.errors import InputError, Location
from guidelinekg.patients.codesystems import canonical_system, trimmed
from guidelinekg.patients.decode import MAX_DEPTH, REFUSED, depth_of, fast_parse
from guidelinekg.patients.fhir import MAPPED_TYPES, REFERENCED_TYPES
from guidelinekg.patients.fhirobs import LOINC
from guidelinekg.patients.fhirschema import MAX_ID, MODIFIER_TEXT, SCHEMAS, check_resource
from guidelinekg.patients.model import json_hash
from guidelinekg.patients.relevance import LOINC_LABEL, ReadCodes

PARSED_TYPES = frozenset({*MAPPED_TYPES, *REFERENCED_TYPES, *SCHEMAS})  # the types the mapping reads
Key = tuple[str, str]
Raw = msgspec.Raw

# --- the text ---------------------------------------------------------------------------------------------

_W = rb"[ \t\n\r]*+"  # JSON whitespace


def _tokens(*parts: bytes) -> re.Pattern[bytes]:
    """A pattern of JSON tokens with optional whitespace before and between them."""
    return re.compile(_W + _W.join(parts))


_RESOURCE_TYPE = re.compile(r"[A-Za-z]{1,64}")
_KEY = _tokens(rb'"(?P<key>[A-Za-z]+)"', b":", b"")  # up to the value
_NEXT = _tokens(rb"(?P<sep>[,}\]])")
_OPEN = _tokens(rb"(?P<open>[{\[])")
_END = re.compile(_W + rb"\Z")
# An entry as most writers write it: fullUrl (no escapes), then the resource, starting with its
# resourceType and id; after the resource an optional request of a transaction, then the entry ends.
# _STEP reads from the end of one entry's resource to the start of the next one's (or the array's end).
_ENTRY_START = (rb"(?P<open>)\{", rb'(?:"fullUrl"', b":", rb'"(?P<url>[^"\\]*+)"', rb",)?", rb'"resource"',
                b":", rb'(?P<res>)(?:\{', rb'"resourceType"', b":", rb'"(?P<type>[A-Za-z]{1,64})"', b",",
                rb'"id"', b":", rb'"(?P<id>[A-Za-z0-9.\-]{1,64})")?')
_ENTRY = _tokens(*_ENTRY_START)
_STEP = _tokens(rb"(?:,", rb'"request"', b":", rb"\{", rb'"method"', b":", rb'"[A-Z]*"', b",", rb'"url"', b":",
                rb'"[^"\\]*+"', rb"\})?", rb"\}", rb"(?:(?P<end>\])|,", *_ENTRY_START, rb")")

# --- what msgspec reads -----------------------------------------------------------------------------------


class _Bundle(msgspec.Struct):
    """The members of an R4 Bundle as text (an empty Raw: absent), its entries' members as text."""

    resourceType: Raw = Raw()
    id: Raw = Raw()
    meta: Raw = Raw()
    implicitRules: Raw = Raw()
    language: Raw = Raw()
    identifier: Raw = Raw()
    type: Raw = Raw()
    timestamp: Raw = Raw()
    total: Raw = Raw()
    link: Raw = Raw()
    signature: Raw = Raw()
    entry: list[dict[str, Raw]] = []


class _Head(msgspec.Struct):
    resourceType: Any = None
    id: Any = None


class _Coding(msgspec.Struct):
    system: Any = None
    code: Any = None


class _Concept(msgspec.Struct):
    coding: list[_Coding] | None = None


class _Component(msgspec.Struct):
    code: _Concept | None = None


class _Reference(msgspec.Struct):
    reference: Any = None


class _Observation(msgspec.Struct):
    """What decides whether an Observation is read: its codes, its components' codes, its subject."""

    code: _Concept | None = None
    component: list[_Component] | None = None
    subject: _Reference | None = None


_BUNDLE, _HEAD, _OBSERVATION = (msgspec.json.Decoder(t) for t in (_Bundle, _Head, _Observation))
_BUNDLE_MEMBERS = frozenset(_Bundle.__struct_fields__) - {"entry"}

# --- the result -------------------------------------------------------------------------------------------


@dataclass
class Skipped:
    """The resources of a Bundle a lazy read left as text, for :class:`~guidelinekg.patients.fhirbundle.Bundle`.

    ``observations``: per subject reference, the Observations none of whose codes is read, with the codes
    (key, code system label, codes); ``counts``: the other resources left as text, per type (none is of a
    type the mapping reads); ``held``: the entries that are a search's matches (fhirschema.page_gap);
    ``marked``: the parsed resources whose text may hold a modifier extension (the mapping looks for one only
    in those, :func:`~guidelinekg.patients.fhirschema.modifiers`). No key or fullUrl is in the input twice.
    """

    raws: dict[Key, Raw] = field(default_factory=dict)
    urls: dict[str, Key] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    observations: dict[str, list[tuple[Key, str, set[str]]]] = field(default_factory=dict)
    loaded: dict[Key, dict[str, Any]] = field(default_factory=dict)
    marked: set[Key] = field(default_factory=set)
    held: int = 0

    def load(self, key: Key, source: str) -> dict[str, Any] | None:
        """The resource of ``key`` parsed and checked (``None`` when none was left as text).

        Raises:
            InputError: what the strict read may refuse: the caller then reads the input strictly.
        """
        if key in self.loaded or key not in self.raws:
            return self.loaded.get(key)
        res = fast_parse(bytes(self.raws[key]).decode("utf-8"), max_depth=MAX_DEPTH - 3)  # Bundle, entry[], {}
        if not isinstance(res, dict):
            raise InputError(f"{key[0]}/{key[1]}: only the strict read may judge it", Location(source))
        check_resource(res, source)
        self.loaded[key] = res
        if MODIFIER_TEXT.search(self.raws[key]):
            self.marked.add(key)
        return res


@dataclass
class LazyBundle:
    """A Bundle as :func:`~guidelinekg.patients.fhir.patients_from_json` takes it: ``doc`` with the
    entries whose resources were parsed, ``skipped`` the rest."""

    doc: dict[str, Any]
    skipped: Skipped


class _Unsure(Exception):
    """The lazy read cannot vouch for the input: the strict read decides."""


def read_bundle(data: bytes, reads: ReadCodes | None = None) -> LazyBundle | None:
    """Read a FHIR Bundle (UTF-8 JSON text, no byte order mark) lazily; ``None`` when the input must be
    read strictly (see the module notes). With ``reads`` of ``None`` every Observation is parsed."""
    if depth_of(data) > MAX_DEPTH:  # anywhere, read or not: msgspec's own limit depends on the Python
        return None                 # version, so the strict read refuses it, the same everywhere
    try:
        bundle = _BUNDLE.decode(data)
        return _read(data, bundle, reads) if bundle.entry else None
    except (_Unsure, msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return None


def _read(data: bytes, bundle: _Bundle, reads: ReadCodes | None) -> LazyBundle | None:
    members, entries = _walk(data, bundle)
    if members.get("resourceType") != "Bundle":
        return None
    skipped, seen_urls, seen_keys = Skipped(), set(), set()
    kept: list[tuple[dict[str, Any], Raw | None]] = []  # entries with a resource to parse, or none
    for url, res, kind, rid in entries:
        if url is not None:
            if url in seen_urls:
                raise _Unsure  # a fullUrl given twice: the strict read decides which counts
            seen_urls.add(url)
        if res is not None and kind is None:
            kind, rid = _head(res)
        if kind is None:  # no resource, or one to parse whatever its type
            kept.append(({} if url is None else {"fullUrl": url}, res))
            continue
        key = (kind, rid)
        if key in seen_keys:
            raise _Unsure  # a resource given twice: the strict read compares them
        seen_keys.add(key)
        if kind in PARSED_TYPES and (reads is None or reads.maps_type(kind)):
            if kind != "Observation" or reads is None or (unread := _unread(res, reads)) is None:
                kept.append(({} if url is None else {"fullUrl": url}, res))
                continue
            skipped.observations.setdefault(unread[0], []).append((key, LOINC_LABEL, unread[1]))
        else:
            skipped.counts[kind] += 1
        skipped.raws[key] = res
        if url is not None:
            skipped.urls[url] = key
    to_parse = [res for _, res in kept if res is not None]
    if not to_parse:
        return None  # nothing the mapping reads: the strict read says what is wrong
    parsed = fast_parse(b"".join((b"[", b",".join(to_parse), b"]")).decode("utf-8"), max_depth=MAX_DEPTH - 2)
    if parsed is REFUSED:
        return None
    resources = iter(parsed)
    doc_entries = []
    for entry, res in kept:
        if res is not None:
            entry["resource"] = value = next(resources)
            kind, rid = (value.get("resourceType"), value.get("id")) if isinstance(value, dict) else (None, None)
            if isinstance(kind, str) and isinstance(rid, str) and (kind, rid) in skipped.raws:
                return None  # the key of a resource left as text: the strict read compares them
            if isinstance(kind, str) and MODIFIER_TEXT.search(res):  # the key the Bundle index gives it
                skipped.marked.add((kind, rid if isinstance(rid, str) and rid else json_hash(value)))
        doc_entries.append(entry)
    doc = {"resourceType": "Bundle", "entry": doc_entries}
    for member in ("type", "link", "total"):  # the Bundle's type, its paging links and a search's count
        if member in members:
            doc[member] = members[member]
    skipped.held = sum(1 for values in bundle.entry if _mode(values.get("search")) not in ("include", "outcome"))
    return LazyBundle(doc, skipped)


def _mode(search: Raw | None) -> Any:
    """An entry's ``search.mode`` (``None`` when it has none or ``search`` is not an object)."""
    value = None if search is None else msgspec.json.decode(search)  # valid JSON: msgspec read it already
    return value.get("mode") if isinstance(value, dict) else None


def _head(res: Raw) -> tuple[str | None, str | None]:
    """``(resourceType, id)`` of a resource that may be left as text, else ``(None, None)``: it is parsed."""
    try:
        head = _HEAD.decode(res)
    except msgspec.DecodeError:  # not a JSON object
        return None, None
    kind, rid = head.resourceType, head.id
    if isinstance(kind, str) and _RESOURCE_TYPE.fullmatch(kind) and isinstance(rid, str) and 0 < len(rid) <= MAX_ID:
        return kind, rid
    return None, None


def _unread(res: Raw, reads: ReadCodes) -> tuple[str, set[str]] | None:
    """``(subject reference, LOINC codes)`` of an Observation none of whose codes is read (see
    :meth:`~guidelinekg.patients.relevance.ReadCodes.unread`), else ``None``: it is parsed."""
    try:
        obs = _OBSERVATION.decode(res)
    except msgspec.DecodeError:  # an element of another JSON type: the strict read says which
        return None
    concepts = [obs.code, *(c.code for c in obs.component or ())]
    codes = {c.code.strip() for concept in concepts if concept is not None for c in concept.coding or ()
             if canonical_system(c.system) == LOINC and isinstance(c.code, str) and trimmed(c.code)}
    reference = obs.subject.reference if obs.subject is not None else None
    if not codes or not isinstance(reference, str) or reference[:1] in ("", "#") or reads.reads_loinc(codes):
        return None
    return reference, codes


# --- the walk ---------------------------------------------------------------------------------------------


def _walk(data: bytes, bundle: _Bundle) -> tuple[dict[str, Any], list[tuple[Any, Raw | None, Any, Any]]]:
    """The Bundle's members but its entries, parsed, and its entries as ``(fullUrl, resource text,
    resourceType, id)`` (``None`` when absent or not read from the text): each member of the Bundle and
    of each entry is where the walk reads it, and only once."""
    members: dict[str, Any] = {}
    entries: list[tuple[Any, Raw | None, Any, Any]] = []
    pos = _expect(_OPEN, data, 0, "open", b"{")
    while True:
        key, pos = _key(data, pos, members)
        if key == "entry":
            pos = _entries(data, _expect(_OPEN, data, pos, "open", b"["), bundle.entry, entries)
            members[key] = None
        elif key in _BUNDLE_MEMBERS:
            members[key], pos = _value(data, pos, getattr(bundle, key), MAX_DEPTH - 1)
        else:
            raise _Unsure  # not a member of an R4 Bundle
        m = _match(_NEXT, data, pos)
        pos = m.end()
        if m.group("sep") != b",":
            break
    if m.group("sep") != b"}" or _END.match(data, pos) is None or len(entries) != len(bundle.entry):
        raise _Unsure
    return members, entries


def _entries(data: bytes, pos: int, raws: list[dict[str, Raw]], out: list) -> int:
    """Walk the entries from after the array's ``[``; the position after its ``]``."""
    m = _ENTRY.match(data, pos)
    for values in raws:
        res = values.get("resource")
        step = None
        if m is not None and res is not None and data.startswith(res, m.start("res")):
            step = _STEP.match(data, m.start("res") + len(res))
        if step is not None:
            url, kind, rid = m.group("url", "type", "id")
            out.append((None if url is None else url.decode("utf-8"), res,
                        None if kind is None else kind.decode(), None if rid is None else rid.decode()))
            if step.group("end"):
                return step.end()
            m = step
            continue
        pos = _entry(data, pos if m is None else m.start("open"), values, out)
        after = _match(_NEXT, data, pos)
        if after.group("sep") != b",":
            if after.group("sep") != b"]":
                raise _Unsure
            return after.end()
        m = _ENTRY.match(data, pos := after.end())
    raise _Unsure  # more entries in the text than msgspec read


def _entry(data: bytes, pos: int, raws: dict[str, Raw], out: list) -> int:
    """Walk an entry written otherwise, key by key; the position after its ``}``."""
    pos = _expect(_OPEN, data, pos, "open", b"{")
    values: dict[str, Any] = {}
    if (m := _NEXT.match(data, pos)) is None or m.group("sep") != b"}":  # not {}
        while True:
            key, pos = _key(data, pos, values)
            if key not in raws:
                raise _Unsure
            if key == "resource":
                values[key], pos = raws[key], _skip(data, pos, raws[key])
            else:
                values[key], pos = _value(data, pos, raws[key], MAX_DEPTH - 3)
            m = _match(_NEXT, data, pos)
            if m.group("sep") != b",":
                break
            pos = m.end()
    pos = _expect(_NEXT, data, pos, "sep", b"}")
    url = values.get("fullUrl")
    if len(values) != len(raws) or (url is not None and not isinstance(url, str)):
        raise _Unsure  # a member the walk did not meet, or a fullUrl the check refuses
    out.append((url, raws.get("resource"), None, None))
    return pos


def _key(data: bytes, pos: int, seen: dict[str, Any]) -> tuple[str, int]:
    m = _match(_KEY, data, pos)
    key = m.group("key").decode()
    if key in seen:
        raise _Unsure  # a key given twice
    return key, m.end()


def _skip(data: bytes, pos: int, raw: Raw) -> int:
    """The position after ``raw``, which must be the text at ``pos``."""
    if not len(raw) or not data.startswith(raw, pos):
        raise _Unsure
    return pos + len(raw)


def _value(data: bytes, pos: int, raw: Raw, max_depth: int) -> tuple[Any, int]:
    """The value at ``pos`` (the text of ``raw``), parsed strictly, and the position after it."""
    end = _skip(data, pos, raw)
    value = fast_parse(data[pos:end].decode("utf-8"), max_depth=max_depth)
    if value is REFUSED:
        raise _Unsure
    return value, end


def _match(pattern: re.Pattern[bytes], data: bytes, pos: int) -> re.Match[bytes]:
    m = pattern.match(data, pos)
    if m is None:
        raise _Unsure
    return m


def _expect(pattern: re.Pattern[bytes], data: bytes, pos: int, group: str, token: bytes) -> int:
    m = _match(pattern, data, pos)
    if m.group(group) != token:
        raise _Unsure
    return m.end()
