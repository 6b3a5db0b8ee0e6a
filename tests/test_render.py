"""`guidelinekg render`: the Markdown rendering of a guideline, regenerated from its graph alone.

The key test reads the source article the RLS content encodes and checks that every number of its
clinical text, and every cited sentence with its reference markers, is in the rendering. A made-up
guideline (tests/fixtures/render/) shows the renderer is generic and pins the output in a golden file:
regenerate it with ``GUIDELINEKG_REGEN_GOLDEN=1 pytest tests/test_render.py``.
"""

from __future__ import annotations

import doctest
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
import rdflib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guidelinekg import cli, render_text, render_view, resources
from guidelinekg.errors import InputError
from guidelinekg.render import GuidelineGraph, render_markdown, shipped_files
from guidelinekg.render_text import format_number

FIXTURES = Path(__file__).parent / "fixtures" / "render"
MINI = FIXTURES / "mini-guideline.ttl"
OTHER = FIXTURES / "other-guideline.ttl"
GOLDEN = Path(__file__).parent / "golden" / "render" / "mini-guideline.md"
# shared/ sits beside the project (as in CI): the article the RLS content encodes.
SOURCE = Path(__file__).resolve().parents[2] / "shared" / "sources" / "rls-iron-infusion.md"
RLS_VERSION = "https://w3id.org/guidelinekg/guideline/rls-iron/v2025-12-23"

# A number as the source writes it. A hyphen is a minus sign only after a space or "(" ("median
# improvement -3 points"); between digits it is a range ("0.92-3.07", "15-30"). Commas separate numbers
# ("12,24, and 36", "1.68,95% CI"): the source has no thousands separators.
NUMBER = re.compile(r"(?:(?<=[\s(])-)?(?<![\d.])\d+(?:\.\d+)?")

# Numbers of page chrome the rendering need not show, each with the reason. Empty: the only page chrome
# with numbers is "Last updated: December 23, 2025", and the rendering shows that date (version date
# 2025-12-23 and the source document's title), so it is checked like everything else.
PAGE_CHROME: dict[str, str] = {}

# Reference markers: one or more single digits after a space, ending a sentence or a line ("... RLS 1, 3:",
# "... P=0.093) 4. Iron therapy ...").
MARKERS = re.compile(r"(?<=\s)((?:[1-9], )*[1-9])(?=[:.]?(?:\s*$|\s+[A-Z]))")


def wrap(lines: list[str]) -> str:
    return "\n".join(lines)


def source_body() -> list[str]:
    """The clinical text of the source: after its '---' line, before the publisher's disclaimer."""
    if not SOURCE.is_file():
        pytest.fail(f"the source article is missing: {SOURCE} (shared/ must sit beside the project)")
    text = SOURCE.read_text(encoding="utf-8")
    body = text.split("\n---\n", 1)[1]
    return body.split("Professional Medical Disclaimer", 1)[0].splitlines()


def cited_sentences() -> list[tuple[str, str]]:
    """(sentence, markers) for each marker group of the article's text, e.g. ("Draw blood ...", "2, 3")."""
    lines = source_body()
    start = lines.index("Iron Infusion for Restless Legs Syndrome")
    end = lines.index("References")
    found = []
    for line in lines[start:end]:
        position = 0
        for match in MARKERS.finditer(line):
            sentence = line[position : match.start()].strip().lstrip("•").strip()
            found.append((sentence, match.group(1)))
            position = match.end()
            while position < len(line) and line[position] in ":. ":
                position += 1
    return found


def has_number(text: str, number: str) -> bool:
    """True when ``number`` occurs in ``text`` as a whole number ("75" is not in "175" or "75.5")."""
    return re.search(rf"(?<![\d.]){re.escape(number)}(?![\d]|\.\d)", text) is not None


@pytest.fixture(scope="module")
def rls_markdown() -> str:
    return render_markdown(shipped_files(), RLS_VERSION)


@pytest.fixture(scope="module")
def mini_markdown() -> str:
    return render_markdown([*resources.vocabulary_files(), MINI])


