"""Load Turtle files into one store, remembering which file said what.

Each file is parsed by pyoxigraph (never fetching anything) into its own named graph, so a node can be
traced back to the file that describes it. Every problem is a :class:`Finding`, the record all the
validation steps (syntax, SHACL, OWL, lints) return; loading keeps going after a bad file so that one
run reports every syntax error.

>>> from guidelinekg.content.resources import vocabulary_files
>>> content, problems = load_files(vocabulary_files())
>>> problems
[]
>>> content.label(NamedNode("https://w3id.org/guidelinekg/ontology#Recommendation"))
'recommendation'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pyoxigraph import BlankNode, Literal, NamedNode, Quad, RdfFormat, Store, Triple, parse

from guidelinekg.errors import Location

SEVERITIES = ("error", "warning", "info")
KINDS = ("input", "shacl", "owl", "lint")

RDF_TYPE = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
RDFS_LABEL = NamedNode("http://www.w3.org/2000/01/rdf-schema#label")
SKOS_PREFLABEL = NamedNode("http://www.w3.org/2004/02/skos/core#prefLabel")

# Used for compacting IRIs in reports when the files do not declare them.
STANDARD_PREFIXES = {
    "gkg": "https://w3id.org/guidelinekg/ontology#",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "sh": "http://www.w3.org/ns/shacl#",
}

_LOCAL_NAME = re.compile(r"[\w\-]*(?:\.[\w\-]+)*")  # a local name that needs no escaping
_PARSER_PREFIX = re.compile(r"^Parser error (?:at|between) [^:]*: ")


@dataclass(frozen=True)
class Finding:
    """One problem found by a validation step.

    ``severity`` is one of :data:`SEVERITIES`, ``kind`` one of :data:`KINDS`. ``focus`` is the node's
    compacted IRI and ``focus_label`` its label; ``path`` is the compacted property path.
    """

    severity: str
    kind: str
    code: str
    message: str
    file: str = ""
    line: int | None = None
    column: int | None = None
    focus: str = ""
    focus_label: str = ""
    path: str = ""
    value: str = ""

    @property
    def location(self) -> str:
        return str(Location(self.file or "-", self.line, self.column))

    def sort_key(self) -> tuple:
        return (
            self.file or "~",
            KINDS.index(self.kind),
            SEVERITIES.index(self.severity),
            self.code,
            self.line or 0,
            self.focus_label,
            self.focus,
            self.path,
            self.message,
            self.value,
        )

    def as_dict(self) -> dict:
        """Every field, ``None`` for an unknown line or column (one JSON shape for all findings)."""
        return asdict(self)


@dataclass(frozen=True)
class SourceFile:
    """A loaded file: its path, how reports name it, and the named graph holding its triples."""

    path: Path
    display: str
    graph: NamedNode
    triples: int


def display_path(path: Path) -> str:
    """Name a file relative to the working directory when it lies below it, else absolutely."""
    absolute = path.resolve()
    try:
        return str(absolute.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(absolute)


@dataclass
class Content:
    """The union of the loaded files, one named graph each, with the prefixes they declare."""

    store: Store = field(default_factory=Store)
    files: list[SourceFile] = field(default_factory=list)
    prefixes: dict[str, str] = field(default_factory=lambda: dict(STANDARD_PREFIXES))
    _lines: dict[tuple[str, str], int] = field(default_factory=dict)

    def triples(self) -> Iterator[Triple]:
        """Every triple of every file (a triple stated in two files comes twice)."""
        for quad in self.store.quads_for_pattern(None, None, None, None):
            yield quad.triple

    def objects(self, subject, predicate) -> list:
        """Distinct objects of ``subject predicate ?o`` over all files, in a stable order; none for a literal
        (a value written where a node was expected, e.g. ``gkg:intervalMin "1 week"``: the shapes report it)."""
        if isinstance(subject, Literal):
            return []
        found = {q.object for q in self.store.quads_for_pattern(subject, predicate, None, None)}
        return sorted(found, key=str)

    def subjects_with(self, predicate) -> list:
        """Distinct subjects that have ``predicate``, in a stable order."""
        return sorted({q.subject for q in self.store.quads_for_pattern(None, predicate, None, None)}, key=str)

    def subjects(self, predicate, obj) -> list:
        found = {q.subject for q in self.store.quads_for_pattern(None, predicate, obj, None)}
        return sorted(found, key=str)

    def file_of(self, node, where: tuple | None = None) -> SourceFile | None:
        """The first loaded file in which ``node`` is typed (else a subject, else mentioned at all); with
        ``where`` (predicate, object or None), the first that states that, if any does."""
        # the file that types the node (where it is defined) before one that only adds to it
        patterns = [(node, RDF_TYPE, None), (node, None, None), (None, None, node)]
        if where is not None:
            patterns.insert(0, (node, *where))
        for pattern in patterns:
            graphs = {q.graph_name.value for q in self.store.quads_for_pattern(*pattern, None)}
            for source in self.files:
                if source.graph.value in graphs:
                    return source
        return None

    def locate(self, node, where: tuple | None = None) -> tuple[str, int | None]:
        """``(display path, line)`` of the file describing ``node`` (stating ``where``, a (predicate,
        object) pair, when given); line is the first line of that file starting with the node's name,
        ``None`` when there is none (blank nodes, unusual layouts)."""
        source = self.file_of(node, where)
        if source is None:
            return "", None
        line = self._lines.get((source.display, node.value)) if isinstance(node, NamedNode) else None
        return source.display, line

    def finding(self, node, severity: str, kind: str, code: str, message: str, where: tuple | None = None,
                **fields) -> Finding:
        """A :class:`Finding` about ``node``, located at the file and line that describe it (that state
        ``where``, a (predicate, object) pair about it, when given)."""
        file, line = self.locate(node, where)
        return Finding(
            severity,
            kind,
            code,
            message,
            file=file,
            line=line,
            focus=self.compact(node),
            focus_label=self.label(node),
            **fields,
        )

    def compact(self, term) -> str:
        """``gkg:strength`` for an IRI under a known prefix, else the N-Triples form."""
        if isinstance(term, NamedNode):
            best = ""
            for prefix, namespace in self.prefixes.items():
                local = term.value[len(namespace) :]
                longer = len(namespace) > len(self.prefixes.get(best, ""))
                if longer and term.value.startswith(namespace) and _LOCAL_NAME.fullmatch(local):
                    best = prefix
            return f"{best}:{term.value[len(self.prefixes[best]) :]}" if best else f"<{term.value}>"
        if isinstance(term, Literal):
            return term.value
        return str(term)

    def label(self, term, _depth: int = 0) -> str:
        """A human name: rdfs:label (English first), skos:prefLabel, or the compacted IRI.

        A blank node is named after the node that points to it, e.g. ``over 2 hours / gkg:duration``.
        """
        if isinstance(term, BlankNode):
            parents = sorted(self.store.quads_for_pattern(None, None, term, None), key=str)
            if parents and _depth < 3:
                return f"{self.label(parents[0].subject, _depth + 1)} / {self.compact(parents[0].predicate)}"
            return "[]"
        if isinstance(term, Literal):
            return term.value
        for predicate in (RDFS_LABEL, SKOS_PREFLABEL):
            labels = [o for o in self.objects(term, predicate) if isinstance(o, Literal)]
            if labels:
                labels.sort(key=lambda o: (o.language not in ("en", None), o.language or "", o.value))
                return labels[0].value
        return self.compact(term)


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Directories become the Turtle files below them (``*.ttl``, ``*.turtle``, any case; sorted); duplicates
    are dropped.
    :func:`unread_rdf_files` names the other RDF files there, which are not read."""
    seen: set[Path] = set()
    result = []
    for path in paths:
        expanded = sorted(f for f in path.rglob("*") if _is_turtle(f) and f.is_file()) if path.is_dir() else [path]
        for item in expanded:
            key = item.resolve()
            if key not in seen:
                seen.add(key)
                result.append(item)
    return result


