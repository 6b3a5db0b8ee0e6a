"""A cohort's results as FHIR R4 NDJSON (``cohort --fhir``), laid out as a Bulk Data export.

Each report of ``results.jsonl`` is rendered as ``recommend --format fhir`` renders it
(:func:`guidelinekg.report.fhirout.fhir_bundle`) and its resources are written one per line into
``fhir/<ResourceType>.ndjson``, with ``fhir/manifest.json`` in the form of a Bulk Data ``$export`` manifest
(``transactionTime`` is the as-of date, ``output`` one entry per file with its count), references between
the resources as ``Type/id``, so that a FHIR server's ``$import`` or any Bulk Data reader takes it. The reports of a cohort do not carry the records each
criterion rests on, so requests here have no ``reasonReference`` (their ``note`` still explains them), and a
DetectedIssue implicates no request (what a warning is about is not in ``results.jsonl``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from guidelinekg.errors import InputError
from guidelinekg.report.fhirout import fhir_bundle


def _relative(node, local: dict[str, str]) -> None:
    """Replace the Bundle's urn:uuid references by ``Type/id``, as NDJSON files of a server's export hold
    them (there is no Bundle to resolve a urn:uuid in)."""
    if isinstance(node, dict):
        if node.get("reference") in local:
            node["reference"] = local[node["reference"]]
        for value in node.values():
            _relative(value, local)
    elif isinstance(node, list):
        for value in node:
            _relative(value, local)


def write_fhir(folder: Path) -> dict[str, int]:
    """Write ``folder/fhir/`` from ``folder/results.jsonl``; the count of resources per type."""
    target = folder / "fhir"
    try:
        target.mkdir(exist_ok=True)
        files: dict[str, object] = {}
        counts: dict[str, int] = {}
        as_of = None
        try:
            with (folder / "results.jsonl").open(encoding="utf-8") as results:
                for line in results:
                    report = json.loads(line)
                    as_of = as_of or report["as_of"]
                    entries = fhir_bundle([report])["entry"]
                    local = {e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in entries}
                    for entry in entries:
                        kind = entry["resource"]["resourceType"]
                        _relative(entry["resource"], local)
                        if kind not in files:  # written beside, renamed over: a hard link keeps the old
                            files[kind] = (target / f".{kind}.ndjson.tmp").open("w", encoding="utf-8",
                                                                                 newline="\n")
                        files[kind].write(json.dumps(entry["resource"], ensure_ascii=False) + "\n")
                        counts[kind] = counts.get(kind, 0) + 1
        finally:
            for handle in files.values():
                handle.close()
        manifest = {"transactionTime": f"{as_of}T00:00:00Z" if as_of else None, "request": "guidelinekg cohort --fhir",
                    "requiresAccessToken": False,
                    "output": [{"type": k, "url": f"{k}.ndjson", "count": counts[k]} for k in sorted(counts)],
                    "error": []}
        for kind in files:
            os.replace(target / f".{kind}.ndjson.tmp", target / f"{kind}.ndjson")
        (target / ".manifest.json.tmp").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        os.replace(target / ".manifest.json.tmp", target / "manifest.json")
    except OSError as exc:
        raise InputError(f"cannot write {target}: {exc.strerror or exc}") from None
    return counts
