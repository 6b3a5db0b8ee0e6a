"""An on-disk store of run provenance and guideline versions, one named graph each (Oxigraph, RocksDB).

Graphs in the store:

* one per evaluation run: graph IRI = run IRI (``urn:guidelinekg:run:...``), holding the run's provenance
  as ``recommend --provenance`` or ``cohort`` wrote it;
* one per guideline version: graph IRI = version IRI, holding that version's content files;
* the shipped vocabulary in :data:`VOCABULARY_GRAPH`;
* :data:`CATALOG_GRAPH`: for each graph its kind, sources, triple count and a digest of its content, so
  that loading the same thing again is seen and skipped;
* the default graph: the merge of all of them, each triple once (the catalog says so: :data:`MERGED`), which
  ``serve`` and ``audit --store`` query as the default graph (Oxigraph's union default graph yields a triple
  once per graph holding it). A load adds the new graphs' triples to it and takes out a replaced graph's old
  ones that no other graph holds; the first load into a store written before (or since added to by an older
  version: the catalog then lists more graphs than :data:`MERGED_GRAPHS` says were merged) makes it again.

Layout of ``--store DIR`` (:mod:`guidelinekg.provenance.storedir`): ``DIR/current`` is a symbolic link to
``DIR/gen-NNNNNN``, the Oxigraph database; ``DIR/guidelinekg-store.json`` records the generations the store
made; ``DIR/guidelinekg.lock`` is the lock file. A load never writes the current database: it records a new
generation, takes a checkpoint of the current one there (``Store.backup``: hard links, instant), writes the
new graphs in bulk, flushes, and then points ``current`` at it with one ``rename(2)``. A crash, a kill or a
malformed input at any moment leaves ``current`` as it was; the next load removes the abandoned generation
(only generations the record lists: a store deletes nothing it did not make). This holds for any size of
load, in memory bounded by the largest single run (an N-Quads file is read graph by graph). A directory that
is neither empty nor a store, and a damaged store, are refused (:class:`InputError`, naming the store).

``serve`` holds a shared lock on the store and ``load`` an exclusive one (:func:`store_lock`): RocksDB
lets a read-only instance open while another process writes, which Oxigraph calls undefined behaviour.
"""

from __future__ import annotations

import gc
import hashlib
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyoxigraph as ox

from guidelinekg.errors import InputError, Location
from guidelinekg.provenance.record import UNREPLAYED_PREDICATES
from guidelinekg.provenance.inputs import (  # noqa: F401  (re-exported: reading inputs is part of the store's API)
    COHORT_PROVENANCE,
    PROVENANCE_EXTENSIONS,
    VOCABULARY_GRAPH,
    GraphLoad,
    iter_provenance,
    provenance_file,
    read_guidelines,
    read_provenance,
)
from guidelinekg.provenance.storedir import (  # noqa: F401  (re-exported: the store's API)
    CATALOG_GRAPH,
    CURRENT,
    MERGED,
    MERGED_GRAPHS,
    DATABASE_ERRORS,
    GENERATION,
    LOCK_NAME,
    RECORD_NAME,
    Record,
    StoreBusyError,
    adopt,
    damaged,
    database_path,
    dataset_of,
    holds_merge,
    live_generation,
    open_read_only,
    read_rows,
    refuse_foreign,
    store_lock,
    sync_directory,
    write_record,
)

GKG = "https://w3id.org/guidelinekg/ontology#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
DCTERMS = "http://purl.org/dc/terms/"
VOID_TRIPLES = "http://rdfs.org/ns/void#triples"
XSD = "http://www.w3.org/2001/XMLSchema#"

DEFAULT_STORE = Path(".guidelinekg/store")

# The kind of each graph, recorded in the catalog as the graph's rdf:type.
KIND_CLASSES = {
    "run": GKG + "EvaluationContext",
    "guideline-version": GKG + "GuidelineVersion",
    "vocabulary": "http://www.w3.org/2002/07/owl#Ontology",
    "disagreements": GKG + "Disagreement",
}


@dataclass(frozen=True)
class LoadReport:
    """What a load did: ``(graph, kind, triples, sources)`` per graph added, replaced, or already there."""

    added: tuple[tuple[str, str, int, tuple[str, ...]], ...]
    replaced: tuple[tuple[str, str, int, tuple[str, ...]], ...]
    unchanged: tuple[tuple[str, str, int, tuple[str, ...]], ...]


