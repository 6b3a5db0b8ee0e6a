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
import hashlib
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyoxigraph as ox

from .errors import InputError, Location
from .rdffiles import open_input, rdf_format

GKG = "https://w3id.org/guidelinekg/ontology#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
DCTERMS = "http://purl.org/dc/terms/"
VOID_TRIPLES = "http://rdfs.org/ns/void#triples"
XSD = "http://www.w3.org/2001/XMLSchema#"

DEFAULT_STORE = Path(".guidelinekg/store")
VOCABULARY_GRAPH = "https://w3id.org/guidelinekg/ontology"
CATALOG_GRAPH = "urn:guidelinekg:store:catalog"
LOCK_NAME = "guidelinekg.lock"
CURRENT = "current"

# The kind of each graph, recorded in the catalog as the graph's rdf:type.
KIND_CLASSES = {
    "run": GKG + "EvaluationContext",
    "guideline-version": GKG + "GuidelineVersion",
    "vocabulary": "http://www.w3.org/2002/07/owl#Ontology",
}
_PARSER_PREFIX = re.compile(r"^Parser error (?:at line \d+ )?(?:at|between) [^:]*: ")
PROVENANCE_EXTENSIONS = (".ttl", ".turtle", ".nt", ".nq", ".trig")
COHORT_PROVENANCE = ("provenance.trig.gz", "provenance.nq")  # in a cohort --out directory (.nq: older runs)


@dataclass(frozen=True)
class GraphLoad:
    """The full content of one named graph, parsed."""

    graph: str
    kind: str
    sources: tuple[str, ...]
    triples: tuple[ox.Triple, ...] = field(repr=False)
    source_digest: str | None = None

    def digest(self) -> str:
        """What identifies the content: ``source_digest`` (of the source files) when given, since blank
        node labels change from parse to parse; else an order-free digest of the triples."""
        if self.source_digest:
            return self.source_digest
        total = 0
        for t in set(self.triples):
            total += int.from_bytes(
                hashlib.sha256(f"{t.subject} {t.predicate} {t.object}".encode()).digest(), "big"
            )
        return f"{total % (1 << 256):064x}"


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


# --- reading inputs -------------------------------------------------------------------------------------


def _parse(path: Path, fmt: ox.RdfFormat, base_iri: str | None = None) -> Iterator[ox.Quad]:
    try:
        with open_input(path) as stream:
            yield from ox.parse(input=stream, format=fmt, base_iri=base_iri)
    except SyntaxError as exc:
        message = _PARSER_PREFIX.sub("", exc.msg or str(exc))
        raise InputError(
            f"{fmt.name} syntax error: {message}", Location(str(path), exc.lineno, exc.offset)
        ) from None
    except (OSError, EOFError) as exc:  # gzip: BadGzipFile is an OSError, a truncated file an EOFError
        raise InputError(f"cannot read: {getattr(exc, 'strerror', None) or exc}", Location(str(path))) from None


def _runs_in(triples: Iterable[ox.Triple]) -> list[str]:
    ctx = ox.NamedNode(GKG + "EvaluationContext")
    return sorted(
        {
            t.subject.value
            for t in triples
            if t.predicate.value == RDF_TYPE and t.object == ctx and isinstance(t.subject, ox.NamedNode)
        }
    )


def provenance_file(path: Path) -> Path:
    """The provenance file an argument names: the file, or ``provenance.trig.gz`` of a cohort ``--out`` dir."""
    if path.is_dir():
        for name in COHORT_PROVENANCE:
            if (path / name).is_file():
                return path / name
        raise InputError(
            "a directory without provenance.trig.gz",
            Location(str(path)),
            hint="give a cohort --out directory, a provenance.trig.gz, or a 'recommend --provenance' file",
        )
    if path.suffix in (".jsonl", ".json"):
        raise InputError(
            "results (JSON) carry no provenance graph",
            Location(str(path)),
            hint=f"use the run's provenance: {path.parent / COHORT_PROVENANCE[0]} or 'recommend --provenance'",
        )
    if not path.is_file():
        raise InputError("no such file", Location(str(path)))
    return path


