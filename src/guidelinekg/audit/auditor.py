"""Auditing recorded runs: is each result's provenance complete, intact, and does a replay reproduce it?

For every run in a provenance file (``recommend --provenance``, or a cohort ``provenance.trig.gz`` with one
named graph per run) and every result it records (recommendation result, order, warning, monitoring item,
computed dose), :class:`Auditor` checks:

1. **completeness**: ``shapes/provenance.ttl`` (compiled to SPARQL under the vocabulary's RDFS
   entailments, :mod:`guidelinekg.audit.completeness`), plus what a shape cannot say: each result's rule is
   one the run used; each patient fact a result derives from is recorded;
2. **integrity**: the rule files (``queries/rules/NAME.rq``) and content files (by recorded path) still
   hash to the recorded SHA-256, the current rule set is the recorded one, and the recorded patient facts
   hash to the recorded input;
3. **replay**: with unchanged rules and content, the patients are rebuilt from the recorded facts and
   :func:`guidelinekg.engine.reasoning.evaluate` runs again with the recorded as-of date and engine; every result
   (status per statement, order, warning, dose, monitoring item) and every other provenance triple must
   come out the same (timing fields aside). Changed rules or content mean no replay, which is a failure:
   other rules reproducing a result would prove nothing;
4. **content status**: results from a guideline version whose recorded review status is not ``approved``,
   or (given a store written by ``guidelinekg load``) that a loaded version revises (``prov:wasRevisionOf``),
   are flagged;
5. for a cohort: ``results.jsonl`` and ``summary.csv`` against the replay (:mod:`guidelinekg.audit.cohort`).

A run read as text in the cohort layout (:mod:`guidelinekg.audit.reader`) is first replayed from its lines
(:mod:`guidelinekg.audit.fastpath`); if the replay reproduces them exactly, the checks run on the replay's
store, else (or when no replay can run) on the parsed triples, as before: the findings are the same.
Findings are failures, flags or notes; the exit code is 1 on any failure and on flags not allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from guidelinekg import __version__
from guidelinekg.audit.cohort import CohortOutputs, Replayed, missing_outputs
from guidelinekg.audit.completeness import check_shapes, provenance_shapes
from guidelinekg.audit.disagreements import recheck
from guidelinekg.audit.fastpath import replay_fast, run_info, unreplayed_findings
from guidelinekg.audit.integrity import check_files, check_links
from guidelinekg.audit.reader import NotCohortLayout, RunRecord, read_runs
from guidelinekg.audit.recorded import (  # noqa: F401  (re-exported for tests and callers)
    FACT_CLASSES,
    RESULT_KINDS,
    Finding,
    _Graph,
    _local,
    derived_terms,
    results_of,
)
from guidelinekg.audit.replay import rebuild_input, recorded_input
from guidelinekg.audit.replay import replay as replay_run
from guidelinekg.audit.runrecord import run_hashes
from guidelinekg.audit.runs import audit_runs, of_reports, progress_bar, replayed_reports
from guidelinekg.audit.toplevel import CohortCode, audit_several, is_several
from guidelinekg.audit.verdicts import AuditReport, ResultCheck, RunAudit
from guidelinekg.errors import InputError
from guidelinekg.provenance.inputs import GraphLoad
from guidelinekg.provenance.store import read_rows

GKG = "https://w3id.org/guidelinekg/ontology#"
PROV = "http://www.w3.org/ns/prov#"


# --- the auditor ----------------------------------------------------------------------------------------


@dataclass
class Auditor:
    """Audits runs against the project's current files; caches shapes, knowledge and the rule analysis,
    so one auditor serves every run of a cohort.

    Args:
        store_dir: a store written by ``guidelinekg load``; a version there that revises a version a run
            used (``prov:wasRevisionOf``, directly or through others) flags that run's results superseded.
        progress: a progress bar on stderr (None: only when stderr is a terminal).
        fast: replay runs from their text first (False: always audit from parsed triples; for tests).
        workers: audit runs in this many processes (:mod:`guidelinekg.audit.runs`).
        cohort_code: the cohort's own code (:class:`guidelinekg.audit.toplevel.CohortCode`), to recompute a
            several-guideline cohort's ``disagreements.jsonl`` and name its folders.
    """

    store_dir: Path | None = None
    progress: bool | None = False
    fast: bool = True
    workers: int = 1
    cohort_code: CohortCode | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    def audit_file(
        self, path: Path, *, allow_unapproved: bool = False, allow_superseded: bool = False
    ) -> AuditReport:
        """Audit every run in a provenance file (raises ``InputError`` when it is unusable)."""
        notes = (
            ()
            if self.store_dir
            else (
                Finding(
                    "note",
                    "superseded-not-checked",
                    "no --store given, so later guideline versions were not looked "
                    "for ('guidelinekg load --guidelines' builds one)",
                ),
            )
        )
        if is_several(path):  # a cohort of several guidelines: each folder, and the files above them
            runs, cohort = audit_several(self, path, self._audit_path, self.cohort_code)
        else:
            runs, cohort = self._audit_path(path)
        return AuditReport(str(path), runs, notes + cohort, allow_unapproved, allow_superseded)

    def _audit_path(self, path: Path) -> tuple[tuple[RunAudit, ...], tuple[Finding, ...]]:
        try:
            return self._audit_all(path, self.fast)
        except NotCohortLayout:  # part-way: not the layout cohort writes after all; read it the general way
            return self._audit_all(path, False)

    def _audit_all(self, path: Path, fast: bool) -> tuple[tuple[RunAudit, ...], tuple[Finding, ...]]:
        outputs = CohortOutputs.open(path)
        bar = progress_bar(path, self.progress)
        runs: list[RunAudit] = []
        settings = {"store_dir": self.store_dir, "fast": self.fast}
        others: list[GraphLoad] = []
        try:
            for audit, replayed, why in audit_runs(read_runs(path, fast=fast, others=others), self._audit,
                                                   outputs.version_iri if outputs else False, self.workers,
                                                   type(self), settings):
                runs.append(outputs.check_run(audit, replayed, why) if outputs else audit)
                if bar is not None:
                    bar.update(len(audit.patients))
            notes = recheck(self, path, others, tuple(runs)) if not outputs else ()
            return tuple(runs), (outputs.finish(tuple(runs), self._patient_shapes().sha256) if outputs
                                 else missing_outputs(path)) + notes
        finally:
            if bar is not None:
                bar.close()
            if outputs is not None:
                outputs.close()

    def _cached(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def audit_run(self, load: GraphLoad | RunRecord) -> RunAudit:
        """Audit one run (see the module docstring for the checks)."""
        if isinstance(load, GraphLoad):
            lines = [f"{t.subject} {t.predicate} {t.object} ." for t in load.triples]
            load = RunRecord(load.graph, lines, True, "", load.triples)
        return self._audit(load, False)[0]

    def _knowledge(self, content):
        from guidelinekg.engine.knowledge import KnowledgeBase

        return self._cached(("kb", content), lambda: KnowledgeBase.load(list(content), rules=self._rules()))

    def _patient_shapes(self):
        from guidelinekg.engine.shapes_sparql import load_patient_shapes

        return self._cached("patient-shapes", load_patient_shapes)

    def _audit(self, record: RunRecord, version_iri) -> tuple[RunAudit, Replayed | None, str | None]:
        """Audit one run; with ``version_iri`` (not False) also the replay's reports of that guideline
        version (None: the only one), for :class:`CohortOutputs` (None and why, if none)."""
        current = {r.name: r.sha256 for r in self._rules().rules}
        derived = self._cached("derived", lambda: derived_terms(self._rules()))
        why: list[str] = []

        def version(kb):
            try:
                return kb.version(version_iri)
            except InputError as exc:
                why.append(f"the guideline version of the results is not the run's: {exc}")
                return None

        wants = version if version_iri is not False else None
        fast = replay_fast(record, derived, current, self._knowledge, self._patient_shapes(), wants) \
            if self.fast else None
        if fast is None and not record.canonical:
            record = record.canonicalized()
        graph = fast.graph if fast else _Graph(GraphLoad(record.run, "run", (record.source,), record.triples()))
        findings: list[Finding] = []
        info = run_info(graph)
        checks = {"shapes": check_shapes(graph.store, self._cached("shapes", provenance_shapes), findings)}
        rules_ok, content = check_files(graph, current, findings)
        checks["rules"] = "ok" if rules_ok else "changed"
        checks["content"] = "ok" if content is not None else "changed"
        recorded = results_of(graph)
        check_links(graph, recorded, findings, fast.typed if fast else None)
        if fast:
            patients, input_ok = fast.patients, fast.input_ok
            findings += fast.input_findings
        else:
            patients, input_ok = rebuild_input(graph, derived, findings)
        checks["input"] = "ok" if input_ok else "mismatch"
        if info.get("software") not in (None, __version__):
            findings.append(
                Finding(
                    "note",
                    "software-version",
                    f"recorded by guidelinekg {info['software']}, replayed with {__version__}",
                )
            )
        findings += unreplayed_findings(info)
        replay, reports, as_of = None, None, _date(info.get("asOf"))
        if fast:
            replay, reports = recorded, of_reports(fast.reports) if fast.reports is not None else None
            checks["replay"] = "same"
        elif rules_ok and content is not None and as_of and patients:
            kb = self._knowledge(content)
            replay, evaluation = replay_run(graph, patients, kb, self._patient_shapes(), info, findings, recorded)
            checks["replay"] = "differs" if any(f.code == "replay-differs" for f in findings) else "same"
            chosen = wants(kb) if wants is not None else None
            reports = replayed_reports(evaluation, chosen, graph.run, recorded_input(graph)) if chosen is not None else None
        else:
            checks["replay"] = "not run"
            why.append(
                "rules or content changed since the run"
                if not (rules_ok and content is not None)
                else f"the recorded as-of date {info['asOf']!r} is not a date" if info.get("asOf") and not as_of
                else "the run records no as-of date or no patient"
            )
            findings.append(
                Finding(
                    "failure",
                    "cannot-replay",
                    f"the derivation was not replayed: {why[-1]}; "
                    "other rules or data reproducing a result would prove nothing",
                )
            )
        versions = self._versions(graph, recorded, findings)
        flags = {v["iri"]: v["flags"] for v in versions}
        results = []
        for iri, r in sorted(recorded.items(), key=lambda kv: (kv[1]["patient"] or "", kv[1]["kind"], kv[0])):
            mine = sorted({f for v in (r["versions"] or flags) for f in flags.get(v, ())})
            other = (replay or {}).get(iri)
            verdict = (
                "not-replayed"
                if replay is None
                else "missing"
                if other is None
                else "same"
                if other["summary"] == r["summary"]
                else "differs"
            )
            results.append(
                ResultCheck(
                    iri,
                    r["kind"],
                    r["patient"],
                    r["summary"],
                    r["rule"],
                    r["versions"],
                    verdict,
                    other["summary"] if verdict == "differs" else None,
                    tuple(mine),
                )
            )
        audit = RunAudit(
            graph.run,
            info.get("asOf"),
            info.get("engine"),
            info.get("software"),
            tuple(sorted(patients)),
            tuple(versions),
            checks,
            tuple(results),
            tuple(findings),
            run_hashes(graph),
        )
        return audit, reports, (why[-1] if why else None)

    def _rules(self):
        from guidelinekg.engine.rules import load_rules

        return self._cached("rules", load_rules)

    def _versions(self, graph: _Graph, recorded: dict[str, dict], findings: list[Finding]) -> list[dict]:
        """The guideline versions the run used or its results name, with their flags."""
        rows = graph.select("""SELECT DISTINCT ?v ?status ?label WHERE {
            { $run prov:used ?v } UNION { ?r gkg:guidelineVersion ?v }
            ?v gkg:reviewStatus ?status . OPTIONAL { ?v gkg:versionLabel ?label } } ORDER BY ?v""")
        later = self._revisions()
        out = []
        for row in rows:
            v, name = row["v"], row.get("label", _local(row["v"]))
            n = sum(1 for r in recorded.values() if v in r["versions"] or not r["versions"])
            status, flags = _local(row["status"]).lower(), []
            if row["status"] != GKG + "Approved":
                flags.append("not-approved")
                findings.append(
                    Finding(
                        "flag",
                        "not-approved",
                        f"{n} result(s) derive from guideline version {name}, "
                        f"whose review status was '{status}', not approved",
                        v,
                    )
                )
            stored = self._store_statuses().get(v)
            if stored is not None and row["status"] == GKG + "Approved" and stored != row["status"]:
                findings.append(Finding(
                    "failure", "version-status-differs",
                    f"the run records guideline version {name} as approved, but that version in the store is "
                    f"'{_local(stored).lower()}': the run used other content under this version's IRI", v))
            if later.get(v):
                flags.append("superseded")
                findings.append(
                    Finding(
                        "flag",
                        "superseded",
                        f"{n} result(s) derive from guideline version {name}, "
                        f"since revised by {', '.join(later[v])}",
                        v,
                    )
                )
            out.append(
                {
                    "iri": v,
                    "label": row.get("label"),
                    "status": status,
                    "superseded_by": later.get(v, []),
                    "flags": tuple(flags),
                }
            )
        return out

    def _store_statuses(self) -> dict[str, str]:
        """Each guideline version graph of the store (``load --guidelines``): its gkg:reviewStatus."""
        if self.store_dir is None:
            return {}

        def read():
            return {r["v"]: r["s"] for r in read_rows(
                self.store_dir, f"SELECT ?v ?s WHERE {{ GRAPH ?v {{ ?v <{GKG}reviewStatus> ?s }} }}")}

        return self._cached("store-statuses", read)

    def _revisions(self) -> dict[str, list[str]]:
        """For each version in the store, the versions revising it, directly or through others."""
        if self.store_dir is None:
            return {}

        def read():
            rows = [
                (r["old"], r["new"])
                for r in read_rows(
                    self.store_dir, f"SELECT DISTINCT ?old ?new WHERE {{ ?new <{PROV}wasRevisionOf>+ ?old }}",
                    union=True,
                )
            ]
            revisions: dict[str, list[str]] = {}
            for old, new in sorted(rows):
                revisions.setdefault(old, []).append(new)
            return revisions

        return self._cached("revisions", read)


def _date(value: str | None):
    from datetime import date

    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def audit(
    path: Path,
    *,
    store_dir: Path | None = None,
    allow_unapproved: bool = False,
    allow_superseded: bool = False,
    progress: bool | None = False,
    workers: int = 1,
    cohort_code: CohortCode | None = None,
) -> AuditReport:
    """Audit every run in a provenance file; see :class:`Auditor`.

    Raises:
        InputError: the provenance file or the store is unusable.
    """
    return Auditor(store_dir=store_dir, progress=progress, workers=workers, cohort_code=cohort_code).audit_file(
        path, allow_unapproved=allow_unapproved, allow_superseded=allow_superseded
    )
