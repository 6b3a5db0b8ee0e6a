"""FHIR R4 renderings of patient reports: what ``recommend --format fhir`` prints, as CPG-on-FHIR's
``PlanDefinition/$apply`` returns it.

One collection Bundle per patient holds, for each guideline evaluated:

- a **RequestGroup** (status ``draft``, intent ``proposal``, ``groupIdentifier`` the run) whose actions are
  groups (``logical-group``, selection ``any``: the content does not say how many to choose): the
  recommendations made (each with its line of therapy as ``prefix``, its grading in ``textEquivalent``, its
  citations as ``documentation`` with DOI or PubMed links), the not-indicated statements that apply, the
  tests to order and the monitoring plan; every leaf action points at its request;
- the requests (:mod:`guidelinekg.report.fhirrequests`): MedicationRequest, ServiceRequest,
  CommunicationRequest or, for a diagnosis to record, a Task; ``doNotPerform`` for a recommendation against
  and for what a not-indicated statement says not to do; each ``instantiatesCanonical`` its statement (its
  PlanDefinition, :mod:`guidelinekg.render.plandefinition`; a test to order, the statements that need it; a
  CommunicationRequest by the R4 workflow extension of that name), cites the Observations that made its criterion
  true as ``reasonReference``, and carries the explanation, the statement's cautions, its verification status
  and the doubts recorded about it (gkg:Discrepancy, :mod:`guidelinekg.report.doubts`) as ``note``;
- a **DetectedIssue** per warning the rules derived, implicating the request of each statement it is about
  (``gkg:orderedFor``; a MedicationRequest lists it in ``detectedIssue``); what the loader noticed in the
  input (an ignored resource, an unmapped code) is an **OperationOutcome** the GuidanceResponse names as
  ``evaluationMessage``;
- a **GuidanceResponse**: ``data-required`` with a ``dataRequirement`` per thing a decision waits on (a test
  to order, a birth date, a diagnosis, what an unknown coverage of the guideline lacks, ...) whenever any
  does, else ``success``;
- a **Provenance** of all of them, naming the run (its PROV-O record is the ``--provenance`` output).

What does not map: a special population's statement not made and an insufficient-evidence statement that
applies (no recommendation for or against: never a request; both the GuidanceResponse's ``note``), where
several guidelines disagree (the text and JSON reports say it). Ids are UUIDs derived from the runs, the
patient and the item, so the same inputs give the same bytes; ``authoredOn`` and ``recorded`` are the as-of
date.
"""

from __future__ import annotations

import uuid

from guidelinekg import __version__
from guidelinekg.report.fhirrequests import (
    IRI_SYSTEM,
    monitoring_requests,
    not_indicated_request,
    order_request,
    request_for,
    shown_codings,
    subject_of,
)
from guidelinekg.report.explain import unread_note
from guidelinekg.report.insufficient import no_recommendation
from guidelinekg.report.views import NONE_APPLIES, grading_text, work_url

WARNING_SYSTEM = "https://w3id.org/guidelinekg/warning"  # the stable warning codes the README lists
MISSING = {"age": ("Patient", ["birthDate"]), "sex": ("Patient", ["gender"]), "diagnosis": ("Condition", []),
           "procedure": ("Procedure", []), "medication": ("MedicationStatement", []),
           "allergy": ("AllergyIntolerance", []), "other": ("Patient", [])}


def _id(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, " ".join(parts)))


def artifacts(citations: list[dict]) -> list[dict]:
    """Citations as RelatedArtifacts: a cited work with its DOI or PubMed link; an unresolved source marker
    as what it is."""
    out = []
    for c in citations:
        if c.get("title"):
            ids = "; ".join(f"{k.upper()} {c[k]}" for k in ("doi", "pmid") if c.get(k))
            item = {"type": "citation", "citation": c["title"] + (f" ({c['year']})" if c.get("year") else "")
                    + (f". {ids}" if ids else "")}
            if url := work_url(c):
                item["url"] = url
            if c["kind"] == "verified-against":  # how far: the statement's own status, never more
                item["label"] = f"checked against ({c.get('status') or 'verification status not recorded'})"
        else:
            item = {"type": "citation", "label": str(c.get("reference", "")),
                    "citation": f"reference {c.get('reference')} of the source ({c.get('resolution', 'unresolved')})"}
        if item not in out:
            out.append(item)
    return out


