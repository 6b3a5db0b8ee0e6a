"""The clinical vignette manifest: every directory under tests/cases/ is one case.

The format (``patient.*`` and ``expected.json``: ``description``, ``checks``, ``as_of``, ``expect``), its
checks and the comparable outcome of a report are :mod:`guidelinekg.report.vignettes`, which
``guidelinekg vignettes`` runs: loading a case here checks its expected.json as that command does. Lists are
compared as sets, exactly; ``doses`` only of the recommendations named.
"""

from __future__ import annotations

from pathlib import Path

from guidelinekg.report import vignettes as _format
from guidelinekg.report.vignettes import Case as Vignette
from guidelinekg.report.vignettes import case_folders, read_case

CASES = Path(__file__).parent / "cases"
CONTENT_NS = "https://w3id.org/guidelinekg/guideline/rls-iron/"

__all__ = ["CASES", "CONTENT_NS", "Vignette", "load_vignettes", "outcome_of", "short"]


def load_vignettes(cases: Path = CASES) -> list[Vignette]:
    """The cases of a directory (the shipped RLS guideline's by default; an example guideline keeps its own
    in ``examples/guidelines/NAME/cases``), each checked against the format of expected.json."""
    return [read_case(folder) for folder in case_folders(cases)]


def short(iri: str, namespace: str = CONTENT_NS) -> str:
    return iri.removeprefix(namespace)


def outcome_of(report: dict, namespace: str = CONTENT_NS) -> dict:
    """The comparable summary of a report, in the vocabulary of expected.json (statement IRIs shortened by
    ``namespace``, the guideline's; the shipped RLS guideline's by default)."""
    return _format.outcome_of(report, namespace)
