"""RDF files on disk: the format from the file name, and gzip-compressed files read transparently.

A cohort writes its provenance as ``provenance.trig.gz`` (its N-Triples lines compress about 12x, and a million
patients' provenance is tens of gigabytes uncompressed); ``load``, ``audit`` and ``query`` read any
RDF file named ``NAME.EXT`` or ``NAME.EXT.gz`` the same way. Decompression streams; pyoxigraph parses
from the stream.

Compression is standard gzip done by Intel's ISA-L (the ``isal`` package): on a cohort chunk's provenance
it is 5x faster than the standard library's zlib at level 1 (30 vs 153 us per patient) and its output
is smaller (4.9 vs 5.3 kB per patient); decompression is 4.5x faster. Any gzip reader reads the files.
Reading a damaged file raises ``OSError`` (not gzip, or corrupt data: ISA-L's and zlib's own errors are
turned into it) or ``EOFError`` (truncated), which the commands report as "cannot read".
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pyoxigraph as ox
from isal import igzip, igzip_lib

FORMATS = {
    ".ttl": ox.RdfFormat.TURTLE,
    ".turtle": ox.RdfFormat.TURTLE,
    ".nt": ox.RdfFormat.N_TRIPLES,
    ".nq": ox.RdfFormat.N_QUADS,
    ".trig": ox.RdfFormat.TRIG,
    ".jsonld": ox.RdfFormat.JSON_LD,
    ".json": ox.RdfFormat.JSON_LD,
    ".rdf": ox.RdfFormat.RDF_XML,
}


def extension(path: Path) -> str:
    """The format extension of a file name, ignoring a final ``.gz``: ``a.nq.gz`` -> ``.nq``.

    >>> extension(Path("out/provenance.trig.gz")), extension(Path("run.TTL")), extension(Path("x.gz"))
    ('.trig', '.ttl', '')
    """
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def rdf_format(path: Path, allowed: tuple[str, ...] | None = None) -> ox.RdfFormat | None:
    """The RDF format a file's name says (None if unknown or not among ``allowed`` extensions)."""
    ext = extension(path)
    if allowed is not None and ext not in allowed:
        return None
    return FORMATS.get(ext)


