"""Imports point down the layers only (docs/architecture.md), and the package has no cycles.

Reads every module's imports with `ast`, the lazy ones inside functions included, so it
runs in well under a second and needs nothing imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

from training_assets.project import PROJECT_DIR

PACKAGE = "training_assets"
# Lowest first. A module may import its own layer and the ones above it in this list.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("schema and settings", ("project", "schema", "settings", "config", "sample_data")),
    ("resources and IO managers", ("resources", "io_managers", "feast_offline_store", "spark")),
    ("domain helpers", ("domain",)),
    ("assets", ("assets",)),
    ("checks", ("checks",)),
    ("automation", ("jobs", "automation", "executors")),
    ("definitions", ("definitions",)),
    ("commands", ("champion", "run", "run_summary", "reproduce", "gc", "versions")),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_DIR).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    relative = module.removeprefix(PACKAGE).lstrip(".")
    if not relative:
        return 0  # the package's own __init__
    top = relative.split(".")[0]
    for index, (_, prefixes) in enumerate(LAYERS):
        if top in prefixes:
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")


def imported_modules(path: Path) -> set[str]:
    """Every `training_assets...` module the file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import module` imports the module; `from module import name`
            # imports the module: both are covered by taking the longest real module.
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] == PACKAGE}


def package_modules() -> dict[str, Path]:
    return {module_name(path): path for path in (PROJECT_DIR / PACKAGE).rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {
        name: {target for target in imported_modules(path) if target in modules}
        for name, path in modules.items()
    }


def test_every_module_has_a_layer():
    for module in package_modules():
        layer_of(module)


def test_imports_point_down_the_layers():
    wrong = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in import_graph().items()
        for target in targets
        if layer_of(target) > layer_of(module)
    ]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    graph = import_graph()
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph[module]):
            if target == module or target.startswith(module + "."):
                continue  # a package importing its own submodule
            if state.get(target) == "open":
                cycle = [*stack[stack.index(target) :], target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_the_checker_sees_a_lazy_import_and_ranks_assets_above_resources(tmp_path):
    """The checker's two parts on a resource importing an asset inside a function: the import
    is found, and its target's layer is above the importer's (what
    test_imports_point_down_the_layers reports)."""
    source = tmp_path / "bad.py"
    source.write_text("def f():\n    from training_assets.assets.model import model\n")
    targets = imported_modules(source)
    assert "training_assets.assets.model" in targets
    assert layer_of("training_assets.assets.model") > layer_of("training_assets.resources.x")
