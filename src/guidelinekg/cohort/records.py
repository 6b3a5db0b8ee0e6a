"""The lines of a cohort's NDJSON input, one record each: read with file and line, refused in words.

* :class:`BadRecord`: a line (or file) set aside, with file, line and reason.
* :func:`parse_resource`: a line as a FHIR resource, or why it is none, said as a sentence ("a JSON array,
  not a resource object", "a JSON line without resourceType"), never as the text of a Python exception.
* :func:`not_resources`: a file that holds no FHIR resources: its name names no resource type and its first
  line is JSON that is not a resource (a Bulk Data client's own ``log.ndjson``, whose lines are its events).
  The export lists it among the files not read, not as bad records of patient data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from guidelinekg.content.rdffiles import open_input

_READ_ERRORS = (OSError, EOFError)  # rdffiles.open_input turns corrupt gzip data into OSError
_JSON_TYPES = {list: "array", str: "string", bool: "boolean", int: "number", float: "number", type(None): "null"}


@dataclass
class BadRecord:
    file: str
    line: int | None
    reason: str


def reason(exc: Exception) -> str:
    """Why a line was refused; JSON errors by column (the decoder's own line count starts at the record)."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg.removesuffix(' at')} at column {exc.pos + 1}"  # "Invalid control character at"
    return str(exc)


def _kind_of(value: object) -> str | None:
    """What a parsed JSON value is when it is no FHIR resource ("a JSON array"); ``None`` for a resource (an
    object with a ``resourceType`` string)."""
    if not isinstance(value, dict):
        return f"a JSON {_JSON_TYPES.get(type(value), 'value')}"
    kind = value.get("resourceType")
    if kind is None:
        return "a JSON object without resourceType"
    return None if isinstance(kind, str) and kind else "a JSON object whose resourceType is no type name"


def not_a_resource(value: object) -> str | None:
    """Why a parsed JSON line is no FHIR resource, in words; ``None`` when it is one."""
    what = _kind_of(value)
    if what is None:
        return None
    if what == "a JSON object without resourceType":
        return "a JSON line without resourceType, not a FHIR resource"
    return f"{what}, not a resource object"


def parse_resource(line: str, what: str = "JSON line") -> tuple[dict | None, str]:
    """A line as ``(resource, its resourceType)``, or ``(None, why not)``: JSON that does not parse is a
    "malformed ``what``" with the column; JSON that is no resource says what it is instead."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError) as exc:
        return None, f"malformed {what}: {reason(exc)}"
    if (why := not_a_resource(value)) is not None:
        return None, why
    return value, value["resourceType"]


_UNREAD = object()


def first_record(path: Path) -> object:
    """The JSON value of a file's first non-blank line; :data:`_UNREAD` when it cannot be read or parsed
    (its lines are then reported as bad records when they are read)."""
    try:
        with open_input(path) as handle:
            for raw in handle:
                if raw.strip():
                    return json.loads(raw.decode("utf-8-sig"))
    except (*_READ_ERRORS, ValueError, RecursionError):
        pass
    return _UNREAD


def first_type(path: Path) -> str | None:
    """The ``resourceType`` of a file's first record; ``None`` when it has none or cannot be read."""
    record = first_record(path)
    kind = record.get("resourceType") if isinstance(record, dict) else None
    return kind if isinstance(kind, str) else None


def not_resources(path: Path, named_type: str | None) -> str | None:
    """Why a file of an export without a manifest is not read as FHIR (see the module notes), or ``None``:
    only a file whose name names no type (``named_type``) and whose first line is JSON but no resource."""
    if named_type is not None:
        return None
    record = first_record(path)
    if record is _UNREAD or (what := _kind_of(record)) is None:
        return None
    return (f"{path.name}: not read as patient data: its name names no resource type and its first line is "
            f"{what}, not a FHIR resource (a Bulk Data client's log?)")
