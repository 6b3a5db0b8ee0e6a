"""Subcommands of the guidelinekg CLI, one module each: ``add_arguments(parser)`` and ``run(args) -> int``.

The interface layer: argument parsing and output only; the work is done by the packages below. A new
subcommand is a module here plus a line in :data:`guidelinekg.cli.COMMANDS`. Shared here: the check that
a file a command writes is none of the files it reads (:func:`refuse_overwriting_input`), the write that
replaces a file whole without writing through its other names (:func:`write_replacing`), and quiet rdflib
(its warning with a traceback on an ill-typed literal: the finding that reports the value says enough).

May import: any package of the library; nothing imports it but :mod:`guidelinekg.cli`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from guidelinekg.checks.shacl import IllTypedLiteral
from guidelinekg.errors import InputError

logging.getLogger("rdflib.term").addFilter(IllTypedLiteral())


def refuse_overwriting_input(option: str, output: Path, inputs: Iterable[Path | str], *,
                             folders: Iterable[Path | str] = (), output_is_folder: bool = False,
                             shipped: bool = True) -> None:
    """Refuse (exit 2, before any work) to write ``output`` where it would destroy or spoil a file read.

    A file is the same as another when both name one file once every symbolic link is resolved (the same
    device and inode: a hard link too). Refused: ``output`` is one of ``inputs`` or the same file as a
    file inside an input folder (walked whole, following links, as the readers walk it); ``output`` lies
    inside one of ``folders`` (input folders read whole, such as ``--content DIR``: the file would be read
    as input the next time); with ``shipped`` (the default), the same for the shipped vocabulary,
    guidelines, shapes, queries and package (:func:`guidelinekg.content.resources.shipped_folders`), which
    every command reads; with ``output_is_folder``, an input inside ``output``, or a file there that is
    the same file as an input (the command writes and deletes there).
    """
    target = Path(output)
    where = _resolved(target)
    read: dict[tuple[int, int], Path] = {}  # (device, inode) -> the name the file is read by
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
        if not (path.is_dir() and any(path.resolve() == Path(f).resolve() for f in folders)):
            _collect(path, read)  # an input folder given as a folder too is walked once, below
    whole = [(Path(f), "input") for f in folders]
    if shipped:
        from guidelinekg.content.resources import shipped_folders

        whole += [(f, "shipped") for f in shipped_folders()]
    whole = [(folder, kind) for folder, kind in whole if folder.is_dir()]
    for folder, _ in whole:
        _collect(folder, read)
    if not (output_is_folder and target.is_dir()) and (key := _key(target)) in read:
        raise InputError(f"{option} {output} is the input {read[key]}: writing it would replace the input; "
                         f"give {option} another path")
    above = {key for key in map(_key, (where, *where.parents)) if key is not None}
    for folder, kind in whole:
        if where.is_relative_to(folder.resolve()) or _key(folder) in above:
            raise InputError(f"{option} {output} is inside the {kind} folder {folder}: it would be read as "
                             f"input the next time; give {option} a path outside it")
        if output_is_folder and folder.resolve().is_relative_to(where):
            raise InputError(f"{option} {output} holds the {kind} folder {folder}: writing there could "
                             f"change or delete it; give {option} another folder")
    if output_is_folder and target.is_dir():
        for name in _files(target):
            if (key := _key(name)) in read:
                raise InputError(f"{option} {output} holds the input {read[key]} (as {name}): writing there "
                                 f"could change or delete it; give {option} another folder")


def write_replacing(path: Path, data: bytes) -> None:
    """Write ``data`` as the file ``path`` names (a symbolic link is followed): into a new file beside it,
    renamed over it, so that a reader sees the old or the whole new content, and another name of the old
    file (a hard link) keeps the old content. A device or a pipe (``/dev/stdout``) is written as it is.

    Raises:
        OSError: the file cannot be written (nothing is left behind).
    """
    if Path(path).exists() and not Path(path).is_file():  # not a regular file: /dev/stdout may be a pipe
        with Path(path).open("wb") as handle:
            handle.write(data)
        return
    target = _resolved(Path(path))
    for _ in range(100):
        tmp = target.with_name(f".guidelinekg-{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"no free temporary name beside {target}")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if target.exists():  # the file keeps its permissions
            os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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


def _key(path: Path) -> tuple[int, int] | None:
    """The (device, inode) of the file ``path`` names, links followed; None if there is none."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino


def _collect(path: Path, read: dict[tuple[int, int], Path]) -> None:
    """Record the file ``path``, or every file below the folder ``path``, by (device, inode)."""
    for name in _files(path) if path.is_dir() else [path]:
        if (key := _key(name)) is not None:
            read.setdefault(key, name)


def _files(folder: Path) -> Iterator[Path]:
    """Every file below ``folder``, following links to folders (each folder once: a link loop ends)."""
    seen: set[tuple[int, int] | None] = set()
    for top, dirs, files in os.walk(folder, followlinks=True):
        key = _key(Path(top))
        if key in seen:
            dirs[:] = []
            continue
        seen.add(key)
        for name in files:
            yield Path(top) / name
