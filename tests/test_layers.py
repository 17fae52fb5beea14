"""The package's layers: every module imports only its own layer or the ones below (no circles,
no upward imports). The order, from the bottom: the shared core, the networks and the data, the
checkpoints and the run configuration checks, training, inference (which rebuilds trained
methods), evaluation (which translates through inference), then the tools, the notebook helpers
and the entry-point glue."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ugatit"
LAYERS: list[set[str]] = [
    {"errors", "rules", "registry", "atomic", "interrupts", "console", "file_lock", "directions"},
    {"visualize"},
    {"nets", "data"},
    {"checkpoints", "config_checks"},
    {"training"},
    {"inference"},
    {"evaluation"},
    {"tools", "analysis", "entry"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def part_of(module: str) -> str:
    """``ugatit.training.base`` -> ``training``; the package's own modules are their part."""
    return module.split(".")[1]


def imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "ugatit":  # from ugatit import x
                found += [f"ugatit.{alias.name}" for alias in node.names]
            elif node.module.startswith("ugatit."):
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("ugatit.")]
    return found


def test_every_part_of_the_package_has_a_layer():
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()}
    parts -= {"__init__", "__pycache__"}
    assert parts == set(RANK), f"add {sorted(parts - set(RANK))} to LAYERS"


def test_no_module_imports_a_higher_layer():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if module == "ugatit.__init__":
            continue
        own = part_of(module)
        for imported in imports(path):
            other = part_of(imported)
            if RANK[other] > RANK[own]:
                upward.append(f"{module} imports {imported} ({own} -> {other})")
    assert not upward, "\n".join(upward)


def test_the_parts_import_each_other_without_a_circle():
    edges: dict[str, set[str]] = {part: set() for part in RANK}
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if module != "ugatit.__init__":
            edges[part_of(module)] |= {part_of(i) for i in imports(path)} - {part_of(module)}
    done: set[str] = set()

    def visit(part: str, path: list[str]) -> None:
        assert part not in path, "import circle: " + " -> ".join([*path, part])
        if part not in done:
            for other in sorted(edges[part]):
                visit(other, [*path, part])
            done.add(part)

    for part in sorted(edges):
        visit(part, [])
