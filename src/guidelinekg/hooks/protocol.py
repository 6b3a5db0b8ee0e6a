"""The CDS Hooks 2.0 side of the service: its two services, their discovery document, and the checks of a
hook call's and a feedback's JSON body.

A request that breaks the protocol is refused with a :class:`HookError` (a 4xx status and a FHIR
``OperationOutcome`` body, as CDS Hooks recommends for errors): a body that is not UTF-8 JSON (a key given
twice in one object is refused, as the patient loader refuses it), not an object, without ``hook``,
``hookInstance`` (a UUID) or ``context``, a ``hook`` that is not the service's, a ``context.patientId``
that is not a FHIR id, a ``prefetch`` that is not an object of resources (or ``null``), and for
``order-select`` ``selections`` and ``draftOrders`` missing or of the wrong JSON type, a feedback text field
(comment, reason code, system or display, card or suggestion id) longer than :data:`MAX_TEXT`. What the patient
data say is not checked here: unusable data get a card (:mod:`guidelinekg.hooks.advice`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from guidelinekg.errors import InputError, Location

PATIENT_VIEW, ORDER_SELECT = "patient-view", "order-select"
SERVICE_PREFIX = "guidelinekg-"
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # FHIR R4 id
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
OUTCOMES = ("accepted", "overridden")
MAX_TEXT = 64 << 10  # characters of one text field of a feedback (a comment, a code, a display): recorded as given
# what each prefetch key reads, by resource type; "patient" is a read, the others searches on the patient
SEARCHES = {"observations": "Observation", "conditions": "Condition", "medicationStatements": "MedicationStatement",
            "medicationRequests": "MedicationRequest", "medicationAdministrations": "MedicationAdministration",
            "medicationDispenses": "MedicationDispense", "specimens": "Specimen"}
PROCEDURES = {"procedures": "Procedure"}  # only when a loaded guideline reads procedures
ALLERGIES = {"allergyIntolerances": "AllergyIntolerance"}  # only when one has an allergy criterion or recommends a medicine


class HookError(Exception):
    """A request refused: HTTP ``status`` with an OperationOutcome whose issue has ``code`` (FHIR
    issue-type) and ``message``; ``headers`` to add (``WWW-Authenticate`` for a 401)."""

    def __init__(self, status: int, code: str, message: str, headers: tuple[tuple[str, str], ...] = ()):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def operation_outcome(code: str, message: str) -> dict:
    """The error body: a FHIR R4 OperationOutcome with one issue."""
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": message}]}


def bad_request(message: str) -> HookError:
    return HookError(400, "invalid", message)


@dataclass(frozen=True)
class Service:
    id: str
    hook: str
    title: str
    description: str


def services() -> dict[str, Service]:
    """The two services, by id."""
    view = Service(SERVICE_PREFIX + PATIENT_VIEW, PATIENT_VIEW, "Guideline recommendations for this patient",
                   "The loaded guidelines evaluated for the patient whose record is opened: each recommendation "
                   "made, each statement saying an intervention is not indicated, each test to order before a "
                   "decision can be made, and each warning about the data, as cards with the explanation, the "
                   "guideline version and its review status, citations, and the order to place as a suggestion.")
    select = Service(SERVICE_PREFIX + ORDER_SELECT, ORDER_SELECT, "Guideline check of selected medication orders",
                     "Each selected draft MedicationRequest whose medicine a loaded guideline says is not "
                     "indicated, recommends against, or sets aside for this patient gets a warning card with the "
                     "guideline's reason and a suggestion to replace it with what the guideline recommends.")
    return {s.id: s for s in (view, select)}


def templates(procedures: bool, allergies: bool = False) -> dict[str, str]:
    """The prefetch templates: the patient, and a search on the patient per resource type the mapping
    reads (the service never queries the FHIR server itself)."""
    out = {"patient": "Patient/{{context.patientId}}"}
    for key, kind in {**SEARCHES, **(PROCEDURES if procedures else {}), **(ALLERGIES if allergies else {})}.items():
        out[key] = f"{kind}?patient={{{{context.patientId}}}}"
    return out


def discovery(prefetch: dict[str, str], as_of: str | None) -> dict:
    """The discovery document (``GET /cds-services``)."""
    when = f"as of {as_of} (fixed with --as-of)" if as_of else "as of the day of the call"
    usage = ("Every prefetch key is needed (null when the record has no such data): the service never queries "
             "the FHIR server (fhirServer and fhirAuthorization are not used), and a call missing a key gets "
             "one card naming the data needed instead of advice. Decisions are made " + when + ".")
    return {"services": [{"hook": s.hook, "title": s.title, "description": s.description, "id": s.id,
                          "prefetch": dict(prefetch), "usageRequirements": usage}
                         for s in services().values()]}


def read_json(body: bytes, what: str) -> Any:
    """A request body as JSON (numbers as Decimal, so they are passed on as written)."""
    from guidelinekg.patients.decode import decode_text, parse_json

    location = Location(what)
    try:
        return parse_json(decode_text(body, location), location, positions=False)
    except InputError as exc:
        raise bad_request(f"the body is not usable JSON: {exc.message}") from None


@dataclass(frozen=True)
class HookCall:
    service: Service
    hook_instance: str
    patient_id: str
    context: dict
    prefetch: dict | None
    fhir_server: str | None = None
    selections: tuple[str, ...] = field(default=())


def _string(obj: dict, key: str, where: str, *, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise bad_request(f"{where}{key} is {'missing' if value is None else 'not a non-empty string'}")
    return value


def parse_call(body: bytes, service: Service) -> HookCall:
    """A hook call to ``service``, checked (see the module docstring)."""
    doc = read_json(body, "request")
    if not isinstance(doc, dict):
        raise bad_request("the body must be a JSON object (a CDS Hooks request)")
    hook = _string(doc, "hook", "")
    if hook != service.hook:
        raise bad_request(f"hook {hook!r} is not the hook of service {service.id} ({service.hook})")
    instance = _string(doc, "hookInstance", "")
    if not UUID.fullmatch(instance):
        raise bad_request("hookInstance must be a UUID")
    context = doc.get("context")
    if not isinstance(context, dict):
        raise bad_request("context is missing or not an object")
    patient = _string(context, "patientId", "context.")
    if not FHIR_ID.fullmatch(patient):
        raise bad_request("context.patientId is not a FHIR id (1-64 letters, digits, '-' and '.')")
    prefetch = doc.get("prefetch")
    if prefetch is not None and not isinstance(prefetch, dict):
        raise bad_request("prefetch must be an object: prefetch key -> FHIR resource (or null)")
    for key, value in (prefetch or {}).items():
        if value is not None and not (isinstance(value, dict) and isinstance(value.get("resourceType"), str)):
            raise bad_request(f"prefetch.{key} must be a FHIR resource (an object with resourceType) or null")
    server = doc.get("fhirServer")
    if server is not None and not isinstance(server, str):
        raise bad_request("fhirServer must be a URL string")
    if doc.get("fhirAuthorization") is not None and server is None:
        raise bad_request("fhirAuthorization is given without fhirServer")
    selections: tuple[str, ...] = ()
    if service.hook == ORDER_SELECT:
        chosen = context.get("selections")
        if not isinstance(chosen, list) or not all(isinstance(s, str) and s for s in chosen):
            raise bad_request("context.selections must be an array of resource ids (e.g. MedicationRequest/103)")
        drafts = context.get("draftOrders")
        if not isinstance(drafts, dict) or drafts.get("resourceType") != "Bundle":
            raise bad_request("context.draftOrders must be a FHIR Bundle of the draft orders")
        if drafts.get("entry") is not None and not isinstance(drafts["entry"], list):
            raise bad_request("context.draftOrders.entry must be an array")
        selections = tuple(chosen)
    return HookCall(service, instance.lower(), patient, context, prefetch, server, selections)


@dataclass(frozen=True)
class Feedback:
    card: str
    outcome: str
    accepted: tuple[str, ...]
    reason: dict | None  # the Coding of overrideReason.reason
    comment: str | None
    timestamp: str


TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", re.ASCII)


def parse_feedback(body: bytes) -> list[Feedback]:
    """The feedback items of a ``POST .../feedback`` body (CDS Hooks 2.0 feedback)."""
    doc = read_json(body, "feedback")
    if not isinstance(doc, dict) or not isinstance(doc.get("feedback"), list) or not doc["feedback"]:
        raise bad_request("the body must be an object with a non-empty 'feedback' array")
    out = []
    for i, item in enumerate(doc["feedback"]):
        where = f"feedback[{i}]."
        if not isinstance(item, dict):
            raise bad_request(f"feedback[{i}] is not an object")
        card = _string(item, "card", where)
        outcome = _string(item, "outcome", where)
        if outcome not in OUTCOMES:
            raise bad_request(f"{where}outcome must be 'accepted' or 'overridden'")
        stamp = _string(item, "outcomeTimestamp", where)
        try:
            valid = bool(TIMESTAMP.fullmatch(stamp)) and datetime.fromisoformat(stamp) is not None
        except ValueError:
            valid = False
        if not valid:
            raise bad_request(f"{where}outcomeTimestamp must be an ISO 8601 date-time with a time zone")
        accepted = item.get("acceptedSuggestions")
        if accepted is not None and not (isinstance(accepted, list) and all(
                isinstance(a, dict) and isinstance(a.get("id"), str) and a["id"] for a in accepted)):
            raise bad_request(f"{where}acceptedSuggestions must be an array of {{\"id\": suggestion uuid}}")
        if outcome == "accepted" and not accepted:
            raise bad_request(f"{where}acceptedSuggestions is required for an accepted outcome")
        reason, comment = None, None
        override = item.get("overrideReason")
        if override is not None:
            if not isinstance(override, dict):
                raise bad_request(f"{where}overrideReason must be an object")
            reason, comment = override.get("reason"), override.get("userComment")
            if reason is not None and not (isinstance(reason, dict) and isinstance(reason.get("code"), str)
                                           and all(isinstance(reason.get(k, ""), str) for k in ("system", "display"))):
                raise bad_request(f"{where}overrideReason.reason must be a Coding with a code")
            if comment is not None and not isinstance(comment, str):
                raise bad_request(f"{where}overrideReason.userComment must be a string")
            if reason is None and not comment:
                raise bad_request(f"{where}overrideReason needs a reason, a userComment, or both")
        texts = {"card": card, **{f"acceptedSuggestions[{n}].id": a["id"] for n, a in enumerate(accepted or ())},
                 "overrideReason.userComment": comment,
                 **{f"overrideReason.reason.{k}": (reason or {}).get(k) for k in ("code", "system", "display")}}
        for name, text in texts.items():
            if isinstance(text, str) and len(text) > MAX_TEXT:
                raise bad_request(f"{where}{name} is {len(text)} characters long: a text field of a feedback may "
                                  f"have at most {MAX_TEXT} ({MAX_TEXT >> 10} Ki)")
        out.append(Feedback(card.lower(), outcome, tuple(a["id"].lower() for a in accepted or ()), reason,
                            comment, stamp))
    return out
