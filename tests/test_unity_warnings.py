"""Warnings about results of a plain-number measure print no unit after the number, as explanations do.

Found by a trial author (DXA T-scores, canonical unit ``1``): warnings said "-3 1 of 2023-11-01" and "-25 1 is
implausible (below -8 1)", readable as -31 and -81. The rules that word a result (10, 11, 16, 28, 31, 33) now
print the unit as :func:`guidelinekg.report.graphread.unit_text` does for explanations: nothing for ``1`` or a
lone annotation (``{score}``), the unit otherwise. Made-up content: tests/fixtures/unity-warnings/guideline.ttl;
FHIR input built here; both engines.

Found by the same author: a test ordered showed an unverified LOINC code as "(LOINC 38263-0)" in text, while
FHIR output withholds it; text and Markdown now say "(LOINC 38263-0, unverified)".
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.report.patient import build_report
from guidelinekg.report.views import render

FIXTURE = Path(__file__).parent / "fixtures" / "unity-warnings" / "guideline.ttl"
GAMMA, DELTA, ALPHA = ("99993-8", "1"), ("99992-0", "{score}"), ("99991-2", "mg/dL")


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load([FIXTURE])


def report_of(kb: KnowledgeBase, results: list[tuple], engine: str = "oxigraph") -> dict:
    entries = [{"resource": {"resourceType": "Patient", "id": "p1", "birthDate": "1960-03-02"}}]
    for n, ((code, unit), value, when) in enumerate(results):
        entries.append({"resource": {
            "resourceType": "Observation", "id": f"o{n}", "status": "final", "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": when, "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}})
    raw = json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode()
    patient = load_patient_input("p.json", matcher=kb.matcher, measures=kb.measures, reads=kb.reads, raw=raw)
    evaluation = evaluate(kb, [patient], as_of=date(2026, 1, 15), engine=engine)
    return build_report(evaluation, patient.patient_iri, kb.version())


def warnings_of(kb: KnowledgeBase, results: list[tuple], engine: str) -> dict[str, str]:
    return {w["code"]: w["message"] for w in report_of(kb, results, engine)["warnings"]}


CASES = [
    ([(GAMMA, -25, "2026-01-02")], "implausible-value", "gamma T-score -25 is implausible (below -8); the value"),
    ([(DELTA, 30, "2026-01-02")], "implausible-value", "delta score 30 is implausible (above 27); the value"),
    ([(ALPHA, -5, "2026-01-02")], "implausible-value", "alpha level -5 mg/dL is implausible (below 0 mg/dL); the"),
    ([(GAMMA, -3, "2023-11-01")], "stale-result", "gamma T-score -3 of 2023-11-01 (Observation/o0) is "),
    ([(DELTA, 12, "2026-01-02T08:00:00Z"), (DELTA, 14, "2026-01-02T08:00:00Z")], "simultaneous-results-differ",
     ": 12 (Observation/o0) and 14 (Observation/o1)"),
    ([(GAMMA, -3, "2026-01")], "imprecise-result-date", "gamma T-score -3 (Observation/o0) is dated without a day"),
    ([(GAMMA, -3, "2025-12"), (GAMMA, -2, "2025-12-10")], "imprecise-result-date",
     "gamma T-score -3 (Observation/o0) is dated without a day, some time from 2025-12-01 to 2025-12-31, so it may be "
     "earlier or later than -2 of 2025-12-10 (Observation/o1)"),
]


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
@pytest.mark.parametrize(("results", "code", "said"), CASES, ids=lambda x: x if isinstance(x, str) else None)
def test_a_plain_number_is_worded_without_a_unit(kb, engine, results, code, said):
    warnings = warnings_of(kb, results, engine)
    assert said in warnings[code], warnings
    for message in warnings.values():
        assert not re.search(r"\d (1|\{score\})\b", message), message


def test_a_test_ordered_says_when_its_code_is_unverified(kb):
    text = render(report_of(kb, []))  # no result: every test is ordered
    order = text[text.index("Order\n"):].split("\n\n")[0].splitlines()[1:]
    assert order == ["  - alpha level (LOINC 99991-2)", "  - delta score (LOINC 99992-0, unverified)",
                     "  - gamma T-score (LOINC 99993-8, unverified)"]
    assert "- gamma T-score (LOINC 99993-8, unverified)" in render(report_of(kb, []), markdown=True)
