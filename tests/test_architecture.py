"""The package's import graph: one-way, no cycles.

Every ``import`` in ``reinfer_nb`` counts, including those inside functions (a lazy import
is still a dependency); imports under ``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import reinfer_nb

PACKAGE_DIR = Path(reinfer_nb.__file__).parent
ROOT = "reinfer_nb"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, skipping the bodies of ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def dependencies(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's own modules that ``name`` imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    deps: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import mod`` depends on pkg.mod when that is a module.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target.startswith(ROOT) and target != name:
                deps.add(target)
    return deps


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: dependencies(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    for start in sorted(graph):
        if start in state:
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        path = [start]
        state[start] = 1
        while stack:
            node, pending = stack[-1]
            if not pending:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            nxt = pending.pop()
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(graph.get(nxt, ()))))
    return None


def test_the_walker_sees_function_level_imports_and_skips_type_checking() -> None:
    graph = import_graph()
    # magics imports the sandbox only inside a function, and that counts.
    assert "reinfer_nb.sandbox" in graph["reinfer_nb.magics"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_sandbox_layers_point_one_way() -> None:
    """data <- api <- the sandbox's app; the HTTP layer knows nothing of the API."""
    graph = import_graph()
    for name, deps in graph.items():
        if name.startswith("reinfer_nb.sandbox.data"):
            assert not {d for d in deps if d.startswith(("reinfer_nb.sandbox.api",
                                                          "reinfer_nb.sandbox.http"))}, name
        if name.startswith("reinfer_nb.sandbox.http"):
            assert not {d for d in deps if d.startswith("reinfer_nb.sandbox.api")}, name


def test_the_library_below_the_magics_never_imports_ipython() -> None:
    """The library below the magics is plain Python: usable without IPython."""
    graph = import_graph()
    core = ("client", "errors", "answers", "endpoints", "credentials", "timing", "frames",
            "cells", "results", "login", "retry", "api_index", "api_docs", "spec_check",
            "live_names", "status")
    for short in core:
        name = f"{ROOT}.{short}"
        if name not in graph:
            continue
        reached, todo = set(), [name]
        while todo:
            item = todo.pop()
            for dep in graph.get(item, ()):
                if dep not in reached:
                    reached.add(dep)
                    todo.append(dep)
        assert f"{ROOT}.magics" not in reached, short
        text = all_modules()[name].read_text(encoding="utf-8")
        assert "import IPython" not in text and "from IPython" not in text, short
