"""The files of a FHIR Bulk Data export directory: which are read, in which order, and as what type.

* With an ``$export`` manifest in the directory (the JSON a server returns when an export is complete,
  saved as ``manifest.json`` or any name ending in ``manifest.json``: ``export-manifest.json``,
  ``bulk_manifest.json``): exactly the files of its ``output`` array, each named by the last path segment
  of its ``url`` (absolute or relative; nothing is ever fetched), ``X.ndjson.gz`` standing for a listed
  ``X.ndjson`` that was compressed after download. A listed file that is not in the directory is an
  error: its resources (patients, perhaps) would be lost. An NDJSON file the manifest does not list is not
  read (a warning, and ``ignored_files``). The files of the ``error`` array (OperationOutcome) and of the
  ``deleted`` array are listed in the summary, never read as patient data. Each item's ``count`` is
  checked against the lines read (a warning when they differ). A manifest that cannot be used (not JSON,
  no ``output`` array, an item without a ``url``) is an error with its line and column.
* Without one: every ``*.ndjson`` and ``*.ndjson.gz`` file, except one that holds no FHIR resources (its
  name names no type, its first line is JSON but no resource: a Bulk Data client's own ``log.ndjson``),
  listed in ``ignored_files`` with a warning (:func:`guidelinekg.cohort.records.not_resources`).

A file's type is the manifest item's ``type``; else the resource type its name names, in the names
servers give split exports (``Patient.ndjson``, ``Patient_2.ndjson``, ``Patient-1.ndjson``,
``Patient.000.ndjson``, ``1.Patient.ndjson``: one UpperCamelCase word among numbers, ``.ndjson`` or
``.ndjson.gz``); else the ``resourceType`` of its first record. The type only orders the reading: files
of Patients first, then the others by type, each group in the natural order of the numbers in the names.
Every line is still routed by its own ``resourceType`` (:mod:`guidelinekg.cohort.partition`), so a file
that mixes types, or is named for another type, loses nothing.

References are read as the Bundle reader reads one without a ``fullUrl`` (:func:`reference_key`). The export's
Medications, which records name for their product and which belong to no patient, are given to each chunk whose
records name them (:class:`SharedMedications`). What the manifest's ``request`` and error files leave out is
:mod:`guidelinekg.cohort.exportscope`'s.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote, urlparse

from guidelinekg.cohort.records import first_type, not_resources
from guidelinekg.errors import InputError, Location
from guidelinekg.patients.decode import decode_text, parse_json, where
from guidelinekg.cohort.exportscope import severe

NDJSON_SUFFIXES = (".ndjson", ".ndjson.gz")
MANIFEST_NAME = re.compile(r"(?:.*[._-])?manifest\.json", re.IGNORECASE)
_TYPED_NAME = re.compile(r"(?:\d+[._-])*(?P<type>[A-Z][A-Za-z]*)(?:[._-]\d+)*\.ndjson(?:\.gz)?")
MAX_COUNT = 10**15  # a count beyond any export (and a 1e999999999 never becomes a billion-digit int)
_HINT = "the manifest is the JSON the server returned when the export completed; fix or remove it"


@dataclass(frozen=True)
class ExportFile:
    path: Path
    type: str | None  # as the manifest, the file's name or its first record says; None: not known
    count: int | None = None  # the manifest's number of resources in the file


@dataclass
class ExportPlan:
    """The files to read, in reading order; the names of the others; what the summary says of the manifest."""

    files: list[ExportFile]
    ignored: list[str]
    warnings: list[str] = field(default_factory=list)
    manifest: dict = field(default_factory=dict)  # empty: the directory has no manifest
    # error files that report an error (an issue of severity fatal or error), or cannot be read or found:
    # what the server could not export may be missing from any patient's record (:func:`scope_notes`)
    severe_errors: dict[str, tuple[str, ...]] = field(default_factory=dict)  # file -> types it is about (): any


def natural_key(name: str) -> list:
    """Names in the order of their numbers: ``Patient_2`` before ``Patient_10``.

    >>> sorted(["Patient_10.ndjson", "Patient_2.ndjson", "Patient.ndjson"], key=natural_key)
    ['Patient.ndjson', 'Patient_2.ndjson', 'Patient_10.ndjson']
    """
    return [int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", name))]


def type_from_name(name: str) -> str | None:
    """The resource type a file's name names, as servers name the files of a split export.

    >>> [type_from_name(n) for n in ("Patient.ndjson", "Patient_2.ndjson.gz", "Patient.000.ndjson",
    ...                              "Patient-1.ndjson", "1.Patient.ndjson", "output.ndjson", "a.b.ndjson")]
    ['Patient', 'Patient', 'Patient', 'Patient', 'Patient', None, None]
    """
    match = _TYPED_NAME.fullmatch(name)
    return match["type"] if match else None


def _typed(path: Path, kind: str | None = None, count: int | None = None) -> ExportFile:
    return ExportFile(path, kind or type_from_name(path.name) or first_type(path), count)


def reading_order(files: list[ExportFile]) -> list[ExportFile]:
    """Patient files first, then the others by type; each group in the natural order of the names."""
    return sorted(files, key=lambda f: (f.type != "Patient", f.type or "", natural_key(f.path.name)))


def find_manifest(directory: Path) -> Path | None:
    """The directory's ``$export`` manifest, if it has one.

    Raises:
        InputError: more than one file is named like a manifest.
    """
    found = sorted(p.name for p in directory.iterdir() if p.is_file() and MANIFEST_NAME.fullmatch(p.name))
    if len(found) > 1:
        raise InputError(f"{directory}: {len(found)} $export manifests ({', '.join(found)}); keep only the one "
                         "of this export")
    return directory / found[0] if found else None


def plan_export(directory: Path) -> ExportPlan:
    """The files of the export to read, in reading order (see the module notes).

    Raises:
        InputError: a manifest that cannot be used or names a file that is not there; ``X.ndjson`` and
            ``X.ndjson.gz`` both present without a manifest (the same file twice, each would be read).
    """
    manifest = find_manifest(directory)
    if manifest is not None:
        plan = read_manifest(manifest, directory)
    else:
        paths = sorted(p for p in directory.iterdir() if p.is_file() and p.name.endswith(NDJSON_SUFFIXES))
        names = {p.name for p in paths}
        twice = sorted(n for n in names if n + ".gz" in names)
        if twice:
            raise InputError(f"{directory}: both {twice[0]} and {twice[0]}.gz: the same file twice? Each would "
                             "be read, every record twice; keep one")
        named = {p: type_from_name(p.name) for p in paths}  # a file whose name names no type and holds no FHIR:
        foreign = {p: why for p in paths if (why := not_resources(p, named[p]))}  # a client's log.ndjson
        read = set(paths) - foreign.keys()
        plan = ExportPlan([_typed(p, named[p]) for p in paths if p in read],
                          sorted(p.name for p in directory.iterdir() if p.is_file() and p not in read),
                          warnings=list(foreign.values()),  # a server's error file, as a manifest's (below)
                          severe_errors={p.name: found for p in paths
                                         if named[p] == "OperationOutcome" and (found := severe(p)) is not None})
    plan.files = reading_order(plan.files)
    return plan


def file_name(url: str) -> str:
    """The last path segment of a manifest ``url``: the name of the file in the export directory.

    >>> [file_name(u) for u in ("https://fhir.example/exports/7/Patient_2.ndjson?sig=x", "Patient.ndjson",
    ...                         "./out/1.Patient.ndjson", "file:///data/export/Observation.ndjson.gz",
    ...                         "https://fhir.example/Binary/a%20b", "https://fhir.example/")]
    ['Patient_2.ndjson', 'Patient.ndjson', '1.Patient.ndjson', 'Observation.ndjson.gz', 'a b', '']
    """
    path = urlparse(url).path if re.match(r"[A-Za-z][A-Za-z0-9+.-]+://", url) else url.split("?")[0].split("#")[0]
    name = unquote(re.split(r"[/\\]", path)[-1])
    return "" if name in (".", "..") else name


def _load(path: Path) -> object:
    location = Location(str(path))
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the $export manifest: {exc.strerror or exc}", location) from None
    try:
        return parse_json(decode_text(raw, location), location)
    except InputError as exc:
        raise InputError(f"$export manifest: {exc.message}", exc.location, hint=_HINT) from None


class _Checker:
    """The manifest's values, each refused with its line and column."""

    def __init__(self, path: Path):
        self.default = Location(str(path))

    def refuse(self, message: str, container: object, key: object = None) -> InputError:
        return InputError(f"$export manifest: {message}", where(container, key, default=self.default), hint=_HINT)

    def items(self, doc: dict, key: str, required: bool) -> list:
        value = doc.get(key, None if required else [])
        if not isinstance(value, list):
            raise self.refuse(f"'{key}' must be an array of file items" + ("" if key in doc else ", and is missing"),
                              doc, key if key in doc else None)
        return value

    def item(self, items: list, index: int, key: str) -> tuple[str, str | None, int | None]:
        """(file name, type, count) of one file item."""
        item = items[index]
        label = f"{key}[{index}]"
        if not isinstance(item, dict):
            raise self.refuse(f"{label} is not a file item (an object with 'type' and 'url')", items, index)
        url = item.get("url")
        if not isinstance(url, str) or not file_name(url):
            raise self.refuse(f"{label}.url must be the file's URL or path, ending in its name", item,
                              "url" if "url" in item else None)
        kind = item.get("type")
        if kind is not None and not isinstance(kind, str):
            raise self.refuse(f"{label}.type must be a resource type name", item, "type")
        count = item.get("count")
        if count is not None and not (isinstance(count, Decimal) and 0 <= count < MAX_COUNT
                                      and count == count.to_integral_value()):
            raise self.refuse(f"{label}.count must be a number of resources (a whole number)", item, "count")
        return file_name(url), kind, None if count is None else int(count)


