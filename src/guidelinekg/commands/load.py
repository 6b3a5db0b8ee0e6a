"""Load run provenance and guideline versions into an on-disk store (one named graph each) for 'serve'
and 'audit --store'.

PROVENANCE is a 'recommend --provenance' Turtle file (one run), a cohort provenance.trig.gz (one named graph
per run) or a cohort --out directory. --guidelines adds the shipped vocabulary and one graph per
guideline version (graph IRI = version IRI); --content adds other guideline content the same way.
Loading a run again replaces its graph (a re-run differs in its times); identical content is skipped. A
run already stored with a record that differs in more than its times, and a version already stored with
other content, are refused (--replace replaces them); --content that 'validate --no-owl' finds errors in
is refused. A load is all or
nothing: it writes a new generation of the store and switches to it in one rename, so an unusable file,
a crash or a kill leaves the store as it was. A served store cannot be loaded (stop 'serve' first).
The store records the generations it makes (guidelinekg-store.json) and deletes only those; a --store
directory that is neither empty nor a store is refused, and so is a damaged store (its 'current' link
dangling, its files truncated or garbage).

Exit codes: 0 loaded, 2 unusable input, a directory that is not a store, a damaged store, or the store is
in use (stop 'serve' first).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from guidelinekg.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from guidelinekg.provenance.store import DEFAULT_STORE

    parser.add_argument(
        "inputs",
        nargs="*",
        type=Path,
        metavar="PROVENANCE",
        help="run provenance: recommend --provenance .ttl, cohort provenance.trig.gz or cohort --out DIR",
    )
    parser.add_argument(
        "--store",
        type=Path,
        default=DEFAULT_STORE,
        metavar="DIR",
        help=f"store directory, created if missing; an existing one must be empty or a store "
        f"(default: {DEFAULT_STORE})",
    )
    parser.add_argument(
        "--guidelines", action="store_true", help="load the shipped vocabulary and guideline versions"
    )
    parser.add_argument(
        "--content",
        type=Path,
        action="append",
        default=[],
        metavar="TTL",
        help="guideline content file or directory (one version per directory), repeatable",
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="replace a stored run whose record differs in more than its times, or a stored version with "
        "other content (refused otherwise)",
    )
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="report format (default: text)"
    )


def run(args: argparse.Namespace) -> int:
    from guidelinekg.provenance.store import load_store, provenance_file, read_guidelines

    if not (args.inputs or args.guidelines or args.content):
        raise InputError("nothing to load", hint="give PROVENANCE files, --guidelines or --content")
    from guidelinekg.commands import refuse_overwriting_input

    # the store's generations are written and deleted there: no input may be the store or inside it
    refuse_overwriting_input("--store", args.store, [*args.inputs, *args.content], folders=args.content,
                             output_is_folder=True)
    graphs = read_guidelines(None) if args.guidelines else []
    if args.content:
        from guidelinekg.checks.gate import require_valid_content

        require_valid_content(args.content)  # audit --store trusts what the store says of a version
        graphs += [g for g in read_guidelines(args.content) if g.kind == "guideline-version"]
    provenance = [provenance_file(path) for path in args.inputs]
    report = load_store(args.store, graphs=graphs, provenance=provenance, replace=args.replace)
    if args.format == "json":
        out = {
            "store": str(args.store),
            **{
                k: [
                    {"graph": g, "kind": kind, "triples": n, "sources": list(src)}
                    for g, kind, n, src in getattr(report, k)
                ]
                for k in ("added", "replaced", "unchanged")
            },
        }
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return 0
    for label, rows in (
        ("added", report.added),
        ("replaced", report.replaced),
        ("unchanged, skipped", report.unchanged),
    ):
        for graph, kind, n, _ in rows:
            sys.stdout.write(f"{label}: {kind} <{graph}> ({n} triples)\n")
    sys.stdout.write(
        f"store {args.store}: {len(report.added)} added, {len(report.replaced)} replaced, "
        f"{len(report.unchanged)} unchanged\n"
    )
    return 0
