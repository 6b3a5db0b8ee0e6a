"""Numbers in guideline content: every numeric value must be a finite number the rules can compare, and the
amounts the shapes bound (doses, maximum doses, monitoring intervals) must make sense.

Each case is a copy of the tutorial guideline (``docs/examples/authoring/``) with one value changed. A
non-finite or ill-typed number (NaN made pySHACL and the band lints die with decimal.InvalidOperation; INF
and ``"1e999"^^xsd:decimal`` made a threshold always met) is an input error located at its line, before
SHACL runs; a dose of 0 or less, or a negative interval, is a SHACL error. ``recommend --content`` and
``cohort --content`` refuse such content cleanly.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from guidelinekg import cli
from guidelinekg.content.resources import project_home

AUTHORING = project_home() / "docs" / "examples" / "authoring"
PATIENT = AUTHORING / "cases" / "001-adult-hba1c-8.6-dosed" / "patient.json"


def corrupted(tmp_path: Path, file: str, old: str, new: str) -> tuple[Path, int]:
    """A copy of the tutorial guideline's Turtle with ``old`` (once in ``file``) replaced by ``new``; the
    folder and the line ``new`` is on."""
    folder = tmp_path / "guideline"
    folder.mkdir()
    for ttl in AUTHORING.glob("*.ttl"):
        shutil.copy(ttl, folder / ttl.name)
    text = (folder / file).read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    text = text.replace(old, new)
    (folder / file).write_text(text, encoding="utf-8")
    return folder, text[: text.index(new)].count("\n") + 1


def validate(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["validate", "--no-owl", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


NOT_NUMBERS = {  # id: (file, old, new, code)
    "nan-threshold": ("guideline.ttl", "gkg:thresholdValue 8.0 ;", 'gkg:thresholdValue "NaN"^^xsd:double ;',
                      "number-not-finite"),
    "nan-plausible-max": ("terms.ttl", "gkg:plausibleMax 100 ;", 'gkg:plausibleMax "NaN"^^xsd:double ;',
                          "number-not-finite"),
    "inf-threshold": ("guideline.ttl", "gkg:thresholdValue 8.0 ;", 'gkg:thresholdValue "INF"^^xsd:double ;',
                      "number-not-finite"),
    "minus-inf-threshold": ("guideline.ttl", "gkg:thresholdValue 72 ;", 'gkg:thresholdValue "-INF"^^xsd:double ;',
                            "number-not-finite"),
    "double-overflow": ("guideline.ttl", "gkg:thresholdValue 8.0 ;", "gkg:thresholdValue 1e999 ;",
                        "number-not-finite"),
    "decimal-with-exponent": ("guideline.ttl", "gkg:thresholdValue 8.0 ;",
                              'gkg:thresholdValue "1e999"^^xsd:decimal ;', "number-ill-typed"),
    "decimal-in-words": ("guideline.ttl", "gkg:thresholdValue 8.0 ;", 'gkg:thresholdValue "seventy"^^xsd:decimal ;',
                         "number-ill-typed"),
    "nan-per-kg": ("guideline.ttl", "gkg:perKg 0.5 ;", 'gkg:perKg "NaN"^^xsd:double ;', "number-not-finite"),
    "integer-over-64-bits": ("guideline.ttl", "gkg:thresholdValue 72 ;",
                             "gkg:thresholdValue 7500000000000000000000000000000000000000 ;", "number-out-of-range"),
}


@pytest.mark.parametrize("case", sorted(NOT_NUMBERS))
def test_a_number_that_is_not_finite_is_a_located_input_error(case, tmp_path, capsys, caplog):
    file, old, new, code = NOT_NUMBERS[case]
    folder, line = corrupted(tmp_path, file, old, new)
    with caplog.at_level(logging.WARNING):
        status, out, err = validate(capsys, folder)
    assert status == 2, out
    located = [row for row in out.splitlines() if f"error: [{code}]" in row]
    assert len(located) == 1 and located[0].startswith(f"{folder / file}:{line}: error: [{code}]"), out
    assert "write the value the source states" in located[0]
    assert "shacl: skipped: input unusable" in out and "lint: skipped: input unusable" in out
    assert "Traceback" not in err and not caplog.records


def test_the_json_report_has_the_finding_as_data(tmp_path, capsys):
    folder, line = corrupted(tmp_path, "guideline.ttl", "gkg:thresholdValue 8.0 ;",
                             'gkg:thresholdValue "NaN"^^xsd:double ;')
    assert cli.main(["validate", "--no-owl", "--format", "json", str(folder)]) == 2
    report = json.loads(capsys.readouterr().out)
    [finding] = [f for f in report["findings"] if f["severity"] == "error"]
    assert (finding["code"], finding["kind"], finding["line"], finding["path"], finding["value"]) == (
        "number-not-finite", "input", line, "gkg:thresholdValue", '"NaN"')


@pytest.mark.parametrize("command", ["recommend", "cohort"])
def test_content_with_nan_is_refused_cleanly(command, tmp_path, capsys):
    folder, line = corrupted(tmp_path, "guideline.ttl", "gkg:thresholdValue 8.0 ;",
                             'gkg:thresholdValue "NaN"^^xsd:double ;')
    out = tmp_path / "out"
    argv = [command, str(PATIENT), "--as-of", "2026-01-15", "--content", str(folder)]
    argv += ["--out", str(out), "--no-progress"] if command == "cohort" else []
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"{folder / 'guideline.ttl'}:{line}: error: [number-not-finite]" in err and "Traceback" not in err
    assert not [p for p in out.rglob("*") if not p.name.startswith(".")]  # no results (a run's marker aside)


def test_an_ill_typed_date_is_reported_without_rdflib_logging_a_traceback(tmp_path, capsys, caplog):
    folder, _ = corrupted(tmp_path, "guideline.ttl", '"2026-01-01"^^xsd:date', '"2026-02-30"^^xsd:date')
    with caplog.at_level(logging.WARNING):
        status, out, err = validate(capsys, folder)
    assert status == 1 and "error: [shacl:datatype]" in out and '[value: "2026-02-30"]' in out
    assert not [r for r in caplog.records if "Failed to convert Literal" in r.getMessage()]
    assert "Traceback" not in err


def test_validate_as_a_library_call_keeps_rdflib_quiet(tmp_path, caplog, monkeypatch):
    """The SHACL step silences rdflib itself (the CLI's filter is not there for a library caller)."""
    from guidelinekg.checks.validate import validate as validate_content

    monkeypatch.setattr(logging.getLogger("rdflib.term"), "filters", [])
    folder, _ = corrupted(tmp_path, "guideline.ttl", '"2026-01-01"^^xsd:date', '"2026-02-30"^^xsd:date')
    with caplog.at_level(logging.WARNING):
        report = validate_content([folder], owl=False)
    assert any(f["code"] == "shacl:datatype" for f in report["findings"])
    assert not [r for r in caplog.records if "Failed to convert Literal" in r.getMessage()]


def test_the_cli_keeps_rdflib_quiet_on_ill_typed_literals_everywhere(caplog):
    """Any command (recommend --engine rdflib reads content with rdflib too): no warning with a traceback."""
    import rdflib

    import guidelinekg.commands  # noqa: F401 - installs the filter, as the CLI does

    with caplog.at_level(logging.WARNING):
        assert rdflib.Literal("2026-02-30", datatype=rdflib.XSD.date).ill_typed
    assert not [r for r in caplog.records if "Failed to convert Literal" in r.getMessage()]


AMOUNTS = {  # id: (old, new, the shape's message)
    "negative-maximum-dose": ('gkg:value 40 ; gkg:unit "mg"', 'gkg:value -40 ; gkg:unit "mg"',
                              ("maximumDose): A weight-based dose has at most one gkg:maximumDose and it must be a "
                               "fixed gkg:Dose with a gkg:value greater than 0")),
    "zero-maximum-dose": ('gkg:value 40 ; gkg:unit "mg"', 'gkg:value 0 ; gkg:unit "mg"',
                          "with a gkg:value greater than 0"),
    "negative-fixed-dose": ('gkg:value 10 ; gkg:unit "mg"', 'gkg:value -10 ; gkg:unit "mg"',
                            ("(gkg:dose): An intervention has at most one gkg:dose and it must be a gkg:Dose (or "
                             "gkg:WeightBasedDose) whose gkg:value, if it has one, is greater than 0")),
    "negative-interval": ('gkg:intervalMin [ a gkg:Quantity ; gkg:value 3 ;',
                          'gkg:intervalMin [ a gkg:Quantity ; gkg:value -3 ;',
                          ("((gkg:intervalMin|gkg:intervalMax)): gkg:intervalMin and gkg:intervalMax values "
                           "must be gkg:Quantity nodes with a gkg:value of 0 or more")),
}


@pytest.mark.parametrize("case", sorted(AMOUNTS))
def test_an_absurd_amount_is_a_shacl_error(case, tmp_path, capsys):
    old, new, message = AMOUNTS[case]
    folder, _ = corrupted(tmp_path, "guideline.ttl", old, new)
    status, out, _ = validate(capsys, folder)
    assert status == 1 and "error: [shacl:node]" in out and message in out, out


@pytest.mark.parametrize(("count", "kind"), [("0", "minInclusive"), ("1.5", "datatype"), ('"once"', "datatype")])
def test_a_number_of_checks_is_a_whole_number_of_one_or_more(count, kind, tmp_path, capsys):
    """gkg:checkCount (FHIR Timing.repeat.count): 0 checks, half a check or a word is no plan; validate names the
    action, the line and what to write, and recommend refuses the content."""
    old = 'gkg:monitoringTrigger "during examplomab treatment" ;'
    folder, _ = corrupted(tmp_path, "guideline.ttl", old, f"{old} gkg:checkCount {count} ;")
    text = (folder / "guideline.ttl").read_text(encoding="utf-8")
    line = text[: text.index("ex:mon-hba1c a gkg:MonitoringAction")].count("\n") + 1  # the action's subject
    status, out, _ = validate(capsys, folder)
    assert status == 1, out
    assert (f"guideline.ttl:{line}: error: [shacl:{kind}] HbA1c every 3-6 months (gkg:checkCount): A monitoring "
            "action has at most one gkg:checkCount, a whole number of 1 or more") in out, out
    assert cli.main(["recommend", str(PATIENT), "--as-of", "2026-01-15", "--content", str(folder)]) == 2
    assert "gkg:checkCount" in capsys.readouterr().err


def test_a_single_check_is_valid(tmp_path, capsys):
    old = 'gkg:monitoringTrigger "during examplomab treatment" ;'
    folder, _ = corrupted(tmp_path, "guideline.ttl", old, f"{old} gkg:checkCount 1 ;")
    status, out, _ = validate(capsys, folder)
    assert status == 0 and "shacl: ok" in out, out


def test_a_zero_interval_bound_is_allowed(tmp_path, capsys):
    folder, _ = corrupted(tmp_path, "guideline.ttl", 'gkg:intervalMin [ a gkg:Quantity ; gkg:value 3 ;',
                          'gkg:intervalMin [ a gkg:Quantity ; gkg:value 0 ;')
    status, out, _ = validate(capsys, folder)
    assert status == 0 and "shacl: ok" in out, out


def test_a_negative_maximum_dose_never_reaches_a_report(tmp_path, capsys):
    """It did: "capped at the maximum -40 mg; dose -40 mg"."""
    folder, _ = corrupted(tmp_path, "guideline.ttl", 'gkg:value 40 ; gkg:unit "mg"', 'gkg:value -40 ; gkg:unit "mg"')
    assert cli.main(["recommend", str(PATIENT), "--as-of", "2026-01-15", "--content", str(folder)]) == 2
    captured = capsys.readouterr()
    assert "gkg:maximumDose" in captured.err and "-40 mg" not in captured.out


@pytest.mark.parametrize("old, new", [
    ('gkg:intervalMin [ a gkg:Quantity ; gkg:value 3 ; gkg:unit "mo" ] ;', 'gkg:intervalMin "3 months" ;'),
])
def test_a_value_written_where_a_node_belongs_is_a_shape_error_not_a_traceback(old, new, tmp_path, capsys):
    """Found by an author: ``gkg:intervalMin "1 week"`` (text, not a gkg:Quantity) crashed validate and recommend
    with a Python traceback (a literal used as a subject). It is a located SHACL error; recommend refuses."""
    folder, line = corrupted(tmp_path, "guideline.ttl", old, new)
    status, out, err = validate(capsys, folder)
    assert status == 1 and "Traceback" not in err
    assert any(row.startswith(f"{folder / 'guideline.ttl'}:") and "error: [shacl:" in row and "gkg:Quantity" in row
               for row in out.splitlines()), out
    assert cli.main(["recommend", str(PATIENT), "--as-of", "2026-01-15", "--content", str(folder)]) == 2
    assert "Traceback" not in capsys.readouterr().err
