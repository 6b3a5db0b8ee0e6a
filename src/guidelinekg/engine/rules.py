"""Loading and running the SPARQL rules in ``queries/rules/``.

Each rule is a SPARQL Update file with a header; ``# stratum: N`` places it in a stratum. Strata run in
ascending order, so rules that negate or aggregate only see complete lower strata (stratified Datalog
semantics). A stratum runs once, unless one of its rules says ``# stratum: N (fixpoint ...)``: then it
runs until the store stops growing (rules that build on each other, e.g. nested criteria). Rules are
data for the engine: nothing here knows what a rule says.

A rule whose header says ``# scope: knowledge`` reads the guideline graph alone: it runs once, when the
knowledge base is loaded, and what it derives becomes part of the knowledge every evaluation starts from
(e.g. which statements restrict which recommendations). Joins among guideline statements are then not
repeated for every patient or chunk. Every other rule has ``patient`` scope and runs per evaluation.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from guidelinekg.errors import ConfigurationError
from guidelinekg.content.resources import queries_dir
from guidelinekg.engine.store import RuleStore

RULE_NAMESPACE = "https://w3id.org/guidelinekg/rules/"
_STRATUM = re.compile(r"^#\s*stratum:\s*(\d+)(.*)$", re.MULTILINE)
_PURPOSE = re.compile(r"^#\s*purpose:\s*(.+)$", re.MULTILINE)
_SCOPE = re.compile(r"^#\s*scope:\s*(.*?)\s*$", re.MULTILINE | re.IGNORECASE)
SCOPES = ("patient", "knowledge")
MAX_ITERATIONS = 50


@dataclass(frozen=True)
class Rule:
    """One rule file."""

    name: str
    path: Path
    stratum: int
    purpose: str
    fixpoint: bool
    text: str
    sha256: str
    scope: str = "patient"

    @property
    def iri(self) -> str:
        return RULE_NAMESPACE + self.name


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]

    @property
    def strata(self) -> list[list[Rule]]:
        """The strata of the rules run per evaluation (patient scope)."""
        return self.strata_of("patient")

    def strata_of(self, scope: str) -> list[list[Rule]]:
        rules = [r for r in self.rules if r.scope == scope]
        levels = sorted({r.stratum for r in rules})
        return [[r for r in rules if r.stratum == level] for level in levels]

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for rule in self.rules:
            digest.update(f"{rule.name} {rule.sha256}\n".encode())
        return digest.hexdigest()


def load_rules(directory: Path | None = None) -> RuleSet:
    """Read every ``*.rq`` in the rules directory (sorted by name)."""
    directory = directory or queries_dir() / "rules"
    rules = []
    for path in sorted(directory.glob("*.rq")):
        data = path.read_bytes()
        text = data.decode("utf-8")
        stratum = _STRATUM.search(text)
        if not stratum:
            raise ConfigurationError(f"{path}: rule header has no '# stratum: N' line")
        purpose = _PURPOSE.search(text)
        scope = _SCOPE.search(text)
        if scope and scope.group(1) not in SCOPES:
            raise ConfigurationError(f"{path}: '# scope: {scope.group(1)}' is not one of: {', '.join(SCOPES)}")
        rules.append(
            Rule(
                name=path.stem,
                path=path,
                stratum=int(stratum.group(1)),
                purpose=purpose.group(1).strip() if purpose else "",
                fixpoint="fixpoint" in stratum.group(2),
                text=text,
                sha256=hashlib.sha256(data).hexdigest(),
                scope=scope.group(1) if scope else "patient",
            )
        )
    if not rules:
        raise ConfigurationError(f"no rules (*.rq) in {directory}")
    return RuleSet(tuple(rules))


def run_rules(store: RuleStore, ruleset: RuleSet, scope: str = "patient") -> int:
    """Run every stratum of the scope's rules (to its fixpoint where a rule asks for one); return the
    number of passes made."""
    passes = 0
    for stratum in ruleset.strata_of(scope):
        if any(rule.fixpoint for rule in stratum):
            passes += _run_to_fixpoint(store, stratum)
        else:
            for rule in stratum:
                store.update(rule.text)
            passes += 1
    return passes


def _run_to_fixpoint(store: RuleStore, stratum: list[Rule]) -> int:
    """Run the stratum's rules pass after pass until a pass adds nothing; return the passes made.

    Rules only insert, so an unchanged store size means nothing new was derived. Counting the store is
    linear in its size (about 4 ms for a 250-patient chunk), so it is done once per pass, and only here.
    Skipping a rule that has seen every triple added since it last ran would save the confirming
    re-runs, but needs a count after every rule: measured on a chunk, the counts cost more (about
    11 ms) than the re-runs they save, since the nested-criteria rules leave decided criteria out.
    """
    size = store.size()
    for passes in range(1, MAX_ITERATIONS + 1):
        for rule in stratum:
            store.update(rule.text)
        new_size = store.size()
        if new_size == size:
            return passes
        size = new_size
    raise ConfigurationError(  # pragma: no cover - would need a non-terminating rule set
        f"stratum {stratum[0].stratum} did not reach a fixpoint in {MAX_ITERATIONS} passes")
