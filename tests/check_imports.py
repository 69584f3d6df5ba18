"""The house rules a reader relies on, checked from the source: ``python -m tests.check_imports``.

- no import cycle between newsbeam's modules (every import counts, also one inside a function);
- ``transforms`` never imports ``pipeline`` (stages do not know the job that runs them);
- no module over :data:`MAX_LINES` lines.

Prints one line per breach and exits 1 if there is any; ``tests/test_layout.py`` runs it.
"""

from __future__ import annotations

import ast
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("pipeline", "transforms")
MAX_LINES = 600


def modules(repo: pathlib.Path = REPO) -> dict[str, pathlib.Path]:
    """Dotted module name -> file, for every module of the product packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((repo / package).rglob("*.py")):
            parts = path.relative_to(repo).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(path: pathlib.Path, name: str, known: set[str]) -> set[str]:
    """The product modules ``path`` imports (``from a import b`` counts ``a.b`` when it is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _is_parent(a: str, b: str) -> bool:
    return b.startswith(a + ".")


def breaches(repo: pathlib.Path = REPO) -> list[str]:
    found = modules(repo)
    known = set(found)
    # a package importing its own sub-modules (its __init__) is not a cycle with them
    graph = {
        name: {t for t in imports_of(path, name, known) if not _is_parent(name, t) and not _is_parent(t, name)}
        for name, path in found.items()
    }
    problems = [f"import cycle: {' <-> '.join(c)}" for c in cycles(graph)]
    problems += [
        f"{name} imports {target}: transforms must not depend on pipeline"
        for name, targets in sorted(graph.items())
        if name.startswith("transforms")
        for target in sorted(targets)
        if target.startswith("pipeline")
    ]
    for name, path in sorted(found.items()):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            problems.append(f"{path.relative_to(repo)}: {lines} lines (at most {MAX_LINES}): split it by what it does")
    return problems


def main() -> int:
    problems = breaches()
    for line in problems:
        print(line)
    if not problems:
        print(f"ok: {len(modules())} modules, no import cycle, none over {MAX_LINES} lines")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