# --- writing --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Planned:
    graph: str
    kind: str
    sources: tuple[str, ...]
    digest: str
    triples: int
    record: str | None = None  # a run's digest without its times: what a re-run must reproduce


def record_digest(triples: Iterable[ox.Triple]) -> str:
    """An order-free digest of a run's triples without its start and end times and code digest: equal for a
    re-run of the same inputs, different when anything the run recorded differs."""
    total = 0
    for t in set(triples):
        if t.predicate.value not in UNREPLAYED_PREDICATES:  # the times, the code's digest
            line = f"{t.subject} {t.predicate} {t.object}"
            total += int.from_bytes(hashlib.sha256(line.encode()).digest(), "big")
    return f"{total % (1 << 256):064x}"


@contextmanager
def _database(store_dir: Path, action: str) -> Iterator[None]:
    """pyoxigraph's errors on the store's databases as one-line :class:`InputError`: reading the live
    generation, a damaged store; writing the new one, the disk (full, read-only) or the same damage."""
    try:
        yield
    except DATABASE_ERRORS as exc:
        if action == "read":
            raise damaged(store_dir, exc) from None
        detail = " ".join(str(getattr(exc, "strerror", None) or exc).split())[:300]
        raise InputError(f"cannot write the store: {detail}", Location(str(store_dir))) from None


def load_store(
    store_dir: Path, *, graphs: list[GraphLoad] = (), provenance: list[Path] = (),
    now: datetime | None = None, replace: bool = False,
) -> LoadReport:
    """Put guideline graphs and the runs of provenance files into the store, all or nothing.

    A graph already in the store with the same digest is left alone; one with other content is replaced,
    except a run whose record differs in more than its start and end times (the same run IRI for another
    record): that is refused unless ``replace``, since the first record would be lost.
    Provenance files are read twice (to plan, then to write), never held whole in memory.

    Raises:
        StoreBusyError: a server or another load holds the store.
        InputError: an unusable input (then nothing is written), the same graph given twice with
            different content, a directory that is not a store, or a damaged store.
    """
    refuse_foreign(store_dir)  # before the lock file is created in someone else's directory
    with store_lock(store_dir, exclusive=True):
        record = adopt(store_dir)
        live = live_generation(store_dir, record)
        record = _remove_abandoned(store_dir, record, live)
        planned: dict[str, _Planned] = {}
        for load in _all(graphs, provenance):
            item = _Planned(load.graph, load.kind, load.sources, load.digest(), len(set(load.triples)),
                            record_digest(load.triples) if load.kind == "run" else None)
            other = planned.setdefault(load.graph, item)
            if other.digest != item.digest:
                raise InputError(
                    f"<{load.graph}> is given twice with different content ({other.sources[0]}, "
                    f"{item.sources[0]})",
                    hint="load one of them (a re-run differs in its times)",
                )
        known: dict[str, str] = {}
        existing = None
        if live is not None:
            with _database(store_dir, "read"):
                existing = ox.Store.read_only(str(live))  # the live generation is never written
                known = {
                    s["g"].value: s["d"].value
                    for s in existing.query(
                        f"SELECT ?g ?d WHERE {{ GRAPH <{CATALOG_GRAPH}> {{ ?g <{GKG}sha256> ?d }} }}"
                    )
                }
        todo = {g: p for g, p in planned.items() if known.get(g) != p.digest}
        if existing is not None and not replace:
            changed = [p for g, p in todo.items() if g in known and p.kind != "run"]
            if changed:  # another content under a version IRI: audit --store trusts what the store says
                p = changed[0]
                raise InputError(
                    f"{p.kind} <{p.graph}> is already in the store with other content; loading "
                    f"{p.sources[0]} would replace it", Location(str(store_dir)),
                    hint="a new version needs its own version IRI; pass --replace to replace the stored one "
                         "deliberately")
            stored_runs = [p for g, p in todo.items() if g in known and p.record]
            _refuse_other_records(store_dir, existing, stored_runs)
        # the default graph, the merge of the named graphs: the new graphs' triples added to it, a replaced graph's
        # old ones that no other graph holds taken out; made again where the store has none, or a stale one
        remerge = existing is not None and not holds_merge(existing)
        if todo:
            staging = _next_generation(store_dir, record)
            try:
                if existing is not None:
                    with _database(store_dir, "write"):
                        existing.backup(str(staging))  # hard links to the live database's immutable files
                    existing = None
                    gc.collect()
                with _database(store_dir, "write"):
                    _write(staging, todo, graphs, provenance, (now or datetime.now(UTC)).isoformat(), remerge)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)  # recorded: a kill here is cleaned by the next load
                raise
            _switch(store_dir, staging, record)
        existing = None

    def rows(selected):
        return tuple(sorted((p.graph, p.kind, p.triples, p.sources) for p in selected))

    return LoadReport(
        added=rows(p for g, p in todo.items() if g not in known),
        replaced=rows(p for g, p in todo.items() if g in known),
        unchanged=rows(p for g, p in planned.items() if g not in todo),
    )


