"""What an export's manifest says its files leave out of every patient's record.

The ``request`` of the manifest: ``_since`` (an incremental export holds only what changed since then) and a
``_type`` list without a type the guideline reads (:func:`types_read`); and its error files that report an
error (:func:`severe`): what the server could not export. Each is a warning of the run and a note on every
patient (``export-incomplete``), with the closed-world records the input may then lack
(:attr:`guidelinekg.patients.model.IngestNote.lacks`): a criterion on them is unknown, not false.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import unquote, urlparse

from guidelinekg.content.rdffiles import open_input
from guidelinekg.patients.model import ALL_RECORDS, CUT_SHORT, MAY_LACK, MAY_LACK_ANY, records_lacking

MEDICATION_TYPES = ("Medication", "MedicationAdministration", "MedicationDispense", "MedicationRequest",
                    "MedicationStatement")
INCOMPLETE = "export-incomplete"  # the note on every patient of an export that leaves out part of the record



_TYPE_PATH = re.compile(r"[A-Z][A-Za-z]{1,63}(?=$|[.\[(])")


def severe(path: Path | None) -> tuple[str, ...] | None:
    """What an error file (NDJSON of OperationOutcomes) reports missing: ``None`` when it reports no error
    (information and warnings only); the resource types its errors are about when every issue of severity
    fatal or error names them (its ``expression``, FHIRPath starting with the type: a server that does not
    export Encounter); else ``()``, anything (an issue naming no type, a file not found, unreadable or
    without issues)."""
    if path is None:  # not found
        return ()
    try:
        with open_input(path) as stream:  # a server may gzip it (OperationOutcome.ndjson.gz)
            outcomes = [json.loads(line) for line in stream.read().decode("utf-8").splitlines() if line.strip()]
    except (EOFError, OSError, UnicodeDecodeError, ValueError):
        return ()
    issues = [i for o in outcomes if isinstance(o, dict) for i in (o.get("issue") or []) if isinstance(i, dict)]
    errors = [i for i in issues if i.get("severity") in ("fatal", "error")]
    if not issues:
        return ()
    if not errors:
        return None
    types: set[str] = set()
    for issue in errors:
        paths = issue.get("expression")
        named = [m.group(0) for p in paths if isinstance(p, str) and (m := _TYPE_PATH.match(p.strip()))] \
            if isinstance(paths, list) else []
        if not named or len(named) != len(paths) or "Bundle" in named:  # Bundle.entry[3].resource...: any type
            return ()
        types.update(named)
    return tuple(sorted(types))


@dataclass(frozen=True)
class RequestScope:
    """What an ``$export`` request URL asks for: ``since`` (``_since``), ``types`` (the ``_type`` list),
    ``filtered`` (the types a ``_typeFilter`` query narrows), ``elements`` (``_elements``); ``None``: not
    given."""

    since: str | None = None
    types: list[str] | None = None
    filtered: list[str] = field(default_factory=list)
    elements: str | None = None


def request_scope(request: str) -> RequestScope:
    """What an ``$export`` request URL asks for. In ``_since`` a ``+`` is kept (a time zone written as it is),
    not read as a space; in the type lists it is a space (``_type=Patient,+Condition``). A type is named in
    its FHIR spelling, whatever its case (``condition`` is Condition: the type lists are compared so).

    >>> request_scope("https://x.org/fhir/Group/g/$export?_type=Patient,Observation&_since=2026-01-01T00:00:00+01:00")
    RequestScope(since='2026-01-01T00:00:00+01:00', types=['Patient', 'Observation'], filtered=[], elements=None)
    >>> request_scope("https://x.org/fhir/Patient/$export?_type=Patient&_type=+Condition").types
    ['Patient', 'Condition']
    >>> request_scope("https://x.org/$export?_typeFilter=Condition%3Fcode%3D1,MedicationRequest%3Fstatus%3Dactive")
    RequestScope(since=None, types=None, filtered=['Condition', 'MedicationRequest'], elements=None)
    """
    since, types, filtered, elements = None, None, [], None
    for pair in urlparse(request).query.split("&"):
        key, _, value = (unquote(part) for part in pair.partition("="))
        if key == "_since" and value.strip():
            since = value.strip()
        elif key == "_type":
            types = [*(types or []), *(t.strip(" +") for t in value.split(",") if t.strip(" +"))]
        elif key == "_typeFilter":  # queries "Type?param=value", comma-separated (a comma in one is %2C)
            filtered += [q.partition("?")[0].strip(" +") for q in value.split(",") if q.partition("?")[0].strip(" +")]
        elif key == "_elements" and value.strip():
            elements = value.strip()
    return RequestScope(since, types, sorted(set(filtered), key=filtered.index), elements)


def _named(wanted: list[str], listed: list[str]) -> list[str]:
    """The types of ``wanted`` that ``listed`` names, in any case."""
    folded = {t.casefold() for t in listed}
    return [t for t in wanted if t.casefold() in folded]


def types_read(kb) -> list[str]:
    """The resource types the FHIR mapping reads for a guideline: Patient and Condition; Observation and
    Specimen (a measure), the medication types (a substance), Procedure (a procedure criterion),
    AllergyIntolerance (an allergy criterion, or a medicine recommended: rule 77)."""
    types = ["Patient", "Condition"]
    types += ["Observation", "Specimen"] if kb.reads.loinc else []
    types += list(MEDICATION_TYPES) if kb.matcher.reads_substances else []
    return types + [t for t in ("Procedure", "AllergyIntolerance") if kb.reads.maps_type(t)]


def scope_notes(manifest: dict, kb=None, errors: dict[str, tuple[str, ...]] | None = None,
                as_of: date | None = None) -> list[tuple[str, str, tuple[str, ...]]]:
    """What the manifest says every patient's record lacks, as (warning of the run, note of each patient, the
    closed-world records it may lack: ``IngestNote.lacks``). From the ``request``: ``_since`` (an
    incremental export holds only what changed since then), ``_elements`` (each resource only in part) and,
    with the knowledge, a ``_type`` list without a type the guideline reads (:func:`types_read`) or a
    ``_typeFilter`` that narrows one. ``errors``: the error files that report an error, with the types
    they are about (:attr:`ExportPlan.severe_errors`, :func:`severe`): what the server could not export is
    missing, anything when they name no type, else records of those types when the guideline reads one (an
    error about Encounter alone lacks nothing it reads); the run's warning about them is the manifest's, so
    the warning here is empty. A ``transactionTime`` before the ``as_of`` date:
    what was recorded since is not in the export (a note, lacking nothing: every export is of some moment).
    A manifest without a ``request`` (the Bulk Data specification requires one) cannot be judged: a warning."""
    found = []
    errors = errors or {}
    read = types_read(kb) if kb is not None else None
    if any(not types for types in errors.values()):
        listed = ", ".join(errors)
        found.append(("", f"the export reports errors ({listed}): what the server could not export is not in it, "
                          f"so {MAY_LACK_ANY}", CUT_SHORT))
    elif errors and (about := sorted({t for types in errors.values() for t in types
                                      if read is None or t in read})):
        listed = ", ".join(errors)
        found.append(("", f"the export reports errors about {', '.join(about)} ({listed}): what the server could not "
                          f"export is not in it, so {MAY_LACK_ANY if 'Observation' in about else MAY_LACK}",
                      records_lacking(about)))
    found += _made_before(manifest, as_of)
    request = manifest.get("request")
    if not isinstance(request, str):
        if manifest:
            found.append((f"{manifest['file']}: the manifest has no 'request' (the Bulk Data specification requires "
                          "the kick-off URL): whether the export left out types, filtered them or holds only changes "
                          "cannot be told, so it is read as a full export", "", ()))
        return found
    scope = request_scope(request)
    if scope.since is not None:
        warning = (f"{manifest['file']}: an incremental export (_since={scope.since}): it holds only the resources "
                   "changed since then, so every patient's record is partial and decisions rest on part of it; each "
                   f"report says so ({INCOMPLETE}). Evaluate a full export (without _since)")
        note = f"the export is incremental (_since={scope.since}): it holds only what changed since then, so {MAY_LACK}"
        found.append((warning, note, ALL_RECORDS))
    if scope.elements is not None:
        warning = (f"{manifest['file']}: the export holds only some elements of each resource (_elements="
                   f"{scope.elements}): a status, date or value it left out is read as not recorded; each report says "
                   f"so ({INCOMPLETE}). Evaluate an export without _elements")
        note = (f"the export holds only some elements of each resource (_elements={scope.elements}): a status, date "
                f"or value it left out is read as not recorded, so {MAY_LACK}")
        found.append((warning, note, CUT_SHORT))  # a result's status may be left out: none is used (rule 19)
    read = read or []
    missing = [t for t in read if t not in _named(read, scope.types)] if scope.types is not None else []
    if missing:
        listed, asked = ", ".join(missing), ",".join(scope.types)
        warning = (f"{manifest['file']}: the export asked only for _type={asked}: {listed}, which the guideline "
                   f"reads, are not in it, so every patient's record lacks them; each report says so ({INCOMPLETE})")
        note = f"the export leaves out {listed} (_type={asked}), which the guideline reads, so {MAY_LACK}"
        found.append((warning, note, records_lacking(missing)))
    narrowed = [t for t in _named(read, scope.filtered) if t not in missing]
    if narrowed:
        listed = ", ".join(narrowed)
        warning = (f"{manifest['file']}: the export filtered {listed} (_typeFilter), which the guideline reads: only "
                   f"the records matching the filter are in it, so every patient's record may lack others; each "
                   f"report says so ({INCOMPLETE})")
        note = f"the export holds only the {listed} records matching a filter (_typeFilter), so {MAY_LACK}"
        found.append((warning, note, records_lacking(narrowed)))  # a filtered Observation: a newer result too
    return found


def _made_before(manifest: dict, as_of: date | None) -> list[tuple[str, str, tuple[str, ...]]]:
    """A note when the export's ``transactionTime`` (its date, in its own time zone) is before ``as_of``."""
    stamp = manifest.get("transactionTime")
    if as_of is None or not isinstance(stamp, str):
        return []
    try:
        made = date.fromisoformat(stamp.strip()[:10])
    except ValueError:
        return []
    if made >= as_of:
        return []
    days = (as_of - made).days
    said = (f"the export was made on {made} (transactionTime), {days} day(s) before the as-of date {as_of}: what "
            "was recorded since is not in it")
    return [(f"{manifest['file']}: {said}; each report says so ({INCOMPLETE}). Use --as-of {made} to evaluate "
             "the record as it was then", f"{said}, so decisions rest on the record as it was then", ())]
