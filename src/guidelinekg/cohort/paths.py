"""The paths of a cohort run, checked before anything is read or written.

The input: every entry of an input directory named as an input file (``*.ndjson``, ``*.json``, ``*.ttl``...)
must be a file that can be read. A dangling symbolic link, a FIFO or a directory named
``Observation.ndjson`` was skipped in silence, so every patient was evaluated without its results: it is
refused (:func:`check_input`).

The ``--out`` directory: only one the tool made (or an empty one) is written to.

A run writes, and on an interrupted preparation clears, files of its own in ``--out`` (``work/``,
``results.jsonl``, ``summary.csv``...). A directory that already holds anything else, a user's
``work/thesis.tex`` or ``summary.csv``, is refused before anything is written, and so is an ``--out`` that
is the input itself or lies inside it (the run's files would be read as input the next time). A directory the
tool made carries :data:`MARKER`; one written by an older version is known by its ``manifest.json`` or
``run.json``.
"""

from __future__ import annotations

from pathlib import Path

from guidelinekg.cohort.export import NDJSON_SUFFIXES
from guidelinekg.cohort.partition import BUNDLE_SUFFIXES, RDF_SUFFIXES
from guidelinekg.errors import InputError

MARKER = ".guidelinekg-cohort"
INPUT_SUFFIXES = (*NDJSON_SUFFIXES, *BUNDLE_SUFFIXES, *RDF_SUFFIXES)  # every name the partition reads


def check_input(source: Path) -> None:
    """Refuse an input directory with an entry named as an input file that is not a readable regular file.

    Raises:
        InputError: naming the entry and what it is.
    """
    if not source.is_dir():
        return
    for entry in sorted(source.iterdir()):
        if not entry.name.lower().endswith(INPUT_SUFFIXES) or entry.is_file():
            continue
        kind = ("a symbolic link to nothing" if entry.is_symlink() and not entry.exists()
                else "a directory" if entry.is_dir() else "not a regular file (a FIFO, socket or device)")
        raise InputError(f"{entry} is {kind}: the input cannot be read completely, so nothing is evaluated",
                         hint="remove it or replace it with the file it stands for")
_OURS = (MARKER, "manifest.json", "run.json")


def check_out(out: Path, source: Path) -> None:
    """Refuse an ``out`` that is a file, the input, or inside the input (by path; the same files by other
    names are refused by :func:`guidelinekg.commands.refuse_overwriting_input`).

    Raises:
        InputError: naming ``out`` and why.
    """
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a directory (created if missing)")
    target, given = out.resolve(), source.resolve()
    if target == given or (given.is_dir() and target.is_relative_to(given)):
        raise InputError(f"--out {out} is the input or inside it ({source}): the run's files would be read as "
                         "input", hint="give --out a directory outside the input")


def claim(out: Path, source: Path) -> None:
    """Check the input (:func:`check_input`), then refuse an ``out`` that is not the tool's to write (see the
    module docstring); else create it, marked.

    Raises:
        InputError: the input cannot be read completely; ``out`` is a file, the input or inside it, or a
            non-empty directory holding no run.
    """
    check_input(source)
    check_out(out, source)
    if out.is_dir():
        entries = sorted(p.name for p in out.iterdir())
        if entries and not any(name in entries for name in _OURS):
            shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
            raise InputError(f"--out {out} is not empty and holds no cohort run ({shown}); nothing was written",
                             hint="give a new or empty directory")
    out.mkdir(parents=True, exist_ok=True)
    marker = out / MARKER
    if not marker.exists():
        marker.write_text("a guidelinekg cohort run: the tool writes and clears its own files here\n",
                          encoding="utf-8")
