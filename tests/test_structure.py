"""How the project's modules reach each other, read from their source: no module and no package
imports itself through others (a circle), no module imports another's private (`_name`) names,
and the Dagster-free layers (`lib/`, `synth/`, `keys.py`) import neither Dagster nor the layers
above them. Imports inside functions count: they still tie the modules together."""

from __future__ import annotations

import ast
from pathlib import Path

from mlops_assets.settings import REPO_ROOT

PACKAGES = ("mlops_assets", "serving")


def modules() -> dict[str, Path]:
    """Every module of the packages by its dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def top_level_imports(path: Path) -> set[str]:
    """The top-level names of every module `path` imports (`dagster` for `from dagster.x import y`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def imports(path: Path, known: dict[str, Path]) -> list[tuple[str, str]]:
    """(module, name) for each name `path` imports from the packages; name is "" for `import m`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names if alias.name in known]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in known:
            found += [(node.module, alias.name) for alias in node.names]
    return found


def graph() -> dict[str, set[str]]:
    """Module -> the modules it imports (a name that is itself a module counts as that module)."""
    known = modules()
    edges: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for module, imported in imports(path, known):
            target = f"{module}.{imported}" if f"{module}.{imported}" in known else module
            if target != name:
                edges[name].add(target)
    return edges


def unit(name: str, known: dict[str, Path]) -> str:
    """The package a module belongs to (`mlops_assets.defs.training`); a module directly in a
    top-level package (`mlops_assets.settings`) is a unit of its own."""
    if known[name].name == "__init__.py":
        return name
    parent = name.rsplit(".", 1)[0]
    return name if parent in PACKAGES else parent


def package_graph() -> dict[str, set[str]]:
    """Package -> the packages its modules import."""
    known = modules()
    edges: dict[str, set[str]] = {unit(name, known): set() for name in known}
    for name, targets in graph().items():
        edges[unit(name, known)] |= {unit(t, known) for t in targets} - {unit(name, known)}
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_through_others() -> None:
    assert circles(graph()) == []


def test_the_circle_finder_finds_a_circle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(edges) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_another_modules_private_names() -> None:
    known = modules()
    private = [
        f"{name} imports {module}.{imported}"
        for name, path in known.items()
        for module, imported in imports(path, known)
        if imported.startswith("_") and not imported.startswith("__")
    ]
    assert private == []


def test_no_package_imports_itself_through_others() -> None:
    """Stages reach each other one way (by key, through `keys.py`, where a job or sensor names
    another stage's assets), and `lib/` never reaches up to `settings`."""
    assert circles(package_graph()) == []


# Below Dagster: plain Python that the service, the CLI and the notebooks use without a Dagster
# instance. Each layer may import only those before it.
DAGSTER_FREE = {
    "mlops_assets.keys": set(),
    "mlops_assets.lib": {"mlops_assets.keys", "mlops_assets.lib"},
    "mlops_assets.synth": {"mlops_assets.keys", "mlops_assets.lib", "mlops_assets.synth"},
}


def test_the_dagster_free_layers_import_no_dagster_and_nothing_above_them() -> None:
    known, edges = modules(), graph()
    crossings = []
    for name, path in known.items():
        layer = next((prefix for prefix in DAGSTER_FREE if name == prefix or name.startswith(prefix + ".")), None)
        if layer is None:
            continue
        crossings += [f"{name} imports {lib}" for lib in sorted(top_level_imports(path)) if lib.startswith("dagster")]
        for target in edges[name]:
            if not any(target == allowed or target.startswith(allowed + ".") for allowed in DAGSTER_FREE[layer]):
                crossings.append(f"{name} imports {target}")
    assert crossings == []


# The one module that reads the environment (`Settings`, `ServingSettings`, `secret`).
READS_THE_ENVIRONMENT = {"mlops_assets.settings"}


def environment_reads(path: Path) -> list[int]:
    """Lines of `path` that read a variable: `os.environ.get`, `os.getenv`, `os.environ[name]`,
    `name in os.environ`. Setting one (for a library or a child process) is not reading."""

    def is_environ(node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ"

    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        read = (
            (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "getenv")
            or (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                and is_environ(node.func.value))
            or (isinstance(node, ast.Subscript) and is_environ(node.value) and isinstance(node.ctx, ast.Load))
            or (isinstance(node, ast.Compare) and any(is_environ(right) for right in node.comparators))
        )  # fmt: skip
        if read:
            lines.append(node.lineno)
    return lines


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = {
        f"{name}:{line}"
        for name, path in modules().items()
        if name not in READS_THE_ENVIRONMENT
        for line in environment_reads(path)
    }
    assert not readers, f"read the environment outside mlops_assets/settings.py: {sorted(readers)}"
    assert environment_reads(modules()["mlops_assets.settings"])  # the finder sees the reads there
