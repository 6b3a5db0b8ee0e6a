"""guidelinekg audit: complete, intact and reproducible provenance; tampering caught; content status flagged.

Provenance is made fresh by the CLI ('recommend --provenance', 'cohort'), so the recorded rule and content
hashes are those of the working tree; tampered copies change one thing each.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path

import pyoxigraph as ox
import pytest

from guidelinekg.audit.auditor import Auditor, derived_terms
from guidelinekg.cli import main
from guidelinekg.provenance.store import read_provenance
from guidelinekg.content.resources import project_home

HOME = project_home()
EXAMPLE = HOME / "examples" / "patient-ferritin-45.json"
CASES = HOME / "tests" / "cases"
FIXTURES = Path(__file__).parent / "fixtures" / "audit"
GKG = "https://w3id.org/guidelinekg/ontology#"
PROV = "http://www.w3.org/ns/prov#"
VERSION = "https://w3id.org/guidelinekg/guideline/rls-iron/v2025-12-23"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("audit") / "run.ttl"
    assert (
        main(
            ["recommend", str(EXAMPLE), "--as-of", "2026-01-15", "--provenance", str(out), "--format", "json"]
        )
        == 0
    )
    return out


def _audit_json(capsys, *args: str) -> tuple[int, dict]:
    code = main(["audit", *args, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def _codes(report: dict, severity: str | None = None) -> set[str]:
    found = [f for r in report["runs"] for f in r["findings"]] + report["notes"]
    return {f["code"] for f in found if severity is None or f["severity"] == severity}


def _tampered(source: Path, target: Path, change) -> Path:
    """A copy of a Turtle provenance file with ``change(triple)`` applied (``None`` drops the triple)."""
    triples = [q.triple for q in ox.parse(path=str(source), format=ox.RdfFormat.TURTLE)]
    kept = [t2 for t2 in (change(t) for t in triples) if t2 is not None]
    assert kept != triples, "the tampering changed nothing"
    target.write_bytes(ox.serialize(kept, format=ox.RdfFormat.TURTLE))
    return target


def _decimal(value: str) -> ox.Literal:
    return ox.Literal(value, datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#decimal"))


# --- the untampered run ---------------------------------------------------------------------------------


def test_recommend_provenance_audits_clean_but_for_the_unapproved_content(recorded, capsys):
    code, report = _audit_json(capsys, str(recorded))
    assert code == 1  # the shipped guideline is 'submitted', and that fails unless allowed
    assert _codes(report, "failure") == set()
    assert _codes(report, "flag") == {"not-approved"}
    (run,) = report["runs"]
    assert run["checks"] == {"shapes": "ok", "rules": "ok", "content": "ok", "input": "ok", "replay": "same"}
    assert run["as_of"] == "2026-01-15"
    kinds = sorted(r["kind"] for r in run["results"])
    assert kinds.count("recommendation") == 4 and "dose" in kinds
    assert {r["replay"] for r in run["results"]} == {"same"}
    assert all(r["flags"] == ["not-approved"] for r in run["results"])
    assert run["versions"] == [
        {
            "iri": VERSION,
            "label": "2025-12-23",
            "status": "submitted",
            "superseded_by": [],
            "flags": ["not-approved"],
        }
    ]

    assert main(["audit", str(recorded), "--allow-unapproved"]) == 0
    text = capsys.readouterr().out
    assert "ok   the replay gives the recorded results" in text
    assert "FLAG not-approved" in text and text.rstrip().endswith("exit 0")
    assert "summary.csv" not in text and "run.json" not in text  # no cohort: no cohort files checked


def test_superseded_version_in_the_store_is_flagged(recorded, tmp_path, capsys):
    store = tmp_path / "store"
    assert (
        main(["load", "--store", str(store), "--guidelines", "--content", str(FIXTURES / "rls-iron-v2")]) == 0
    )
    capsys.readouterr()
    code, report = _audit_json(capsys, str(recorded), "--store", str(store), "--allow-unapproved")
    assert code == 1 and _codes(report, "flag") == {"not-approved", "superseded"}
    assert report["runs"][0]["versions"][0]["superseded_by"] == [
        "https://w3id.org/guidelinekg/guideline/rls-iron/v2026-06-01"
    ]
    assert (
        main(["audit", str(recorded), "--store", str(store), "--allow-unapproved", "--allow-superseded"]) == 0
    )


# --- tampering ------------------------------------------------------------------------------------------


def test_a_run_on_a_forged_approved_copy_of_a_version_is_caught_with_the_store(tmp_path, capsys):
    """Content copied outside the project, its review status set to approved under the same version IRI
    (and a threshold changed): the run replays against that copy, but the store of record says the
    version is not approved."""
    from guidelinekg.content.resources import guideline_files

    forged = tmp_path / "forged"
    forged.mkdir()
    for f in guideline_files():
        text = f.read_text(encoding="utf-8")
        text = text.replace("gkg:reviewStatus gkg:Submitted", "gkg:reviewStatus gkg:Approved")
        (forged / f.name).write_text(text, encoding="utf-8")
    assert "gkg:reviewStatus gkg:Approved" in (forged / "guideline.ttl").read_text(encoding="utf-8")
    run = tmp_path / "run.ttl"
    assert main(["recommend", str(EXAMPLE), "--as-of", "2026-01-15", "--content", str(forged),
                 "--provenance", str(run), "--format", "json"]) == 0
    store = tmp_path / "store"
    assert main(["load", "--store", str(store), "--guidelines"]) == 0
    capsys.readouterr()
    code, report = _audit_json(capsys, str(run))
    assert code == 0  # without the store of record, the copy is all the audit has
    code, report = _audit_json(capsys, str(run), "--store", str(store))
    assert code == 1 and "version-status-differs" in _codes(report, "failure")


def test_a_changed_observation_value_is_caught(recorded, tmp_path, capsys):
    def ferritin_150(t):
        if t.subject.value.endswith("Observation/ferritin-1") and t.predicate.value in (
            GKG + "value",
            GKG + "normalizedValue",
            GKG + "usableValue",
        ):
            return ox.Triple(t.subject, t.predicate, _decimal("150"))
        return t

    code, report = _audit_json(
        capsys, str(_tampered(recorded, tmp_path / "t.ttl", ferritin_150)), "--allow-unapproved"
    )
    assert code == 1
    assert {"input-hash-mismatch", "replay-differs"} <= _codes(report, "failure")
    run = report["runs"][0]
    assert run["checks"]["input"] == "mismatch" and run["checks"]["replay"] == "differs"
    differing = [r for r in run["results"] if r["replay"] == "differs"]
    assert differing and all(
        r["summary"].startswith("made ") and r["replayed"].startswith("suppressed ") for r in differing
    )


def test_a_run_recorded_as_ending_before_it_started_is_caught(recorded, tmp_path, capsys):
    """Found by an auditor: the times are outside the replay and the run IRI, so an end moved before the start
    audited clean. Moving both consistently cannot be told (nothing signs the record); this can."""
    def ended_in_2020(t):
        if t.predicate.value == "http://www.w3.org/ns/prov#endedAtTime":
            return ox.Triple(t.subject, t.predicate, ox.Literal("2020-01-01T00:00:00+00:00",
                                                                datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#dateTime")))
        return t

    code, report = _audit_json(
        capsys, str(_tampered(recorded, tmp_path / "t.ttl", ended_in_2020)), "--allow-unapproved"
    )
    assert code == 1 and "times-inconsistent" in _codes(report, "failure")
    code, report = _audit_json(capsys, str(recorded), "--allow-unapproved")
    assert code == 0 and "times-inconsistent" not in _codes(report, "failure")


def test_the_run_records_its_code_and_the_audit_notes_a_replay_by_other_code(recorded, tmp_path, capsys):
    """Found by an auditor: 'guidelinekg 0.1.0' named the software whatever its code, so a replay by changed
    code could not be told. The run records the code's digest; a replay by other code is noted (it is no
    failure: the replay's own comparison says whether the answers changed)."""
    from guidelinekg.content.resources import software_sha256

    recorded_code = [t.object.value for t in ox.parse(path=str(recorded), format=ox.RdfFormat.TURTLE)
                     if t.predicate.value == GKG + "softwareSha256"]
    assert recorded_code == [software_sha256()]

    def other_code(t):
        if t.predicate.value == GKG + "softwareSha256":
            return ox.Triple(t.subject, t.predicate, ox.Literal("0" * 64))
        return t

    code, report = _audit_json(capsys, str(_tampered(recorded, tmp_path / "t.ttl", other_code)), "--allow-unapproved")
    assert code == 0 and "software-code" in _codes(report, "note")
    code, report = _audit_json(capsys, str(recorded), "--allow-unapproved")
    assert "software-code" not in _codes(report, "note")


