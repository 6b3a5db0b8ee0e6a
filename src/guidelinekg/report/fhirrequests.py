"""The FHIR R4 request resources of a report's items (no ids: :mod:`guidelinekg.report.fhirout` gives them).

Each function takes a report item (``build_report(..., facts=True)``), the patient's Reference and the
as-of date. Codes appear only where the content marks them verified (``PRIMARY`` or ``SECONDARY``): never
an invented code, the text otherwise. :func:`shown_codings` alone decides it, for every resource that carries
a code (and :mod:`guidelinekg.report.fhirout`'s dataRequirements).
"""

from __future__ import annotations

import re

from guidelinekg.patients.ucum import per_time
from guidelinekg.report.doubts import dose_status, dose_status_text, doubt_text, status_text

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
IRI_SYSTEM = "urn:ietf:rfc:3986"  # an identifier that is an IRI (a patient given in RDF, a run)
VERIFIED = {"PRIMARY", "SECONDARY"}
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
PERIOD_UNITS = {"s": "s", "min": "min", "h": "h", "d": "d", "wk": "wk", "mo": "mo", "a": "a"}  # UCUM = FHIR's


def subject_of(patient: str) -> dict:
    """The patient: ``Patient/<id>`` when the input was FHIR (its IRI is urn:guidelinekg:Patient/<id> with a
    valid FHIR id), else by its IRI as an identifier."""
    prefix = "urn:guidelinekg:Patient/"
    rest = patient[len(prefix):]
    if patient.startswith(prefix) and FHIR_ID.fullmatch(rest):
        return {"reference": "Patient/" + rest}
    return {"identifier": {"system": IRI_SYSTEM, "value": patient}, "display": patient}


def reasons(item: dict) -> list[dict]:
    """The Observations that made the criterion true (a component's Observation itself); a result that
    did not decide it for the statement is not cited."""
    refs = set()
    for fact in item.get("facts", []):
        record = (fact.get("record") or "").split(".component[", 1)[0]
        if fact.get("truth") == "true" and record.startswith("Observation/") and FHIR_ID.fullmatch(record[12:]):
            refs.add(record)
    return [{"reference": r} for r in sorted(refs)]


def shown_codings(codes: list[dict]) -> list[dict]:
    """The codings FHIR output may carry of ``codes`` (``{"system", "code", "status"}`` each, as the report
    gives them): a code the content marks verified, ``PRIMARY`` or ``SECONDARY``, and no other status
    (unverified, source-only, an assumption, none given: withheld, the text or display kept instead)."""
    statuses: dict[tuple[str, str], set] = {}
    for c in codes:
        statuses.setdefault((c["system"], c["code"]), set()).add(c.get("status"))
    return [{"system": system, "code": code} for (system, code), seen in statuses.items() if seen <= VERIFIED]


def loinc_text(test: dict) -> str:
    """A test's LOINC code as text and Markdown name it: "LOINC 99991-2", or "LOINC 99991-2, unverified" when the
    content does not mark it verified (:func:`shown_codings`: FHIR output withholds it), never passed off as
    checked."""
    verified = {c["code"] for c in shown_codings(test.get("codes", []))}
    return f"LOINC {test['loinc']}" + ("" if test["loinc"] in verified or "codes" not in test else ", unverified")


def concept(codes: list[dict], text: str | None) -> dict:
    """A CodeableConcept: the codings that may be shown, and the text (kept whether or not a code is)."""
    shown = shown_codings(codes)
    return {**({"coding": shown} if shown else {}), **({"text": text} if text else {})}


def _codes(rec: dict) -> list[dict]:
    return shown_codings(rec["intervention"]["codes"])


def _notes(rec: dict) -> list[dict]:
    """The explanation, then each caution that travels with the statement, then how far it was checked
    and what is in doubt (:func:`doubt_notes`)."""
    out = [{"text": "\n".join(rec["because"])}] if rec.get("because") else []
    return out + [{"text": "Caution: " + c["text"]} for c in rec.get("cautions", [])] + doubt_notes(rec)


