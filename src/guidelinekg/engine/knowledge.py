"""The guideline knowledge a reasoner run needs, loaded once and reused for every patient.

Holds the vocabulary and guideline content, plus what the knowledge-scope rules derive from them, as
N-Triples text (re-loading it into a fresh store per patient
takes about a millisecond in Oxigraph), their hashes for provenance, the substance matcher and the measure
catalogue and what the knowledge reads of patient data, built from the same graph. Nothing here is specific to
a guideline.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from guidelinekg.errors import InputError
from guidelinekg.content.resources import guideline_files, project_home, vocabulary_files
from guidelinekg.engine.rules import RuleSet, load_rules, run_rules
from guidelinekg.engine.store import RuleStore, open_store

GKG = "https://w3id.org/guidelinekg/ontology#"
# Below this many patients in a store, reading its run graph or input digest from a dump of the whole
# store is cheaper than taking the knowledge out and back (about 4 ms), and facts_sha256 than the store.
FEW_PATIENTS = 32


def derive_knowledge(store: RuleStore, rules: RuleSet | None = None) -> None:
    """Add to ``store`` what the knowledge-scope rules derive from the guideline graph in it (e.g.
    ``gkg:memberCount``), so every place that holds the knowledge (an evaluation, a ``query`` dataset,
    a guideline version graph written by ``load``) holds what the patient rules read."""
    run_rules(store, rules or load_rules(), scope="knowledge")


def derived_knowledge_triples(triples: list, rules: RuleSet | None = None) -> list:
    """The pyoxigraph triples :func:`derive_knowledge` adds to the given ones, in a stable order."""
    import pyoxigraph as ox

    store = open_store("oxigraph")
    store.raw.extend(ox.Quad(t.subject, t.predicate, t.object, ox.DefaultGraph()) for t in triples)

    def held() -> set:  # as the store holds them: it rewrites values ("75.0" is stored as "75")
        return {q.triple for q in store.raw.quads_for_pattern(None, None, None, ox.DefaultGraph())}

    before = held()
    derive_knowledge(store, rules)
    return sorted(held() - before, key=str)


@dataclass(frozen=True)
class GuidelineVersionInfo:
    iri: str
    guideline: str
    label: str
    version: str
    status: str


@dataclass(frozen=True)
class SourceFile:
    path: Path
    sha256: str

    @property
    def display(self) -> str:
        try:
            return self.path.resolve().relative_to(project_home()).as_posix()
        except ValueError:
            return self.path.as_posix()


@dataclass
class KnowledgeBase:
    """Vocabulary + guideline content + rules, ready to evaluate patients.

    ``ntriples`` holds the content and what the knowledge-scope rules derive from it (see
    :mod:`guidelinekg.engine.rules`): the knowledge every evaluation starts from.
    """

    files: tuple[SourceFile, ...]
    ntriples: str
    rules: RuleSet
    _stores: dict[str, RuleStore] = field(default_factory=dict, repr=False)
    _memo: dict[str, object] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, paths: list[Path] | None = None, *, rules: RuleSet | None = None) -> KnowledgeBase:
        """Load the shipped vocabulary and guidelines (or the given Turtle files, plus the vocabulary)."""
        import pyoxigraph as ox

        if paths:
            from guidelinekg.content.loading import expand_paths

            given = expand_paths(Path(p) for p in paths)  # a directory: its *.ttl files, as 'load --content'
            if not given:
                raise InputError("no Turtle (*.ttl) files in " + ", ".join(str(p) for p in paths),
                                 hint="give guideline content files or a directory holding them")
        chosen = list(vocabulary_files()) + (given if paths else list(guideline_files()))
        seen: dict[Path, None] = {}
        for p in chosen:
            seen.setdefault(Path(p).resolve(), None)
        rules = rules or load_rules()
        store = open_store("oxigraph")
        files = []
        for path in seen:
            try:
                data = path.read_bytes()
            except OSError as exc:
                from guidelinekg.errors import Location

                raise InputError(f"cannot read the content file: {exc.strerror or exc}", Location(str(path))) from None
            files.append(SourceFile(path, hashlib.sha256(data).hexdigest()))
            try:
                store.raw.load(data, format=ox.RdfFormat.TURTLE, base_iri=path.as_uri())
            except SyntaxError as exc:
                from guidelinekg.errors import Location

                raise InputError(
                    f"Turtle syntax error: {exc.msg}",
                    Location(str(path), exc.lineno, exc.offset),
                    hint="run 'guidelinekg validate' on the content",
                ) from None
        derive_knowledge(store, rules)  # what follows from the guideline alone, derived once
        return cls(tuple(files), store.dump_ntriples().decode("utf-8"), rules)

    @cached_property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for f in self.files:
            digest.update(f"{f.display} {f.sha256}\n".encode())
        return digest.hexdigest()

    @cached_property
    def subjects(self) -> frozenset[str]:
        """The subjects of the knowledge's triples (N-Triples terms): nodes patient data may not describe."""
        return frozenset(line.split(" ", 1)[0] for line in self.ntriples.splitlines() if line and line[0] == "<")

    @cached_property
    def _quads(self) -> list:
        import pyoxigraph as ox

        return list(ox.parse(self.ntriples.encode("utf-8"), format=ox.RdfFormat.N_TRIPLES))

    @cached_property
    def _rdflib_graph(self):
        from rdflib import Graph

        return Graph().parse(data=self.ntriples, format="nt")

    def new_store(self, engine: str = "oxigraph") -> RuleStore:
        """A fresh store holding the knowledge, parsed once per knowledge base and engine (so blank nodes
        are the same terms in every store, and :meth:`derived_ntriples` can tell the knowledge apart)."""
        store = open_store(engine)
        if hasattr(store, "load_quads"):
            store.load_quads(self._quads)
        else:
            store.load_graph(self._rdflib_graph)
        return store

    def derived_ntriples(self, store: RuleStore, *, patients: int) -> bytes:
        """What a store from :meth:`new_store` holds beyond the knowledge, as N-Triples.

        Oxigraph dumps the graph (one Rust call, in its index order: the same for the same data added in
        the same order). With few patients, the knowledge lines are dropped from the dump (taking out
        and putting back 2,600 quads would cost 4 ms); with many (a cohort chunk: 100,000 lines), the
        knowledge quads are taken out before the dump and put back after, so the store is unchanged
        either way. rdflib: the graph minus the knowledge graph.
        """
        if store.name == "oxigraph" and patients < FEW_PATIENTS:
            knowledge = self._knowledge_lines
            return b"".join(line + b"\n" for line in store.dump_ntriples().splitlines() if line not in knowledge)
        if store.name == "oxigraph":
            raw = store.raw
            for quad in self._quads:
                raw.remove(quad)
            try:
                return store.dump_ntriples()
            finally:
                raw.extend(self._quads)
        from rdflib import Graph

        derived = Graph()
        for triple in store.raw.triples((None, None, None)):
            if triple not in self._rdflib_graph:
                derived.add(triple)
        return derived.serialize(format="nt", encoding="utf-8")

    @cached_property
    def _knowledge_lines(self) -> frozenset[bytes]:
        """The knowledge as the N-Triples lines an Oxigraph store holding :attr:`_quads` dumps."""
        import pyoxigraph as ox

        return frozenset(ox.serialize([q.triple for q in self._quads], format=ox.RdfFormat.N_TRIPLES).splitlines())

    def memo(self, key: str, build):
        """``build(store)`` over the knowledge-only store, computed once per knowledge base (results that
        depend on the guideline alone, e.g. the statements a report shows)."""
        if key not in self._memo:
            self._memo[key] = build(self._query_store())
        return self._memo[key]

    def _query_store(self) -> RuleStore:
        if "query" not in self._stores:
            self._stores["query"] = self.new_store("oxigraph")
        return self._stores["query"]

    @cached_property
    def matcher(self):
        from guidelinekg.patients.medmatch import SubstanceMatcher

        return SubstanceMatcher.from_graph(self._query_store())

    @cached_property
    def measures(self):
        from guidelinekg.patients.units import MeasureCatalog

        return MeasureCatalog.from_graph(self._query_store())

    @cached_property
    def reads(self):
        """The measure codes the knowledge reads: ``recommend`` and ``cohort`` map only those
        (:mod:`guidelinekg.patients.relevance`), so both give a patient the same facts."""
        from guidelinekg.patients.relevance import ReadCodes

        return ReadCodes.from_graph(self._query_store())

    @cached_property
    def versions(self) -> tuple[GuidelineVersionInfo, ...]:
        rows = self._query_store().select(
            f"""PREFIX gkg: <{GKG}> PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
            SELECT ?v ?g ?label ?version ?status WHERE {{
              ?v a gkg:GuidelineVersion ; gkg:versionOf ?g ; gkg:versionLabel ?version ; gkg:reviewStatus ?s .
              OPTIONAL {{ ?v rdfs:label ?label }}
              ?s <http://www.w3.org/2004/02/skos/core#notation> ?status .
            }} ORDER BY ?v"""
        )
        return tuple(
            GuidelineVersionInfo(
                r["v"].value, r["g"].value, r["label"].value if "label" in r else r["v"].value,
                r["version"].value, r["status"].value,
            )
            for r in rows
        )

    def version(self, selector: str | None = None) -> GuidelineVersionInfo:
        """The guideline version named by IRI, label or IRI suffix; the only one when ``selector`` is None."""
        versions = self.versions
        if not versions:
            raise InputError("no guideline version found in the loaded content")
        if selector is None:
            if len(versions) == 1:
                return versions[0]
            names = ", ".join(v.iri for v in versions)
            raise InputError(f"several guideline versions are loaded; choose one with --guideline: {names}")
        hits = [v for v in versions if selector in (v.iri, v.guideline, v.label) or v.iri.endswith(selector)
                or selector in v.iri]
        if len(hits) != 1:
            names = ", ".join(v.iri for v in versions)
            raise InputError(f"--guideline {selector!r} matches {len(hits)} versions; available: {names}")
        return hits[0]


def to_payload(kb: KnowledgeBase) -> dict:
    """Everything a worker needs to rebuild the knowledge base without the project files (for Dask)."""
    return {
        "files": [(str(f.path), f.sha256) for f in kb.files],
        "ntriples": kb.ntriples,
        "rules": [(r.name, str(r.path), r.stratum, r.purpose, r.fixpoint, r.text, r.sha256, r.scope)
                  for r in kb.rules.rules],
    }


def from_payload(payload: dict) -> KnowledgeBase:
    from guidelinekg.engine.rules import Rule

    rules = RuleSet(tuple(Rule(name, Path(path), stratum, purpose, fixpoint, text, sha, scope)
                          for name, path, stratum, purpose, fixpoint, text, sha, scope in payload["rules"]))
    files = tuple(SourceFile(Path(p), sha) for p, sha in payload["files"])
    return KnowledgeBase(files, payload["ntriples"], rules)