def test_a_removed_used_triple_is_caught_by_the_shapes(recorded, tmp_path, capsys):
    def drop_version_use(t):
        return None if t.predicate.value == PROV + "used" and t.object.value == VERSION else t

    code, report = _audit_json(capsys, str(_tampered(recorded, tmp_path / "t.ttl", drop_version_use)))
    assert code == 1
    assert "incomplete-provenance" in _codes(report, "failure")
    assert report["runs"][0]["checks"]["shapes"] == "incomplete"


def test_a_different_rule_hash_is_caught_and_stops_the_replay(recorded, tmp_path, capsys):
    def other_hash(t):
        if t.subject.value.endswith("rules/40-threshold-known") and t.predicate.value == GKG + "sha256":
            return ox.Triple(t.subject, t.predicate, ox.Literal("0" * 64))
        return t

    code, report = _audit_json(
        capsys, str(_tampered(recorded, tmp_path / "t.ttl", other_hash)), "--allow-unapproved"
    )
    assert code == 1
    assert {"rule-hash-mismatch", "cannot-replay"} <= _codes(report, "failure")
    run = report["runs"][0]
    assert run["checks"]["rules"] == "changed" and run["checks"]["replay"] == "not run"
    assert {r["replay"] for r in run["results"]} == {"not-replayed"}


