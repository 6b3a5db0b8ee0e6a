"""Several guidelines at once: one knowledge base per guideline, each evaluated on its own.

A guideline is a directory of content files (:func:`guidelinekg.content.grouping.split_guidelines`: the
shipped layout ``ontology/guidelines/NAME/``, the folder ``guidelinekg new`` makes). Each is loaded with
the vocabulary into a knowledge base of its own, so nothing one guideline states (a measure's canonical
unit or plausible range, a pre-analytic requirement, an order, a warning, a value set) reaches
another's decisions: a patient's report for a guideline is the same whether it was evaluated alone or
beside others, and its provenance names only that guideline's files.

A directory whose files declare no ``gkg:GuidelineVersion`` holds shared content (terms, value sets,
citations several guidelines use): it is loaded with every guideline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from guidelinekg.engine.knowledge import GuidelineVersionInfo, KnowledgeBase
from guidelinekg.engine.rules import RuleSet
from guidelinekg.errors import InputError

@dataclass(frozen=True)
class Guideline:
    """One guideline version to evaluate, with the knowledge base it is evaluated in."""

    kb: KnowledgeBase
    version: GuidelineVersionInfo


def guidelines_dir() -> Path:
    """Where the shipped guidelines live, one folder each."""
    from guidelinekg.content.resources import ontology_dir

    return ontology_dir() / "guidelines"


def content_files(paths: Sequence[Path] | None) -> list[Path]:
    """The Turtle files of ``--content`` (directories expanded), or the shipped guidelines' files."""
    from guidelinekg.content.loading import expand_paths
    from guidelinekg.content.resources import guideline_files

    if not paths:
        return list(guideline_files())
    files = expand_paths(Path(p) for p in paths)
    if not files:
        raise InputError("no Turtle (*.ttl) files in " + ", ".join(str(p) for p in paths),
                         hint="give guideline content files or a directory holding them")
    return files


def load_guidelines(
    paths: Sequence[Path] | None = None, selectors: Sequence[str] | None = None, *, rules: RuleSet | None = None
) -> list[Guideline]:
    """The guideline versions to evaluate, each in its own knowledge base, sorted by version IRI.

    Args:
        paths: ``--content`` files or directories; ``None`` for the shipped guidelines.
        selectors: ``--guideline`` values (IRI, label, or a unique part of the IRI), each naming exactly
            one loaded version; ``None`` or empty for every loaded version.

    Raises:
        InputError: no guideline version; a selector that names none or several versions; a directory
            holding several versions when none is chosen.
    """
    from guidelinekg.content.grouping import split_guidelines

    content_files(paths)  # no Turtle at all: an error naming the paths
    own, shared = split_guidelines([Path(p) for p in paths] if paths else [guidelines_dir()])
    bases = [KnowledgeBase.load(shared + group, rules=rules) for group in own]
    available = [(kb, v) for kb in bases for v in kb.versions]
    if not available:
        raise InputError("no guideline version found in the loaded content",
                         hint="a guideline declares a gkg:GuidelineVersion (see docs/authoring.md)")
    names = ", ".join(sorted(v.iri for _, v in available))
    if not selectors:
        for kb in bases:
            if len(kb.versions) > 1:
                raise InputError(
                    "several guideline versions are loaded from one directory "
                    f"({', '.join(v.iri for v in kb.versions)}); choose one with --guideline",
                    hint="or keep each guideline version's files in a directory of their own")
        chosen = available
    else:
        chosen = []
        for selector in selectors:
            hits = [(kb, v) for kb, v in available if selector in (v.iri, v.guideline, v.label)
                    or v.iri.endswith(selector) or selector in v.iri]
            exact = [(kb, v) for kb, v in hits if selector == v.iri]
            hits = exact or hits
            if len(hits) != 1:
                raise InputError(f"--guideline {selector!r} matches {len(hits)} versions; available: {names}")
            if hits[0][1].iri not in {v.iri for _, v in chosen}:
                chosen.append(hits[0])
    return [Guideline(kb, v) for kb, v in sorted(chosen, key=lambda kv: kv[1].iri)]


__all__ = ["Guideline", "content_files", "load_guidelines"]
