"""An on-disk store of run provenance and guideline versions, one named graph each (Oxigraph, RocksDB).

Graphs in the store:

* one per evaluation run: graph IRI = run IRI (``urn:guidelinekg:run:...``), holding the run's provenance
  as ``recommend --provenance`` or ``cohort`` wrote it;
* one per guideline version: graph IRI = version IRI, holding that version's content files;
* the shipped vocabulary in :data:`VOCABULARY_GRAPH`;
* :data:`CATALOG_GRAPH`: for each graph its kind, sources, triple count and a digest of its content, so
  that loading the same thing again is seen and skipped.

Layout of ``--store DIR``: ``DIR/current`` is a symbolic link to ``DIR/gen-N``, the Oxigraph database;
``DIR/guidelinekg.lock`` is the lock file. A load never writes the current database: it takes a
checkpoint of it (``Store.backup``: hard links, instant), writes the new graphs there in bulk, flushes,
and then points ``current`` at it with one ``rename(2)``. A crash, a kill or a malformed input at any
moment leaves ``current`` as it was; the next load removes the abandoned generation. This holds for any
size of load, in memory bounded by the largest single run (an N-Quads file is read graph by graph).

``serve`` holds a shared lock on the store and ``load`` an exclusive one (:func:`store_lock`): RocksDB
lets a read-only instance open while another process writes, which Oxigraph calls undefined behaviour.
"""

from __future__ import annotations

import fcntl
import gc
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyoxigraph as ox

from guidelinekg.errors import InputError, Location
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

GKG = "https://w3id.org/guidelinekg/ontology#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
DCTERMS = "http://purl.org/dc/terms/"
VOID_TRIPLES = "http://rdfs.org/ns/void#triples"
XSD = "http://www.w3.org/2001/XMLSchema#"

DEFAULT_STORE = Path(".guidelinekg/store")
CATALOG_GRAPH = "urn:guidelinekg:store:catalog"
LOCK_NAME = "guidelinekg.lock"
CURRENT = "current"

# The kind of each graph, recorded in the catalog as the graph's rdf:type.
KIND_CLASSES = {
    "run": GKG + "EvaluationContext",
    "guideline-version": GKG + "GuidelineVersion",
    "vocabulary": "http://www.w3.org/2002/07/owl#Ontology",
}


@dataclass(frozen=True)
class LoadReport:
    """What a load did: ``(graph, kind, triples, sources)`` per graph added, replaced, or already there."""

    added: tuple[tuple[str, str, int, tuple[str, ...]], ...]
    replaced: tuple[tuple[str, str, int, tuple[str, ...]], ...]
    unchanged: tuple[tuple[str, str, int, tuple[str, ...]], ...]


class StoreBusyError(InputError):
    """Another process holds the store (a server reading it, or another load writing it)."""


# --- the store directory --------------------------------------------------------------------------------