def test_a_changed_result_status_is_caught_by_the_replay(recorded, tmp_path, capsys):
    def suppress(t):
        if t.predicate.value == GKG + "status" and t.object.value == GKG + "Made":
            return ox.Triple(t.subject, t.predicate, ox.NamedNode(GKG + "Undetermined"))
        return t

    code, report = _audit_json(
        capsys, str(_tampered(recorded, tmp_path / "t.ttl", suppress)), "--allow-unapproved"
    )
    assert code == 1 and "replay-differs" in _codes(report, "failure")
    assert report["runs"][0]["checks"]["input"] == "ok"  # the facts are intact: only the conclusions changed


def test_a_removed_patient_fact_is_caught(recorded, tmp_path, capsys):
    def drop_tsat(t):
        return None if t.subject.value.endswith("Observation/tsat-1") else t

    code, report = _audit_json(
        capsys, str(_tampered(recorded, tmp_path / "t.ttl", drop_tsat)), "--allow-unapproved"
    )
    assert code == 1
    assert {"fact-not-recorded", "input-hash-mismatch", "replay-differs"} <= _codes(report, "failure")


def test_fast_shape_check_agrees_with_pyshacl_rdfs_inference(recorded, tmp_path):
    """The audit computes the RDFS entailments itself; pySHACL's own RDFS inference must agree."""
    import pyshacl
    import rdflib

    from guidelinekg.content.resources import ontology_dir, shapes_dir

    vocabulary = rdflib.Graph()
    for f in sorted(ontology_dir().glob("*.ttl")):
        vocabulary.parse(f)
    shapes = rdflib.Graph().parse(shapes_dir() / "provenance.ttl")
    variants = {
        "original": recorded,
        "no-version-use": _tampered(
            recorded,
            tmp_path / "a.ttl",
            lambda t: None if t.predicate.value == PROV + "used" and t.object.value == VERSION else t,
        ),
        "no-rule-file": _tampered(
            recorded, tmp_path / "b.ttl", lambda t: None if t.predicate.value == GKG + "ruleFile" else t
        ),
        "no-as-of": _tampered(
            recorded, tmp_path / "c.ttl", lambda t: None if t.predicate.value == GKG + "asOfDate" else t
        ),
        "no-software": _tampered(
            recorded,
            tmp_path / "d.ttl",
            lambda t: None if t.predicate.value == PROV + "wasAssociatedWith" else t,
        ),
        "no-status": _tampered(
            recorded, tmp_path / "e.ttl", lambda t: None if t.predicate.value == GKG + "status" else t
        ),
    }
    auditor = Auditor()
    for name, path in variants.items():
        (load,) = read_provenance(path)
        ours = auditor.audit_run(load).checks["shapes"] == "ok"
        theirs = pyshacl.validate(
            rdflib.Graph().parse(path), shacl_graph=shapes, ont_graph=vocabulary, inference="rdfs"
        )[0]
        assert ours == theirs, name
        assert ours == (name == "original"), name


