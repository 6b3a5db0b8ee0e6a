"""Evaluating one chunk of a cohort: the same loader, rules and report code as ``recommend``.

A chunk's patients are evaluated together in one store (one rule run), then one set of report queries
yields every patient's JSON object and the chunk's provenance
(gzip-compressed TriG). Functions here are pure (inputs in,
texts out) so local processes and Dask workers run them alike; the caller writes the files.

Each patient must get the report ``recommend`` gives for that patient alone, so:

* NDJSON lines are mapped one patient at a time (a Bundle of that patient's resources), so notes about
  records that belong to no patient (an ignored resource type, a skipped status) stay with their patient;
* patients whose data share a node (bundles from different sources reusing ``Observation/obs-1``)
  are never put in one store: the chunk is split into groups without shared nodes, one rule run each;
* before the rules, each group's patient data are checked with the compiled patient shapes
  (:mod:`guidelinekg.engine.shapes_sparql`); every violation becomes a ``patient-data-invalid`` warning of the
  patient whose data hold the focus node, so it reaches the report, the provenance and ``summary.csv``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from guidelinekg.errors import GuidelineKGError
from guidelinekg.engine.knowledge import KnowledgeBase, from_payload
from guidelinekg.engine.patientcheck import _nodes, validate_patients
from guidelinekg.patients.model import PatientData
from guidelinekg.content.rdffiles import write_gzip
from guidelinekg.engine.shapes_sparql import CompiledShapes, load_patient_shapes

_KB_CACHE: dict[str, KnowledgeBase] = {}
_SHAPES_CACHE: dict[str, CompiledShapes] = {}
GKG = "https://w3id.org/guidelinekg/ontology#"


@dataclass
class ChunkResult:
    """One chunk's output: reports (JSON Lines), provenance (gzip TriG) and its summary counts."""

    name: str
    jsonl: str
    trig_gz: bytes
    patients: int
    bad_records: list[dict] = field(default_factory=list)
    counts: list[tuple[str, str, int]] = field(default_factory=list)


def summary_counts(reports: list[dict]) -> list[tuple[str, str, int]]:
    """How many patients got each recommendation, not-recommended or undetermined statement, order,
    warning code and "guideline not applicable" (rows of ``summary.csv``), sorted."""
    counts: Counter = Counter()
    for report in reports:
        for key in ("recommendations", "not_recommended", "undetermined"):
            kind = "recommendation" if key == "recommendations" else key
            counts.update((kind, r["iri"]) for r in report[key])
        counts.update(("order", o["loinc"]) for o in report["orders"])
        counts.update(("warning", code) for code in {w["code"] for w in report["warnings"]})
        if not report["applicable"]:
            counts[("not_applicable", "guideline")] += 1
    return [(kind, item, n) for (kind, item), n in sorted(counts.items())]


def knowledge_for(payload: dict | KnowledgeBase) -> KnowledgeBase:
    """The knowledge base for a payload, built once per worker process."""
    if isinstance(payload, KnowledgeBase):
        return payload
    key = payload["key"]
    if key not in _KB_CACHE:
        _KB_CACHE[key] = from_payload(payload)
    return _KB_CACHE[key]


def shapes_for(payload: dict | KnowledgeBase) -> CompiledShapes:
    """The compiled patient shapes shipped in the payload (or the shipped ``shapes/patient.ttl``)."""
    shapes = payload.get("patient_shapes") if isinstance(payload, dict) else None
    if isinstance(shapes, CompiledShapes):
        return shapes
    if "shipped" not in _SHAPES_CACHE:
        _SHAPES_CACHE["shipped"] = load_patient_shapes()
    return _SHAPES_CACHE["shipped"]


def _decimal_json(line: str):
    return json.loads(line, parse_float=Decimal, parse_int=Decimal)


