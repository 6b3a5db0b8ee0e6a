"""A guideline version as FHIR R4 PlanDefinitions (``guidelinekg render --format fhir``).

One PlanDefinition (type ``eca-rule``) per recommendation, not-indicated statement and monitoring action, in a collection
Bundle: its ``url`` is the statement's IRI (what ``recommend --format fhir`` requests instantiate), its
version, status (review status ``approved`` is ``active``, a retired or superseded one ``retired``, any other
``draft``), date and publisher are the version's, its ``description`` the source's wording. Its one action
carries the intervention, the applicability in plain terms (a ``condition`` of kind ``applicability``
whose expression is the criterion as text, language ``text/plain``: no computable expression is claimed),
the guideline's scope (what it covers) as a second applicability condition, GRADE's strength and certainty
(``cqf-strengthOfRecommendation``, ``cqf-qualityOfEvidence``; a guideline's own grades as text in
``textEquivalent``), and the citations (``documentation``; ``relatedArtifact`` on the PlanDefinition too).
Ids are the statement's last IRI segment with a digest of the IRI: stable whatever else is loaded.

What does not map: the criteria as computable logic (they are SPARQL over the guideline's graph, not CQL or
FHIRPath), doses and administration (an ActivityDefinition would hold them), precedences between
statements (a special population's statement and what it prevails over are separate PlanDefinitions),
discrepancies with primary texts, verification statuses, evidence statements other than as citations, and
insufficient-evidence statements (an I statement recommends no action, which a PlanDefinition cannot say).
"""

from __future__ import annotations

import hashlib
import re
import uuid

from guidelinekg.render.text import criterion_text, order_criteria
from guidelinekg.render.view import GraphView

GKG = "https://w3id.org/guidelinekg/ontology#"
EXT = "http://hl7.org/fhir/StructureDefinition/"
STRENGTH = {GKG + "Strong": "strong", GKG + "Conditional": "weak"}
QUALITY = {GKG + "HighCertainty": "high", GKG + "ModerateCertainty": "moderate", GKG + "LowCertainty": "low",
           GKG + "VeryLowCertainty": "very-low"}
STATUS = {GKG + "Approved": "active", GKG + "Retired": "retired", GKG + "Superseded": "retired"}
KINDS = {GKG + "Recommendation": "recommendation", GKG + "NotIndicatedStatement": "not indicated",
         GKG + "MonitoringAction": "monitoring"}


def _fhir_id(iri: str) -> str:
    """A FHIR id ([A-Za-z0-9-.]{1,64}) from the IRI's last segment and a digest of the whole IRI: the same
    whatever else is loaded, different for different IRIs."""
    base = re.sub(r"[^A-Za-z0-9.-]+", "-", re.split(r"[/#]", iri.rstrip("/#"))[-1]).strip("-.")[:52] or "statement"
    return f"{base}-{hashlib.sha1(iri.encode('utf-8')).hexdigest()[:8]}"


def _name(fhir_id: str) -> str:
    """A computable name ([A-Z][A-Za-z0-9_]*) from the id."""
    name = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", fhir_id) if part)
    return name if name[:1].isalpha() else "S" + name


def _works(view: GraphView, statement: str) -> list[dict]:
    """The statement's citations as RelatedArtifacts: each work cited or checked against (title, year,
    DOI or PubMed link), each source marker by its number and whether it resolves."""
    record = view.record("render-statements", "statement", statement)
    works = view.table("render-works", "work")
    references = view.table("render-references", "reference")
    out: list[dict] = []

    def work(iri: str, label: str | None = None) -> dict:
        w = works.get(iri)
        title = (w.one("title") if w else None) or view.name(iri)
        year = w.one("year") if w else None
        item = {"type": "citation", "citation": title + (f" ({year})" if year else "")}
        doi, pmid = (w.one("doi"), w.one("pmid")) if w else (None, None)
        if doi:
            item["url"] = "https://doi.org/" + doi
        elif pmid:
            item["url"] = f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/"
        if label:
            item["label"] = label
        return item

    for iri in sorted(record.all("citation")):
        out.append(work(iri))
    for iri in sorted(record.all("verifiedAgainst")):
        out.append(work(iri, "checked against"))
    for ref in sorted(record.all("reference")):
        r = references.get(ref)
        number = (r.one("number") if r else None) or view.name(ref)
        target = r.one("resolvesTo") if r else None
        out.append(work(target, f"source reference {number}") if target else
                   {"type": "citation", "label": f"source reference {number}",
                    "citation": f"reference {number} of the source (unresolved)"})
    unique: list[dict] = []
    for item in out:
        if item not in unique:
            unique.append(item)
    return unique


