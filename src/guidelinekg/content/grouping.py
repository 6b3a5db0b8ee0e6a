"""Which content files make up which guideline: a directory of Turtle files per guideline version.

:func:`split_guidelines` is the one place the rule lives; ``recommend``, ``cohort`` and ``validate``
(through :mod:`guidelinekg.engine.guidelines` and :mod:`guidelinekg.checks.validate`) group content with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pyoxigraph import NamedNode, RdfFormat, parse

from guidelinekg.content.loading import display_path, expand_paths
from guidelinekg.errors import InputError, Location

_GUIDELINE_VERSION = ("http://www.w3.org/1999/02/22-rdf-syntax-ns#type",
                      "https://w3id.org/guidelinekg/ontology#GuidelineVersion")


def split_guidelines(paths: Iterable[Path]) -> tuple[list[list[Path]], list[Path]]:
    """The guidelines among content paths, and the shared files.

    A directory whose Turtle files (recursively) declare at most one ``gkg:GuidelineVersion`` (one IRI,
    in any number of files) is one guideline, subfolders and all; one that holds several is split into its
    subdirectories (the shipped ``ontology/guidelines/`` holds one folder per guideline), each judged the
    same way (symbolic links to directories are not followed). Files given one by one are grouped by their
    directory. A group declaring no version is shared content (terms, value sets or citations several
    guidelines use): it belongs with every guideline. A file is read once, however often it is given; a
    file that cannot be read or parsed counts as declaring a version of its own (loading it reports the
    problem with its location).

    Raises:
        InputError: one guideline version declared in two groups (two copies of a guideline).
    """
    memo: dict[Path, frozenset[str]] = {}

    def versions(f: Path) -> frozenset[str]:
        key = f.resolve()
        if key not in memo:
            memo[key] = _declared_versions(f)
        return memo[key]

    groups: list[list[Path]] = []
    by_parent: dict[Path, list[Path]] = {}
    for path in paths:
        if path.is_dir():
            groups += _groups_under(path, versions)
        else:
            by_parent.setdefault(path.resolve().parent, []).append(path)
    groups += [members for _, members in sorted(by_parent.items())]
    seen: set[Path] = set()
    own: list[list[Path]] = []
    shared: list[Path] = []
    where: dict[str, Path] = {}
    for group in groups:
        group = [f for f in group if f.resolve() not in seen]
        seen.update(f.resolve() for f in group)
        declared = frozenset().union(*(versions(f) for f in group)) if group else frozenset()
        for iri in sorted(declared):
            if iri in where and not iri.startswith("unreadable:"):
                raise InputError(f"guideline version <{iri}> is declared in two places: {display_path(where[iri])} "
                                 f"and {display_path(group[0].parent)}", Location(str(group[0].parent)),
                                 hint="give each guideline version once (one folder per version)")
            where.setdefault(iri, group[0].parent)
        (own.append(group) if declared else shared.extend(group))
    return own, shared


def _groups_under(root: Path, versions) -> list[list[Path]]:
    files = expand_paths([root])
    if len(frozenset().union(*(versions(f) for f in files))) <= 1:
        return [files] if files else []
    groups = [_groups_under(d, versions) for d in sorted(root.iterdir()) if d.is_dir() and not d.is_symlink()]
    direct = [f for f in files if f.parent == root]
    return [g for sub in groups for g in sub] + ([direct] if direct else [])


def _declared_versions(path: Path) -> frozenset[str]:
    try:
        return frozenset(q.subject.value for q in parse(path=str(path), format=RdfFormat.TURTLE,
                                                        base_iri=path.resolve().as_uri())
                         if (q.predicate.value, getattr(q.object, "value", None)) == _GUIDELINE_VERSION
                         and isinstance(q.subject, NamedNode))
    except (OSError, SyntaxError, ValueError, MemoryError, RecursionError):  # e.g. a literal over 16 MiB
        return frozenset({f"unreadable:{path.resolve()}"})