def doubt_notes(item: dict, *, dosing: bool = True) -> list[dict]:
    """Annotations saying what the report says under a statement: its verification status as recorded, its
    dosing statements' (``dosing``: a request to give it), and each doubt recorded about it, its dosing or
    its cautions (a gkg:Discrepancy: what the source says, what a primary text says instead)."""
    out = [{"text": "Verification: " + status_text(item["verification"])}] if item.get("verification") else []
    if dosing:
        out += [{"text": f'Dosing "{d["label"] or d["statement"]}": {status_text(d["verification"])}'}
                for d in item.get("dosing", []) if d.get("verification")]
        if item.get("direction") != "against" and (text := dose_status_text(item.get("dose"))):
            out.append({"text": text[0].upper() + text[1:]})  # "Dose 50 mg: project assumption (ASSUMPTION) — ..."
    doubts = item.get("doubts", []) + [d for c in item.get("cautions", []) for d in c.get("doubts", [])]
    for text in dict.fromkeys(doubt_text(d) for d in doubts):
        out.append({"text": "Doubt: " + text})
    return out


def _dosage(rec: dict) -> dict:
    """The dose as the report gives it: structured only when it is the product's own amount (a dose of a
    part, such as an element of a salt, is text: doseQuantity would read as the product), as a rateQuantity
    when its unit is per time (``mg/d``); the computation or the dosing statement, or why there is none, in
    the text."""
    dose = rec.get("dose")
    basis = (dose or {}).get("basis") or rec.get("dose_basis")  # the given dose's, else the intervention's
    computed = next((line[6:] for line in rec["because"] if line.startswith("dose: ")), None)
    parts = []
    if dose:
        status = dose_status(dose)  # the dose's own status, beside it (its note: in the request's notes)
        parts.append(f"{dose['value']} {dose['unit']}" + (f" {basis}" if basis else "")
                     + (f" ({status})" if status else "")
                     + (f" {rec['frequency']}" if rec.get("frequency") else ""))
    if computed:  # how the report arrived at it (a computation, or the dosing statement that gives it)
        parts.append(("dose: " if dose else "dose not computed: ") + computed)
    parts += rec["administration"]
    dosage: dict = {"text": " ".join(p.rstrip(".") + "." for p in parts) or rec["intervention"]["label"]}
    if rec.get("route"):
        dosage["route"] = {"text": rec["route"]}
    if rec.get("frequency"):
        dosage["timing"] = {"code": {"text": rec["frequency"]}}
    if dose and not basis:  # an amount per time ("1000 mg/d") is a rate, never an amount given at once
        quantity = {"value": dose["value"], "unit": dose["unit"], "system": UCUM, "code": dose["unit"]}
        dosage["doseAndRate"] = [{"rateQuantity" if per_time(dose["unit"]) else "doseQuantity": quantity}]
    return dosage