def _refuse_other_records(store_dir: Path, existing: ox.Store, runs: list[_Planned]) -> None:
    """A run in the store whose record differs from the one given in more than its times is not replaced
    silently: two records under one run IRI means one of them is not what that run did."""
    for p in runs:
        with _database(store_dir, "read"):
            graph = existing.quads_for_pattern(None, None, None, ox.NamedNode(p.graph))
            stored = record_digest(q.triple for q in graph)
        if stored != p.record:
            raise InputError(
                f"run <{p.graph}> is already in the store with a different record (not only its times); "
                f"loading {p.sources[0]} would replace it",
                Location(str(store_dir)),
                hint="audit both records; pass --replace to replace the stored one deliberately",
            )


def _all(graphs: Iterable[GraphLoad], provenance: Iterable[Path]) -> Iterator[GraphLoad]:
    """The guideline graphs, then every run of the provenance files, one at a time."""
    yield from graphs
    for path in provenance:
        yield from iter_provenance(path)


def _write(
    staging: Path, todo: dict[str, _Planned], graphs: list[GraphLoad], provenance: list[Path], now: str,
    remerge: bool = False,
) -> None:
    store = ox.Store(str(staging))
    catalog = ox.NamedNode(CATALOG_GRAPH)
    replaced: set[ox.Triple] = set()  # what the graphs being replaced held (and their catalog lines)
    if not remerge:
        for g in sorted(todo):
            replaced.update(q.triple for q in store.quads_for_pattern(None, None, None, ox.NamedNode(g)))
            replaced.update(q.triple for q in store.quads_for_pattern(ox.NamedNode(g), None, None, catalog))
    drops = [f"DROP SILENT GRAPH <{g}>" for g in sorted(todo)]
    drops += [f"DELETE WHERE {{ GRAPH <{CATALOG_GRAPH}> {{ <{g}> ?p ?o }} }}" for g in sorted(todo)]
    store.update(" ;\n".join(drops + (["CLEAR SILENT DEFAULT"] if remerge else [])))
    written: set[str] = set()
    default = ox.DefaultGraph()

    def quads() -> Iterator[ox.Quad]:
        for quad in _graph_quads():
            yield quad
            yield ox.Quad(quad.subject, quad.predicate, quad.object, default)  # the merge: each triple once

    def _graph_quads() -> Iterator[ox.Quad]:
        for load in _all(graphs, provenance):
            if load.graph in todo and load.graph not in written:
                written.add(load.graph)
                name = ox.NamedNode(load.graph)
                yield from (ox.Quad(t.subject, t.predicate, t.object, name) for t in load.triples)
        yield ox.Quad(*(ox.NamedNode(term) for term in MERGED), catalog)
        for p in todo.values():
            g = ox.NamedNode(p.graph)
            yield ox.Quad(g, ox.NamedNode(RDF_TYPE), ox.NamedNode(KIND_CLASSES[p.kind]), catalog)
            yield from (
                ox.Quad(g, ox.NamedNode(DCTERMS + "source"), ox.Literal(s), catalog) for s in p.sources
            )
            yield ox.Quad(g, ox.NamedNode(GKG + "sha256"), ox.Literal(p.digest), catalog)
            yield ox.Quad(g, ox.NamedNode(VOID_TRIPLES), ox.Literal(p.triples), catalog)
            yield ox.Quad(
                g,
                ox.NamedNode(DCTERMS + "modified"),
                ox.Literal(now, datatype=ox.NamedNode(XSD + "dateTime")),
                catalog,
            )

    store.bulk_extend(quads())
    if remerge:  # every named graph into the merge (one update: only the first load into an older store)
        store.update("INSERT { ?s ?p ?o } WHERE { GRAPH ?g { ?s ?p ?o } }")
    for t in replaced:  # a replaced graph's triple leaves the merge unless another graph still holds it
        if not any(not isinstance(q.graph_name, ox.DefaultGraph)
                   for q in store.quads_for_pattern(t.subject, t.predicate, t.object)):
            store.remove(ox.Quad(t.subject, t.predicate, t.object, default))
    count = f"<{MERGED[0]}> <{MERGED_GRAPHS}>"
    store.update(f"DELETE WHERE {{ {count} ?n }} ; DELETE WHERE {{ GRAPH <{CATALOG_GRAPH}> {{ {count} ?n }} }} ; "
                 f"INSERT {{ {count} ?c . GRAPH <{CATALOG_GRAPH}> {{ {count} ?c }} }} WHERE {{ SELECT "
                 f"(COUNT(DISTINCT ?g) AS ?c) WHERE {{ GRAPH <{CATALOG_GRAPH}> {{ ?g <{GKG}sha256> ?d }} }} }}")
    store.flush()
    del store
    gc.collect()  # close RocksDB before the switch


