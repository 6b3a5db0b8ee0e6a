"""`guidelinekg validate`: syntax errors, unusable input, SHACL reporting, output formats, exit codes.

Runs in-process through ``guidelinekg.cli.main`` with the example guideline and the test shapes
(``tests/fixtures/validate/``), so the SHACL plumbing is pinned independently of the shipped shapes.
"""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

from guidelinekg import cli
from guidelinekg.content import resources
from guidelinekg.content.loading import load_files

FIXTURES = Path(__file__).parent / "fixtures" / "validate"
EXAMPLE = FIXTURES / "example" / "guideline.ttl"
SHAPES = FIXTURES / "shapes.ttl"


def validate(capsys, *args: str | Path) -> tuple[int, str]:
    code = cli.main(["validate", "--no-owl", "--shapes", str(SHAPES), *map(str, args)])
    return code, capsys.readouterr().out


def corrupt(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the example guideline with ``old`` replaced by ``new`` (which must occur once)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path = tmp_path / "example.ttl"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def position(path: Path, needle: str) -> tuple[int, int]:
    """1-based line and column of the first ``needle`` in ``path``."""
    text = path.read_text(encoding="utf-8")
    index = text.index(needle)
    return text.count("\n", 0, index) + 1, index - text.rfind("\n", 0, index)


def test_example_guideline_is_clean(capsys):
    code, out = validate(capsys, EXAMPLE)
    assert code == 0, out
    files = len(resources.vocabulary_files()) + 1
    assert out.splitlines()[-1] == f"validate: {files} files, 0 errors, 0 warnings, 0 infos; exit 0"


def test_syntax_errors_in_every_file_are_reported_with_line_and_column(tmp_path, capsys):
    first = corrupt(tmp_path, "gkg:strength gkg:Strong ;", "gkg:strength gkg:Strong ,, ")
    second = tmp_path / "second.ttl"
    second.write_text('@prefix ex: <https://example.org/> .\nex:a ex:b "no end .\n', encoding="utf-8")
    code, out = validate(capsys, first, second)
    line, column = position(first, ",, ")
    assert code == 2
    assert f"{first}:{line}:{column + 1}: error: [syntax-error] , is not a valid RDF object" in out
    assert f"{second}:2:11: error: [syntax-error] Unexpected end of file" in out
    assert "shacl: skipped: input unusable" in out
    assert "lint: skipped: input unusable" in out


def test_missing_file_and_not_turtle_are_unusable_input(tmp_path, capsys):
    other = tmp_path / "notes.txt"
    other.write_text("not RDF", encoding="utf-8")
    code, out = validate(capsys, tmp_path / "absent.ttl", other, EXAMPLE)
    assert code == 2
    assert f"{tmp_path / 'absent.ttl'}: error: [missing-file] no such file" in out
    assert f"{other}: error: [not-turtle] not a Turtle file (expected a .ttl file or a directory)" in out


def test_a_literal_longer_than_the_parser_buffer_is_unusable_input(tmp_path, capsys):
    """The RDF parser stops at 16 MiB for one term: a located finding (the line), exit 2, no MemoryError."""
    big = tmp_path / "big.ttl"
    big.write_text('@prefix ex: <https://example.org/> .\nex:a ex:b "' + "x" * (16 * 1024 * 1024 + 1) + '" .\n',
                   encoding="utf-8")
    code, out = validate(capsys, big, EXAMPLE)
    assert code == 2
    assert f"{big}:2: error: [unreadable] cannot read the file:" in out and "too long for the RDF parser" in out


def test_nothing_to_validate_is_not_a_pass(tmp_path, capsys):
    """A directory without Turtle is unusable input (exit 2); an empty file is checked and warned about."""
    empty_dir = tmp_path / "no-turtle-here"
    empty_dir.mkdir()
    code, out = validate(capsys, empty_dir)
    assert code == 2
    assert f"{empty_dir}: error: [no-turtle-files] no Turtle (*.ttl) files in this directory" in out
    empty = tmp_path / "empty.ttl"
    empty.write_text("# nothing yet\n", encoding="utf-8")
    code, out = validate(capsys, empty)
    assert code == 0
    assert f"{empty}: warning: [empty-file] the file holds no triples: nothing in it was checked" in out


def test_other_rdf_files_in_a_directory_are_named_not_skipped(tmp_path, capsys):
    """A Protégé save as RDF/XML (.owl) next to the Turtle would leave the guideline half read: it is an
    error; a Turtle file with an upper-case extension is read."""
    content = tmp_path / "content"
    content.mkdir()
    (content / "guideline.TTL").write_bytes(EXAMPLE.read_bytes())
    (content / "catalog-v001.xml").write_text("<catalog/>", encoding="utf-8")  # Protégé's, not RDF
    code, out = validate(capsys, content)
    assert code == 0 and f"validate: {len(resources.vocabulary_files()) + 1} files, 0 errors" in out
    (content / "terms.owl").write_text("<rdf:RDF/>", encoding="utf-8")
    code, out = validate(capsys, content)
    assert code == 2
    assert f"{content / 'terms.owl'}: error: [not-turtle] not read: only Turtle (*.ttl) is read" in out


def test_a_directory_stands_for_its_turtle_files(capsys):
    code, out = validate(capsys, EXAMPLE.parent)
    assert code == 0
    assert f"validate: {len(resources.vocabulary_files()) + 1} files" in out


def test_shacl_violation_names_file_line_label_path_and_message(tmp_path, capsys):
    path = corrupt(tmp_path, "gkg:strength gkg:Strong ; ", "")
    code, out = validate(capsys, path)
    line, _ = position(path, "ex:rec-low a gkg:Recommendation")
    assert code == 1
    assert (f"{path}:{line}: error: [shacl:minCount] drug A for low widget (gkg:strength): "
            "A recommendation needs a GRADE strength (gkg:strength) or gkg:gradingNotStated.") in out  # fmt: skip


def test_unknown_certainty_term_is_reported_with_its_value(tmp_path, capsys):
    path = corrupt(tmp_path, "gkg:certainty gkg:LowCertainty", "gkg:certainty gkg:SortOfCertain")
    code, out = validate(capsys, path)
    assert code == 1
    assert ("error: [shacl:in] drug B for middle widget (gkg:certainty): "
            "gkg:certainty must be a GRADE certainty level. [value: gkg:SortOfCertain]") in out  # fmt: skip


def test_threshold_without_unit(tmp_path, capsys):
    path = corrupt(tmp_path, 'gkg:thresholdValue 20.0 ; gkg:thresholdUnit "mg/L" .\nex:crit-widget-10-20',
                   'gkg:thresholdValue 20.0 .\nex:crit-widget-10-20')  # fmt: skip
    code, out = validate(capsys, path)
    assert code == 1
    assert ("error: [shacl:minCount] widget level <=20 mg/L (gkg:thresholdUnit): "
            "A threshold needs a UCUM unit (gkg:thresholdUnit).") in out  # fmt: skip


def test_sequence_path_and_warning_severity(tmp_path, capsys):
    extra = tmp_path / "extra.ttl"
    extra.write_text(
        "@prefix gkg: <https://w3id.org/guidelinekg/ontology#> .\n"
        "@prefix ex: <https://example.org/guideline/example/> .\n"
        "ex:ref-4 a gkg:SourceReference ; gkg:resolutionStatus gkg:Resolved ; gkg:resolvesTo ex:ni-high .\n"
        "ex:gps-unlabelled a gkg:GoodPracticeStatement ; gkg:citesReference ex:ref-1 , ex:ref-4 .\n",
        encoding="utf-8",
    )
    code, out = validate(capsys, EXAMPLE, extra)
    assert code == 1
    assert (f"{extra}:4: error: [shacl:class] ex:gps-unlabelled (gkg:citesReference/gkg:resolvesTo): "
            "A cited reference must resolve to a gkg:Citation. [value: ex:ni-high]") in out  # fmt: skip
    assert (
        f"{extra}:4: warning: [shacl:minCount] ex:gps-unlabelled (rdfs:label): A statement should have a label."
        in out
    )


def test_dangling_citation_is_an_error(tmp_path, capsys):
    path = corrupt(
        tmp_path,
        "gkg:citesReference ex:ref-1 .\n\nex:ni-high",
        "gkg:citesReference ex:ref-99 .\n\nex:ni-high",
    )
    code, out = validate(capsys, path)
    assert code == 1
    assert ("error: [dangling-citation] drug B for middle widget (gkg:citesReference): dangling citation: "
            "no file describes the target (expected a gkg:SourceReference): ex:ref-99") in out  # fmt: skip


def test_json_report(tmp_path, capsys):
    path = corrupt(tmp_path, "gkg:strength gkg:Strong ; ", "")
    code, out = validate(capsys, "--format", "json", path)
    report = json.loads(out)
    assert code == report["exit_code"] == 1
    assert report["summary"] == {"error": 1, "warning": 0, "info": 0}
    (finding,) = report["findings"]
    assert finding == {
        "severity": "error", "kind": "shacl", "code": "shacl:minCount", "file": str(path),
        "line": position(path, "ex:rec-low a")[0], "column": None, "focus": "ex:rec-low",
        "focus_label": "drug A for low widget", "path": "gkg:strength", "value": "",
        "message": "A recommendation needs a GRADE strength (gkg:strength) or gkg:gradingNotStated.",
    }  # fmt: skip
    assert report["owl"] == {"status": "not run", "reason": "--no-owl", "seconds": None}
    assert report["files"][-1] == str(path)


def test_text_output_is_deterministic(capsys):
    lint_case = FIXTURES / "lints" / "threshold-overlap--fires" / "data.ttl"
    runs = [validate(capsys, EXAMPLE, lint_case)[1] for _ in range(2)]
    strip = [[line for line in run.splitlines() if not line.startswith(("shacl:", "lint:"))] for run in runs]
    assert strip[0] == strip[1]
    findings = [line for line in strip[0] if ": warning: " in line]
    assert findings == sorted(findings, key=lambda line: ("lint" in line, line.split("[")[1]))


def test_without_java_the_owl_step_is_skipped_and_says_why(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no java
    code = cli.main(["validate", "--shapes", str(SHAPES), str(EXAMPLE)])
    out = capsys.readouterr().out
    assert code == 0
    assert "owl: skipped: Java not found ('java' is not on PATH)" in out
    assert "--require-owl makes this an error" in out
    assert cli.main(["validate", "--require-owl", "--shapes", str(SHAPES), str(EXAMPLE)]) == 2


def test_validation_never_opens_a_network_connection(tmp_path, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise AssertionError("network access during validation")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    imports = tmp_path / "imports.ttl"
    imports.write_text(
        "@prefix owl: <http://www.w3.org/2002/07/owl#> .\n"
        "<https://example.org/x> a owl:Ontology ; owl:imports <http://example.invalid/remote.ttl> .\n",
        encoding="utf-8",
    )
    shapes = tmp_path / "shapes.ttl"
    shutil.copy(SHAPES, shapes)
    with shapes.open("a", encoding="utf-8") as out:
        out.write("<https://example.org/test-shapes> <http://www.w3.org/2002/07/owl#imports> "
                  "<http://example.invalid/shapes.ttl> .\n")  # fmt: skip
    code = cli.main(["validate", "--no-owl", "--shapes", str(shapes), str(EXAMPLE), str(imports)])
    assert code == 0, capsys.readouterr().out


def test_loading_tracks_the_file_and_line_of_each_subject():
    content, problems = load_files([*resources.vocabulary_files(), EXAMPLE])
    assert problems == []
    from pyoxigraph import NamedNode

    node = NamedNode("https://example.org/guideline/example/rec-mid")
    file, line = content.locate(node)
    assert (Path(file).resolve(), line) == (EXAMPLE.resolve(), position(EXAMPLE, "ex:rec-mid a")[0])
    assert content.label(node) == "drug B for middle widget"
    assert content.compact(NamedNode("https://w3id.org/guidelinekg/ontology#strength")) == "gkg:strength"


# --- the shipped shapes and content (copied to tmp_path and edited) ------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def shipped_validate(capsys, *args: str | Path) -> tuple[int, str]:
    """``guidelinekg validate --no-owl`` with the shipped shapes."""
    code = cli.main(["validate", "--no-owl", *map(str, args)])
    return code, capsys.readouterr().out


def edited_copy(tmp_path: Path, source: Path, file: str, old: str, new: str) -> Path:
    """A copy of the Turtle of ``source`` with ``old`` replaced by ``new`` (once) in ``file``."""
    target = tmp_path / source.name
    target.mkdir()
    for ttl in source.glob("*.ttl"):
        shutil.copy(ttl, target / ttl.name)
    text = (target / file).read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    (target / file).write_text(text.replace(old, new), encoding="utf-8")
    return target


def test_a_dose_unit_that_is_no_ucum_code_is_an_error_on_its_line(tmp_path, capsys):
    """"mcg" passes the shapes (they check the form of a unit) but is no UCUM code: the loader could not
    convert it and a FHIR doseQuantity would carry it as a UCUM code. The UCUM spelling is the fix."""
    from guidelinekg.content.loading import display_path

    guideline = edited_copy(tmp_path, ROOT / "ontology" / "guidelines" / "rls-iron", "guideline.ttl",
                            'gkg:value 1000.0 ; gkg:unit "mg" .', 'gkg:value 1000.0 ; gkg:unit "mcg" .')  # fmt: skip
    code, out = shipped_validate(capsys, guideline)
    path = guideline / "guideline.ttl"
    line, _ = position(path, '"mcg"')
    assert code == 1
    assert (f"{display_path(path)}:{line}: error: [unit-not-ucum] 1000 mg (gkg:unit): 'mcg' is not a UCUM code "
            "(UCUM parser: unexpected character 'c' at column 2); units are converted, and exported to FHIR, as "
            'UCUM codes: write "ug" [value: mcg]') in out  # fmt: skip
    # the 1000 mg is the cap of the weight-based dose (15 mg/kg): in mcg it is no cap of a dose in mg either
    assert "error: [weight-based-dose-units]" in out and "the cap would be read as 1000 mg" in out
    assert ", 2 errors, " in out.splitlines()[-1] and step_lines(out)["lint"].startswith("lint: 2 errors, ")


def test_the_units_of_the_shipped_content_and_examples_are_ucum(capsys):
    for content in (ROOT / "ontology" / "guidelines", ROOT / "docs" / "examples" / "authoring"):
        _, out = shipped_validate(capsys, content)
        assert "[unit-not-ucum]" not in out, out


def step_lines(out: str) -> dict[str, str]:
    return {line.split(":")[0]: line for line in out.splitlines() if line.startswith(("shacl: ", "lint: "))}


def test_a_step_with_errors_does_not_say_ok(tmp_path, capsys):
    """Each step line counts its findings as the summary line does; "ok" only when none is an error."""
    code, out = validate(capsys, EXAMPLE)
    steps = step_lines(out)
    assert steps["shacl"].startswith("shacl: ok, 1 shapes, 0 errors, 0 warnings, 0 infos (")
    assert steps["lint"].startswith("lint: ok, 0 errors, 0 warnings, 0 infos (")
    shacl_error = corrupt(tmp_path, "gkg:strength gkg:Strong ; ", "")
    code, out = validate(capsys, shacl_error)
    steps = step_lines(out)
    assert code == 1
    assert steps["shacl"].startswith("shacl: 1 shapes, 1 errors, 0 warnings, 0 infos (")
    assert steps["lint"].startswith("lint: ok, 0 errors")
    lint_error = corrupt(tmp_path, 'gkg:thresholdValue 20.0 ; gkg:thresholdUnit "mg/L" .\nex:crit-widget-10-20',
                         'gkg:thresholdValue 20.0 ; gkg:thresholdUnit "ug/L" .\nex:crit-widget-10-20')  # fmt: skip
    code, out = validate(capsys, lint_error)
    steps = step_lines(out)
    assert code == 1
    assert steps["shacl"].startswith("shacl: ok, ")
    # the threshold-unit-mismatch error, and the threshold-gap warning the band in ug/L leaves
    assert steps["lint"].startswith("lint: 1 errors, 1 warnings, 0 infos (")
    files = len(resources.vocabulary_files()) + 1
    assert out.splitlines()[-1] == f"validate: {files} files, 1 errors, 1 warnings, 0 infos; exit 1"
    code, out = validate(capsys, "--format", "json", lint_error)
    lint = json.loads(out)["steps"]["lint"]
    assert (lint["status"], lint["errors"], lint["warnings"], lint["infos"], lint["findings"]) == ("errors", 1, 1, 0, 2)


def test_an_undefined_route_names_the_routes_the_vocabulary_defines(tmp_path, capsys):
    """gkg:Intramuscular is no route of the vocabulary: undefined-term lists those it defines (read from the
    ontology), and the shapes' message no longer asks for one intervention per route."""
    from pyoxigraph import NamedNode

    vocabulary, _ = load_files(resources.vocabulary_files())
    route = NamedNode("https://w3id.org/guidelinekg/ontology#Route")
    rdf_type = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    known = ", ".join(sorted(vocabulary.compact(s) for s in vocabulary.subjects(rdf_type, route)))
    assert "gkg:Intravenous" in known and "gkg:Oral" in known
    example = ROOT / "docs" / "examples" / "authoring"
    guideline = edited_copy(tmp_path, example, "guideline.ttl", "gkg:route gkg:Intravenous .",
                            "gkg:route gkg:Intramuscular .")  # fmt: skip
    code, out = shipped_validate(capsys, guideline)
    assert code == 1
    (undefined,) = [line for line in out.splitlines() if "[undefined-term]" in line]
    assert undefined.endswith(f"unknown term gkg:Intramuscular; known routes: {known} [value: gkg:Intramuscular]")
    (shacl,) = [line for line in out.splitlines() if "[shacl:in]" in line]
    assert "one intervention per route" not in shacl and "gkg:Intravenous or gkg:Oral" in shacl
    assert shacl.endswith("[value: gkg:Intramuscular]")
    (tmp_path / "misspelt").mkdir()
    misspelt = edited_copy(tmp_path / "misspelt", example, "guideline.ttl", "gkg:route gkg:Intravenous .",
                           "gkg:route gkg:Intravenos .")  # fmt: skip
    code, out = shipped_validate(capsys, misspelt)
    (undefined,) = [line for line in out.splitlines() if "[undefined-term]" in line]
    assert "did you mean gkg:Intravenous? [value: gkg:Intravenos]" in undefined
