"""CDS Hooks cards say what the report says when there is little to say, and how far what they say was checked
(found in trial use: a deceased record got only a warning card offering "Does not apply to this patient", cards
never showed the doubts the report carries, a covered patient no statement applies to got no card at all).

- a record marked deceased (vignettes 080, 081, 083: ``deceasedBoolean``, a death before and on the as-of date)
  gets one ``info`` card, its ``patient-deceased`` warning, saying the record is marked deceased and no guideline
  is applied, with no suggestion and never "does not apply";
- every statement a card shows carries its verification status ("checked against: STATUS", "Verification:
  ...", each dosing statement's) and each doubt about it as the text report words them
  (:mod:`guidelinekg.report.doubts`), for the shipped guideline's vignettes over HTTP and for the made-up
  content of ``tests/fixtures/doubts`` (a recommendation made, set aside, undecided with its test ordered);
- ``no_statement_applies`` gives an ``info`` card saying so, and undecided statements are headed by their
  label (``tests/fixtures/report-gaps``: the trial author's type 2 diabetes guideline, HbA1c 6.49 % in the gap
  between its bands, and a patient without data).

Every answer over HTTP is checked against the CDS Hooks 2.0 JSON Schema by ``test_hooks.Running``.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import date
from pathlib import Path

import pytest
from test_hooks import (RLS, SELECT, VIEW, VIGNETTES, Running, check_cards, conforms, draft, meta, select_body,
                        vignette_body)
from test_report_doubts import _reports as doubt_reports

from guidelinekg.commands.recommend import evaluate_guidelines
from guidelinekg.engine.guidelines import load_guidelines
from guidelinekg.hooks import markdown as md
from guidelinekg.hooks.advice import Advisor
from guidelinekg.hooks.cards import CardContext, patient_view_cards
from guidelinekg.report.views import NONE_APPLIES, render

HERE = Path(__file__).parent
T2DM = HERE / "fixtures" / "report-gaps" / "t2dm"
GAP = HERE / "fixtures" / "report-gaps" / "patients" / "02-a1c-6.49.json"
NO_DATA = HERE / "fixtures" / "report-gaps" / "patients" / "16-no-data.json"
DM = "https://w3id.org/guidelinekg/guideline/t2dm-diagnosis/"


@pytest.fixture(scope="module")
def shipped():
    return load_guidelines()


@pytest.fixture(scope="module")
def servers(shipped):
    """The shipped guidelines as of the vignettes' two dates."""
    running = {day: Running(Advisor(shipped, as_of=date.fromisoformat(day)), quiet=True)
               for day in ("2026-01-15", "2026-02-01")}
    yield running
    for server in running.values():
        server.close()


@pytest.fixture(scope="module")
def t2dm():
    running = Running(Advisor(load_guidelines([T2DM]), as_of=date(2026, 1, 15)), quiet=True)
    yield running
    running.close()


def view(servers, name: str) -> list[dict]:
    return servers[VIGNETTES[name].as_of].call(VIEW, vignette_body(name))


# 1. a record marked deceased ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["080-deceased-boolean", "081-deceased-before-as-of", "083-deceased-on-as-of-date"])
def test_a_deceased_record_gets_one_info_card_saying_so_never_does_not_apply(servers, name):
    cards = view(servers, name)
    (card,) = [c for c in cards if meta(c).get("code") == "patient-deceased"]
    assert cards[0] is card  # the guideline's first card
    assert card["indicator"] == "info" and "suggestions" not in card and "selectionBehavior" not in card
    assert card["summary"] == "Record marked deceased: no guideline is applied"
    assert "record is marked deceased" in card["detail"] and "no guideline is applied" in card["detail"]
    assert card["source"]["label"].startswith("Iron Infusion for Restless Legs Syndrome")
    assert [r["code"] for r in card["overrideReasons"]] == ["data-wrong"]
    assert "does not apply" not in json.dumps(cards).lower()
    assert not [c for c in cards if meta(c)["kind"] != "warning"]  # nothing recommended, ordered or monitored


def test_a_death_recorded_without_a_date_is_said_so_on_the_card(servers):
    body = vignette_body("081-deceased-before-as-of")
    patient = body["prefetch"]["patient"]
    patient.pop("deceasedDateTime")
    patient["deceasedBoolean"] = True
    (card,) = servers["2026-01-15"].call(VIEW, body)
    assert card["indicator"] == "info" and "no date of death given" in card["detail"]


def test_a_patient_alive_gets_no_deceased_card(servers):
    assert not [c for c in view(servers, "001-iron-deficient-45kg") if meta(c).get("code") == "patient-deceased"]


# 2. verification and doubts, as the text report says them ------------------------------------------------

def said_in_text(report: dict) -> tuple[set[str], set[str], set[str]]:
    """What the text report says under its statements: the doubts, the verification lines, and the status
    after each "checked against: WORK — STATUS"."""
    lines = [line.strip() for line in render(report).splitlines()]
    doubts = {line.removeprefix("doubt: ") for line in lines if line.startswith("doubt: ")}
    verified = {line.removeprefix("verification: ") for line in lines if line.startswith("verification: ")}
    checked = {m for line in lines for m in re.findall(r"checked against: .*? — (.*)$", line)}
    return doubts, verified, checked


def assert_cards_say_what_the_text_says(cards: list[dict], report: dict) -> None:
    details = "\n".join(c["detail"] for c in cards)
    doubts, verified, checked = said_in_text(report)
    for text in doubts:
        assert f": {md.text(text)}" in details, text
    for status in verified:
        assert f"Verification: {md.text(status)}" in details, status
    for status in checked:
        assert f"(checked against: {md.text(status)})" in details, status


