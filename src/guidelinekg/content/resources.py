"""Where the shipped artefacts live: ontology, guideline content, shapes and queries.

The project is installed editable (``make`` does), so the artefacts are read from the source tree.
``GUIDELINEKG_HOME`` overrides the location (e.g. for a packaged install).
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from guidelinekg.errors import ConfigurationError


def project_home() -> Path:
    """Return the directory that holds ``ontology/``, ``shapes/`` and ``queries/``."""
    env = os.environ.get("GUIDELINEKG_HOME")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "ontology" / "gkg.ttl").is_file():
            return parent
    raise FileNotFoundError("cannot find ontology/gkg.ttl; set GUIDELINEKG_HOME to the project directory")


@functools.lru_cache(maxsize=1)
def software_sha256() -> str:
    """The SHA-256 of the running package's own source: every ``*.py`` under it, by relative path, each as
    ``path NUL bytes NUL``. The version number alone does not change with the code; this does, so a run
    records exactly which code made it (``gkg:softwareSha256``) and an audit can say a replay ran other code."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py"), key=lambda p: p.relative_to(package).as_posix()):
        try:  # an editor's lock link (".#doses.py", dangling) or an unreadable file is no code that ran
            data = path.read_bytes() if path.is_file() and not path.name.startswith(".#") else None
        except OSError:
            data = None
        if data is not None:
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + data + b"\0")
    return digest.hexdigest()


def ontology_dir() -> Path:
    return project_home() / "ontology"


def shapes_dir() -> Path:
    return project_home() / "shapes"


def queries_dir() -> Path:
    return project_home() / "queries"


def read_query(path: Path, kind: str = "report query") -> str:
    """The text of a shipped query file; one that cannot be read is a broken installation.

    Raises:
        ConfigurationError: naming the file and why.
    """
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read {kind} {path}: {exc.strerror}") from None


def vocabulary_files() -> list[Path]:
    """The core vocabulary files (not guideline content), sorted."""
    return sorted(ontology_dir().glob("*.ttl"))


def guideline_files() -> list[Path]:
    """Every shipped guideline content file, sorted."""
    return sorted((ontology_dir() / "guidelines").rglob("*.ttl"))


def shape_files() -> list[Path]:
    return sorted(shapes_dir().glob("*.ttl"))


def content_prefixes() -> dict[str, str]:
    """The prefixes the shipped guideline content declares (``@prefix p: <ns> .``), first declaration wins.

    Lets tools show and accept the content's own compact names without the code knowing any guideline.
    """
    import re

    found: dict[str, str] = {}
    declaration = re.compile(r"^\s*@prefix\s+([A-Za-z][\w-]*):\s*<([^>]+)>\s*\.", re.MULTILINE)
    for path in guideline_files():
        for prefix, namespace in declaration.findall(path.read_text(encoding="utf-8")):
            found.setdefault(prefix, namespace)
    return found


def shipped_folders() -> list[Path]:
    """Every folder the tool reads at run time from its home or its package: the vocabulary and guidelines,
    the shapes, the queries (rules, checks, reports, library) and the package itself (its code and the
    templates of ``guidelinekg new``). No command writes a file in them (:mod:`guidelinekg.commands`)."""
    try:
        home = [ontology_dir(), shapes_dir(), queries_dir()]
    except FileNotFoundError:  # no home: nothing is read from there either
        home = []
    return [*home, Path(__file__).resolve().parents[1]]
