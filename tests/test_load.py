"""guidelinekg load: named graph per run and per guideline version; reloads replace; loads are atomic."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyoxigraph as ox
import pytest

from guidelinekg.cli import main
from guidelinekg.errors import InputError
from guidelinekg.provenance.store import (
    CATALOG_GRAPH,
    CURRENT,
    MERGED,
    RECORD_NAME,
    VOCABULARY_GRAPH,
    open_read_only,
    read_rows,
    store_lock,
)
from guidelinekg.content.resources import project_home

HOME = project_home()
EXAMPLE = HOME / "examples" / "patient-ferritin-45.json"
VERSION = "https://w3id.org/guidelinekg/guideline/rls-iron/v2025-12-23"
GKG = "https://w3id.org/guidelinekg/ontology#"


def _recommend(out: Path, patient: Path = EXAMPLE) -> Path:
    assert (
        main(
            ["recommend", str(patient), "--as-of", "2026-01-15", "--provenance", str(out), "--format", "json"]
        )
        == 0
    )
    return out


def _run_iri(path: Path) -> str:
    (run,) = {
        q.subject.value
        for q in ox.parse(path=str(path), format=ox.RdfFormat.TURTLE)
        if q.object == ox.NamedNode(GKG + "EvaluationContext")
    }
    return run


def _graphs(store_dir: Path) -> dict[str, set[str]]:
    """Every named graph of the store with its triples (N-Triples lines)."""
    store = open_read_only(store_dir)
    graphs: dict[str, set[str]] = {}
    for q in store:
        if not isinstance(q.graph_name, ox.DefaultGraph):  # the default graph: their merge (test below)
            graphs.setdefault(q.graph_name.value, set()).add(f"{q.subject} {q.predicate} {q.object}")
    return graphs


def _default_graph(store_dir: Path) -> set[str]:
    store = open_read_only(store_dir)
    return {f"{q.subject} {q.predicate} {q.object}" for q in store.quads_for_pattern(None, None, None, ox.DefaultGraph())}


def _triples(path: Path) -> set[str]:
    """A Turtle file's triples as the store keeps them (values canonical: "+00:00" is written "Z")."""
    store = ox.Store()
    store.load(path=str(path), format=ox.RdfFormat.TURTLE)
    return {f"{q.subject} {q.predicate} {q.object}" for q in store}


@pytest.fixture(scope="module")
def run_file(tmp_path_factory) -> Path:
    return _recommend(tmp_path_factory.mktemp("load") / "run.ttl")


def test_guidelines_and_a_run_each_get_their_own_graph(run_file, tmp_path, capsys):
    store = tmp_path / "store"
    assert main(["load", "--store", str(store), "--guidelines", str(run_file)]) == 0
    assert "3 added, 0 replaced, 0 unchanged" in capsys.readouterr().out
    graphs = _graphs(store)
    run = _run_iri(run_file)
    assert set(graphs) == {VERSION, VOCABULARY_GRAPH, run, CATALOG_GRAPH}
    assert graphs[run] == _triples(run_file)
    assert f"<{VERSION}> <{GKG}reviewStatus> <{GKG}Submitted>" in graphs[VERSION]
    assert any("owl#Ontology" in line for line in graphs[VOCABULARY_GRAPH])


