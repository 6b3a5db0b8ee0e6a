"""Subcommands of the guidelinekg CLI, one module each: ``add_arguments(parser)`` and ``run(args) -> int``.

The interface layer: argument parsing and output only; the work is done by the packages below. A new
subcommand is a module here plus a line in :data:`guidelinekg.cli.COMMANDS`. Shared here: the check that
a file a command writes is none of its inputs (:func:`refuse_overwriting_input`), and quiet rdflib
(its warning with a traceback on an ill-typed literal: the finding that reports the value says enough).

May import: any package of the library; nothing imports it but :mod:`guidelinekg.cli`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from guidelinekg.checks.shacl import IllTypedLiteral
from guidelinekg.errors import InputError

logging.getLogger("rdflib.term").addFilter(IllTypedLiteral())


def refuse_overwriting_input(option: str, output: Path, inputs: Iterable[Path | str], *,
                             folders: Iterable[Path | str] = (), output_is_folder: bool = False) -> None:
    """Refuse (exit 2, before any work) to write ``output`` where it would destroy or spoil an input.

    Refused: ``output`` is one of ``inputs`` (the same path, a symbolic or hard link to it, or a path
    through a linked folder); ``output`` lies inside one of ``folders`` (input folders read whole, such as
    ``--content DIR``: the file would be read as input the next time); with ``output_is_folder``, an input
    inside ``output`` (the command writes and deletes there).
    """
    target = Path(output)
    where = _resolved(target)
    for given in inputs:
        path = Path(given)
        if not path.exists():
            continue
        if where == path.resolve() or _same_file(target, path):
            raise InputError(f"{option} {output} is the input {given}: writing it would replace the input; "
                             f"give {option} another path")
        if output_is_folder and path.resolve().is_relative_to(where):
            raise InputError(f"{option} {output} holds the input {given}: writing there could change or "
                             f"delete it; give {option} another folder")
    for given in folders:
        folder = Path(given)
        if folder.is_dir() and where.is_relative_to(folder.resolve()):
            raise InputError(f"{option} {output} is inside the input folder {given}: it would be read as "
                             f"input the next time; give {option} a path outside it")


def _resolved(path: Path) -> Path:
    """The absolute path with every symbolic link resolved, the file itself included if it exists."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a link loop: compared as written
        return Path(os.path.abspath(path))


def _same_file(output: Path, path: Path) -> bool:
    try:
        return output.exists() and os.path.samefile(output, path)
    except OSError:
        return False
