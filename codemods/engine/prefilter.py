"""What a module's imports bind, and which of its defs some rule's pre-filter matches (Python's C parser)."""
from __future__ import annotations

import ast
import re
from functools import lru_cache
from typing import Optional, Sequence, Tuple

from ..base import COMPAT_MODULE, ImportIndex, Rule, SourceLines, first_line
from ..rules import version_flags
from .results import ast_parse

DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def build_index(text: str, tree: Optional[ast.Module] = None) -> ImportIndex:
    """Import aliases from Python's own parser: a C-speed pass instead of a LibCST visitor."""
    index = ImportIndex()
    if tree is None:
        tree = ast_parse(text)
    if tree is None:
        return index  # LibCST parsed it (newer grammar?); rules then see no aliases

    def walk(nodes, module_level: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        index.aliases.setdefault(alias.asname, alias.name)
                        if alias.asname == COMPAT_MODULE and alias.name.endswith("." + COMPAT_MODULE):
                            index.has_compat_import = True
                    else:
                        root = alias.name.split(".")[0]
                        index.aliases.setdefault(root, root)
                    if module_level:
                        index.loaded.add(alias.name)
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    local = alias.asname or alias.name
                    if alias.name == COMPAT_MODULE and local == COMPAT_MODULE:
                        index.has_compat_import = True
                    if node.module is not None and node.module.split(".")[-1] == COMPAT_MODULE and alias.name != "*":
                        index.compat_names.setdefault(local, alias.name)
                    if node.level or node.module is None or alias.name == "*":
                        continue
                    qualified = f"{node.module}.{alias.name}"
                    index.aliases.setdefault(local, qualified)
                    if module_level:
                        index.loaded.add(qualified)  # `from torch import _dynamo` loads the submodule
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                walk(node.body, False)
            else:
                for field_name in ("body", "orelse", "finalbody", "handlers"):
                    walk(getattr(node, field_name, ()) or (), module_level)

    walk(tree.body, True)
    version_flags.note(tree, index)  # hand-patch version gates (TC015)
    return index


@lru_cache(maxsize=None)
def _rule_checks(triggers: Tuple[str, ...], pattern: Optional[str]):
    """A rule's two pre-filter stages, compiled once per process (not once per file)."""
    return re.compile("|".join(re.escape(t) for t in triggers)), re.compile(pattern) if pattern else None


def hot_matcher(rules: Sequence[Rule], index: ImportIndex):
    """What makes a def worth visiting: some rule's pre-filter (triggers, then pattern) matches its
    source, or it mentions a local name bound to something a rule cares about
    (``from torch.utils._pytree import tree_map as tm``)."""
    checks = [_rule_checks(rule.triggers, rule.pattern) for rule in rules]
    triggers = [t for rule in rules for t in rule.triggers]
    locals_ = [re.escape(local) for local, qualified in index.aliases.items() if any(t in qualified for t in triggers)]
    alias = re.compile(r"\b(?:%s)\b" % "|".join(locals_)) if locals_ else None

    def hot(source: str) -> bool:
        if alias is not None and alias.search(source):
            return True
        return any(trig.search(source) and (pat is None or pat.search(source)) for trig, pat in checks)

    return hot


def def_hotness(text: str, tree: Optional[ast.Module], hot, lines: Optional[SourceLines] = None, roots=None):
    """Pre-order list of (name, hot, index after subtree) for every def/class under ``roots``
    (default: the whole tree); hot = its source matches."""
    if tree is None and roots is None:
        return None
    if roots is None:
        roots = [tree]
    defs = [n for root in roots for n in ast.walk(root) if isinstance(n, DEFS)]
    defs.sort(key=lambda n: (n.lineno, n.col_offset))
    if lines is None:
        lines = SourceLines(text)
    out = []
    for i, node in enumerate(defs):
        end = node.end_lineno or node.lineno
        is_hot = hot(lines.span(first_line(node), end))
        after = i + 1
        while after < len(defs) and defs[after].lineno <= end:
            after += 1
        out.append((node.name, is_hot, after))
    return out
