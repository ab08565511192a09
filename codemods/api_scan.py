"""Find uses of torch APIs that the target release lacks and no rule handles (``check``'s third gate).

Runs on the source as it would be after patching. Python's own parser (C speed) and a word-set
pre-filter keep it cheap: most files share no word with the table's newer symbols.
"""
from __future__ import annotations

import ast
import re
from functools import lru_cache
from typing import Dict, FrozenSet, List, Optional, Tuple

from .api_table import load, version_key
from .base import API_SCAN_CODE, SUPPRESS_RE, Site

CODE = API_SCAN_CODE
NAME = "newer-torch-api"
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@lru_cache(maxsize=8)
def _newer_words(target: str) -> Tuple[FrozenSet[str], Dict[str, str]]:
    """Last name components of every torch.* symbol newer than ``target`` (Tensor methods excluded:
    a receiver's type is unknown statically, so ``x.foo()`` cannot be told apart from non-tensors)."""
    table = load()
    target_key = version_key(target)
    is_newer = {v: version_key(v) > target_key for v in set(table._first.values())}
    newer: Dict[str, str] = {
        symbol: first for symbol, first in table._first.items()
        if is_newer[first] and not symbol.startswith("torch.Tensor.")
    }
    words = set()
    for symbol in newer:
        base = symbol.split("(", 1)[0]
        words.add(base.rsplit(".", 1)[-1])
        if "(" in symbol:
            words.add(symbol[symbol.index("(") + 1 : -2].lstrip("*"))
    return frozenset(words), newer


def _resolver(tree: ast.AST):
    aliases: Dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
                else:
                    aliases.setdefault(a.name.split(".")[0], a.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                if a.name != "*":
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"

    def resolve(node) -> Optional[str]:
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id not in aliases:
            return None
        parts.append(aliases[node.id])
        return ".".join(reversed(parts))

    return resolve


def scan(text: str, path: str, target: str = "2.0") -> List[Site]:
    """Sites for every newer-than-``target`` torch API use in ``text`` (suppressible per line)."""
    if "torch" not in text:
        return []
    words, newer = _newer_words(target)
    if words.isdisjoint(_WORD.findall(text)):
        return []
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []  # the runner reports unparsable files itself
    resolve = _resolver(tree)
    lines = text.splitlines()
    found: Dict[Tuple[int, str], Site] = {}

    def hit(node, symbol: str) -> None:
        first = newer.get(symbol)
        if first is None:
            return
        line = getattr(node, "lineno", 0)
        source = lines[line - 1] if 0 < line <= len(lines) else ""
        m = SUPPRESS_RE.search(source)
        if m and (m.group(1) is None or CODE in {c.strip() for c in m.group(1).split(",")}):
            return
        found.setdefault((line, symbol), Site(
            CODE, path, line, "unhandled",
            f"`{symbol}` needs torch >= {first} (target {target}) and no rule handles it",
        ))

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and not isinstance(getattr(node, "ctx", None), ast.Store):
            qualified = resolve(node)
            if qualified and qualified.startswith("torch."):
                hit(node, qualified)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level and node.module.startswith("torch"):
            hit(node, node.module)
            for a in node.names:
                hit(node, f"{node.module}.{a.name}")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("torch."):
                    hit(node, a.name)
        elif isinstance(node, ast.Call):
            func = resolve(node.func)
            if func and func.startswith("torch"):
                for kw in node.keywords:
                    if kw.arg:
                        hit(node, f"{func}({kw.arg}=)")
        elif isinstance(node, ast.Assign):
            # writes to config keys the target lacks, outside a hasattr guard, are also uses
            for t in node.targets:
                qualified = resolve(t) if isinstance(t, ast.Attribute) else None
                if qualified and qualified.startswith("torch._dynamo.config.") and not _guarded(tree, node):
                    hit(t, qualified)
    # report `torch.nn.attention.sdpa_kernel`, not also its module on the same line
    keys = set(found)
    kept = [site for (line, symbol), site in found.items()
            if not any(l == line and other.startswith(symbol + ".") for l, other in keys)]
    return sorted(kept, key=lambda s: (s.line, s.message))


def _guarded(tree: ast.AST, node: ast.AST) -> bool:
    for parent in ast.walk(tree):
        if isinstance(parent, ast.If) and node in parent.body:
            test = parent.test
            if isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == "hasattr":
                return True
    return False
