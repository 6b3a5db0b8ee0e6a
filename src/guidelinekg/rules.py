"""Loading and running the SPARQL rules in ``queries/rules/``.

Each rule is a SPARQL Update file with a header; ``# stratum: N`` places it in a stratum. Strata run in
ascending order, so rules that negate or aggregate only see complete lower strata (stratified Datalog
semantics). A stratum runs once, unless one of its rules says ``# stratum: N (fixpoint ...)``: then it
runs until the store stops growing (rules that build on each other, e.g. nested criteria). Rules are
data for the engine: nothing here knows what a rule says.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigurationError
from .resources import queries_dir
from .store import RuleStore

RULE_NAMESPACE = "https://w3id.org/guidelinekg/rules/"
_STRATUM = re.compile(r"^#\s*stratum:\s*(\d+)(.*)$", re.MULTILINE)
_PURPOSE = re.compile(r"^#\s*purpose:\s*(.+)$", re.MULTILINE)
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

    @property
    def iri(self) -> str:
        return RULE_NAMESPACE + self.name


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]

    @property
    def strata(self) -> list[list[Rule]]:
        levels = sorted({r.stratum for r in self.rules})
        return [[r for r in self.rules if r.stratum == level] for level in levels]

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
        rules.append(
            Rule(
                name=path.stem,
                path=path,
                stratum=int(stratum.group(1)),
                purpose=purpose.group(1).strip() if purpose else "",
                fixpoint="fixpoint" in stratum.group(2),
                text=text,
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )
    if not rules:
        raise ConfigurationError(f"no rules (*.rq) in {directory}")
    return RuleSet(tuple(rules))


def run_rules(store: RuleStore, ruleset: RuleSet) -> int:
    """Run every stratum to its fixpoint; return the number of passes made."""
    passes = 0
    for stratum in ruleset.strata:
        fixpoint = any(rule.fixpoint for rule in stratum)
        size = store.size() if fixpoint else 0  # counting is linear in the store: only where it is needed
        for _ in range(MAX_ITERATIONS):
            for rule in stratum:
                store.update(rule.text)
            passes += 1
            if not fixpoint:
                break
            new_size = store.size()
            if new_size == size:
                break
            size = new_size
        else:  # pragma: no cover - would need a non-terminating rule set
            raise ConfigurationError(f"stratum {stratum[0].stratum} did not reach a fixpoint in {MAX_ITERATIONS} passes")
    return passes
