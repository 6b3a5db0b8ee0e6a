"""Between guidelines, a recommendation against a part of what another recommends (found in review): a
recommendation for a whole class (gamma's "a widget drug", a SKOS concept with members) against delta's "no
examplium" (one member), "no oral widget drug" (a narrower class, not indicated) or "no otherium with vitamin Q"
(a combination product, a substance of its own in the class) was reported as a full contradiction. It is now
`except`, as rule 92's `recommended-except` within one guideline: the rest of the class stays recommended. A
recommendation against the whole class (delta above gadget 90 %) stays a contradiction, of the class and of its
member otherium; and otherium alone against "otherium with vitamin Q" is no contradiction: the combination is
not otherium. Made-up content: tests/fixtures/conflicts-parts/gamma and delta."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guidelinekg.cli import main

HERE = Path(__file__).parent / "fixtures" / "conflicts-parts"
GAMMA, DELTA = HERE / "gamma", HERE / "delta"
CONTENT = ["--content", str(GAMMA), "--content", str(DELTA)]


def run_json(capsys, *args) -> dict:
    assert main([*args, "--format", "json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def short(iri: str) -> str:
    return iri.rsplit(":", 1)[1]


def test_a_part_of_a_class_is_except_and_the_whole_a_contradiction(capsys):
    found = run_json(capsys, "conflicts", *CONTENT)["disagreements"]
    got = {(d["kind"], short(d["first"]["statement"]), short(d["second"]["statement"]), tuple(d["regions"]))
           for d in found}
    assert got == {
        ("contradiction", "rec-widget", "rec-no-widget", ("gadget level > 90 %",)),
        ("contradiction", "rec-otherium", "rec-no-widget", ("gadget level > 90 %",)),
        ("except", "rec-widget", "rec-no-examplium", ("gadget level > 45 %",)),
        ("except", "rec-widget", "ni-oral", ("gadget level > 45 %",)),
        ("except", "rec-widget", "rec-no-combination", ("gadget level > 45 %",)),
    }
    # otherium against the combination "otherium with vitamin Q": no finding at all
    assert not [d for d in found if short(d["first"]["statement"]) == "rec-otherium" and d["kind"] != "contradiction"]
    [part] = [d for d in found if short(d["second"]["statement"]) == "rec-no-examplium"]
    assert part["second"]["action"] == "examplium" and part["first"]["action"] == "a widget drug"


def test_the_text_says_the_rest_stands(capsys):
    assert main(["conflicts", *CONTENT]) == 0
    text = capsys.readouterr().out
    assert text.count("[except] a widget drug") == 3
    assert "  a part only: examplium; the rest of a widget drug stays recommended" in text


def test_validate_reports_a_part_as_an_info(capsys):
    report = run_json(capsys, "validate", str(GAMMA), str(DELTA), "--no-owl")
    codes = sorted((f["code"], f["severity"]) for f in report["findings"] if f["code"].startswith("guideline-"))
    assert codes == [("guideline-contradiction", "warning")] * 2 + [("guideline-except", "info")] * 3
    [one] = [f for f in report["findings"] if f["code"] == "guideline-except" and "no examplium" in f["message"]]
    assert "the rest of a widget drug stays recommended" in one["message"]


def bundle(gadget: float) -> dict:
    obs = {"resourceType": "Observation", "id": "o1", "status": "final", "effectiveDateTime": "2026-01-10",
           "subject": {"reference": "Patient/p"}, "code": {"coding": [{"system": "http://loinc.org", "code": "99992-0"}]},
           "valueQuantity": {"value": gadget, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}}
    resources = [{"resourceType": "Patient", "id": "p", "birthDate": "1970-01-01"}, obs]
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


@pytest.mark.parametrize(("gadget", "expected"), [
    (30, []),
    # a part of the class against, or not indicated: the class stays recommended, the rest standing
    (50, [("except", "rec-widget", "ni-oral", "not indicated"),
          ("except", "rec-widget", "rec-no-combination", "recommended against"),
          ("except", "rec-widget", "rec-no-examplium", "recommended against")]),
    # the whole class against: the most direct no only
    (95, [("contradiction", "rec-widget", "rec-no-widget", "recommended against"),
          ("contradiction", "rec-otherium", "rec-no-widget", "recommended against")]),
])
def test_recommend_for_one_patient(capsys, tmp_path, gadget, expected):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(bundle(gadget)), encoding="utf-8")
    args = ["recommend", str(path), *CONTENT, "--as-of", "2026-02-01"]
    document = run_json(capsys, *args)
    got = [(d["kind"], short(d["first"]["statement"]), short(d["second"]["statement"]), d["second"]["status"])
           for d in document["disagreements"]]
    assert sorted(got) == sorted(expected)
    assert main(args) == 0
    text = capsys.readouterr().out
    if gadget == 50:
        assert "[except]" in text and "(a part of a widget drug only: the rest stays recommended)" in text
    import jsonschema
    from referencing import Registry, Resource

    docs = Path(__file__).parents[1] / "docs"
    one, several = (json.loads((docs / name).read_text(encoding="utf-8"))
                    for name in ("recommend.schema.json", "recommend-several.schema.json"))
    registry = Registry().with_resources([(one["$id"], Resource.from_contents(one))])
    jsonschema.Draft202012Validator(several, registry=registry).validate(document)