# --- cohorts --------------------------------------------------------------------------------------------


def _cohort(tmp_path: Path, source: Path, chunk_size: int) -> Path:
    out = tmp_path / "out"
    assert (
        main(
            [
                "cohort",
                str(source),
                "--out",
                str(out),
                "--as-of",
                "2026-01-15",
                "--chunk-size",
                str(chunk_size),
                "--no-progress",
            ]
        )
        == 0
    )
    return out


def test_cohort_provenance_with_several_runs_audits_clean(tmp_path, capsys):
    bundles = tmp_path / "bundles"
    bundles.mkdir()
    for case in ("001", "007", "011", "021", "029"):  # orders, warnings, suppressed and undetermined results
        (source,) = CASES.glob(f"{case}-*/patient.json")
        shutil.copy(source, bundles / f"{case}.json")
    out = _cohort(tmp_path, bundles, 2)
    capsys.readouterr()
    graphs = {
        q.graph_name.value for q in ox.parse(gzip.decompress((out / "provenance.trig.gz").read_bytes()), format=ox.RdfFormat.TRIG)
    }
    assert len(graphs) > 1
    code, report = _audit_json(capsys, str(out), "--allow-unapproved")  # the directory: its provenance.trig.gz
    assert code == 0, [f for r in report["runs"] for f in r["findings"] if f["severity"] == "failure"]
    assert {r["run"] for r in report["runs"]} == graphs
    kinds = {r["kind"] for run in report["runs"] for r in run["results"]}
    assert {"recommendation", "order", "warning"} <= kinds


def test_a_run_graph_removed_from_a_cohort_provenance_is_caught(tmp_path, capsys):
    """Every remaining run replays cleanly, but the results of the removed run's patients now rest on
    nothing: the audit compares the runs with results.jsonl."""
    bundles = tmp_path / "bundles"
    bundles.mkdir()
    for case in ("001", "007", "011", "021"):
        (source,) = CASES.glob(f"{case}-*/patient.json")
        shutil.copy(source, bundles / f"{case}.json")
    out = _cohort(tmp_path, bundles, 2)
    path = out / "provenance.trig.gz"
    quads = list(ox.parse(gzip.decompress(path.read_bytes()), format=ox.RdfFormat.TRIG))
    dropped = sorted({q.graph_name.value for q in quads})[0]
    kept = [q for q in quads if q.graph_name.value != dropped]
    path.write_bytes(gzip.compress(ox.serialize(kept, format=ox.RdfFormat.TRIG)))
    capsys.readouterr()
    code, report = _audit_json(capsys, str(out), "--allow-unapproved")
    assert code == 1
    assert {"runs-missing", "results-not-recorded"} <= _codes(report, "failure")
    assert [f["subject"] for f in report["notes"] if f["code"] == "results-not-recorded"] == [dropped]


