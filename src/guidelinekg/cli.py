"""Command-line interface. The only place that maps library errors to exit codes.

Exit codes: 0 success (validate: conforms, warnings allowed), 1 violations found, 2 unusable input.
Subcommands live in their own modules; each exposes ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from guidelinekg import __version__
from guidelinekg.errors import GuidelineKGError

# The registry: an explicit list, the parser is derived from it.
COMMANDS: list[tuple[str, str, str]] = [
    ("validate", "guidelinekg.commands.validate", "check guideline content: syntax, shapes, OWL, lints"),
    ("render", "guidelinekg.commands.render", "render a guideline from the graph (markdown)"),
    ("recommend", "guidelinekg.commands.recommend", "derive explained, cited recommendations for a patient"),
    ("cohort", "guidelinekg.commands.cohort", "evaluate a whole cohort (Bulk NDJSON, bundles, RDF), resumable"),
    ("query", "guidelinekg.commands.query", "run a SPARQL or library query over guidelines, provenance and data"),
    ("load", "guidelinekg.commands.load", "load run provenance and guideline versions into an on-disk store"),
    ("serve", "guidelinekg.commands.serve", "serve the store as a read-only SPARQL 1.1 endpoint on localhost"),
    ("audit", "guidelinekg.commands.audit", "audit recorded runs: provenance complete, hashes intact, replay equal"),
    ("new", "guidelinekg.commands.new", "scaffold a new guideline: content, terms, citations, a vignette, a README"),
    ("vignettes", "guidelinekg.commands.vignettes", "run a guideline's vignettes: each case's report against its expected.json"),
    ("conflicts", "guidelinekg.commands.conflicts", "where loaded guidelines disagree: regions, statements, citations"),
    ("hooks", "guidelinekg.commands.hooks", "serve the guidelines as a CDS Hooks service (patient-view, order-select)"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="guidelinekg", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"guidelinekg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module_name, help_text in COMMANDS:
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip())
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args))
    except GuidelineKGError as exc:
        print(f"guidelinekg {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("guidelinekg: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
