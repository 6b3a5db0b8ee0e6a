"""Render guidelines from their graph alone, as Markdown.

GUIDELINE is a guideline or guideline-version IRI, a unique path segment or ending of one (e.g. the
guideline's folder name), or a label. Without it, every shipped guideline version is rendered, sorted by
IRI. The text is regenerated from the graph: title block, sections and statements in gkg:order with
their source wording, citation markers and structured data, precedence rules, discrepancies with
primary texts, and references.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

FORMATS = ("markdown", "fhir")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "guideline",
        nargs="?",
        metavar="GUIDELINE",
        help="guideline or version IRI, unique part of one, or label",
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="markdown",
        help="output format (default: markdown); fhir: a Bundle of FHIR R4 PlanDefinitions, one per "
             "recommendation, not-indicated statement and monitoring action"
    )
    parser.add_argument("--output", "-o", type=Path, metavar="FILE", help="write to FILE instead of stdout")
    parser.add_argument(
        "--data",
        action="append",
        type=Path,
        metavar="TTL",
        help="render the guideline content in this Turtle file, or the files of this directory, instead of the "
        "shipped guidelines (repeatable; the core vocabulary is always loaded)",
    )


def run(args: argparse.Namespace) -> int:
    from guidelinekg.content import resources
    from guidelinekg.errors import InputError, Location
    from guidelinekg.render.guideline import GuidelineGraph, shipped_files

    from guidelinekg.engine.guidelines import content_files

    paths = [*resources.vocabulary_files(), *content_files(args.data)] if args.data else shipped_files()
    if args.output is not None:  # before any work: --output g.ttl of --data g.ttl would replace the source
        from guidelinekg.commands import refuse_overwriting_input

        data = list(args.data or [])
        # inside a --data folder, only a file its reader picks up (*.ttl) would be read as input next time
        read_next = Path(args.output).suffix.lower() == ".ttl"
        refuse_overwriting_input("--output", args.output, [*paths, *data], folders=data if read_next else ())
    graph = GuidelineGraph.load(paths)
    versions = graph.select_versions(args.guideline)
    if args.format == "fhir":
        import json

        from guidelinekg.render.plandefinition import plan_definitions

        text = json.dumps(plan_definitions(graph.view, versions), indent=2, ensure_ascii=False) + "\n"
    else:
        text = graph.markdown(versions)
    if args.output is not None:
        try:
            from guidelinekg.commands import write_replacing

            write_replacing(args.output, text.encode("utf-8"))
        except OSError as exc:
            raise InputError(f"cannot write: {exc.strerror}", Location(str(args.output))) from None
        return 0
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:  # UTF-8 whatever the terminal's locale: the text has ≤, ≥ and dashes
        buffer.write(text.encode("utf-8"))
        buffer.flush()
    else:
        sys.stdout.write(text)
    return 0