def test_cohort_run_of_several_patients_with_loader_notes_audits_clean(tmp_path, capsys):
    """One run of three patients (not in IRI order) with ingest notes and a patient-data-invalid warning:
    the input hash is reproduced from the recorded facts, the notes and the shape check replayed."""
    out = _cohort(tmp_path, HOME / "tests" / "fixtures" / "cohort" / "bulk", 3)
    capsys.readouterr()
    code, report = _audit_json(capsys, str(out), "--allow-unapproved")
    (run,) = report["runs"]
    assert len(run["patients"]) == 3
    assert code == 0, [f for f in run["findings"] if f["severity"] == "failure"]
    codes = {r["summary"].split(":")[0] for r in run["results"] if r["kind"] == "warning"}
    assert {"patient-data-invalid", "ignored-resource"} <= codes


# --- the rest -------------------------------------------------------------------------------------------


def test_unusable_input_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.ttl"
    bad.write_text("<urn:a> <urn:b> .\n", encoding="utf-8")
    assert main(["audit", str(bad)]) == 2
    assert f"{bad}:1:" in capsys.readouterr().err
    (tmp_path / "results.jsonl").write_text("{}\n", encoding="utf-8")
    assert main(["audit", str(tmp_path / "results.jsonl")]) == 2
    assert "provenance.trig.gz" in capsys.readouterr().err
    # a recommend report: the hint names the provenance file it records (an auditor was sent to a
    # provenance.trig.gz that a single run never writes)
    (tmp_path / "report.json").write_text(json.dumps({"provenance": {"file": "/data/run-17.ttl"}}), encoding="utf-8")
    assert main(["audit", str(tmp_path / "report.json")]) == 2
    assert "audit the provenance this report names: /data/run-17.ttl" in capsys.readouterr().err


