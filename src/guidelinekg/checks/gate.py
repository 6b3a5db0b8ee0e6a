"""Guideline content given on the command line is checked before anything is evaluated with it.

``recommend --content`` and ``cohort --content`` take Turtle an author may still be editing. The rules
trust the content's shape (a comparator is one of the four, a threshold is a number in the measure's
unit, criteria do not contain themselves): content that breaks it gives confident wrong answers, not
errors. So the same checks as ``guidelinekg validate --no-owl`` (syntax, SHACL, lints) run first, and
content with an error is refused. Warnings do not stop an evaluation. The shipped content is checked
by the test suite instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from guidelinekg.checks.validate import render_line, validate
from guidelinekg.errors import InputError

SHOWN = 5


def require_valid_content(paths: Sequence[Path]) -> None:
    """Raise :class:`InputError` (exit 2) listing the first errors if ``validate --no-owl`` finds any."""
    report = validate(list(paths), owl=False)
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    if not errors:
        return
    shown = "\n".join("  " + render_line(f) for f in errors[:SHOWN])
    more = f"\n  ... and {len(errors) - SHOWN} more" if len(errors) > SHOWN else ""
    raise InputError(
        f"the guideline content has {len(errors)} error(s), so nothing was evaluated with it:\n{shown}{more}",
        hint="run 'guidelinekg validate " + " ".join(str(p) for p in paths) + "' for every finding and its fix",
    )