# Extensions of RDF serializations other than Turtle (Protégé saves RDF/XML as .owl by default).
# (.xml is left out: Protégé writes an XML catalog, catalog-v001.xml, next to every ontology it saves.)
OTHER_RDF_SUFFIXES = (".owl", ".rdf", ".nt", ".nq", ".trig", ".jsonld", ".json-ld", ".n3", ".ofn", ".omn", ".owx")
TURTLE_SUFFIXES = (".ttl", ".turtle")


def _is_turtle(path: Path) -> bool:
    return path.suffix.lower() in TURTLE_SUFFIXES


def unread_rdf_files(paths: Iterable[Path]) -> list[Path]:
    """Files below the given directories that look like RDF but are not Turtle, so are not read."""
    return sorted(f for p in paths if p.is_dir() for f in p.rglob("*")
                  if f.is_file() and f.suffix.lower() in OTHER_RDF_SUFFIXES)


def load_files(paths: Sequence[Path]) -> tuple[Content, list[Finding]]:
    """Parse Turtle files into one :class:`Content`; return it with the problems met.

    Args:
        paths: files or directories (searched for ``*.ttl``).

    Returns:
        The content (files that failed are left out) and a list of ``kind="input"`` findings: a
        missing or unreadable file, a file that is not Turtle, a syntax error (first per file, with
        line and column).

    A file's base IRI is its ``file:`` URI; nothing is ever fetched (``owl:imports`` is data here).
    """
    content = Content()
    problems: list[Finding] = []
    for path in expand_paths(paths):
        display = display_path(path)
        if not path.exists():
            problems.append(Finding("error", "input", "missing-file", "no such file", file=display))
            continue
        if not _is_turtle(path):
            problems.append(
                Finding(
                    "error",
                    "input",
                    "not-turtle",
                    "not a Turtle file (expected a .ttl file or a directory)",
                    file=display,
                )
            )
            continue
        graph = NamedNode(path.resolve().as_uri())
        try:
            parser = parse(path=path, format=RdfFormat.TURTLE, base_iri=graph.value, rename_blank_nodes=True)
            quads = [Quad(q.subject, q.predicate, q.object, graph) for q in parser]
        except SyntaxError as exc:
            message = _PARSER_PREFIX.sub("", exc.msg or str(exc))
            problems.append(
                Finding(
                    "error",
                    "input",
                    "syntax-error",
                    message,
                    file=display,
                    line=exc.lineno,
                    column=exc.offset,
                )
            )
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(
                Finding("error", "input", "unreadable", f"cannot read the file: {exc}", file=display)
            )
            continue
        except MemoryError as exc:  # the parser's buffer limit: one term or line of more than 16 MiB
            message = f"cannot read the file: {exc} (a single line or literal is too long for the RDF parser)"
            problems.append(
                Finding("error", "input", "unreadable", message, file=display, line=_long_line(path))
            )
            continue
        content.store.extend(quads)
        source = SourceFile(path, display, graph, len(quads))
        content.files.append(source)
        for prefix, namespace in parser.prefixes.items():
            content.prefixes.setdefault(prefix, namespace)
        content._lines.update(_subject_lines(path, display, parser.prefixes, graph.value))
    return content, problems


def _long_line(path: Path, limit: int = 16 * 1024 * 1024) -> int | None:
    """The number of the first line longer than the parser's buffer, if one is."""
    with path.open("rb") as stream:
        for number, line in enumerate(stream, start=1):
            if len(line) > limit:
                return number
    return None


def _subject_lines(
    path: Path, display: str, prefixes: dict[str, str], base: str
) -> dict[tuple[str, str], int]:
    """Map each IRI that starts a line (``ex:rec-1 a ...``) to the first such line number."""
    lines: dict[tuple[str, str], int] = {}
    text = path.read_text(encoding="utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        match = re.match(r"(<[^>\s]*>|[A-Za-z][\w\-.]*:[\w\-.]*|:[\w\-.]*)(?=[\s;,]|$)", line)
        if not match:
            continue
        token = match.group(1)
        if token.startswith("<"):
            iri = token[1:-1] if ":" in token else base.rsplit("/", 1)[0] + "/" + token[1:-1]
        else:
            prefix, _, local = token.partition(":")
            if prefix not in prefixes:
                continue
            iri = prefixes[prefix] + local
        lines.setdefault((display, iri), number)
    return lines