def test_compressed_provenance_reads_like_plain_and_a_truncated_one_exits_2(tmp_path, capsys):
    """A cohort writes provenance.trig.gz; the audit of the gzip file equals the audit of the plain file,
    and a cut-off, corrupt or non-gzip .gz is a clear input error, not a traceback."""
    (source,) = CASES.glob("001-*/patient.json")
    (tmp_path / "b").mkdir()
    shutil.copy(source, tmp_path / "b" / "p.json")
    out = tmp_path / "out"
    assert main(["cohort", str(tmp_path / "b"), "--out", str(out), "--as-of", "2026-01-15", "--no-progress"]) == 0
    data = (out / "provenance.trig.gz").read_bytes()
    plain = tmp_path / "provenance.trig"
    plain.write_bytes(gzip.decompress(data))
    capsys.readouterr()
    reports = [_audit_json(capsys, str(p), "--allow-unapproved") for p in (plain, out / "provenance.trig.gz")]
    (code_plain, plain_report), (code_gz, gz_report) = reports
    assert code_plain == code_gz == 0
    assert [(r["run"], r["findings"]) for r in plain_report["runs"]] == \
        [(r["run"], r["findings"]) for r in gz_report["runs"]]
    assert len(plain_report["runs"]) == 1
    middle = len(data) // 2
    corrupt = data[:10] + bytes([data[10] ^ 0xFF]) + data[11:]  # the first deflate block's header
    for name, content in (("cut.trig.gz", data[:middle]), ("corrupt.trig.gz", corrupt),
                          ("plain.trig.gz", gzip.decompress(data))):
        (tmp_path / name).write_bytes(content)
        assert main(["audit", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert f"{tmp_path / name}: cannot read" in err and "Traceback" not in err


def test_engine_derived_triples_on_facts_are_known_from_the_rules():
    from guidelinekg.engine.rules import load_rules

    predicates, classes = derived_terms(load_rules())
    assert {GKG + "usableValue", GKG + "holds", GKG + "fails", GKG + "undecided"} <= predicates
    assert GKG + "RecommendationResult" in classes
    assert not {GKG + "value", GKG + "normalizedValue", GKG + "subject"} & predicates  # input, not derived


@pytest.mark.parametrize("edit", ["renamed", "as-of moved consistently"])
def test_a_renamed_run_or_a_consistent_edit_under_its_name_is_caught(recorded, tmp_path, capsys, edit):
    """The run IRI names the input, as-of date, content, rules and software: a run graph given another
    run's name, or an as-of date changed everywhere it is written, replays "the same" but not as itself."""
    text = recorded.read_text(encoding="utf-8")
    (run,) = set(re.findall(r"<(urn:guidelinekg:run:[0-9a-f]+)>", text))
    if edit == "renamed":
        text = text.replace(run, "urn:guidelinekg:run:" + "0" * 32)
    else:  # the as-of date, its label and the end-of-day hours, all consistent
        text = text.replace("2026-01-15", "2026-01-20").replace("\"491256\"", "\"491376\"")
    forged = tmp_path / "forged.ttl"
    forged.write_text(text, encoding="utf-8")
    code, report = _audit_json(capsys, str(forged), "--allow-unapproved")
    assert code == 1 and "run-iri-mismatch" in _codes(report, "failure")
    code, report = _audit_json(capsys, str(recorded), "--allow-unapproved")
    assert code == 0 and "run-iri-mismatch" not in _codes(report)


def test_a_literal_longer_than_the_parser_buffer_is_unusable_input(tmp_path, capsys):
    """pyoxigraph raises MemoryError past 16 MiB in one term: exit 2 with a message, not a traceback (which
    audit's exit 1 would make look like tampering)."""
    huge = tmp_path / "huge.nt"
    huge.write_text('<urn:a> <urn:b> "' + "x" * (17 * 1024 * 1024) + '" .\n', encoding="utf-8")
    for command in (["audit"], ["load", "--store", str(tmp_path / "store")]):
        assert main([*command, str(huge)]) == 2
        err = capsys.readouterr().err
        assert "cannot read: Reached the buffer maximal size" in err and "Traceback" not in err


def test_derived_terms_match_rdflibs_sparql_algebra():
    """The scanner of INSERT templates reads what rdflib's parser and algebra read (2.5 s, now a few ms)."""
    from rdflib import RDF, URIRef, Variable
    from rdflib.plugins.sparql.algebra import translateUpdate
    from rdflib.plugins.sparql.parser import parseUpdate
    from rdflib.plugins.sparql.parserutils import CompValue

    from guidelinekg.engine.rules import load_rules

    def nodes(node):
        if isinstance(node, CompValue):
            yield node
            for value in node.values():
                yield from nodes(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                yield from nodes(value)

    def iris(node) -> set[str]:
        if isinstance(node, URIRef):
            return {str(node)}
        children = node.values() if isinstance(node, CompValue) else node if isinstance(node, (list, tuple)) else ()
        return set().union(set(), *(iris(v) for v in children))

    rules = load_rules()
    predicates, classes = set(), set()
    for rule in rules.rules:
        if rule.scope == "knowledge":  # they insert into the guideline graph, never onto patient facts
            continue
        for op in translateUpdate(parseUpdate(rule.text)).algebra:
            template = op.get("insert")
            if not template:
                continue
            binds: dict = {}  # a variable bound in several UNION branches (rule 39's note) counts with each
            for n in (n for n in nodes(op.get("where")) if n.name == "Extend"):
                binds.setdefault(n["var"], []).append(n["expr"])
            triples = list(template.get("triples") or [])
            for quads in (template.get("quads") or {}).values():
                triples += list(quads)
            for _, p, o in triples:
                if isinstance(p, Variable):
                    predicates |= iris(binds.get(p, []))
                elif p == RDF.type and isinstance(o, URIRef):
                    classes.add(str(o))
                elif p != RDF.type:
                    predicates.add(str(p))
    assert derived_terms(rules) == (frozenset(predicates), frozenset(classes))


def test_an_as_of_date_that_is_not_a_date_is_a_failure_not_a_traceback(recorded, tmp_path, capsys):
    def bad_date(t):
        if t.predicate.value == GKG + "asOfDate":
            return ox.Triple(t.subject, t.predicate,
                             ox.Literal("2026-13-45", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#date")))
        return t

    code, report = _audit_json(capsys, str(_tampered(recorded, tmp_path / "t.ttl", bad_date)), "--allow-unapproved")
    assert code == 1
    assert {"cannot-replay", "incomplete-provenance"} <= _codes(report, "failure")
    (finding,) = [f for f in report["runs"][0]["findings"] if f["code"] == "cannot-replay"]
    assert "'2026-13-45' is not a date" in finding["message"]


def test_a_loader_note_deleted_from_the_record_is_caught(tmp_path, capsys):
    """The loader's notes (here: a resource type the mapping ignores) are warnings users read; no fact
    digest covers them, so the run IRI names their digest and deleting one from the record fails."""
    bundle = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    bundle["entry"].append({"resource": {"resourceType": "Practitioner", "id": "dr-1"}})
    patient = tmp_path / "p.json"
    patient.write_text(json.dumps(bundle), encoding="utf-8")
    run = tmp_path / "run.ttl"
    assert main(["recommend", str(patient), "--as-of", "2026-01-15", "--provenance", str(run),
                 "--format", "json"]) == 0
    capsys.readouterr()
    code, report = _audit_json(capsys, str(run), "--allow-unapproved")
    assert code == 0, report
    notes = {q.subject for q in ox.parse(path=str(run), format=ox.RdfFormat.TURTLE)
             if q.object == ox.NamedNode("https://w3id.org/guidelinekg/ontology#IngestNote")}
    assert notes
    cut = _tampered(run, tmp_path / "cut.ttl", lambda t: None if t.subject in notes or t.object in notes else t)
    code, report = _audit_json(capsys, str(cut), "--allow-unapproved")
    assert code == 1 and "run-iri-mismatch" in _codes(report, "failure")


def test_a_run_read_with_another_unit_spelling_table_is_caught_but_still_replays(recorded, tmp_path, capsys):
    """The table raw units were read with is recorded (same raw bytes, other table: other facts); the replay
    starts from the recorded facts, so it still runs and agrees."""
    mapping = [t for t in ox.parse(path=str(recorded), format=ox.RdfFormat.TURTLE)
               if t.subject.value.startswith("urn:guidelinekg:mapping:")]
    assert {t.predicate.value for t in mapping} >= {GKG + "sha256", "http://www.w3.org/2000/01/rdf-schema#label"}
    old = next(t.subject for t in mapping)
    new = ox.NamedNode("urn:guidelinekg:mapping:" + "1" * 64)

    def other_table(t):
        s = new if t.subject == old else t.subject
        o = new if t.object == old else ox.Literal("1" * 64) if t.predicate.value == GKG + "sha256" and t.subject == old else t.object
        return ox.Triple(s, t.predicate, o)

    code, report = _audit_json(capsys, str(_tampered(recorded, tmp_path / "t.ttl", other_table)), "--allow-unapproved")
    assert code == 1
    run = report["runs"][0]
    assert "mapping-hash-mismatch" in _codes(report, "failure")
    assert run["checks"]["replay"] == "same" and run["checks"]["rules"] == "ok"


def test_a_run_whose_unit_spelling_table_record_is_removed_is_caught(recorded, tmp_path, capsys):
    """The table is part of the run IRI: a record without it (as an older run's) no longer names the run."""
    def drop_mapping(t):
        if t.subject.value.startswith("urn:guidelinekg:mapping:") or t.object.value.startswith("urn:guidelinekg:mapping:"):
            return None
        return t

    code, report = _audit_json(capsys, str(_tampered(recorded, tmp_path / "t.ttl", drop_mapping)), "--allow-unapproved")
    assert code == 1 and "run-iri-mismatch" in _codes(report, "failure")
