"""The package layout is the architecture: layers import downwards, no cycles, small modules, documented.

The layers are the import-linter contract in ``pyproject.toml`` (interface -> use cases -> domain ->
plumbing); ``docs/architecture.md`` describes the same packages. Each test here fails on a real breach:
a lower layer importing a higher one, two modules importing each other (even inside a function), a
module over 400 lines, a package without a docstring saying what it owns and may import.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "guidelinekg"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
MAX_LINES = 400


def subpackages() -> list[str]:
    return sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_layers_contract_is_kept() -> None:
    """import-linter over the installed package: exit 0 means every contract is kept."""
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0


def test_every_subpackage_is_in_a_layer() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layered = {
        name.strip().removeprefix("guidelinekg.")
        for contract in config["contracts"] if contract["type"] == "layers"
        for layer in contract["layers"] for name in re.split(r"[|:]", layer)
    }
    assert set(subpackages()) <= layered, "a sub-package outside the layers contract is unchecked"


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_between_modules() -> None:
    """Counting imports inside functions too: a lazy import is still a dependency."""
    graph = grimp.build_graph("guidelinekg")
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert _cycles(edges) == []


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_is_small(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines: split it by what it does"


@pytest.mark.parametrize("name", subpackages())
def test_subpackage_says_what_it_owns_and_may_import(name: str) -> None:
    doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text(encoding="utf-8")))
    assert doc and "May import" in doc, f"guidelinekg.{name}: docstring must say what it owns and may import"


def test_architecture_doc_names_every_package_and_module() -> None:
    """docs/architecture.md stays true: each sub-package has a section, each module is named, and every
    ``guidelinekg.x.y`` path it mentions exists."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    for name in subpackages():
        assert f"`{name}/`" in text, f"docs/architecture.md does not describe {name}/"
        for module in sorted((PACKAGE / name).glob("*.py")):
            if module.name != "__init__.py":
                assert f"`{module.stem}`" in text, f"docs/architecture.md does not name {name}/{module.name}"
    for dotted in set(re.findall(r"guidelinekg(?:\.\w+)+", text)):
        parts = dotted.split(".")[1:]
        target = PACKAGE.joinpath(*parts)
        assert target.with_suffix(".py").is_file() or (target / "__init__.py").is_file() or (
            PACKAGE.joinpath(*parts[:-1]).with_suffix(".py").is_file()  # a name inside a module
        ), f"docs/architecture.md names {dotted}, which does not exist"