# --- the key test: every number of the source is in the rendering ---------------------------------


def source_numbers() -> list[str]:
    numbers = {n for line in source_body() for n in NUMBER.findall(line)}
    return sorted(numbers - PAGE_CHROME.keys(), key=lambda n: (float(n), n))


def test_source_has_the_numbers_the_test_expects() -> None:
    """Guards the extraction itself: ranges split, the minus kept, reference years and markers in."""
    numbers = set(source_numbers())
    assert {"15", "30", "0.92", "3.07", "12", "24", "36", "-3", "0.093", "2004", "2012", "9"} <= numbers
    assert "15-30" not in numbers and "3" in numbers  # "0.92-3.07" gives 3.07, "-3 points" gives -3
    assert not (numbers & {"2026"}), "disclaimer and page footer are excluded"


@pytest.mark.parametrize("number", source_numbers())
def test_every_number_of_the_source_is_rendered(rls_markdown: str, number: str) -> None:
    assert has_number(rls_markdown, number), f"{number} of {SOURCE.name} is not in the rendering"


@pytest.mark.parametrize(
    "sentence,markers", cited_sentences(), ids=lambda v: v[:40] if isinstance(v, str) else v
)
def test_every_cited_sentence_is_rendered_with_its_markers(
    rls_markdown: str, sentence: str, markers: str
) -> None:
    assert f"{sentence} [{markers}]" in rls_markdown


def test_every_reference_marker_has_a_resolution_line(rls_markdown: str) -> None:
    references = rls_markdown.split("## References", 1)[1]
    numbers = {n for _, group in cited_sentences() for n in group.split(", ")}
    assert numbers == {str(n) for n in range(1, 10)}
    for n in sorted(numbers):
        line = next((l for l in references.splitlines() if l.startswith(f"- [{n}] ")), None)
        assert line is not None, f"marker {n} has no line under References"
        assert re.match(rf"- \[{n}\] (unresolved|resolved)", line), line


def test_rls_rendering_has_every_part(rls_markdown: str) -> None:
    assert rls_markdown.startswith("<!-- Generated by `guidelinekg render`")
    for heading in (
        "## Precedence rules",
        "## Discrepancies with primary texts",
        "## References",
        "### Works listed in the source",
        "### Works added from verified facts",
    ):
        assert f"\n{heading}\n" in rls_markdown
    assert "- GRADE: strong recommendation, moderate certainty of evidence" in rls_markdown
    assert (
        "- Applies when: serum ferritin [LOINC 2276-4] ≤ 75 ng/mL OR transferrin saturation [LOINC 2502-3] < 20 %"
        in rls_markdown
    )
    assert "- Effect: odds ratio (OR) 1.68, 95% CI 0.92–3.07, p = 0.093" in rls_markdown
    assert "- Interval: every 6–12 months" in rls_markdown
    assert "at weeks 12, 24, 36" in rls_markdown
    assert not re.search(r"(?<![\d.])\d+\.0+(?![\d.])", rls_markdown), "a number with a zero fraction"


# --- the renderer is generic ------------------------------------------------------------------------


def test_a_made_up_guideline_renders_grading_and_thresholds(mini_markdown: str) -> None:
    assert "# Cobalamin replacement (test fixture 1.2)" in mini_markdown
    block = mini_markdown.split("**Recommendation: oral cyanocobalamin**", 1)[1].split("\n\n**", 1)[0]
    assert "- GRADE: strong recommendation, low certainty of evidence" in block
    assert "- Line of therapy: first-line" in block
    assert (
        "- Applies when: serum cobalamin [LOINC 2132-9] < 150 pg/mL OR (diagnosis of example neuropathy "
        "[https://example.org/codes X-123] AND serum cobalamin [LOINC 2132-9] ≥ 150 pg/mL AND "
        "serum cobalamin [LOINC 2132-9] ≤ 300 pg/mL)"
    ) in block
    assert (
        "> We recommend oral cyanocobalamin 1000 ug daily (strong recommendation, low certainty). [1, 3]"
        in block
    )
    assert "at weeks 4, 8, 12" in block  # numeric order, not text order
    assert "- [2] not recorded in the graph" in mini_markdown
    assert "ferritin" not in mini_markdown.lower()