def is_gzip(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


class _GzipInput:
    """A decompressing stream whose corrupt-data errors are ``OSError`` (the callers' "cannot read")."""

    def __init__(self, path: Path):
        self._stream = igzip.open(path, "rb")

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except (igzip_lib.IsalError, zlib.error) as exc:
            raise OSError(f"corrupt gzip data: {exc}") from None

    def readline(self, size: int = -1) -> bytes:
        try:
            return self._stream.readline(size)
        except (igzip_lib.IsalError, zlib.error) as exc:
            raise OSError(f"corrupt gzip data: {exc}") from None

    def __iter__(self):
        """Lines, as a binary file gives them (corrupt data raises ``OSError`` here too)."""
        try:
            yield from self._stream
        except (igzip_lib.IsalError, zlib.error) as exc:
            raise OSError(f"corrupt gzip data: {exc}") from None

    def __enter__(self) -> _GzipInput:
        return self

    def __exit__(self, *exc) -> None:
        self._stream.close()


MAX_LINE = 64 << 20  # bytes of one NDJSON line: a resource is far smaller (a FHIR string is at most 1 MiB)


def bounded_lines(handle: IO[bytes], limit: int = MAX_LINE) -> Iterator[bytes | None]:
    """The lines of a binary stream, each read at most ``limit`` bytes at a time: a longer line (a gzip bomb
    of one 1 GiB line) is skipped as it is read and given as ``None``, so memory stays bounded."""
    while line := handle.readline(limit + 1):
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        while (rest := handle.readline(limit)) and not rest.endswith(b"\n"):
            pass
        yield None


def record_lines(handle: IO[bytes], limit: int = MAX_LINE) -> Iterator[bytes | None]:
    """The lines of a binary stream of records (NDJSON), without their ends, as :func:`bounded_lines` gives
    them (a line longer than ``limit`` is skipped as it is read and given as ``None``), and a lone CR ends a
    line too: JSON holds no raw CR, and a file written with old Mac line ends is still one record a line,
    however long the file."""
    pending, skipping = b"", False  # the start of a line not ended yet; the line is too long: skipped
    while chunk := handle.readline(limit + 1):
        ends = chunk.endswith(b"\n")
        if ends and not pending and not skipping and b"\r" not in chunk:  # the usual line: as it is
            yield chunk[:-1]
            continue
        pieces = (chunk[:-1] if ends else chunk).split(b"\r")
        if ends and len(pieces) > 1 and not pieces[-1]:
            pieces.pop()  # a CRLF end
        for i, piece in enumerate(pieces):
            line, pending = pending + piece, b""
            too_long = skipping or len(line) > limit
            if i == len(pieces) - 1 and not ends:  # continues in the next chunk
                skipping, pending = too_long, b"" if too_long else line
                continue
            skipping = False
            yield None if too_long else line
    if pending or skipping:
        yield None if skipping else pending


def open_input(path: Path) -> IO[bytes]:
    """A binary stream of the file (decompressed if the name ends in ``.gz``): ``read`` it or iterate its
    lines; corrupt gzip data raises ``OSError``, a truncated file ``EOFError``. An RDF/XML file whose DTD
    could make the parser expand entities without bound is refused first (:class:`UnsafeInput`)."""
    if FORMATS.get(extension(path)) == ox.RdfFormat.RDF_XML:
        check_xml_entities(path)
    return _GzipInput(path) if is_gzip(path) else path.open("rb")


class UnsafeInput(OSError):
    """Input refused before parsing because parsing it could exhaust memory; an ``OSError``, so every
    reader reports it as a file it cannot read, with this message."""


# XML entities in RDF/XML: the parser expands them, so nested ones ("billion laughs": a 1 kB file that
# expands to gigabytes) would exhaust memory. Flat entities, which Protégé writes for namespaces
# (<!ENTITY owl "http://www.w3.org/2002/07/owl#">), are fine; external and parameter entities are refused
# (they name other files or URLs, and the tool never fetches), and so are entities that refer to other
# entities, and a document whose references would expand to more than MAX_ENTITY_TEXT characters.
MAX_ENTITY_TEXT = 1 << 24
_DECLARATION = re.compile(r"<!ENTITY\s+(%\s*)?([^\s%>\"']+)\s*(\"[^\"]*\"|'[^']*'|[^>]*)", re.DOTALL)
_NAMED_REFERENCE = re.compile(r"&(?!#)[^\s;&]+;")


def check_xml_entities(path: Path) -> None:
    """Raise :class:`UnsafeInput` if the XML file's entities could expand without bound (see above).

    The whole file is read, and every ``<!ENTITY`` declaration anywhere in it counts (one inside a comment
    too, and a second or late document type declaration): a scan that trusted the first ``<!DOCTYPE`` it
    saw could be pointed at a decoy in a comment. Stricter than an XML parser, never looser.
    """
    opener = _GzipInput if is_gzip(path) else lambda p: p.open("rb")
    with opener(path) as stream:
        text = stream.read().decode("latin-1")
    if "<!ENTITY" not in text.upper():
        return
    entities: dict[str, int] = {}
    for parameter, name, value in _DECLARATION.findall(text):
        if parameter or value[:1] not in ("\"", "'"):
            kind = "parameter" if parameter else "external"
            raise UnsafeInput(f"refused: the XML declares the {kind} entity {name!r}; entities that name "
                              "other files or URLs are never read (write the values inline)")
        if _NAMED_REFERENCE.search(value):
            raise UnsafeInput(f"refused: the XML entity {name!r} refers to another entity; nested "
                              "entities can expand without bound (an entity expansion attack)")
        entities[name] = max(entities.get(name, 0), len(value) - 2)
    if len(_DECLARATION.findall(text)) != len(re.findall(r"<!ENTITY", text, re.IGNORECASE)):
        raise UnsafeInput("refused: an XML entity declaration could not be read")
    expanded = sum(entities.get(m[1:-1], 0) for m in _NAMED_REFERENCE.findall(text))
    if expanded > MAX_ENTITY_TEXT:
        raise UnsafeInput(f"refused: the XML entity references would expand to more than {MAX_ENTITY_TEXT} "
                          "characters")


def write_gzip(data: bytes) -> bytes:
    """Deterministic gzip (no timestamp, no file name), fast level: same data, same bytes.

    Members written this way can be concatenated: the result is one valid gzip file.

    >>> import gzip
    >>> gzip.decompress(write_gzip(b"<a> <b> <c> .\\n") + write_gzip(b"<d> <e> <f> .\\n"))
    b'<a> <b> <c> .\\n<d> <e> <f> .\\n'
    >>> write_gzip(b"same") == write_gzip(b"same")
    True
    """
    return igzip.compress(data, compresslevel=1, mtime=0)
