"""Evaluating one chunk of a cohort: the same loader, rules and report code as ``recommend``.

A chunk's patients are evaluated together in one store (one rule run), then one set of report queries
yields every patient's JSON object and the chunk's provenance. Functions here are pure (inputs in,
texts out) so local processes and Dask workers run them alike; the caller writes the files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from .errors import GuidelineKGError
from .knowledge import KnowledgeBase, from_payload
from .patientdata import PatientData

_KB_CACHE: dict[str, KnowledgeBase] = {}


@dataclass
class ChunkResult:
    name: str
    jsonl: str
    nquads: str
    patients: int
    bad_records: list[dict] = field(default_factory=list)


def knowledge_for(payload: dict | KnowledgeBase) -> KnowledgeBase:
    """The knowledge base for a payload, built once per worker process."""
    if isinstance(payload, KnowledgeBase):
        return payload
    key = payload["key"]
    if key not in _KB_CACHE:
        _KB_CACHE[key] = from_payload(payload)
    return _KB_CACHE[key]


def _decimal_json(line: str):
    return json.loads(line, parse_float=Decimal, parse_int=Decimal)


def load_chunk(kind: str, text: str, kb: KnowledgeBase, name: str) -> tuple[list[PatientData], list[dict]]:
    """Patients of one chunk, normalised; bad bundles become bad records."""
    from .fhir import patients_from_json
    from .patientdata import load_patient_input
    from .units import normalise

    bad: list[dict] = []
    patients: list[PatientData] = []
    if kind == "ndjson":
        resources = [_decimal_json(line) for line in text.splitlines() if line.strip()]
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
        patients = [normalise(p, kb.measures) for p in patients_from_json(bundle, source=name, matcher=kb.matcher)]
    elif kind == "bundles":
        for path in json.loads(text):
            try:
                patients.append(load_patient_input(Path(path), matcher=kb.matcher, measures=kb.measures))
            except GuidelineKGError as exc:
                bad.append({"file": path, "line": None, "reason": str(exc)})
    else:
        from .patientdata import RDF_TYPE, GKG

        by_patient: dict[str, list[str]] = {}
        subjects: dict[str, str] = {}
        lines = [line for line in text.splitlines() if line.strip()]
        for line in lines:
            s, p, o = line.split(" ", 2)
            if p == f"<{RDF_TYPE}>" and o.startswith(f"<{GKG}Patient>"):
                by_patient.setdefault(s, [])
            if p == f"<{GKG}subject>":
                subjects[s] = o.rsplit(" .", 1)[0].strip()
        for line in lines:
            s = line.split(" ", 1)[0]
            owner = s if s in by_patient else subjects.get(s)
            if owner in by_patient:
                by_patient[owner].append(line)
        patients = [normalise(kb.matcher.match_product_texts(PatientData.build(p.strip("<>"), ls)), kb.measures)
                    for p, ls in sorted(by_patient.items())]
    return patients, bad


def evaluate_chunk(name: str, kind: str, text: str, as_of: date, payload, version_selector: str | None) -> ChunkResult:
    """Evaluate one chunk; return its JSON Lines (one report per patient) and its provenance (N-Quads)."""
    from .provenance import provenance_lines
    from .reasoning import evaluate
    from .report import build_reports

    kb = knowledge_for(payload)
    version = kb.version(version_selector)
    patients, bad = load_chunk(kind, text, kb, name)
    if not patients:
        return ChunkResult(name, "", "", 0, bad)
    evaluation = evaluate(kb, patients, as_of=as_of)
    reports = build_reports(evaluation, version)
    jsonl = "".join(json.dumps(reports[p], ensure_ascii=False, sort_keys=True) + "\n" for p in sorted(reports))
    graph = f"<{evaluation.run_iri}>"
    nquads = "".join(line[:-3] + f" {graph} .\n" for line in provenance_lines(evaluation))
    return ChunkResult(name, jsonl, nquads, len(patients), bad)