def test_the_mini_guideline_matches_its_golden_file(mini_markdown: str) -> None:
    if os.environ.get("GUIDELINEKG_REGEN_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(mini_markdown, encoding="utf-8", newline="\n")
    assert GOLDEN.is_file(), "no golden file: run with GUIDELINEKG_REGEN_GOLDEN=1"
    expected = GOLDEN.read_text(encoding="utf-8")
    assert mini_markdown == expected, (
        "rendering differs from tests/golden/render/mini-guideline.md; "
        "if the change is intended, regenerate it with GUIDELINEKG_REGEN_GOLDEN=1"
    )


RENDER_SOURCES = [
    *sorted(Path(render_text.__file__).parent.glob("render*.py")),
    Path(render_text.__file__).parent / "commands" / "render.py",
    *sorted((resources.queries_dir() / "reports").glob("render-*.rq")),
]


@pytest.mark.parametrize("path", RENDER_SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_renderer_code_knows_no_particular_guideline(path: Path) -> None:
    text = path.read_text(encoding="utf-8").lower()
    for word in ("rls", "restless", "iron", "ferritin", "ferric", "carboxymaltose", "2276-4", "esrd"):
        assert not re.search(rf"\b{re.escape(word)}\b", text), f"{path.name} mentions {word!r}"


# --- determinism ------------------------------------------------------------------------------------


def test_two_renders_are_byte_identical() -> None:
    first = render_markdown(shipped_files()).encode("utf-8")
    second = render_markdown(shipped_files()).encode("utf-8")
    assert first == second
    assert render_markdown([*resources.vocabulary_files(), MINI]) == render_markdown(
        [*resources.vocabulary_files(), MINI]
    )


def shuffled_copy(paths: list[Path], shuffler: random.Random, target: Path) -> Path:
    """The triples of ``paths`` as N-Triples (valid Turtle) in a random order, blank nodes renamed."""
    graph = rdflib.Graph()
    for path in paths:
        graph.parse(path, format="turtle")
    lines = [line for line in graph.serialize(format="nt").splitlines() if line.strip()]
    shuffler.shuffle(lines)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_rendering_does_not_depend_on_triple_order(tmp_path: Path, seed: int, mini_markdown: str) -> None:
    paths = [*resources.vocabulary_files(), MINI]
    copy = shuffled_copy(paths, random.Random(seed), tmp_path / "shuffled.ttl")
    assert render_markdown([copy]) == mini_markdown


def test_both_engines_render_the_same_text(rls_markdown: str) -> None:
    graph = GuidelineGraph.load(shipped_files(), engine="rdflib")
    assert graph.markdown([RLS_VERSION]) == rls_markdown


# --- numbers, doctests, query contracts ---------------------------------------------------------------


@pytest.mark.parametrize(
    "lexical,text",
    [
        ("75.0", "75"),
        ("1.68", "1.68"),
        ("0.093", "0.093"),
        ("-3.0", "-3"),
        ("91.3125", "91.3125"),
        ("12", "12"),
        ("0.50", "0.5"),
        ("100.00", "100"),
        ("-0.0", "0"),
        ("007", "7"),
        ("1E3", "1E3"),
    ],
)
def test_format_number(lexical: str, text: str) -> None:
    assert format_number(lexical) == text


@pytest.mark.parametrize("module", [render_text, render_view], ids=lambda m: m.__name__)
def test_docstring_examples(module) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_every_report_query_is_registered_and_has_a_header() -> None:
    files = {p.stem: p for p in (resources.queries_dir() / "reports").glob("render-*.rq")}
    assert set(files) == set(render_view.REPORT_QUERIES)
    for name, path in files.items():
        header = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
        assert header[0] == f"# report: {name}", path
        for field in ("# purpose:", "# encodes:", "# used by:", "# returns:"):
            assert any(line.startswith(field) for line in header), f"{path.name} lacks {field!r}"


# --- choosing guidelines ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_guidelines() -> GuidelineGraph:
    return GuidelineGraph.load([*resources.vocabulary_files(), MINI, OTHER])


@pytest.mark.parametrize(
    "query,expected",
    [
        (
            None,
            [
                "https://example.org/guidelinekg-test/b12/v1-2",
                "https://example.org/guidelinekg-test/other/v1",
                "https://example.org/guidelinekg-test/other/v2",
            ],
        ),
        ("https://example.org/guidelinekg-test/b12/v1-2", ["https://example.org/guidelinekg-test/b12/v1-2"]),
        (
            "https://example.org/guidelinekg-test/other/guideline",
            [
                "https://example.org/guidelinekg-test/other/v1",
                "https://example.org/guidelinekg-test/other/v2",
            ],
        ),
        ("other/v2", ["https://example.org/guidelinekg-test/other/v2"]),
        ("b12", ["https://example.org/guidelinekg-test/b12/v1-2"]),
        (
            "ANOTHER TEST GUIDELINE",
            [
                "https://example.org/guidelinekg-test/other/v1",
                "https://example.org/guidelinekg-test/other/v2",
            ],
        ),
        ("cobalamin replacement", ["https://example.org/guidelinekg-test/b12/v1-2"]),
    ],
)
def test_select_versions(two_guidelines: GuidelineGraph, query: str | None, expected: list[str]) -> None:
    assert two_guidelines.select_versions(query) == expected


def test_ambiguous_and_unknown_guidelines_are_input_errors(two_guidelines: GuidelineGraph) -> None:
    with pytest.raises(InputError, match="ambiguous"):
        two_guidelines.select_versions("guidelinekg-test")
    with pytest.raises(InputError, match="unknown guideline 'b1'") as error:
        two_guidelines.select_versions("b1")
    assert "https://example.org/guidelinekg-test/other/v2" in str(error.value)


def test_a_graph_without_versions_is_an_input_error() -> None:
    graph = GuidelineGraph.load(resources.vocabulary_files())
    with pytest.raises(InputError, match="no guideline version"):
        graph.select_versions(None)
    with pytest.raises(InputError, match="no guideline version 'urn:x:v1'"):
        graph.markdown(["urn:x:v1"])


def test_the_shipped_guideline_is_found_by_its_folder_name() -> None:
    assert GuidelineGraph.load(shipped_files()).select_versions("rls-iron") == [RLS_VERSION]


# --- the command line ---------------------------------------------------------------------------------


def test_cli_unknown_guideline_exits_2_with_the_available_ones(capsys) -> None:
    assert cli.main(["render", "no-such-guideline"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("guidelinekg render: error: unknown guideline 'no-such-guideline'; available:")
    assert RLS_VERSION in err and "hint:" in err


def test_cli_writes_the_rendering_to_a_file(tmp_path: Path, capsys, rls_markdown: str) -> None:
    out = tmp_path / "rls.md"
    assert cli.main(["render", "rls-iron", "--format", "markdown", "--output", str(out)]) == 0
    assert out.read_bytes() == rls_markdown.encode("utf-8")
    assert capsys.readouterr().out == ""


def test_cli_renders_given_data_to_stdout(capsysbinary, mini_markdown: str) -> None:
    assert cli.main(["render", "--data", str(MINI)]) == 0
    assert capsysbinary.readouterr().out == mini_markdown.encode("utf-8")


@pytest.mark.parametrize(
    "content,message",
    [(None, "no such file"), ("<a> <b> .\n", "Turtle syntax error")],
    ids=["missing", "malformed"],
)
def test_cli_bad_data_file_exits_2_naming_the_file(tmp_path: Path, capsys, content, message) -> None:
    path = tmp_path / "bad.ttl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert cli.main(["render", "--data", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err


@pytest.mark.slow
def test_cli_end_to_end_in_a_subprocess(rls_markdown: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "guidelinekg.cli", "render", "rls-iron"],
        check=False,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == rls_markdown.encode("utf-8")
