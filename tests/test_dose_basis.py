"""What a dose is an amount of (gkg:doseBasis: "elemental iron"), for every dose a report gives.

Found by an author (children's oral iron, 3 mg/kg/day of elemental iron): the weight-based dose of a dosing
statement lost its basis, so the FHIR MedicationRequest gave 40 mg as a structured doseQuantity (read as 40 mg of
the product, a salt about five times lighter in iron) and the text and JSON said "dose 40 mg". The basis of the
dose node the dose came from (the intervention's own, a dosing statement's fixed dose, or the weight-based dose
it was computed from) is now the dose's ``basis``; a dose with a basis is text in FHIR, never doseQuantity.
Made-up content: tests/fixtures/dose-status/guideline.ttl with bases added here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.report.fhirout import fhir_bundle
from guidelinekg.report.patient import build_report
from guidelinekg.report.views import render
from test_dose_status import AS_OF, EX, FIXTURE, PATIENT, _patient, _rec

BASES = """@prefix gkg: <https://w3id.org/guidelinekg/ontology#> . @prefix ex: <urn:example:dosestatus:> .
ex:dose-gamma gkg:doseBasis "elemental gamma" .
ex:dose-beta-checked gkg:doseBasis "beta base" .
ex:dose-beta-unchecked gkg:doseBasis "beta base" .
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    extra = tmp_path_factory.mktemp("bases") / "bases.ttl"
    extra.write_text(BASES, encoding="utf-8")
    kb = KnowledgeBase.load([FIXTURE, extra])
    return build_report(evaluate(kb, [_patient()], as_of=AS_OF), PATIENT, kb.version(), facts=True)


def test_the_dose_says_what_it_is_an_amount_of(report):
    assert _rec(report, "rec-gamma")["dose"]["basis"] == "elemental gamma"  # computed from the weight-based dose
    assert _rec(report, "rec-beta")["dose"]["basis"] == "beta base"  # the dosing statements' fixed dose
    assert "basis" not in _rec(report, "rec-delta")["dose"]  # the product's own amount


def test_text_shows_the_basis_beside_the_dose(report):
    [gamma] = [line for line in render(report).splitlines() if "gammamab for everyone" in line]
    assert "dose 35 mg elemental gamma" in gamma


def test_fhir_gives_a_dose_of_a_part_as_text_only(report):
    requests = {r["instantiatesCanonical"][0]: r for e in fhir_bundle([report])["entry"]
                if (r := e["resource"])["resourceType"] == "MedicationRequest" and r.get("instantiatesCanonical")}
    [gamma] = requests[EX + "rec-gamma"]["dosageInstruction"]
    assert "doseAndRate" not in gamma and gamma["text"].startswith("35 mg elemental gamma")
    [delta] = requests[EX + "rec-delta"]["dosageInstruction"]
    assert delta["doseAndRate"][0]["doseQuantity"]["value"] == 5


def test_a_cds_hooks_card_gives_the_basis_and_status_beside_the_dose(report):
    import uuid

    from guidelinekg.hooks.cards import CardContext, recommendation_card

    ctx = CardContext(str(uuid.uuid4()), {"reference": "Patient/d1"}, report["as_of"], report["patient"])
    card = recommendation_card(ctx, report, _rec(report, "rec-gamma"), [])
    assert "Dose: **35 mg elemental gamma (seen in secondary sources only)**" in card["detail"]
    assert card["summary"].endswith("dose 35 mg elemental gamma (seen in secondary sources only)")
