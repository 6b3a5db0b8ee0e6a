"""The guidelines' disagreements for a patient, recomputed from the replayed runs they derive from.

``recommend`` with several guidelines records, beside one run per guideline, a graph of the places where
they disagree for the patient (:func:`guidelinekg.provenance.record.disagreement_lines`). For each such
graph, the runs it derives from (``prov:wasDerivedFrom``) are replayed, their reports rebuilt, and the
disagreements computed again exactly as ``recommend`` computes them (:mod:`guidelinekg.report.disagree`,
with each guideline's statements about actions, :func:`guidelinekg.checks.conflicts.stances_of`); the
graph must then be the one the recomputation writes, triple for triple (``disagreements-differ``, a
failure). A graph whose runs are not in the file, or cannot be replayed, is said so
(``disagreements-not-recomputed``, a failure: it cannot be trusted). A file of several runs for one patient
(``recommend`` with several guidelines) without such a graph is recomputed too: disagreements found there
mean the graph was removed (``disagreements-missing``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyoxigraph as ox

from guidelinekg.audit.reader import read_runs
from guidelinekg.audit.recorded import Finding
from guidelinekg.errors import InputError

GKG = "https://w3id.org/guidelinekg/ontology#"
PROV = "http://www.w3.org/ns/prov#"


def _knowledge_of(auditor, version: str):
    """The knowledge base the auditor loaded (and cached) that holds ``version``."""
    for key, value in auditor._cache.items():
        if isinstance(key, tuple) and key[0] == "kb":
            try:
                value.version(version)
            except InputError:
                continue
            return value
    return None


def _recompute(auditor, path: Path, runs: list[str], patient: str) -> tuple[set, str | None]:
    """The disagreements graph ``recommend`` writes for ``patient`` over ``runs``, from their replays (as
    triples), or why it cannot be recomputed."""
    from guidelinekg.checks.conflicts import stances_of
    from guidelinekg.content.loading import Content
    from guidelinekg.provenance.record import disagreement_lines
    from guidelinekg.report.disagree import patient_disagreements

    reports, stances = [], {}
    for record in [r for r in read_runs(path, fast=False) if r.run in runs]:
        audit, replayed, reason = auditor._audit(record, None)
        if replayed is None or audit.checks.get("replay") != "same" or patient not in replayed.texts:
            return set(), f"run <{record.run}> could not be replayed ({reason or audit.checks.get('replay')})"
        report = json.loads(replayed.texts[patient])
        kb = _knowledge_of(auditor, report["guideline"]["version_iri"])
        if kb is None:
            return set(), f"the guideline version of run <{record.run}> was not loaded"
        reports.append(report)
        stances[report["guideline"]["version_iri"]] = kb.memo(
            "action-stances", lambda store: stances_of(Content(store=store.raw)))
    text = "".join(disagreement_lines(patient, runs, patient_disagreements(reports, stances)))
    return {ox.Triple(q.subject, q.predicate, q.object)
            for q in ox.parse(text.encode("utf-8"), format=ox.RdfFormat.N_TRIPLES)} if text else set(), None


def recheck(auditor, path: Path, others: list, audited: tuple) -> tuple[Finding, ...]:
    """Findings for each disagreements graph in ``others`` (graphs of the file that hold no run), and for
    runs of several guidelines for one patient that record none where the recomputation finds some."""
    runs_of = {a.run: a for a in audited}
    findings = []
    graphs = [g for g in others if g.kind == "disagreements"]
    if not graphs and len(runs_of) > 1 and len({a.patients for a in audited}) == 1 and len(audited[0].patients) == 1:
        again, why = _recompute(auditor, path, sorted(runs_of), audited[0].patients[0])
        if again and why is None:  # recommend with several guidelines writes the graph whenever there are any
            kinds = sum(1 for t in again if t.object == ox.NamedNode(GKG + "Disagreement"))
            findings.append(Finding("failure", "disagreements-missing",
                                    f"the runs of one patient's guidelines disagree in {kinds} place(s) when replayed, "
                                    "and the file records no disagreements graph", audited[0].patients[0]))
    for graph in graphs:
        recorded = {ox.Triple(t.subject, t.predicate, t.object) for t in graph.triples}
        runs = sorted({t.object.value for t in graph.triples
                       if t.predicate.value == PROV + "wasDerivedFrom" and t.object.value.startswith("urn:guidelinekg:run:")})
        patients = sorted({t.object.value for t in graph.triples if t.predicate.value == GKG + "forPatient"})
        why = None
        if not runs or len(patients) != 1:
            why = "it names no run or not exactly one patient"
        elif set(runs) - set(runs_of):
            why = f"it derives from runs the file does not hold: {', '.join(sorted(set(runs) - set(runs_of)))}"
        else:
            again, why = _recompute(auditor, path, runs, patients[0])
        if why is not None:
            findings.append(Finding("failure", "disagreements-not-recomputed",
                                    f"graph <{graph.graph}>: the disagreements were not recomputed: {why}", graph.graph))
            continue
        if again != recorded:
            findings.append(Finding(
                "failure", "disagreements-differ",
                f"graph <{graph.graph}> records {len(recorded - again)} triple(s) the recomputed disagreements do "
                f"not give and lacks {len(again - recorded)} they give", graph.graph))
        else:
            kinds = sum(1 for t in recorded if t.object == ox.NamedNode(GKG + "Disagreement"))
            findings.append(Finding("note", "disagreements-same",
                                    f"graph <{graph.graph}>: {kinds} disagreement(s), recomputed from the replayed "
                                    "runs, the same", graph.graph))
    return tuple(findings)
