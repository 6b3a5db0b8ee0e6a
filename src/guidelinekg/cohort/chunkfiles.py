"""A cohort's files on disk: written atomically, each chunk's outputs with their digests, checked on ``--resume``.

Each chunk's outputs (``chunks/NAME.trig.gz``, ``.bad.jsonl``, ``.counts.json``, ``.patients.json`` and
``.jsonl``) are written atomically, then ``NAME.sha256.json`` (the SHA-256 of each), then the ``.jsonl``
last: its presence marks the chunk done. ``--resume`` joins done chunks into ``results.jsonl``,
``provenance.trig.gz`` and ``bad-records.jsonl`` without evaluating them again, so it first checks every
done chunk's files against the digests recorded when they were written (:func:`pending`): an edited,
emptied or truncated file, or a missing digest record, is refused naming the file, and deleting the chunk's
``.jsonl`` makes ``--resume`` evaluate it again. Nothing damaged reaches the joined files unseen.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path

from guidelinekg.errors import InputError

# a chunk's files, in the order written (the .jsonl last: present, the chunk is done)
CHUNK_FILES = (".trig.gz", ".bad.jsonl", ".counts.json", ".patients.json", ".jsonl")
DIGESTS = ".sha256.json"


def atomic_write(path: Path, text: str | bytes) -> None:
    """Write a file (text as UTF-8) so that readers see either the old or the complete new content."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as handle:
            handle.write(text.encode("utf-8") if isinstance(text, str) else text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)  # a full disk leaves no partial file behind
        raise


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_chunk(out: Path, result) -> None:
    """A chunk's outputs (a :class:`guidelinekg.cohort.chunk.ChunkResult`), their digests, and the ``.jsonl`` last."""
    chunks = out / "chunks"
    chunks.mkdir(exist_ok=True)
    stem = Path(result.name).stem
    contents = {
        ".trig.gz": result.trig_gz,
        ".bad.jsonl": "".join(json.dumps(b) + "\n" for b in result.bad_records),
        ".counts.json": json.dumps(result.counts),
        ".patients.json": json.dumps({"found": result.found, "evaluated": result.patients,
                                      "set_aside": result.set_aside, "missing": result.missing}),
        ".jsonl": result.jsonl,
    }
    contents = {suffix: text.encode("utf-8") if isinstance(text, str) else text for suffix, text in contents.items()}
    for suffix in CHUNK_FILES[:-1]:
        atomic_write(chunks / f"{stem}{suffix}", contents[suffix])
    atomic_write(chunks / f"{stem}{DIGESTS}", json.dumps(
        {suffix: hashlib.sha256(contents[suffix]).hexdigest() for suffix in CHUNK_FILES}))
    atomic_write(chunks / f"{stem}.jsonl", contents[".jsonl"])  # last: its presence marks the chunk done


def pending(out: Path, chunk_names: list[str]) -> list[str]:
    """The chunks not done yet; every done chunk's files checked against their recorded digests.

    Raises:
        InputError: a done chunk's file differs from what was written, is missing, or its digests are.
    """
    chunks = out / "chunks"
    todo = []
    for name in chunk_names:
        stem = Path(name).stem
        if not (chunks / f"{stem}.jsonl").exists():
            todo.append(name)
            continue
        redo = f"delete {stem}.jsonl there and --resume to evaluate that chunk again"
        try:
            recorded = json.loads((chunks / f"{stem}{DIGESTS}").read_text(encoding="utf-8"))
            if not isinstance(recorded, dict):
                raise ValueError
        except (OSError, ValueError, RecursionError):
            raise InputError(f"--resume: {chunks / (stem + DIGESTS)} is missing or corrupt, so chunk {stem}'s files "
                             f"cannot be checked before they are joined into the run's outputs; {redo}") from None
        for suffix in CHUNK_FILES:
            path = chunks / f"{stem}{suffix}"
            try:
                actual = file_sha256(path)
            except FileNotFoundError:
                actual = None
            if actual is None or actual != recorded.get(suffix):
                what = "is missing" if actual is None else \
                    f"is not what was written (SHA-256 {actual}, {stem}{DIGESTS} records {recorded.get(suffix)})"
                raise InputError(f"--resume: {path} {what}: the chunk's files were edited or damaged after it was "
                                 f"evaluated; {redo}")
    return todo


def chunk_json(path: Path, lines: bool = False):
    """A chunk's JSON file (or JSON Lines), written by :func:`write_chunk`; damaged, it is an error naming
    the file (deleting the chunk's ``.jsonl`` makes ``--resume`` evaluate it again)."""
    text = path.read_text(encoding="utf-8")
    try:
        return [json.loads(line) for line in text.splitlines()] if lines else json.loads(text)
    except (ValueError, RecursionError):
        stem = path.name.split(".", 1)[0]
        raise InputError(f"--resume: {path} is corrupt; delete {path.with_name(stem + '.jsonl')} and --resume "
                         "to evaluate that chunk again") from None


def concatenate(out: Path, names: list[str], suffix: str, target: str) -> None:
    """Join the chunks' files byte for byte into ``target`` (gzip members joined make one gzip file, TriG graphs one TriG document)."""
    tmp = out / f".{target}.tmp"
    with tmp.open("wb") as joined:
        for name in names:
            with (out / "chunks" / f"{Path(name).stem}{suffix}").open("rb") as part:
                shutil.copyfileobj(part, joined, 1 << 20)
    tmp.replace(out / target)