def _ndjson_patients(text: str, kb: KnowledgeBase, name: str, bad: list[dict]) -> list[PatientData]:
    """One Bundle per patient from the chunk's lines (all of them routed to a known patient)."""
    from guidelinekg.cohort.partition import _patient_ref
    from guidelinekg.patients.fhir import patients_from_json
    from guidelinekg.patients.units import normalise

    by_patient: dict[str, list[dict]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        resource = _decimal_json(line)
        is_patient = resource.get("resourceType") == "Patient"
        ref = f"Patient/{resource['id']}" if is_patient else _patient_ref(resource)
        by_patient.setdefault(str(ref), []).append(resource)
    patients = []
    for ref, resources in by_patient.items():
        entries = [{"resource": r} for r in resources]
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
        try:
            found = patients_from_json(bundle, source=f"{name} ({ref})", matcher=kb.matcher)
        except GuidelineKGError as exc:
            bad.append({"file": name, "line": None, "reason": f"{ref}: {exc}"})
            continue
        patients += [normalise(p, kb.measures) for p in found]
    return patients


def load_chunk(kind: str, text: str, kb: KnowledgeBase, name: str) -> tuple[list[PatientData], list[dict]]:
    """Patients of one chunk, normalised; bad bundles become bad records."""
    from guidelinekg.patients.loader import load_patient_input
    from guidelinekg.patients.units import normalise

    bad: list[dict] = []
    patients: list[PatientData] = []
    if kind == "ndjson":
        patients = _ndjson_patients(text, kb, name, bad)
    elif kind == "bundles":
        for path in json.loads(text):
            try:
                patients.append(load_patient_input(Path(path), matcher=kb.matcher, measures=kb.measures))
            except GuidelineKGError as exc:
                bad.append({"file": path, "line": None, "reason": str(exc)})
    else:
        from guidelinekg.patients.model import RDF_TYPE

        by_patient: dict[str, list[str]] = {}
        subjects: dict[str, set[str]] = {}  # a fact with two subjects (invalid) belongs to both patients
        lines = [line for line in text.splitlines() if line.strip()]
        for line in lines:
            s, p, o = line.split(" ", 2)
            if p == f"<{RDF_TYPE}>" and o.startswith(f"<{GKG}Patient>"):
                by_patient.setdefault(s, [])
            if p == f"<{GKG}subject>":
                subjects.setdefault(s, set()).add(o.rsplit(" .", 1)[0].strip())
        for line in lines:
            s = line.split(" ", 1)[0]
            for owner in {s} if s in by_patient else subjects.get(s, set()):
                if owner in by_patient:
                    by_patient[owner].append(line)
        patients = [normalise(kb.matcher.match_product_texts(PatientData.build(p.strip("<>"), ls)), kb.measures)
                    for p, ls in sorted(by_patient.items())]
    return patients, bad


def disjoint_groups(patients: list[PatientData]) -> list[list[PatientData]]:
    """Split patients into groups in which no two share a subject node (first fit, order kept).

    >>> a = PatientData.build("urn:a", ["<urn:a> <urn:p> <urn:x> .", "<urn:o> <urn:s> <urn:a> ."])
    >>> b = PatientData.build("urn:b", ["<urn:b> <urn:p> <urn:x> .", "<urn:o> <urn:s> <urn:b> ."])
    >>> c = PatientData.build("urn:c", ["<urn:c> <urn:p> <urn:x> ."])
    >>> [[p.patient_iri for p in g] for g in disjoint_groups([a, b, c])]
    [['urn:a', 'urn:c'], ['urn:b']]
    """
    groups: list[tuple[list[PatientData], set[str]]] = []
    for patient in patients:
        nodes = _nodes(patient)
        for members, used in groups:
            if used.isdisjoint(nodes):
                members.append(patient)
                used |= nodes
                break
        else:
            groups.append(([patient], nodes))
    return [members for members, _ in groups]


def evaluate_chunk(name: str, kind: str, text: str, as_of: date, payload, version_selector: str | None) -> ChunkResult:
    """Evaluate one chunk; return its JSON Lines (one report per patient) and its provenance (N-Quads)."""
    from guidelinekg.provenance.record import provenance_trig
    from guidelinekg.engine.reasoning import evaluate
    from guidelinekg.report.patient import build_reports

    kb = knowledge_for(payload)
    shapes = shapes_for(payload)
    version = kb.version(version_selector)
    patients, bad = load_chunk(kind, text, kb, name)
    lines: list[tuple[str, str]] = []
    trig: list[bytes] = []
    all_reports: list[dict] = []
    for group in disjoint_groups(patients):
        evaluation = evaluate(kb, validate_patients(group, kb, shapes), as_of=as_of)
        reports = build_reports(evaluation, version)
        lines += [(p, json.dumps(reports[p], ensure_ascii=False, sort_keys=True) + "\n") for p in reports]
        all_reports += reports.values()
        trig.append(provenance_trig(evaluation))
    jsonl = "".join(line for _, line in sorted(lines))
    return ChunkResult(name, jsonl, write_gzip(b"".join(trig)), len(patients), bad, summary_counts(all_reports))
