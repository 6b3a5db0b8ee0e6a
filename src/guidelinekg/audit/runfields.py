"""Every field of a cohort's ``manifest.json`` and ``run.json``: only the fields ``cohort`` writes, each in its
form, and what the fields the provenance holds nothing to compare with must say of each other and of the runs.

:mod:`guidelinekg.audit.runrecord` compares what can be compared with the runs and the other files (as-of
date, software, content and rule hashes, patients, bad records, the partition's notes). Here:

* the fields: a field ``cohort`` does not write (the files' schema is the project's), or one it always
  writes that is absent, fails ``run-record-differs``;
* ``key.chunk_size``: the chunks ``partition.chunks`` lists must be as many as chunks of that size make of
  the patients found (NDJSON, RDF; for bundles, of the bundle files, between the patients recorded and those
  found), and the runs, in the order of the provenance (the chunks' order), must fit into them: a chunk's
  runs record no more patients than it holds. Any size at least the patients found gives the one chunk
  alike, so among those sizes it cannot be told;
* ``partition.chunks``: the names ``cohort`` gives, ``chunk-000001`` on, with the suffix of ``partition.kind``;
* ``key.shapes_sha256``: the patient shapes the audit's replay checks the patients with (the current
  ``shapes/patient.ttl``, compiled); the provenance does not record them, so shapes changed since the run
  fail as an edit would: the replay then proves less;
* ``patients_missing``: patients neither evaluated nor set aside, so none the runs record or
  ``bad-records.jsonl`` sets aside, sorted, at most 20, and none when ``patients_unaccounted`` is 0;
* ``chunks_run_now``: a count of the chunks, no more than ``chunks``; ``seconds``: ``prepare``, ``evaluate``
  and ``total``, none negative, the first two within the total.

Not audited, beyond their form, because nothing at hand shows them: ``key.input`` and ``run.json``'s ``out``
(the paths the user gave; a run may be moved), ``key.input_files`` (the names, sizes and modification times
of the input's files, for ``--resume``: the input is not at hand), ``chunks_run_now`` (how many chunks the
last invocation evaluated rather than resumed), the timings, and what the partition noted about the input
(``kind``, ``skipped_types``, ``ignored_files``, ``shared_bundles``, ``warnings``, ``export``), which
``run.json`` must repeat but the input alone could confirm.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePath

from guidelinekg.audit.recorded import Finding
from guidelinekg.audit.shown import shown as _shown  # noqa: F401  (used here and by toplevel)

KEY_FIELDS = ("input", "input_files", "as_of", "chunk_size", "content_sha256", "rules_sha256", "shapes_sha256",
              "software")
PARTITION_FIELDS = ("kind", "chunks", "patients", "bad_records", "skipped_types", "ignored_files", "shared_bundles",
                    "warnings", "export")
RUN_FIELDS = ("out", "input_kind", "chunks", "chunks_run_now", "as_of", "patients", "bad_records", "bad_records_sha256",
              "patients_found", "patients_set_aside", "patients_unaccounted", "patients_missing", "skipped_types",
              "ignored_files", "shared_bundles", "export_manifest", "warnings", "seconds")
SECONDS = ("prepare", "evaluate", "total")
CHUNK_SUFFIX = {"ndjson": "ndjson", "bundles": "json", "rdf": "nt"}  # the names cohort gives its chunks
MISSING_SHOWN = 20  # run.json names at most this many missing patients
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _fields(where: str, value: dict, known: tuple[str, ...]) -> list[str]:
    """What is wrong with the field names of one object: fields cohort does not write, fields absent."""
    extra, absent = sorted(set(value) - set(known), key=str), [k for k in known if k not in value]
    return ([f"{where} holds field(s) cohort does not write: {', '.join(map(str, extra))}"] if extra else []) + \
        ([f"{where} lacks field(s) cohort always writes: {', '.join(absent)}"] if absent else [])


def _chunking(kind: str, chunks: int, found: int, recorded: list[int], size: int) -> str | None:
    """Why chunks of ``size`` cannot have given ``chunks`` chunks whose runs (in order) record ``recorded``
    patients each (None: they can)."""
    def ceil(n: int) -> int:
        return -(-n // size)

    if kind == "bundles":  # chunks of bundle files, a file of several Patients counting each, a file one at most
        if not ceil(sum(recorded)) <= chunks <= ceil(found):
            return (f"{chunks} chunk(s), but {found} patients found and {sum(recorded)} recorded make between "
                    f"{ceil(sum(recorded))} and {ceil(found)} chunk(s) of {size}")
        capacity = [size] * chunks
    else:
        if chunks != ceil(found):
            return f"{chunks} chunk(s), but {found} patients in chunks of {size} make {ceil(found)}"
        capacity = [size] * (chunks - 1) + [found - size * (chunks - 1)] if chunks else []
    chunk, used = 0, 0  # each run into the earliest chunk it can still go to (the runs keep the chunks' order)
    for n in recorded:
        while chunk < len(capacity) and used + n > capacity[chunk]:
            chunk, used = chunk + 1, 0
        if chunk == len(capacity):
            shown = ", ".join(map(str, recorded[:8])) + (", ..." if len(recorded) > 8 else "")
            return f"the runs record {shown} patient(s) in turn, which {chunks} chunk(s) of {size} do not hold"
        used += n
    return None


def check_fields(manifest: dict | None, record: dict | None, runs: tuple, bad_lines: list[str] | None,
                 shapes_sha256: str | None = None) -> list[Finding]:
    """The fields of ``manifest.json`` and ``run.json`` (either None when unreadable: reported elsewhere)
    against the schema cohort writes and each other (see the module docstring); ``runs`` in the file's order,
    ``bad_lines`` the lines of ``bad-records.jsonl`` (None: missing), ``shapes_sha256`` the patient shapes
    the replay used (None: not compared)."""
    problems: list[str] = []
    recorded = {p for r in runs for p in r.patients}
    if manifest is not None:
        key, partition = manifest["key"], manifest["partition"]
        problems += _fields("manifest.json", manifest, ("key", "partition"))
        problems += _fields("manifest.json key", key, KEY_FIELDS)
        problems += _fields("manifest.json partition", partition, PARTITION_FIELDS)
        if "input" in key and not (isinstance(key["input"], str) and PurePath(key["input"]).is_absolute()):
            problems.append(f"manifest.json key.input is {_shown(key['input'])}, not the absolute path cohort writes")
        for name in ("input_files", "content_sha256", "rules_sha256", "shapes_sha256"):
            if name in key and not (isinstance(key[name], str) and _SHA256.fullmatch(key[name])):
                problems.append(f"manifest.json key.{name} is {_shown(key[name])}, not a SHA-256 in hexadecimal")
        if shapes_sha256 and isinstance(key.get("shapes_sha256"), str) and key["shapes_sha256"] != shapes_sha256:
            problems.append(f"manifest.json key.shapes_sha256 says {key['shapes_sha256']}, the patient shapes the "
                            f"replay checked the patients with give {shapes_sha256} (shapes/patient.ttl changed "
                            "since the run, or the record was edited)")
        kind, chunks, size = partition.get("kind"), partition.get("chunks"), key.get("chunk_size", 0)
        if kind not in CHUNK_SUFFIX:
            problems.append(f"manifest.json partition.kind is {_shown(kind)}, not one of {', '.join(CHUNK_SUFFIX)}")
        elif not isinstance(chunks, list) or chunks != [f"chunk-{i:06d}.{CHUNK_SUFFIX[kind]}"
                                                      for i in range(1, len(chunks) + 1)]:
            problems.append(f"manifest.json partition.chunks is {_shown(chunks)}, not the chunk names cohort gives "
                            f"(chunk-000001.{CHUNK_SUFFIX[kind]} on)")
        if not (_count(size) and size > 0):
            problems.append(f"manifest.json key.chunk_size is {_shown(size)}, not a number of patients")
        elif kind in CHUNK_SUFFIX and isinstance(chunks, list):
            why = _chunking(kind, len(chunks), partition["patients"], [len(r.patients) for r in runs], size)
            if why:
                problems.append(f"manifest.json key.chunk_size says {size}: {why}")
    if record is not None:
        problems += _fields("run.json", record, RUN_FIELDS)
        problems += _record_forms(record, recorded, bad_lines)
    return [Finding("failure", "run-record-differs", f"{p}: the record was edited, or is another run's")
            for p in problems]


def _record_forms(record: dict, recorded: set[str], bad_lines: list[str] | None) -> list[str]:
    problems = []
    if "out" in record and not isinstance(record["out"], str):
        problems.append(f"run.json out is {_shown(record['out'])}, not a path")
    if "bad_records_sha256" in record and not (isinstance(record["bad_records_sha256"], str)
                                               and _SHA256.fullmatch(record["bad_records_sha256"])):
        problems.append(f"run.json bad_records_sha256 is {_shown(record['bad_records_sha256'])}, not a SHA-256 in "
                        "hexadecimal")
    now, chunks = record.get("chunks_run_now", 0), record.get("chunks")
    if not _count(now) or (_count(chunks) and now > chunks):
        problems.append(f"run.json chunks_run_now is {_shown(now)}, not a count of chunks no more than the "
                        f"{_shown(chunks)} chunk(s)")
    seconds = record.get("seconds", {})
    if not isinstance(seconds, dict) or set(seconds) != set(SECONDS) or not all(map(_number, seconds.values())):
        problems.append(f"run.json seconds is {_shown(seconds)}, not the non-negative {', '.join(SECONDS)} "
                        "cohort writes")
    elif seconds["prepare"] + seconds["evaluate"] > seconds["total"] + 0.002:  # each rounded to 1 ms
        problems.append(f"run.json seconds says prepare {seconds['prepare']} and evaluate {seconds['evaluate']}, "
                        f"more than the total {seconds['total']}")
    if "patients_missing" not in record:
        return problems
    missing, unaccounted = record["patients_missing"], record.get("patients_unaccounted")
    aside = set()
    for line in bad_lines or ():
        try:
            bad = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(bad, dict) and isinstance(bad.get("patient"), str):
            aside.add(bad["patient"])
    if not isinstance(missing, list) or not all(isinstance(p, str) for p in missing):
        problems.append(f"run.json patients_missing is {_shown(missing)}, not a list of patients")
    elif missing != sorted(set(missing)) or len(missing) > MISSING_SHOWN:
        problems.append(f"run.json patients_missing is {_shown(missing)}, not the sorted list of at most "
                        f"{MISSING_SHOWN} patients cohort writes")
    elif named := sorted(set(missing) & (recorded | aside)):
        problems.append(f"run.json patients_missing names patients the runs record or bad-records.jsonl sets "
                        f"aside ({', '.join(named[:3])})")
    elif missing and not (_count(unaccounted) and len(missing) <= unaccounted):
        problems.append(f"run.json patients_missing names {len(missing)} patient(s), but patients_unaccounted "
                        f"is {_shown(unaccounted)}")
    return problems