class _Bundle:
    """The resources of one patient's Bundle, each with a deterministic id."""

    def __init__(self, key: str, subject: dict, as_of: str):
        self.key, self.subject, self.as_of = key, subject, as_of
        self.entries: list[dict] = []
        self.requests: dict[str, dict] = {}  # the request of each statement, by its IRI (a warning implicates it)

    def add(self, resource: dict, *key: str, statement: str | None = None) -> dict:
        kind = resource.pop("resourceType")
        resource = {"resourceType": kind, "id": _id(self.key, kind, *key), **resource}
        self.entries.append({"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource})
        if statement is not None:
            self.requests[statement] = resource
        return {"reference": f"urn:uuid:{resource['id']}"}


def _leaf(title: str, resource: dict, *, description: str | None = None, citations=(), prefix=None,
          text=None) -> dict:
    action: dict = {"title": title}
    if prefix:
        action["prefix"] = prefix
    if description:
        action["description"] = description
    if text:
        action["textEquivalent"] = text
    if citations:
        action["documentation"] = artifacts(list(citations))
    action["resource"] = resource
    return action


def _group(title: str, actions: list[dict]) -> list[dict]:
    return [{"title": title, "groupingBehavior": "logical-group", "selectionBehavior": "any",
             "action": actions}] if actions else []


def _actions(report: dict, bundle: _Bundle, version: str) -> list[dict]:
    made, advised = [], []
    for rec in report["recommendations"]:
        against = rec.get("direction") == "against"
        title = rec["label"] if not against or rec["label"].lower().startswith("against") else "Against: " + rec["label"]
        leaf = _leaf(title, bundle.add(request_for(rec, bundle.subject, bundle.as_of), version, rec["iri"],
                                       statement=rec["iri"]),
                     description=rec["statement"], citations=rec["citations"], prefix=rec.get("line"),
                     text=f"{rec['statement']} ({grading_text(rec)})")
        (advised if against else made).append(leaf)
    not_indicated = [_leaf("Not indicated: " + ni["label"],
                           bundle.add(not_indicated_request(ni, bundle.subject, bundle.as_of), version, ni["iri"],
                                      statement=ni["iri"]),
                           description=ni["statement"], citations=ni["citations"]) for ni in report["not_indicated"]]
    orders = [_leaf("Order: " + o["label"], bundle.add(order_request(o, bundle.subject, bundle.as_of), version,
                                                       "order", o["loinc"]),
                    description="needed before a decision can be made") for o in report["orders"]]
    monitoring = [_leaf("Monitoring: " + (m.get("label") or m["action"]),  # the label: two may quote one sentence
                        bundle.add(r, version, "monitoring", m["iri"], str(i)), description=m["action"])
                  for m in report["monitoring"] for i, r in enumerate(monitoring_requests(m, bundle.subject, bundle.as_of))]
    return (_group("Recommended", made) + _group("Recommended against", advised)
            + _group("Not indicated", not_indicated) + _group("Tests to order", orders)
            + _group("Monitoring", monitoring))


def _issues(report: dict, bundle: _Bundle, version: str) -> list[dict]:
    """DetectedIssues for the rules' warnings; the loader's notes as one OperationOutcome (referenced)."""
    notes = []
    for i, w in enumerate(report["warnings"]):
        if w.get("source") == "input":
            notes.append({"severity": "information", "code": "informational", "details": {"coding": [
                {"system": WARNING_SYSTEM, "code": w["code"]}], "text": w["code"]}, "diagnostics": w["message"]})
            continue
        # the requests of the statements it is about (an allergy to a proposed drug): linked both ways, so a
        # system showing the MedicationRequest shows the issue (MedicationRequest.detectedIssue)
        requests = [bundle.requests[s] for s in w.get("about", []) if s in bundle.requests]
        issue = bundle.add({"resourceType": "DetectedIssue", "status": "preliminary",
                            "code": {"coding": [{"system": WARNING_SYSTEM, "code": w["code"]}], "text": w["code"]},
                            "patient": bundle.subject, "identifiedDateTime": bundle.as_of,
                            **({"implicated": [{"reference": f"urn:uuid:{r['id']}"} for r in requests]}
                               if requests else {}),
                            "detail": w["message"]},
                           version, "warning", str(i))
        for request in requests:
            if request["resourceType"] == "MedicationRequest":
                request.setdefault("detectedIssue", []).append(issue)
    if not notes:
        return []
    return [bundle.add({"resourceType": "OperationOutcome", "issue": notes}, version, "input-notes")]


def _test(codes: list[dict], label: str | None, kind: str = "Observation", named: bool = True) -> dict | None:
    """The dataRequirement of a test (or of a diagnosis, a procedure: ``kind``): its codes when they may be
    shown (:func:`shown_codings`: verified ones only), its name as the display whether or not (not ``named``:
    the codes of a class's substances, which the class's name does not name, go without); None when it has
    neither."""
    shown = [{**c, **({"display": label} if label and named else {})} for c in shown_codings(codes)]
    coding = shown or ([{"display": label}] if label else [])
    path = "medication" if kind.startswith("Medication") else "code"  # a medicine's is medication[x]
    return {"type": kind, "codeFilter": [{"path": path, "code": coding}]} if coding else None


def _requirements(report: dict) -> list[dict]:
    """What the decisions wait on: each test to order, then what an unknown coverage (the guideline version's
    criterion, ``applicability_missing``) and undecided statements lack besides (a birth date, a diagnosis,
    a test not ordered, ...): with a report built with ``facts=True``."""
    out = [t for o in report["orders"] if (t := _test(o.get("codes", []), o["label"]))]
    ordered = {o["measure"] for o in report["orders"]}
    lacking = report.get("applicability_missing", []) + [m for u in report["undetermined"] for m in u.get("missing", [])]
    for m in lacking:
        if m["kind"] == "measure":
            codes = m.get("codes", [])
            if m["measure"] in ordered or not codes:  # ordered already; a measure with no LOINC code
                continue
            item = _test(codes, min((c["label"] for c in codes if c.get("label")), default=None))
        else:
            kind, paths = MISSING[m["kind"]]
            # a diagnosis, procedure or medication exposure: named by its label, its verified codes as the codeFilter
            item = (m.get("label") or m.get("codes")) and _test(m.get("codes", []), m.get("label"), kind,
                                                                 named=m["kind"] not in ("medication", "allergy"))
            item = item or {"type": kind, **({"mustSupport": paths} if paths else {})}
        if item and item not in out:
            out.append(item)
    return out


def report_resources(report: dict, bundle: _Bundle) -> None:
    """Add one report's resources (one guideline version) to the patient's Bundle."""
    version = report["guideline"]["version_iri"]
    run = report["provenance"]["run"]
    group = {"resourceType": "RequestGroup", "groupIdentifier": {"system": IRI_SYSTEM, "value": run},
             "instantiatesUri": [version], "status": "draft", "intent": "proposal", "subject": bundle.subject,
             "authoredOn": bundle.as_of}
    actions = _actions(report, bundle, version)
    if actions:
        group["action"] = actions
    messages = _issues(report, bundle, version)
    result = bundle.add(group, version, "RequestGroup")
    requirements = _requirements(report)
    unclear = report.get("applicability") == "unknown"
    guidance = {"resourceType": "GuidanceResponse", "requestIdentifier": {"system": IRI_SYSTEM, "value": run},
                "moduleUri": version, "status": "data-required" if requirements or unclear else "success",
                "subject": bundle.subject, "occurrenceDateTime": bundle.as_of, "result": result}
    if messages:
        guidance["evaluationMessage"] = messages
    if requirements:
        guidance["dataRequirement"] = requirements
    notes = [f"undecided: {u.get('label') or u['statement']}" for u in report["undetermined"]]
    notes += [f"not made (its criteria are not met in this population): {n['label']}" for n in report["population_not_met"]]
    # no recommendation for or against (rule 73): a note, never a request
    notes += [no_recommendation(n, grading_text(n)) + f" The guideline: {n['statement']}"
              + "".join(f" Cites: {a['citation']}." for a in artifacts(n["citations"]))
              for n in report.get("insufficient_evidence", [])]
    if any(w["code"] == "patient-deceased" for w in report["warnings"]):  # not evaluated: never "does not apply"
        notes.insert(0, "the patient's record is marked deceased on or before the as-of date: the guideline is not "
                     "applied (warning patient-deceased)")
    elif not report["applicable"]:
        undecided = "; ".join(line.strip() for line in report.get("applicability_because", []) if ": unknown (" in line)
        notes.insert(0, "whether the guideline applies is unknown: the data it needs are missing or unconfirmed"
                     + (f"; undecided: {undecided}" if undecided else "") if unclear else "the guideline does not apply to this patient")
    elif report.get("no_statement_applies"):
        notes.insert(0, NONE_APPLIES + unread_note(report["warnings"]))  # conditions not read may change it
    if notes:
        guidance["note"] = [{"text": n} for n in notes]
    bundle.add(guidance, version, "GuidanceResponse")


def fhir_bundle(reports: list[dict]) -> dict:
    """One patient's reports (one per guideline version, built with ``facts=True``) as a FHIR R4
    collection Bundle."""
    first = reports[0]
    # a cohort's run holds many patients: ids derive from the runs and the patient
    key = " ".join([*sorted(r["provenance"]["run"] for r in reports), first["patient"]])
    bundle = _Bundle(key, subject_of(first["patient"]), first["as_of"])
    for report in reports:
        report_resources(report, bundle)
    targets = [{"reference": e["fullUrl"]} for e in bundle.entries]
    entities = [{"role": "source", "what": {"identifier": {"system": IRI_SYSTEM, "value": r["provenance"]["run"]},
                                            "display": "the run's PROV-O record (recommend --provenance)"}}
                for r in reports]
    entities += [{"role": "source", "what": {"identifier": {"system": IRI_SYSTEM, "value": r["guideline"]["version_iri"]},
                                             "display": f"{r['guideline']['label']}, review status "
                                                        f"{r['guideline']['status']}"}} for r in reports]
    bundle.add({"resourceType": "Provenance", "target": targets, "recorded": f"{first['as_of']}T00:00:00Z",
                "agent": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                                "code": "assembler"}]},
                           "who": {"display": f"guidelinekg {__version__}"}}],
                "entity": entities}, "Provenance")
    return {"resourceType": "Bundle", "id": _id(key, "Bundle"), "type": "collection", "entry": bundle.entries}