def _find(directory: Path, name: str) -> Path | None:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_manifest(path: Path, directory: Path) -> ExportPlan:
    """The plan of an export with a manifest (see the module notes).

    Raises:
        InputError: not JSON, not a manifest, or naming a file of ``output`` that is not in the directory.
    """
    doc = _load(path)
    check = _Checker(path)
    if not isinstance(doc, dict):
        raise check.refuse("not a JSON object (a manifest has 'transactionTime', 'output' and 'error')", doc)
    output = check.items(doc, "output", required=True)
    files: list[ExportFile] = []
    listed: dict[str, int] = {}
    missing: list[tuple[int, str, str | None]] = []
    for index in range(len(output)):
        name, kind, count = check.item(output, index, "output")
        if name in listed:
            raise check.refuse(f"output[{index}] names {name} again (as output[{listed[name]}])", output, index)
        listed[name] = index
        found = _find(directory, name)
        if found is None:
            missing.append((index, name, kind))
        else:
            files.append(_typed(found, kind, count))
    if missing:
        index, name, kind = missing[0]
        what = "its patients" if kind == "Patient" else f"its {kind} resources" if kind else "its resources"
        more = f" (and {len(missing) - 1} more listed file(s) are missing)" if len(missing) > 1 else ""
        raise InputError(f"$export manifest: output[{index}] lists {name}, which is not in {directory}{more}: "
                         f"{what} would be lost", where(output, index, default=check.default),
                         hint="download every file of the manifest into the directory (or remove the manifest "
                              "to read the NDJSON files that are there)")
    warnings: list[str] = []
    side: dict[str, list[str]] = {}
    for key in ("error", "deleted"):
        items = check.items(doc, key, required=False)
        side[key] = [check.item(items, i, key)[0] for i in range(len(items))]
        for name in side[key]:
            if _find(directory, name) is None:
                warnings.append(f"{path.name}: {key} file {name} is not in {directory}")
    failed = {name: found for name in side["error"] if (found := severe(_find(directory, name))) is not None}
    if failed:
        about = sorted({t for types in failed.values() for t in types}) if all(failed.values()) else []
        warnings.append(f"{path.name}: the server reported errors{' about ' + ', '.join(about) if about else ''} "
                        f"({', '.join(failed)}, OperationOutcome): resources it could not export are not in this "
                        "input, so every patient's record may be partial where a guideline reads them; the reports "
                        "of a guideline that reads them say so (export-incomplete)")
    if notes := [name for name in side["error"] if name not in failed]:
        warnings.append(f"{path.name}: the error file(s) {', '.join(notes)} hold only the server's warnings or "
                        "information (no issue of severity error or fatal): nothing is said to be missing")
    read = {f.path for f in files}
    side_files = {p for key in side for n in side[key] if (p := _find(directory, n)) is not None}
    ignored = sorted(p.name for p in directory.iterdir() if p.is_file() and p not in read | side_files | {path})
    warnings += [f"{n} is not listed in {path.name}: not read" for n in ignored if n.endswith(NDJSON_SUFFIXES)]
    summary = {"file": path.name, **{k: doc[k] for k in ("transactionTime", "request") if isinstance(doc.get(k), str)},
               "error_files": side["error"], "deleted_files": side["deleted"]}
    return ExportPlan(files, ignored, warnings, summary, failed)