@pytest.mark.parametrize("name", ["001-iron-deficient-45kg", "010-ferritin-80-tsat-30-iv-only", "021-no-iron-studies",
                                  "147-ferritin-150-tsat-30-not-indicated"])
def test_cards_show_each_doubt_and_verification_status_the_text_report_shows(servers, shipped, name):
    vignette = VIGNETTES[name]
    cards = view(servers, name)
    (_, report), = evaluate_guidelines(vignette.patient, shipped, as_of=date.fromisoformat(vignette.as_of), facts=True)
    doubts, _, _ = said_in_text(report)
    assert doubts  # the shipped guideline records doubts about these patients' statements
    assert_cards_say_what_the_text_says(cards, report)


def test_a_recommendation_card_says_how_far_it_and_its_dosing_were_checked(servers):
    cards = view(servers, "001-iron-deficient-45kg")
    (fcm,) = [c for c in cards if meta(c)["statements"] == [RLS + "rec-fcm"]]
    detail = fcm["detail"]
    assert "**Verification and doubts**" in detail
    assert "(checked against: seen in secondary sources only (SECONDARY))" in detail
    assert "(checked against)" not in detail  # never the bare marker
    assert '- Dosing "' in detail and "verified in a primary text (PRIMARY)" in detail
    assert "- **Doubt** (the source's version: stated by the source only (SOURCE-ONLY)): " in detail
    assert r"\[disc-fcm-dosing\]" in detail  # the discrepancy's name, to find it in the rendered guideline
    assert "Dose: **675 mg**." in detail


def test_an_order_card_gives_each_instruction_its_status_and_the_doubts_about_them(servers):
    cards = view(servers, "021-no-iron-studies")
    (ferritin,) = [c for c in cards if meta(c)["kind"] == "order" and c["summary"].startswith("Order serum ferritin")]
    assert "(project assumption (ASSUMPTION))" in ferritin["detail"]
    assert "**Doubt**" in ferritin["detail"] and r"\[disc-fasting\]" in ferritin["detail"]


def test_an_order_select_card_shows_the_doubts_of_the_statements_it_cites(servers):
    cards = servers["2026-02-01"].call(SELECT, select_body("147-ferritin-150-tsat-30-not-indicated",
                                                           draft("d1", "Ferric carboxymaltose 50 mg/mL")))
    (card,) = cards
    assert meta(card)["statements"] == [RLS + "ni-iron-above-100"]
    assert "- Verification: stated by the source only (SOURCE-ONLY)" in card["detail"]
    assert "- **Doubt** (the source's version: " in card["detail"] and r"\[disc-above-100\]" in card["detail"]


def test_cards_of_made_up_content_show_every_doubt_about_what_they_say():
    """A recommendation whose dosing, caution and pre-test requirement are in doubt: made, set aside (its
    doubts under "Sets aside" of the statement setting it aside), undecided (its test's requirement)."""
    for name, report in doubt_reports(facts=True).items():
        ctx = CardContext(str(uuid.uuid4()), {"reference": f"Patient/{name}"}, report["as_of"], report["patient"])
        cards = patient_view_cards(ctx, [report], [])
        conforms("response", {"cards": cards})
        check_cards(cards)
        assert_cards_say_what_the_text_says(cards, report)
        assert "**Doubt**" in "\n".join(c["detail"] for c in cards), name


def test_checked_against_says_the_status_of_the_statement_never_more():
    work = {"kind": "verified-against", "title": "A label", "doi": "10.1/x", "status": "SECONDARY"}
    primary = {"iri": "https://w3id.org/guidelinekg/ontology#VerifiedPrimary", "status": "PRIMARY",
               "label": "verified in a primary text"}
    assert md.citation_items([work], primary)[0].endswith("(checked against: verified in a primary text (PRIMARY))")
    assert md.citation_items([work])[0].endswith("(checked against: SECONDARY)")  # the status the citation carries
    bare = {k: v for k, v in work.items() if k != "status"}
    assert md.citation_items([bare])[0].endswith("(checked against: verification status not recorded)")


def test_a_doubt_is_shown_as_written_never_as_markup():
    doubt = {"iri": "urn:x:disc-1", "about": "<script>alert(1)</script> *bold*", "verification": None,
             "concerns": "urn:x:s", "source_text": "# heading", "primary": []}
    (line,) = md.checks({"iri": "urn:x:s", "doubts": [doubt]})
    assert "<script>" not in line and r"\*bold\*" in line and line.startswith("- **Doubt**: ")


# 3. the guideline applies, none of its statements does; undecided statements headed by their label -------

def test_a_patient_no_statement_applies_to_gets_an_info_card_saying_so(t2dm):
    cards = t2dm.call(VIEW, vignette_body(GAP))
    (card,) = [c for c in cards if meta(c)["kind"] == "no-statement-applies"]
    assert card["indicator"] == "info" and card["summary"] == NONE_APPLIES and "suggestions" not in card
    assert card["source"]["topic"]["code"] == "no-statement-applies" and meta(card)["guideline"].startswith(DM)
    assert NONE_APPLIES in card["detail"]
    assert not [c for c in cards if meta(c)["kind"] in ("recommendation", "data-required", "order")]


def test_undecided_statements_are_headed_by_their_label_and_no_none_applies_card(t2dm):
    cards = t2dm.call(VIEW, vignette_body(NO_DATA))
    assert not [c for c in cards if meta(c)["kind"] == "no-statement-applies"]
    (waiting,) = [c for c in cards if meta(c)["kind"] == "data-required"]
    heads = [line for line in waiting["detail"].splitlines() if line.startswith("- ")]
    assert any(h.startswith("- **confirm with a repeat test**: In the absence of unequivocal hyperglycemia")
               for h in heads)
    assert any(h.startswith("- **diagnose diabetes**: FPG") for h in heads)
