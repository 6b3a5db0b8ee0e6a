"""The JSON reader of patient input (src/guidelinekg/patients/decode.py): the same values as ``json.loads``
with Decimal numbers, plus what ``json.loads`` cannot do: refuse duplicate keys naming the key and both
lines, refuse lone surrogates and deep nesting, and remember where every value stood."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guidelinekg.errors import InputError, Location
from guidelinekg.patients.decode import MAX_DEPTH, JsonArray, JsonObject, _depth, decode_text, depth_of, parse_json, where
from guidelinekg.patients.model import decimal_problem

ROOT = Path(__file__).resolve().parents[1]
HERE = Location("p.json")


def parse(text: str):
    return parse_json(text, HERE)


def refused(text: str) -> InputError:
    with pytest.raises(InputError) as err:
        parse(text)
    return err.value


@pytest.mark.parametrize(
    "path",
    sorted([*ROOT.glob("tests/fixtures/fhir/*.json"), *ROOT.glob("tests/cases/*/patient.json"),
            *ROOT.glob("examples/*.json")]),
    ids=lambda p: p.parent.name + "/" + p.name,
)
def test_same_values_as_the_standard_library(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    try:
        expected = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    except json.JSONDecodeError as exc:
        assert (refused(text).location.line, refused(text).location.column) == (exc.lineno, exc.colno)
        return
    assert parse(text) == expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(value=json_values, indent=st.sampled_from([None, 1, 2]))
def test_any_json_reads_back_as_the_standard_library_reads_it(value, indent) -> None:
    text = json.dumps(value, indent=indent)
    assert parse(text) == json.loads(text, parse_float=Decimal, parse_int=Decimal)


def test_duplicate_key_names_the_key_and_both_lines() -> None:
    err = refused('{"valueQuantity": {\n  "value": 45,\n  "unit": "ng/mL",\n  "value": 450}}')
    assert (err.location.line, err.location.column) == (4, 3)
    assert "duplicate key 'value'" in err.message and "first at line 2, column 3" in err.message


@pytest.mark.parametrize("text", ['{"a": 1, "a": 1}', '[{"x": {"k": [], "k": {}}}]', '{"": 1, "": 2}'])
def test_duplicates_are_refused_even_when_equal_or_nested(text: str) -> None:
    assert "duplicate key" in refused(text).message


def test_the_same_key_in_two_objects_is_fine() -> None:
    assert parse('[{"a": 1}, {"a": 2}]') == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize("text", ['"\\ud800"', '{"k\\udfff": 1}', '["ok", "x\\ud83d"]'])
def test_lone_surrogates_are_refused(text: str) -> None:
    assert "lone UTF-16 surrogate" in refused(text).message


def test_a_surrogate_pair_is_one_character() -> None:
    assert parse('"\\ud83d\\ude00"') == "\U0001f600"


def test_nesting_is_limited_with_a_location() -> None:
    assert parse("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    err = refused("[" * 100_000 + "]" * 100_000)
    assert f"nested more than {MAX_DEPTH} levels deep" in err.message
    assert (err.location.line, err.location.column) == (1, MAX_DEPTH + 1)


def _nesting(value) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_nesting, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_nesting, value), default=0)
    return 0


# strings full of what the depth counter must not take for structure: brackets, quotes, backslashes
_TRICKY = st.text(alphabet=st.sampled_from('[]{}"\\/nu0aé\n'), max_size=8)
_VALUES = st.recursive(st.none() | st.integers() | _TRICKY,
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TRICKY, inner, max_size=3),
                       max_leaves=20)


@given(_VALUES, st.booleans())
@settings(max_examples=300, deadline=None)
def test_the_nesting_counters_count_structure_not_string_content(value, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert _depth(text) == depth_of(text.encode("utf-8")) == _nesting(value)


@pytest.mark.parametrize("word", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_constants_are_refused_where_they_stand(word: str) -> None:
    err = refused('{\n "value": ' + word + "}")
    assert f"{word} is not allowed in JSON" in err.message and err.location.line == 2


@pytest.mark.parametrize(
    ("text", "message", "where"),
    [("", "Expecting value", (1, 1)), ("[1,]", "Expecting value", (1, 4)),
     ('{"a" 1}', "Expecting ':' delimiter", (1, 6)), ('{"a": 1,}', "Expecting property name", (1, 9)),
     ("[1] 2", "Extra data", (1, 5)), ('"abc', "Unterminated string", (1, 1))],
)
def test_syntax_errors_are_located_with_the_standard_library_messages(text: str, message: str, where) -> None:
    """The standard library's wording and, for the trailing commas, Python 3.11/3.12's position (3.13
    reports "Illegal trailing comma" at the comma: the positions here are pinned, not taken from it)."""
    err = refused(text)
    assert err.message.startswith("not valid JSON: ") and message in err.message
    assert (err.location.line, err.location.column) == where
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_values_remember_where_they_stand() -> None:
    doc = parse('{"entry": [\n  {"resource": {"id": "x",\n    "value": 45}}]}')
    resource = doc["entry"][0]["resource"]
    assert isinstance(doc, JsonObject) and isinstance(doc["entry"], JsonArray)
    assert str(where(resource, "value", default=HERE)) == "p.json:3:14"
    assert str(where(doc["entry"], 0, default=HERE)) == "p.json:2:3"
    assert str(where(resource, default=HERE)) == "p.json:2:16"
    assert where({"plain": "dict"}, "plain", default=HERE) == HERE


def test_numbers_keep_their_lexical_form() -> None:
    assert str(parse('{"v": 101.10}')["v"]) == "101.10" and str(parse("1e2")) == "1E+2"


@pytest.mark.parametrize(
    ("raw", "message"),
    [(b"\xff\xfe{\x00}\x00", "UTF-16"), (b"{\xe9}", "not UTF-8"), (b" \n\t", "empty")],
)
def test_text_that_is_not_utf8(raw: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        decode_text(raw, HERE)


@pytest.mark.parametrize(
    ("value", "problem"),
    [("45.10", None), ("-170141183460469231731.687303715884105727", None), ("0.000000000000000001", None),
     ("45.000000000000000000000000", None), ("1E+28", "1.7E+20"), ("170141183460469231732", "1.7E+20"),
     ("0.0000000000000000001", "18 digits"), ("1E+999999999", "1.7E+20"), ("NaN", "finite")],
)
def test_decimal_problem_is_what_the_store_cannot_hold(value: str, problem: str | None) -> None:
    found = decimal_problem(Decimal(value))
    assert found is None if problem is None else problem in found
