"""Imports flow one way between the product's packages: parse every import (module- and function-level) of
the packages pyproject.toml installs, and fail on any cycle between them and on any import that runs up
the declared layers."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Lowest first: a package may import only packages of lower layers (and itself).
LAYERS = [["store"], ["ingest"], ["rag"], ["ui", "eval"], ["app"], ["cli"]]


def installed_units() -> dict[str, list[Path]]:
    """Top-level package or module name -> its source files, as pyproject.toml installs them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    units = {name: sorted((ROOT / name).rglob("*.py")) for name in config.get("packages", []) if "." not in name}
    units |= {name: [ROOT / f"{name}.py"] for name in config.get("py-modules", [])}
    return units


def imported_units(path: Path, package: str, units: set[str]) -> set[str]:
    """The installed units a file imports, wherever the import statement sits."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [package if node.level else node.module or ""]
        else:
            continue
        found |= {name.split(".")[0] for name in names} & units
    return found


def import_graph() -> dict[str, set[str]]:
    units = installed_units()
    return {
        unit: {dep for path in paths for dep in imported_units(path, unit, set(units))} - {unit}
        for unit, paths in units.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle's node list, found by depth-first search from each node (graphs are tiny)."""
    found: set[tuple[str, ...]] = set()

    def walk(path: list[str]) -> None:
        for nxt in sorted(graph.get(path[-1], ())):
            if nxt == path[0]:
                start = path.index(min(path))
                found.add(tuple(path[start:] + path[:start]))
            elif nxt not in path and nxt > path[0]:
                walk([*path, nxt])

    for node in graph:
        walk([node])
    return [list(c) for c in sorted(found)]


def test_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_packages() -> None:
    graph = import_graph()
    assert set(graph) >= {"rag", "ingest", "eval", "app"}
    found = cycles(graph)
    assert not found, "import cycles between packages: " + "; ".join(" → ".join([*c, c[0]]) for c in found)


def test_imports_only_run_down_the_layers() -> None:
    layer_of = {unit: level for level, layer in enumerate(LAYERS) for unit in layer}
    graph = import_graph()
    assert set(graph) <= set(layer_of), f"packages missing from LAYERS: {set(graph) - set(layer_of)}"
    upward = [f"{unit} → {dep}" for unit, deps in graph.items() for dep in deps if layer_of[dep] >= layer_of[unit]]
    assert not upward, f"imports that run up or across the layers: {upward}"