def iter_provenance(path: Path) -> Iterator[GraphLoad]:
    """The runs in a provenance file, one :class:`GraphLoad` at a time.

    A Turtle or N-Triples file holds one run; its graph is the run IRI found in it (the subject typed
    ``gkg:EvaluationContext``). An N-Quads or TriG file (``cohort``'s ``provenance.trig.gz``) holds one run per
    named graph, named by the run IRI; it is read graph by graph, so each graph must be contiguous.

    Raises:
        InputError: unreadable, malformed (``file:line:column``), no run, several runs in one triple
            file, a graph not describing the run it is named after, or a graph split in the file.
    """
    path = provenance_file(path).resolve()
    fmt = rdf_format(path, PROVENANCE_EXTENSIONS)
    if fmt is None:
        raise InputError(
            f"unknown provenance format {''.join(path.suffixes)!r}",
            Location(str(path)),
            hint="use .ttl (recommend --provenance), .nt, .nq (cohort provenance.trig.gz) or .trig, each "
            "optionally gzip-compressed (.gz)",
        )
    seen: set[str] = set()
    graph: str | None = None
    block: list[ox.Triple] = []
    for q in _parse(path, fmt):
        name = None if isinstance(q.graph_name, ox.DefaultGraph) else q.graph_name.value
        if name != graph and block:
            yield _run_block(path, graph, block, seen)
            block = []
        graph = name
        block.append(q.triple)
    if block or not seen:
        yield _run_block(path, graph, block, seen)


def _run_block(path: Path, graph: str | None, triples: list[ox.Triple], seen: set[str]) -> GraphLoad:
    runs = _runs_in(triples)
    if graph is None:
        if len(runs) != 1:
            raise InputError(
                f"expected exactly one run (a gkg:EvaluationContext) in the default graph, found {len(runs)}"
                + (f": {', '.join(runs)}" if runs else ""),
                Location(str(path)),
                hint="give one run's provenance ('recommend --provenance'), or N-Quads with a graph per run",
            )
        graph = runs[0]
    elif graph not in runs:
        raise InputError(
            f"named graph <{graph}> does not describe the run it is named after",
            Location(str(path)),
            hint="each graph of a cohort provenance file must be named by its run IRI",
        )
    if graph in seen:
        raise InputError(
            f"<{graph}> appears in more than one place in the file",
            Location(str(path)),
            hint="write each run's quads together (as 'cohort' does)",
        )
    seen.add(graph)
    return GraphLoad(graph, "run", (str(path),), tuple(triples))


def read_provenance(path: Path) -> list[GraphLoad]:
    """Every run of a provenance file (see :func:`iter_provenance`)."""
    return list(iter_provenance(path))


def read_guidelines(content: list[Path] | None = None) -> list[GraphLoad]:
    """The vocabulary graph and one graph per guideline version.

    Content files are grouped by directory (the shipped layout: ``ontology/guidelines/NAME/*.ttl``, one
    version each); each group must declare exactly one ``gkg:GuidelineVersion``, whose IRI names the graph.

    Args:
        content: Turtle files or directories of them; ``None`` for the shipped guidelines.
    """
    from .resources import guideline_files, vocabulary_files

    files = [f.resolve() for f in (guideline_files() if content is None else _expand(content))]
    vocabulary = [t for f in vocabulary_files() for t in _turtle_triples(f)]
    loads = [
        GraphLoad(
            VOCABULARY_GRAPH,
            "vocabulary",
            tuple(str(f) for f in vocabulary_files()),
            tuple(vocabulary),
            _files_digest(vocabulary_files()),
        )
    ]
    groups: dict[Path, list[Path]] = {}
    for f in files:
        groups.setdefault(f.parent, []).append(f)
    version_cls = ox.NamedNode(GKG + "GuidelineVersion")
    for directory, members in sorted(groups.items()):
        triples = [t for f in sorted(members) for t in _turtle_triples(f)]
        versions = sorted(
            {t.subject.value for t in triples if t.predicate.value == RDF_TYPE and t.object == version_cls}
        )
        if len(versions) != 1:
            raise InputError(
                f"guideline content must declare exactly one gkg:GuidelineVersion per directory, found "
                f"{len(versions)}" + (f": {', '.join(versions)}" if versions else ""),
                Location(str(directory)),
                hint="keep each guideline version's files in a directory of their own",
            )
        loads.append(
            GraphLoad(
                versions[0],
                "guideline-version",
                tuple(str(f) for f in sorted(members)),
                tuple(triples),
                _files_digest(sorted(members)),
            )
        )
    return loads


def _files_digest(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.name} {hashlib.sha256(f.read_bytes()).hexdigest()}\n".encode())
    return digest.hexdigest()


def _expand(paths: list[Path]) -> list[Path]:
    out = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(p.rglob("*.ttl")))
        elif p.is_file():
            out.append(p)
        else:
            raise InputError("no such file", Location(str(p)))
    return out


def _turtle_triples(path: Path) -> list[ox.Triple]:
    return [q.triple for q in _parse(path, ox.RdfFormat.TURTLE, base_iri=path.resolve().as_uri())]


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
