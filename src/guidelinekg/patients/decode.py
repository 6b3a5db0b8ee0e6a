"""Decoding input files: UTF-8 text, and JSON that keeps every number's lexical form and where it stood.

Shared by the patient loader (:mod:`guidelinekg.patients.loader`) and the FHIR reader
(:mod:`guidelinekg.patients.fhir`), which both read files an EHR wrote.

:func:`parse_json` is a small JSON parser of its own (strings are decoded by the standard library's
scanner) because the standard ``json.loads`` silently keeps the last of two equal keys and forgets where
anything was. Here:

* numbers are :class:`~decimal.Decimal` with the lexical form as written; ``NaN`` and ``Infinity`` are
  refused;
* a key given twice in one object is an error naming the key and both lines (``"value": 45, "value":
  450`` would otherwise be read as 450);
* a string holding a lone UTF-16 surrogate (``"\\ud800"``) is an error: it is not Unicode text;
* nesting deeper than :data:`MAX_DEPTH` is an error (no recursion limit is ever reached);
* objects and arrays are :class:`JsonObject` and :class:`JsonArray` (a ``dict`` and a ``list``) that
  remember where they and their members start, so that :func:`where` can point at a value's line and
  column when a later step finds it unusable.

``parse_json(..., positions=False)`` gives the same values, refuses the same documents with the same
messages, but as plain dicts and lists without positions: it parses with the standard library's C scanner
(about ten times faster on a 1 MB Synthea bundle) and falls back to the parser here whenever the text
could be one it refuses (malformed, a duplicate key, ``NaN``, a ``\\ud800``-like escape, nesting deeper
than :data:`MAX_DEPTH`). A caller that later finds an element unusable parses again with positions to say
where (:mod:`guidelinekg.patients.loader`).
"""

from __future__ import annotations

import json
import re
from array import array
from decimal import Decimal
from itertools import accumulate
from json.decoder import JSONDecodeError, scanstring
from json.scanner import NUMBER_RE
from typing import Any

from guidelinekg.errors import InputError, Location

MAX_DEPTH = 128  # far deeper than FHIR or JSON-LD patient data nests
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONSTANTS = {"null": None, "true": True, "false": False}
_MAYBE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")  # may be (part of) a lone surrogate: the parser decides
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')  # deleted before measuring the nesting
_STRINGS = re.compile(rb'"[^"]*"')
_SIGNS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 and -1 as signed bytes


def decode_text(raw: bytes, location: Location) -> str:
    """UTF-8 text of an input file (BOM dropped); an empty file is an error."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise InputError("the file is UTF-16 (or UTF-32) text, not UTF-8", location, hint="save it as UTF-8")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"the file is not UTF-8 text (bad byte at offset {exc.start})", location) from None
    if not text.strip():
        raise InputError("the file is empty", location, hint="give a FHIR R4 JSON Bundle, JSON-LD or Turtle")
    return text


class _Source:
    """The text a :class:`JsonObject` or :class:`JsonArray` was read from, for :func:`where`."""

    __slots__ = ("location", "text")

    def __init__(self, text: str, location: Location):
        self.text, self.location = text, location

    def at(self, offset: int) -> Location:
        line = self.text.count("\n", 0, offset) + 1
        return Location(self.location.path, line, offset - self.text.rfind("\n", 0, offset))


class JsonObject(dict):
    """A JSON object that remembers its offset (``at``) and each member value's (``offsets``)."""

    __slots__ = ("at", "offsets", "source")


class JsonArray(list):
    """A JSON array that remembers its offset (``at``) and each item's (``offsets``)."""

    __slots__ = ("at", "offsets", "source")


def where(container: Any, key: Any = None, *, default: Location) -> Location:
    """The location of ``container[key]`` (of ``container`` itself when ``key`` is ``None``), with line
    and column when the container came from :func:`parse_json`, else ``default``."""
    source = getattr(container, "source", None)
    if not isinstance(source, _Source):
        return default
    offsets = container.offsets
    if key is None:
        return source.at(container.at)
    try:
        return source.at(offsets[key])
    except (KeyError, IndexError, TypeError):
        return source.at(container.at)


