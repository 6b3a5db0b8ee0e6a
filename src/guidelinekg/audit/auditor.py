"""Auditing recorded runs: is each result's provenance complete, intact, and does a replay reproduce it?

For every run in a provenance file (``recommend --provenance``, or a cohort ``provenance.trig.gz`` with one
named graph per run) and every result it records (recommendation result, order, warning, monitoring item,
computed dose), :class:`Auditor` checks:

1. **completeness**: ``shapes/provenance.ttl`` (pySHACL over the RDFS entailments), plus what a shape
   cannot say: each result's rule is one the run used; each patient fact a result derives from is recorded;
2. **integrity**: the rule files (``queries/rules/NAME.rq``) and content files (by recorded path) still
   hash to the recorded SHA-256, the current rule set is the recorded one, and the recorded patient facts
   hash to the recorded input;
3. **replay**: with unchanged rules and content, the patients are rebuilt from the recorded facts and
   :func:`guidelinekg.engine.reasoning.evaluate` runs again with the recorded as-of date and engine; every result
   (status per statement, order, warning, dose, monitoring item) and every other provenance triple must
   come out the same (timing fields aside). Changed rules or content mean no replay, which is a failure:
   other rules reproducing a result would prove nothing about the run;
4. **content status**: results from a guideline version whose recorded review status is not ``approved``,
   or (given a store written by ``guidelinekg load``) that a loaded version revises (``prov:wasRevisionOf``),
   are flagged.

Findings are failures, flags or notes; the exit code is 1 on any failure and on flags not allowed.
Reading the record is :mod:`guidelinekg.audit.recorded`, the integrity checks (files, links)
:mod:`guidelinekg.audit.integrity`, the replay :mod:`guidelinekg.audit.replay`, a cohort's files
:mod:`guidelinekg.audit.cohort`; this module runs them and returns :mod:`guidelinekg.audit.verdicts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox

from guidelinekg import __version__
from guidelinekg.audit.recorded import (  # noqa: F401  (re-exported for tests and callers)
    FACT_CLASSES,
    RESULT_KINDS,
    Finding,
    _VOCABULARY,
    _entailed,
    _Graph,
    _local,
    derived_terms,
    results_of,
)
from guidelinekg.audit.cohort import cohort_findings
from guidelinekg.audit.integrity import check_files, check_links
from guidelinekg.audit.verdicts import AuditReport, ResultCheck, RunAudit
from guidelinekg.audit.replay import rebuild_input
from guidelinekg.audit.replay import replay as replay_run
from guidelinekg.provenance.store import GraphLoad, iter_provenance, open_read_only, store_lock

GKG = "https://w3id.org/guidelinekg/ontology#"
PROV = "http://www.w3.org/ns/prov#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"


# --- the auditor ----------------------------------------------------------------------------------------


@dataclass
class Auditor:
    """Audits runs against the project's current files; caches shapes, knowledge and the rule analysis,
    so one auditor serves every run of a cohort.

    Args:
        store_dir: a store written by ``guidelinekg load``; a version there that revises a version a run
            used (``prov:wasRevisionOf``, directly or through others) flags that run's results superseded.
    """

    store_dir: Path | None = None
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
        runs = tuple(self.audit_run(load) for load in iter_provenance(path))
        return AuditReport(str(path), runs, notes + cohort_findings(path, runs), allow_unapproved,
                           allow_superseded)

    def _cached(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def audit_run(self, load: GraphLoad) -> RunAudit:
        """Audit one run (see the module docstring for the checks)."""
        graph = _Graph(load)
        findings: list[Finding] = []
        info = (
            graph.select("""SELECT ?asOf ?engine ?software WHERE {
            OPTIONAL { $run gkg:asOfDate ?asOf } OPTIONAL { $run gkg:engine ?engine }
            OPTIONAL { $run prov:wasAssociatedWith ?a . ?a gkg:softwareVersion ?software } }""")
            or [{}]
        )[0]
        checks = {"shapes": self._check_shapes(graph, findings)}
        current = {r.name: r.sha256 for r in self._rules().rules}
        rules_ok, content = check_files(graph, current, findings)
        checks["rules"] = "ok" if rules_ok else "changed"
        checks["content"] = "ok" if content is not None else "changed"
        recorded = results_of(graph)
        check_links(graph, recorded, findings)
        derived = self._cached("derived", lambda: derived_terms(self._rules()))
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
        replay = None
        if rules_ok and content is not None and info.get("asOf") and patients:
            from guidelinekg.engine.knowledge import KnowledgeBase
            from guidelinekg.engine.shapes_sparql import load_patient_shapes

            kb = self._cached(("kb", content), lambda: KnowledgeBase.load(list(content), rules=self._rules()))
            shapes = self._cached("patient-shapes", load_patient_shapes)
            replay = replay_run(graph, patients, kb, shapes, info, findings)
            checks["replay"] = "differs" if any(f.code == "replay-differs" for f in findings) else "same"
        else:
            checks["replay"] = "not run"
            why = (
                "rules or content changed since the run"
                if not (rules_ok and content is not None)
                else "the run records no as-of date or no patient"
            )
            findings.append(
                Finding(
                    "failure",
                    "cannot-replay",
                    f"the derivation was not replayed: {why}; "
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
        return RunAudit(
            graph.run,
            info.get("asOf"),
            info.get("engine"),
            info.get("software"),
            tuple(sorted(patients)),
            tuple(versions),
            checks,
            tuple(results),
            tuple(findings),
        )

    def _check_shapes(self, graph: _Graph, findings: list[Finding]) -> str:
        """``shapes/provenance.ttl`` with pySHACL. The RDFS entailments the shapes need (types by domain,
        range, subclass and subproperty) are made with SPARQL in Oxigraph, and pySHACL reads only the
        triples the shapes can reach: owlrl's full RDFS closure of a 100-patient run takes about ten
        seconds, this a fraction; ``tests/test_audit.py`` checks the verdicts agree."""
        import pyshacl
        import rdflib

        def load_shapes():
            from guidelinekg.content.resources import ontology_dir, shapes_dir

            shapes = rdflib.Graph().parse(shapes_dir() / "provenance.ttl")
            sh = rdflib.Namespace("http://www.w3.org/ns/shacl#")
            paths = frozenset({str(o) for o in shapes.objects(None, sh.path)} | {RDF_TYPE})
            targets = frozenset(str(o) for o in shapes.objects(None, sh.targetClass))
            vocabulary = ox.Store()
            for f in sorted(ontology_dir().glob("*.ttl")):
                vocabulary.load(path=str(f), format=ox.RdfFormat.TURTLE, base_iri=f.resolve().as_uri())
            return shapes, paths, targets, vocabulary

        shapes, paths, targets, vocabulary = self._cached("shapes", load_shapes)
        conforms, results, _ = pyshacl.validate(
            _entailed(graph, vocabulary, paths, targets), shacl_graph=shapes, inference="none"
        )
        if conforms:
            return "ok"
        sh = rdflib.Namespace("http://www.w3.org/ns/shacl#")
        seen = set()
        for r in results.subjects(rdflib.RDF.type, sh.ValidationResult):
            focus, message, path = (
                results.value(r, p) for p in (sh.focusNode, sh.resultMessage, sh.resultPath)
            )
            if (focus, message) not in seen:
                seen.add((focus, message))
                where = f" (path {_local(str(path))})" if isinstance(path, rdflib.URIRef) else ""
                findings.append(Finding("failure", "incomplete-provenance", f"{message}{where}", str(focus)))
        return "incomplete"

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
            with store_lock(self.store_dir, exclusive=False):
                store = open_read_only(self.store_dir)
                rows = {s["v"].value: s["s"].value for s in store.query(
                    f"SELECT ?v ?s WHERE {{ GRAPH ?v {{ ?v <{GKG}reviewStatus> ?s }} }}")}
                del store
            return rows

        return self._cached("store-statuses", read)

    def _revisions(self) -> dict[str, list[str]]:
        """For each version in the store, the versions revising it, directly or through others."""
        if self.store_dir is None:
            return {}

        def read():
            with store_lock(self.store_dir, exclusive=False):
                store = open_read_only(self.store_dir)
                rows = [
                    (s["old"].value, s["new"].value)
                    for s in store.query(
                        f"SELECT DISTINCT ?old ?new WHERE {{ ?new <{PROV}wasRevisionOf>+ ?old }}",
                        use_default_graph_as_union=True,
                    )
                ]
                del store
            revisions: dict[str, list[str]] = {}
            for old, new in sorted(rows):
                revisions.setdefault(old, []).append(new)
            return revisions

        return self._cached("revisions", read)


def audit(
    path: Path,
    *,
    store_dir: Path | None = None,
    allow_unapproved: bool = False,
    allow_superseded: bool = False,
) -> AuditReport:
    """Audit every run in a provenance file; see :class:`Auditor`.

    Raises:
        InputError: the provenance file or the store is unusable.
    """
    return Auditor(store_dir=store_dir).audit_file(
        path, allow_unapproved=allow_unapproved, allow_superseded=allow_superseded
    )
