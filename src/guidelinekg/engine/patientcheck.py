"""Checking patient data against the patient shapes before the rules, on the fast store.

The shapes in ``shapes/patient.ttl`` are compiled to SPARQL (:mod:`guidelinekg.engine.shapes_sparql`) and run on
a store holding the knowledge and the patients; every violation becomes a ``patient-data-invalid`` note of
the patient whose data hold the focus node, so it reaches the report, the provenance and cohort summaries.
``recommend`` and ``cohort`` both call :func:`validate_patients`, so they report the same.
"""

from __future__ import annotations

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.patients.model import GKG, IngestNote, PatientData
from guidelinekg.engine.shapes_sparql import CompiledShapes, Violation

INVALID = "patient-data-invalid"


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


