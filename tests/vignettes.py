"""The clinical vignette manifest: every directory under tests/cases/ is one case.

A case holds the patient input (``patient.json`` FHIR R4, ``patient.ttl`` / ``patient.jsonld`` RDF) and
``expected.json``: ``description``, ``checks`` (IRIs of the guideline statements it exercises), ``as_of``
and ``expect``. ``expect`` lists statement local names (the part after the content namespace) for
``recommended``, ``not_recommended``, ``undetermined`` and ``monitoring``, LOINC codes for ``orders``,
warning codes for ``warnings``, ``doses`` as ``{recommendation: [value, unit] or null}``, the statement
local names of ``recommended_against`` (the made recommendations of direction against, also in
``recommended``), ``not_indicated`` (rule 71) and ``population_not_met`` (rule 72), and ``cautions`` as
``{recommendation: [caution, ...]}`` for the recommendations that have any; or, for bad
input, ``{"error": true, "exit_code": 2, "message_contains": [...]}``. Lists are compared as sets, exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

CASES = Path(__file__).parent / "cases"
CONTENT_NS = "https://w3id.org/guidelinekg/guideline/rls-iron/"


@dataclass(frozen=True)
class Vignette:
    name: str
    directory: Path
    patient: Path
    expected: dict

    @property
    def as_of(self) -> str:
        return self.expected["as_of"]


def load_vignettes(cases: Path = CASES) -> list[Vignette]:
    """The cases of a directory (the shipped RLS guideline's by default; an example guideline keeps its own
    in ``examples/guidelines/NAME/cases``)."""
    out = []
    for directory in sorted(p for p in cases.iterdir() if p.is_dir()):
        patients = sorted(directory.glob("patient.*"))
        assert len(patients) == 1, f"{directory}: expected exactly one patient.* file"
        expected = json.loads((directory / "expected.json").read_text(encoding="utf-8"))
        out.append(Vignette(directory.name, directory, patients[0], expected))
    return out


def short(iri: str, namespace: str = CONTENT_NS) -> str:
    return iri.removeprefix(namespace)


def outcome_of(report: dict, namespace: str = CONTENT_NS) -> dict:
    """The comparable summary of a report, in the vocabulary of expected.json (statement IRIs shortened by
    ``namespace``, the guideline's; the shipped RLS guideline's by default)."""

    def short(iri: str) -> str:
        return iri.removeprefix(namespace)

    return {
        "applicable": report["applicable"],
        "recommended": sorted(short(r["iri"]) for r in report["recommendations"]),
        "not_recommended": sorted(short(r["iri"]) for r in report["not_recommended"]),
        "undetermined": sorted(short(r["iri"]) for r in report["undetermined"]),
        "orders": sorted(o["loinc"] for o in report["orders"]),
        "warnings": sorted({w["code"] for w in report["warnings"]}),
        "monitoring": sorted(short(m["iri"]) for m in report["monitoring"]),
        "doses": {short(r["iri"]): ([r["dose"]["value"], r["dose"]["unit"]] if r["dose"] else None)
                  for r in report["recommendations"]},
        "recommended_against": sorted(short(r["iri"]) for r in report["recommendations"] if r["direction"] == "against"),
        "not_indicated": sorted(short(n["iri"]) for n in report["not_indicated"]),
        "population_not_met": sorted(short(n["iri"]) for n in report["population_not_met"]),
        "cautions": {short(r["iri"]): sorted(short(c["iri"]) for c in r["cautions"])
                     for r in report["recommendations"] if r["cautions"]},
    }
