#!/usr/bin/env python3
"""Import cycles among the modules of a package folder, counting imports inside functions too.

    python scripts/import_cycles.py cli [codemods ...]

Every ``import``/``from ... import`` anywhere in a module (top level, functions, ``if`` blocks) is an
edge to the module it names inside the package. ``from . import x`` counts as an edge to ``x`` when
``x`` is a module of the folder. Prints each strongly connected component of two or more modules
(a cycle) and exits 1 when there is one, else prints "no import cycles" and exits 0.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Dict, List, Set


def edges(folder: Path) -> Dict[str, Set[str]]:
    modules = {p.stem for p in folder.glob("*.py")}
    graph: Dict[str, Set[str]] = {m: set() for m in modules}
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    target = node.module.split(".")[0]
                    if target in modules:
                        graph[path.stem].add(target)
                else:  # from . import x, y
                    graph[path.stem].update(a.name for a in node.names if a.name in modules)
    for m in graph:
        graph[m].discard(m)
    return graph


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Tarjan's strongly connected components with two or more members."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main(argv: List[str]) -> int:
    status = 0
    for folder in argv or ["cli"]:
        for component in cycles(edges(Path(folder))):
            print(f"{folder}: cycle of {len(component)} modules: {', '.join(component)}")
            status = 1
    if status == 0:
        print(f"no import cycles in {', '.join(argv or ['cli'])}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