def request_for(rec: dict, subject: dict, as_of: str) -> dict:
    """The request of a recommendation made: MedicationRequest, ServiceRequest (a test, referral or
    procedure), CommunicationRequest (advice) or, for a diagnosis to record, a Task; ``doNotPerform`` for
    a recommendation against."""
    kind = rec["intervention"]["kind"]
    against = rec.get("direction") == "against"
    label = rec["intervention"]["label"]
    what = concept(rec["intervention"]["codes"], label)
    common: dict = {"status": "draft", "intent": "proposal", "subject": subject, "authoredOn": as_of}
    if kind == "medication":
        resource = {"resourceType": "MedicationRequest", **common, "instantiatesCanonical": [rec["iri"]],
                    "medicationCodeableConcept": what}
        if not against:
            resource["dosageInstruction"] = [_dosage(rec)]
    elif kind in ("test", "referral", "procedure"):
        resource = {"resourceType": "ServiceRequest", **common, "instantiatesCanonical": [rec["iri"]], "code": what}
        if kind == "referral":
            resource["category"] = [{"text": "referral"}]
    elif kind == "advice":
        resource = {"resourceType": "CommunicationRequest", "status": "draft", "subject": subject,
                    "authoredOn": as_of, "payload": [{"contentString": rec["statement"]}], **canonical(rec["iri"])}
    else:  # a diagnosis or finding to record: a task for the clinician, never a recorded Condition
        resource = {"resourceType": "Task", "status": "draft", "intent": "proposal", "for": subject,
                    "authoredOn": as_of, "instantiatesUri": rec["iri"], "code": {"text": "record: " + label},
                    "description": rec["statement"]}
    if against and resource["resourceType"] != "Task":
        resource["doNotPerform"] = True
    if (why := reasons(rec)) and resource["resourceType"] != "Task":
        resource["reasonReference"] = why
    notes = _notes(rec)
    if against:  # no dose is given: nor said how it was checked
        notes = [n for n in notes if not n["text"].startswith("Dosing ")]
    if notes:
        resource["note"] = notes
    return resource


# FHIR R4's CommunicationRequest has no instantiatesCanonical: the workflow extension of that name says it
WORKFLOW_CANONICAL = "http://hl7.org/fhir/StructureDefinition/workflow-instantiatesCanonical"


def canonical(iri: str) -> dict:
    """The statement a CommunicationRequest carries out, as the R4 workflow extension."""
    return {"extension": [{"url": WORKFLOW_CANONICAL, "valueCanonical": iri}]}


def not_indicated_request(ni: dict, subject: dict, as_of: str) -> dict:
    """A not-indicated statement that applies: a request not to do it (``doNotPerform``), of the type of its
    interventions (a medicine when the content says nothing else)."""
    kinds = set(ni.get("intervention_kinds") or ["medication"])
    what = {"text": "; ".join(ni["interventions"]) or ni["label"]}
    common = {"status": "draft", "intent": "proposal", "subject": subject, "authoredOn": as_of, "doNotPerform": True}
    if kinds == {"medication"}:
        resource = {"resourceType": "MedicationRequest", **common, "instantiatesCanonical": [ni["iri"]],
                    "medicationCodeableConcept": what}
    elif kinds == {"advice"}:
        resource = {"resourceType": "CommunicationRequest", **{k: v for k, v in common.items() if k != "intent"},
                    "payload": [{"contentString": ni["statement"]}], **canonical(ni["iri"])}
    else:
        resource = {"resourceType": "ServiceRequest", **common, "instantiatesCanonical": [ni["iri"]], "code": what}
    if why := reasons(ni):
        resource["reasonReference"] = why
    resource["note"] = [{"text": ni["statement"]}, *_notes(ni)]
    return resource


def order_request(order: dict, subject: dict, as_of: str) -> dict:
    """The ServiceRequest of a test to order: its LOINC code when verified (``codes``: a report built with
    ``facts=True``; without them no status is known and the code is withheld), its name, the pre-test
    instructions for the patient."""
    resource = {"resourceType": "ServiceRequest", "status": "draft", "intent": "proposal",
                "code": concept(order.get("codes", []), order["label"]),
                "subject": subject, "authoredOn": as_of, "instantiatesCanonical": list(order["needed_for"]),
                "reasonCode": [{"text": "needed to decide: " + ", ".join(order["needed_for"])}]}
    if order["instructions"]:
        resource["patientInstruction"] = " ".join(order["instructions"])
    notes = [{"text": f'Instruction "{r["instruction"]}": {status_text(r["verification"])}'}
             for r in order.get("requirements", []) if r.get("verification")]
    if notes := notes + doubt_notes({"doubts": order.get("doubts", [])}):
        resource["note"] = notes
    return resource


