#!/usr/bin/env python3
"""Print the import cycles among the project's own modules (imports inside functions count too).

Usage: scripts/import_cycles.py [FOLDER ...]   (default: codemods cli; a folder outside the project
is read as a package of its own)
Exit 0 when there is none, 1 otherwise. ``tests/test_house.py`` runs it.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Dict, List, Set

ROOT = Path(__file__).resolve().parent.parent
# The installed package maps these folders under ``sam3d_codemod``.
PACKAGE_OF = {"codemods": "sam3d_codemod.codemods", "cli": "sam3d_codemod.cli"}


def module_name(path: Path, base: Path = ROOT) -> str:
    rel = path.relative_to(base).with_suffix("")
    parts = list(rel.parts)
    parts[0] = PACKAGE_OF.get(parts[0], parts[0])
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, name: str, known: Set[str]) -> Set[str]:
    """Every project module ``path`` imports, at any depth of its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph(folders: List[str]) -> Dict[str, Set[str]]:
    names: Dict[str, Path] = {}
    for folder in folders:
        top = (ROOT / folder).resolve()
        base = ROOT if ROOT in top.parents else top.parent  # a folder outside the project: its own package
        names.update({module_name(p, base): p for p in sorted(top.rglob("*.py"))})
    known = set(names)
    edges = {name: imported_modules(path, name, known) for name, path in names.items()}
    # Importing ``a.b.c`` runs ``a/__init__`` and ``a.b/__init__`` first.
    for name in list(edges):
        edges[name] = {t for t in edges[name] if t in known}
    return edges


def cycles(edges: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
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
        for w in sorted(edges.get(v, ())):
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
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def main(argv: List[str]) -> int:
    edges = graph(argv or ["codemods", "cli"])
    found = cycles(edges)
    library_to_cli = sorted(f"{a} -> {b}" for a, targets in edges.items() if a.startswith("sam3d_codemod.codemods")
                            for b in targets if b.startswith("sam3d_codemod.cli"))
    for component in found:
        print(f"cycle of {len(component)}: " + ", ".join(component))
    for edge in library_to_cli:
        print(f"library imports the CLI: {edge}")
    print(f"{len(edges)} modules, {len(found)} import cycles, {len(library_to_cli)} library->cli imports")
    return 1 if found or library_to_cli else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
