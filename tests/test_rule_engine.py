"""The rule engine's strata, fixpoints and scopes, on made-up rule sets (no guideline): a fixpoint stratum
derives what the textbook fixpoint derives, and knowledge-scope rules run once, at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from guidelinekg.engine.rules import load_rules, run_rules
from guidelinekg.engine.store import open_store

EX = "urn:example:"
PREFIX = f"PREFIX ex: <{EX}>\n"
# A chain a0 -> a1 -> ... -> a5 of ex:next edges, and a self-recursive closure rule (ex:reaches), a rule
# that builds on another rule's output (ex:far: two or more steps), and a mutually recursive pair
# (ex:even / ex:odd distance from a0).
CHAIN = "".join(f"<{EX}a{i}> <{EX}next> <{EX}a{i + 1}> .\n" for i in range(5))
RULES = {
    "10-far.rq": "# stratum: 2 (fixpoint)\nINSERT { ?x ex:far ?z } WHERE { ?x ex:next ?y . ?y ex:reaches ?z }",
    "11-reaches.rq": "# stratum: 1 (fixpoint)\nINSERT { ?x ex:reaches ?z } WHERE "
                     "{ { ?x ex:next ?z } UNION { ?x ex:next ?y . ?y ex:reaches ?z } }",
    "12-even.rq": "# stratum: 2 (fixpoint)\nINSERT { ?y ex:even true } WHERE "
                  "{ { ?y ex:next ?any FILTER(?y = ex:a0) } UNION { ?x ex:odd true ; ex:next ?y } }",
    "13-odd.rq": "# stratum: 2 (fixpoint)\nINSERT { ?y ex:odd true } WHERE { ?x ex:even true ; ex:next ?y }",
    "20-count.rq": "# stratum: 3\nINSERT { ex:a0 ex:reachable ?n } WHERE "
                   "{ SELECT (COUNT(?z) AS ?n) WHERE { ex:a0 ex:reaches ?z } }",
}


class CountingStore:
    """An engine store that counts the updates it runs."""

    def __init__(self, engine: str):
        self.inner = open_store(engine)
        self.name = engine
        self.updates = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def update(self, sparql: str) -> None:
        self.updates += 1
        self.inner.update(sparql)


def _ruleset(tmp_path: Path):
    for name, body in RULES.items():
        (tmp_path / name).write_text(body.replace("\nINSERT", "\n" + PREFIX + "INSERT"), encoding="utf-8")
    return load_rules(tmp_path)


def _naive(store, ruleset) -> int:
    """The textbook fixpoint: every rule of the stratum, pass after pass, until a pass adds nothing."""
    runs = 0
    for stratum in ruleset.strata:
        size = -1
        while store.size() != size:
            size = store.size()
            for rule in stratum:
                store.update(rule.text)
                runs += 1
            if not any(r.fixpoint for r in stratum):
                break
    return runs


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_fixpoint_stratum_derives_the_full_closure(tmp_path, engine):
    ruleset = _ruleset(tmp_path)
    fast, naive = CountingStore(engine), CountingStore(engine)
    for store in (fast, naive):
        store.load_ntriples(CHAIN)
    run_rules(fast, ruleset)
    naive_runs = _naive(naive, ruleset)
    assert sorted(fast.dump_ntriples().splitlines()) == sorted(naive.dump_ntriples().splitlines())
    dump = fast.dump_ntriples().decode()
    assert dump.count(f"<{EX}reaches>") == 15  # 5 + 4 + 3 + 2 + 1 pairs on a chain of six nodes
    assert dump.count(f"<{EX}far>") == 10  # pairs two or more steps apart
    assert {f"a{i}" for i in range(0, 6, 2)} == {line.split()[0][len(EX) + 1:-1] for line in dump.splitlines()
                                               if f"<{EX}even>" in line}
    assert {f"a{i}" for i in range(1, 6, 2)} == {line.split()[0][len(EX) + 1:-1] for line in dump.splitlines()
                                               if f"<{EX}odd>" in line}
    assert '"5"^^<http://www.w3.org/2001/XMLSchema#integer>' in dump  # the next stratum saw the whole closure
    assert fast.updates == naive_runs  # the engine's fixpoint is the textbook one


def test_running_the_rules_again_adds_nothing(tmp_path):
    ruleset = _ruleset(tmp_path)
    store = open_store("oxigraph")
    store.load_ntriples(CHAIN)
    run_rules(store, ruleset)
    size = store.size()
    run_rules(store, ruleset)
    assert store.size() == size


KNOWLEDGE_RULES = {
    "01-versions.rq": "# scope: knowledge\n# stratum: 1\nINSERT { ?v ex:known true } WHERE { ?v a gkg:GuidelineVersion }",
    "02-pairs.rq": "# scope: knowledge\n# stratum: 2\nINSERT { ?v ex:pairedWith ?w } WHERE { ?v ex:known true . ?w ex:known true }",
    "10-patient.rq": "# stratum: 1\nINSERT { ?p ex:seesVersion ?v } WHERE { ?p a gkg:Patient . ?v ex:pairedWith ?v }",
}


def _knowledge_kb(tmp_path: Path):
    from guidelinekg.engine.knowledge import KnowledgeBase

    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    gkg = "PREFIX gkg: <https://w3id.org/guidelinekg/ontology#>\n"
    for name, body in KNOWLEDGE_RULES.items():
        (rules_dir / name).write_text(body.replace("\nINSERT", "\n" + PREFIX + gkg + "INSERT"), encoding="utf-8")
    madeup = Path(__file__).parent / "fixtures" / "madeup" / "guideline.ttl"
    return KnowledgeBase.load([madeup], rules=load_rules(rules_dir))


def test_knowledge_scope_rules_run_once_at_load_and_stay_out_of_the_run_graph(tmp_path):
    from datetime import date

    from guidelinekg.patients.model import PatientData
    from guidelinekg.engine.reasoning import evaluate

    kb = _knowledge_kb(tmp_path)
    assert [r.name for s in kb.rules.strata for r in s] == ["10-patient"]
    assert [[r.name for r in s] for s in kb.rules.strata_of("knowledge")] == [["01-versions"], ["02-pairs"]]
    known = [line for line in kb.ntriples.splitlines() if f"<{EX}pairedWith>" in line]
    assert known  # stratum 2 read what stratum 1 derived
    patient = PatientData.build("urn:example:Patient/k1", [
        "<urn:example:Patient/k1> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
        "<https://w3id.org/guidelinekg/ontology#Patient> ."])
    evaluation = evaluate(kb, [patient], as_of=date(2026, 1, 15))
    assert evaluation.passes == 1  # the one patient stratum; the knowledge rules did not run again
    run_graph = kb.derived_ntriples(evaluation.store, patients=1).decode()
    assert f"<urn:example:Patient/k1> <{EX}seesVersion>" in run_graph  # the patient rule read the knowledge
    assert f"<{EX}pairedWith>" not in run_graph and f"<{EX}known>" not in run_graph
    again = kb.new_store()
    run_rules(again, kb.rules, scope="knowledge")  # idempotent: nothing left to derive
    assert again.size() == len(kb._quads)


@pytest.mark.parametrize("header", ["# scope: cohort", "# scope: knowledge (once)", "# Scope: Knowledge"])
def test_a_rule_scope_that_is_not_exactly_a_known_one_is_a_configuration_error(tmp_path, header):
    from guidelinekg.errors import ConfigurationError

    (tmp_path / "01-x.rq").write_text(f"{header}\n# stratum: 1\nINSERT DATA {{ }}\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="is not one of"):
        load_rules(tmp_path)


def test_rdflib_runs_a_prepared_rule_again_on_other_data_and_keeps_the_graphs_prefixes():
    """rdflib prepares each query text once per process (its parsing was most of an evaluation's time): the
    prepared rule, run again on another store and on more data, derives from that store's triples alone;
    a text naming a prefix it does not declare still runs as text, with the prefixes the graph has bound."""
    rule = PREFIX + "INSERT { ?x ex:reaches ?z } WHERE { { ?x ex:next ?z } UNION { ?x ex:next ?y . ?y ex:reaches ?z } }"
    counts = []
    for links in (2, 5, 2):
        store = open_store("rdflib")
        store.load_ntriples("".join(f"<{EX}a{i}> <{EX}next> <{EX}a{i + 1}> .\n" for i in range(links)))
        for _ in range(links):
            store.update(rule)
        counts.append(len(store.select_values(PREFIX + "SELECT * WHERE { ?x ex:reaches ?z }")))
    assert counts == [3, 15, 3]  # n(n+1)/2 pairs of a chain of n links, the first store's count again at the end
    store = open_store("rdflib")
    store.raw.bind("ex", EX)
    store.load_ntriples(CHAIN)
    assert len(store.select_values("SELECT ?x WHERE { ?x ex:next ?y }")) == 5
    with pytest.raises(Exception):
        open_store("rdflib").select_values("SELECT ?x WHERE { ?x undeclared:next ?y }")
