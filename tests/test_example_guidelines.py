"""Example guidelines from other clinical domains (examples/guidelines/NAME/), written as an author would,
with no change to src/: each validates, passes its own vignettes (NAME/cases/, the format of tests/cases/),
and gives the same report beside the shipped RLS guideline as alone."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.checks.validate import validate
from guidelinekg.cli import main
from guidelinekg.content.resources import ontology_dir
from guidelinekg.engine.knowledge import KnowledgeBase
from guidelinekg.engine.patientcheck import validate_patients
from guidelinekg.engine.reasoning import evaluate
from guidelinekg.engine.shapes_sparql import load_patient_shapes
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.report.patient import build_report
from vignettes import load_vignettes, outcome_of

EXAMPLES = Path(__file__).parents[1] / "examples" / "guidelines"
GUIDELINES = sorted(d for d in EXAMPLES.iterdir() if (d / "cases").is_dir()) if EXAMPLES.is_dir() else []
CASES = [(g, v) for g in GUIDELINES for v in load_vignettes(g / "cases")]
RLS = ontology_dir() / "guidelines" / "rls-iron"


def _namespace(report: dict) -> str:
    return report["guideline"]["iri"].rsplit("/", 1)[0] + "/"


@pytest.fixture(scope="module", autouse=True)
def gate_once_per_content():
    """recommend and cohort --content first validate the content (SHACL and lints: most of a recommend's
    time). The tests here call recommend about a hundred times on the same few unchanged folders, so each
    distinct content is validated by the real gate once and its verdict reused: a refusal is re-raised
    every time, and what is evaluated is untouched. The gate itself is tested in test_validate.py."""
    from guidelinekg.checks import gate

    real, verdicts = gate.require_valid_content, {}

    def once(paths):
        key = tuple(Path(p).resolve() for p in paths)
        if key not in verdicts:
            try:
                real(paths)
                verdicts[key] = None
            except Exception as exc:  # noqa: BLE001 - the same refusal, every time
                verdicts[key] = exc
        if verdicts[key] is not None:
            raise verdicts[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gate, "require_valid_content", once)
        yield


@pytest.fixture(scope="module")
def kbs() -> dict[Path, KnowledgeBase]:
    return {g: KnowledgeBase.load([g]) for g in GUIDELINES}


def test_there_are_example_guidelines_with_cases():
    assert GUIDELINES, "no example guideline in examples/guidelines/"
    for g in GUIDELINES:
        assert len(load_vignettes(g / "cases")) >= 15, f"{g.name}: fewer than 15 vignettes"
        assert (g / "facts.md").is_file(), f"{g.name}: no facts file"


@pytest.mark.parametrize("guideline", GUIDELINES, ids=lambda g: g.name)
def test_example_guideline_validates(guideline):
    report = validate([guideline], owl=False)
    assert not [f for f in report["findings"] if f["severity"] == "error"], report["findings"][:3]


# Every case on the default engine; every eighth also on rdflib (the engines' agreement on all rules is
# tested on the shipped vignettes; here it keeps the suite short).
RUNS = [(g, v, "oxigraph") for g, v in CASES] + [(g, v, "rdflib") for g, v in CASES[::8]]


@pytest.mark.parametrize(("guideline", "vignette", "engine"), RUNS,
                         ids=lambda x: getattr(x, "name", x if isinstance(x, str) else None))
def test_example_vignette(kbs, guideline, vignette, engine):
    kb = kbs[guideline]
    patient = load_patient_input(vignette.patient, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    patient = validate_patients([patient], kb, load_patient_shapes())[0]
    evaluation = evaluate(kb, [patient], as_of=date.fromisoformat(vignette.as_of), engine=engine)
    report = build_report(evaluation, patient.patient_iri, kb.version())
    got = outcome_of(report, _namespace(report))
    for key, want in vignette.expected["expect"].items():
        if key == "doses":
            for rec, dose in want.items():
                assert got["doses"].get(rec) == dose, f"dose of {rec}"
        else:
            assert got[key] == (sorted(want) if isinstance(want, list) else want), key


@pytest.mark.parametrize(("guideline", "vignette"), CASES[::10], ids=lambda x: getattr(x, "name", None))
def test_example_beside_rls_gives_the_same_report(capsys, guideline, vignette):
    def recommend(*content: Path) -> dict:
        args = ["recommend", str(vignette.patient), "--as-of", vignette.as_of, "--format", "json"]
        for c in content:
            args += ["--content", str(c)]
        assert main(args) == 0, capsys.readouterr().err
        return json.loads(capsys.readouterr().out)

    alone = recommend(guideline)
    together = recommend(guideline, RLS)
    [same] = [r for r in together["reports"] if r["guideline"]["version_iri"] == alone["guideline"]["version_iri"]]
    assert same == alone


def test_the_guidelines_run_together_in_cohort_without_leakage(capsys, tmp_path):
    """RLS and the example guidelines in one cohort run: each guideline's folder holds, for every
    patient, the report that recommend gives with that guideline alone (provenance aside)."""
    import shutil

    from guidelinekg.cohort.several import guideline_folder

    picked = [(g, v) for g, v in CASES if v.as_of == "2026-01-15"][::6][:12]
    source = tmp_path / "in"
    source.mkdir()
    for g, v in picked:
        shutil.copy(v.patient, source / f"{g.name}-{v.name}.json")
    content = [RLS, *GUIDELINES]
    args = ["cohort", str(source), "--out", str(tmp_path / "out"), "--as-of", "2026-01-15", "--no-progress"]
    assert main(args + sum((["--content", str(c)] for c in content), [])) == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert len(summary["guidelines"]) == len(content) and summary["patients"] == len(picked)
    for path in content:
        for _, v in picked:
            assert main(["recommend", str(v.patient), "--as-of", "2026-01-15", "--format", "json",
                         "--content", str(path)]) == 0
            alone = json.loads(capsys.readouterr().out)
            folder = tmp_path / "out" / guideline_folder(alone["guideline"]["version_iri"])
            results = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
            [got] = [r for r in results if r["patient"] == alone["patient"]]
            assert {k: x for k, x in got.items() if k != "provenance"} == \
                   {k: x for k, x in alone.items() if k != "provenance"}, (path.name, v.name)