class _Problem(Exception):
    """A JSON document that parses but cannot be used (a duplicate key, a lone surrogate, deep nesting)."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.message, self.offset = message, offset


class _Parser:
    def __init__(self, text: str, location: Location):
        self.text = text
        self.source = _Source(text, location)
        self.depth = 0

    def document(self) -> Any:
        s = self.text
        value, end = self.value(_WHITESPACE.match(s, 0).end())
        end = _WHITESPACE.match(s, end).end()
        if end != len(s):
            raise JSONDecodeError("Extra data", s, end)
        return value

    def value(self, idx: int) -> tuple[Any, int]:
        s = self.text
        char = s[idx : idx + 1]
        if char == '"':
            return self.string(idx)
        if char == "{":
            return self.object(idx)
        if char == "[":
            return self.array(idx)
        for word, constant in _CONSTANTS.items():
            if s.startswith(word, idx):
                return constant, idx + len(word)
        match = NUMBER_RE.match(s, idx)
        if match:
            try:
                return Decimal(match.group()), match.end()
            except ArithmeticError:  # an exponent no Decimal holds (1e9999999999999999999)
                raise _Problem(f"the number {match.group()[:40]} is out of range", idx) from None
        for word in ("NaN", "Infinity", "-Infinity"):
            if s.startswith(word, idx):
                raise _Problem(f"{word} is not allowed in JSON", idx)
        raise JSONDecodeError("Expecting value", s, idx)

    def string(self, idx: int) -> tuple[str, int]:
        text, end = scanstring(self.text, idx + 1, True)
        bad = _SURROGATE.search(text)
        if bad:
            raise _Problem(
                f"a string holds a lone UTF-16 surrogate (\\u{ord(bad.group()):04x}), which is not Unicode text",
                idx,
            )
        return text, end

    def enter(self, idx: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Problem(f"nested more than {MAX_DEPTH} levels deep", idx)

    def object(self, idx: int) -> tuple[JsonObject, int]:
        s = self.text
        self.enter(idx)
        obj = JsonObject()
        obj.source, obj.at, obj.offsets = self.source, idx, {}
        keys_at: dict[str, int] = {}
        end = _WHITESPACE.match(s, idx + 1).end()
        if s[end : end + 1] == "}":
            self.depth -= 1
            return obj, end + 1
        while True:
            if s[end : end + 1] != '"':
                raise JSONDecodeError("Expecting property name enclosed in double quotes", s, end)
            key_at = end
            key, end = self.string(end)
            end = _WHITESPACE.match(s, end).end()
            if s[end : end + 1] != ":":
                raise JSONDecodeError("Expecting ':' delimiter", s, end)
            end = _WHITESPACE.match(s, end + 1).end()
            if key in keys_at:
                first = self.source.at(keys_at[key])
                raise _Problem(
                    f"duplicate key {key!r} in one JSON object (first at line {first.line}, column "
                    f"{first.column}): which of the two values counts is undefined; keep one",
                    key_at,
                )
            keys_at[key] = key_at
            obj.offsets[key] = end
            obj[key], end = self.value(end)
            end = _WHITESPACE.match(s, end).end()
            char = s[end : end + 1]
            if char == "}":
                self.depth -= 1
                return obj, end + 1
            if char != ",":
                raise JSONDecodeError("Expecting ',' delimiter", s, end)
            end = _WHITESPACE.match(s, end + 1).end()

    def array(self, idx: int) -> tuple[JsonArray, int]:
        s = self.text
        self.enter(idx)
        arr = JsonArray()
        arr.source, arr.at, arr.offsets = self.source, idx, []
        end = _WHITESPACE.match(s, idx + 1).end()
        if s[end : end + 1] == "]":
            self.depth -= 1
            return arr, end + 1
        while True:
            arr.offsets.append(end)
            item, end = self.value(end)
            arr.append(item)
            end = _WHITESPACE.match(s, end).end()
            char = s[end : end + 1]
            if char == "]":
                self.depth -= 1
                return arr, end + 1
            if char != ",":
                raise JSONDecodeError("Expecting ',' delimiter", s, end)
            end = _WHITESPACE.match(s, end + 1).end()


def parse_json(text: str, location: Location, *, positions: bool = True) -> Any:
    """Parse JSON keeping numbers' lexical forms (as :class:`~decimal.Decimal`) and, unless ``positions``
    is false, where every value stood (see the module notes).

    Raises:
        InputError: not JSON, or JSON that cannot be used (see the module notes), with line and column.
    """
    if not positions and (doc := fast_parse(text)) is not REFUSED:
        return doc
    parser = _Parser(text, location)
    try:
        return parser.document()
    except JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", parser.source.at(exc.pos)) from None
    except _Problem as exc:
        raise InputError(exc.message, parser.source.at(exc.offset)) from None


REFUSED = object()  # what fast_parse gives for a text only the parser with positions may judge


class _Doubt(Exception):
    """The fast path cannot vouch for the document: the parser with positions decides."""


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Doubt
    return obj


def _constant(word: str) -> Any:
    raise _Doubt


def fast_parse(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """``text`` parsed by the standard library as :func:`parse_json` (``positions=False``) parses it, nested
    at most ``max_depth`` deep (less than :data:`MAX_DEPTH` for a value read out of a larger document), or
    :data:`REFUSED` when only the parser with positions may judge it (it may be refused)."""
    if _MAYBE_SURROGATE.search(text):
        return REFUSED
    try:
        doc = json.loads(text, parse_float=Decimal, parse_int=Decimal, parse_constant=_constant,
                         object_pairs_hook=_unique)
        return doc if _depth(text) <= max_depth else REFUSED
    except (_Doubt, ValueError, RecursionError, ArithmeticError):  # UnicodeEncodeError: a written surrogate
        return REFUSED


def depth_of(data: bytes) -> int:
    """How deep the (valid) JSON ``data`` (UTF-8 bytes) nests, as :func:`_depth` counts it."""
    if b"\\" in data:
        data = _ESCAPE_BYTES.sub(b"", data)
    brackets = _STRINGS.sub(b"", data.translate(None, _NOT_STRUCTURE).replace(b'""', b""))
    return max(accumulate(array("b", brackets.translate(_SIGNS))), default=0)


# An escape sequence's backslash and the character after it (the rest of a \uXXXX is hex digits): one pass,
# left to right, so an escaped backslash never escapes what follows it. Faster than replacing the two
# escapes that matter one after the other (two passes of a 2-byte search over the whole text).
_ESCAPE = re.compile(r"\\.", re.DOTALL)
_ESCAPE_BYTES = re.compile(rb"\\.", re.DOTALL)


def _depth(text: str) -> int:
    """How deep the (valid) JSON ``text`` nests. Escape sequences go first (when there is a backslash at
    all); then everything but quotes and brackets; a string is then an even run of quotes
    around the brackets it held (two adjacent quotes hold nothing, whichever strings they close and
    open), dropped before counting."""
    if "\\" in text:
        text = _ESCAPE.sub("", text)
    structure = text.encode("utf-8").translate(None, _NOT_STRUCTURE)
    brackets = _STRINGS.sub(b"", structure.replace(b'""', b""))
    return max(accumulate(array("b", brackets.translate(_SIGNS))), default=0)