TIME_UNITS = {"a": ("year", "years"), "mo": ("month", "months"), "wk": ("week", "weeks"), "d": ("day", "days"),
              "h": ("hour", "hours"), "min": ("minute", "minutes")}  # UCUM units of an interval, in words


# how a series of checks (no gkg:checkCount, or more than one) and a single check word each kind of bounds
EVERY = {"exact": "every {}", "range": "every {}", "max": "at least every {}", "min": "no sooner than every {}"}
ONCE = {"exact": "once, {} after the start", "range": "once, {} after the start", "max": "once, within {} of the start",
        "min": "once, no sooner than {} after the start"}


def interval_text(interval: dict | None, count: int | None = None) -> str | None:
    """A monitoring interval in words, its unit of time named: a range ("every 4-12 weeks"), "at least every"
    (a maximum: "at least every 1 year"), "no sooner than" (a minimum); as text, FHIR and CDS Hooks say it.
    With a number of checks (gkg:checkCount): "3 times, every 4-6 hours"; a single check is no series, its
    bounds say when it falls after the start (the trigger): "once, 4-6 hours after the start"."""
    span = None
    if interval and (interval["min"] or interval["max"]):
        one, many = TIME_UNITS.get(interval["unit"], (interval["unit"], interval["unit"]))
        exact = interval["min"] and interval["min"] == interval["max"]  # "every 2 years", not "every 2-2 years"
        single = (exact or not (interval["min"] and interval["max"])) and (interval["max"] or interval["min"]) == 1
        unit = one if single else many
        kind = "exact" if exact else "range" if interval["min"] and interval["max"] else "max" if interval["max"] else "min"
        bounds = {"exact": interval["min"], "range": f"{interval['min']}-{interval['max']}"}.get(
            kind, interval["max"] or interval["min"])
        span = (kind, f"{bounds} {unit}")
    if count == 1:
        return ONCE[span[0]].format(span[1]) if span else "once"
    every = EVERY[span[0]].format(span[1]) if span else None
    if count:
        return f"{count} times" + (f", {every}" if every else "")
    return every


def monitoring_requests(item: dict, subject: dict, as_of: str) -> list[dict]:
    """A monitoring item as one ServiceRequest per test it monitors, its interval as Timing: a range as
    period/periodMax; a single bound only in words (Timing.repeat cannot say "at least" or "no sooner"). A
    number of checks is Timing.repeat.count, so a receiving system schedules that many and no more; when a
    single check falls after the start is said in words too (Timing cannot tie an offset to the trigger)."""
    timing = None
    interval, count = item.get("interval"), item.get("count")
    if text := interval_text(interval, count):
        timing = {"code": {"text": text}}
        repeat = {"count": count} if count else {}
        if interval and interval["min"] and interval["max"] and interval["unit"] in PERIOD_UNITS:
            repeat |= {"frequency": 1, "period": interval["min"], "periodMax": interval["max"],
                       "periodUnit": PERIOD_UNITS[interval["unit"]]}
            if interval["min"] == interval["max"]:  # one period, no range
                del repeat["periodMax"]
        if repeat:
            timing["repeat"] = repeat
    out = []
    for code in item["loinc"]:
        # the test's code when verified (``codes``: facts=True), its name (else the action's text) in any case
        codes = [c for c in item.get("codes", []) if c["code"] == code]
        label = min((c["label"] for c in codes if c.get("label")), default=None) or item["action"]
        resource = {"resourceType": "ServiceRequest", "status": "draft", "intent": "proposal",
                    "instantiatesCanonical": [item["iri"]], "code": concept(codes, label),
                    "subject": subject, "authoredOn": as_of,
                    "note": [{"text": item["action"]}, *doubt_notes(item, dosing=False)]}
        if timing:
            resource["occurrenceTiming"] = timing
        if item.get("trigger"):
            resource["note"].append({"text": "when: " + item["trigger"]})
        out.append(resource)
    return out
