"""FHIR R4 renderings of patient reports: what ``recommend --format fhir`` prints, as CPG-on-FHIR's
``PlanDefinition/$apply`` returns it.

One collection Bundle per patient holds, for each guideline evaluated:

- a **RequestGroup** (status ``draft``, intent ``proposal``) with one action per statement made: a
  recommendation (with its strength and certainty as the ``cqf-strengthOfRecommendation`` and
  ``cqf-qualityOfEvidence`` extensions, its citations as ``documentation``), a not-indicated statement that
  applies, a test to order, a monitoring item; each request action points at its resource;
- **MedicationRequest** (a medicine; ``doNotPerform`` for a recommendation against), **ServiceRequest** (a
  test, referral or procedure; an order for missing data with the pre-test instructions as
  ``patientInstruction``; a monitoring item with its interval as ``occurrenceTiming``) and
  **CommunicationRequest** (advice), each ``instantiatesCanonical`` the statement (its PlanDefinition, see
  :mod:`guidelinekg.render.plandefinition`) and citing the dated results it rests on as ``reasonReference``;
- a **DetectedIssue** per warning;
- a **GuidanceResponse**: ``success``, or ``data-required`` with a ``dataRequirement`` per test ordered
  when a statement waits on data;
- a **Provenance** of all of them, naming the run (its PROV-O record is the ``--provenance`` output).

Codes: a medicine's codes only where the content marks them verified (``VerifiedPrimary`` or
``VerifiedSecondary``), else text alone: never an invented code. What does not map: a diagnosis to record (an
action with its text, no resource), a special population's statement not made (in the GuidanceResponse's
``reasonCode`` text), the explanations (each request's ``note``). Ids are UUIDs derived from the run and
the statement, so the same inputs give the same bytes; ``recorded`` and ``authoredOn`` are the as-of date.
"""

from __future__ import annotations

import uuid

from guidelinekg import __version__

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
IRI_SYSTEM = "urn:ietf:rfc:3986"  # an identifier that is an IRI (the run, the guideline version)
WARNING_SYSTEM = "https://w3id.org/guidelinekg/warning"  # the stable warning codes the README lists
EXT = "http://hl7.org/fhir/StructureDefinition/"
STRENGTH = {"strong": "strong", "conditional": "weak"}  # http://terminology.hl7.org/CodeSystem/recommendation-strength
QUALITY = {"high": "high", "moderate": "moderate", "low": "low", "very low": "very-low"}  # .../evidence-quality
VERIFIED = {"PRIMARY", "SECONDARY"}
UNITS = {"a": "a", "mo": "mo", "wk": "wk", "d": "d"}  # UCUM durations a monitoring interval may use


def _id(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, " ".join(parts)))


def subject_of(patient: str) -> dict:
    """The patient: ``Patient/<id>`` when the input was FHIR (its IRI is urn:guidelinekg:Patient/<id>), else
    by its IRI as an identifier."""
    prefix = "urn:guidelinekg:Patient/"
    if patient.startswith(prefix) and "/" not in patient[len(prefix):]:
        return {"reference": "Patient/" + patient[len(prefix):]}
    return {"identifier": {"system": IRI_SYSTEM, "value": patient}, "display": patient}


def artifacts(citations: list[dict]) -> list[dict]:
    """Citations as RelatedArtifacts: a cited work with its DOI or PMID link; an unresolved source marker
    as what it is."""
    out = []
    for c in citations:
        if c.get("title"):
            ids = "; ".join(f"{k.upper()} {c[k]}" for k in ("doi", "pmid") if c.get(k))
            item = {"type": "citation", "citation": c["title"] + (f" ({c['year']})" if c.get("year") else "")
                    + (f". {ids}" if ids else "")}
            if c.get("doi"):
                item["url"] = "https://doi.org/" + c["doi"]
            elif c.get("pmid"):
                item["url"] = "https://pubmed.ncbi.nlm.nih.gov/" + c["pmid"] + "/"
            if c["kind"] == "verified-against":
                item["label"] = "checked against"
        else:
            item = {"type": "citation", "label": str(c.get("reference", "")),
                    "citation": f"reference {c.get('reference')} of the source ({c.get('resolution', 'unresolved')})"}
        if item not in out:
            out.append(item)
    return out


def grading(rec: dict) -> list[dict]:
    out = []
    if rec.get("strength") in STRENGTH:
        out.append({"url": EXT + "cqf-strengthOfRecommendation", "valueCodeableConcept": {"coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/recommendation-strength",
             "code": STRENGTH[rec["strength"]]}], "text": f"{rec['strength']} recommendation"}})
    if rec.get("certainty") in QUALITY:
        out.append({"url": EXT + "cqf-qualityOfEvidence", "valueCodeableConcept": {"coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/evidence-quality",
             "code": QUALITY[rec["certainty"]]}], "text": f"{rec['certainty']} certainty"}})
    for g in rec.get("grades") or []:  # the guideline's own grading system, as text
        url = EXT + ("cqf-strengthOfRecommendation" if g["axis"] == "strength" else "cqf-qualityOfEvidence")
        out.append({"url": url, "valueCodeableConcept": {"text": f"{g['label'] or g['grade']} ({g['system']})"}})
    return out