def test_loading_the_same_run_again_duplicates_nothing(run_file, tmp_path, capsys):
    store = tmp_path / "store"
    assert main(["load", "--store", str(store), "--guidelines", str(run_file)]) == 0
    before = _graphs(store)
    assert main(["load", "--store", str(store), "--guidelines", str(run_file), "--format", "json"]) == 0
    capsys.readouterr()
    assert main(["load", "--store", str(store), str(run_file), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["added"] == report["replaced"] == [] and len(report["unchanged"]) == 1
    assert _graphs(store) == before


def test_a_rerun_replaces_the_run_graph(run_file, tmp_path, capsys):
    """The same inputs give the same run IRI with other start and end times: the graph is replaced."""
    store = tmp_path / "store"
    assert main(["load", "--store", str(store), str(run_file)]) == 0
    again = _recommend(tmp_path / "again.ttl")
    run = _run_iri(run_file)
    assert _run_iri(again) == run
    capsys.readouterr()
    assert main(["load", "--store", str(store), str(again)]) == 0
    assert f"replaced: run <{run}>" in capsys.readouterr().out
    triples = _graphs(store)[run]
    assert sum("startedAtTime" in t for t in triples) == 1
    assert triples == _triples(again)


def test_the_default_graph_is_the_merge_of_the_graphs_each_triple_once(run_file, tmp_path, capsys):
    """Oxigraph's union default graph yields a triple once per graph holding it (oxigraph#1919): a researcher
    counting on `serve` got each guideline triple once per run. Each load writes the merge into the store's
    default graph; a replaced run's old times leave it, and a store loaded before the merge gets it at its
    next load."""
    store = tmp_path / "store"
    (other,) = (HOME / "tests" / "cases").glob("021-*/patient.json")
    second = _recommend(tmp_path / "second.ttl", other)
    assert main(["load", "--store", str(store), "--guidelines", str(run_file), str(second)]) == 0
    graphs = _graphs(store)
    assert _default_graph(store) == set().union(*graphs.values())
    shared = sorted(graphs[_run_iri(run_file)] & graphs[_run_iri(second)])[0]  # a triple both runs record
    subject, predicate, obj = shared.split(" ", 2)
    count = f"SELECT (COUNT(*) AS ?n) WHERE {{ {subject} {predicate} {obj} }}"
    assert read_rows(store, count, union=True) == [{"n": "1"}]
    assert read_rows(store, count) == [{"n": "0"}]  # the default graph alone, as before: empty
    assert main(["load", "--store", str(store), str(_recommend(tmp_path / "again.ttl"))]) == 0  # new times
    graphs = _graphs(store)
    assert _default_graph(store) == set().union(*graphs.values())  # the replaced run's times are gone
    live = (store / CURRENT).resolve()  # a store loaded before the merge: no mark, no default graph
    older = ox.Store(str(live))
    older.update(f"CLEAR DEFAULT ; DELETE WHERE {{ GRAPH <{CATALOG_GRAPH}> {{ <{MERGED[0]}> ?p ?o }} }}")
    del older
    assert read_rows(store, count, union=True) != [{"n": "0"}]  # Oxigraph's union, as before
    capsys.readouterr()
    assert main(["load", "--store", str(store), str(tmp_path / "second.ttl")]) == 0
    assert "0 added, 0 replaced, 1 unchanged" in capsys.readouterr().out
    assert main(["load", "--store", str(store), str(_recommend(tmp_path / "third.ttl", other))]) == 0
    assert _default_graph(store) == set().union(*_graphs(store).values())
    assert read_rows(store, count, union=True) == [{"n": "1"}]
    # an older version loads a graph without merging it: the catalog then lists more graphs than were merged,
    # so the merge is stale: queries fall back to the union (the new graph is seen) until a load merges again
    live = (store / CURRENT).resolve()
    older = ox.Store(str(live))
    older.update(f"INSERT DATA {{ GRAPH <urn:example:older-run> {{ <urn:example:s> <urn:example:p> 1 }} "
                 f"GRAPH <{CATALOG_GRAPH}> {{ <urn:example:older-run> <{GKG}sha256> \"00\" }} }}")
    del older
    assert read_rows(store, "SELECT (COUNT(*) AS ?n) WHERE { <urn:example:s> ?p ?o }", union=True) == [{"n": "1"}]
    assert main(["load", "--store", str(store), str(_recommend(tmp_path / "fourth.ttl", HOME / "tests" / "cases" /
                                                                 "001-iron-deficient-45kg" / "patient.json"))]) == 0
    assert _default_graph(store) == set().union(*_graphs(store).values())


def test_cohort_provenance_keeps_its_named_graphs(tmp_path):
    bundles = tmp_path / "bundles"
    bundles.mkdir()
    for case in ("007", "021"):
        (source,) = (HOME / "tests" / "cases").glob(f"{case}-*/patient.json")
        (bundles / f"{case}.json").write_bytes(source.read_bytes())
    out = tmp_path / "out"
    assert main(["cohort", str(bundles), "--out", str(out), "--as-of", "2026-01-15", "--no-progress"]) == 0
    expected = {
        q.graph_name.value for q in ox.parse(gzip.decompress((out / "provenance.trig.gz").read_bytes()), format=ox.RdfFormat.TRIG)
    }
    store = tmp_path / "store"
    assert main(["load", "--store", str(store), str(out)]) == 0  # the --out directory: its provenance.trig.gz
    assert set(_graphs(store)) == expected | {CATALOG_GRAPH}


def test_a_malformed_file_at_the_end_leaves_the_store_as_it_was(run_file, tmp_path, capsys):
    store = tmp_path / "store"
    assert main(["load", "--store", str(store), "--guidelines"]) == 0
    before = _graphs(store)
    bad = tmp_path / "broken.ttl"
    bad.write_text(
        "@prefix gkg: <https://w3id.org/guidelinekg/ontology#> .\n<urn:x> a gkg:EvaluationContext ;\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    assert main(["load", "--store", str(store), str(run_file), str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3:" in err and "syntax error" in err
    assert _graphs(store) == before


def _big_run(path: Path, run_file: Path, n: int) -> int:
    """The run's provenance plus ``n`` filler triples about the run: a load that takes a while."""
    text = run_file.read_text(encoding="utf-8")
    run = _run_iri(run_file)
    filler = "".join(f'<{run}> <urn:test:filler> "{i}" .\n' for i in range(n))
    path.write_text(text + filler, encoding="utf-8")
    return sum(1 for _ in ox.parse(path=str(path), format=ox.RdfFormat.TURTLE))


@pytest.mark.slow
def test_a_load_killed_midway_leaves_the_store_old_or_new_never_partial(run_file, tmp_path):
    """SIGKILL at moments spread over a load (reading, writing the new generation, switching): afterwards
    the run's graph holds either its old content or all of its new content, and the next load cleans up."""
    store = tmp_path / "store"
    assert main(["load", "--store", str(store), str(run_file)]) == 0
    run = _run_iri(run_file)
    old = _graphs(store)[run]
    big = tmp_path / "big.ttl"
    size = _big_run(big, run_file, 100_000)
    # The big run has the small one's IRI with another record: replacing it is deliberate (--replace).
    cmd = [sys.executable, "-m", "guidelinekg.cli", "load", "--store", str(store), "--replace", str(big)]
    started = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True, cwd=tmp_path)
    full = time.monotonic() - started
    assert len(_graphs(store)[run]) == size
    outcomes = []
    for fraction in (0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.97, 1.5):
        assert main(["load", "--store", str(store), "--replace", str(run_file)]) == 0  # the old content again
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
        time.sleep(full * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        triples = _graphs(store)[run]
        assert triples == old or len(triples) == size, (
            f"partial graph after a kill at {fraction:.0%} of a load"
        )
        outcomes.append("new" if len(triples) == size else "old")
    assert "old" in outcomes, outcomes  # kills landed before the switch
    assert main(["load", "--store", str(store), "--replace", str(run_file)]) == 0
    assert sorted(p.name for p in store.iterdir()) == [
        CURRENT,
        os.readlink(store / CURRENT),
        RECORD_NAME,
        "guidelinekg.lock",
    ]


def test_a_served_store_cannot_be_loaded(run_file, tmp_path, capsys):
    store = tmp_path / "store"
    assert main(["load", "--store", str(store), str(run_file)]) == 0
    with store_lock(store, exclusive=False):  # what 'serve' holds while it runs
        capsys.readouterr()
        assert main(["load", "--store", str(store), "--guidelines"]) == 2
        assert "in use by another process" in capsys.readouterr().err
    assert main(["load", "--store", str(store), "--guidelines"]) == 0


def test_unusable_inputs_exit_2(tmp_path, capsys):
    store = tmp_path / "store"
    assert main(["load", "--store", str(store)]) == 2
    assert "nothing to load" in capsys.readouterr().err
    results = tmp_path / "results.jsonl"
    results.write_text("{}\n", encoding="utf-8")
    assert main(["load", "--store", str(store), str(results)]) == 2
    assert "provenance.trig.gz" in capsys.readouterr().err
    two = tmp_path / "two.ttl"
    two.write_text(
        f"<urn:r1> a <{GKG}EvaluationContext> . <urn:r2> a <{GKG}EvaluationContext> .\n", encoding="utf-8"
    )
    assert main(["load", "--store", str(store), str(two)]) == 2
    assert "exactly one run" in capsys.readouterr().err
    assert not (store / CURRENT).exists()


def test_the_cli_runs_as_a_subprocess(run_file, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "guidelinekg.cli", "load", "--store", str(tmp_path / "s"), str(run_file)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "1 added" in done.stdout


def _knowledge_derived_lines() -> set[str]:
    """What the knowledge-scope rules add in an evaluation's knowledge (the reasoner's own view)."""
    from guidelinekg.engine.knowledge import KnowledgeBase

    derived = {"memberCount", "restrictsRecommendation"}
    return {line.rstrip(" .") for line in KnowledgeBase.load().ntriples.splitlines()
            if line.split(" ")[1].strip("<>").split("#")[-1] in derived}


def test_a_version_graph_holds_what_the_knowledge_rules_derive(tmp_path):
    """A researcher's SPARQL over a served store sees the gkg:memberCount and gkg:restrictsRecommendation
    the patient rules read, the same as in an evaluation (blank-node criteria aside: their labels differ)."""
    store = tmp_path / "store"
    assert main(["load", "--store", str(store), "--guidelines"]) == 0
    version = _graphs(store)[VERSION]
    expected = {line for line in _knowledge_derived_lines() if not line.startswith("_:")}
    assert any("restrictsRecommendation" in line for line in expected)
    assert any("memberCount" in line for line in expected)
    assert expected <= version
    counts = [line for line in version if "memberCount" in line]
    assert len(counts) == len(set(counts)) == sum("memberCount" in line for line in _knowledge_derived_lines())


def test_derived_knowledge_triples_are_only_what_the_rules_add():
    """Not the content's own triples re-spelled by the store ("75.0" read back as "75"): those made the
    version graph's recorded triple count wrong."""
    from guidelinekg.engine.knowledge import derived_knowledge_triples
    from guidelinekg.provenance.inputs import _turtle_triples
    from guidelinekg.content.resources import guideline_files, vocabulary_files

    triples = [t for f in [*vocabulary_files(), *guideline_files()] for t in _turtle_triples(f)]
    derived = derived_knowledge_triples(triples)
    assert derived and {t.predicate.value for t in derived} == {
        GKG + "memberCount", GKG + "restrictsRecommendation", GKG + "appliedAgeLimit", GKG + "diagnosisCode",
        GKG + "codeToken", GKG + "procedureCode", GKG + "namesEquivalents"}


# --- the store deletes only what it made; a damaged store is refused ----------------------------------------


def _one_line_error(capsys, store: Path) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert str(store) in err, err
    return err


def test_a_load_deletes_only_the_generations_it_recorded(run_file, tmp_path, capsys):
    store = tmp_path / "store"
    assert main(["load", "--store", str(store), "--guidelines"]) == 0
    (store / "gen-2023-results").mkdir()
    (store / "gen-2023-results" / "mine.csv").write_text("a,b\n", encoding="utf-8")
    (store / "gen-000099").mkdir()  # looks like a generation, but the store never made it
    abandoned = json.loads((store / RECORD_NAME).read_text(encoding="utf-8"))
    abandoned["generations"].append("gen-000100")  # a load killed after recording its generation
    (store / RECORD_NAME).write_text(json.dumps(abandoned), encoding="utf-8")
    (store / "gen-000100").mkdir()
    assert main(["load", "--store", str(store), str(run_file)]) == 0
    _big_run(tmp_path / "more.ttl", run_file, 5)  # other content: the next load writes a new generation
    assert main(["load", "--store", str(store), "--replace", str(tmp_path / "more.ttl")]) == 0
    assert (store / "gen-2023-results" / "mine.csv").read_text(encoding="utf-8") == "a,b\n"
    assert (store / "gen-000099").is_dir() and not (store / "gen-000100").exists()
    live = os.readlink(store / CURRENT)
    assert live == "gen-000101"  # numbered past every gen-NNNNNN there (gen-000099 too)
    assert json.loads((store / RECORD_NAME).read_text(encoding="utf-8"))["generations"] == [live]
    assert sorted(p.name for p in store.iterdir()) == sorted(
        [CURRENT, live, "gen-000099", "gen-2023-results", RECORD_NAME, "guidelinekg.lock"])


def test_a_directory_that_is_not_a_store_is_refused_and_left_untouched(run_file, tmp_path, capsys):
    mine = tmp_path / "results"
    (mine / "gen-2023-results").mkdir(parents=True)
    (mine / "notes.txt").write_text("mine\n", encoding="utf-8")
    before = sorted(p.name for p in mine.rglob("*"))
    assert main(["load", "--store", str(mine), str(run_file)]) == 2
    assert "not a guidelinekg store, and not empty" in _one_line_error(capsys, mine)
    assert sorted(p.name for p in mine.rglob("*")) == before  # not even a lock file
    afile = tmp_path / "afile"
    afile.write_text("", encoding="utf-8")
    for target in (afile, afile / "store"):
        assert main(["load", "--store", str(target), str(run_file)]) == 2
        _one_line_error(capsys, target)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["load", "--store", str(empty), str(run_file)]) == 0  # an empty directory becomes a store


def test_a_store_written_before_the_record_is_adopted(run_file, tmp_path, capsys):
    """The old layout (current -> gen-NNNNNN beside the lock, no record): its live generation is recorded and
    replaced as usual; another gen-* directory there is not the store's to delete."""
    store = tmp_path / "store"
    assert main(["load", "--store", str(store), "--guidelines"]) == 0
    (store / RECORD_NAME).unlink()
    (store / "gen-000007").mkdir()
    _recommend(run_file)
    assert main(["load", "--store", str(store), str(run_file)]) == 0
    assert (store / "gen-000007").is_dir() and not (store / "gen-000001").exists()
    assert VERSION in _graphs(store)


def _damage(store: Path, how: str) -> None:
    live = store / os.readlink(store / CURRENT)
    if how == "dangling-current":
        shutil.rmtree(live)
    elif how == "truncated-files":
        for f in live.glob("*.sst"):
            os.truncate(f, f.stat().st_size // 3)
    elif how == "garbage-files":
        for f in live.glob("*.sst"):
            f.write_bytes(os.urandom(f.stat().st_size))
    elif how == "truncated-manifest":
        for f in live.glob("MANIFEST-*"):
            os.truncate(f, 10)
    elif how == "emptied-generation":
        for f in live.iterdir():
            f.unlink()
    elif how == "corrupt-record":
        (store / RECORD_NAME).write_text('{"format": "guidelinekg-store", "generations": ["../..', encoding="utf-8")
    elif how == "record-outside":
        (store / RECORD_NAME).write_text(json.dumps(
            {"format": "guidelinekg-store", "current": None, "generations": ["../../home"]}), encoding="utf-8")
    elif how == "current-elsewhere":
        (store / CURRENT).unlink()
        (store / CURRENT).symlink_to("/tmp")
    elif how == "current-removed":
        (store / CURRENT).unlink()


DAMAGE = ["dangling-current", "truncated-files", "garbage-files", "truncated-manifest", "emptied-generation",
          "corrupt-record", "record-outside", "current-elsewhere", "current-removed"]


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_store_is_one_line_exit_2_in_load_and_audit(run_file, tmp_path, capsys, how):
    store = tmp_path / "store"
    assert main(["load", "--store", str(store), "--guidelines"]) == 0
    _damage(store, how)
    before = sorted((p.name, p.stat().st_size) for p in store.rglob("*") if p.is_file())
    capsys.readouterr()
    assert main(["load", "--store", str(store), str(run_file)]) == 2
    assert "damaged" in _one_line_error(capsys, store)
    assert sorted((p.name, p.stat().st_size) for p in store.rglob("*") if p.is_file()) == before
    assert main(["audit", str(run_file), "--store", str(store), "--allow-unapproved"]) == 2
    assert "damaged" in _one_line_error(capsys, store)
    with pytest.raises(InputError, match="damaged"), store_lock(store, exclusive=False):
        open_read_only(store)  # what 'serve' opens first


@pytest.mark.slow
@pytest.mark.parametrize("how", ["truncated-files", "dangling-current"])
def test_serving_a_damaged_store_exits_2_without_a_traceback(tmp_path, how):
    store = tmp_path / "store"
    assert main(["load", "--store", str(store), "--guidelines"]) == 0
    _damage(store, how)
    done = subprocess.run([sys.executable, "-m", "guidelinekg.cli", "serve", "--store", str(store), "--port", "0"],
                          check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "damaged" in done.stderr and str(store) in done.stderr


def test_a_failed_write_leaves_the_store_as_it_was(run_file, tmp_path, capsys, monkeypatch):
    """The disk filling up while the new generation is written: exit 2, one line; the live one untouched."""
    import errno

    from guidelinekg.provenance import store as store_module

    store = tmp_path / "store"
    assert main(["load", "--store", str(store), "--guidelines"]) == 0
    before = _graphs(store)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module, "_write", full)
    assert main(["load", "--store", str(store), str(run_file)]) == 2
    assert "cannot write the store: No space left on device" in _one_line_error(capsys, store)
    monkeypatch.undo()
    assert _graphs(store) == before
    assert sorted(p.name for p in store.glob("gen-*")) == [os.readlink(store / CURRENT)]
    assert main(["load", "--store", str(store), str(run_file)]) == 0


def test_a_run_with_another_record_under_the_same_iri_is_not_replaced_silently(run_file, tmp_path, capsys):
    """Two records under one run IRI (here: a dose edited, the IRI kept) mean one of them is not what the
    run did: loading the second is refused and the first stays; --replace replaces it deliberately."""
    store = tmp_path / "store"
    assert main(["load", "--store", str(store), str(run_file)]) == 0
    run = _run_iri(run_file)
    stored = _graphs(store)[run]
    text = run_file.read_text(encoding="utf-8")
    assert '"675"^^xsd:decimal' in text
    other = tmp_path / "other.ttl"
    other.write_text(text.replace('"675"^^xsd:decimal', '"1000"^^xsd:decimal'), encoding="utf-8")
    capsys.readouterr()
    assert main(["load", "--store", str(store), str(other)]) == 2
    err = capsys.readouterr().err
    assert "different record" in err and run in err and "--replace" in err
    assert _graphs(store)[run] == stored
    assert main(["load", "--store", str(store), "--replace", str(other)]) == 0
    assert f"replaced: run <{run}>" in capsys.readouterr().out
    assert _graphs(store)[run] == _triples(other)


def test_load_content_that_validate_rejects_is_refused(tmp_path, capsys):
    """audit --store trusts the review status the store holds for a version: content with errors (here a
    threshold comparator that does not exist) must not get there."""
    source = HOME / "ontology" / "guidelines" / "rls-iron"
    content = tmp_path / "rls-iron-v2"
    shutil.copytree(source, content)
    guideline = content / "guideline.ttl"
    text = guideline.read_text(encoding="utf-8")
    assert "gkg:comparator gkg:LessOrEqual" in text
    guideline.write_text(text.replace("gkg:comparator gkg:LessOrEqual", "gkg:comparator gkg:Lessthan", 1),
                         encoding="utf-8")
    store = tmp_path / "store"
    assert main(["load", "--store", str(store), "--content", str(content)]) == 2
    err = capsys.readouterr().err
    assert "error" in err and "guideline.ttl" in err
    assert not store.exists() or not any(store.iterdir())


def test_two_inputs_with_the_same_facts_are_two_runs(run_file, tmp_path, capsys):
    """A file with a record the mapper skips maps to the same facts as one without it; the run IRI also
    names the raw bytes, so they are two runs, both kept by load (one used to replace the other)."""
    bundle = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    bundle["entry"].append({"resource": {"resourceType": "Practitioner", "id": "dr-1"}})
    other_input = tmp_path / "with-practitioner.json"
    other_input.write_text(json.dumps(bundle), encoding="utf-8")
    other = _recommend(tmp_path / "other.ttl", other_input)
    first, second = _run_iri(run_file), _run_iri(other)
    assert first != second
    recorded = ox.Store()
    recorded.load(path=str(other), format=ox.RdfFormat.TURTLE)
    sources = [q.object.value for q in recorded.quads_for_pattern(ox.NamedNode(second), None, None)
               if q.object.value.startswith("urn:guidelinekg:source:")]
    assert sources == ["urn:guidelinekg:source:" + hashlib.sha256(other_input.read_bytes()).hexdigest()]
    store = tmp_path / "store"
    assert main(["load", "--store", str(store), str(run_file), str(other)]) == 0
    assert {first, second} <= set(_graphs(store))

def test_a_version_with_other_content_under_its_iri_is_not_replaced_silently(tmp_path, capsys):
    """A copy of the shipped guideline with its status edited to approved, loaded under the same version
    IRI, replaced the stored version, and audit --store then found nothing wrong with runs on that copy."""
    store = tmp_path / "store"
    assert main(["load", "--store", str(store), "--guidelines"]) == 0
    forged = tmp_path / "forged"
    shutil.copytree(HOME / "ontology" / "guidelines" / "rls-iron", forged)
    guideline = forged / "guideline.ttl"
    text = guideline.read_text(encoding="utf-8")
    assert "gkg:reviewStatus gkg:Submitted" in text
    guideline.write_text(text.replace("gkg:reviewStatus gkg:Submitted", "gkg:reviewStatus gkg:Approved"),
                         encoding="utf-8")
    before = _graphs(store)[VERSION]
    capsys.readouterr()
    assert main(["load", "--store", str(store), "--content", str(forged)]) == 2
    err = capsys.readouterr().err
    assert "already in the store with other content" in err and VERSION in err
    assert _graphs(store)[VERSION] == before
    assert main(["load", "--store", str(store), "--content", str(forged), "--replace"]) == 0
    assert f"<{VERSION}> <{GKG}reviewStatus> <{GKG}Approved>" in _graphs(store)[VERSION]
