"""The import graph of the project's own modules, imports inside functions included: no circles, and no project
import hidden in a function except the few that are lazy on purpose (listed here, each with its reason).
The direction of the layers is checked by lint-imports (pyproject.toml, [tool.importlinter])."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "rag", "governance", "inference")

# (module, imported project module): why it is imported inside a function.
LAZY = {
    # config/__init__.py imports the Celery app before Django's settings exist; its worker hooks load the
    # models and the log filter once the worker process runs. Gunicorn reads its config file before Django is
    # set up at all.
    ("config.celery", "inference.embeddings"): "worker hook: after Django is set up",
    ("config.celery", "governance.pii.engine"): "worker hook: after Django is set up",
    ("config.celery", "governance.pii.logfilter"): "worker hook: after Django is set up",
    ("config.gunicorn", "inference.embeddings"): "gunicorn hook: after Django is set up",
    ("config.gunicorn", "governance.pii.engine"): "gunicorn hook: after Django is set up",
    ("config.gunicorn", "governance.pii.logfilter"): "gunicorn hook: after Django is set up",
    ("governance.pii.engine", "governance.pii.recognizers"): "presidio loads on the first analysis only",
    ("governance.pii.engine", "governance.pii.person"): "presidio loads on the first analysis only",
    (
        "governance.apps",
        "governance.audit.auth_events",
    ): "signal receivers connect once the app registry is ready",
    ("inference.apps", "inference.egress"): "the egress check runs once the app registry is ready",
}


def _modules() -> dict[str, Path]:
    files = [f for p in PACKAGES for f in (ROOT / p).rglob("*.py") if "migrations" not in f.parts]
    return {".".join(f.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): f for f in files}


def _graph() -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {m: set() for m in modules}
    inner: set[tuple[str, str]] = set()
    for module, path in modules.items():
        tree = ast.parse(path.read_text())
        in_function = {
            id(node)
            for function in ast.walk(tree)
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
            for node in ast.walk(function)
        }
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                names = [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                target = resolve(name)
                if target is None or target == module or target.startswith(module + "."):
                    continue
                edges[module].add(target)
                if id(node) in in_function:
                    inner.add((module, target))
    return edges, inner


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_project_modules_import_each_other_without_circles() -> None:
    edges, _inner = _graph()
    assert _circles(edges) == []


def test_no_project_import_hides_in_a_function_except_the_deliberately_lazy_ones() -> None:
    _edges, inner = _graph()
    assert sorted(inner - set(LAZY)) == []