def _grading(view: GraphView, data) -> tuple[list[dict], list[str]]:
    """GRADE's strength and certainty as the cqf extensions (one each); the guideline's own grades as text
    (their axis is the guideline's; cqf-qualityOfEvidence and -strengthOfRecommendation take one each)."""
    out = []
    if data.one("strength") in STRENGTH:
        out.append({"url": EXT + "cqf-strengthOfRecommendation", "valueCodeableConcept": {"coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/recommendation-strength",
             "code": STRENGTH[data.one("strength")]}], "text": view.name(data.one("strength"))}})
    if data.one("certainty") in QUALITY:
        out.append({"url": EXT + "cqf-qualityOfEvidence", "valueCodeableConcept": {"coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/evidence-quality",
             "code": QUALITY[data.one("certainty")]}], "text": view.name(data.one("certainty"))}})
    return out, [view.name(g) for g in view.order_nodes(data.all("grade"))]


def plan_definitions(view: GraphView, versions: list[str]) -> dict:
    """The recommendations, not-indicated statements and monitoring actions of ``versions`` as a Bundle of
    PlanDefinitions."""
    entries = []
    for version in versions:
        vrec = view.record("render-versions", "version", version)
        common = {"version": vrec.one("versionLabel") or version,
                  "status": STATUS.get(vrec.one("reviewStatus") or "", "draft")}
        if vrec.one("versionDate"):
            common["date"] = vrec.one("versionDate")
        if vrec.all("issuer"):
            common["publisher"] = "; ".join(view.name(i) for i in view.order_nodes(vrec.all("issuer")))
        scope = " OR ".join(criterion_text(view, c) for c in order_criteria(view, vrec.all("covers")))
        for statement, record in sorted(view.table("render-statements", "statement").items()):
            kinds = [KINDS[k] for k in record.all("kind") if k in KINDS]
            if version not in record.all("version") or not kinds or statement.startswith("_:"):
                continue
            data = view.record("render-statement-data", "statement", statement)
            text = " ".join(record.all("sourceText")) or view.name(statement)
            prefix = ("Not indicated: " if kinds[0] == "not indicated" else "Monitoring: " if kinds[0] == "monitoring"
                      else "Against: " if (data.one("direction") or "").endswith("#Against") else "")
            subjects = [view.name(i) for i in view.order_nodes(data.all("intervention") + data.all("notIndicated"))]
            extensions, grades = _grading(view, data)
            action: dict = {"title": prefix + ("; ".join(subjects) or view.name(statement)), "description": text,
                            "textEquivalent": text + (f" (grade: {'; '.join(grades)})" if grades else "")}
            if extensions:
                action["extension"] = extensions
            conditions = [criterion_text(view, c) for c in order_criteria(view, data.all("applicability"))]
            if conditions:  # the statement's own criteria, and the guideline's scope (what it covers)
                action["condition"] = [{"kind": "applicability", "expression": {
                    "description": "applies when (the guideline's criteria, as text)", "language": "text/plain",
                    "expression": " AND ".join(conditions)}}]
                action["condition"] += [{"kind": "applicability", "expression": {
                    "description": "the guideline covers (its scope)", "language": "text/plain",
                    "expression": scope}}] if scope else []
            citations = _works(view, statement)
            if citations:
                action["documentation"] = citations
            fhir_id = _fhir_id(statement)
            resource = {"resourceType": "PlanDefinition", "id": fhir_id, "url": statement, "name": _name(fhir_id),
                        "title": view.name(statement), "type": {"coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/plan-definition-type",
                             "code": "eca-rule"}]}, **common, "description": text}
            if citations:
                resource["relatedArtifact"] = citations
            resource["action"] = [action]
            entries.append({"fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, statement)}", "resource": resource})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}
