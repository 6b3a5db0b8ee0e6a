"""The seed of a new guideline: the folder ``guidelinekg new NAME`` writes.

The files are templates shipped as package data (``content/templates/guideline/*.tmpl``) with
``{{NAME}}``, ``{{DATE}}`` and ``{{DIR}}`` filled in: a guideline and its version, one section, a lab
threshold, one recommendation with GRADE terms, the terms it reads (a measure with its plausible range,
a diagnosis value set), a placeholder citation, one vignette and a README. Every placeholder carries a
verification status that the linter reports, so the seed validates with 0 errors and its warnings are
the author's to-do list.

NAME becomes a folder name, an IRI path segment (``https://w3id.org/guidelinekg/guideline/NAME/``) and a
Turtle prefix, so only a safe slug is accepted. Nothing is overwritten: the folder must be missing or
empty, and the files are written to a temporary sibling that is renamed into place, so a refusal or a
failure leaves nothing behind.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shlex
import shutil
from datetime import date
from importlib import resources as package_data
from pathlib import Path

from guidelinekg.errors import ConfigurationError, InputError

NAMESPACE = "https://w3id.org/guidelinekg/guideline/"
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
MAX_NAME_LENGTH = 64
# Prefixes the templates declare besides NAME itself: NAME must not redeclare one of them.
TEMPLATE_PREFIXES = frozenset({"gkg", "loinc", "sct", "icd10cm", "rdfs", "xsd", "skos", "prov", "bibo"})
PLACEHOLDER = re.compile(r"\{\{[A-Z_]+\}\}")
EXAMPLE_CASE = "tests/cases/001-example"
# template file -> path written, relative to the new folder
FILES: tuple[tuple[str, str], ...] = (
    ("guideline.ttl.tmpl", "guideline.ttl"),
    ("terms.ttl.tmpl", "terms.ttl"),
    ("citations.ttl.tmpl", "citations.ttl"),
    ("patient.json.tmpl", f"{EXAMPLE_CASE}/patient.json"),
    ("expected.json.tmpl", f"{EXAMPLE_CASE}/expected.json"),
    ("README.md.tmpl", "README.md"),
)


def check_name(name: str) -> None:
    """Raise :class:`InputError` unless ``name`` is a safe slug no shipped guideline or template uses."""
    rule = ("use lowercase letters, digits and single hyphens, starting with a letter, at most "
            f"{MAX_NAME_LENGTH} characters (e.g. 'anemia-screening'): NAME becomes a folder name, an IRI "
            "segment and a Turtle prefix")
    if not NAME_PATTERN.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        raise InputError(f"{name!r} is not a safe guideline name", hint=rule)
    if name in TEMPLATE_PREFIXES:
        raise InputError(f"{name!r} is reserved: the scaffold's Turtle declares the prefix '{name}:' for a "
                         "vocabulary", hint="choose another name")
    taken = _shipped_prefixes()
    namespace = NAMESPACE + name + "/"
    if namespace in taken.values():
        raise InputError(f"a shipped guideline already uses the IRIs {namespace}",
                         hint="choose another name (a new version of a shipped guideline goes in its folder)")
    if taken.get(name, namespace) != namespace:
        raise InputError(f"{name!r} is already a Turtle prefix of the shipped content (for {taken[name]})",
                         hint="choose another name, so that compact names stay unambiguous")


def _shipped_prefixes() -> dict[str, str]:
    from guidelinekg.content.resources import content_prefixes

    try:
        return content_prefixes()
    except (FileNotFoundError, OSError, UnicodeDecodeError):  # no source tree: nothing shipped to clash with
        return {}


def check_target(target: Path) -> None:
    """Raise :class:`InputError` unless ``target`` is missing or an empty directory, below directories."""
    if target.is_symlink():
        raise InputError(f"{target} is a symbolic link", hint="give a folder path that is not a link")
    if target.exists():
        if not target.is_dir():
            raise InputError(f"{target} exists and is not a folder",
                             hint="give another --dir, or remove the file")
        try:
            entries = sorted(p.name for p in target.iterdir())
        except OSError as exc:
            raise InputError(f"cannot read the folder {target}: {exc.strerror or exc}") from None
        if entries:
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            raise InputError(f"{target} is not empty ({shown}); nothing was written",
                             hint="the scaffold never overwrites: give an empty or new folder with --dir")
        return
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"cannot create {target}: {parent} is not a folder")
            return


def render_files(name: str, *, shown_dir: str, today: date) -> dict[str, str]:
    """The text of each file of the scaffold, by its path relative to the new folder."""
    values = {"{{NAME}}": name, "{{DATE}}": today.isoformat(), "{{DIR}}": shown_dir}
    templates = package_data.files("guidelinekg.content") / "templates" / "guideline"
    texts = {}
    for template, relative in FILES:
        text = (templates / template).read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace(key, value)
        if PLACEHOLDER.search(text):  # a template names a value render_files does not fill
            raise ConfigurationError(f"the template {template} has a placeholder nothing fills")
        texts[relative] = text
    return texts


def write_scaffold(name: str, target: Path | None = None, *, today: date | None = None) -> Path:
    """Write the scaffold of guideline ``name`` to ``target`` (default ``./name``) and return the folder.

    Raises:
        InputError: ``name`` is not a safe slug or is taken, ``target`` is a file, a link or a non-empty
            folder, or the files cannot be written (then nothing is left behind).
    """
    check_name(name)
    given = Path(name) if target is None else Path(target)
    check_target(given)
    texts = render_files(name, shown_dir=shlex.quote(given.as_posix().rstrip("/") + "/"),
                         today=today or date.today())
    folder = Path(os.path.abspath(given))
    existed = folder.exists()
    # Staged next to the folder (renamed into place whole) or, for an existing empty folder, inside it
    # (its entries moved up): the same file system either way, so every move is a rename.
    staging = (folder if existed else folder.parent) / f".guidelinekg-new-{secrets.token_hex(4)}"
    created = _first_missing(folder.parent)
    moved: list[Path] = []
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
        for relative, text in texts.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
        if existed:
            for entry in sorted(staging.iterdir()):
                destination = folder / entry.name
                if destination.exists() or destination.is_symlink():  # written meanwhile by someone else
                    raise FileExistsError(errno.EEXIST, "a file appeared while writing", str(destination))
                os.rename(entry, destination)
                moved.append(destination)
            staging.rmdir()
        else:
            os.rename(staging, folder)  # refused by the OS if a non-empty folder appeared meanwhile
    except OSError as exc:
        for path in moved:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        _remove_empty(folder.parent, created)
        raise InputError(f"cannot write {given}: {exc.strerror or exc}; nothing was written") from None
    return given


def _first_missing(path: Path) -> Path | None:
    """The outermost missing directory of ``path`` (which mkdir(parents=True) would create), or None."""
    missing = None
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing = candidate
    return missing


def _remove_empty(path: Path, up_to: Path | None) -> None:
    """Remove the empty directories from ``path`` up to ``up_to`` (those this run created)."""
    if up_to is None:
        return
    for candidate in (path, *path.parents):
        try:
            candidate.rmdir()
        except OSError:
            return
        if candidate == up_to:
            return
