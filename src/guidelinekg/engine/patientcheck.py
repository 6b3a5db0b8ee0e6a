"""Checking patient data against the patient shapes before the rules, on the fast store.

The shapes in ``shapes/patient.ttl`` are compiled to SPARQL (:mod:`guidelinekg.engine.shapes_sparql`) and run on
a store holding the knowledge and the patients; every violation becomes a ``patient-data-invalid`` note of
the patient whose data hold the focus node, so it reaches the report, the provenance and cohort summaries.
``recommend`` and ``cohort`` both call :func:`validate_patients`, so they report the same.

Before the shapes, :func:`without_derived` takes out of patient data what only the engine may state: a
predicate or class the rules derive (``gkg:holds`` a criterion, a ``gkg:LatestResult``), a time index or
evaluation context term the engine computes, a gkg: class that is no patient fact, and any statement about
a node of the guideline graph (``ex:crit-a gkg:thresholdValue 1000``, about one of its criteria): patient
RDF could otherwise decide a criterion with no result behind it. What is taken out is said in a
``patient-data-invalid`` note.
"""

from __future__ import annotations

from dataclasses import replace

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.ruleterms import RDF_TYPE, derived_terms_of
from guidelinekg.engine.timeline import INDEX_PREDICATES
from guidelinekg.patients.model import GKG, INVALID, IngestNote, PatientData
from guidelinekg.engine.shapes_sparql import CompiledShapes, Violation

# what patient data may be typed as (gkg: classes); the engine's own: never
FACT_CLASSES = frozenset(GKG + c for c in ("Patient", "PatientFact", "Observation", "Condition",
                                          "MedicationExposure", "ProcedureRecord", "AllergyRecord",
                                          "SpecimenCondition"))
ENGINE_PREDICATES = INDEX_PREDICATES | {GKG + p for p in ("asOfDate", "asOfEndHours", "asOfDay")}


def without_derived(patients: list[PatientData], kb: KnowledgeBase) -> list[PatientData]:
    """The patients without the lines only the engine may state (module notes), each patient with a note
    saying how many lines were taken out and the first of them."""
    predicates, classes = derived_terms_of(kb.rules)
    refused_predicates = {f"<{p}>" for p in predicates | ENGINE_PREDICATES}
    type_term = f"<{RDF_TYPE}>"
    knowledge = kb.subjects
    out = []
    for patient in patients:
        kept, dropped = [], []
        for line in patient.ntriples:
            s, p, o = line.split(" ", 2)
            o = o[:-2]
            refused = (p in refused_predicates or s in knowledge or (
                p == type_term and o.startswith(f"<{GKG}") and o[1:-1] not in FACT_CLASSES))
            (dropped if refused else kept).append(line)
        if not dropped:
            out.append(patient)
            continue
        note = IngestNote(INVALID, f"{len(dropped)} statement(s) of the patient data state what only the engine "
                          f"derives or what the guideline says (first: {dropped[0][:200]}): not used; patient "
                          "data give facts (results, conditions, exposures), never outcomes, rule results or "
                          "guideline content", patient.patient_iri)
        out.append(replace(patient, ntriples=kept, notes=[*patient.notes, note]))
    return out


def _nodes(patient: PatientData) -> set[str]:
    """The subjects of a patient's triples (N-Triples terms)."""
    return {line.split(" ", 1)[0] for line in patient.ntriples}


def _note(violation: Violation) -> IngestNote:
    focus = violation.focus.strip("<>")
    path = "gkg:" + violation.path[len(GKG):] if violation.path.startswith(GKG) else f"<{violation.path}>"
    value = f", value {violation.value}" if violation.value is not None else ""
    return IngestNote(INVALID, f"{violation.message} (focus {focus}, path {path}{value})", focus)


def validate_patients(
    patients: list[PatientData], kb: KnowledgeBase, shapes: CompiledShapes
) -> list[PatientData]:
    """The patients with a ``patient-data-invalid`` note for every shape violation in their data.

    The data are checked together with the knowledge (its class hierarchy is what ``sh:targetClass`` and
    ``sh:class`` follow). A violation belongs to each patient whose triples describe its focus node; blank
    nodes are relabelled by the store, so patients with blank-node subjects are checked one by one.
    """
    patients = without_derived(patients, kb)
    if not shapes.queries:
        return patients
    blank = {id(p) for p in patients if any(n.startswith("_:") for n in _nodes(p))}
    batches = [[p] for p in patients if id(p) in blank] + [[p for p in patients if id(p) not in blank]]
    notes: dict[int, list[IngestNote]] = {}
    for batch in batches:
        if not batch:
            continue
        store = kb.new_store()
        store.load_ntriples("".join(p.text() for p in batch))
        violations = shapes.validate(store)
        if not violations:
            continue
        owners: dict[str, list[int]] = {}
        for p in batch:
            for node in _nodes(p):
                owners.setdefault(node, []).append(id(p))
        for v in violations:
            for owner in (owners.get(v.focus) or ([id(batch[0])] if len(batch) == 1 else [])):
                notes.setdefault(owner, []).append(_note(v))
    return [p.extended([], notes[id(p)]) if id(p) in notes else p for p in patients]


