"""A cohort's files on disk: written atomically, each chunk's outputs with their digests, checked on ``--resume``.

Each chunk's outputs (``chunks/NAME.trig.gz``, ``.bad.jsonl``, ``.counts.json``, ``.patients.json`` and
``.jsonl``) are written atomically, then ``NAME.sha256.json`` (the SHA-256 of each), then the ``.jsonl``
last: its presence marks the chunk done. ``--resume`` joins done chunks into ``results.jsonl``,
``provenance.trig.gz`` and ``bad-records.jsonl`` without evaluating them again, so it first checks every
done chunk's files against the digests recorded when they were written (:func:`pending`): a chunk with an
edited, emptied or truncated file, or without a digest record (a run of older software), is evaluated again
from the input, with a warning naming the file. Nothing damaged reaches the joined files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
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
    """The chunks to evaluate: those not done yet, and every done chunk whose files differ from the digests
    recorded when they were written (edited, emptied, truncated or missing files, or no digest record, as a
    run of older software leaves): its marker is removed and it is evaluated again from the input, with a
    warning on stderr (not in run.json: the record of the run is the same), so nothing damaged is joined."""
    chunks = out / "chunks"
    todo = []
    for name in chunk_names:
        stem = Path(name).stem
        if not (chunks / f"{stem}.jsonl").exists():
            todo.append(name)
            continue
        if (why := _damaged(chunks, stem)) is not None:
            (chunks / f"{stem}.jsonl").unlink()
            todo.append(name)
            print(f"guidelinekg cohort: warning: --resume: chunk {stem} is evaluated again: {why}", file=sys.stderr)
    return todo


def _damaged(chunks: Path, stem: str) -> str | None:
    """Why a done chunk's files cannot be joined as they are, or ``None``."""
    try:
        recorded = json.loads((chunks / f"{stem}{DIGESTS}").read_text(encoding="utf-8"))
        if not isinstance(recorded, dict):
            raise ValueError
    except (OSError, ValueError, RecursionError):
        return f"{chunks / (stem + DIGESTS)} is missing or corrupt, so its files cannot be checked"
    for suffix in CHUNK_FILES:
        path = chunks / f"{stem}{suffix}"
        try:
            actual = file_sha256(path)
        except FileNotFoundError:
            actual = None
        if actual is None or actual != recorded.get(suffix):
            return f"{path} " + ("is missing" if actual is None else f"is not what was written (SHA-256 {actual}, "
                                 f"{stem}{DIGESTS} records {recorded.get(suffix)})")
    return None


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
