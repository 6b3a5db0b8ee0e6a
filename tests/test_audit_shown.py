"""How the audit shows two values that differ (guidelinekg.audit.shown): the part that differs is always
shown, and no value runs on without bound."""

from __future__ import annotations

from guidelinekg.audit.shown import LIMIT, shown, shown_pair

BASE = "https://w3id.org/guidelinekg/guideline/statin-primary-prevention/"
ABSENT = object()


def test_short_values_are_shown_in_full():
    assert shown_pair("rec-b", "rec-c") == ('"rec-b"', '"rec-c"')
    assert shown_pair(1000, 2000) == ("1000", "2000")


def test_long_iris_that_differ_at_the_end_show_the_difference():
    given, replayed = shown_pair(BASE + "rec-statin-c" + "x" * 40, BASE + "rec-statin-b" + "x" * 40)
    assert given != replayed
    assert given.startswith("...") and "rec-statin-c" in given
    assert replayed.startswith("...") and "rec-statin-b" in replayed


def test_a_difference_in_the_middle_of_long_text_keeps_context_and_a_bound():
    a, b = "a" * 300 + "X" + "b" * 300, "a" * 300 + "Y" + "b" * 300
    given, replayed = shown_pair(a, b)
    assert "aaaX" in given and "aaaY" in replayed
    assert given.endswith("...") and len(given) <= LIMIT + 6 and len(replayed) <= LIMIT + 6


def test_absent_and_other_types():
    assert shown_pair(ABSENT, "x", absent=ABSENT) == ("(absent)", '"x"')
    assert shown_pair(None, "x") == ("null", '"x"')
    given, replayed = shown_pair(ABSENT, "y" * 200, absent=ABSENT)
    assert given == "(absent)" and replayed.endswith("...") and len(replayed) <= LIMIT + 6


def test_one_value_cut_says_so():
    assert shown("x" * 200).endswith("...")
    assert shown({"b": 1, "a": 2}) == '{"a": 2, "b": 1}'
