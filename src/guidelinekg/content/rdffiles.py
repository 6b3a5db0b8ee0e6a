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

import zlib
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


def open_input(path: Path) -> IO[bytes]:
    """A binary stream of the file (decompressed if the name ends in ``.gz``): ``read`` it or iterate its
    lines; corrupt gzip data raises ``OSError``, a truncated file ``EOFError``."""
    return _GzipInput(path) if is_gzip(path) else path.open("rb")


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
