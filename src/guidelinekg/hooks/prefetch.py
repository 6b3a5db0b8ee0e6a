"""A hook call's prefetched data as one FHIR R4 collection Bundle: what ``recommend`` would read from a file.

The Bundle holds the ``patient`` resource and every entry of each search key's ``searchset`` Bundle (each
resource once: a Specimen found by two searches is one entry). Numbers are passed on as written (the
request is parsed with Decimal numbers and encoded back as they were). Draft orders (``order-select``) are
not put in: a draft is no exposure, and leaving them out gives the report ``recommend`` gives for the
record itself.

Data that cannot be used as they are make the call's answer a card naming them, never a guess
(:class:`Gathered` ``missing``):

* a key the service declared and the request leaves out (the client did not or could not fetch it);
* ``null`` for the patient (there is no record to evaluate; ``null`` for a search means "no such data"
  and is fine);
* an ``OperationOutcome`` in a key's place, or an error-level OperationOutcome entry of a searchset: the
  client reports that fetching it failed (what its issues say is shown when it is text: ``diagnostics``,
  ``details.text`` or ``code``; an issue of another JSON shape, a ``details`` string or list, is read
  without error);
* a searchset with a ``next`` link: only its first page was sent, and the service does not fetch more;
* a resource of another type than the key's (a Patient that is not the context's patient included).

The Patient's entry gets a ``fullUrl`` (:func:`_patient_url`): a resource whose subject is an absolute
reference to a Patient of the same id on another server is not about this patient, and is skipped with a
warning as ``recommend`` skips it in a file.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from guidelinekg.hooks.protocol import ALLERGIES, PROCEDURES, SEARCHES, HookCall
from guidelinekg.patients.fhirschema import page_gap

_ENCODER = msgspec.json.Encoder(decimal_format="number")
KINDS = {**SEARCHES, **PROCEDURES, **ALLERGIES}


@dataclass(frozen=True)
class Gathered:
    """The Bundle's bytes (``None`` when data are missing) and, per prefetch key, what is missing."""

    raw: bytes | None
    missing: tuple[tuple[str, str], ...]  # (key, why)
    resources: int = 0


def _issues(resource: dict) -> list[dict]:
    """An OperationOutcome's issues that are objects (an EHR may send any JSON in their place)."""
    issues = resource.get("issue")
    return [i for i in issues if isinstance(i, dict)] if isinstance(issues, list) else []


def _said(issue: dict) -> str:
    """What an issue says: its ``diagnostics``, else ``details.text`` (a CodeableConcept; a string or a list
    of them in its place is read too), else its ``code``; only strings are shown."""
    details = issue.get("details")
    texts = [d.get("text") if isinstance(d, dict) else d for d in (details if isinstance(details, list) else [details])]
    for text in (issue.get("diagnostics"), *texts, issue.get("code")):
        if isinstance(text, str) and text.strip():
            return " ".join(text.split())
    return ""


def _failed(resource: dict) -> str:
    said = "; ".join(filter(None, map(_said, _issues(resource))))
    return "the EHR reported an error fetching it" + (f" ({said[:200]})" if said else "")


def _entries(key: str, value: dict, kind: str) -> tuple[list[dict], str | None]:
    """The entries of a search key's value, or why they cannot be used."""
    rtype = value.get("resourceType")
    if rtype == "OperationOutcome":
        return [], _failed(value)
    if rtype == kind:  # a single resource where a searchset was expected: one entry
        return [{"resource": value}], None
    if rtype != "Bundle":
        return [], f"a {rtype} resource where a searchset Bundle of {kind} was expected"
    if (gap := page_gap(value)) is not None:
        return [], f"the Bundle is {gap}"
    entries = value.get("entry") or []
    if not isinstance(entries, list):
        return [], "its entry is not an array"
    out = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue  # the mapper would find nothing in it either
        if resource.get("resourceType") == "OperationOutcome":
            if any(i.get("severity") in ("error", "fatal") for i in _issues(resource)):
                return [], _failed(resource) + " (the search results are incomplete)"
            continue  # a warning or information about the search: not patient data
        out.append({k: entry[k] for k in ("fullUrl", "resource") if k in entry})
    return out, None


def _patient_url(call: HookCall, entries: list[dict]) -> str:
    """The context patient's ``fullUrl``: on the request's ``fhirServer``; without one, on the one server the
    entries' ``fullUrl`` name, else a ``urn:`` of its own. An absolute reference to a Patient of that id on
    another server then names no patient of the Bundle (:meth:`guidelinekg.patients.fhirbundle.Bundle.resolve`),
    so a resource about it is skipped with an ``unknown-patient`` warning, never merged into this patient's."""
    bases = {call.fhir_server.rstrip("/")} if call.fhir_server else set()
    for entry in entries if not bases else ():
        url = entry.get("fullUrl")
        parts = url.split("/_history/")[0].rsplit("/", 2) if isinstance(url, str) and "://" in url else []
        if len(parts) == 3 and "://" in parts[0]:
            bases.add(parts[0])
    if len(bases) == 1:
        return f"{bases.pop()}/Patient/{call.patient_id}"
    return f"urn:guidelinekg:cds-hooks:context-patient:{call.patient_id}"


def gather(call: HookCall, keys: list[str]) -> Gathered:
    """The collection Bundle of a call's prefetch, or what is missing (see the module docstring)."""
    prefetch = call.prefetch or {}
    missing: list[tuple[str, str]] = []
    for key in keys:
        if key not in prefetch:
            missing.append((key, "not sent"))
    patient = prefetch.get("patient")
    if "patient" in prefetch:
        if patient is None:
            missing.append(("patient", "null: no Patient resource for this patient"))
        elif patient.get("resourceType") == "OperationOutcome":
            missing.append(("patient", _failed(patient)))
        elif patient.get("resourceType") != "Patient":
            missing.append(("patient", f"a {patient.get('resourceType')} resource where the Patient was expected"))
        elif patient.get("id") != call.patient_id:
            missing.append(("patient", (f"the Patient sent is {str(patient.get('id'))[:64]!r}, not the context's "
                                        f"patient {call.patient_id!r}")))
    entries: list[dict] = []
    seen: dict[tuple[str, str], dict] = {}
    for key in keys:
        if key == "patient" or prefetch.get(key) is None:
            continue
        found, why = _entries(key, prefetch[key], KINDS.get(key, ""))
        if why:
            missing.append((key, why))
            continue
        for entry in found:
            resource = entry["resource"]
            ident = (str(resource.get("resourceType")), str(resource.get("id")))
            if resource.get("id") is not None and seen.get(ident) == resource:
                continue  # the same resource from two searches: once (two versions: the mapper notes it)
            seen.setdefault(ident, resource)
            entries.append(entry)
    if missing:
        return Gathered(None, tuple(missing))
    if patient is not None:
        entries.insert(0, {"fullUrl": _patient_url(call, entries), "resource": patient})
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    return Gathered(_ENCODER.encode(bundle), (), len(entries))
