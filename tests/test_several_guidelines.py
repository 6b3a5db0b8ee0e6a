"""Several guidelines at once: each evaluated on its own, reported in a section of its own, no leakage.

Three guidelines are built from the shipped one in a temporary directory, each in its own folder and
namespace (test fixtures, not clinical content):

* A: the shipped RLS guideline as it is;
* B: the same statements with ferritin read in ug/L (its canonical unit and thresholds; 1 ug/L = 1 ng/mL):
  a patient's ferritin in ng/mL is converted, and B decides as A does;
* C: without the 24-hour iron-free requirement and with the low ferritin band at 50 instead of 75: in one
  shared graph, A's requirement would make C's results unreliable and C's band would change A's.

Each guideline's report in the three-guideline run must equal its report when loaded alone.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from guidelinekg.cli import main
from guidelinekg.content.resources import ontology_dir
from tests.vignettes import CASES, outcome_of

SHIPPED = ontology_dir() / "guidelines" / "rls-iron"
NS = "https://w3id.org/guidelinekg/guideline/rls-iron/"
AS_OF = "2026-01-15"


def _variant(root: Path, name: str, edit) -> Path:
    """A copy of the shipped guideline in ``root/name`` with its own namespace, edited by ``edit``."""
    target = root / name
    shutil.copytree(SHIPPED, target)
    for path in target.glob("*.ttl"):
        text = path.read_text(encoding="utf-8").replace(NS, f"https://example.org/test-{name}/")
        path.write_text(edit(path.name, text), encoding="utf-8")
    return target


def _in_ug_per_l(name: str, text: str) -> str:
    if name == "terms.ttl":  # both ferritin measures, and the pmol/L factor's target unit
        text = text.replace('gkg:canonicalUnit "ng/mL"', 'gkg:canonicalUnit "ug/L"')
        text = text.replace('gkg:toUnit "ng/mL"', 'gkg:toUnit "ug/L"')
    return text.replace('gkg:thresholdUnit "ng/mL"', 'gkg:thresholdUnit "ug/L"')


def _without_requirement(name: str, text: str) -> str:
    if name != "guideline.ttl":
        return text
    text, n = re.subn(r"\n[\w:-]+req-no-iron-24h a gkg:ExposureFreeRequirement ;.*?\.\n", "\n", text, flags=re.S)
    assert n == 1
    text = text.replace(" , rls:req-no-iron-24h", "").replace("    gkg:requirement rls:req-no-iron-24h ;\n", "")
    assert "req-no-iron-24h" not in text
    text, n = re.subn(r"(crit-ferritin-le-75 a gkg:LabThreshold ;.*?gkg:thresholdValue )75\.0", r"\g<1>50.0", text,
                      flags=re.S)
    assert n == 1
    return text


@pytest.fixture(scope="module")
def guidelines(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("several")
    return {"A": SHIPPED, "B": _variant(root, "b", _in_ug_per_l), "C": _variant(root, "c", _without_requirement)}


def _as_of(patient: Path) -> str:
    return json.loads((patient.parent / "expected.json").read_text(encoding="utf-8"))["as_of"]


def _recommend(capsys, patient: Path, *content: Path, extra: tuple = ()) -> dict:
    args = ["recommend", str(patient), "--as-of", _as_of(patient), "--format", "json", *extra]
    for c in content:
        args += ["--content", str(c)]
    assert main(args) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _namespace(report: dict) -> str:
    return report["guideline"]["iri"].rsplit("/", 1)[0] + "/"


PATIENTS = ["001-iron-deficient-45kg", "007-ferritin-150-tsat-15-conflict", "029-drawn-on-oral-iron",
            "003-ferritin-74.9-low-band"]


@pytest.mark.parametrize("case", PATIENTS)
def test_each_report_equals_the_guideline_alone(guidelines, capsys, case):
    patient = CASES / case / "patient.json"
    together = _recommend(capsys, patient, *guidelines.values())
    assert together["patient"] and together["as_of"] == _as_of(patient)
    assert len(together["reports"]) == 3
    alone = {name: _recommend(capsys, patient, path) for name, path in guidelines.items()}
    by_version = {r["guideline"]["version_iri"]: r for r in together["reports"]}
    assert len(by_version) == 3
    for name, report in alone.items():
        assert by_version[report["guideline"]["version_iri"]] == report, name
    # B reads ferritin in ug/L and decides as A does; C's own band and missing requirement are its own
    a, b = alone["A"], alone["B"]
    assert outcome_of(b, _namespace(b)) == outcome_of(a, _namespace(a))


def test_requirement_and_band_stay_in_their_guideline(guidelines, capsys):
    drawn_on_iron = _recommend(capsys, CASES / "029-drawn-on-oral-iron" / "patient.json", *guidelines.values())
    codes = {_namespace(r): {w["code"] for w in r["warnings"]} for r in drawn_on_iron["reports"]}
    assert "lab-drawn-on-iron" in codes[NS]
    assert "lab-drawn-on-iron" not in codes["https://example.org/test-c/"]
    # ferritin 74.9: in A's low band (<= 75), not in C's (<= 50)
    low = _recommend(capsys, CASES / "003-ferritin-74.9-low-band" / "patient.json", *guidelines.values())
    outcomes = {_namespace(r): outcome_of(r, _namespace(r)) for r in low["reports"]}
    assert "rec-oral-ferrous-sulfate" in outcomes[NS]["recommended"]
    assert "rec-oral-ferrous-sulfate" not in outcomes["https://example.org/test-c/"]["recommended"]


def test_choose_with_guideline_and_text_sections(guidelines, capsys):
    patient = CASES / "001-iron-deficient-45kg" / "patient.json"
    one = _recommend(capsys, patient, *guidelines.values(), extra=("--guideline", "example.org/test-b"))
    assert one["guideline"]["version_iri"].startswith("https://example.org/test-b/")
    two = _recommend(capsys, patient, *guidelines.values(),
                     extra=("--guideline", "example.org/test-b", "--guideline", "example.org/test-c"))
    assert sorted(_namespace(r) for r in two["reports"]) == ["https://example.org/test-b/",
                                                             "https://example.org/test-c/"]
    assert main(["recommend", str(patient), "--as-of", AS_OF, "--guideline", "nothing-like-this",
                 *sum((["--content", str(p)] for p in guidelines.values()), [])]) == 2
    assert "matches 0 versions" in capsys.readouterr().err
    args = ["recommend", str(patient), "--as-of", AS_OF, *sum((["--content", str(p)] for p in guidelines.values()), [])]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert text.count("Provenance: run ") == 3


def test_provenance_of_several_runs_is_trig_and_audits(guidelines, capsys, tmp_path):
    patient = CASES / "001-iron-deficient-45kg" / "patient.json"
    content = sum((["--content", str(p)] for p in guidelines.values()), [])
    turtle = tmp_path / "prov.ttl"
    assert main(["recommend", str(patient), "--as-of", AS_OF, "--provenance", str(turtle), *content]) == 2
    assert "give a .trig file" in capsys.readouterr().err and not turtle.exists()
    assert main(["recommend", str(patient), "--as-of", AS_OF, "--format", "turtle", *content]) == 2
    capsys.readouterr()
    trig = tmp_path / "prov.trig"
    report = _recommend(capsys, patient, *guidelines.values(), extra=("--provenance", str(trig)))
    runs = {r["provenance"]["run"] for r in report["reports"]}
    assert len(runs) == 3
    import pyoxigraph as ox

    graphs = {q.graph_name.value for q in ox.parse(path=str(trig), format=ox.RdfFormat.TRIG)}
    # a graph per run, and one for where the guidelines disagree for this patient (a copy reads other bands)
    assert {g for g in graphs if not g.startswith("urn:guidelinekg:disagreements:")} == runs
    assert len(graphs) == len(runs) + bool(report["disagreements"])
    assert main(["audit", str(trig), "--format", "json", "--allow-unapproved"]) == 0, capsys.readouterr().err
    audit = json.loads(capsys.readouterr().out)
    assert sorted(r["run"] for r in audit["runs"]) == sorted(runs)
    assert all(r["checks"]["replay"] == "same" for r in audit["runs"]), [r["checks"] for r in audit["runs"]]


def test_validate_checks_each_guideline_on_its_own(guidelines, capsys, tmp_path):
    content = [str(p) for p in guidelines.values()]
    # B declares ferritin in ug/L where A says ng/mL: no clash (they convert), no shape error (each apart)
    assert main(["validate", "--no-owl", "--format", "json", *content]) in (0, 1)
    report = json.loads(capsys.readouterr().out)
    assert not [f for f in report["findings"] if f["severity"] == "error"], report["findings"][:3]
    assert len(report["guidelines"]) == 3
    # a unit that does not convert is a real clash, named with both files
    clash = _variant(tmp_path, "d", lambda name, text: text.replace(
        'gkg:canonicalUnit "ng/mL"', 'gkg:canonicalUnit "%"').replace('gkg:thresholdUnit "ng/mL"', 'gkg:thresholdUnit "%"'))
    assert main(["validate", "--no-owl", "--format", "json", str(SHIPPED), str(clash)]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    clashes = [f for f in findings if f["code"] == "measure-unit-clash"]
    assert clashes and all("terms.ttl" in f["message"] and f["file"].endswith("terms.ttl") for f in clashes)


def test_cohort_runs_each_guideline_in_its_folder(guidelines, capsys, tmp_path):
    """cohort: one complete run per guideline under --out, each patient's report the one recommend gives for
    that guideline alone (provenance aside: a cohort's run is the chunk's), each folder auditable."""
    from guidelinekg.cohort.several import guideline_folder

    cases = ["003-ferritin-74.9-low-band", "029-drawn-on-oral-iron", "007-ferritin-150-tsat-15-conflict"]
    as_of = {_as_of(CASES / c / "patient.json") for c in cases}
    assert len(as_of) == 1, as_of
    source = tmp_path / "in"
    source.mkdir()
    for c in cases:
        shutil.copy(CASES / c / "patient.json", source / f"{c}.json")
    out = tmp_path / "out"
    content = sum((["--content", str(p)] for p in guidelines.values()), [])
    assert main(["cohort", str(source), "--out", str(out), "--as-of", *as_of, "--no-progress", *content]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["patients"] == 3 and len(summary["guidelines"]) == 3
    for c in cases:
        alone = {r["guideline"]["version_iri"]: r for r in
                 [_recommend(capsys, CASES / c / "patient.json", path) for path in guidelines.values()]}
        for iri, report in alone.items():
            folder = out / guideline_folder(iri)
            results = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
            [got] = [r for r in results if r["patient"] == report["patient"]]
            assert {k: v for k, v in got.items() if k != "provenance"} == \
                   {k: v for k, v in report.items() if k != "provenance"}, (c, iri)
    folder = out / guideline_folder(next(iter(summary["guidelines"])))
    assert main(["audit", str(folder), "--allow-unapproved"]) == 0, capsys.readouterr().out


def test_several_reports_follow_their_schema(guidelines, capsys):
    import jsonschema
    from referencing import Registry, Resource

    docs = Path(__file__).parents[1] / "docs"
    one, several = (json.loads((docs / name).read_text(encoding="utf-8"))
                    for name in ("recommend.schema.json", "recommend-several.schema.json"))
    registry = Registry().with_resources([(one["$id"], Resource.from_contents(one))])
    document = _recommend(capsys, CASES / "007-ferritin-150-tsat-15-conflict" / "patient.json", *guidelines.values())
    jsonschema.Draft202012Validator(several, registry=registry).validate(document)
    broken = dict(document, reports=[dict(document["reports"][0], applicable="yes"), document["reports"][1]])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(several, registry=registry).validate(broken)


def test_what_makes_a_guideline(tmp_path):
    """A folder declaring one version is one guideline, subfolders and all; a folder holding several is
    split into its subfolders; a folder declaring none is shared, loaded with every guideline."""
    from guidelinekg.content.grouping import split_guidelines

    version = ("@prefix gkg: <https://w3id.org/guidelinekg/ontology#> .\n"
               "<https://example.org/{0}/v1> a gkg:GuidelineVersion .\n")
    term = "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n<https://example.org/t> rdfs:label \"t\" .\n"
    layout = {"all/a/guideline.ttl": version.format("a"), "all/a/terms/terms.ttl": term,
              "all/b/guideline.ttl": version.format("b"), "all/shared/terms.ttl": term, "all/readme.ttl": term}
    for name, text in layout.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    own, shared = split_guidelines([tmp_path / "all"])
    names = [sorted(str(f.relative_to(tmp_path)) for f in g) for g in own]
    assert names == [["all/a/guideline.ttl", "all/a/terms/terms.ttl"], ["all/b/guideline.ttl"]]
    assert sorted(str(f.relative_to(tmp_path)) for f in shared) == ["all/readme.ttl", "all/shared/terms.ttl"]
    # one guideline's folder alone: one group, its subfolder with it
    own, shared = split_guidelines([tmp_path / "all" / "a"])
    assert len(own) == 1 and len(own[0]) == 2 and not shared
    # files one by one: by their directory
    own, shared = split_guidelines([tmp_path / "all/a/guideline.ttl", tmp_path / "all/b/guideline.ttl",
                                    tmp_path / "all/shared/terms.ttl"])
    assert len(own) == 2 and [f.name for f in shared] == ["terms.ttl"]


def test_grouping_edge_cases(tmp_path):
    """One version declared in two files is still one guideline (its subfolder stays with it); a path given
    twice or through a parent is read once; two copies of one version are refused; a symbolic link to a
    directory is not followed."""
    from guidelinekg.content.grouping import split_guidelines
    from guidelinekg.errors import InputError

    version = ("@prefix gkg: <https://w3id.org/guidelinekg/ontology#> .\n"
               "<https://example.org/{0}/v1> a gkg:GuidelineVersion .\n")
    term = "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n<https://example.org/t> rdfs:label \"t\" .\n"
    layout = {"all/a/guideline.ttl": version.format("a"), "all/a/more.ttl": version.format("a"),
              "all/a/sub/terms.ttl": term, "all/b/guideline.ttl": version.format("b")}
    for name, text in layout.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "all" / "b" / "loop").symlink_to(tmp_path / "all", target_is_directory=True)
    own, shared = split_guidelines([tmp_path / "all", tmp_path / "all" / "a"])
    assert [sorted(str(f.relative_to(tmp_path)) for f in g) for g in own] == [
        ["all/a/guideline.ttl", "all/a/more.ttl", "all/a/sub/terms.ttl"], ["all/b/guideline.ttl"]]
    assert shared == []
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "guideline.ttl").write_text(version.format("a"), encoding="utf-8")
    with pytest.raises(InputError, match="declared in two places"):
        split_guidelines([tmp_path / "all", tmp_path / "copy"])


def test_one_run_into_a_trig_file_is_trig(capsys, tmp_path):
    import pyoxigraph as ox

    trig = tmp_path / "one.trig"
    report = _recommend(capsys, CASES / "001-iron-deficient-45kg" / "patient.json", SHIPPED,
                        extra=("--provenance", str(trig)))
    assert {q.graph_name.value for q in ox.parse(path=str(trig), format=ox.RdfFormat.TRIG)} == {
        report["provenance"]["run"]}
