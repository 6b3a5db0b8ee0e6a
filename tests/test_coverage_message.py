"""The not-applicable warning of a guideline whose coverage combines criteria names the members that decided it.

A guideline may cover "widgetitis in adults" (all of: the diagnosis, age >= 18). When the patient is not
covered, or coverage is unknown, the report shows no criteria (nothing of the version is derived), so the
warning itself must say which member is false or unknown: "the criteria of the report say which" pointed
at nothing.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.report.patient import build_report

MADEUP = Path(__file__).parent / "fixtures" / "madeup" / "guideline.ttl"


@pytest.fixture(scope="module")
def kb(tmp_path_factory) -> KnowledgeBase:
    root = tmp_path_factory.mktemp("coverage")
    text = MADEUP.read_text(encoding="utf-8").replace("gkg:coversCondition ex:crit-widgetitis",
                                                      "gkg:coversCondition ex:crit-cover")
    (root / "guideline.ttl").write_text(text + """
ex:crit-adult a gkg:AgeCriterion ; rdfs:label "age 18 years or more"@en ; gkg:comparator gkg:GreaterOrEqual ;
    gkg:thresholdValue 18 ; gkg:thresholdUnit "a" .
ex:crit-cover a gkg:AllOf ; rdfs:label "widgetitis in adults"@en ; gkg:member ex:crit-widgetitis , ex:crit-adult .
""", encoding="utf-8")
    return KnowledgeBase.load([root / "guideline.ttl"])


def warning(kb: KnowledgeBase, tmp_path: Path, birth: str | None, engine: str) -> str:
    patient = {"resourceType": "Patient", "id": "p1", **({"birthDate": birth} if birth else {})}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": patient},
        {"resource": {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
                      "clinicalStatus": {"coding": [{"code": "active"}]},
                      "code": {"coding": [{"system": "http://snomed.info/sct", "code": "999999999"}]}}}]}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    data = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    rep = build_report(evaluate(kb, [data], as_of=date(2026, 1, 15), engine=engine), data.patient_iri, kb.version())
    [message] = [w["message"] for w in rep["warnings"] if w["code"] == "guideline-not-applicable"]
    return message


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
@pytest.mark.parametrize(("birth", "said"), [("2015-01-01", "(not met: 'age 18 years or more')"),
                                             (None, "(unknown: 'age 18 years or more')")])
def test_combined_coverage_names_the_member_that_decided(kb, tmp_path, engine, birth, said):
    message = warning(kb, tmp_path, birth, engine)
    assert f"meet 'widgetitis in adults' {said}" in message
    assert "widgetitis'" not in message.split("(", 1)[1]  # the diagnosis holds: it is not named


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_a_diagnosis_recorded_only_as_text_is_pointed_at(tmp_path, engine):
    """'no diagnosis is recorded' with a Condition 'widgetitis' in text only would mislead: say what was not read."""
    kb = KnowledgeBase.load([MADEUP])
    messages = {}
    for name, code in (("text", {"text": "widgetitis"}),
                       ("coded-other", {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]})):
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": {"resourceType": "Patient", "id": "p1", "birthDate": "1980-01-01"}},
            {"resource": {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
                          "clinicalStatus": {"coding": [{"code": "active"}]}, "code": code}}]}
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        data = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
        rep = build_report(evaluate(kb, [data], as_of=date(2026, 1, 15), engine=engine), data.patient_iri,
                           kb.version())
        messages[name] = [w["message"] for w in rep["warnings"] if w["code"] == "guideline-not-applicable"][0]
    assert "see the uncoded-condition warnings" in messages["text"]
    assert "uncoded" not in messages["coded-other"]  # a coded Condition of something else: plainly none
