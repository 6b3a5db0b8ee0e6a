"""The text and Markdown views of a report (report/views.py): what a clinician reads."""

from __future__ import annotations

from guidelinekg.report.views import render


def report(*recommendations: dict) -> dict:
    return {"guideline": {"label": "G", "version": "1", "status": "approved"}, "patient": "urn:p", "as_of": "2026-01-15",
            "applicable": True, "recommendations": list(recommendations), "not_recommended": [], "undetermined": [],
            "orders": [], "monitoring": [], "warnings": [], "provenance": {"run": "urn:run"}}


def rec(label: str, direction: str | None, dose: dict | None = None) -> dict:
    return {"label": label, "direction": direction, "strength": "strong", "certainty": "low", "line": None,
            "grading_note": None, "dose": dose, "citations": [], "because": ["x: true"],
            "administration": ["over 15 min"]}


def test_a_recommendation_against_is_never_shown_as_recommended_nor_dosed():
    for markdown in (False, True):
        text = render(report(rec("drug A", "for", {"value": 5, "unit": "mg"}),
                             rec("drug B", "against", {"value": 7, "unit": "mg"})), markdown=markdown)
        recommended, _, against = text.partition("Recommended against")
        assert "drug A" in recommended and "drug B" not in recommended
        assert "drug B" in against and "7 mg" not in against and "over 15 min" not in against
        assert "dose 5 mg" in recommended


def test_without_a_direction_a_recommendation_is_for():
    text = render(report(rec("drug A", None)))
    assert "Recommended\n" in text and "Recommended against" not in text
