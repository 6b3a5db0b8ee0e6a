"""Reading the runs of a provenance file for an audit, fast when the file is as ``cohort`` writes it.

A cohort's ``provenance.trig.gz`` is a sequence of blocks ``<RUN> {``, N-Triples lines, ``}``, one per run
(:func:`guidelinekg.provenance.record.provenance_trig`). Parsing it into pyoxigraph terms costs more than a
third of what the replay itself costs, so when the file has exactly that layout its lines are read as
text (:class:`RunRecord` with ``canonical=False``): the audit compares them with the replay's own lines,
and when they are equal they are what the engine writes, so reading them as text loses nothing
(:mod:`guidelinekg.audit.fastpath`). Lines that are not, or a run that cannot be replayed, are parsed
(:meth:`RunRecord.triples`) and audited exactly as before.

Anything else (Turtle from ``recommend --provenance``, prefixes, a default graph, a graph written in two
places, a line that is not N-Triples) is read by :func:`guidelinekg.provenance.inputs.iter_provenance`,
which also reports every malformed file; a file that turns out not to have the layout part-way raises
:class:`NotCohortLayout`, and the auditor starts again with that reader.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyoxigraph as ox

from guidelinekg.content.rdffiles import open_input
from guidelinekg.provenance.inputs import iter_provenance, provenance_file

GKG = "https://w3id.org/guidelinekg/ontology#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
_HEADER = re.compile(rb"<([^<>\"{}|^`\\\x00-\x20]+)> \{\n?")


class NotCohortLayout(Exception):
    """The file is not (or not throughout) in the layout ``cohort`` writes: read it with the generic reader."""


class RunRecord:
    """One run's recorded graph: its IRI and its N-Triples lines (without the final newline).

    ``canonical``: the lines are pyoxigraph's own writing of parsed terms (read by the generic reader),
    so they can be split at their first two spaces; otherwise they are the file's text, which is trusted
    only once it equals the replay's lines. A record read as text keeps the text (``body``) and splits it
    into lines when they are first asked for, so it travels to a worker process as one string.
    """

    def __init__(self, run: str, lines: list[str] | None, canonical: bool, source: str,
                 triples: tuple[ox.Triple, ...] | None = None, body: bytes | None = None):
        self.run, self.canonical, self.source = run, canonical, source
        self._lines, self._triples, self.body = lines, triples, body

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            try:
                self._lines = self.body.decode("utf-8").split("\n")
            except UnicodeDecodeError:
                raise NotCohortLayout(self.run) from None
            self._lines.pop()  # after the last newline
        return self._lines

    def triples(self) -> tuple[ox.Triple, ...]:
        """The lines parsed (raises :class:`NotCohortLayout` if they are not N-Triples)."""
        if self._triples is None:
            try:
                parsed = ox.parse("\n".join(self.lines).encode("utf-8"), format=ox.RdfFormat.N_TRIPLES)
                self._triples = tuple(q.triple for q in parsed)
            except (SyntaxError, ValueError, MemoryError, UnicodeDecodeError):
                raise NotCohortLayout(self.run) from None
        return self._triples

    def canonicalized(self) -> RunRecord:
        """The same graph with its lines as pyoxigraph writes its parsed terms."""
        triples = self.triples()
        lines = [f"{t.subject} {t.predicate} {t.object} ." for t in triples]
        return RunRecord(self.run, lines, True, self.source, triples)

    def portable(self) -> RunRecord:
        """The record as one string of text, for another process (parsed terms do not travel)."""
        body = self.body if self.body is not None else "".join(line + "\n" for line in self.lines).encode("utf-8")
        return RunRecord(self.run, None, self.canonical, self.source, None, body)


def read_runs(path: Path, fast: bool = True, others: list | None = None) -> Iterator[RunRecord]:
    """The runs of a provenance file (or a cohort ``--out`` directory), one at a time; graphs that hold no
    run (the disagreements ``recommend`` records beside several runs) are appended to ``others``.

    Raises:
        InputError: the file is unusable (from :func:`guidelinekg.provenance.inputs.iter_provenance`).
        NotCohortLayout: from the fast reader, part-way; read again with ``fast=False``.
    """
    path = provenance_file(path)
    if fast and _starts_with_block(path):
        yield from _blocks(path)
        return
    for load in iter_provenance(path):
        if load.kind != "run":
            if others is not None:
                others.append(load)
            continue
        lines = [f"{t.subject} {t.predicate} {t.object} ." for t in load.triples]
        yield RunRecord(load.graph, lines, True, str(path), load.triples)


def _starts_with_block(path: Path) -> bool:
    if "".join(path.suffixes[-2:]) not in (".trig.gz", ".trig"):
        return False
    try:
        with open_input(path) as stream:
            first = next(iter(stream), b"")
    except (OSError, EOFError):
        return False  # the generic reader reports it
    return _HEADER.fullmatch(first) is not None


def _blocks(path: Path) -> Iterator[RunRecord]:
    """The blocks of a cohort's TriG, read in large pieces (a Python loop per line costs more than the
    decompression); anything unexpected raises :class:`NotCohortLayout`."""
    seen: set[str] = set()
    buffer, start, searched = b"", 0, 0  # searched: where the search for the block's end goes on
    try:
        with open_input(path) as stream:
            while True:
                piece = stream.read(1 << 22)
                buffer, searched, start = buffer[start:] + piece, max(0, searched - start - 2), 0
                while True:
                    header = _HEADER.match(buffer, start)
                    end = buffer.find(b"\n}\n", max(start, searched))
                    if header is None or end < 0:
                        searched = len(buffer)
                        break
                    if not header.group(0).endswith(b"\n") or end + 1 < header.end():
                        raise NotCohortLayout(str(path))
                    run = header.group(1).decode("utf-8")
                    if run in seen:
                        raise NotCohortLayout(str(path))
                    seen.add(run)
                    yield _record(path, run, buffer[header.end():end + 1])
                    start = searched = end + 3
                if not piece:
                    break
                if len(buffer) - start > 1 << 16 and _HEADER.match(buffer, start) is None:
                    raise NotCohortLayout(str(path))
    except (OSError, EOFError, UnicodeDecodeError):
        raise NotCohortLayout(str(path)) from None
    if buffer[start:].strip() or not seen:
        raise NotCohortLayout(str(path))


def _record(path: Path, run: str, body: bytes) -> RunRecord:
    # the layout cohort writes names the run it is about (else the generic reader reports it)
    needle = f"<{run}> <{RDF_TYPE}> <{GKG}EvaluationContext> .\n".encode()
    if not (body.startswith(needle) or b"\n" + needle in body):
        raise NotCohortLayout(str(path))
    return RunRecord(run, None, False, str(path), body=body)