def checked_counts(plan: ExportPlan, lines: dict[str, int]) -> tuple[list[str], dict]:
    """The plan's warnings with one for each file whose manifest ``count`` differs from the number of its
    (non-blank) lines read, and the summary of the manifest with those files (``count_mismatches``)."""
    mismatches = [{"file": f.path.name, "count": f.count, "lines_read": lines.get(f.path.name, 0)}
                  for f in plan.files if f.count is not None and f.count != lines.get(f.path.name, 0)]
    warnings = plan.warnings + [f"{m['file']}: the manifest counts {m['count']} resource(s), {m['lines_read']} "
                                "line(s) were read" for m in mismatches]
    return warnings, {**plan.manifest, "count_mismatches": mismatches} if plan.manifest else {}


# --- what the records name, and what the export leaves out -------------------------------------------------

def reference_key(reference: str) -> str:
    """A reference as ``Type/id``, as :meth:`guidelinekg.patients.fhirbundle.Bundle.resolve` resolves one
    without a ``fullUrl`` (NDJSON has none): its last two segments, a version (``/_history/N``) and a final
    ``/`` left out; a reference of one segment (``urn:uuid:...``, ``#contained``) as it is.

    >>> [reference_key(r) for r in ("Patient/p1", "https://fhir.example.org/api/FHIR/R4/Patient/p5-epic",
    ...                             "Patient/p1/_history/3", "urn:uuid:7f3a")]
    ['Patient/p1', 'Patient/p5-epic', 'Patient/p1', 'urn:uuid:7f3a']
    """
    parts = reference.split("/_history/")[0].rstrip("/").split("/")
    return f"{parts[-2]}/{parts[-1]}" if len(parts) >= 2 else reference


