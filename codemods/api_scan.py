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
def _newer(target: str) -> Tuple[Dict[str, FrozenSet[str]], Dict[str, str]]:
    """Newer-than-``target`` symbols, and for the pre-filter: last name -> the names that must
    appear with it (its parent module/class, or the function a keyword belongs to).

    Class members are left out (see ``_class_member``).
    """
    table = load()
    target_key = version_key(target)
    is_newer = {v: version_key(v) > target_key for v in set(table._first.values())}
    newer: Dict[str, str] = {
        symbol: first for symbol, first in table._first.items()
        if is_newer[first] and _kept(symbol)
    }
    partners: Dict[str, set] = {}
    for symbol in newer:
        if "(" in symbol:
            func, kwarg = symbol[:-2].split("(", 1)
            last, partner = kwarg.lstrip("*"), func.replace(".__init__", "").rsplit(".", 1)[-1]
        else:
            parent, _, last = symbol.rpartition(".")
            partner = parent.rsplit(".", 1)[-1]
        partners.setdefault(last, set()).add(partner)
    return {k: frozenset(v) for k, v in partners.items()}, newer


# Keyword arguments are checked for these functions only (scripts/gen_api_table.py KWARG_FUNCS):
# the table's keyword data for the rest of torch comes from stubs and is too coarse to gate on.
KEY_KWARG_FUNCS = frozenset({
    "torch.nn.functional.scaled_dot_product_attention", "torch.load", "torch.save", "torch.compile",
    "torch.autocast.__init__", "torch.amp.autocast.__init__", "torch.cuda.amp.autocast.__init__",
    "torch.utils.checkpoint.checkpoint", "torch.utils.checkpoint.checkpoint_sequential",
    "torch.utils._pytree.tree_map", "torch.utils._pytree.tree_flatten", "torch.utils._pytree.tree_unflatten",
    "torch.utils._pytree.tree_map_only", "torch.utils._pytree.register_pytree_node", "torch.compiler.disable",
    "torch._dynamo.disable", "torch.nn.attention.sdpa_kernel", "torch.backends.cuda.sdp_kernel",
    "torch.nn.init.trunc_normal_", "torch.set_default_device", "torch.use_deterministic_algorithms", "torch.jit.script",
})
_CALL_ALIASES = {"torch.autocast": "torch.autocast.__init__", "torch.amp.autocast": "torch.amp.autocast.__init__",
                 "torch.cuda.amp.autocast": "torch.cuda.amp.autocast.__init__"}


def _kept(symbol: str) -> bool:
    if "(" in symbol:
        return symbol.split("(", 1)[0] in KEY_KWARG_FUNCS
    return not _class_member(symbol)


def _class_member(symbol: str) -> bool:
    """Members of classes (``torch.Tensor.foo``, ``torch.nn.Linear.__init__(bias=)``): their receiver
    is an instance whose type is unknown statically, so they are left out of the scan."""
    base = symbol.split("(", 1)[0]
    return any(part[:1].isupper() for part in base.split(".")[:-1]) or "__init__" in base


def _might_use_newer(words: set, partners: Dict[str, FrozenSet[str]]) -> bool:
    """Cheap test before parsing: some newer symbol's name and its parent's (or, for a keyword,
    its function's) name both occur in the file."""
    return any(not partners[w].isdisjoint(words) for w in words if w in partners)


def scan(text: str, path: str, target: str = "2.0", tree: Optional[ast.AST] = None) -> List[Site]:
    """Sites for every newer-than-``target`` torch API use in ``text`` (suppressible per line).
    ``tree``: ``ast.parse(text)`` when the caller already has it."""
    if "torch" not in text:
        return []
    partners, newer = _newer(target)
    if not _might_use_newer(set(_WORD.findall(text)), partners):
        return []
    if tree is None:
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            return []  # the runner reports unparsable files itself
    aliases: Dict[str, str] = {}
    interesting = []
    guarded = set()
    for node in ast.walk(tree):
        kind = type(node)
        if kind is ast.Import:
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
                else:
                    aliases.setdefault(a.name.split(".")[0], a.name.split(".")[0])
            interesting.append(node)
        elif kind is ast.ImportFrom:
            if node.module and not node.level:
                for a in node.names:
                    if a.name != "*":
                        aliases[a.asname or a.name] = f"{node.module}.{a.name}"
            interesting.append(node)
        elif kind is ast.Attribute or kind is ast.Call or kind is ast.Assign:
            interesting.append(node)
        elif kind is ast.If:
            test = node.test
            if isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == "hasattr":
                guarded.update(id(stmt) for stmt in node.body)  # TC002's guarded config writes

    def resolve(node) -> Optional[str]:
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id not in aliases:
            return None
        parts.append(aliases[node.id])
        return ".".join(reversed(parts))

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

    for node in interesting:
        if isinstance(node, ast.Attribute):
            if not isinstance(node.ctx, ast.Store):
                qualified = resolve(node)
                if qualified and qualified.startswith("torch."):
                    hit(node, qualified)
        elif isinstance(node, ast.ImportFrom):
            if node.module and not node.level and node.module.startswith("torch"):
                hit(node, node.module)
                for a in node.names:
                    hit(node, f"{node.module}.{a.name}")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("torch."):
                    hit(node, a.name)
        elif isinstance(node, ast.Call):
            func = resolve(node.func)
            func = _CALL_ALIASES.get(func, func)
            if func and func.startswith("torch"):
                for kw in node.keywords:
                    if kw.arg:
                        hit(node, f"{func}({kw.arg}=)")
        elif id(node) not in guarded:  # Assign: a config write is a use too, unless guarded
            for t in node.targets:
                qualified = resolve(t) if isinstance(t, ast.Attribute) else None
                if qualified and qualified.startswith("torch._dynamo.config."):
                    hit(t, qualified)
    # report `torch.nn.attention.sdpa_kernel`, not also its module on the same line
    keys = set(found)
    kept = [site for (line, symbol), site in found.items()
            if not any(l == line and other.startswith(symbol + ".") for l, other in keys)]
    return sorted(kept, key=lambda s: (s.line, s.message))