def _next_generation(store_dir: Path, record: Record) -> Path:
    """A new generation's directory, recorded before it exists (so that a kill leaves nothing unrecorded);
    numbered past every ``gen-NNNNNN`` there, recorded or not, so a directory it did not make is never reused."""
    taken = [int(p.name[4:]) for p in store_dir.iterdir() if GENERATION.fullmatch(p.name)]
    taken += [int(g[4:]) for g in record.generations]
    name = f"gen-{max(taken, default=0) + 1:06d}"
    record.generations.append(name)
    write_record(store_dir, record)
    return store_dir / name


def _switch(store_dir: Path, staging: Path, record: Record) -> None:
    """Point ``current`` at the new generation atomically (rename of a symbolic link), then drop the old."""
    link = store_dir / (CURRENT + ".new")
    try:
        if link.is_symlink():
            link.unlink()
        os.symlink(staging.name, link)
        os.replace(link, store_dir / CURRENT)
        sync_directory(store_dir)  # the rename itself reaches the disk
    except OSError as exc:
        raise InputError(f"cannot switch the store to {staging.name}: {exc.strerror or exc}",
                         Location(str(store_dir))) from None
    _remove_abandoned(store_dir, record, staging)


def _remove_abandoned(store_dir: Path, record: Record, live: Path | None) -> Record:
    """Remove the recorded generations other than the live one (a killed load's, the one a switch replaced),
    and nothing else; only ever called under the exclusive lock."""
    keep = live.name if live is not None else None
    for name in record.generations:
        path = store_dir / name
        if name != keep and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
    link = store_dir / (CURRENT + ".new")
    if link.is_symlink():
        link.unlink()
    left = [n for n in record.generations if n != keep and (store_dir / n).is_dir()]  # could not be removed
    cleaned = Record(keep, ([keep] if keep else []) + left)
    if cleaned != record:
        write_record(store_dir, cleaned)
    return cleaned


def graph_catalog(store: ox.Store) -> list[dict[str, str]]:
    """The catalog: per graph its kind class, digest, triple count and sources (sorted by graph)."""
    rows = store.query(f"""SELECT ?g ?kind ?d ?n (GROUP_CONCAT(?src; SEPARATOR=" ") AS ?sources) WHERE {{
        GRAPH <{CATALOG_GRAPH}> {{
          ?g a ?kind ; <{GKG}sha256> ?d ; <{VOID_TRIPLES}> ?n ; <{DCTERMS}source> ?src }}
    }} GROUP BY ?g ?kind ?d ?n ORDER BY ?g""")
    return [{k: s[k].value for k in ("g", "kind", "d", "n", "sources")} for s in rows]