def medication_key(resource: dict) -> str | None:
    """The ``Medication/id`` a record names as its product (``medicationReference``), if it names one."""
    ref = resource.get("medicationReference")
    target = ref.get("reference") if isinstance(ref, dict) else None
    key = reference_key(target) if isinstance(target, str) and target else None
    return key if key is not None and key.startswith("Medication/") else None


class SharedMedications:
    """The export's Medication lines: written to a file beside the chunks as they are read (memory holds only
    each id's offsets, and which chunk's records name which id), then given to each chunk whose records
    name them, so each patient's Bundle holds the products its records name, wherever the Medication file
    comes in the reading order."""

    def __init__(self, path: Path):
        self.path = path
        self.handle = path.open("w+b")
        self.offsets: dict[str, list[int]] = defaultdict(list)
        self.wanted: dict[int, set[str]] = defaultdict(set)  # chunk -> the Medications its records name
        self.lines = 0

    def add(self, resource: dict, line: str, origin: tuple[str, int]) -> None:
        self.lines += 1
        rid = resource.get("id")
        if isinstance(rid, str) and rid:
            self.offsets[f"Medication/{rid}"].append(self.handle.tell())
            self.handle.write((json.dumps([*origin, line]) + "\n").encode("utf-8"))

    def want(self, index: int, resource: dict) -> None:
        key = medication_key(resource)
        if key is not None:
            self.wanted[index].add(key)

    def deliver(self, add) -> int:
        """``add(chunk, line, origin)`` for each Medication line (every copy of its id) a record of the chunk
        names; return how many Medication lines no record names."""
        named: set[str] = set()
        for index in sorted(self.wanted):
            for key in sorted(self.wanted[index] & self.offsets.keys()):
                named.add(key)
                for offset in self.offsets[key]:
                    self.handle.seek(offset)
                    name, number, line = json.loads(self.handle.readline())
                    add(index, line, (name, number))
        self.handle.close()
        self.path.unlink()
        return self.lines - sum(len(self.offsets[key]) for key in named)