def _reasons(item: dict) -> list[dict]:
    """The records the statement's criterion rests on (Observation/<id> as the input names them)."""
    refs = sorted({f["record"] for f in item.get("facts", []) if (f.get("record") or "").startswith("Observation/")})
    return [{"reference": r} for r in refs]


def _note(item: dict) -> list[dict]:
    return [{"text": "\n".join(item["because"])}] if item.get("because") else []


class _Bundle:
    """The resources of one patient's Bundle, each with a deterministic id."""

    def __init__(self, run: str, subject: dict, as_of: str):
        self.run, self.subject, self.as_of = run, subject, as_of
        self.entries: list[dict] = []

    def add(self, resource: dict, *key: str) -> dict:
        kind = resource.pop("resourceType")
        resource = {"resourceType": kind, "id": _id(self.run, kind, *key), **resource}
        self.entries.append({"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource})
        return {"reference": f"urn:uuid:{resource['id']}"}


def request_for(rec: dict, subject: dict, as_of: str) -> dict | None:
    """The request resource (no id) of a recommendation made, or None (a diagnosis to record maps to none);
    ``subject`` a Reference to the patient (:func:`subject_of`)."""
    kind = rec["intervention"]["kind"]
    against = rec.get("direction") == "against"
    common = {"status": "draft", "intent": "proposal", "subject": subject,
              "instantiatesCanonical": [rec["iri"]], **({"doNotPerform": True} if against else {})}
    reasons = _reasons(rec)
    label = rec["intervention"]["label"]
    if kind == "medication":
        codes = [{"system": c["system"], "code": c["code"]} for c in rec["intervention"]["codes"]
                 if c["status"] in VERIFIED]
        resource = {"resourceType": "MedicationRequest", **common,
                    "medicationCodeableConcept": {**({"coding": codes} if codes else {}), "text": label},
                    "authoredOn": as_of}
        if reasons:
            resource["reasonReference"] = reasons
        if not against:
            dose = rec.get("dose")
            dosage: dict = {"text": " ".join(p.rstrip(".") + "." for p in [
                *([f"{dose['value']} {dose['unit']}" + (f" {rec['frequency']}" if rec.get("frequency") else "")]
                  if dose else []), *rec["administration"]]) or rec["intervention"]["label"]}
            if rec.get("route"):
                dosage["route"] = {"text": rec["route"]}
            if rec.get("frequency"):
                dosage["timing"] = {"code": {"text": rec["frequency"]}}
            if dose:
                dosage["doseAndRate"] = [{"doseQuantity": {"value": dose["value"], "unit": dose["unit"],
                                                           "system": UCUM, "code": dose["unit"]}}]
            resource["dosageInstruction"] = [dosage]
    elif kind in ("test", "referral", "procedure"):
        codes = [{"system": c["system"], "code": c["code"]} for c in rec["intervention"]["codes"]
                 if c["status"] in VERIFIED]
        resource = {"resourceType": "ServiceRequest", **common,
                    "code": {**({"coding": codes} if codes else {}), "text": label}, "authoredOn": as_of}
        if kind == "referral":
            resource["category"] = [{"text": "referral"}]
        if reasons:
            resource["reasonReference"] = reasons
    elif kind == "advice":
        resource = {"resourceType": "CommunicationRequest", "status": "draft", "subject": subject,
                    "payload": [{"contentString": rec["statement"]}], "authoredOn": as_of,
                    **({"doNotPerform": True} if against else {})}
        if reasons:
            resource["reasonReference"] = reasons
    else:
        return None
    resource["note"] = _note(rec)
    if not resource["note"]:
        del resource["note"]
    return resource


def order_request(order: dict, subject: dict, as_of: str) -> dict:
    """The ServiceRequest (no id) of a test to order: LOINC, the pre-test instructions for the patient."""
    resource = {"resourceType": "ServiceRequest", "status": "draft", "intent": "proposal",
                "code": {"coding": [{"system": LOINC, "code": order["loinc"]}], "text": order["label"]},
                "subject": subject, "authoredOn": as_of,
                "reasonCode": [{"text": "needed to decide: " + ", ".join(order["needed_for"])}]}
    if order["instructions"]:
        resource["patientInstruction"] = " ".join(order["instructions"])
    return resource


def _monitoring(item: dict, bundle: _Bundle) -> dict:
    resource = {"resourceType": "ServiceRequest", "status": "draft", "intent": "proposal",
                "instantiatesCanonical": [item["iri"]],
                "code": {"coding": [{"system": LOINC, "code": c} for c in item["loinc"]], "text": item["action"]},
                "subject": bundle.subject, "authoredOn": bundle.as_of}
    interval = item.get("interval")
    if interval and interval["unit"] in UNITS and (interval["min"] or interval["max"]):
        repeat = {"frequency": 1, "period": interval["min"] or interval["max"], "periodUnit": UNITS[interval["unit"]]}
        if interval["min"] and interval["max"]:
            repeat["periodMax"] = interval["max"]
        resource["occurrenceTiming"] = {"repeat": repeat}
    if item.get("trigger"):
        resource["note"] = [{"text": item["trigger"]}]
    return bundle.add(resource, "monitoring", item["iri"])


def _action(title: str, description: str, citations: list[dict], resource: dict | None = None,
            extensions: list[dict] | None = None) -> dict:
    action: dict = {"title": title, "description": description}
    if extensions:
        action["extension"] = extensions
    if citations:
        action["documentation"] = artifacts(citations)
    if resource:
        action["resource"] = resource
    return action


def report_resources(report: dict, bundle: _Bundle) -> None:
    """Add one report's resources (one guideline version) to the patient's Bundle."""
    version = report["guideline"]["version_iri"]
    actions = []
    for rec in report["recommendations"]:
        prefix = "Recommended against: " if rec.get("direction") == "against" else ""
        request = request_for(rec, bundle.subject, bundle.as_of)
        actions.append(_action(prefix + rec["label"], rec["statement"], rec["citations"],
                               bundle.add(request, rec["iri"]) if request else None, grading(rec)))
    for ni in report["not_indicated"]:
        actions.append(_action("Not indicated: " + ni["label"], ni["statement"], ni["citations"]))
    for order in report["orders"]:
        actions.append(_action("Order: " + order["label"], "Needed before a decision can be made.", [],
                               bundle.add(order_request(order, bundle.subject, bundle.as_of), "order", order["loinc"])))
    for item in report["monitoring"]:
        actions.append(_action("Monitoring: " + item["action"], item["action"], [], _monitoring(item, bundle)))
    for w in report["warnings"]:
        bundle.add({"resourceType": "DetectedIssue", "status": "preliminary",
                    "code": {"coding": [{"system": WARNING_SYSTEM, "code": w["code"]}], "text": w["code"]},
                    "patient": bundle.subject, "identifiedDateTime": bundle.as_of, "detail": w["message"]},
                   version, "warning", w["code"], w["message"])
    group = {"resourceType": "RequestGroup", "status": "draft", "intent": "proposal", "subject": bundle.subject,
             "authoredOn": bundle.as_of, "instantiatesUri": [version],
             "identifier": [{"system": IRI_SYSTEM, "value": report["provenance"]["run"]}]}
    if actions:
        group["action"] = actions
    result = bundle.add(group, version, "RequestGroup")
    guidance = {"resourceType": "GuidanceResponse",
                "requestIdentifier": {"system": IRI_SYSTEM, "value": report["provenance"]["run"]},
                "moduleUri": version, "status": "data-required" if report["undetermined"] else "success",
                "subject": bundle.subject, "occurrenceDateTime": bundle.as_of, "result": result}
    waiting = {u["iri"] for u in report["undetermined"]}
    needed = [o for o in report["orders"] if waiting & set(o["needed_for"])]
    if needed:
        guidance["dataRequirement"] = [{"type": "Observation", "codeFilter": [
            {"path": "code", "code": [{"system": LOINC, "code": o["loinc"], "display": o["label"]}]}]} for o in needed]
    reasons = [f"undecided: {u['statement']}" for u in report["undetermined"]]
    reasons += [f"not made (its criteria are not met in this population): {n['label']}" for n in report["population_not_met"]]
    if not report["applicable"]:
        reasons.insert(0, "the guideline does not apply to this patient, or whether it does is unknown")
    if reasons:
        guidance["reasonCode"] = [{"text": r} for r in reasons]
    bundle.add(guidance, version, "GuidanceResponse")


def fhir_bundle(reports: list[dict]) -> dict:
    """One patient's reports (one per guideline version) as a FHIR R4 collection Bundle."""
    first = reports[0]
    # a cohort's run holds many patients: ids derive from the runs and the patient
    runs = " ".join([*sorted(r["provenance"]["run"] for r in reports), first["patient"]])
    bundle = _Bundle(runs, subject_of(first["patient"]), first["as_of"])
    for report in reports:
        report_resources(report, bundle)
    targets = [{"reference": e["fullUrl"]} for e in bundle.entries]
    entities = [{"role": "source", "what": {"identifier": {"system": IRI_SYSTEM, "value": r["provenance"]["run"]},
                                            "display": "the run's PROV-O record (recommend --provenance)"}}
                for r in reports]
    entities += [{"role": "quotation", "what": {"identifier": {"system": IRI_SYSTEM,
                                                                "value": r["guideline"]["version_iri"]},
                                                 "display": f"{r['guideline']['label']}, review status "
                                                            f"{r['guideline']['status']}"}} for r in reports]
    bundle.add({"resourceType": "Provenance", "target": targets, "recorded": f"{first['as_of']}T00:00:00Z",
                "agent": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                                "code": "assembler"}]},
                           "who": {"display": f"guidelinekg {__version__}"}}],
                "entity": entities}, "Provenance")
    return {"resourceType": "Bundle", "id": _id(runs, "Bundle"), "type": "collection", "entry": bundle.entries}
