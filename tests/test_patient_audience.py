"""`recommend --audience patient`: the report's decisions in the guideline's wording for patients, chosen by
language tag, with the clinician wording (marked) wherever the guideline has none.

Made-up content: tests/fixtures/madeup/guideline.ttl with wording.ttl (English, German, an English regional
variant, and items without wording). The shipped guideline's wording is checked on every vignette in
tests/test_vignettes.py (the same decisions, nothing left in clinician wording).
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import jsonschema
import pytest
from markdown_it import MarkdownIt

from guidelinekg.cli import main
from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.report.forpatient import choose
from guidelinekg.report.patient import build_report
from test_reasoner import madeup_patient

MADEUP = Path(__file__).parent / "fixtures" / "madeup"
SCHEMA = json.loads((Path(__file__).parents[1] / "docs" / "recommend.schema.json").read_text(encoding="utf-8"))
EX = "urn:example:madeup:"
PATIENT = "urn:example:Patient/w1"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load([MADEUP / "guideline.ttl", MADEUP / "wording.ttl"])


def view(kb, value: str | None, lang: str) -> dict:
    evaluation = evaluate(kb, [madeup_patient(value)], as_of=date(2026, 1, 5))
    report = build_report(evaluation, PATIENT, kb.version(), patient_lang=lang)
    jsonschema.validate(json.loads(json.dumps(report)), SCHEMA)
    return report


def test_english_wording_with_the_decision_its_reasons_and_its_dated_facts(kb):
    report = view(kb, "41.9", "en")
    (item,) = report["patient_view"]["sections"]["recommended"]
    assert item["iri"] == EX + "rec-examplomab" and item["wording"] == "patient"
    assert item["text"] == "Examplomab, a medicine taken by mouth, is recommended."  # en takes en-GB
    assert item["why"]["criterion"] == {"iri": EX + "crit-low-widget", "text": "Your widget level is below 42 mg/dL.",
                                        "wording": "patient"}
    assert item["why"]["facts"] == [{"measure": EX + "widget-level", "name": "widget level", "value": 41.9,
                                     "comparator": None, "unit": "mg/dL", "date": "2026-01-02", "preliminary": False,
                                     "note": None}]
    assert item["grading"] == "strong recommendation, low certainty of the evidence"
    assert item["dose"] == {"value": 7, "unit": "mg"}
    assert report["patient_view"]["title"]["text"] == "Widget care"
    assert report["patient_view"]["wording_note"] == "Written by the test authors, not reviewed."
    assert report["patient_view"]["missing_wording"] == []
    # the clinician report is unchanged beside it
    assert report["recommendations"][0]["statement"].startswith("Give examplomab 7 mg")


def test_another_language_keeps_clinician_wording_where_none_is_given_and_says_so(kb):
    pv = view(kb, "41.9", "de")["patient_view"]
    (item,) = pv["sections"]["recommended"]
    assert item["text"].startswith("Examplomab, ein Arzneimittel") and item["wording"] == "patient"
    assert item["why"]["criterion"] == {"iri": EX + "crit-low-widget", "text": "widget level < 42 mg/dL",
                                        "wording": "clinician"}
    assert pv["missing_wording"] == [EX + "crit-low-widget"]
    assert pv["title"]["text"] == "Widget-Behandlung"
    assert pv["wording_note"] == "Written by the test authors, not reviewed."  # no German note: never lost


@pytest.mark.parametrize(("lang", "title"), [("de-CH", "Widget-Behandlung"), ("DE", "Widget-Behandlung"),
                                             ("en-US", "Widget care"), ("fr", "Made-up widget guideline v1")])
def test_language_tags_fall_back_within_a_language_and_never_to_another(kb, lang, title):
    pv = view(kb, "41.9", lang.lower())["patient_view"]
    assert pv["title"]["text"] == title
    if lang == "fr":  # nothing in French: every item in clinician wording, each listed
        assert pv["title"]["wording"] == "clinician"
        (item,) = pv["sections"]["recommended"]
        assert item["wording"] == "clinician" and item["text"] == "examplomab for low widget level"
        assert set(pv["missing_wording"]) == {EX + "rec-examplomab", EX + "crit-low-widget", EX + "v1"}


@pytest.mark.parametrize(("texts", "lang", "want"), [
    ({"en": "a", "en-gb": "b"}, "en-gb", "b"), ({"en": "a", "en-gb": "b"}, "en-au", "a"),
    ({"en-gb": "b", "en-us": "c"}, "en", "b"), ({"pt-br": "p"}, "pt-pt", "p"), ({"de": "d"}, "en", None),
    ({"zh-hant": "t"}, "zh-hant-tw", "t"), ({}, "en", None), (None, "en", None),
])  # fmt: skip
def test_choose_a_language(texts, lang, want):
    assert choose(texts, lang) == want


def test_missing_result_is_worded_as_undecided_with_the_test_it_needs(kb):
    report = view(kb, None, "en")
    pv = report["patient_view"]
    (undecided,) = pv["sections"]["undetermined"]
    assert undecided["iri"] == EX + "rec-examplomab" and undecided["needs"] == ["widget level"]
    assert undecided["unclear"] == ["widget level < 42 mg/dL: unknown (no usable result)"]
    (test,) = pv["sections"]["tests"]
    assert test == {"iri": EX + "widget-level", "text": "Widget level, a blood test of your widgets.",
                    "wording": "patient", "instructions": []}
    assert "recommended" not in pv["sections"]


def test_no_decision_when_nothing_applies(kb):
    pv = view(kb, "500", "en")["patient_view"]
    assert pv["sections"] == {} and pv["applicable"] is True and pv["applicability"] == "applies"


# --- the command line, on the shipped guideline (content given with --content must validate) ------------

EXAMPLE = Path(__file__).parents[1] / "examples" / "patient-ferritin-45.json"


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["recommend", str(EXAMPLE), "--as-of", "2026-01-15", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_text_report_for_patients(capsys):
    code, out, _ = _run(capsys, "--audience", "patient")
    assert code == 0
    assert out.startswith("Iron treatment for restless legs syndrome: information for you\n")
    assert "not yet reviewed by a clinician" in out  # the wording note heads the report
    assert "    Based on: serum ferritin 45 ng/mL (2026-01-08); transferrin saturation 18% (2026-01-08)\n" in out
    assert "    Dose: 675 mg\n" in out  # computed, never the 1000 mg of the clinician label
    assert "    How strongly: strong recommendation, moderate certainty of the evidence\n" in out
    assert "[clinician wording]" not in out  # the shipped guideline is worded for patients throughout
    assert "IV ferric carboxymaltose 1000 mg" not in out and "(first-line)" not in out


def test_a_language_without_wording_shows_clinician_wording_marked(capsys):
    code, out, _ = _run(capsys, "--audience", "patient", "--lang", "de")
    assert code == 0
    assert "  - IV ferric carboxymaltose 1000 mg (first-line) [clinician wording]\n" not in out
    assert "  - Give IV ferric carboxymaltose" not in out
    items = [line for line in out.splitlines() if line.startswith("  - ")]
    assert items and all(line.endswith("[clinician wording]") for line in items)
    assert "shown as written for clinicians: the guideline has no wording for patients in 'de'" in out


def test_markdown_report_for_patients_nests_under_each_item(capsys):
    code, out, _ = _run(capsys, "--audience", "patient", "--format", "markdown")
    assert code == 0
    tokens = MarkdownIt("commonmark").parse(out)
    depth, nested = 0, []
    for t in tokens:
        depth += t.nesting if t.type in ("bullet_list_open", "bullet_list_close") else 0
        if t.type == "inline" and depth == 2:
            nested.append(t.content)
    assert "Dose: 675 mg" in nested and "Dose: 65 mg, daily" in nested


def test_json_report_for_patients_keeps_the_clinician_report(capsys):
    code, out, _ = _run(capsys, "--audience", "patient", "--format", "json")
    report = json.loads(out)
    jsonschema.validate(report, SCHEMA)
    assert report["patient_view"]["language"] == "en" and report["patient_view"]["missing_wording"] == []
    code, plain, _ = _run(capsys, "--format", "json")
    clinician = json.loads(plain)
    assert "patient_view" not in clinician  # only when asked
    report.pop("patient_view")
    assert {k: v for k, v in report.items() if k != "provenance"} == \
        {k: v for k, v in clinician.items() if k != "provenance"}


CASES = Path(__file__).parent / "cases"


def _case(capsys, name: str, *args: str) -> str:
    expected = json.loads((CASES / name / "expected.json").read_text(encoding="utf-8"))
    code = main(["recommend", str(CASES / name / "patient.json"), "--as-of", expected["as_of"], "--audience",
                 "patient", *args])
    out, _ = capsys.readouterr()
    assert code == 0
    return out


def test_a_special_population_statement_not_made_says_so_with_its_conditions_and_facts(capsys):
    """ESRD, ferritin 250 ng/mL: iron sucrose needs < 200. Never worded as a suggestion for the patient."""
    out = _case(capsys, "149-esrd-ferritin-250-iron-sucrose-not-met")
    section = out.split("Not suggested for you\n", 1)[1].split("\n\n", 1)[0]
    assert "    Not suggested for you: its conditions are not met.\n" in section
    assert "serum ferritin 250 ng/mL (2026-01-20)" in section
    assert "What the guideline suggests for you" not in out


def test_an_undecided_statement_says_it_is_undecided_and_what_is_missing(capsys):
    out = _case(capsys, "023-no-birth-date")
    section = out.split("Not decided yet: more information is needed\n", 1)[1].split("\n\n", 1)[0]
    items = section.split("\n  - ")
    # five recommendations, and the adults' caution about iron sucrose (a not-indicated statement, rule 71)
    assert len(items) == 6 and all("    Not decided for you yet.\n" in item + "\n" for item in items)
    assert "iron sucrose is not effective" in items[-1]
    assert all("no usable birth date" in item for item in items)  # its own or a prevailing statement's


@pytest.mark.parametrize(("case", "sentence"), [
    ("091-rls-unconfirmed", "Whether this guideline applies to you is not clear yet"),
    ("080-deceased-boolean", "Your record is marked as deceased"),
])  # fmt: skip
def test_an_unclear_or_deceased_record_is_not_told_the_guideline_does_not_apply(capsys, case, sentence):
    out = _case(capsys, case)
    assert sentence in out and "This guideline does not apply to you." not in out


def test_wording_never_becomes_markup(capsys, tmp_path):
    folder = tmp_path / "rls"
    shutil.copytree(Path(__file__).parents[1] / "ontology" / "guidelines" / "rls-iron", folder)
    wording = folder / "patient-wording.ttl"
    wording.write_text(wording.read_text(encoding="utf-8").replace(
        '"Iron treatment for restless legs syndrome"@en', '"Iron\\n# Heading <script>x</script>"@en'), encoding="utf-8")
    code = main(["recommend", str(EXAMPLE), "--as-of", "2026-01-15", "--content", str(folder), "--audience",
                 "patient", "--format", "markdown"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0] == "# Iron # Heading &lt;script&gt;x&lt;/script&gt;: information for you"
    assert [t.tag for t in MarkdownIt("commonmark").parse(out) if t.type == "heading_open"].count("h1") == 1


@pytest.mark.parametrize(("args", "fragment"), [
    (["--lang", "de"], "--lang chooses the wording for patients"),
    (["--audience", "patient", "--format", "turtle"], "the output is the same for every audience"),
    (["--audience", "patient", "--format", "trig"], "the output is the same for every audience"),
    (["--audience", "patient", "--format", "fhir"], "the output is the same for every audience"),
])  # fmt: skip
def test_options_that_would_be_ignored_are_refused(capsys, args, fragment):
    code, out, err = _run(capsys, *args)
    assert code == 2 and out == "" and fragment in err


@pytest.mark.parametrize("tag", ["en_US", "", "english-language-x", "de--ch", "e1", "de-" + "-ch" * 20,
                                 "en-" + "x" * 40])
def test_a_malformed_language_tag_is_refused(capsys, tag):
    with pytest.raises(SystemExit) as exit_info:
        main(["recommend", str(EXAMPLE), "--audience", "patient", "--lang", tag])
    assert exit_info.value.code == 2
    assert "--lang must be a language tag" in capsys.readouterr().err


# --- authoring: the shape and the lint ----------------------------------------------------------------

@pytest.fixture()
def content(tmp_path: Path) -> Path:
    folder = tmp_path / "widget"
    folder.mkdir()
    for name in ("guideline.ttl", "wording.ttl"):
        shutil.copy(MADEUP / name, folder / name)
    return folder


def _lint(content: Path, capsys) -> set[tuple[str, str]]:
    main(["validate", str(content), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    return {(f["focus"].rsplit(":", 1)[1], f["message"].split("'")[1]) for f in report["findings"]
            if f["code"] == "patient-wording-missing"}


def test_validate_lists_items_without_wording_in_a_language_the_content_uses(content, capsys):
    missing = _lint(content, capsys)
    assert missing == {("crit-low-widget", "de"), ("widget-level", "de")}  # en-GB counts as English, as the
    # report reads it


def test_validate_is_silent_without_any_wording(content, capsys):
    (content / "wording.ttl").unlink()
    assert _lint(content, capsys) == set()


def test_validate_refuses_untagged_wording(content, capsys):
    (content / "wording.ttl").write_text((content / "wording.ttl").read_text(encoding="utf-8").replace(
        '"Widget care"@en', '"Widget care"'), encoding="utf-8")
    code = main(["validate", str(content)])
    out = capsys.readouterr().out
    assert code == 1 and "gkg:patientText as non-empty text with a language tag" in out and "wording.ttl:6" in out
