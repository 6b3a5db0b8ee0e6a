"""The ``--out`` directory of a cohort run: only one the tool made (or an empty one) is written to.

A run writes, and on an interrupted preparation clears, files of its own in ``--out`` (``work/``,
``results.jsonl``, ``summary.csv``...). A directory that already holds anything else, a user's
``work/thesis.tex`` or ``summary.csv``, is refused before anything is written, and so is an ``--out`` that
is the input itself or lies inside it (the run's files would be read as input the next time). A directory the
tool made carries :data:`MARKER`; one written by an older version is known by its ``manifest.json`` or
``run.json``.
"""

from __future__ import annotations

from pathlib import Path

from guidelinekg.errors import InputError

MARKER = ".guidelinekg-cohort"
_OURS = (MARKER, "manifest.json", "run.json")


def claim(out: Path, source: Path) -> None:
    """Refuse an ``out`` that is not the tool's to write (see the module docstring); else create it, marked.

    Raises:
        InputError: ``out`` is a file, the input or inside it, or a non-empty directory holding no run.
    """
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a directory (created if missing)")
    target, given = out.resolve(), source.resolve()
    if target == given or (given.is_dir() and target.is_relative_to(given)):
        raise InputError(f"--out {out} is the input or inside it ({source}): the run's files would be read as "
                         "input", hint="give --out a directory outside the input")
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
