"""Module-level names computed from the torch version string (hand-patch gates), found with ``ast``.

``TORCH_MAJOR, TORCH_MINOR = map(int, torch.__version__.split('.')[:2])`` and
``HAS_X = (TORCH_MAJOR > 2) or (TORCH_MAJOR == 2 and TORCH_MINOR >= 1)`` are such names. Each is
recorded with its polarity (True: true on newer torch; None: a number or mixed) and the qualified
names used where a gate on it says "new enough" (``if HAS_X: <here>``), anywhere in the module,
and is bound in the import index to ``torch.__version__`` so the rules see it (and the statement
pre-filter visits the defs that use it).
"""
from __future__ import annotations

import ast
from typing import Dict, Optional, Sequence, Set, Tuple

VERSION = "torch.__version__"
# the same string under other names: ``torch.version.__version__``, ``from torch import __version__``
VERSIONS = frozenset({VERSION, "torch.version.__version__"})
COMPAT = "_torch_compat"  # the helper module the other rules route to (a relative import: no alias)


def _qualified(index, node) -> Optional[str]:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    base = index.aliases.get(node.id) or (node.id if node.id == COMPAT else None)
    if base is None:
        return None
    return ".".join([base] + list(reversed(parts)))


def mentions_version(index, node, flags) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id in flags:
            return True
        if isinstance(sub, (ast.Attribute, ast.Name)) and _qualified(index, sub) in VERSIONS:
            return True
    return False


def polarity(index, node, flags) -> Optional[bool]:
    """True if ``node`` is true on newer torch, False if on older, None if unknown or mixed."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = polarity(index, node.operand, flags)
        return None if inner is None else not inner
    if isinstance(node, ast.Name) and node.id in flags:
        return flags[node.id][0]
    if isinstance(node, ast.BoolOp):
        seen = {polarity(index, v, flags) for v in node.values} - {None}  # `MAJOR == 2` says nothing
        return seen.pop() if len(seen) == 1 else None
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        op = node.ops[0]
        left = mentions_version(index, node.left, flags)
        right = mentions_version(index, node.comparators[0], flags)
        if left == right:
            return None
        if isinstance(op, (ast.Gt, ast.GtE)):
            return left
        if isinstance(op, (ast.Lt, ast.LtE)):
            return right
    return None


def find(tree: ast.Module, index, defs: Optional[list] = None) -> Dict[str, Tuple[Optional[bool], Set[str]]]:
    flags: Dict[str, Tuple[Optional[bool], Set[str]]] = {}
    for stmt in tree.body:
        if not isinstance(stmt, ast.Assign) or not mentions_version(index, stmt.value, flags):
            continue
        names = []
        for target in stmt.targets:
            elts = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
            names += [e.id for e in elts if isinstance(e, ast.Name)]
        p = polarity(index, stmt.value, flags) if len(names) == 1 else None
        for name in names:
            if name not in index.aliases:
                flags[name] = (p, set())
        if defs is not None:
            defs.append(stmt)
    if not flags:
        return flags
    for node in ast.walk(tree):
        if isinstance(node, (ast.If, ast.IfExp)) and mentions_version(index, node.test, flags):
            p = polarity(index, node.test, flags)
            if p is None:
                continue
            branch = node.body if p else node.orelse
            roots: Sequence[ast.AST] = branch if isinstance(branch, list) else [branch]
            used = {q for b in roots for sub in ast.walk(b) if isinstance(sub, ast.Attribute) for q in [_qualified(index, sub)] if q}
            used = {q for q in used if not any(o.startswith(q + ".") for o in used)}  # outermost chains only
            for sub in ast.walk(node.test):
                if isinstance(sub, ast.Name) and sub.id in flags:
                    flags[sub.id][1].update(used)
    return flags


def note(tree: ast.Module, index) -> None:
    """Record the version flags of ``tree`` in ``index`` (called once the imports are indexed)."""
    flags = find(tree, index, index.version_flag_defs)
    index.version_flags = flags
    for name in flags:
        index.aliases.setdefault(name, VERSION)
