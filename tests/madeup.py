"""Running FHIR documents against a made-up guideline (tests/fixtures/madeup/*.ttl) in one evaluation, as the
table-driven tests of single constructs do (patient attributes, procedures, one-sample criteria)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import Evaluation, evaluate
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.patients.model import PatientData
from guidelinekg.report.patient import build_reports


@dataclass
class Run:
    reports: dict[str, dict]  # by the patient IRI's last segment (the FHIR Patient id)
    evaluation: Evaluation
    patients: dict[str, PatientData]


def run_documents(fixture: Path, docs: dict[str, dict], folder: Path, as_of: date, engine: str = "oxigraph") -> Run:
    """Write each FHIR document (by name) to ``folder``, load and evaluate them all in one run."""
    kb = KnowledgeBase.load([fixture])
    patients = []
    for name, doc in docs.items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        patients.append(load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads))
    evaluation = evaluate(kb, patients, as_of=as_of, engine=engine)
    built = build_reports(evaluation, kb.version(), [p.patient_iri for p in patients])
    return Run({iri.rsplit("/", 1)[1]: report for iri, report in built.items()}, evaluation,
               {p.patient_iri.rsplit("/", 1)[1]: p for p in patients})


TRUTHS = """PREFIX gkg: <https://w3id.org/guidelinekg/ontology#>
SELECT ?p ?c ?t WHERE { ?o a gkg:CriterionOutcome ; gkg:forPatient ?p ; gkg:criterion ?c ;
                           gkg:truth ?tv . ?tv <http://www.w3.org/2004/02/skos/core#notation> ?t }"""


def truths(evaluation: Evaluation) -> dict[tuple[str, str], str]:
    """Every criterion outcome of the run: (patient IRI, criterion IRI) -> "true", "false" or "unknown"."""
    return {(r["p"], r["c"]): r["t"] for r in evaluation.store.select_values(TRUTHS)}