@contextmanager
def store_lock(store_dir: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold the store's advisory lock: exclusive to write (``load``), shared to read (``serve``).

    Raises:
        StoreBusyError: another process holds it in the conflicting mode.
    """
    store_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(store_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreBusyError(
                "the store is in use by another process"
                + (" (a running 'guidelinekg serve', or another load)" if exclusive else " (a load)"),
                Location(str(store_dir)),
                hint="stop the server before loading, and serve again afterwards"
                if exclusive
                else "wait for the load to finish",
            ) from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def database_path(store_dir: Path) -> Path:
    """The Oxigraph database of a store: ``DIR/current`` resolved (or ``DIR`` itself when it is a plain
    Oxigraph database, e.g. one written by the ``oxigraph`` tool).

    Raises:
        InputError: no store there.
    """
    current = store_dir / CURRENT
    if current.is_dir():
        return current.resolve()
    if (store_dir / "CURRENT").is_file():  # RocksDB's own marker: a plain database
        return store_dir
    raise InputError(
        "no store here",
        Location(str(store_dir)),
        hint="create it with 'guidelinekg load --store DIR --guidelines [PROVENANCE ...]'",
    )


def open_read_only(store_dir: Path) -> ox.Store:
    """The store opened read-only: no write is possible through this handle."""
    path = database_path(store_dir)
    try:
        return ox.Store.read_only(str(path))
    except OSError as exc:
        raise InputError(f"cannot open the store: {exc}", Location(str(path))) from None


# --- writing --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Planned:
    graph: str
    kind: str
    sources: tuple[str, ...]
    digest: str
    triples: int


def load_store(
    store_dir: Path, *, graphs: list[GraphLoad] = (), provenance: list[Path] = (), now: datetime | None = None
) -> LoadReport:
    """Put guideline graphs and the runs of provenance files into the store, all or nothing.

    A graph already in the store with the same digest is left alone; one with other content is replaced.
    Provenance files are read twice (to plan, then to write), never held whole in memory.

    Raises:
        StoreBusyError: a server or another load holds the store.
        InputError: an unusable input (then nothing is written), or the same graph given twice with
            different content.
    """
    with store_lock(store_dir, exclusive=True):
        _remove_abandoned(store_dir)
        planned: dict[str, _Planned] = {}
        for load in _all(graphs, provenance):
            item = _Planned(load.graph, load.kind, load.sources, load.digest(), len(set(load.triples)))
            other = planned.setdefault(load.graph, item)
            if other.digest != item.digest:
                raise InputError(
                    f"<{load.graph}> is given twice with different content ({other.sources[0]}, "
                    f"{item.sources[0]})",
                    hint="load one of them (a re-run differs in its times)",
                )
        current = store_dir / CURRENT
        known: dict[str, str] = {}
        if current.exists():
            existing = ox.Store(str(current.resolve()))
            known = {
                s["g"].value: s["d"].value
                for s in existing.query(
                    f"SELECT ?g ?d WHERE {{ GRAPH <{CATALOG_GRAPH}> {{ ?g <{GKG}sha256> ?d }} }}"
                )
            }
        todo = {g: p for g, p in planned.items() if known.get(g) != p.digest}
        if todo:
            staging = _next_generation(store_dir)
            if current.exists():
                existing.flush()
                existing.backup(str(staging))  # hard links to the current database's immutable files
                del existing
                gc.collect()
            _write(staging, todo, graphs, provenance, (now or datetime.now(UTC)).isoformat())
            _switch(store_dir, staging)
        elif current.exists():
            del existing

    def rows(selected):
        return tuple(sorted((p.graph, p.kind, p.triples, p.sources) for p in selected))

    return LoadReport(
        added=rows(p for g, p in todo.items() if g not in known),
        replaced=rows(p for g, p in todo.items() if g in known),
        unchanged=rows(p for g, p in planned.items() if g not in todo),
    )


def _all(graphs: Iterable[GraphLoad], provenance: Iterable[Path]) -> Iterator[GraphLoad]:
    """The guideline graphs, then every run of the provenance files, one at a time."""
    yield from graphs
    for path in provenance:
        yield from iter_provenance(path)


def _write(
    staging: Path, todo: dict[str, _Planned], graphs: list[GraphLoad], provenance: list[Path], now: str
) -> None:
    store = ox.Store(str(staging))
    drops = [f"DROP SILENT GRAPH <{g}>" for g in sorted(todo)]
    drops += [f"DELETE WHERE {{ GRAPH <{CATALOG_GRAPH}> {{ <{g}> ?p ?o }} }}" for g in sorted(todo)]
    store.update(" ;\n".join(drops))
    written: set[str] = set()

    def quads() -> Iterator[ox.Quad]:
        for load in _all(graphs, provenance):
            if load.graph in todo and load.graph not in written:
                written.add(load.graph)
                name = ox.NamedNode(load.graph)
                yield from (ox.Quad(t.subject, t.predicate, t.object, name) for t in load.triples)
        catalog = ox.NamedNode(CATALOG_GRAPH)
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
    store.flush()
    del store
    gc.collect()  # close RocksDB before the switch


def _next_generation(store_dir: Path) -> Path:
    numbers = [int(p.name[4:]) for p in store_dir.glob("gen-*") if p.name[4:].isdigit()]
    return store_dir / f"gen-{max(numbers, default=0) + 1:06d}"


def _switch(store_dir: Path, staging: Path) -> None:
    """Point ``current`` at the new generation atomically (rename of a symbolic link), then drop the old."""
    current = store_dir / CURRENT
    previous = current.resolve() if current.exists() else None
    link = store_dir / (CURRENT + ".new")
    if link.is_symlink():
        link.unlink()
    os.symlink(staging.name, link)
    os.replace(link, current)
    fd = os.open(store_dir, os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself reaches the disk
    finally:
        os.close(fd)
    if previous is not None and previous != staging.resolve():
        shutil.rmtree(previous, ignore_errors=True)


def _remove_abandoned(store_dir: Path) -> None:
    """Remove generations a killed load left behind (only ever called under the exclusive lock)."""
    current = (store_dir / CURRENT).resolve() if (store_dir / CURRENT).exists() else None
    for p in store_dir.glob("gen-*"):
        if p.resolve() != current:
            shutil.rmtree(p, ignore_errors=True)
    (store_dir / (CURRENT + ".new")).unlink(missing_ok=True)


def graph_catalog(store: ox.Store) -> list[dict[str, str]]:
    """The catalog: per graph its kind class, digest, triple count and sources (sorted by graph)."""
    rows = store.query(f"""SELECT ?g ?kind ?d ?n (GROUP_CONCAT(?src; SEPARATOR=" ") AS ?sources) WHERE {{
        GRAPH <{CATALOG_GRAPH}> {{
          ?g a ?kind ; <{GKG}sha256> ?d ; <{VOID_TRIPLES}> ?n ; <{DCTERMS}source> ?src }}
    }} GROUP BY ?g ?kind ?d ?n ORDER BY ?g""")
    return [{k: s[k].value for k in ("g", "kind", "d", "n", "sources")} for s in rows]
