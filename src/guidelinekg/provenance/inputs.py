"""Reading what goes into the provenance store: run provenance files and guideline content, as one
:class:`GraphLoad` per named graph.

Split from :mod:`guidelinekg.provenance.store` (which writes the store and re-exports these names). A run
provenance file holds one run (Turtle, N-Triples) or one named graph per run (N-Quads, TriG, as
``cohort`` writes it), optionally gzip-compressed; guideline content is read one version per directory.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox

from guidelinekg.errors import InputError, Location, no_such_path
from guidelinekg.content.rdffiles import open_input, rdf_format

GKG = "https://w3id.org/guidelinekg/ontology#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
VOCABULARY_GRAPH = "https://w3id.org/guidelinekg/ontology"
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
    except MemoryError as exc:  # the parser's buffer limit: one term or line of more than 16 MiB
        raise InputError(f"cannot read: {exc}", Location(str(path)),
                         hint="a single line or literal is too long for the RDF parser") from None


def _runs_in(triples: Iterable[ox.Triple]) -> list[str]:
    ctx = ox.NamedNode(GKG + "EvaluationContext")
    return sorted(
        {
            t.subject.value
            for t in triples
            if t.predicate.value == RDF_TYPE and t.object == ctx and isinstance(t.subject, ox.NamedNode)
        }
    )


def _provenance_named_in(path: Path) -> str | None:
    """The provenance file a ``recommend`` JSON report names (``provenance.file``), if it is one and small."""
    import json

    try:
        if path.stat().st_size > 64 * 2**20:
            return None
        report = json.loads(path.read_bytes())
        named = report.get("provenance", {}).get("file") if isinstance(report, dict) else None
    except (OSError, ValueError, AttributeError):
        return None
    return named if isinstance(named, str) and named else None


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
        named = _provenance_named_in(path)
        raise InputError(
            "results (JSON) carry no provenance graph",
            Location(str(path)),
            hint=(f"audit the provenance this report names: {named}" if named else
                  f"audit the run's provenance: a cohort's {path.parent / COHORT_PROVENANCE[0]}, or the file "
                  "'recommend --provenance' wrote"),
        )
    if not path.exists():
        raise no_such_path(path)
    if not path.is_file():
        raise InputError("not a regular file", Location(str(path)))
    return path


def iter_provenance(path: Path) -> Iterator[GraphLoad]:
    """The runs in a provenance file, one :class:`GraphLoad` at a time.

    A Turtle or N-Triples file holds one run; its graph is the run IRI found in it (the subject typed
    ``gkg:EvaluationContext``). An N-Quads or TriG file (``cohort``'s ``provenance.trig.gz``) holds one run per
    named graph, named by the run IRI; it is read graph by graph, so each graph must be contiguous. A graph
    named ``urn:guidelinekg:disagreements:...`` (``recommend`` with several guidelines) holds no run: it is
    given with kind ``disagreements``.

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


DISAGREEMENTS_PREFIX = "urn:guidelinekg:disagreements:"  # the graph recommend writes beside several runs


def _run_block(path: Path, graph: str | None, triples: list[ox.Triple], seen: set[str]) -> GraphLoad:
    runs = _runs_in(triples)
    if graph is not None and graph.startswith(DISAGREEMENTS_PREFIX) and not runs:
        if graph in seen:
            raise InputError(f"<{graph}> appears in more than one place in the file", Location(str(path)))
        seen.add(graph)
        return GraphLoad(graph, "disagreements", (str(path),), tuple(triples))
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
    from guidelinekg.engine.knowledge import derived_knowledge_triples
    from guidelinekg.content.resources import guideline_files, vocabulary_files
    from guidelinekg.engine.rules import load_rules

    rules = load_rules()
    knowledge_rules = [r for r in rules.rules if r.scope == "knowledge"]
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
        # what the rules read besides the content (e.g. gkg:memberCount), derived as an evaluation does
        triples += derived_knowledge_triples(vocabulary + triples, rules)
        loads.append(
            GraphLoad(
                versions[0],
                "guideline-version",
                tuple(str(f) for f in sorted(members)),
                tuple(triples),
                _files_digest(sorted(members), extra=[f"{r.name} {r.sha256}" for r in knowledge_rules]),
            )
        )
    return loads


def _files_digest(files: list[Path], extra: Iterable[str] = ()) -> str:
    """Of the files' names and contents, and of ``extra`` lines (the knowledge rules a graph's derived
    triples come from, so changing one reloads the graph)."""
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.name} {hashlib.sha256(f.read_bytes()).hexdigest()}\n".encode())
    for line in extra:
        digest.update(f"{line}\n".encode())
    return digest.hexdigest()


def _expand(paths: list[Path]) -> list[Path]:
    from guidelinekg.content.loading import expand_paths

    out = []
    for p in paths:
        if p.is_dir():
            out.extend(expand_paths([p]))  # the Turtle files, as validate and recommend --content read them
        elif p.is_file():
            out.append(p)
        else:
            raise no_such_path(p)
    return out


def _turtle_triples(path: Path) -> list[ox.Triple]:
    return [q.triple for q in _parse(path, ox.RdfFormat.TURTLE, base_iri=path.resolve().as_uri())]
