"""What an export's manifest says its files leave out of every patient's record.

The ``request`` of the manifest: ``_since`` (an incremental export holds only what changed since then) and a
``_type`` list without a type the guideline reads (:func:`types_read`); and its error files that report an
error (:func:`severe`): what the server could not export. Each is a warning of the run and a note on every
patient (``export-incomplete``), with the closed-world records the input may then lack
(:attr:`guidelinekg.patients.model.IngestNote.lacks`): a criterion on them is unknown, not false.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote, urlparse

from guidelinekg.patients.model import ALL_RECORDS, MAY_LACK, records_lacking

MEDICATION_TYPES = ("Medication", "MedicationAdministration", "MedicationDispense", "MedicationRequest",
                    "MedicationStatement")
INCOMPLETE = "export-incomplete"  # the note on every patient of an export that leaves out part of the record



def severe(path: Path | None) -> bool:
    """Whether an error file (NDJSON of OperationOutcomes) reports an error: an issue of severity fatal or
    error, or a file not found, unreadable or without issues (information and warnings only: not)."""
    try:
        outcomes = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (AttributeError, OSError, UnicodeDecodeError, ValueError):  # AttributeError: not found (None)
        return True
    issues = [i for o in outcomes if isinstance(o, dict) for i in (o.get("issue") or []) if isinstance(i, dict)]
    return any(i.get("severity") in ("fatal", "error") for i in issues) or not issues



def request_scope(request: str) -> tuple[str | None, list[str] | None]:
    """The ``_since`` and the ``_type`` list of an ``$export`` request URL (``None``: not given); a ``+`` is
    kept (a time zone), not read as a space.

    >>> request_scope("https://x.org/fhir/Group/g/$export?_type=Patient,Observation&_since=2026-01-01T00:00:00+01:00")
    ('2026-01-01T00:00:00+01:00', ['Patient', 'Observation'])
    >>> request_scope("https://x.org/fhir/Patient/$export?_type=Patient&_type=Condition")
    (None, ['Patient', 'Condition'])
    """
    since, types = None, None
    for pair in urlparse(request).query.split("&"):
        key, _, value = (unquote(part) for part in pair.partition("="))
        if key == "_since" and value.strip():
            since = value.strip()
        elif key == "_type":
            types = [*(types or []), *(t.strip() for t in value.split(",") if t.strip())]
    return since, types


def types_read(kb) -> list[str]:
    """The resource types the FHIR mapping reads for a guideline: Patient and Condition; Observation and
    Specimen (a measure), the medication types (a substance), Procedure (a procedure criterion),
    AllergyIntolerance (an allergy criterion, or a medicine recommended: rule 77)."""
    types = ["Patient", "Condition"]
    types += ["Observation", "Specimen"] if kb.reads.loinc else []
    types += list(MEDICATION_TYPES) if kb.matcher.reads_substances else []
    return types + [t for t in ("Procedure", "AllergyIntolerance") if kb.reads.maps_type(t)]


def scope_notes(manifest: dict, kb=None, errors: list[str] = ()) -> list[tuple[str, str, tuple[str, ...]]]:
    """What the manifest's ``request`` leaves out of every patient's record, as (warning of the run, note of
    each patient, the closed-world records it may lack: ``IngestNote.lacks``): ``_since`` (an incremental
    export holds only what changed since then) and, with the knowledge, a ``_type`` list without a type the
    guideline reads (:func:`types_read`); and ``errors``, the error files that report an error
    (:attr:`ExportPlan.severe_errors`: what the server could not export is missing; the run's warning about
    them is the manifest's, so the warning here is empty)."""
    found = []
    if errors:
        listed = ", ".join(errors)
        found.append(("", f"the export reports errors ({listed}): what the server could not export is not in it, "
                          f"so {MAY_LACK}", ALL_RECORDS))
    request = manifest.get("request")
    if not isinstance(request, str):
        return found
    since, types = request_scope(request)
    if since is not None:
        warning = (f"{manifest['file']}: an incremental export (_since={since}): it holds only the resources changed "
                   "since then, so every patient's record is partial and decisions rest on part of it; each report "
                   f"says so ({INCOMPLETE}). Evaluate a full export (without _since)")
        note = f"the export is incremental (_since={since}): it holds only what changed since then, so {MAY_LACK}"
        found.append((warning, note, ALL_RECORDS))
    missing = [t for t in types_read(kb) if t not in types] if types is not None and kb is not None else []
    if missing:
        listed, asked = ", ".join(missing), ",".join(types)
        warning = (f"{manifest['file']}: the export asked only for _type={asked}: {listed}, which the guideline "
                   f"reads, are not in it, so every patient's record lacks them; each report says so ({INCOMPLETE})")
        note = f"the export leaves out {listed} (_type={asked}), which the guideline reads, so {MAY_LACK}"
        found.append((warning, note, records_lacking(missing)))
    return found
