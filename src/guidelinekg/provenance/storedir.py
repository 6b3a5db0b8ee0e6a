"""The store directory: what is in it, which generations it made, its lock, and opening it to read.

Layout of ``--store DIR``:

* ``DIR/guidelinekg-store.json``: the store's record (:data:`RECORD_NAME`): ``{"format": "guidelinekg-store",
  "current": "gen-000002", "generations": ["gen-000002"]}``. Every generation directory the store created
  and has not removed yet is listed there *before* it is created, so a load only ever deletes what the store
  itself made: never a user's ``DIR/gen-2023-results``, nor a ``gen-000009`` it did not record;
* ``DIR/gen-NNNNNN``: one Oxigraph database per generation (exactly six digits);
* ``DIR/current``: a symbolic link to the live generation; renaming it is the commit point of a load;
* ``DIR/guidelinekg.lock``: the advisory lock (:func:`store_lock`).

A directory that is neither empty nor a store is refused, and so is a damaged store (its record corrupt, its
``current`` link dangling, a generation's files truncated or garbage): :class:`InputError` naming the store,
in one line, never a traceback. A store written before the record existed (``current`` linking to a
``gen-NNNNNN`` beside ``guidelinekg.lock``) is adopted: its live generation is recorded, nothing else is.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox

from guidelinekg.errors import InputError, Location, no_such_path

LOCK_NAME = "guidelinekg.lock"
CURRENT = "current"
RECORD_NAME = "guidelinekg-store.json"
RECORD_FORMAT = "guidelinekg-store"
GENERATION = re.compile(r"gen-[0-9]{6}")
CATALOG_GRAPH = "urn:guidelinekg:store:catalog"
# The catalog's statement that the store's default graph holds the merge of its named graphs, each triple once
# (a load writes it): Oxigraph's union default graph yields a triple once per graph holding it (oxigraph#1919).
MERGED = ("urn:guidelinekg:store:default-graph", "http://www.w3.org/1999/02/22-rdf-syntax-ns#type",
          "https://w3id.org/guidelinekg/ontology#MergedDefaultGraph")
# ... and how many graphs the catalog listed when the merge was made: a load by an older version adds graphs
# without merging them, so a count that differs from the catalog's says the merge is stale.
MERGED_GRAPHS = "https://w3id.org/guidelinekg/ontology#mergedGraphs"
_MERGE_STATE = f"""SELECT ?n (COUNT(DISTINCT ?g) AS ?c) WHERE {{ GRAPH <{CATALOG_GRAPH}> {{
  <{MERGED[0]}> <{MERGED_GRAPHS}> ?n . ?g <https://w3id.org/guidelinekg/ontology#sha256> ?d }} }} GROUP BY ?n"""
# What pyoxigraph raises for a database it cannot use: OSError (I/O), RuntimeError (RocksDB "Corruption: ...").
DATABASE_ERRORS = (OSError, RuntimeError)


class StoreBusyError(InputError):
    """Another process holds the store (a server reading it, or another load writing it)."""


def _one_line(detail: object, limit: int = 300) -> str:
    text = " ".join(str(detail).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def damaged(store_dir: Path, detail: object) -> InputError:
    """The error for a store that cannot be used as it is (one line, naming the store)."""
    return InputError(
        f"the store is damaged: {_one_line(detail)} (restore it from a backup, or load into a new --store)",
        Location(str(store_dir)),
    )


def _io_error(store_dir: Path, what: str, exc: OSError) -> InputError:
    return InputError(f"{what}: {_one_line(exc.strerror or exc)}", Location(str(store_dir)))


# --- the record ---------------------------------------------------------------------------------------------


@dataclass
class Record:
    """The generations a store made (``current`` the committed one, ``None`` before the first load)."""

    current: str | None
    generations: list[str]


def read_record(store_dir: Path) -> Record | None:
    """The store's record; ``None`` when there is none.

    Raises:
        InputError: the record is unreadable or not a store record.
    """
    path = store_dir / RECORD_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise damaged(store_dir, f"{RECORD_NAME} cannot be read ({exc})") from None
    try:
        data = json.loads(text)
        current, generations = data.get("current"), data["generations"]
        valid = (
            data.get("format") == RECORD_FORMAT
            and isinstance(generations, list)
            and all(isinstance(g, str) and GENERATION.fullmatch(g) for g in generations)
            and (current is None or current in generations)
        )
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        valid = False
    if not valid:
        raise damaged(store_dir, f"{RECORD_NAME} is not a valid store record")
    return Record(current, list(generations))


def write_record(store_dir: Path, record: Record) -> None:
    """Replace the record atomically (written, synced, renamed, the rename synced)."""
    text = json.dumps({"format": RECORD_FORMAT, "current": record.current, "generations": record.generations})
    tmp = store_dir / f".{RECORD_NAME}.tmp"
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, store_dir / RECORD_NAME)
        sync_directory(store_dir)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _io_error(store_dir, "cannot write the store's record", exc) from None


def sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _legacy_generation(store_dir: Path) -> str | None:
    """The live generation of a store written before the record existed, else ``None``."""
    link = store_dir / CURRENT
    if not (link.is_symlink() and (store_dir / LOCK_NAME).is_file()):
        return None
    target = os.readlink(link)
    return target if GENERATION.fullmatch(target) and (store_dir / target).is_dir() else None


def refuse_foreign(store_dir: Path) -> None:
    """Before anything is written to ``store_dir``: it must be missing, empty, or a store.

    Raises:
        InputError: a file, or a non-empty directory that is not a store.
    """
    try:
        if not store_dir.exists():
            return
        if not store_dir.is_dir():
            raise InputError("--store must be a directory, this is a file", Location(str(store_dir)))
        if (store_dir / RECORD_NAME).exists() or _legacy_generation(store_dir):
            return
        others = sorted(p.name for p in store_dir.iterdir() if p.name != LOCK_NAME)
    except OSError as exc:
        raise _io_error(store_dir, "cannot read the store directory", exc) from None
    if others:
        raise InputError(
            f"not a guidelinekg store, and not empty ({len(others)} entr{'y' if len(others) == 1 else 'ies'}, "
            f"e.g. {others[0]!r}): give --store a new or empty directory",
            Location(str(store_dir)),
        )


def adopt(store_dir: Path) -> Record:
    """The record of the store (under the exclusive lock): read, or made for a new or an old-style store."""
    record = read_record(store_dir)
    if record is not None:
        return record
    refuse_foreign(store_dir)  # again, under the lock
    legacy = _legacy_generation(store_dir)
    record = Record(legacy, [legacy] if legacy else [])
    write_record(store_dir, record)
    return record


# --- the live generation ------------------------------------------------------------------------------------


def live_generation(store_dir: Path, record: Record | None) -> Path | None:
    """The generation ``current`` links to, checked; ``None`` for a store with nothing loaded yet.

    Raises:
        InputError: the link is dangling or points elsewhere, or the generation is not a database.
    """
    link = store_dir / CURRENT
    if not link.is_symlink():
        if link.exists():
            raise damaged(store_dir, f"'{CURRENT}' is not a symbolic link to a generation")
        if record is not None and record.current is not None:
            raise damaged(store_dir, f"its '{CURRENT}' link to {record.current} is missing")
        return None
    target = os.readlink(link)
    if not GENERATION.fullmatch(target) or (record is not None and target not in record.generations):
        raise damaged(store_dir, f"'{CURRENT}' points to {target!r}, not a generation of this store")
    path = store_dir / target
    if not path.is_dir():
        raise damaged(store_dir, f"'{CURRENT}' points to {target}, which is missing")
    if not (path / "CURRENT").is_file():  # RocksDB's own file: without it this is no database
        raise damaged(store_dir, f"{target} is not a database (its files are missing)")
    return path


def database_path(store_dir: Path) -> Path:
    """The Oxigraph database of a store: its live generation (or ``DIR`` itself when it is a plain
    Oxigraph database, e.g. one written by the ``oxigraph`` tool).

    Raises:
        InputError: no store there, or a damaged one.
    """
    if not os.path.lexists(store_dir):
        raise no_such_path(store_dir, hint="create it with 'guidelinekg load --store DIR --guidelines [PROVENANCE ...]'")
    try:
        if (store_dir / RECORD_NAME).exists() or (store_dir / CURRENT).is_symlink():
            path = live_generation(store_dir, read_record(store_dir))
            if path is None:
                raise InputError("the store holds nothing yet (no load finished)", Location(str(store_dir)))
            return path.resolve()
        if (store_dir / CURRENT).is_dir():
            return (store_dir / CURRENT).resolve()
        if (store_dir / "CURRENT").is_file():  # RocksDB's own marker: a plain database
            return store_dir
    except OSError as exc:
        raise _io_error(store_dir, "cannot read the store directory", exc) from None
    raise InputError(
        "no store here",
        Location(str(store_dir)),
        hint="create it with 'guidelinekg load --store DIR --guidelines [PROVENANCE ...]'",
    )


def open_read_only(store_dir: Path) -> ox.Store:
    """The store opened read-only (no write is possible through this handle), with a first read done.

    Raises:
        InputError: no store there, or a damaged one (truncated or garbage files, a dangling link).
    """
    path = database_path(store_dir)
    try:
        store = ox.Store.read_only(str(path))
        next(iter(store.quads_for_pattern(None, None, None, ox.NamedNode(CATALOG_GRAPH))), None)
    except DATABASE_ERRORS as exc:
        raise damaged(store_dir, exc) from None
    return store


def holds_merge(store: ox.Store) -> bool:
    """Whether the store's default graph is the merge of its named graphs: a load of this version made it, and
    no load by an older one has added graphs since (the catalog lists as many graphs as were merged)."""
    rows = list(store.query(_MERGE_STATE))
    return len(rows) == 1 and rows[0]["n"].value == rows[0]["c"].value


def dataset_of(store: ox.Store, *, union: bool) -> dict:
    """``Store.query`` keywords for a default graph that is the merge of every graph (``union``), each triple
    once, or empty: the stored merge where the store holds one, else Oxigraph's union (a store loaded before)."""
    if holds_merge(store):
        return {} if union else {"default_graph": []}
    return {"use_default_graph_as_union": True} if union else {}


def read_rows(store_dir: Path, sparql: str, *, union: bool = False) -> list[dict[str, str]]:
    """A SELECT over the store, under its shared lock: each row's bound values by variable name.

    Raises:
        InputError: no store, a damaged one (also when the damage shows only while reading), or busy.
    """
    with store_lock(store_dir, exclusive=False):
        store = open_read_only(store_dir)
        try:
            solutions = store.query(sparql, **dataset_of(store, union=union))
            names = [v.value for v in solutions.variables]
            rows = [{n: s[n].value for n in names if s[n] is not None} for s in solutions]
        except DATABASE_ERRORS as exc:
            raise damaged(store_dir, exc) from None
        finally:
            del store
    return rows


# --- the lock -----------------------------------------------------------------------------------------------


@contextmanager
def store_lock(store_dir: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold the store's advisory lock: exclusive to write (``load``), shared to read (``serve``).

    A shared lock is only taken on an existing store (nothing is created in another directory).

    Raises:
        StoreBusyError: another process holds it in the conflicting mode.
        InputError: no store to read, or the directory cannot be created or locked.
    """
    try:
        if exclusive:
            store_dir.mkdir(parents=True, exist_ok=True)
        else:
            database_path(store_dir)
        try:
            fd = os.open(store_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError:
            if exclusive:
                raise
            fd = os.open(store_dir / LOCK_NAME, os.O_RDONLY)  # a read-only store can still be read
    except OSError as exc:
        raise _io_error(store_dir, "cannot " + ("create" if exclusive else "lock") + " the store", exc) from None
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
