"""The integrity side of an audit: are the files a run used unchanged, and is its record closed?

Split from :mod:`guidelinekg.audit.auditor`. :func:`check_files` compares the rule and content files with the
hashes the run recorded; :func:`check_links` checks what the provenance shapes cannot say (a result's
rule is one the run used; every patient fact a result derives from is recorded).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from guidelinekg.audit.recorded import RDF_TYPE, Finding, _Graph, _local
from guidelinekg.audit.replay import INPUT_PREFIX
from guidelinekg.patients.ucum import spelling_table_sha256
from guidelinekg.provenance.record import MAPPING_LABEL, MAPPING_PREFIX


def check_files(
    graph: _Graph, current: dict[str, str], findings: list[Finding]
) -> tuple[bool, tuple[Path, ...] | None]:
    """Rule and content files against their recorded hashes (``current``: rule name -> SHA-256 of the
    rule files now). Returns whether the rules are the recorded ones, and the guideline content files
    to replay with (``None`` when content changed)."""
    from guidelinekg.content.resources import project_home, vocabulary_files
    from guidelinekg.engine.rules import RULE_NAMESPACE

    used = graph.select(
        "SELECT ?e ?label ?sha WHERE { $run prov:used ?e . "
        "OPTIONAL { ?e rdfs:label ?label } OPTIONAL { ?e gkg:sha256 ?sha } }"
    )
    failures, recorded_rules, content = len(findings), set(), []

    def fail(code, message, iri):
        findings.append(Finding("failure", code, message, iri))

    for row in used:
        iri, label, sha = row["e"], row.get("label", ""), row.get("sha", "")
        if iri.startswith(RULE_NAMESPACE):
            name = iri[len(RULE_NAMESPACE) :]
            recorded_rules.add(name)
            if label != f"queries/rules/{name}.rq" or not sha:
                fail(
                    "rule-not-described",
                    f"rule {name} is recorded without its path (rdfs:label "
                    "queries/rules/NAME.rq) or its gkg:sha256",
                    iri,
                )
            elif name not in current:
                fail("rule-missing", f"{label} no longer exists", iri)
            elif current[name] != sha:
                fail(
                    "rule-hash-mismatch",
                    f"{label} now hashes to {current[name]}, the run recorded {sha}",
                    iri,
                )
        elif iri.startswith("urn:guidelinekg:file:"):
            path = Path(label) if Path(label).is_absolute() else project_home() / label
            if iri != f"urn:guidelinekg:file:{sha}":
                fail(
                    "content-not-described",
                    f"content file {label!r}: the IRI and gkg:sha256 disagree",
                    iri,
                )
            elif not path.is_file():
                fail("content-missing", f"content file {label} no longer exists", iri)
            elif hashlib.sha256(path.read_bytes()).hexdigest() != sha:
                fail(
                    "content-hash-mismatch",
                    f"content file {label} has changed since the run (recorded {sha[:12]}...)",
                    iri,
                )
            else:
                content.append(path.resolve())
        elif iri.startswith(MAPPING_PREFIX):
            now = spelling_table_sha256()
            if iri != MAPPING_PREFIX + sha or label != MAPPING_LABEL:
                fail("mapping-not-described", f"the unit-spelling table is recorded without its path "
                     f"(rdfs:label {MAPPING_LABEL}) or with an IRI and gkg:sha256 that disagree", iri)
            elif now != sha:
                # the replay starts from the recorded facts, so it stands; reading the raw input again would not
                fail("mapping-hash-mismatch", f"{MAPPING_LABEL} "
                     + (f"now hashes to {now[:12]}..." if now else "no longer exists")
                     + f", the run read units with {sha[:12]}...: the same raw input may now give other facts",
                     iri)
        elif iri.startswith(INPUT_PREFIX) and iri != INPUT_PREFIX + sha:
            fail("input-not-described", "the input's IRI and gkg:sha256 disagree", iri)
    for name in sorted(set(current) - recorded_rules):
        fail(
            "rule-set-changed",
            f"queries/rules/{name}.rq exists now, the run did not use it",
            RULE_NAMESPACE + name,
        )
    bad = findings[failures:]
    rules_ok = not any(f.code.startswith("rule-") for f in bad)
    content_ok = content and not any(f.code.startswith("content-") for f in bad)
    vocabulary = {f.resolve() for f in vocabulary_files()}
    return rules_ok, tuple(sorted(p for p in content if p not in vocabulary)) if content_ok else None

def check_links(graph: _Graph, recorded: dict[str, dict], findings: list[Finding],
                typed: set[str] | None = None) -> None:
    """What the shapes cannot say: a result's rule was used by the run; its facts are recorded
    (``typed``: the graph's typed subjects, if at hand; else read from its triples)."""
    used = {r["e"] for r in graph.select("SELECT ?e WHERE { $run prov:used ?e }")}
    for iri, r in sorted(recorded.items()):
        if r["rule"] and r["rule"] not in used:
            findings.append(
                Finding(
                    "failure",
                    "rule-not-recorded",
                    f"the result names rule {_local(r['rule'])}, which the run does not record as used",
                    iri,
                )
            )
    if typed is None:
        typed = {t.subject.value for t in graph.triples if t.predicate.value == RDF_TYPE}
    # the store leaves out the objects typed as subjects (almost all); the values are then compared as before
    derived_from = graph.select(
        "SELECT DISTINCT ?x WHERE { ?r prov:wasDerivedFrom ?x . "
        'FILTER(STRSTARTS(STR(?x), "urn:guidelinekg:")) MINUS { ?x a ?type } }'
    )
    for x in sorted(row["x"] for row in derived_from if row["x"] not in typed):
        findings.append(
            Finding(
                "failure",
                "fact-not-recorded",
                "results derive from this patient fact but the "
                "provenance does not record it, so the derivation cannot be checked",
                x,
            )
        )
